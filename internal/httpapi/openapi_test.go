package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/httpapi"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
)

// The tests in this file hold the API to its published contract,
// openapi.json: every route in routes() is documented and vice versa, and
// every answer of a realistic session — successes and errors — has a
// documented status and a body that validates against the documented schema.

// TestOpenAPI_Routes checks that the document lists exactly the routes of
// routes() in server.go, and that a route is public in the document exactly
// when it admits anyone.
func TestOpenAPI_Routes(t *testing.T) {
	doc := loadOpenAPI(t)
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:handle|mux\.Handle)\("([A-Z]+) ([^"]+)"(?:, (role[\w|]+))?`)
	routes := map[string]string{} // "METHOD path" → roles
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		roles := m[3]
		if roles == "" {
			roles = "roleAnyone" // mux.Handle: not behind authorize
		}
		routes[m[1]+" "+m[2]] = roles
	}
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in server.go; has routes() changed shape?", len(routes))
	}
	for key, roles := range routes {
		op, ok := doc.ops[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if public := strings.Contains(roles, "roleAnyone"); public != isPublic(op) {
			t.Errorf("%s: server roles %s, but document public=%v", key, roles, isPublic(op))
		}
	}
	for key := range doc.ops {
		if _, ok := routes[key]; !ok {
			t.Errorf("openapi.json documents %s, which routes() does not serve", key)
		}
	}
}

// isPublic reports whether an operation's security admits an anonymous caller.
func isPublic(op map[string]any) bool {
	sec, ok := op["security"].([]any)
	if !ok {
		return false // the document's default: a bearer token
	}
	if len(sec) == 0 {
		return true
	}
	for _, req := range sec {
		if m, ok := req.(map[string]any); ok && len(m) == 0 {
			return true
		}
	}
	return false
}

// TestOpenAPI_Document checks the document's own consistency: every $ref
// resolves, every operation is described, path parameters are declared, and
// request bodies refuse unknown fields as the server does.
func TestOpenAPI_Document(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc.doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, err := doc.resolve(r); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			if _, ok := v["nullable"]; ok {
				t.Errorf("%s: nullable is OpenAPI 3.0; use type [\"...\", \"null\"]", at)
			}
			for k, e := range v {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc.doc, "#")

	ids := map[string]string{}
	param := regexp.MustCompile(`\{(\w+)\}`)
	for key, op := range doc.ops {
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", key)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share operationId %q", key, other, id)
		}
		ids[id] = key
		if d, _ := op["description"].(string); d == "" {
			t.Errorf("%s: no description", key)
		}
		if _, ok := op["responses"].(map[string]any); !ok {
			t.Errorf("%s: no responses", key)
		}
		declared := map[string]bool{}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := p.(map[string]any)
			if p["in"] == "path" {
				declared[p["name"].(string)] = true
			}
		}
		_, path, _ := strings.Cut(key, " ")
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", key, m[1])
			}
			delete(declared, m[1])
		}
		for name := range declared {
			t.Errorf("%s: declares path parameter %s that the path lacks", key, name)
		}
		if schema := doc.requestSchema(op); schema != nil {
			s, _ := doc.deref(schema).(map[string]any)
			if s["additionalProperties"] != false {
				t.Errorf("%s: request body schema must have additionalProperties: false (the server refuses unknown fields)", key)
			}
		}
	}
}

