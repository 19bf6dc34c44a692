package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
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

// TestWWWAuthenticate: every 401 carries a Bearer challenge, with
// error="invalid_token" when a token was sent but refused.
func TestWWWAuthenticate(t *testing.T) {
	base, _, _, _ := polishFixture(t)
	for _, tc := range []struct {
		name, method, path, auth, body, want string
	}{
		{"no credential", "GET", "/v1/me", "", "", `Bearer realm="crowd"`},
		{"unknown session token", "GET", "/v1/me", "Bearer crs_not-a-session", "", `Bearer realm="crowd", error="invalid_token"`},
		{"unknown token on a public route", "GET", "/v1/videos", "Bearer cra_nope", "", `Bearer realm="crowd", error="invalid_token"`},
		{"not Bearer", "GET", "/v1/me", "Basic YWxpY2U6eA==", "", `Bearer realm="crowd", error="invalid_request"`},
		{"wrong password", "POST", "/v1/sessions", "", `{"handle":"alice","password":"wrong-password"}`, `Bearer realm="crowd"`},
	} {
		var rd io.Reader
		if tc.body != "" {
			rd = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, rd)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Get("WWW-Authenticate")
		if res.StatusCode != 401 || !strings.HasPrefix(got, tc.want) || (!strings.Contains(tc.want, "error=") && strings.Contains(got, "error=")) {
			t.Errorf("%s: status %d, WWW-Authenticate %q, want 401 and %q", tc.name, res.StatusCode, got, tc.want)
		}
	}
}

// TestTimestamps_OnePrecision: a resource's created_at is the same string
// in the answer that creates it and in a later read, RFC 3339 UTC with
// milliseconds.
func TestTimestamps_OnePrecision(t *testing.T) {
	base, alice, bob, vid := polishFixture(t)
	c := &apiClient{t: t, base: base, doc: loadOpenAPI(t), seen: map[string]bool{}}
	format := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	check := func(what string, created, read any) {
		t.Helper()
		s, _ := created.(string)
		if !format.MatchString(s) || created != read {
			t.Errorf("%s: created_at %v when created, %v when read; want the same RFC 3339 UTC milliseconds", what, created, read)
		}
	}
	c.do("PUT", "/v1/accounts/alice/follow", bob, nil, 200) // bob takes messages from those he follows
	// Nanoseconds ending in 000 are rare, three times rarer.
	for range 3 {
		v := c.do("POST", "/v1/videos", alice, map[string]any{"title": "Again"}, 201)
		check("video", v["created_at"], c.do("GET", "/v1/videos/"+v["id"].(string), "", nil, 200)["created_at"])
		cm := c.do("POST", "/v1/videos/"+vid+"/comments", bob, map[string]any{"text": "nice"}, 201)
		list := c.do("GET", "/v1/videos/"+vid+"/comments", "", nil, 200)
		var read any
		items, _ := list["comments"].([]any)
		for _, it := range items {
			if m := it.(map[string]any); m["id"] == cm["id"] {
				read = m["created_at"]
			}
		}
		check("comment", cm["created_at"], read)
		m := c.do("POST", "/v1/messages", alice, map[string]any{"to": "bob", "video_id": vid, "text": "hi"}, 201)
		check("message", m["created_at"], c.do("GET", "/v1/messages/"+m["id"].(string), bob, nil, 200)["created_at"])
	}
}

// TestErrors_404And405Documented: every operation declares 404 and 405
// with the error shape, and the real answers match it.
func TestErrors_404And405Documented(t *testing.T) {
	doc := loadOpenAPI(t)
	paths := doc.doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			rs := op.(map[string]any)["responses"].(map[string]any)
			for _, code := range []string{"404", "405"} {
				r, ok := rs[code]
				if !ok {
					t.Errorf("%s %s: %s not declared", method, path, code)
					continue
				}
				content, _ := doc.deref(r).(map[string]any)["content"].(map[string]any)
				if content["application/json"] == nil {
					t.Errorf("%s %s: %s has no JSON error body", method, path, code)
				}
			}
		}
	}
	srv, _ := newAPIServer(t)
	for _, tc := range []struct {
		method, path, code string
		status             int
	}{{"PATCH", "/v1/videos", "method_not_allowed", 405}, {"GET", "/v1/no-such-thing", "not_found", 404}} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s in the error shape", tc.method, tc.path, res.StatusCode, e, tc.status, tc.code)
		}
	}
}
