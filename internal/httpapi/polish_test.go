package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawGet makes a GET with the given headers, without the transport's own
// gzip handling, and returns the answer as sent.
func rawGet(t *testing.T, url, token string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// polishFixture is a business account with a seeded video report.
func polishFixture(t *testing.T) (base, alice, bob, vid string) {
	t.Helper()
	doc := loadOpenAPI(t)
	srv, st := newAPIServer(t)
	c := &apiClient{t: t, base: srv.URL, doc: doc, seen: map[string]bool{}}
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "alice", "password": "alice-password", "type": "business"}, 201)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "bob", "password": "bob-password"}, 201)
	alice = c.do("POST", "/v1/sessions", "", map[string]any{"handle": "alice", "password": "alice-password"}, 201)["token"].(string)
	bob = c.do("POST", "/v1/sessions", "", map[string]any{"handle": "bob", "password": "bob-password"}, 201)["token"].(string)
	vid = c.do("POST", "/v1/videos", alice, map[string]any{"title": "First"}, 201)["id"].(string)
	aliceID := c.do("GET", "/v1/me", alice, nil, 200)["id"].(string)
	seedAnalytics(t, st, vid, aliceID)
	return srv.URL, alice, bob, vid
}

// TestETag_Reports: reports and the CSV export carry a strong ETag that
// does not change with generated_at, and If-None-Match with it answers 304
// without a body.
func TestETag_Reports(t *testing.T) {
	base, alice, bob, vid := polishFixture(t)
	for _, path := range []string{
		"/v1/analytics/videos/" + vid + "?range=7d",
		"/v1/analytics/account?range=7d",
		"/v1/analytics/videos/" + vid + "/export.csv?range=7d",
	} {
		res1, _ := rawGet(t, base+path, alice, nil)
		res2, _ := rawGet(t, base+path, alice, nil)
		et := res1.Header.Get("ETag")
		if res1.StatusCode != 200 || et == "" || !strings.HasPrefix(et, `"`) || strings.HasPrefix(et, "W/") {
			t.Fatalf("%s: status %d, ETag %q, want 200 and a strong tag", path, res1.StatusCode, et)
		}
		if got := res2.Header.Get("ETag"); got != et {
			t.Errorf("%s: ETag %q then %q for the same report", path, et, got)
		}
		res, body := rawGet(t, base+path, alice, map[string]string{"If-None-Match": et})
		if res.StatusCode != http.StatusNotModified || len(body) != 0 || res.Header.Get("ETag") != et {
			t.Errorf("%s with If-None-Match %s: status %d, %d bytes, ETag %q, want 304, none, the tag", path, et, res.StatusCode, len(body), res.Header.Get("ETag"))
		}
		res, _ = rawGet(t, base+path, alice, map[string]string{"If-None-Match": `"other", ` + et})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with a list naming the tag: status %d, want 304", path, res.StatusCode)
		}
		res, _ = rawGet(t, base+path, alice, map[string]string{"If-None-Match": `"other"`})
		if res.StatusCode != 200 {
			t.Errorf("%s with another tag: status %d, want 200", path, res.StatusCode)
		}
		// Another range is another report, another tag.
		res, _ = rawGet(t, base+strings.Replace(path, "7d", "28d", 1), alice, nil)
		if res.Header.Get("ETag") == et {
			t.Errorf("%s: 28 days have the tag of 7", path)
		}
	}
	// Nothing a sender can read about messages carries a tag.
	res, _ := rawGet(t, base+"/v1/messages/sent", alice, nil)
	res2, _ := rawGet(t, base+"/v1/inbox", bob, nil)
	if res.Header.Get("ETag") != "" || res2.Header.Get("ETag") != "" {
		t.Errorf("message lists carry ETags %q %q", res.Header.Get("ETag"), res2.Header.Get("ETag"))
	}
}

// TestGzip: JSON and CSV answers over 1 KiB are gzipped for clients that
// accept it, with Vary: Accept-Encoding; small ones and other clients get
// them as they are.
func TestGzip(t *testing.T) {
	base, alice, _, vid := polishFixture(t)
	path := base + "/v1/analytics/videos/" + vid + "?range=28d"
	res, plain := rawGet(t, path, alice, nil)
	if res.Header.Get("Content-Encoding") != "" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	if len(plain) < 1024 {
		t.Fatalf("report of %d bytes is too small for this test", len(plain))
	}
	res, zipped := rawGet(t, path, alice, map[string]string{"Accept-Encoding": "br;q=1, gzip;q=0.8"})
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("with gzip accepted: Content-Encoding %q, Vary %q", res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if json.Unmarshal(plain, &a) != nil || json.Unmarshal(unzipped, &b) != nil || a["video_id"] != b["video_id"] || len(zipped) >= len(plain) {
		t.Errorf("gzipped report (%d bytes) is not the report (%d bytes) compressed", len(zipped), len(plain))
	}
	// The gzipped answer's tag is its own, and either tag revalidates.
	et := res.Header.Get("ETag")
	if !strings.HasSuffix(et, `-gzip"`) {
		t.Errorf("gzipped ETag %q lacks -gzip", et)
	}
	res, _ = rawGet(t, path, alice, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": et})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the gzipped tag: %d, want 304", res.StatusCode)
	}
	// gzip;q=0 refuses; small answers stay plain.
	if res, _ := rawGet(t, path, alice, map[string]string{"Accept-Encoding": "gzip;q=0"}); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0: Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	res, small := rawGet(t, base+"/healthz", "", map[string]string{"Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "" || !json.Valid(small) {
		t.Errorf("small answer: Content-Encoding %q, body %q", res.Header.Get("Content-Encoding"), small)
	}
	// The CSV export too, when large enough.
	res, csv := rawGet(t, base+"/v1/analytics/videos/"+vid+"/export.csv?range=90d", alice, map[string]string{"Accept-Encoding": "gzip"})
	if len(csv) > 0 && res.Header.Get("Content-Encoding") != "gzip" {
		_, plainCSV := rawGet(t, base+"/v1/analytics/videos/"+vid+"/export.csv?range=90d", alice, nil)
		if len(plainCSV) >= 1024 {
			t.Errorf("CSV of %d bytes not gzipped", len(plainCSV))
		}
	}
}