// TestOpenAPI_ValidatorCatchesDrift checks that the validator the contract
// test relies on does fail on the drifts it is there to catch.
func TestOpenAPI_ValidatorCatchesDrift(t *testing.T) {
	doc := loadOpenAPI(t)
	account := func() map[string]any {
		return map[string]any{
			"id": "a1", "handle": "mia", "display_name": "Mia", "type": "personal", "dm_policy": "everyone", "read_receipts": false,
			"gender": "undisclosed", "created_at": "2026-01-02T03:04:05.123456Z",
		}
	}
	video := func() map[string]any {
		return map[string]any{
			"id": "v1", "owner": "mia", "creators": []any{"mia"}, "title": "t", "caption": "", "hashtags": []any{},
			"sound": "", "created_at": "2026-01-02T03:04:05Z",
			"counts": map[string]any{"views": 1.0, "likes": 0.0, "comments": 0.0, "shares": 0.0, "saves": 0.0},
		}
	}
	event := func(typ, fields string) map[string]any {
		var e map[string]any
		if err := json.Unmarshal([]byte(`{"id": "e1", "type": "`+typ+`", "video_id": "v1", "ts": "2026-01-02T03:04:05Z", `+fields+`}`), &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name   string
		schema string
		value  func() any
		ok     bool
	}{
		{"account", "Account", func() any { return account() }, true},
		{"account with private fields", "Account", func() any {
			a := account()
			a["birth_date"], a["country"] = "2000-01-31", "DE"
			return a
		}, true},
		{"missing required field", "Account", func() any { a := account(); delete(a, "handle"); return a }, false},
		{"unknown field", "Account", func() any { a := account(); a["password_hash"] = "x"; return a }, false},
		{"value outside enum", "Account", func() any { a := account(); a["type"] = "admin"; return a }, false},
		{"bad date-time", "Account", func() any { a := account(); a["created_at"] = "yesterday"; return a }, false},
		{"null for a string", "Account", func() any { a := account(); a["display_name"] = nil; return a }, false},
		{"profile with a birth date", "Profile", func() any {
			return map[string]any{"id": "a1", "handle": "mia", "display_name": "Mia", "type": "personal",
				"followers": 0.0, "following": 0.0, "created_at": "2026-01-02T03:04:05Z", "birth_date": "2000-01-31"}
		}, false},
		{"video", "Video", func() any { return video() }, true},
		{"fractional count", "Video", func() any {
			v := video()
			v["counts"].(map[string]any)["views"] = 1.5
			return v
		}, false},
		{"null list", "Video", func() any { v := video(); v["hashtags"] = nil; return v }, false},
		{"wrong item type", "Video", func() any { v := video(); v["creators"] = []any{1.0}; return v }, false},
		{"app list with a token", "AppList", func() any {
			return map[string]any{"apps": []any{map[string]any{"id": "p", "name": "n", "scopes": []any{"analytics:read"},
				"created_at": "2026-01-02T03:04:05Z", "token": "cra_x"}}}
		}, false},
		{"logged-out view", "EventLine", func() any { return event("view", `"source": "for_you", "account_id": null`) }, true},
		{"comment", "EventLine", func() any { return event("comment", `"account_id": "a1", "text": "nice"`) }, true},
		{"view without a source", "EventLine", func() any { return event("view", `"watch_ms": 10`) }, false},
		{"view with a channel", "EventLine", func() any { return event("view", `"source": "search", "channel": "sms"`) }, false},
		{"like without an account", "EventLine", func() any { return event("like", `"account_id": ""`) }, false},
		{"event with an unknown field", "EventLine", func() any { return event("save", `"account_id": "a1", "extra": 1`) }, false},
		{"rejection with an event code on a sync line", "SyncResult", func() any {
			return map[string]any{"upserted": 0.0, "rejected": []any{map[string]any{"line": 1.0, "code": "unknown_video", "message": "m"}}}
		}, false},
		{"activity of a save", "Activity", func() any {
			return map[string]any{"kind": "save", "actor": "mia", "created_at": "2026-01-02T03:04:05Z"}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := doc.validate(map[string]any{"$ref": "#/components/schemas/" + tc.schema}, tc.value(), "$")
			if tc.ok && len(errs) > 0 {
				t.Errorf("valid value refused: %v", errs)
			}
			if !tc.ok && len(errs) == 0 {
				t.Error("invalid value accepted")
			}
		})
	}
}

// TestOpenAPI_Responses drives every route of the real handler through a
// realistic session and validates every answer against the document.
func TestOpenAPI_Responses(t *testing.T) {
	doc := loadOpenAPI(t)
	srv, st := newAPIServer(t)
	c := &apiClient{t: t, base: srv.URL, doc: doc, seen: map[string]bool{}}
	ctx := t.Context()

	// Operations.
	c.do("GET", "/healthz", "", nil, 200)
	c.do("GET", "/readyz", "", nil, 200)
	if served := c.do("GET", "/openapi.json", "", nil, 200); !reflect.DeepEqual(served, doc.doc) {
		t.Error("GET /openapi.json does not serve openapi.json")
	}
	notReady := httptest.NewServer(httpapi.New(httpapi.Deps{
		Config: config.Default(), Store: st, Counter: disclosure.New(config.Exact, st),
		Ready: []httpapi.Checker{checkerFunc(func(context.Context) error { return errors.New("down") })},
	}))
	defer notReady.Close()
	(&apiClient{t: t, base: notReady.URL, doc: doc, seen: c.seen}).do("GET", "/readyz", "", nil, 503)

	// Accounts.
	c.do("POST", "/v1/accounts", "", map[string]any{
		"handle": "Alice", "password": "alice-password", "display_name": "Alice A.",
		"birth_date": "1990-05-17", "gender": "female", "country": "de", "type": "business",
	}, 201)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "bob", "password": "bob-password"}, 201)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "carol", "password": "carol-password"}, 201)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "alice", "password": "another-password"}, 409)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "dave", "password": "dave-password", "gender": "robot"}, 422)
	c.do("POST", "/v1/accounts", "", map[string]any{"handle": "dave", "password": "dave-password", "admin": true}, 400)
	c.do("POST", "/v1/accounts", "", rawBody{"text/plain", "handle=dave"}, 415)
	c.do("POST", "/v1/accounts", "", rawBody{"application/json", `{"handle":"` + strings.Repeat("d", 70<<10) + `"}`}, 413)

	alice := c.do("POST", "/v1/sessions", "", map[string]any{"handle": "alice", "password": "alice-password"}, 201)["token"].(string)
	bob := c.do("POST", "/v1/sessions", "", map[string]any{"handle": "BOB", "password": "bob-password"}, 201)["token"].(string)
	carol := c.do("POST", "/v1/sessions", "", map[string]any{"handle": "carol", "password": "carol-password"}, 201)["token"].(string)
	c.do("POST", "/v1/sessions", "", map[string]any{"handle": "carol", "password": "wrong-password"}, 401)

	c.do("GET", "/v1/me", "", nil, 401)
	c.do("GET", "/v1/me", "crs_not-a-session", nil, 401)
	if me := c.do("GET", "/v1/me", alice, nil, 200); me["country"] != "DE" || me["birth_date"] != "1990-05-17" {
		t.Errorf("own account lacks its private fields: %v", me)
	}
	c.do("PATCH", "/v1/me", alice, map[string]any{"display_name": "Alice"}, 200)
	c.do("PATCH", "/v1/me", bob, map[string]any{"dm_policy": "following", "type": "personal"}, 200)
	c.do("PATCH", "/v1/me", bob, map[string]any{"dm_policy": "friends"}, 422)
	if me := c.do("PATCH", "/v1/me", carol, map[string]any{"read_receipts": true}, 200); me["read_receipts"] != true {
		t.Errorf("read_receipts after turning them on: %v", me["read_receipts"])
	}
	c.do("PATCH", "/v1/me", carol, map[string]any{"read_receipts": "yes"}, 400)

	// Videos.
	video := c.do("POST", "/v1/videos", alice, map[string]any{
		"title": "First", "caption": "hello", "hashtags": []string{"#Fun", "fun"}, "sound": "original", "collaborators": []string{"bob"},
	}, 201)
	vid := video["id"].(string)
	if !reflect.DeepEqual(video["creators"], []any{"alice"}) || !reflect.DeepEqual(video["invited"], []any{"bob"}) {
		t.Errorf("new video: creators %v invited %v, want alice and an invitation for bob", video["creators"], video["invited"])
	}
	c.do("POST", "/v1/videos", alice, map[string]any{"title": "Second", "collaborators": []string{"nobody"}}, 422)
	// Co-creators by consent: bob is invited and accepts; carol is invited,
	// declines, is invited again and withdrawn by the owner.
	c.do("GET", "/v1/me/invitations", bob, nil, 200)
	c.do("GET", "/v1/me/invitations", "", nil, 401)
	c.do("GET", "/v1/videos/"+vid+"/cocreators", alice, nil, 200)
	c.do("GET", "/v1/videos/"+vid+"/cocreators", bob, nil, 403)
	c.do("GET", "/v1/videos/nope/cocreators", alice, nil, 404)
	c.do("PUT", "/v1/me/cocreations/"+vid, carol, nil, 404)
	c.do("PUT", "/v1/me/cocreations/"+vid, alice, nil, 422)
	c.do("PUT", "/v1/me/cocreations/nope", bob, nil, 404)
	c.do("PUT", "/v1/me/cocreations/"+vid, bob, nil, 200)
	c.do("PUT", "/v1/videos/"+vid+"/cocreators/carol", alice, nil, 200)
	c.do("PUT", "/v1/videos/"+vid+"/cocreators/carol", bob, nil, 403)
	c.do("PUT", "/v1/videos/"+vid+"/cocreators/alice", alice, nil, 422)
	c.do("PUT", "/v1/videos/"+vid+"/cocreators/nobody", alice, nil, 404)
	c.do("DELETE", "/v1/me/cocreations/"+vid, carol, nil, 204)
	c.do("DELETE", "/v1/me/cocreations/"+vid, carol, nil, 404)
	c.do("DELETE", "/v1/me/cocreations/"+vid, alice, nil, 422)
	c.do("PUT", "/v1/videos/"+vid+"/cocreators/carol", alice, nil, 200)
	c.do("DELETE", "/v1/videos/"+vid+"/cocreators/carol", bob, nil, 403)
	c.do("DELETE", "/v1/videos/"+vid+"/cocreators/carol", alice, nil, 204)
	c.do("DELETE", "/v1/videos/"+vid+"/cocreators/carol", alice, nil, 404)
	c.do("DELETE", "/v1/videos/"+vid+"/cocreators/alice", alice, nil, 422)
	if list := c.do("GET", "/v1/videos/"+vid+"/cocreators", alice, nil, 200); fmtJSON(list) != `{"cocreators":[{"handle":"bob","since":"`+fmtSince(list)+`","status":"accepted"}]}` {
		t.Errorf("co-creators after the changes: %s", fmtJSON(list))
	}
	c.do("POST", "/v1/videos", "", map[string]any{"title": "Anonymous"}, 401)
	c.do("GET", "/v1/videos/"+vid, "", nil, 200)
	c.do("GET", "/v1/videos/nope", "", nil, 404)
	page := c.do("GET", "/v1/videos?limit=1", "", nil, 200)
	next, _ := page["next"].(string)
	if next == "" {
		t.Error("a full page has no next cursor")
	}
	c.do("GET", "/v1/videos?before="+next, "", nil, 200)
	c.do("GET", "/v1/videos?limit=0", "", nil, 422)
	c.do("GET", "/v1/videos", "crs_not-a-session", nil, 401)
	c.do("GET", "/v1/accounts/bob/videos", "", nil, 200)
	c.do("GET", "/v1/accounts/nobody/videos", "", nil, 404)

	// Engagement.
	c.do("POST", "/v1/videos/"+vid+"/views", "", map[string]any{"source": "for_you", "watch_ms": 1200, "completed": false}, 202)
	c.do("POST", "/v1/videos/"+vid+"/views", bob, map[string]any{"source": "profile", "watch_ms": 9000, "completed": true}, 202)
	c.do("POST", "/v1/videos/"+vid+"/views", "", map[string]any{"source": "tv"}, 422)
	c.do("POST", "/v1/videos/nope/views", "", map[string]any{"source": "search"}, 404)
	c.do("PUT", "/v1/videos/"+vid+"/like", bob, nil, 200)
	c.do("DELETE", "/v1/videos/"+vid+"/like", bob, nil, 200)
	c.do("PUT", "/v1/videos/"+vid+"/like", bob, nil, 200)
	c.do("PUT", "/v1/videos/"+vid+"/like", "", nil, 401)
	c.do("PUT", "/v1/videos/nope/like", bob, nil, 404)
	c.do("POST", "/v1/videos/"+vid+"/comments", bob, map[string]any{"text": "nice"}, 201)
	oops := c.do("POST", "/v1/videos/"+vid+"/comments", bob, map[string]any{"text": "oops"}, 201)["id"].(string)
	c.do("POST", "/v1/videos/"+vid+"/comments", bob, map[string]any{"text": "  "}, 422)
	c.do("GET", "/v1/videos/"+vid+"/comments", "", nil, 200)
	c.do("GET", "/v1/videos/nope/comments", "", nil, 404)
	c.do("DELETE", "/v1/comments/"+oops, alice, nil, 403)
	c.do("DELETE", "/v1/comments/"+oops, bob, nil, 204)
	c.do("DELETE", "/v1/comments/"+oops, bob, nil, 404)
	c.do("PUT", "/v1/videos/"+vid+"/save", bob, nil, 200)
	c.do("DELETE", "/v1/videos/"+vid+"/save", bob, nil, 200)
	c.do("PUT", "/v1/videos/"+vid+"/save", bob, nil, 200)
	if saved := c.do("GET", "/v1/me/saved", bob, nil, 200); len(saved["videos"].([]any)) != 1 {
		t.Errorf("saved = %v, want the one saved video", saved)
	}
	s1 := c.do("POST", "/v1/videos/"+vid+"/shares", bob, map[string]any{"channel": "whatsapp"}, 201)
	s2 := c.do("POST", "/v1/videos/"+vid+"/shares", carol, map[string]any{"channel": "copy_link"}, 201)
	if s1["url"] != s2["url"] {
		t.Errorf("share URLs differ between sharers: %v and %v", s1["url"], s2["url"])
	}
	c.do("POST", "/v1/videos/"+vid+"/shares", bob, map[string]any{"channel": "dm"}, 422)
	c.do("POST", "/v1/videos/nope/shares", bob, map[string]any{"channel": "sms"}, 404)
	c.do("GET", "/s/"+vid, "", nil, 200)
	c.do("GET", "/s/"+vid, carol, nil, 200)
	c.do("GET", "/s/nope", "", nil, 404)

	// Follows and messages.
	c.do("POST", "/v1/messages", alice, map[string]any{"to": "bob", "video_id": vid, "text": "look"}, 403)
	c.do("PUT", "/v1/accounts/alice/follow", bob, nil, 200)
	c.do("DELETE", "/v1/accounts/alice/follow", bob, nil, 200)
	c.do("PUT", "/v1/accounts/alice/follow", bob, nil, 200)
	c.do("PUT", "/v1/accounts/alice/follow", alice, nil, 422)
	c.do("PUT", "/v1/accounts/nobody/follow", bob, nil, 404)
	c.do("DELETE", "/v1/accounts/nobody/follow", bob, nil, 404)
	msg := c.do("POST", "/v1/messages", alice, map[string]any{"to": "bob", "video_id": vid, "text": "look"}, 201)["id"].(string)
	c.do("POST", "/v1/messages", alice, map[string]any{"to": "nobody", "video_id": vid}, 404)
	c.do("POST", "/v1/messages", alice, map[string]any{"to": "bob"}, 422)
	c.do("GET", "/v1/inbox", bob, nil, 200)
	c.do("GET", "/v1/messages/sent", alice, nil, 200)
	c.do("GET", "/v1/messages/sent?limit=101", alice, nil, 422)
	c.do("GET", "/v1/messages/"+msg, alice, nil, 200)
	c.do("GET", "/v1/messages/"+msg, carol, nil, 404)
	c.do("POST", "/v1/messages/"+msg+"/open", alice, nil, 403)
	if m := c.do("POST", "/v1/messages/"+msg+"/open", bob, nil, 200); m["opened_at"] == nil {
		t.Error("an opened message has no opened_at")
	}
	c.do("GET", "/v1/messages/"+msg, bob, nil, 200)
	c.do("GET", "/v1/accounts/ALICE", "", nil, 200)
	c.do("GET", "/v1/accounts/nobody", "", nil, 404)

	// Activity: likes, comments and follows, never the shares, saves and
	// views above.
	act := c.do("GET", "/v1/activity", alice, nil, 200)["activity"].([]any)
	kinds := map[string]bool{}
	for _, a := range act {
		kinds[a.(map[string]any)["kind"].(string)] = true
	}
	if !reflect.DeepEqual(kinds, map[string]bool{"like": true, "comment": true, "follow": true}) {
		t.Errorf("activity kinds = %v, want like, comment and follow", kinds)
	}
	c.do("GET", "/v1/activity?limit=500", alice, nil, 422)

	// Privacy policy and notifications.
	svc, err := security.NewToken("crv")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateServiceToken(ctx, security.NewID(), security.HashToken(svc), "", time.Now()); err != nil {
		t.Fatal(err)
	}
	c.do("GET", "/v1/privacy-policy", "", nil, 200)
	c.do("PUT", "/v1/privacy-policy", svc, map[string]any{"text": "We changed things."}, 201)
	c.do("PUT", "/v1/privacy-policy", svc, map[string]any{"text": " "}, 422)
	c.do("PUT", "/v1/privacy-policy", alice, map[string]any{"text": "Mine now."}, 403)
	c.do("PUT", "/v1/privacy-policy", "", map[string]any{"text": "Mine now."}, 401)
	c.do("GET", "/v1/me", svc, nil, 403)
	if n := c.do("GET", "/v1/notifications", alice, nil, 200); n["unread"] != 1.0 {
		t.Errorf("unread = %v after a new policy, want 1", n["unread"])
	}
	c.do("POST", "/v1/notifications/read", alice, nil, 204)
	if n := c.do("GET", "/v1/notifications", alice, nil, 200); n["unread"] != 0.0 {
		t.Errorf("unread = %v after reading, want 0", n["unread"])
	}

	// Bulk sync and ingestion (service token only): lines are applied or
	// rejected one by one, bodies that are not NDJSON are refused whole.
	nd := func(lines ...string) rawBody { return rawBody{ndjson, strings.Join(lines, "\n") + "\n"} }
	synced := c.do("POST", "/v1/sync/accounts", svc, nd(
		`{"id":"plat-1","handle":" Mia.Plat ","display_name":"Mia","birth_date":"1999-03-04","gender":"female","country":"fr","type":"business"}`,
		`{"id":"plat-2","handle":"noah_plat","password":"noah-password"}`,
		``,
		`{"id":"plat-3","handle":"x"}`,
		`{"id":"plat/4","handle":"okhandle"}`,
		`not json`,
		`{"id":"plat-5","handle":"alice"}`,
		`{"id":"plat-6","handle":"zed_plat","admin":true}`,
	), 200)
	checkBulk(t, "sync accounts", synced, "upserted", 2, 0, []string{"4:invalid", "5:invalid", "6:malformed_request", "7:conflict", "8:malformed_request"})
	c.do("POST", "/v1/sessions", "", map[string]any{"handle": "noah_plat", "password": "noah-password"}, 201)
	c.do("POST", "/v1/sync/accounts", svc, rawBody{"text/csv", "id,handle\nplat-7,csv_plat\n"}, 415)
	c.do("POST", "/v1/sync/accounts", svc, nd(`{"id":"plat-7","display_name":"`+strings.Repeat("x", 70<<10)+`"}`), 413)
	c.do("POST", "/v1/sync/accounts", alice, nd(`{"id":"plat-7","handle":"mine_now"}`), 403)
	c.do("POST", "/v1/sync/accounts", "", nd(`{"id":"plat-7","handle":"mine_now"}`), 401)
	synced = c.do("POST", "/v1/sync/videos", svc, nd(
		`{"id":"plat-v1","owner":"plat-1","collaborators":["plat-2"],"title":"Synced","caption":"c","hashtags":["#dance"],"sound":"s","created_at":"2026-01-02T03:04:05Z"}`,
		`{"id":"plat-v2","owner":"nobody-such"}`,
		`{"id":"plat-v3","owner":"plat-1","created_at":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`,
		`{"id":"plat-v4","owner":"plat-2"}`,
		`{"id":"plat-v6","owner":"plat-1","collaborators":["plat-2"],"accepted_collaborators":["plat-2"]}`,
		`{"id":"plat-v7","owner":"plat-1","accepted_collaborators":["plat-2"]}`,
	), 200)
	checkBulk(t, "sync videos", synced, "upserted", 3, 0, []string{"2:not_found", "3:invalid", "6:invalid"})
	// A synced collaborator is invited; one the platform marks accepted is a
	// creator at once.
	if v := c.do("GET", "/v1/videos/plat-v1", "", nil, 200); !reflect.DeepEqual(v["creators"], []any{"mia.plat"}) {
		t.Errorf("synced video's creators = %v, want mia.plat (noah_plat invited)", v["creators"])
	}
	if v := c.do("GET", "/v1/videos/plat-v6", "", nil, 200); !reflect.DeepEqual(v["creators"], []any{"mia.plat", "noah_plat"}) {
		t.Errorf("synced video's creators = %v, want mia.plat and noah_plat", v["creators"])
	}
	c.do("POST", "/v1/sync/videos", svc, rawBody{"text/plain", `{"id":"plat-v5","owner":"plat-1"}`}, 415)
	c.do("POST", "/v1/sync/videos", alice, nd(`{"id":"plat-v5","owner":"plat-1"}`), 403)
	c.do("POST", "/v1/sync/videos", svc, nd(`{"id":"plat-v5","owner":"plat-1","title":"`+"\xff"+`"}`), 400)

	// Service tokens: list, create (rotation), revoke.
	c.do("GET", "/v1/service-tokens", svc, nil, 200)
	c.do("GET", "/v1/service-tokens", alice, nil, 403)
	rotated := c.do("POST", "/v1/service-tokens", svc, map[string]any{"name": "rotated"}, 201)
	c.do("POST", "/v1/service-tokens", svc, map[string]any{"name": "bad\nname"}, 422)
	c.do("POST", "/v1/service-tokens", svc, map[string]any{"name": 5}, 400)
	c.do("GET", "/v1/service-tokens", rotated["token"].(string), nil, 200)
	c.do("DELETE", "/v1/service-tokens/"+rotated["id"].(string), svc, nil, 204)
	c.do("DELETE", "/v1/service-tokens/"+rotated["id"].(string), svc, nil, 404)
	c.do("GET", "/v1/service-tokens", rotated["token"].(string), nil, 401)

	ts := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	ev := func(id, typ, video, account, extra string) string {
		line := `{"id":"` + id + `","type":"` + typ + `","video_id":"` + video + `","ts":"` + ts + `"`
		if account != "" {
			line += `,"account_id":"` + account + `"`
		}
		return line + extra + "}"
	}
	batch := nd(
		ev("e1", "view", "plat-v1", "plat-2", `,"source":"for_you","watch_ms":3000,"completed":true`),
		ev("e2", "view", vid, "", `,"source":"search","account_id":null`),
		ev("e3", "like", "plat-v1", "plat-1", ``),
		ev("e1", "view", "plat-v1", "plat-2", `,"source":"for_you","watch_ms":3000,"completed":true`), // duplicate
		``,
		ev("e4", "comment", "plat-v1", "plat-2", `,"text":"so good"`),
		ev("e5", "share", vid, "plat-1", `,"channel":"whatsapp"`),
		`{"id":"e6","type":`,
		ev("e7", "save", "plat-v1", "plat-1", `,"extra":1`),
		ev("e8", "like", "plat-v1", "", ``),
		ev("e9", "view", "plat-v1", "", `,"source":"tv"`),
		strings.Replace(ev("e10", "save", "plat-v1", "plat-2", ``), ts, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), 1),
		ev("e11", "save", "nope", "plat-2", ``),
		ev("e12", "save", "plat-v1", "nobody-such", ``),
	)
	badLines := []string{
		"8:malformed_json", "9:unknown_field", "10:missing_field", "11:invalid_field", "12:future_timestamp",
		"13:unknown_video", "14:unknown_account"}
	checkBulk(t, "events", c.do("POST", "/v1/events", svc, batch, 202), "accepted", 5, 1, badLines)
	checkBulk(t, "events resent", c.do("POST", "/v1/events", svc, batch, 202), "accepted", 0, 6, badLines)
	checkBulk(t, "no events", c.do("POST", "/v1/events", svc, rawBody{ndjson, ""}, 202), "accepted", 0, 0, nil)
	c.do("POST", "/v1/events", svc, rawBody{ndjson, "handle=dave&password=x"}, 400)
	c.do("POST", "/v1/events", svc, rawBody{"text/csv", "id,type\ne20,save\n"}, 415)
	c.do("POST", "/v1/events", svc, rawBody{ndjson, `[` + ev("e20", "save", vid, "plat-1", ``) + `]`}, 400)
	c.do("POST", "/v1/events", svc, rawBody{ndjson, strings.Repeat("\n", 100_001)}, 413)
	c.do("POST", "/v1/events", svc, nd(ev("e13", "comment", "plat-v1", "plat-2", `,"text":"`+strings.Repeat("x", 70<<10)+`"`)), 413)
	c.do("POST", "/v1/events", alice, nd(ev("e20", "save", vid, "plat-1", ``)), 403)
	c.do("POST", "/v1/events", "", nd(ev("e20", "save", vid, "plat-1", ``)), 401)
	lagging := httptest.NewServer(httpapi.New(httpapi.Deps{
		Config: config.Default(), Store: st, Counter: disclosure.New(config.Exact, st),
		Aggregation: laggingAggregation{},
	}))
	defer lagging.Close()
	if status, h, _ := (&apiClient{t: t, base: lagging.URL, doc: doc, seen: c.seen}).send("POST", "/v1/events", svc, nd(ev("e20", "save", vid, "plat-1", ``))); status != 429 || h.Get("Retry-After") == "" {
		t.Errorf("events while aggregation lags: status %d, Retry-After %q; want 429 with Retry-After", status, h.Get("Retry-After"))
	}
	(&apiClient{t: t, base: lagging.URL, doc: doc, seen: c.seen}).do("POST", "/v1/events", svc, nd(ev("e20", "save", vid, "plat-1", ``)), 429)

	// Apps.
	app := c.do("POST", "/v1/apps", alice, map[string]any{"name": "Dashboard", "scopes": []string{"analytics:read"}}, 201)
	c.do("POST", "/v1/apps", alice, map[string]any{"name": "Dashboard", "scopes": []string{"messages:read"}}, 422)
	appToken := app["token"].(string)
	c.do("GET", "/v1/me", appToken, nil, 403)
	c.do("GET", "/v1/videos/"+vid, appToken, nil, 200)
	c.do("GET", "/v1/apps", alice, nil, 200)
	c.do("DELETE", "/v1/apps/"+app["id"].(string), alice, nil, 204)
	c.do("DELETE", "/v1/apps/"+app["id"].(string), alice, nil, 404)
	c.do("GET", "/v1/videos/"+vid, appToken, nil, 401)

	// Analytics: only a video's creators read its numbers, which come from
	// the disclosure layer; business accounts get business detail. The
	// reports never list who viewed, shared or saved.
	aliceID := c.do("GET", "/v1/me", alice, nil, 200)["id"].(string)
	c.do("PATCH", "/v1/me", alice, map[string]any{"type": "personal"}, 200)
	videoReport := "/v1/analytics/videos/" + vid
	csvExport := videoReport + "/export.csv"
	rep := c.do("GET", videoReport+"?range=7d", alice, nil, 200)
	checkReport(t, "personal video report", rep, "personal", 7, false)
	if rep["video_id"] != vid || rep["account"] != nil {
		t.Errorf("video report names video %v and account %v, want video %s only", rep["video_id"], rep["account"], vid)
	}
	rep = c.do("GET", "/v1/analytics/account?range=7d", alice, nil, 200)
	checkReport(t, "personal account report", rep, "personal", 7, true)
	if rep["account"] != "alice" || rep["video_id"] != nil {
		t.Errorf("account report names account %v and video %v, want account alice only", rep["account"], rep["video_id"])
	}
	checkReport(t, "default range", c.do("GET", videoReport, alice, nil, 200), "personal", 28, false)
	checkReport(t, "co-creator's report", c.do("GET", videoReport+"?range=7d", bob, nil, 200), "personal", 7, false)
	c.do("GET", videoReport+"?range=7d", carol, nil, 403)
	c.do("GET", videoReport+"?range=60d", alice, nil, 200)
	c.do("GET", videoReport+"?range=365d", alice, nil, 403)
	c.do("GET", "/v1/analytics/account?range=365d", alice, nil, 403)
	c.do("GET", videoReport+"?range=90d", alice, nil, 422)
	c.do("GET", videoReport+"?from=2026-01-01", alice, nil, 422)
	c.do("GET", videoReport+"?range=7d&from=2026-01-01&to=2026-01-02", alice, nil, 422)
	c.do("GET", "/v1/analytics/account?from=2026-01-02&to=2026-01-01", alice, nil, 422)
	c.do("GET", videoReport+"?tz=Mars/Olympus", alice, nil, 422)
	c.do("GET", videoReport+"?tz=Local", alice, nil, 422)
	c.do("GET", videoReport+"?tz=..%2Fetc", alice, nil, 422)
	checkReport(t, "a reader in Tokyo", c.do("GET", videoReport+"?range=7d&tz=Asia/Tokyo", alice, nil, 200), "personal", 7, false)
	c.do("GET", "/v1/analytics/videos/nope", alice, nil, 404)
	c.do("GET", videoReport, "", nil, 401)
	c.do("GET", "/v1/analytics/account", "", nil, 401)
	c.do("GET", "/v1/analytics/account", svc, nil, 403)
	c.do("GET", csvExport+"?range=7d", alice, nil, 403)
	c.do("GET", csvExport, "", nil, 401)
	aliceApp := c.do("POST", "/v1/apps", alice, map[string]any{"name": "Studio", "scopes": []string{"analytics:read"}}, 201)["token"].(string)
	c.do("GET", videoReport, aliceApp, nil, 403) // a personal account's app token
	bobApp := c.do("POST", "/v1/apps", bob, map[string]any{"name": "Bob's", "scopes": []string{"analytics:read"}}, 201)["token"].(string)
	c.do("GET", videoReport, bobApp, nil, 403)
	c.do("GET", "/v1/analytics/account", bobApp, nil, 403)

	c.do("PATCH", "/v1/me", alice, map[string]any{"type": "business"}, 200)
	rep = c.do("GET", videoReport+"?range=7d", alice, nil, 200)
	checkReport(t, "business video report", rep, "business", 7, false)
	if aud, _ := rep["audience"].(map[string]any); aud["available"] != false || aud["reason"] == nil {
		t.Errorf("audience of a video without viewers = %v, want withheld with a reason", aud)
	}
	checkReport(t, "business account report", c.do("GET", "/v1/analytics/account?range=7d", alice, nil, 200), "business", 7, true)
	checkReport(t, "business app token", c.do("GET", videoReport+"?range=7d", aliceApp, nil, 200), "business", 7, false)
	checkReport(t, "business app token", c.do("GET", "/v1/analytics/account", aliceApp, nil, 200), "business", 28, true)
	checkReport(t, "business year", c.do("GET", videoReport+"?range=365d", alice, nil, 200), "business", 365, false)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	custom := "?from=" + today.AddDate(0, 0, -10).Format(time.DateOnly) + "&to=" + today.AddDate(0, 0, -1).Format(time.DateOnly)
	checkReport(t, "custom range", c.do("GET", videoReport+custom, alice, nil, 200), "business", 10, false)
	c.do("GET", videoReport+"?from="+today.AddDate(0, 0, -365).Format(time.DateOnly)+"&to="+today.Format(time.DateOnly), alice, nil, 422)
	c.do("GET", videoReport+"?range=7d", bob, nil, 200)
	c.do("GET", videoReport+"?range=7d", carol, nil, 403)
	c.do("GET", csvExport+"?range=7d", bob, nil, 403) // bob is personal
	c.do("GET", csvExport+"?range=7d", carol, nil, 403)
	c.do("GET", csvExport+"?range=7d", alice, nil, 200)
	c.do("GET", csvExport+"?range=7d", aliceApp, nil, 200)
	c.do("GET", csvExport+"?range=90d", alice, nil, 422)
	c.do("GET", "/v1/analytics/videos/nope/export.csv", alice, nil, 404)
	if status, h, body := c.send("GET", csvExport+"?range=7d", alice, nil); status != 200 {
		t.Errorf("export.csv: status %d", status)
	} else {
		if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Errorf("export.csv: Content-Disposition %q, want an attachment", cd)
		}
		if rows := strings.Split(strings.TrimSpace(string(body)), "\r\n"); len(rows) != 8 || rows[0] != "date,views,viewers,likes,comments,shares,saves,released" {
			t.Errorf("export.csv of 7 days = %q, want a header and 7 rows", body)
		}
	}

	// With released numbers (seeded rollups: the test server has no event
	// log), the optional business fields appear and validate too.
	day := seedAnalytics(t, st, vid, aliceID)
	rep = c.do("GET", videoReport+"?range=7d", alice, nil, 200)
	checkReport(t, "seeded video report", rep, "business", 7, false)
	for _, k := range []string{"avg_watch_ms", "completion_rate", "traffic_sources"} {
		if rep[k] == nil {
			t.Errorf("seeded business video report lacks %s", k)
		}
	}
	if aud, _ := rep["audience"].(map[string]any); aud["available"] != true {
		t.Errorf("audience of a video with 120 viewers = %v, want available", aud)
	}
	co := c.do("GET", videoReport+"?range=7d", bob, nil, 200)
	if !reflect.DeepEqual(co["totals"].(map[string]any)["views"], rep["totals"].(map[string]any)["views"]) {
		t.Errorf("co-creator's views %v differ from the owner's %v", co["totals"], rep["totals"])
	}
	rep = c.do("GET", "/v1/analytics/account?range=7d", alice, nil, 200)
	checkReport(t, "seeded account report", rep, "business", 7, true)
	if f, _ := rep["followers"].(map[string]any); f["net"] != 2.0 {
		t.Errorf("followers = %v, want net 2", rep["followers"])
	}
	if rising, _ := rep["rising_videos"].([]any); len(rising) != 1 && day == time.Now().UTC().Unix()/86400 {
		t.Errorf("rising_videos = %v, want the seeded video", rep["rising_videos"])
	}
	c.do("GET", csvExport, alice, nil, 200)

	// Leaving.
	c.do("DELETE", "/v1/sessions/current", carol, nil, 204)
	c.do("GET", "/v1/me", carol, nil, 401)
	c.do("DELETE", "/v1/me", alice, nil, 204)
	c.do("GET", "/v1/accounts/alice", "", nil, 404)
	c.do("GET", "/v1/videos/"+vid, "", nil, 404)

	// Unknown routes and methods answer in the error shape too.
	for _, r := range [][2]string{{"GET", "/v1/nope"}, {"PATCH", "/v1/videos"}} {
		status, _, body := c.send(r[0], r[1], "", nil)
		if status != 404 && status != 405 {
			t.Errorf("%s %s: status %d, want 404 or 405", r[0], r[1], status)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s %s: %v", r[0], r[1], err)
		} else if errs := doc.validate(map[string]any{"$ref": "#/components/schemas/Error"}, v, "$"); len(errs) > 0 {
			t.Errorf("%s %s: %v", r[0], r[1], errs)
		}
	}

	// Login attempts are limited (last: it spends the client's budget).
	limited := false
	for range 20 {
		status, _ := c.call("POST", "/v1/sessions", "", map[string]any{"handle": "bob", "password": "wrong-password"})
		if status == http.StatusTooManyRequests {
			limited = true
			break
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("failed login: status %d", status)
		}
	}
	if !limited {
		t.Error("20 failed logins were never rate limited")
	}

	for key := range doc.ops {
		if !c.seen[key] {
			t.Errorf("%s is never exercised by this test", key)
		}
	}
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fmtSince returns the since of the first co-creator of a list.
func fmtSince(list map[string]any) string {
	cs, _ := list["cocreators"].([]any)
	if len(cs) == 0 {
		return ""
	}
	s, _ := cs[0].(map[string]any)["since"].(string)
	return s
}

