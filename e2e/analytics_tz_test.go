package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// syncCreator syncs a business creator (with a password, to log in), two
// viewers and a video created days ago, and returns the creator's client.
func syncCreator(t *testing.T, p *Process, svc *client.Client, created time.Time) *client.Client {
	t.Helper()
	ctx := context.Background()
	res, err := svc.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"},
		{ID: "ana", Handle: "ana", BirthDate: "1990-01-01", Country: "FR", Gender: "female"},
		{ID: "leo", Handle: "leo", BirthDate: "1990-01-01", Country: "DE", Gender: "male"},
	})
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("sync accounts: %v %+v", err, res)
	}
	vres, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "v1", Owner: "mia", Title: "tz", CreatedAt: created.Format(time.RFC3339)}})
	if err != nil || len(vres.Rejected) > 0 {
		t.Fatalf("sync videos: %v %+v", err, vres)
	}
	s, err := p.Client().Login(ctx, "mia", "password-mia")
	if err != nil {
		t.Fatal(err)
	}
	return p.Client().WithToken(s.Token)
}

// dayOf is the date a moment is counted on in a report, by the rule its
// day_boundaries state: in a UTC span its UTC date; in a zone's span its
// date in the zone, or the span's first date if that is earlier (the first
// zone day starts at the UTC midnight that ended the UTC days).
func dayOf(t *testing.T, b client.AnalyticsDayBoundaries, at time.Time) string {
	t.Helper()
	for _, s := range b.Spans {
		if at.Before(s.Start) || !at.Before(s.End) {
			continue
		}
		if s.TimeZone == "UTC" {
			return at.UTC().Format(time.DateOnly)
		}
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			t.Fatal(err)
		}
		return max(s.From, at.In(loc).Format(time.DateOnly))
	}
	t.Fatalf("%s is in no span of %+v", at, b)
	return ""
}

// TestAnalyticsTimeZone: in exact mode a creator's days are the creator's
// days. A view at 23:30 UTC is on the next day for a reader in Tokyo and
// on its UTC day without tz; every view lands on the day the report's
// day_boundaries say, and the totals stay the sums of the days.
func TestAnalyticsTimeZone(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	mia := syncCreator(t, p, svc, midnight.AddDate(0, 0, -5))
	late := midnight.Add(-30 * time.Minute)            // yesterday 23:30Z: 08:30 today in Tokyo
	early := midnight.Add(-22 * time.Hour)             // yesterday 02:00Z: the evening before in New York
	older := midnight.AddDate(0, 0, -4).Add(time.Hour) // 4 days ago, 01:00Z: a UTC day in every report
	var evs []client.Event
	for i, e := range []struct {
		at      time.Time
		account string
	}{{late, "ana"}, {late, "leo"}, {early, "ana"}, {older, "leo"}} {
		evs = append(evs, client.Event{ID: "tz-" + strconv.Itoa(i), Type: "view", VideoID: "v1", AccountID: e.account, TS: e.at.Format(time.RFC3339), Source: "for_you", WatchMS: 1000})
	}
	evs = append(evs, client.Event{ID: "tz-like", Type: "like", VideoID: "v1", AccountID: "ana", TS: late.Format(time.RFC3339)})
	if res, err := svc.Ingest(ctx, evs); err != nil || res.Accepted != len(evs) {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	report := func(tz string) *client.AnalyticsReport {
		t.Helper()
		var rep *client.AnalyticsReport
		Eventually(t, "the views to count", func() bool {
			var err error
			rep, err = mia.VideoAnalytics(ctx, "v1", client.Range{Last: "7d", TZ: tz})
			return err == nil && rep.Totals.Views == 4
		})
		return rep
	}
	byDate := func(rep *client.AnalyticsReport) map[string][2]int64 {
		out := map[string][2]int64{}
		var views, likes int64
		for _, d := range rep.Daily {
			if d.Views != 0 || d.Likes != 0 {
				out[d.Date] = [2]int64{d.Views, d.Likes}
			}
			views, likes = views+d.Views, likes+d.Likes
		}
		if views != rep.Totals.Views || likes != rep.Totals.Likes {
			t.Errorf("%s: days add up to %d views and %d likes, totals %+v", rep.DayBoundaries.TimeZone, views, likes, rep.Totals)
		}
		return out
	}
	yesterday, today := midnight.AddDate(0, 0, -1).Format(time.DateOnly), midnight.Format(time.DateOnly)

	utc := report("")
	if got, want := byDate(utc), map[string][2]int64{yesterday: {3, 1}, midnight.AddDate(0, 0, -4).Format(time.DateOnly): {1, 0}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("UTC days: %v, want %v", got, want)
	}
	if b := utc.DayBoundaries; b.TimeZone != "UTC" || len(b.Spans) != 1 || b.Spans[0].TimeZone != "UTC" {
		t.Errorf("UTC boundaries %+v", b)
	}

	tokyo := report("Asia/Tokyo")
	days := byDate(tokyo)
	if days[today] != [2]int64{2, 1} {
		t.Errorf("Tokyo: the two views and the like at 23:30Z yesterday are not on %s: %v", today, days)
	}
	if tz := tokyo.DayBoundaries; tz.TimeZone != "Asia/Tokyo" || tz.Spans[len(tz.Spans)-1].TimeZone != "Asia/Tokyo" {
		t.Errorf("Tokyo boundaries %+v", tz)
	}
	loc, _ := time.LoadLocation("Asia/Tokyo")
	if want := time.Now().In(loc).Format(time.DateOnly); tokyo.Range.To != want {
		t.Errorf("Tokyo's range ends %s, Tokyo's today is %s", tokyo.Range.To, want)
	}

	for _, tz := range []string{"Asia/Tokyo", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"} {
		rep := report(tz)
		got := byDate(rep)
		want := map[string][2]int64{}
		add := func(at time.Time, views, likes int64) {
			d := dayOf(t, rep.DayBoundaries, at)
			w := want[d]
			want[d] = [2]int64{w[0] + views, w[1] + likes}
		}
		add(late, 2, 1)
		add(early, 1, 0)
		add(older, 1, 0)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: days %v, want %v by the boundaries %+v", tz, got, want, rep.DayBoundaries)
		}
		// The trend does not depend on the zone.
		if !reflect.DeepEqual(rep.Trend, utc.Trend) {
			t.Errorf("%s: trend %+v, without tz %+v", tz, rep.Trend, utc.Trend)
		}
	}

	// The CSV export takes tz too.
	x, err := mia.ExportVideoAnalytics(ctx, "v1", client.Range{Last: "7d", TZ: "Asia/Tokyo"})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := client.ParseAnalyticsCSV(x)
	x.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Date == today && r.Views != 2 {
			t.Errorf("CSV in Tokyo: %+v", r)
		}
	}
	if _, err := mia.VideoAnalytics(ctx, "v1", client.Range{TZ: "Mars/Olympus"}); client.StatusOf(err) != 422 {
		t.Errorf("an unknown zone: %v", err)
	}
}

