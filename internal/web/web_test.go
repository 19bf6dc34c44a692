package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler_Routes(t *testing.T) {
	h := New(Options{})
	for _, c := range []struct {
		path, app string
		status    int
	}{
		{"/", "app-viewer", 200},
		{"/login", "app-viewer", 200},
		{"/register", "app-viewer", 200},
		{"/inbox", "app-viewer", 200},
		{"/saved", "app-viewer", 200},
		{"/u/mia", "app-viewer", 200},
		{"/v/abc", "app-viewer", 200},
		{"/s/abc", "app-viewer", 200},
		{"/studio", "app-studio", 200},
		{"/studio/videos/abc", "app-studio", 200},
		{"/studio/privacy", "app-studio", 200},
		{"/nope", "notfound", 404},
		{"/u/mia/extra", "notfound", 404},
	} {
		t.Run(c.path, func(t *testing.T) {
			rec := get(t, h, c.path, nil)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d", rec.Code, c.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
			if !strings.Contains(rec.Body.String(), c.app) {
				t.Errorf("body lacks %q:\n%s", c.app, rec.Body)
			}
		})
	}
	req := httptest.NewRequest("POST", "/login", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /login: %d", rec.Code)
	}
}

// The CSP allows no inline script or style: every page must load its code
// and its looks from files, and templates must not carry style attributes.
func TestTemplates_NoInlineCode(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: inline code or style %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nor may the scripts write markup or style attributes, which the CSP
	// would block (CSSOM properties, which it allows, are fine).
	bad := regexp.MustCompile(`innerHTML\s*=|insertAdjacentHTML|setAttribute\(\s*["']style|document\.write`)
	err = fs.WalkDir(files, "assets/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHandler_Assets(t *testing.T) {
	h := New(Options{})
	page := get(t, h, "/studio", nil).Body.String()
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("the Studio shell references %d assets:\n%s", len(refs), page)
	}
	for _, ref := range refs {
		url := ref[1]
		rec := get(t, h, url, nil)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", url, rec.Code)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q, want immutable (the name is content-hashed)", url, cc)
		}
		etag := rec.Header().Get("ETag")
		if rec304 := get(t, h, url, map[string]string{"If-None-Match": etag}); rec304.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d", url, rec304.Code)
		}
	}

	// The entry module's imports point at hashed names too, so a cached
	// module never outlives a release.
	var studioJS string
	for _, ref := range refs {
		if strings.Contains(ref[1], "/js/studio.") {
			studioJS = get(t, h, ref[1], nil).Body.String()
		}
	}
	imports := regexp.MustCompile(`from "(\./[^"]+)"`).FindAllStringSubmatch(studioJS, -1)
	if len(imports) == 0 {
		t.Fatal("studio.js imports nothing")
	}
	for _, m := range imports {
		if !regexp.MustCompile(`^\./[a-z]+\.[0-9a-f]{16}\.js$`).MatchString(m[1]) {
			t.Errorf("import %q is not content-hashed", m[1])
		}
		if rec := get(t, h, "/assets/js/"+strings.TrimPrefix(m[1], "./"), nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("import %s: %d %s", m[1], rec.Code, rec.Header().Get("Content-Type"))
		}
	}

	// The plain name works as well, revalidated by its ETag.
	rec := get(t, h, "/assets/css/crowd.css", nil)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("plain asset name: %d %v", rec.Code, rec.Header())
	}
	if rec := get(t, h, "/assets/nope.js", nil); rec.Code != 404 {
		t.Errorf("missing asset: %d", rec.Code)
	}
	// The vendored chart library ships with its license.
	lic := get(t, h, "/assets/vendor/chart.js.LICENSE.md", nil)
	body, _ := io.ReadAll(lic.Body)
	if lic.Code != 200 || !strings.Contains(string(body), "MIT") {
		t.Errorf("chart.js license: %d %q", lic.Code, body)
	}
}

func TestPrefersHTML(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/html", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true},
		{"application/json, text/html;q=0.5", false},
		{"text/html;q=0.5, application/json;q=0.4", true},
		{"text/*", true},
		{"text/html;q=0", false},
		{"TEXT/HTML", true},
		{"garbage", false},
	} {
		r := httptest.NewRequest("GET", "/s/x", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if got := PrefersHTML(r); got != c.want {
			t.Errorf("Accept %q: PrefersHTML %v, want %v", c.accept, got, c.want)
		}
	}
}

func FuzzPrefersHTML(f *testing.F) {
	f.Add("text/html;q=0.5, application/json;q=0.4")
	f.Add(";;,/;q=")
	f.Fuzz(func(t *testing.T, accept string) {
		r := httptest.NewRequest("GET", "/s/x", nil)
		r.Header.Set("Accept", accept)
		PrefersHTML(r)
	})
}
