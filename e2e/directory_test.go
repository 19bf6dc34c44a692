package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestDirectory_AudienceFromSyncedDemographics: bulk events of accounts
// synced with demographics count in the audience buckets those
// demographics say, including a change synced after the first sync, and
// nothing of accounts deleted before the events (the accounts are held in
// memory by the ingestion directory, kept fresh by sync and deletion).
func TestDirectory_AudienceFromSyncedDemographics(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	now := time.Now().UTC()
	born := func(years int) string { return now.AddDate(-years, 0, -10).Format(time.DateOnly) }
	accounts := []client.SyncAccount{{ID: "owner", Handle: "owner", Type: "business", Password: "password-owner"}}
	var viewers []string
	add := func(n int, prefix, gender, country, birth, password string) {
		for i := range n {
			id := fmt.Sprintf("%s%d", prefix, i)
			accounts = append(accounts, client.SyncAccount{ID: id, Handle: "h_" + id, Gender: gender, Country: country, BirthDate: birth, Password: password})
			viewers = append(viewers, id)
		}
	}
	add(80, "f", "female", "DE", born(30), "")                 // 25-34
	add(60, "m", "male", "FR", born(20), "")                   // 18-24
	add(2, "gone", "male", "FR", born(20), "password-leaving") // deleted before the events
	if res, err := svc.SyncAccounts(ctx, accounts); err != nil || len(res.Rejected) > 0 {
		t.Fatalf("sync: %+v, %v", res, err)
	}
	// Twenty of the women move to the US: a change of an account the
	// directory already holds.
	var moved []client.SyncAccount
	for i := range 20 {
		moved = append(moved, client.SyncAccount{ID: fmt.Sprint("f", i), Handle: fmt.Sprint("h_f", i), Gender: "female", Country: "US", BirthDate: born(30)})
	}
	if _, err := svc.SyncAccounts(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "owner", Title: "watched"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		handle := fmt.Sprint("h_gone", i)
		s, err := p.Client().Login(ctx, handle, "password-leaving")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Client().WithToken(s.Token).DeleteMe(ctx); err != nil {
			t.Fatal(err)
		}
	}

	ts := now.Add(-time.Hour).Format(time.RFC3339)
	var body strings.Builder
	for _, id := range viewers {
		fmt.Fprintf(&body, `{"id":"view-%s","type":"view","video_id":"vid","account_id":"%s","ts":"%s","source":"for_you","watch_ms":5000}`+"\n", id, id, ts)
	}
	res, err := svc.IngestNDJSON(ctx, strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 140 || len(res.Rejected) != 2 || res.Rejected[0].Code != "unknown_account" || res.Rejected[1].Code != "unknown_account" {
		t.Fatalf("ingest: accepted %d, rejected %+v", res.Accepted, res.Rejected)
	}

	s, err := p.Client().Login(ctx, "owner", "password-owner")
	if err != nil {
		t.Fatal(err)
	}
	owner := p.Client().WithToken(s.Token)
	buckets := func(bs []client.AnalyticsBucket) string {
		var out []string
		for _, b := range bs {
			out = append(out, fmt.Sprintf("%s:%d", b.Key, b.Count))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	var got string
	Eventually(t, "the audience of 140 viewers", func() bool {
		rep, err := owner.VideoAnalytics(ctx, "vid", client.LastDays(7))
		if err != nil || rep.Audience == nil || !rep.Audience.Available {
			return false
		}
		a := rep.Audience
		got = buckets(a.Gender) + " | " + buckets(a.Countries) + " | " + buckets(a.Age)
		return rep.Totals.Views == 140
	})
	if want := "female:80 male:60 | DE:60 FR:60 US:20 | 18-24:60 25-34:80"; got != want {
		t.Fatalf("audience %s\nwant     %s", got, want)
	}
}

// TestScaleOut_DirectoryAcrossProcesses: two processes on one PostgreSQL.
// An account deleted through one is, within the directory's poll interval
// (a second), no longer accepted in events sent to the other, which had
// looked it up before; and an account synced through one is accepted by
// the other at once.
func TestScaleOut_DirectoryAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	flags := scaleOutFlags(t)
	data1, data2 := t.TempDir(), t.TempDir()
	p1 := Start(t, data1, flags...)
	shareSecrets(t, data1, data2)
	p2 := Start(t, data2, flags...)
	tok := ServiceToken(t, data1, flags[2:4]...) // --postgres-url
	svc1, svc2 := p1.Client().WithToken(tok), p2.Client().WithToken(tok)
	if _, err := svc1.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "mia", Handle: "mia", Type: "business"},
		{ID: "gone", Handle: "goner", Password: "password-goner", Gender: "female", Country: "DE"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc1.SyncVideos(ctx, []client.SyncVideo{{ID: "v1", Owner: "mia", Title: "one"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	n := 0
	send := func(c *client.Client, account string) *client.IngestResult {
		t.Helper()
		n++
		res, err := c.Ingest(ctx, []client.Event{{ID: fmt.Sprint("e", n), Type: "view", VideoID: "v1", AccountID: account, TS: ts, Source: "for_you"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := send(svc2, "gone"); res.Accepted != 1 {
		t.Fatalf("before the deletion: %+v", res)
	}
	s, err := p1.Client().Login(ctx, "goner", "password-goner")
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Client().WithToken(s.Token).DeleteMe(ctx); err != nil {
		t.Fatal(err)
	}
	if res := send(svc1, "gone"); res.Accepted != 0 {
		t.Fatalf("the deleting process accepted an event of the deleted account: %+v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for res := send(svc2, "gone"); res.Accepted != 0; res = send(svc2, "gone") {
		if time.Now().After(deadline) {
			t.Fatal("the other process still accepts the deleted account's events 5 s after the deletion")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 3 {
		if res := send(svc2, "gone"); res.Accepted != 0 || res.Rejected[0].Code != "unknown_account" {
			t.Fatalf("after the bound: %+v", res)
		}
	}

	if _, err := svc1.SyncAccounts(ctx, []client.SyncAccount{{ID: "new", Handle: "newcomer"}}); err != nil {
		t.Fatal(err)
	}
	if res := send(svc2, "new"); res.Accepted != 1 {
		t.Fatalf("an account synced through the other process: %+v", res)
	}
}