// TestAnalyticsProtectedPostProcessing: a small video's protected report
// returns the released noisy values, negative ones included; its CSV
// export, which people read, shows them post-processed: no negative count,
// never fewer views than viewers, days adding up to the adjusted totals.
// A time zone does not change protected days, and the report says so.
func TestAnalyticsProtectedPostProcessing(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir(), "--disclosure", "protected")
	svc := p.Client().WithToken(tok)
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	mia := syncCreator(t, p, svc, midnight.AddDate(0, 0, -27))
	var evs []client.Event
	for d := 1; d <= 20; d += 3 {
		at := midnight.AddDate(0, 0, -d).Add(12 * time.Hour)
		evs = append(evs, client.Event{ID: fmt.Sprint("v-", d), Type: "view", VideoID: "v1", AccountID: "ana", TS: at.Format(time.RFC3339), Source: "for_you", WatchMS: 4000})
	}
	if res, err := svc.Ingest(ctx, evs); err != nil || res.Accepted != len(evs) {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	var rep *client.AnalyticsReport
	Eventually(t, "a report", func() bool {
		var err error
		rep, err = mia.VideoAnalytics(ctx, "v1", client.Range{Last: "28d", TZ: "Asia/Tokyo"})
		return err == nil
	})
	if b := rep.DayBoundaries; b.TimeZone != "Asia/Tokyo" || len(b.Spans) != 1 || b.Spans[0].TimeZone != "UTC" || rep.Range.To != midnight.Format(time.DateOnly) {
		t.Errorf("protected days must be UTC days and say so: %+v, range %+v", b, rep.Range)
	}
	if rep.Policy.Bounds == nil || rep.Policy.Bounds.ViewsPerViewerDay != 5 || rep.Policy.Bounds.WatchMSPerViewerDay != 600_000 {
		t.Errorf("policy bounds %+v", rep.Policy.Bounds)
	}
	// 28 days of views cells (noise scale 33) around 0 or 1: the released
	// values have negative days (the chance of none is below 10⁻⁶).
	var raw [4]int64 // Σ views, viewers, shares, saves as released
	negative := false
	for _, d := range rep.Daily {
		raw[0], raw[1], raw[2], raw[3] = raw[0]+d.Views, raw[1]+*d.Viewers, raw[2]+d.Shares, raw[3]+d.Saves
		negative = negative || d.Views < 0 || *d.Viewers < 0 || d.Shares < 0 || d.Saves < 0 || d.Views < *d.Viewers
	}
	if !negative {
		t.Fatalf("no released day is negative or below its viewers; the test would prove nothing: %+v", rep.Daily)
	}
	if raw[0] != rep.Totals.Views || raw[1] != *rep.Totals.ViewerDays {
		t.Errorf("the API's totals are not the sums of its released days: %v vs %+v", raw, rep.Totals)
	}

	x, err := mia.ExportVideoAnalytics(ctx, "v1", client.Range{Last: "28d"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(x)
	x.Close()
	rows, err := client.ParseAnalyticsCSV(bytes.NewReader(body))
	if err != nil || len(rows) != len(rep.Daily) {
		t.Fatalf("CSV: %v, %d rows for %d days", err, len(rows), len(rep.Daily))
	}
	var sum [4]int64
	for i, r := range rows {
		d := rep.Daily[i]
		if r.Date != d.Date || r.Likes != d.Likes || r.Comments != d.Comments || r.Released != d.Released {
			t.Errorf("row %d %+v, day %+v", i, r, d)
		}
		if r.Views < 0 || *r.Viewers < 0 || r.Shares < 0 || r.Saves < 0 || r.Views < *r.Viewers {
			t.Errorf("row %d reads an impossible number: %+v viewers %d", i, r, *r.Viewers)
		}
		if !r.Released && (r.Views != 0 || *r.Viewers != 0 || r.Shares != 0 || r.Saves != 0) {
			t.Errorf("row %d is not released but reads %+v", i, r)
		}
		sum[0], sum[1], sum[2], sum[3] = sum[0]+r.Views, sum[1]+*r.Viewers, sum[2]+r.Shares, sum[3]+r.Saves
	}
	viewers := max(0, raw[1])
	if want := [4]int64{max(viewers, raw[0]), viewers, max(0, raw[2]), max(0, raw[3])}; sum != want {
		t.Errorf("CSV columns add up to %v, want the adjusted totals %v (released sums %v)\n%s", sum, want, raw, body)
	}
}
