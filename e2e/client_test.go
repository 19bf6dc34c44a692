package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// openAPI is the API's OpenAPI document, read as the tests need it.
type openAPI struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

// apiOperation is one operation of the document.
type apiOperation struct {
	ID, Method, Path string
	pattern          *regexp.Regexp
	// answer is the schema of its JSON success answer, nil for none.
	answer map[string]any
}

func readOpenAPI(t *testing.T) (*openAPI, map[string]*apiOperation) {
	t.Helper()
	b, err := os.ReadFile("../internal/httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]*apiOperation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				OperationID string `json:"operationId"`
				Responses   map[string]struct {
					Content map[string]struct {
						Schema map[string]any `json:"schema"`
					} `json:"content"`
				} `json:"responses"`
			}
			if json.Unmarshal(raw, &op) != nil || op.OperationID == "" {
				continue // "parameters" and the like
			}
			o := &apiOperation{ID: op.OperationID, Method: strings.ToUpper(method), Path: path,
				pattern: regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")}
			for code, r := range op.Responses {
				if strings.HasPrefix(code, "2") {
					if c, ok := r.Content["application/json"]; ok {
						o.answer = c.Schema
					}
				}
			}
			ops[o.ID] = o
		}
	}
	if len(ops) < 40 {
		t.Fatalf("found only %d operations in openapi.json", len(ops))
	}
	return &doc, ops
}

// recorder is an http.RoundTripper that keeps every exchange.
type recorder struct {
	mu        sync.Mutex
	exchanges []exchange
}

type exchange struct {
	method, path string
	status       int
	body         []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.exchanges = append(r.exchanges, exchange{req.Method, req.URL.Path, resp.StatusCode, body})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) since(n int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exchanges[n:])
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exchanges)
}

// stateAnswers are the operations whose answer only restates the state
// the caller asked for (FollowState, LikeState, SaveState): their client
// methods return only the error.
var stateAnswers = map[string]bool{"follow": true, "unfollow": true, "like": true, "unlike": true, "save": true, "unsave": true}

// requestTypes are the client's types for the document's request schemas
// that have one (the others are method parameters).
var requestTypes = map[string]any{
	"RegisterRequest":    client.Registration{},
	"PatchMeRequest":     client.AccountPatch{},
	"CreateVideoRequest": client.NewVideo{},
	"ViewRequest":        client.View{},
	"EventLine":          client.Event{},
	"SyncAccountLine":    client.SyncAccount{},
	"SyncVideoLine":      client.SyncVideo{},
}

