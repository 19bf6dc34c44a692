package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestBadInput sends what a careless or hostile client would to every route
// that takes input: each answer is a 4xx in the JSON error shape, and
// nothing is written.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--login-per-minute", "1000")
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia")
	leo := MustUser(t, anonC, "leo")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "v"})
	if err != nil {
		t.Fatal(err)
	}
	vp := "/v1/videos/" + v.ID
	big := `{"text":"` + strings.Repeat("x", 70<<10) + `"}`
	type tc struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}
	mt, lt := mia.Token, leo.Token
	cases := []tc{
		// Registration.
		{"malformed json", "POST", "/v1/accounts", "", `{"handle":`, 400, "malformed_request"},
		{"not an object", "POST", "/v1/accounts", "", `[1,2]`, 400, "malformed_request"},
		{"null body", "POST", "/v1/accounts", "", `null`, 400, "malformed_request"},
		{"empty body", "POST", "/v1/accounts", "", ``, 400, "malformed_request"},
		{"wrong type", "POST", "/v1/accounts", "", `{"handle":5,"password":"longpassword"}`, 400, "malformed_request"},
		{"unknown field", "POST", "/v1/accounts", "", `{"handle":"abc","password":"longpassword","admin":true}`, 400, "malformed_request"},
		{"two objects", "POST", "/v1/accounts", "", `{"handle":"abc","password":"longpassword"}{}`, 400, "malformed_request"},
		{"bad handle", "POST", "/v1/accounts", "", `{"handle":"a b","password":"longpassword"}`, 422, "invalid"},
		{"short handle", "POST", "/v1/accounts", "", `{"handle":"ab","password":"longpassword"}`, 422, "invalid"},
		{"short password", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"short"}`, 422, "invalid"},
		{"bad gender", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"longpassword","gender":"robot"}`, 422, "invalid"},
		{"bad country", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"longpassword","country":"XX"}`, 422, "invalid"},
		{"bad birth date", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"longpassword","birth_date":"1990-02-30"}`, 422, "invalid"},
		{"too young", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"longpassword","birth_date":"2020-01-01"}`, 422, "invalid"},
		{"bad type", "POST", "/v1/accounts", "", `{"handle":"abcd","password":"longpassword","type":"vip"}`, 422, "invalid"},
		{"duplicate handle", "POST", "/v1/accounts", "", `{"handle":"MIA","password":"longpassword"}`, 409, "conflict"},
		{"oversized", "POST", "/v1/accounts", "", big, 413, "too_large"},
		{"wrong content type", "POST", "/v1/accounts", "", "", 415, "unsupported_media_type"},
		// Sessions.
		{"wrong password", "POST", "/v1/sessions", "", `{"handle":"mia","password":"wrong-password"}`, 401, "unauthorized"},
		{"unknown handle", "POST", "/v1/sessions", "", `{"handle":"nobody","password":"wrong-password"}`, 401, "unauthorized"},
		{"bad token", "GET", "/v1/me", "crs_nope", "", 401, "unauthorized"},
		{"bad scheme", "GET", "/v1/me", "", "", 401, "unauthorized"},
		// Me.
		{"bad dm policy", "PATCH", "/v1/me", mt, `{"dm_policy":"friends"}`, 422, "invalid"},
		{"bad account type", "PATCH", "/v1/me", mt, `{"type":"pro"}`, 422, "invalid"},
		{"display name too long", "PATCH", "/v1/me", mt, `{"display_name":"` + strings.Repeat("n", 65) + `"}`, 422, "invalid"},
		{"patch wrong type", "PATCH", "/v1/me", mt, `{"type":true}`, 400, "malformed_request"},
		// Accounts and follows.
		{"unknown profile", "GET", "/v1/accounts/nobody", "", "", 404, "not_found"},
		{"unknown account videos", "GET", "/v1/accounts/nobody/videos", "", "", 404, "not_found"},
		{"follow unknown", "PUT", "/v1/accounts/nobody/follow", mt, "", 404, "not_found"},
		{"follow self", "PUT", "/v1/accounts/mia/follow", mt, "", 422, "invalid"},
		// Videos.
		{"video without title", "POST", "/v1/videos", mt, `{"caption":"x"}`, 422, "invalid"},
		{"video bad hashtag", "POST", "/v1/videos", mt, `{"title":"t","hashtags":["two words"]}`, 422, "invalid"},
		{"video unknown collaborator", "POST", "/v1/videos", mt, `{"title":"t","collaborators":["nobody"]}`, 422, "invalid"},
		{"video hashtags wrong type", "POST", "/v1/videos", mt, `{"title":"t","hashtags":"a"}`, 400, "malformed_request"},
		{"unknown video", "GET", "/v1/videos/nope", "", "", 404, "not_found"},
		{"bad limit", "GET", "/v1/videos?limit=0", "", "", 422, "invalid"},
		{"bad limit type", "GET", "/v1/videos?limit=abc", "", "", 422, "invalid"},
		{"bad cursor", "GET", "/v1/videos?before=zzz", "", "", 422, "invalid"},
		// Views.
		{"view bad source", "POST", vp + "/views", lt, `{"source":"tv"}`, 422, "invalid"},
		{"view negative watch", "POST", vp + "/views", lt, `{"source":"for_you","watch_ms":-5}`, 422, "invalid"},
		{"view huge watch", "POST", vp + "/views", lt, `{"source":"for_you","watch_ms":999999999999}`, 422, "invalid"},
		{"view watch float", "POST", vp + "/views", lt, `{"source":"for_you","watch_ms":1.5}`, 400, "malformed_request"},
		{"view completed string", "POST", vp + "/views", lt, `{"source":"for_you","completed":"yes"}`, 400, "malformed_request"},
		{"view unknown video", "POST", "/v1/videos/nope/views", lt, `{"source":"for_you"}`, 404, "not_found"},
		// Likes, saves, comments.
		{"like unknown video", "PUT", "/v1/videos/nope/like", lt, "", 404, "not_found"},
		{"save unknown video", "PUT", "/v1/videos/nope/save", lt, "", 404, "not_found"},
		{"empty comment", "POST", vp + "/comments", lt, `{"text":"  "}`, 422, "invalid"},
		{"comment too long", "POST", vp + "/comments", lt, `{"text":"` + strings.Repeat("c", 2001) + `"}`, 422, "invalid"},
		{"comment unknown video", "POST", "/v1/videos/nope/comments", lt, `{"text":"hi"}`, 404, "not_found"},
		{"delete unknown comment", "DELETE", "/v1/comments/nope", lt, "", 404, "not_found"},
		// Shares and messages.
		{"share bad channel", "POST", vp + "/shares", lt, `{"channel":"carrier-pigeon"}`, 422, "invalid"},
		{"share dm via shares", "POST", vp + "/shares", lt, `{"channel":"dm"}`, 422, "invalid"},
		{"share unknown video", "POST", "/v1/videos/nope/shares", lt, `{"channel":"x"}`, 404, "not_found"},
		{"message unknown recipient", "POST", "/v1/messages", lt, `{"to":"nobody","video_id":"` + v.ID + `"}`, 404, "not_found"},
		{"message unknown video", "POST", "/v1/messages", lt, `{"to":"mia","video_id":"nope"}`, 404, "not_found"},
		{"message missing fields", "POST", "/v1/messages", lt, `{}`, 422, "invalid"},
		{"message text too long", "POST", "/v1/messages", lt, `{"to":"mia","video_id":"` + v.ID + `","text":"` + strings.Repeat("m", 1001) + `"}`, 422, "invalid"},
		{"unknown message", "GET", "/v1/messages/nope", lt, "", 404, "not_found"},
		// Apps and policy.
		{"app unknown scope", "POST", "/v1/apps", mt, `{"name":"x","scopes":["inbox:read"]}`, 422, "invalid"},
		{"app no scopes", "POST", "/v1/apps", mt, `{"name":"x","scopes":[]}`, 422, "invalid"},
		{"app no name", "POST", "/v1/apps", mt, `{"scopes":["analytics:read"]}`, 422, "invalid"},
		{"revoke unknown app", "DELETE", "/v1/apps/nope", mt, "", 404, "not_found"},
		// Routing.
		{"unknown route", "GET", "/v1/nothing", "", "", 404, "not_found"},
		{"wrong method", "PATCH", "/v1/videos", mt, `{}`, 405, "method_not_allowed"},
	}
	before := snapshot(t, mia, leo, v.ID)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, p.URL+c.path, strings.NewReader(c.body))
			switch {
			case c.name == "wrong content type":
				req.Header.Set("Content-Type", "text/plain")
				req.Body = io.NopCloser(strings.NewReader(`{"handle":"abcd","password":"longpassword"}`))
			case c.body != "":
				req.Header.Set("Content-Type", "application/json")
			}
			switch {
			case c.name == "bad scheme":
				req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
			case c.token != "":
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb struct {
				Error struct{ Code, Message string }
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &eb); err != nil {
				t.Fatalf("answer is not JSON: %q", raw)
			}
			if resp.StatusCode != c.status || eb.Error.Code != c.code || eb.Error.Message == "" {
				t.Fatalf("got %d %q %q, want %d %q", resp.StatusCode, eb.Error.Code, eb.Error.Message, c.status, c.code)
			}
		})
	}
	if after := snapshot(t, mia, leo, v.ID); after != before {
		t.Fatalf("bad requests changed state:\nbefore %s\nafter  %s", before, after)
	}
	if strings.Contains(p.Logs(), `"level":"ERROR"`) {
		t.Fatalf("bad input logged an error (a 5xx path):\n%s", p.Logs())
	}
}

// snapshot renders what bad requests might have changed.
func snapshot(t *testing.T, mia, leo *client.Client, video string) string {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	for _, path := range []string{"/v1/me", "/v1/videos", "/v1/videos/" + video + "/comments", "/v1/inbox", "/v1/apps", "/v1/accounts/mia"} {
		var m any
		if err := mia.Do(ctx, "GET", path, nil, &m); err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(&b).Encode(m)
	}
	var m any
	if err := leo.Do(ctx, "GET", "/v1/messages/sent", nil, &m); err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(&b).Encode(m)
	return b.String()
}
