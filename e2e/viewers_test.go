package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// daysAgo returns noon (UTC) k days ago.
func daysAgo(k int) time.Time {
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -k).Add(12 * time.Hour)
}

func dateAgo(k int) string { return daysAgo(k).Format(time.DateOnly) }

func viewAt(id, video, account string, k int) client.Event {
	return client.Event{ID: id, Type: "view", VideoID: video, AccountID: account, TS: daysAgo(k).Format(time.RFC3339), Source: "for_you", WatchMS: 1000}
}

// viewerCounts reads a video's viewers and viewer_days over from..to (days
// ago), from the totals; viewers is -1 when absent.
func viewerCounts(t *testing.T, c *client.Client, video string, from, to int) (viewers, viewerDays, views int64) {
	t.Helper()
	var rep report
	if err := c.Do(context.Background(), "GET", fmt.Sprintf("/v1/analytics/videos/%s?from=%s&to=%s", video, dateAgo(from), dateAgo(to)), nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.ViewerDays == nil || rep.ViewerDays == nil || *rep.ViewerDays != *rep.Totals.ViewerDays {
		t.Fatalf("viewer_days missing or inconsistent: %+v / %v", rep.Totals, rep.ViewerDays)
	}
	viewers = -1
	if rep.Totals.Viewers != nil {
		if rep.Viewers == nil || *rep.Viewers != *rep.Totals.Viewers {
			t.Fatalf("viewers %v and totals.viewers %v disagree", rep.Viewers, *rep.Totals.Viewers)
		}
		viewers = *rep.Totals.Viewers
	}
	return viewers, *rep.Totals.ViewerDays, rep.Totals.Views
}

// TestViewersExact: in exact mode viewers are distinct accounts over the
// range, viewer_days one per account and day; late and out-of-order views,
// a restart, and a second view of a day older than 72 h change nothing they
// should not.
func TestViewersExact(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data, "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	accts := []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}
	for _, u := range []string{"u1", "u2", "u3"} {
		accts = append(accts, client.SyncAccount{ID: u, Handle: "user_" + u})
	}
	if _, err := svc.SyncAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	created := daysAgo(20).Format(time.RFC3339)
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "solo", Owner: "mia", Title: "solo", CreatedAt: created}, {ID: "multi", Owner: "mia", Title: "multi", CreatedAt: created}}); err != nil {
		t.Fatal(err)
	}
	ingest := func(evs ...client.Event) {
		t.Helper()
		res, err := svc.IngestNDJSON(ctx, strings.NewReader(string(client.NDJSON(evs))))
		if err != nil || len(res.Rejected) != 0 {
			t.Fatalf("ingest: %+v %v", res, err)
		}
	}
	// u1 watches solo on 3 days of the last 7, twice on one of them.
	ingest(viewAt("s1", "solo", "u1", 6), viewAt("s2", "solo", "u1", 4), viewAt("s3", "solo", "u1", 4), viewAt("s4", "solo", "u1", 2))
	// multi: u1 on days 5 and 1, u2 on 3; then, late and out of order,
	// u1 on 3 (between its days), u3 on 5, u2 on 3 again.
	ingest(viewAt("m1", "multi", "u1", 5), viewAt("m2", "multi", "u2", 3), viewAt("m3", "multi", "u1", 1))
	ingest(viewAt("m4", "multi", "u1", 3), viewAt("m5", "multi", "u3", 5), viewAt("m6", "multi", "u2", 3))

	mia := p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
	Eventually(t, "aggregation", func() bool {
		_, _, solo := viewerCounts(t, mia, "solo", 6, 0)
		_, _, multi := viewerCounts(t, mia, "multi", 6, 0)
		return solo == 4 && multi == 6
	})
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			video          string
			from, to       int
			viewers, vdays int64
		}{
			{"solo", 6, 0, 1, 3}, // one account on 3 days of 7
			{"solo", 4, 2, 1, 2}, // a range over 2 of those days
			{"solo", 3, 3, 0, 0},
			{"multi", 6, 0, 3, 5},
			{"multi", 3, 1, 2, 3},
			{"multi", 5, 4, 2, 2},
			{"multi", 5, 3, 3, 4},
		} {
			viewers, vdays, _ := viewerCounts(t, mia, c.video, c.from, c.to)
			if viewers != c.viewers || vdays != c.vdays {
				t.Errorf("%s: %s from %d to %d days ago: viewers %d viewer_days %d, want %d %d", when, c.video, c.from, c.to, viewers, vdays, c.viewers, c.vdays)
			}
		}
	}
	check("live")
	p.Stop(t)
	p = Start(t, data, "--disclosure", "exact")
	svc = p.Client().WithToken(tok)
	mia = p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
	check("after a restart")
	// A second view by u3 of day 5 (older than 72 h), after the restart
	// rebuilt the state: one more view, no new viewer.
	ingest(viewAt("m7", "multi", "u3", 5))
	Eventually(t, "late view", func() bool { _, _, views := viewerCounts(t, mia, "multi", 6, 0); return views == 7 })
	check("after a late view of an old day")
}

