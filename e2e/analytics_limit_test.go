package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestAnalyticsRateLimit: analytics reads are limited per token
// (--analytics-per-minute), across the analytics routes; beyond the limit
// a read is 429 rate_limited with Retry-After in the JSON error shape, and
// another token (an app token of the same account, another account's
// session) keeps its own budget.
func TestAnalyticsRateLimit(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact", "--analytics-per-minute", "3")
	anon := p.Client()
	mia := MustUser(t, anon, "mia", client.Registration{Type: "business", BirthDate: "1990-01-01", Country: "DE", Gender: "female"})
	zed := MustUser(t, anon, "zed")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "limit me"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := mia.CreateApp(ctx, "dashboard", "analytics:read")
	if err != nil {
		t.Fatal(err)
	}
	miaToken := mustLoginToken(t, anon, "mia")
	get := func(token, path string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", p.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body
	}
	// Three reads of three routes use up the token's budget of 3.
	for _, path := range []string{"/v1/analytics/videos/" + v.ID, "/v1/analytics/videos/" + v.ID + "/export.csv", "/v1/analytics/account"} {
		if resp, body := get(miaToken, path); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/v1/analytics/videos/" + v.ID, "/v1/analytics/videos/" + v.ID + "/export.csv", "/v1/analytics/account"} {
		resp, body := get(miaToken, path)
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || json.Unmarshal(body, &e) != nil || e.Error.Code != "rate_limited" || e.Error.Message == "" {
			t.Fatalf("GET %s over the limit: %d Retry-After %q %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// Other tokens have their own budgets.
	if resp, body := get(app.Token, "/v1/analytics/account"); resp.StatusCode != 200 {
		t.Fatalf("app token: %d %s", resp.StatusCode, body)
	}
	if _, err := zed.AccountAnalytics(ctx, client.LastDays(7)); err != nil {
		t.Fatalf("zed: %v", err)
	}
	// The rest of the API is not limited by it.
	if _, err := mia.Me(ctx); err != nil {
		t.Fatalf("me: %v", err)
	}
}
