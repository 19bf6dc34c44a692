package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// The roles of the authorization matrix.
const (
	anon      = "anonymous"
	owner     = "owner"      // mia, owner of the video
	cocreator = "co-creator" // zed
	other     = "other"      // leo: no relation to the video; the DM sender
	recipient = "recipient"  // ana: the DM recipient
	app       = "app token"  // mia's analytics:read app
	service   = "service token"
)

var roles = []string{anon, owner, cocreator, other, recipient, app, service}

// expect builds the expected status of every role: accountStatus for the
// four accounts, 401 anonymous, 403 app and service tokens, then overrides.
func expect(accountStatus int, overrides ...any) map[string]int {
	m := map[string]int{anon: 401, owner: accountStatus, cocreator: accountStatus, other: accountStatus, recipient: accountStatus, app: 403, service: 403}
	for i := 0; i+1 < len(overrides); i += 2 {
		m[overrides[i].(string)] = overrides[i+1].(int)
	}
	return m
}

func all(status int) map[string]int {
	m := map[string]int{}
	for _, r := range roles {
		m[r] = status
	}
	return m
}

// world is the fixture the matrix runs against.
type world struct {
	t       *testing.T
	p       *Process
	tokens  map[string]string
	users   map[string]*client.Client
	video   string
	message string
	n       int
}