// checkBulk checks what the schema cannot of a bulk answer: how many lines
// were applied (the count field) and were duplicates (events only), and the
// rejected lines as "line:code", in order.
func checkBulk(t *testing.T, name string, res map[string]any, count string, n, duplicates int, rejected []string) {
	t.Helper()
	if res == nil {
		return // the status was wrong; already reported
	}
	got := []string{}
	list, _ := res["rejected"].([]any)
	for _, r := range list {
		r := r.(map[string]any)
		got = append(got, fmt.Sprintf("%v:%v", r["line"], r["code"]))
	}
	if rejected == nil {
		rejected = []string{}
	}
	if res[count] != float64(n) || !slices.Equal(got, rejected) {
		t.Errorf("%s: %s %v, rejected %v; want %d and %v", name, count, res[count], got, n, rejected)
	}
	if d, ok := res["duplicates"]; ok && d != float64(duplicates) {
		t.Errorf("%s: duplicates %v, want %d", name, d, duplicates)
	}
}

// checkReport checks what the schema cannot: that an analytics report has
// the fields of its detail, one daily entry per day of its range and the
// 48 hours of the hourly series.
func checkReport(t *testing.T, name string, rep map[string]any, detail string, days int, account bool) {
	t.Helper()
	if rep == nil {
		return // the status was wrong; already reported
	}
	if rep["detail"] != detail {
		t.Errorf("%s: detail %v, want %s", name, rep["detail"], detail)
	}
	rng, _ := rep["range"].(map[string]any)
	daily, _ := rep["daily"].([]any)
	if rng["days"] != float64(days) || len(daily) != days {
		t.Errorf("%s: range %v with %d daily entries, want %d days", name, rng, len(daily), days)
	} else if daily[0].(map[string]any)["date"] != rng["from"] || daily[days-1].(map[string]any)["date"] != rng["to"] {
		t.Errorf("%s: daily runs %v..%v, want the range %v", name, daily[0], daily[days-1], rng)
	}
	if hourly, _ := rep["hourly"].([]any); len(hourly) != 48 {
		t.Errorf("%s: %d hourly entries, want 48", name, len(hourly))
	}
	business := detail == "business"
	totals, _ := rep["totals"].(map[string]any)
	has := map[string]bool{
		"viewers":            rep["viewers"] != nil,
		"viewer_days":        rep["viewer_days"] != nil,
		"audience":           rep["audience"] != nil,
		"totals.viewers":     totals["viewers"] != nil,
		"totals.viewer_days": totals["viewer_days"] != nil,
		"totals.watch_ms":    totals["watch_ms"] != nil,
		"followers":          rep["followers"] != nil,
	}
	for _, d := range daily {
		has["daily[].viewers"] = has["daily[].viewers"] || d.(map[string]any)["viewers"] != nil
		has["daily[].viewer_days"] = has["daily[].viewer_days"] || d.(map[string]any)["viewer_days"] != nil
	}
	// Distinct viewers (exact mode, as here) are a video's; an account's
	// report has viewer-days only.
	videoOnly := map[string]bool{"viewers": true, "totals.viewers": true, "daily[].viewers": true}
	for field, present := range has {
		want := business && (field != "followers" || account) && (!videoOnly[field] || !account) && (field != "daily[].viewer_days" || account)
		if present != want {
			t.Errorf("%s: %s present=%v, want %v", name, field, present, want)
		}
	}
	if !business {
		for _, k := range []string{"avg_watch_ms", "completion_rate", "traffic_sources", "rising_videos"} {
			if _, ok := rep[k]; ok {
				t.Errorf("%s: a personal report has %s", name, k)
			}
		}
	}
	if !account {
		if _, ok := rep["rising_videos"]; ok {
			t.Errorf("%s: a video report has rising_videos", name)
		}
	}
}

