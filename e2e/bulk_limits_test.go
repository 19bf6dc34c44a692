package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestBulkLimits: POST /v1/events, /v1/sync/accounts and /v1/sync/videos
// share one set of limits (64 KiB a line, 100,000 lines, 64 MiB a body),
// and a body over one is refused whole with 413 and the same JSON error
// shape, naming the failing line (from 1) where the failure is a line;
// nothing of the body is applied.
func TestBulkLimits(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir())
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "owner", Handle: "owner"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "v0", Owner: "owner", Title: "t"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Format(time.RFC3339)
	good := map[string]string{
		"/v1/events":        `{"id":"ev-%[1]d","type":"view","video_id":"v0","ts":"` + ts + `","source":"for_you"}`,
		"/v1/sync/accounts": `{"id":"acc-%[1]d","handle":"acc_%[1]d"}`,
		"/v1/sync/videos":   `{"id":"vid-%[1]d","owner":"owner","title":"t"}`,
	}
	line := func(path string, i int) string { return fmt.Sprintf(good[path], i) }
	long := `{"id":"x","handle":"x","display_name":"` + strings.Repeat("x", 70<<10) + `"}`
	post := func(path, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", p.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error map[string]any }
		json.Unmarshal(raw, &e)
		return resp.StatusCode, e.Error
	}
	for _, path := range []string{"/v1/events", "/v1/sync/accounts", "/v1/sync/videos"} {
		// Line 3 is too long: the valid lines around it are not applied.
		body := line(path, 1) + "\n\n" + long + "\n" + line(path, 4) + "\n"
		status, e := post(path, body)
		if status != 413 || e["code"] != "line_too_long" || e["line"] != float64(3) || !strings.Contains(fmt.Sprint(e["message"]), "65536") {
			t.Errorf("%s, line 3 too long: %d %v", path, status, e)
		}
		// 100,001 lines (blank ones count) are too many, whatever they hold.
		status, e = post(path, line(path, 1)+strings.Repeat("\n", 100_001))
		if status != 413 || e["code"] != "too_many_lines" || e["line"] != float64(100_001) {
			t.Errorf("%s, 100,001 lines: %d %v", path, status, e)
		}
		// A body over 64 MiB is too large: no line is named.
		status, e = post(path, line(path, 1)+"\n"+strings.Repeat(" ", 64<<20))
		if _, named := e["line"]; status != 413 || e["code"] != "too_large" || named {
			t.Errorf("%s, 64 MiB + 1: %d %v", path, status, e)
		}
		// Exactly at the limits is fine.
		status, e = post(path, line(path, 9)+"\n"+`{"id":"ok"}`+strings.Repeat(" ", 64<<10-len(`{"id":"ok"}`))+"\r\n")
		if status >= 400 {
			t.Errorf("%s, a line of exactly 64 KiB: %d %v", path, status, e)
		}
	}
	// Nothing of the refused bodies was applied.
	for _, path := range []string{"/v1/accounts/acc_1", "/v1/accounts/acc_4", "/v1/videos/vid-1", "/v1/videos/vid-4"} {
		if err := p.Client().Do(ctx, "GET", path, nil, nil); client.StatusOf(err) != 404 {
			t.Errorf("%s exists after a refused body: %v", path, err)
		}
	}
	// The Go client exposes the line.
	err := svc.DoRaw(ctx, "POST", "/v1/sync/videos", "application/x-ndjson", strings.NewReader("\n"+long), nil)
	if ce := apiError(t, err, 413, "client"); ce.Code != "line_too_long" || ce.Line != 2 {
		t.Errorf("client error: %+v", ce)
	}
}
