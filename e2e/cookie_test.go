package e2e

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestCookieSessionCSRF: the web pages' cookie session works only with the
// CSRF token echoed in a header, and never for cross-site requests.
func TestCookieSessionCSRF(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir())
	if _, err := p.Client().Register(ctx, client.Registration{Handle: "mia", Password: "password-mia"}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	c := &client.Client{BaseURL: p.URL, HTTP: hc}
	if err := c.Do(ctx, "POST", "/v1/sessions", map[string]any{"handle": "mia", "password": "password-mia", "cookie": true}, nil); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.URL)
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "crowd_csrf" {
			csrf = ck.Value
		}
	}
	if csrf == "" {
		t.Fatal("no CSRF cookie")
	}
	var me client.Account
	if err := c.Do(ctx, "GET", "/v1/me", nil, &me); err != nil || me.Handle != "mia" {
		t.Fatalf("GET /v1/me with the cookie: %+v, %v", me, err)
	}
	post := func(header map[string]string) int {
		req, _ := http.NewRequest("POST", p.URL+"/v1/videos", strings.NewReader(`{"title":"from the web"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(nil); got != 403 {
		t.Fatalf("unsafe request without CSRF header: %d", got)
	}
	if got := post(map[string]string{"X-CSRF-Token": "wrong"}); got != 403 {
		t.Fatalf("wrong CSRF token: %d", got)
	}
	if got := post(map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}); got != 403 {
		t.Fatalf("cross-site request: %d", got)
	}
	if got := post(map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"}); got != 201 {
		t.Fatalf("same-origin request with the token: %d", got)
	}
	// Logging out clears the session.
	req, _ := http.NewRequest("DELETE", p.URL+"/v1/sessions/current", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("logout: %v %v", resp, err)
	}
	if err := c.Do(ctx, "GET", "/v1/me", nil, nil); client.StatusOf(err) != 401 {
		t.Fatalf("after logout: %v", err)
	}
}