// TestClient_CoversOpenAPI calls every operation of openapi.json through
// its Go client method against a real server: an operation without a
// method fails the test, so does a method that calls another route, a
// success answer with a field the method's type does not have, and a
// schema property the type lacks.
func TestClient_CoversOpenAPI(t *testing.T) {
	ctx := context.Background()
	doc, ops := readOpenAPI(t)
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact", "--login-per-minute", "1000")
	rec := &recorder{}
	anon := client.New(p.URL)
	anon.HTTP = &http.Client{Transport: rec, Timeout: 30 * time.Second}
	svc := anon.WithToken(tok)

	login := func(handle string) *client.Client {
		s, err := anon.Login(ctx, handle, "password-"+handle)
		if err != nil {
			t.Fatalf("login %s: %v", handle, err)
		}
		return anon.WithToken(s.Token)
	}
	var (
		mia, leo, ana *client.Client
		v, v2         *client.Video
		cm            *client.Comment
		msg           *client.Message
		app           *client.App
		st            *client.ServiceToken
	)
	for _, h := range []string{"leo", "ana"} {
		if _, err := anon.Register(ctx, client.Registration{Handle: h, Password: "password-" + h, BirthDate: "1999-01-01", Gender: "male", Country: "FR"}); err != nil {
			t.Fatal(err)
		}
	}
	leo, ana = login("leo"), login("ana")

	// The calls, in an order that works: each names its operation and
	// returns the method's result.
	calls := []struct {
		op   string
		call func() (any, error)
	}{
		{"healthz", func() (any, error) { return anon.Health(ctx) }},
		{"readyz", func() (any, error) { return anon.Ready(ctx) }},
		{"openapi", func() (any, error) {
			d, err := anon.OpenAPI(ctx)
			if err == nil && !bytes.Contains(d, []byte(`"paths"`)) {
				t.Errorf("OpenAPI: %.100s", d)
			}
			return nil, err
		}},
		{"register", func() (any, error) {
			return anon.Register(ctx, client.Registration{Handle: "mia", Password: "password-mia", Type: "business", BirthDate: "1990-01-01", Gender: "female", Country: "DE"})
		}},
		{"login", func() (any, error) {
			s, err := anon.Login(ctx, "mia", "password-mia")
			if err == nil {
				mia = anon.WithToken(s.Token)
			}
			return s, err
		}},
		{"getMe", func() (any, error) { return mia.Me(ctx) }},
		{"patchMe", func() (any, error) {
			name, on := "Mia's Bakery", true
			a, err := mia.UpdateMe(ctx, client.AccountPatch{DisplayName: &name, ReadReceipts: &on})
			if err == nil && (a.DisplayName != name || !a.ReadReceipts) {
				t.Errorf("UpdateMe: %+v", a)
			}
			return a, err
		}},
		{"getProfile", func() (any, error) { return anon.Profile(ctx, "mia") }},
		{"follow", func() (any, error) { return nil, ana.Follow(ctx, "mia") }},
		{"unfollow", func() (any, error) { return nil, leo.Unfollow(ctx, "mia") }},
		{"createVideo", func() (any, error) {
			var err error
			if v2, err = mia.CreateVideo(ctx, client.NewVideo{Title: "first"}); err != nil {
				return nil, err
			}
			v, err = mia.CreateVideo(ctx, client.NewVideo{Title: "croissants", Hashtags: []string{"baking"}, Collaborators: []string{"leo"}})
			return v, err
		}},
		{"invitations", func() (any, error) {
			l, err := leo.Invitations(ctx)
			if err == nil && (len(l) != 1 || l[0].Video.ID != v.ID) {
				t.Errorf("Invitations: %s", fmtAny(l))
			}
			return l, err
		}},
		{"acceptCoCreation", func() (any, error) { return leo.AcceptCoCreation(ctx, v.ID) }},
		{"videoCoCreators", func() (any, error) { return mia.CoCreators(ctx, v.ID) }},
		{"inviteCoCreator", func() (any, error) { return mia.InviteCoCreator(ctx, v2.ID, "ana") }},
		{"removeCoCreator", func() (any, error) { return nil, mia.RemoveCoCreator(ctx, v2.ID, "ana") }},
		{"leaveCoCreation", func() (any, error) {
			if _, err := mia.InviteCoCreator(ctx, v2.ID, "leo"); err != nil {
				return nil, err
			}
			return nil, leo.LeaveCoCreation(ctx, v2.ID)
		}},
		{"feed", func() (any, error) {
			l, err := anon.Feed(ctx, "", client.Limit(1))
			if err != nil {
				return nil, err
			}
			if len(l.Videos) != 1 || l.Videos[0].ID != v.ID || l.Next == "" {
				t.Errorf("Feed with Limit(1): %s", fmtAny(l))
			}
			next, err := anon.Feed(ctx, l.Next, client.Limit(1))
			if err == nil && (len(next.Videos) != 1 || next.Videos[0].ID != v2.ID) {
				t.Errorf("Feed's second page: %s", fmtAny(next))
			}
			return l, err
		}},
		{"getVideo", func() (any, error) { return anon.Video(ctx, v.ID) }},
		{"accountVideos", func() (any, error) {
			l, err := anon.AccountVideos(ctx, "mia", "", client.Limit(1))
			if err == nil && len(l.Videos) != 1 {
				t.Errorf("AccountVideos with Limit(1): %s", fmtAny(l))
			}
			return l, err
		}},
		{"view", func() (any, error) {
			for _, c := range []*client.Client{leo, ana, anon} {
				if err := c.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 2000, Completed: true}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}},
		{"like", func() (any, error) { return nil, ana.Like(ctx, v.ID) }},
		{"unlike", func() (any, error) { return nil, leo.Unlike(ctx, v.ID) }},
		{"comment", func() (any, error) {
			var err error
			cm, err = ana.Comment(ctx, v.ID, "looks delicious")
			return cm, err
		}},
		{"comments", func() (any, error) { return anon.Comments(ctx, v.ID, "", client.Limit(10)) }},
		{"deleteComment", func() (any, error) {
			c2, err := ana.Comment(ctx, v.ID, "typo")
			if err != nil {
				return nil, err
			}
			return nil, ana.DeleteComment(ctx, c2.ID)
		}},
		{"save", func() (any, error) { return nil, ana.Save(ctx, v.ID) }},
		{"saved", func() (any, error) {
			l, err := ana.Saved(ctx, client.Limit(5))
			if err == nil && (len(l.Videos) != 1 || l.Videos[0].ID != v.ID) {
				t.Errorf("Saved: %s", fmtAny(l))
			}
			return l, err
		}},
		{"unsave", func() (any, error) { return nil, leo.Unsave(ctx, v.ID) }},
		{"share", func() (any, error) {
			s, err := ana.Share(ctx, v.ID, "sms")
			if err == nil && !strings.HasSuffix(s.URL, "/s/"+v.ID) {
				t.Errorf("Share: %+v", s)
			}
			return s, err
		}},
		{"openShare", func() (any, error) {
			sv, err := anon.OpenShare(ctx, v.ID)
			if err == nil && sv.ID != v.ID {
				t.Errorf("OpenShare: %+v", sv)
			}
			return sv, err
		}},
		{"sendMessage", func() (any, error) {
			var err error
			msg, err = ana.Send(ctx, "mia", v.ID, "you have to try these")
			return msg, err
		}},
		{"inbox", func() (any, error) { return mia.Inbox(ctx, client.Limit(5)) }},
		{"sentMessages", func() (any, error) { return ana.SentMessages(ctx, client.Limit(5)) }},
		{"getMessage", func() (any, error) {
			m, err := mia.Message(ctx, msg.ID)
			if err == nil && (m.Text != msg.Text || m.From != "ana") {
				t.Errorf("Message: %+v", m)
			}
			return m, err
		}},
		{"openMessage", func() (any, error) { return mia.OpenMessage(ctx, msg.ID) }},
		{"activity", func() (any, error) { return mia.Activity(ctx, client.Limit(10)) }},
		{"notifications", func() (any, error) { return leo.Notifications(ctx) }},
		{"readNotifications", func() (any, error) {
			if err := leo.ReadNotifications(ctx); err != nil {
				return nil, err
			}
			n, err := leo.Notifications(ctx)
			if err == nil && n.Unread != 0 {
				t.Errorf("unread after ReadNotifications: %d", n.Unread)
			}
			return nil, err
		}},
		{"getPrivacyPolicy", func() (any, error) { return anon.PrivacyPolicy(ctx) }},
		{"publishPrivacyPolicy", func() (any, error) { return svc.PublishPrivacyPolicy(ctx, "We count, we never name.") }},
		{"videoAnalytics", func() (any, error) {
			var rep *client.AnalyticsReport
			var err error
			Eventually(t, "the views reach the report", func() bool {
				rep, err = mia.VideoAnalytics(ctx, v.ID, client.LastDays(7))
				return err == nil && rep.Totals.Views == 5
			})
			// Five views: leo's, ana's and an anonymous one, the opened
			// share link and the opened message; three viewers (leo, ana
			// and mia, who opened the message; the anonymous ones have no
			// account), each on one day.
			if rep.Detail != "business" || rep.Viewers == nil || *rep.Viewers != 3 || rep.ViewerDays == nil || *rep.ViewerDays != 3 ||
				rep.Totals.Viewers == nil || *rep.Totals.Viewers != 3 || len(rep.Daily) != 7 || rep.Daily[6].Viewers == nil || *rep.Daily[6].Viewers != 3 {
				t.Errorf("VideoAnalytics: %s", fmtAny(rep))
			}
			return rep, err
		}},
		{"exportVideoAnalytics", func() (any, error) {
			x, err := mia.ExportVideoAnalytics(ctx, v.ID, client.LastDays(7))
			if err != nil {
				return nil, err
			}
			defer x.Close()
			rows, err := client.ParseAnalyticsCSV(x)
			if err != nil {
				return nil, err
			}
			last := rows[len(rows)-1]
			if len(rows) != 7 || last.Views != 5 || last.Viewers == nil || *last.Viewers != 3 || x.Disclosure != "exact" || !strings.HasPrefix(x.Filename, "crowd-"+v.ID+"-") {
				t.Errorf("ExportVideoAnalytics: %s, %q, %q", fmtAny(rows), x.Filename, x.Disclosure)
			}
			return nil, nil
		}},
		{"accountAnalytics", func() (any, error) {
			today := time.Now().UTC()
			var rep *client.AnalyticsReport
			var err error
			Eventually(t, "the follow reaches the account report", func() bool {
				rep, err = mia.AccountAnalytics(ctx, client.Days(today.AddDate(0, 0, -2), today))
				return err == nil && rep.Followers != nil && rep.Followers.Gained == 1
			})
			if err != nil {
				return nil, err
			}
			if rep.Account != "mia" || rep.Range.Days != 3 || rep.Totals.Views != 5 || rep.ViewerDays == nil || *rep.ViewerDays != 3 ||
				rep.Daily[2].ViewerDays == nil || *rep.Daily[2].ViewerDays != 3 || rep.Viewers != nil || rep.Followers == nil || rep.Followers.Gained != 1 {
				t.Errorf("AccountAnalytics: %s", fmtAny(rep))
			}
			return rep, err
		}},
		{"ingestEvents", func() (any, error) {
			return svc.Ingest(ctx, []client.Event{{ID: "e2e-1", Type: "view", VideoID: v.ID, TS: time.Now().UTC().Format(time.RFC3339), Source: "search", WatchMS: 100}})
		}},
		{"syncAccounts", func() (any, error) {
			return svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "plat-1", Handle: "zoe"}})
		}},
		{"syncVideos", func() (any, error) {
			return svc.SyncVideos(ctx, []client.SyncVideo{{ID: "plat-v1", Owner: "plat-1", Title: "synced"}})
		}},
		{"createApp", func() (any, error) {
			var err error
			app, err = mia.CreateApp(ctx, "dashboard", "analytics:read")
			return app, err
		}},
		{"apps", func() (any, error) { return mia.Apps(ctx) }},
		{"deleteApp", func() (any, error) { return nil, mia.RevokeApp(ctx, app.ID) }},
		{"createServiceToken", func() (any, error) {
			var err error
			st, err = svc.CreateServiceToken(ctx, "backfill")
			return st, err
		}},
		{"serviceTokens", func() (any, error) { return svc.ServiceTokens(ctx) }},
		{"revokeServiceToken", func() (any, error) { return nil, svc.RevokeServiceToken(ctx, st.ID) }},
		{"logout", func() (any, error) { return nil, leo.Logout(ctx) }},
		{"deleteMe", func() (any, error) { return nil, ana.DeleteMe(ctx) }},
	}

	covered := map[string]bool{}
	for _, c := range calls {
		if ops[c.op] == nil {
			t.Errorf("the test calls %q, which openapi.json does not have", c.op)
		}
		covered[c.op] = true
	}
	for id, op := range ops {
		if !covered[id] {
			t.Errorf("operation %s (%s %s) has no client method in this test: add the method to client/ and a call here", id, op.Method, op.Path)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	for _, c := range calls {
		op := ops[c.op]
		n := rec.len()
		res, err := c.call()
		if err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		var hit *exchange
		for _, x := range rec.since(n) {
			if x.method == op.Method && op.pattern.MatchString(x.path) {
				hit = &x
			}
		}
		if hit == nil {
			t.Errorf("%s: the client never called %s %s", c.op, op.Method, op.Path)
			continue
		}
		if stateAnswers[c.op] || op.answer == nil || res == nil {
			continue
		}
		// Every field of the real answer is a field of the method's type.
		rt := reflect.TypeOf(res)
		if rt.Kind() == reflect.Pointer && rt.Elem().Kind() == reflect.Struct {
			dec := json.NewDecoder(bytes.NewReader(hit.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(reflect.New(rt.Elem()).Interface()); err != nil {
				t.Errorf("%s: the answer has what %s lacks: %v\n%.300s", c.op, rt.Elem(), err, hit.body)
			}
		}
		checkSchema(t, doc, c.op, rt, op.answer)
	}
	for name, v := range requestTypes {
		checkSchema(t, doc, name, reflect.TypeOf(v), map[string]any{"$ref": "#/components/schemas/" + name})
	}
}

// checkSchema checks that every property of schema (and of the schemas it
// refers to) is a JSON field of t.
func checkSchema(t *testing.T, doc *openAPI, where string, typ reflect.Type, schema map[string]any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if ref, ok := schema["$ref"].(string); ok {
		schema = doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
	}
	props, _ := schema["properties"].(map[string]any)
	if typ == reflect.TypeFor[time.Time]() || typ == reflect.TypeFor[json.RawMessage]() || props == nil && schema["items"] == nil {
		return
	}
	if typ.Kind() == reflect.Slice {
		if items, ok := schema["items"].(map[string]any); ok {
			checkSchema(t, doc, where+"[]", typ.Elem(), items)
			return
		}
		// A list answer ({"apps": [...]}) the method returns as its slice.
		if len(props) == 1 {
			for name, p := range props {
				checkSchema(t, doc, where+"."+name, typ, p.(map[string]any))
			}
			return
		}
	}
	if typ.Kind() != reflect.Struct {
		t.Errorf("%s: %s for an object schema", where, typ)
		return
	}
	fields := map[string]reflect.Type{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	for name, p := range props {
		ft, ok := fields[name]
		if !ok {
			t.Errorf("%s: %s has no field for the schema's property %q", where, typ, name)
			continue
		}
		checkSchema(t, doc, where+"."+name, ft, p.(map[string]any))
	}
}

// TestClient_Errors: every failure of the client is a *client.Error that
// errors.As finds, with the status, code and Retry-After of an error
// answer, or the cause (for errors.Is) of a failure without one.
func TestClient_Errors(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact", "--anon-views-per-minute", "1")
	anon := p.Client()
	leo := MustUser(t, anon, "leo")
	v, err := leo.CreateVideo(ctx, client.NewVideo{Title: "mine"})
	if err != nil {
		t.Fatal(err)
	}

	var e *client.Error
	_, err = anon.Video(ctx, "no-such-video")
	if !errors.As(err, &e) || e.Status != 404 || e.Code != "not_found" || e.Message == "" || client.CodeOf(err) != "not_found" {
		t.Errorf("missing video: %#v", err)
	}
	// The CSV export's errors are JSON, and the client's *Error: a
	// personal account may not export.
	if _, err := leo.ExportVideoAnalytics(ctx, v.ID, client.Range{}); !errors.As(err, &e) || e.Status != 403 || e.Code != "forbidden" {
		t.Errorf("personal export: %#v", err)
	}
	if _, err := leo.VideoAnalytics(ctx, v.ID, client.Range{Last: "3d"}); client.StatusOf(err) != 422 || client.CodeOf(err) != "invalid" {
		t.Errorf("bad range: %v", err)
	}
	// The anonymous view limit: 429 with Retry-After.
	anon.RecordView(ctx, v.ID, client.View{Source: "for_you"})
	err = anon.RecordView(ctx, v.ID, client.View{Source: "for_you"})
	if !errors.As(err, &e) || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter <= 0 {
		t.Errorf("over the anonymous view limit: %#v", err)
	}
	// A canceled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := leo.Me(cctx); !errors.As(err, &e) || e.Status != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %#v", err)
	}
	// Nothing listening.
	p.Stop(t)
	if _, err := anon.Health(ctx); !errors.As(err, &e) || e.Status != 0 || e.Err == nil || client.StatusOf(err) != 0 {
		t.Errorf("stopped server: %#v", err)
	}
}
