package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// get fetches url and returns the answer with its body read.
func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// mustJSONNotFound checks an answer is a 404 in the JSON error shape.
func mustJSONNotFound(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "not_found" {
		t.Fatalf("%s: %s %q %s, want a 404 in the JSON error shape", what, resp.Status, resp.Header.Get("Content-Type"), body)
	}
}

// TestOperatorListener: the metrics are served on the operator listener
// (--admin-addr) and nowhere else; the public listener answers /metrics
// with a JSON 404, and no public answer carries a Server-Timing header.
func TestOperatorListener(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact")
	if p.AdminURL == "" || p.AdminURL == p.URL {
		t.Fatalf("operator listener %q (public %q)", p.AdminURL, p.URL)
	}
	if !strings.Contains(p.Logs(), `"msg":"crowd operator listener"`) {
		t.Errorf("the operator listener's address is not logged:\n%s", p.Logs())
	}

	// Some traffic, so that the counters and the viewer-day gauge move.
	anon := p.Client()
	mia := MustUser(t, anon, "mia")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "counted"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mia.Save(ctx, v.ID); err != nil {
		t.Fatal(err)
	}

	resp, body := get(t, p.URL+"/metrics")
	mustJSONNotFound(t, "public GET /metrics", resp, body)
	if strings.Contains(body, "crowd_") {
		t.Fatalf("public /metrics leaks metrics: %s", body)
	}

	resp, body = get(t, p.AdminURL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator GET /metrics: %s", resp.Status)
	}
	for _, want := range []string{`crowd_http_requests_total{route="PUT /v1/videos/{id}/save"`, "crowd_aggregation_viewer_days"} {
		if !strings.Contains(body, want) {
			t.Errorf("operator /metrics lacks %q", want)
		}
	}
	// The operator listener serves nothing of the public surface.
	resp, body = get(t, p.AdminURL+"/v1/videos")
	mustJSONNotFound(t, "operator GET /v1/videos", resp, body)

	// No public answer says how long the server took.
	for _, path := range []string{"/healthz", "/readyz", "/v1/videos", "/v1/videos/" + v.ID, "/v1/nothing", "/openapi.json", "/"} {
		resp, _ := get(t, p.URL+path)
		if st := resp.Header.Get("Server-Timing"); st != "" {
			t.Errorf("GET %s: Server-Timing %q on the public listener", path, st)
		}
	}
	req, _ := http.NewRequest("GET", p.URL+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+mia.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if st := resp.Header.Get("Server-Timing"); st != "" || resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v1/me: %s, Server-Timing %q", resp.Status, st)
		}
	}
}

// TestOperatorListener_Off: --admin-addr "" turns the operator listener
// off; the public listener still answers /metrics with a 404.
func TestOperatorListener_Off(t *testing.T) {
	p := Start(t, t.TempDir(), "--admin-addr", "")
	if p.AdminURL != "" || strings.Contains(p.Logs(), "crowd operator listener") {
		t.Fatalf("operator listener on (%q) with --admin-addr ''", p.AdminURL)
	}
	resp, body := get(t, p.URL+"/metrics")
	mustJSONNotFound(t, "public GET /metrics", resp, body)
}