// seedAnalytics writes released rollups for video and its creator account
// directly, as aggregation would, and returns the day (days since the
// epoch) it seeded as today: views today and three days ago, breakdowns
// over 120 viewers, and follower growth.
func seedAnalytics(t *testing.T, st *store.Store, video, account string) int64 {
	t.Helper()
	day := time.Now().UTC().Unix() / 86400
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(t.Context(), st.Rebind(q), args...); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	for _, d := range []struct{ day, views, viewers, watch, completions int64 }{{day, 150, 120, 450000, 60}, {day - 3, 14, 10, 30000, 4}} {
		exec(`INSERT INTO video_day (video_id, day, views, viewers, watch_ms, completions, likes) VALUES (?, ?, ?, ?, ?, ?, 1)`,
			video, d.day, d.views, d.viewers, d.watch, d.completions)
		exec(`INSERT INTO account_day (account_id, day, views, viewers, watch_ms, completions, likes, followers_gained, followers_lost) VALUES (?, ?, ?, ?, ?, ?, 1, 2, 1)`,
			account, d.day, d.views, d.viewers, d.watch, d.completions)
	}
	// Today's views in the current hour too: the trend and rising videos
	// of exact mode read the last 24 hours from hourly rows.
	hour := time.Now().UTC().Unix() / 3600
	exec(`INSERT INTO video_hour (video_id, hour, views, viewers) VALUES (?, ?, 150, 120)`, video, hour)
	exec(`INSERT INTO account_hour (account_id, hour, views, viewers) VALUES (?, ?, 150, 120)`, account, hour)
	for _, b := range []struct {
		dim, bucket    string
		views, viewers int64
	}{
		{"source", "for_you", 100, 85}, {"source", "profile", 50, 35},
		{"age", "18-24", 80, 70}, {"age", "25-34", 60, 45}, {"age", "35-44", 10, 5},
		{"gender", "female", 90, 70}, {"gender", "male", 60, 50},
		{"country", "DE", 120, 100}, {"country", "FR", 30, 20},
	} {
		dim, _ := store.AudienceDimension(b.dim)
		c := []store.AudienceCount{{Dim: dim, Bucket: b.bucket, Views: b.views, Viewers: b.viewers}}
		if err := st.AddAudience(t.Context(), store.VideoAudienceDayTable, []store.AudienceRow{{ID: video, Period: day, Counts: c}}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddAudience(t.Context(), store.AccountAudienceDayTable, []store.AudienceRow{{ID: account, Period: day, Counts: c}}); err != nil {
			t.Fatal(err)
		}
	}
	return day
}

type checkerFunc func(context.Context) error

func (f checkerFunc) Check(ctx context.Context) error { return f(ctx) }

// laggingAggregation trails the log by more than httpapi.MaxLag.
type laggingAggregation struct{}

func (laggingAggregation) Lag() uint64                 { return httpapi.MaxLag + 1 }
func (laggingAggregation) LagTime() time.Duration      { return 0 }
func (laggingAggregation) StateStats() (int, int, int) { return 0, 0, 0 }
func (laggingAggregation) StalledPartitions() int      { return 0 }
func (laggingAggregation) ForgetCreators([]string)     {}

// newAPIServer serves the real API over a fresh SQLite store.
func newAPIServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pseud, err := pseudonym.Open(filepath.Join(dir, "secrets"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// An embedded event log, for bulk ingestion to publish to. Nothing
	// aggregates it: analytics numbers come from seeded rollups.
	log, err := eventlog.Open(t.Context(), eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	layer := disclosure.New(config.Exact, st)
	accounts := directory.New(st, directory.Options{})
	events := &engage.Builder{Pseudonym: pseud, LinkViews: cfg.Disclosure == config.Exact}
	api := httpapi.New(httpapi.Deps{
		Config:    cfg,
		Store:     st,
		Counter:   layer,
		Reports:   &analytics.Builder{Layer: layer, Now: time.Now},
		Directory: accounts,
		Events:    events,
		Ingest:    &engage.Ingester{Events: events, Directory: accounts, Log: log, Recent: pipeline.NewRecent(1 << 20)},
		Ready:     []httpapi.Checker{st, log},
		Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}, // cheap: tests, not security
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, st
}

// rawBody is a request body sent exactly as given.
type rawBody struct{ contentType, data string }

// apiClient calls the API and checks every answer against the document.
type apiClient struct {
	t    *testing.T
	base string
	doc  *openAPI
	seen map[string]bool // operations exercised, "METHOD /template"
}

// do calls the API, checks the answer against the document and that its
// status is want, and returns the decoded JSON object of the answer, if any.
func (c *apiClient) do(method, path, token string, body any, want int) map[string]any {
	c.t.Helper()
	status, v := c.call(method, path, token, body)
	if status != want {
		c.t.Errorf("%s %s: status %d, want %d (body %v)", method, path, status, want, v)
	}
	return v
}

// call calls the API and checks the answer against the document.
func (c *apiClient) call(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	status, header, data := c.send(method, path, token, body)
	where := fmt.Sprintf("%s %s → %d", method, path, status)
	key, op := c.doc.operation(method, strings.SplitN(path, "?", 2)[0])
	if op == nil {
		c.t.Errorf("%s: no operation in openapi.json", where)
		return status, nil
	}
	c.seen[key] = true
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)]
	if !ok {
		c.t.Errorf("%s: status %d is not documented for %s (body %s)", where, status, key, data)
		return status, nil
	}
	resp = c.doc.deref(resp)
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	if len(content) == 0 {
		if len(data) > 0 {
			c.t.Errorf("%s: documented without a body, but has %q", where, data)
		}
		return status, nil
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	media, ok := content[mt].(map[string]any)
	if !ok {
		c.t.Errorf("%s: Content-Type %q is not documented", where, header.Get("Content-Type"))
		return status, nil
	}
	if mt != "application/json" {
		return status, nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		c.t.Errorf("%s: body is not JSON: %v", where, err)
		return status, nil
	}
	for _, e := range c.doc.validate(media["schema"], v, "$") {
		c.t.Errorf("%s: response drifted from the document: %s", where, e)
	}
	// A request the server accepted must match the documented request body;
	// for an NDJSON body, every line it did not reject.
	if schema := c.doc.requestSchema(op); status < 300 && schema != nil && body != nil {
		if raw, ok := body.(rawBody); ok && strings.HasPrefix(raw.contentType, ndjson) {
			c.checkAcceptedLines(where, schema, raw.data, v)
		} else if !ok {
			var req any
			b, _ := json.Marshal(body)
			json.Unmarshal(b, &req)
			for _, e := range c.doc.validate(schema, req, "$") {
				c.t.Errorf("%s: accepted request body the document refuses: %s", where, e)
			}
		}
	}
	m, _ := v.(map[string]any)
	return status, m
}

// checkAcceptedLines checks that every non-blank line of an NDJSON body
// that the answer does not list as rejected matches the line schema.
func (c *apiClient) checkAcceptedLines(where string, schema any, body string, answer any) {
	c.t.Helper()
	rejected := map[int]bool{}
	m, _ := answer.(map[string]any)
	list, _ := m["rejected"].([]any)
	for _, r := range list {
		if n, ok := r.(map[string]any)["line"].(float64); ok {
			rejected[int(n)] = true
		}
	}
	for i, line := range strings.Split(body, "\n") {
		if rejected[i+1] || strings.TrimSpace(line) == "" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			c.t.Errorf("%s: accepted line %d is not JSON: %v", where, i+1, err)
			continue
		}
		for _, e := range c.doc.validate(schema, v, "$") {
			c.t.Errorf("%s: accepted line %d the document refuses: %s", where, i+1, e)
		}
	}
}

// send makes one request and returns the answer.
func (c *apiClient) send(method, path, token string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, ct = strings.NewReader(b.data), b.contentType
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, res.Header, data
}

// openAPI is the parsed document.
type openAPI struct {
	doc map[string]any
	ops map[string]map[string]any // "METHOD /template" → operation
}

func loadOpenAPI(t testing.TB) *openAPI {
	t.Helper()
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	d := &openAPI{ops: map[string]map[string]any{}}
	if err := json.Unmarshal(b, &d.doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	paths, _ := d.doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			d.ops[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	return d
}

// operation finds the operation serving method and path. Like the ServeMux,
// it prefers literal segments to {parameters}: /v1/messages/sent is not
// /v1/messages/{id}.
func (d *openAPI) operation(method, path string) (string, map[string]any) {
	segs := strings.Split(path, "/")
	best, bestScore := "", -1
	for key := range d.ops {
		m, tmpl, _ := strings.Cut(key, " ")
		ts := strings.Split(tmpl, "/")
		if m != method || len(ts) != len(segs) {
			continue
		}
		score := 0
		for i := range ts {
			if strings.HasPrefix(ts[i], "{") && segs[i] != "" {
				continue
			}
			if ts[i] != segs[i] {
				score = -1
				break
			}
			score++
		}
		if score > bestScore {
			best, bestScore = key, score
		}
	}
	if best == "" {
		return "", nil
	}
	return best, d.ops[best]
}

// requestSchema returns the request body schema of op: the schema of a JSON
// body, or of one line of an NDJSON body; nil if op takes neither.
func (d *openAPI) requestSchema(op map[string]any) any {
	rb, _ := d.deref(op["requestBody"]).(map[string]any)
	content, _ := rb["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		media, _ = content[ndjson].(map[string]any)
	}
	return media["schema"]
}

// ndjson is the media type of bulk request bodies: one JSON object a line.
const ndjson = "application/x-ndjson"

// resolve follows a local reference such as #/components/schemas/Video.
func (d *openAPI) resolve(ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = d.doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

// deref follows v's $ref, if it has one.
func (d *openAPI) deref(v any) any {
	for range 8 {
		m, ok := v.(map[string]any)
		r, isRef := m["$ref"].(string)
		if !ok || !isRef {
			return v
		}
		if v, _ = d.resolve(r); v == nil {
			return nil
		}
	}
	return v
}

// validate checks v, decoded by encoding/json, against schema, and returns
// one message per violation. It knows the JSON Schema subset the document
// uses: $ref, allOf, if/then/else, boolean schemas, type (one or a list),
// enum, format date-time and date, pattern, minLength, maxLength, minimum,
// maximum, items, minItems, maxItems, required, properties and
// additionalProperties.
func (d *openAPI) validate(schema, v any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	s, ok := schema.(map[string]any)
	if !ok {
		if schema == false {
			fail("not allowed here")
		} else if schema != true {
			fail("schema is neither an object nor a boolean: %v", schema)
		}
		return errs
	}
	if r, ok := s["$ref"].(string); ok {
		target, err := d.resolve(r)
		if err != nil {
			fail("%v", err)
		} else {
			errs = append(errs, d.validate(target, v, at)...)
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			errs = append(errs, d.validate(sub, v, at)...)
		}
	}
	if cond, ok := s["if"]; ok {
		branch := "else"
		if len(d.validate(cond, v, at)) == 0 {
			branch = "then"
		}
		if sub, ok := s[branch]; ok {
			errs = append(errs, d.validate(sub, v, at)...)
		}
	}
	if typ, ok := s["type"]; ok {
		var types []any
		if list, ok := typ.([]any); ok {
			types = list
		} else {
			types = []any{typ}
		}
		if !slices.ContainsFunc(types, func(t any) bool { return isType(v, t.(string)) }) {
			fail("%s is not of type %v", short(v), typ)
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		fail("%s is not one of %v", short(v), enum)
	}
	num := func(key string) (float64, bool) { f, ok := s[key].(float64); return f, ok }
	switch v := v.(type) {
	case string:
		n := float64(utf8.RuneCountInString(v))
		if m, ok := num("minLength"); ok && n < m {
			fail("%s is shorter than %v", short(v), m)
		}
		if m, ok := num("maxLength"); ok && n > m {
			fail("%s is longer than %v", short(v), m)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			fail("%s does not match %s", short(v), p)
		}
		if layout, ok := timeFormats[s["format"]]; ok {
			if _, err := time.Parse(layout, v); err != nil {
				fail("%s is not a %v", short(v), s["format"])
			}
		}
	case float64:
		if m, ok := num("minimum"); ok && v < m {
			fail("%v is less than %v", v, m)
		}
		if m, ok := num("maximum"); ok && v > m {
			fail("%v is more than %v", v, m)
		}
	case []any:
		if m, ok := num("minItems"); ok && float64(len(v)) < m {
			fail("has fewer than %v items", m)
		}
		if m, ok := num("maxItems"); ok && float64(len(v)) > m {
			fail("has more than %v items", m)
		}
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, d.validate(items, e, at+"["+strconv.Itoa(i)+"]")...)
			}
		}
	case map[string]any:
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := v[r.(string)]; !ok {
				fail("required property %q is missing", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := props[k]; ok {
				errs = append(errs, d.validate(p, v[k], at+"."+k)...)
			} else if extra, ok := s["additionalProperties"]; extra == false {
				fail("property %q is not in the document", k)
			} else if ok {
				errs = append(errs, d.validate(extra, v[k], at+"."+k)...)
			}
		}
	}
	return errs
}

// timeFormats are the layouts of the formats the validator checks.
var timeFormats = map[any]string{"date-time": time.RFC3339Nano, "date": time.DateOnly}

// isType reports whether v, decoded by encoding/json, is of JSON Schema type t.
func isType(v any, t string) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case float64:
		return t == "number" || (t == "integer" && v == math.Trunc(v))
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	}
	return false
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
