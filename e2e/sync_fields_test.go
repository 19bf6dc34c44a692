package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestSyncNeverTouchesPasswordsOrOmittedFields: a sync line changes only
// the fields it gives (absent and null keep the stored value), and never
// replaces a Crowd password.
func TestSyncNeverTouchesPasswordsOrOmittedFields(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--login-per-minute", "1000")
	svc := p.Client().WithToken(tok)
	mia := MustUser(t, p.Client(), "mia", client.Registration{DisplayName: "Mia", BirthDate: "1990-01-02", Gender: "female", Country: "DE", Type: "business"})
	me, err := mia.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sync := func(lines ...string) client.SyncResult {
		t.Helper()
		var res client.SyncResult
		if err := svc.DoRaw(ctx, "POST", "/v1/sync/accounts", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")), &res); err != nil {
			t.Fatal(err)
		}
		if res.Upserted != len(lines) || len(res.Rejected) != 0 {
			t.Fatalf("sync %q: %+v", lines, res)
		}
		return res
	}
	login := func(handle, password string) error {
		_, err := p.Client().Login(ctx, handle, password)
		return err
	}

	// A line naming a registered account, with a password and nothing else.
	sync(`{"id":"` + me.ID + `","password":"platform-chosen-password"}`)
	if err := login("mia", "password-mia"); err != nil {
		t.Fatalf("the owner's password no longer works after a sync: %v", err)
	}
	if err := login("mia", "platform-chosen-password"); client.StatusOf(err) != 401 {
		t.Fatalf("a synced password replaced the owner's: %v", err)
	}
	// Absent and null fields keep their values; given ones change.
	sync(`{"id":"`+me.ID+`","display_name":"Mia M","country":null,"gender":null}`, `{"id":"`+me.ID+`","type":"personal"}`)
	got, err := mia.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Handle != "mia" || got.DisplayName != "Mia M" || got.BirthDate != "1990-01-02" || got.Gender != "female" || got.Country != "DE" || got.Type != "personal" {
		t.Fatalf("after partial syncs: %+v", got)
	}
	// "" resets a field to its default.
	sync(`{"id":"` + me.ID + `","gender":"","display_name":""}`)
	if got, _ := mia.Me(ctx); got.Gender != "undisclosed" || got.DisplayName != "mia" || got.Country != "DE" {
		t.Fatalf("after resetting gender and display name: %+v", got)
	}

	// A synced account without a password gets one from a sync, once.
	sync(`{"id":"p1","handle":"plat1","country":"FR"}`)
	sync(`{"id":"p1","password":"first-password"}`)
	if err := login("plat1", "first-password"); err != nil {
		t.Fatalf("first synced password: %v", err)
	}
	sync(`{"id":"p1","password":"second-password"}`)
	if err := login("plat1", "second-password"); client.StatusOf(err) != 401 {
		t.Fatalf("a second synced password replaced the first: %v", err)
	}
	if err := login("plat1", "first-password"); err != nil {
		t.Fatalf("first synced password after a second sync: %v", err)
	}
	// A new account needs a handle.
	var res client.SyncResult
	if err := svc.DoRaw(ctx, "POST", "/v1/sync/accounts", "application/x-ndjson", strings.NewReader(`{"id":"p2","country":"FR"}`), &res); err != nil || res.Upserted != 0 || len(res.Rejected) != 1 || res.Rejected[0].Code != "invalid" {
		t.Fatalf("new account without a handle: %+v, %v", res, err)
	}
}

// TestSyncInvalidUTF8: invalid UTF-8 anywhere in a sync body is a 400 and
// nothing of the body is applied.
func TestSyncInvalidUTF8(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir())
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "owner", Handle: "owner"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, body, check string }{
		{"/v1/sync/accounts", `{"id":"fresh","handle":"fresh"}` + "\n" + `{"id":"bad","handle":"bad","display_name":"caf` + "\xe9" + `"}`, "/v1/accounts/fresh"},
		{"/v1/sync/accounts", `{"id":"owner","display_name":"renamed"}` + "\n" + `{"id":"x","handle":"x` + "\xff" + `"}`, ""},
		{"/v1/sync/videos", `{"id":"v-fresh","owner":"owner","title":"t"}` + "\n" + `{"id":"v2","owner":"owner","title":"` + "\xc3\x28" + `"}`, "/v1/videos/v-fresh"},
	} {
		err := svc.DoRaw(ctx, "POST", tc.path, "application/x-ndjson", strings.NewReader(tc.body), nil)
		if e := apiError(t, err, 400, tc.path+" with invalid UTF-8"); e.Code != "malformed_request" || !strings.Contains(e.Message, "line 2") {
			t.Fatalf("%s: %+v", tc.path, e)
		}
		if tc.check != "" {
			if err := p.Client().Do(ctx, "GET", tc.check, nil, nil); client.StatusOf(err) != 404 {
				t.Fatalf("%s: the valid line before the bad one was applied: %v", tc.path, err)
			}
		}
	}
	if pr, err := p.Client().Profile(ctx, "owner"); err != nil || pr.DisplayName != "owner" {
		t.Fatalf("owner after a refused sync: %+v, %v", pr, err)
	}
}