func (w *world) fresh(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

// TestAuthorizationMatrix calls every route as every role and checks the
// status: who may do what is decided on every route, before any handler
// work.
func TestAuthorizationMatrix(t *testing.T) {
	ctx := context.Background()
	// Many logins from one address: lift the limit (it has its own test).
	p, svcToken := StartWithToken(t, t.TempDir(), "--login-per-minute", "1000")
	w := &world{t: t, p: p, tokens: map[string]string{}, users: map[string]*client.Client{}}
	anonC := p.Client()
	for role, h := range map[string]string{owner: "mia", cocreator: "zed", other: "leo", recipient: "ana"} {
		c := MustUser(t, anonC, h)
		w.users[role], w.tokens[role] = c, c.Token
	}
	v, err := w.users[owner].CreateVideo(ctx, client.NewVideo{Title: "matrix", Collaborators: []string{"zed"}})
	if err != nil {
		t.Fatal(err)
	}
	w.video = v.ID
	// zed is invited and accepts: an accepted co-creator.
	if _, err := w.users[cocreator].AcceptCoCreation(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	// A second video lists zed and ana, neither of whom accepts: pending
	// invitations give no access to anything.
	pv, err := w.users[owner].CreateVideo(ctx, client.NewVideo{Title: "pending", Collaborators: []string{"zed", "ana"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.users[other].Send(ctx, "ana", v.ID, "hi")
	if err != nil {
		t.Fatal(err)
	}
	w.message = m.ID
	a, err := w.users[owner].CreateApp(ctx, "dashboard", "analytics:read")
	if err != nil {
		t.Fatal(err)
	}
	w.tokens[app] = a.Token
	w.tokens[service] = svcToken

	type cell struct {
		method, path string
		// setup returns the concrete path and body for a role; nil uses path.
		setup func(role string) (string, any)
		body  any
		want  map[string]int
	}
	vp := "/v1/videos/" + w.video
	cells := []cell{
		{method: "GET", path: "/healthz", want: all(200)},
		{method: "GET", path: "/readyz", want: all(200)},
		{method: "GET", path: "/metrics", want: all(404)}, // served on the operator listener only
		{method: "GET", path: "/openapi.json", want: all(200)},
		{method: "POST", path: "/v1/accounts", setup: func(string) (string, any) {
			return "/v1/accounts", map[string]string{"handle": w.fresh("new"), "password": "long enough password"}
		}, want: all(201)},
		{method: "POST", path: "/v1/sessions", body: map[string]string{"handle": "mia", "password": "password-mia"}, want: all(201)},
		{method: "DELETE", path: "/v1/sessions/current", want: expect(204)},
		{method: "GET", path: "/v1/me", want: expect(200)},
		{method: "PATCH", path: "/v1/me", body: map[string]string{"dm_policy": "everyone"}, want: expect(200)},
		{method: "DELETE", path: "/v1/me", want: expect(204)},
		{method: "GET", path: "/v1/me/saved", want: expect(200)},
		{method: "GET", path: "/v1/me/invitations", want: expect(200)},
		// A video zed and ana are only invited to: its analytics are its
		// owner's alone (mia is personal: no CSV export).
		{method: "GET", path: "/v1/analytics/videos/" + pv.ID, want: expect(403, owner, 200)},
		{method: "GET", path: "/v1/analytics/videos/" + pv.ID + "/export.csv", want: expect(403)},
		// Accepting: the accepted co-creator again (idempotent), the owner
		// 422, anyone without an invitation 404.
		{method: "PUT", path: "/v1/me/cocreations/" + w.video, want: expect(404, owner, 422, cocreator, 200)},
		// Declining: ana's pending invitation, re-made for every role (zed
		// declines his own).
		{method: "DELETE", path: "/v1/me/cocreations/{ana's invitation}", setup: func(string) (string, any) {
			if _, err := w.users[owner].InviteCoCreator(ctx, pv.ID, "ana"); err != nil {
				t.Fatal(err)
			}
			return "/v1/me/cocreations/" + pv.ID, nil
		}, want: expect(404, owner, 422, cocreator, 204, recipient, 204)},
		{method: "GET", path: vp + "/cocreators", want: expect(403, owner, 200)},
		{method: "PUT", path: "/v1/videos/" + pv.ID + "/cocreators/ana", want: expect(403, owner, 200)},
		{method: "DELETE", path: "/v1/videos/{pending}/cocreators/ana", setup: func(string) (string, any) {
			if _, err := w.users[owner].InviteCoCreator(ctx, pv.ID, "ana"); err != nil {
				t.Fatal(err)
			}
			return "/v1/videos/" + pv.ID + "/cocreators/ana", nil
		}, want: expect(403, owner, 204)},
		{method: "GET", path: "/v1/accounts/mia", want: all(200)},
		{method: "GET", path: "/v1/accounts/mia/videos", want: all(200)},
		{method: "PUT", path: "/v1/accounts/mia/follow", want: expect(200, owner, 422)},
		{method: "DELETE", path: "/v1/accounts/mia/follow", want: expect(200, owner, 422)},
		{method: "POST", path: "/v1/videos", body: map[string]any{"title": "t"}, want: expect(201)},
		{method: "GET", path: "/v1/videos", want: all(200)},
		{method: "GET", path: vp, want: all(200)},
		{method: "POST", path: vp + "/views", body: map[string]any{"source": "for_you", "watch_ms": 1000}, want: all(202)},
		{method: "PUT", path: vp + "/like", want: expect(200)},
		{method: "DELETE", path: vp + "/like", want: expect(200)},
		{method: "POST", path: vp + "/comments", body: map[string]string{"text": "hi"}, want: expect(201)},
		{method: "GET", path: vp + "/comments", want: all(200)},
		{method: "DELETE", path: "/v1/comments/{leo's}", setup: func(string) (string, any) {
			c, err := w.users[other].Comment(ctx, w.video, "mine")
			if err != nil {
				t.Fatal(err)
			}
			return "/v1/comments/" + c.ID, nil
		}, want: expect(403, other, 204)},
		{method: "PUT", path: vp + "/save", want: expect(200)},
		{method: "DELETE", path: vp + "/save", want: expect(200)},
		{method: "POST", path: vp + "/shares", body: map[string]string{"channel": "whatsapp"}, want: expect(201)},
		{method: "GET", path: "/s/" + w.video, want: all(200)},
		{method: "POST", path: "/v1/messages", body: map[string]string{"to": "ana", "video_id": w.video}, want: expect(201, recipient, 422)},
		{method: "GET", path: "/v1/inbox", want: expect(200)},
		{method: "GET", path: "/v1/messages/sent", want: expect(200)},
		{method: "GET", path: "/v1/messages/" + w.message, want: expect(404, other, 200, recipient, 200)},
		{method: "POST", path: "/v1/messages/" + w.message + "/open", want: expect(404, other, 403, recipient, 200)},
		{method: "GET", path: "/v1/activity", want: expect(200)},
		{method: "GET", path: "/v1/notifications", want: expect(200)},
		{method: "POST", path: "/v1/notifications/read", want: expect(204)},
		{method: "GET", path: "/v1/privacy-policy", want: all(200)},
		{method: "PUT", path: "/v1/privacy-policy", body: map[string]string{"text": "new policy"}, want: expect(403, service, 201)},
		// Analytics: the video's creators (owner, co-creator) and the
		// owner's app token; mia is personal here, so her app token is
		// refused (API access is for business accounts) — see
		// TestAnalyticsExact for a business account's token.
		{method: "GET", path: "/v1/analytics/videos/" + w.video, want: expect(403, owner, 200, cocreator, 200)},
		{method: "GET", path: "/v1/analytics/videos/" + w.video + "/export.csv", want: expect(403)},
		{method: "GET", path: "/v1/analytics/account", want: expect(200)},
		// Platform routes: service token only.
		{method: "POST", path: "/v1/events", body: map[string]any{"id": "m1", "type": "view", "video_id": w.video, "ts": "2026-01-01T00:00:00Z", "source": "other"}, want: expect(403, service, 202)},
		{method: "POST", path: "/v1/sync/accounts", body: map[string]any{"id": "synced-1", "handle": "synced1"}, want: expect(403, service, 200)},
		{method: "POST", path: "/v1/sync/videos", body: map[string]any{"id": "synced-v", "owner": "synced-1", "title": "t"}, want: expect(403, service, 200)},
		{method: "GET", path: "/v1/service-tokens", want: expect(403, service, 200)},
		{method: "POST", path: "/v1/service-tokens", body: map[string]string{"name": "matrix"}, want: expect(403, service, 201)},
		{method: "DELETE", path: "/v1/service-tokens/{id}", setup: func(string) (string, any) {
			tok, err := p.Client().WithToken(w.tokens[service]).CreateServiceToken(ctx, "to revoke")
			if err != nil {
				t.Fatal(err)
			}
			return "/v1/service-tokens/" + tok.ID, nil
		}, want: expect(403, service, 204)},
		{method: "POST", path: "/v1/apps", body: map[string]any{"name": "x", "scopes": []string{"analytics:read"}}, want: expect(201)},
		{method: "GET", path: "/v1/apps", want: expect(200)},
		{method: "DELETE", path: "/v1/apps/{mia's}", setup: func(string) (string, any) {
			a, err := w.users[owner].CreateApp(ctx, "tmp", "analytics:read")
			if err != nil {
				t.Fatal(err)
			}
			return "/v1/apps/" + a.ID, nil
		}, want: expect(404, owner, 204)},
	}

	var failures []string
	for _, c := range cells {
		for _, role := range roles {
			path, body := c.path, c.body
			if c.setup != nil {
				path, body = c.setup(role)
			}
			token := w.tokens[role]
			// Routes that end a session or an account get a throwaway one.
			if (c.path == "/v1/sessions/current" || c.path == "/v1/me") && c.method == "DELETE" && w.users[role] != nil {
				if c.path == "/v1/me" {
					token = MustUser(t, anonC, w.fresh("gone")).Token
				} else {
					s, err := anonC.Login(ctx, handleOf(role), "password-"+handleOf(role))
					if err != nil {
						t.Fatal(err)
					}
					token = s.Token
				}
			}
			got := call(t, p.URL, c.method, path, token, body)
			if want := c.want[role]; got != want {
				failures = append(failures, fmt.Sprintf("%s %s as %s: got %d, want %d", c.method, c.path, role, got, want))
			}
		}
	}
	sort.Strings(failures)
	if len(failures) > 0 {
		t.Fatalf("%d cells of the matrix are wrong:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

func handleOf(role string) string {
	return map[string]string{owner: "mia", cocreator: "zed", other: "leo", recipient: "ana"}[role]
}

func call(t *testing.T, base, method, path, token string, body any) int {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, base+path, &buf)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: error answer is %q, not JSON", method, path, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode
}