// TestViewersProtected: in protected mode a range's totals carry
// viewer_days (the sum of the daily cells), never viewers.
func TestViewersProtected(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir())
	anon := p.Client()
	mia := MustUser(t, anon, "mia", client.Registration{Type: "business", BirthDate: "1990-01-01", Country: "DE", Gender: "female"})
	leo := MustUser(t, anon, "leo")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "protected"})
	if err != nil {
		t.Fatal(err)
	}
	leo.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 1000})
	var rep report
	if err := mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Viewers != nil || rep.Totals.Viewers != nil || rep.ViewerDays == nil || rep.Totals.ViewerDays == nil {
		t.Fatalf("protected totals: viewers %v/%v, viewer_days %v/%v; want viewer_days only", rep.Viewers, rep.Totals.Viewers, rep.ViewerDays, rep.Totals.ViewerDays)
	}
	for _, d := range rep.Daily {
		if _, ok := d["viewers"]; !ok {
			t.Fatalf("a video's day has no viewers: %v", d)
		}
	}
	var arep report
	if err := mia.Do(ctx, "GET", "/v1/analytics/account?range=7d", nil, &arep); err != nil {
		t.Fatal(err)
	}
	if arep.Viewers != nil || arep.Totals.Viewers != nil || arep.ViewerDays == nil {
		t.Fatalf("account report: viewers %v, viewer_days %v", arep.Viewers, arep.ViewerDays)
	}
	if _, ok := arep.Daily[0]["viewer_days"]; !ok {
		t.Fatalf("an account's day has no viewer_days: %v", arep.Daily[0])
	}
}

// TestImportSplit: one period imported in two runs with the salt cleanup
// between them: the second run's events of days whose salts are gone are
// refused and counted as refused; nothing is counted twice. The same
// import into a fresh instance gives the same report.
func TestImportSplit(t *testing.T) {
	ctx := context.Background()
	history := func(prefix string, from, to int) string {
		var b strings.Builder
		for k := from; k >= to; k-- {
			for f := range 5 {
				e := viewAt(fmt.Sprintf("%s-%d-%d", prefix, k, f), "old", fmt.Sprint("f", f), k)
				line, _ := json.Marshal(e)
				b.Write(append(line, '\n'))
			}
		}
		file := filepath.Join(t.TempDir(), prefix+".ndjson")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	world := func() string {
		data := t.TempDir()
		p, tok := StartWithToken(t, data, "--disclosure", "exact")
		svc := p.Client().WithToken(tok)
		accts := []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}
		for f := range 5 {
			accts = append(accts, client.SyncAccount{ID: fmt.Sprint("f", f), Handle: fmt.Sprint("fan_", f)})
		}
		if _, err := svc.SyncAccounts(ctx, accts); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "old", Owner: "mia", Title: "archive", CreatedAt: daysAgo(30).Format(time.RFC3339)}}); err != nil {
			t.Fatal(err)
		}
		p.Stop(t)
		return data
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("crowd %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	report := func(data string) string {
		t.Helper()
		p := Start(t, data, "--disclosure", "exact")
		defer p.Stop(t)
		mia := p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
		var rep map[string]any
		if err := mia.Do(ctx, "GET", fmt.Sprintf("/v1/analytics/videos/old?from=%s&to=%s", dateAgo(12), dateAgo(1)), nil, &rep); err != nil {
			t.Fatal(err)
		}
		delete(rep, "generated_at")
		delete(rep, "hourly")
		delete(rep, "trend")
		b, _ := json.Marshal(rep)
		return string(b)
	}

	data := world()
	first := history("a", 10, 5) // 5 viewers on each of 6 days
	out := run("import", first, "--data", data, "--disclosure", "exact")
	if !strings.Contains(out, "published 30 events (0 duplicates, 0 rejected)") {
		t.Fatalf("first import:\n%s", out)
	}
	// The salt cleanup, past the idle time: the imported days close.
	if out := run("salts", "prune", "--data", data, "--idle", "0"); !strings.Contains(out, "closed 6 days") {
		t.Fatalf("salts prune:\n%s", out)
	}
	// The second file overlaps days 7..5: their 15 events are refused.
	out = run("import", history("b", 7, 3), "--data", data, "--disclosure", "exact")
	if !strings.Contains(out, "published 10 events (0 duplicates, 15 rejected)") || !strings.Contains(out, "refused 15 events of closed days (day_closed)") {
		t.Fatalf("second import:\n%s", out)
	}
	p, tok := StartWithToken(t, data, "--disclosure", "exact")
	mia := p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
	if viewers, vdays, views := viewerCounts(t, mia, "old", 12, 5); viewers != 5 || vdays != 30 || views != 30 {
		t.Errorf("days 12..5 ago: viewers %d viewer_days %d views %d, want 5 30 30", viewers, vdays, views)
	}
	if viewers, vdays, _ := viewerCounts(t, mia, "old", 12, 1); viewers != 5 || vdays != 40 {
		t.Errorf("days 12..1 ago: viewers %d viewer_days %d, want 5 40", viewers, vdays)
	}
	// The closed days stay closed for the live API too.
	svc := p.Client().WithToken(tok)
	share := client.Event{ID: "c3", Type: "share", VideoID: "old", AccountID: "f1", TS: daysAgo(9).Format(time.RFC3339), Channel: "sms"}
	res, err := svc.IngestNDJSON(ctx, strings.NewReader(string(client.NDJSON([]client.Event{viewAt("c1", "old", "f0", 8), viewAt("c2", "old", "f0", 2), share}))))
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 2 || res.Rejected[0].Code != "day_closed" || res.Rejected[0].Line != 1 || res.Rejected[1].Code != "day_closed" || res.Rejected[1].Line != 3 {
		t.Fatalf("bulk ingest of a closed day: %+v %v", res, err)
	}
	p.Stop(t)

	// Determinism: the same first import into two fresh instances gives
	// the same report.
	var reports []string
	for range 2 {
		data := world()
		run("import", first, "--data", data, "--disclosure", "exact")
		reports = append(reports, report(data))
	}
	if reports[0] != reports[1] {
		t.Fatalf("the same import gave two reports:\n%s\n%s", reports[0], reports[1])
	}
}
