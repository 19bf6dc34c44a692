package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestSync upserts the platform's accounts and videos in bulk with its own
// ids: valid lines apply, invalid ones are reported by line, and the synced
// world is usable right away.
func TestSync(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	body := strings.Join([]string{
		`{"id":"u1","handle":"Alpha","birth_date":"1990-01-01","gender":"female","country":"de","type":"business","password":"alpha-password"}`,
		`{"id":"u2","handle":"beta"}`,
		``,
		`{"id":"u3","handle":"alpha"}`,
		`{"id":"u4","handle":"x y"}`,
		`{"id":"u5","handle":"gamma","gender":"robot"}`,
		`not json`,
		`{"id":"u 6","handle":"delta"}`,
		`{"id":"u7","handle":"epsilon","extra":1}`,
	}, "\n")
	var res client.SyncResult
	if err := svc.DoRaw(ctx, "POST", "/v1/sync/accounts", "application/x-ndjson", strings.NewReader(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Upserted != 2 {
		t.Fatalf("upserted %d: %+v", res.Upserted, res)
	}
	var lines []string
	for _, r := range res.Rejected {
		lines = append(lines, fmt.Sprintf("%d:%s", r.Line, r.Code))
	}
	if got := strings.Join(lines, " "); got != "4:conflict 5:invalid 6:invalid 7:malformed_request 8:invalid 9:malformed_request" {
		t.Fatalf("rejections %q", got)
	}
	// Updating by id keeps the password; the synced password logs in.
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "u1", Handle: "alpha", DisplayName: "Alpha Renamed", Type: "business", Country: "DE"}}); err != nil {
		t.Fatal(err)
	}
	s, err := p.Client().Login(ctx, "alpha", "alpha-password")
	if err != nil || s.Account.DisplayName != "Alpha Renamed" || s.Account.ID != "u1" {
		t.Fatalf("login synced account: %+v, %v", s, err)
	}
	if _, err := p.Client().Login(ctx, "beta", "anything-at-all"); client.StatusOf(err) != 401 {
		t.Fatalf("synced account without password logged in: %v", err)
	}

	vres, err := svc.SyncVideos(ctx, []client.SyncVideo{
		{ID: "v1", Owner: "u1", Collaborators: []string{"u2"}, Title: "first", CreatedAt: "2026-01-02T03:04:05Z"},
		{ID: "v2", Owner: "nobody", Title: "orphan"},
		{ID: "v3", Owner: "u2", Title: "second"},
	})
	if err != nil || vres.Upserted != 2 || len(vres.Rejected) != 1 || vres.Rejected[0].Line != 2 || vres.Rejected[0].Code != "not_found" {
		t.Fatalf("sync videos: %+v, %v", vres, err)
	}
	// beta is invited, not yet a creator.
	v, err := p.Client().Video(ctx, "v1")
	if err != nil || strings.Join(v.Creators, ",") != "alpha" || v.CreatedAt.Year() != 2026 {
		t.Fatalf("synced video: %+v, %v", v, err)
	}
	// The synced creator reads the analytics of the synced video.
	alpha := p.Client().WithToken(s.Token)
	if err := alpha.Do(ctx, "GET", "/v1/analytics/videos/v1", nil, nil); err != nil {
		t.Fatalf("analytics of a synced video: %v", err)
	}
	// Sync needs a service token.
	if _, err := alpha.SyncAccounts(ctx, []client.SyncAccount{{ID: "x", Handle: "xxx"}}); client.StatusOf(err) != 403 {
		t.Fatalf("sync with a session: %v", err)
	}
	// A big batch goes through in one request.
	var many bytes.Buffer
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&many, `{"id":"bulk-%d","handle":"bulk%d","country":"FR","birth_date":"2001-02-03","gender":"male"}`+"\n", i, i)
	}
	var big client.SyncResult
	if err := svc.DoRaw(ctx, "POST", "/v1/sync/accounts", "application/x-ndjson", &many, &big); err != nil || big.Upserted != 20000 || len(big.Rejected) != 0 {
		t.Fatalf("bulk sync: %+v, %v", big.Upserted, err)
	}
}
