package analytics

import (
	"reflect"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/store"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := ParseTimeZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestParseTimeZone(t *testing.T) {
	for _, ok := range []string{"", "UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"} {
		if _, err := ParseTimeZone(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"Local", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "asia/tokyo ", "+09:00", string(make([]byte, 65))} {
		if _, err := ParseTimeZone(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestPlanDays(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, c := range []struct {
		name  string
		zone  string
		exact bool
		now   string
		from  string
		to    string
		want  []DaySpan
		local int
	}{
		{
			// Hours are kept from 2026-03-04T11:00Z (71 hours before the
			// current one): March 5 is the first day they cover from its
			// UTC midnight, so it joins the UTC days at that midnight and
			// ends at Tokyo's midnight (15:00Z).
			name: "Tokyo", zone: "Asia/Tokyo", exact: true, now: "2026-03-07T10:30:00Z", from: "2026-03-01", to: "2026-03-07", local: 4,
			want: []DaySpan{
				{"2026-03-01", "2026-03-04", "2026-03-01T00:00:00Z", "2026-03-05T00:00:00Z", "UTC"},
				{"2026-03-05", "2026-03-07", "2026-03-05T00:00:00Z", "2026-03-07T15:00:00Z", "Asia/Tokyo"},
			},
		},
		{
			// New York's days begin after UTC's: the first one starts at
			// the UTC midnight and lasts 29 hours. March 8, 2026 has 23
			// hours (daylight saving time starts).
			name: "New York, across the start of daylight saving time", zone: "America/New_York", exact: true, now: "2026-03-09T12:00:00Z", from: "2026-03-03", to: "2026-03-09", local: 4,
			want: []DaySpan{
				{"2026-03-03", "2026-03-06", "2026-03-03T00:00:00Z", "2026-03-07T00:00:00Z", "UTC"},
				{"2026-03-07", "2026-03-09", "2026-03-07T00:00:00Z", "2026-03-10T04:00:00Z", "America/New_York"},
			},
		},
		{
			// A short range of recent days: all the zone's, from its
			// midnight.
			name: "recent days only", zone: "Asia/Tokyo", exact: true, now: "2026-03-07T10:30:00Z", from: "2026-03-06", to: "2026-03-07", local: 0,
			want: []DaySpan{{"2026-03-06", "2026-03-07", "2026-03-05T15:00:00Z", "2026-03-07T15:00:00Z", "Asia/Tokyo"}},
		},
		{
			// +05:30: days start at the UTC hour holding the midnight.
			name: "Kolkata", zone: "Asia/Kolkata", exact: true, now: "2026-03-07T10:30:00Z", from: "2026-03-06", to: "2026-03-07", local: 0,
			want: []DaySpan{{"2026-03-06", "2026-03-07", "2026-03-05T18:00:00Z", "2026-03-07T18:00:00Z", "Asia/Kolkata"}},
		},
		{
			name: "old days are UTC days", zone: "Asia/Tokyo", exact: true, now: "2026-03-07T10:30:00Z", from: "2026-02-01", to: "2026-02-07", local: 7,
			want: []DaySpan{{"2026-02-01", "2026-02-07", "2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z", "UTC"}},
		},
		{
			name: "protected days are UTC days", zone: "Asia/Tokyo", exact: false, now: "2026-03-07T10:30:00Z", from: "2026-03-01", to: "2026-03-07", local: 7,
			want: []DaySpan{{"2026-03-01", "2026-03-07", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", "UTC"}},
		},
		{
			name: "London in winter has UTC's days", zone: "Europe/London", exact: true, now: "2026-01-07T10:30:00Z", from: "2026-01-01", to: "2026-01-07", local: 7,
			want: []DaySpan{{"2026-01-01", "2026-01-07", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z", "UTC"}},
		},
		{
			name: "no zone", exact: true, now: "2026-03-07T10:30:00Z", from: "2026-03-01", to: "2026-03-07", local: 7,
			want: []DaySpan{{"2026-03-01", "2026-03-07", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", "UTC"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			zone := mustZone(t, c.zone)
			p := planDays(Range{From: date(c.from), To: date(c.to)}, zone, at(c.now), c.exact)
			if p.local != c.local || !reflect.DeepEqual(p.boundaries.Spans, c.want) {
				t.Errorf("local %d, spans:\n%+v\nwant local %d:\n%+v", p.local, p.boundaries.Spans, c.local, c.want)
			}
			if want := c.zone; want != "" && p.boundaries.TimeZone != want || want == "" && p.boundaries.TimeZone != "UTC" {
				t.Errorf("time_zone %q", p.boundaries.TimeZone)
			}
			// The zone's days are contiguous and cover their span.
			if len(p.start) > 0 {
				if got := p.start[0].Format(time.RFC3339); got != c.want[len(c.want)-1].Start {
					t.Errorf("first zone day starts %s", got)
				}
				if len(p.start) != Range.Days(Range{From: date(c.from), To: date(c.to)})-p.local+1 {
					t.Errorf("%d boundaries for %d zone days", len(p.start), Range.Days(Range{From: date(c.from), To: date(c.to)})-p.local)
				}
			}
		})
	}
	t.Run("March 8 in New York has 23 hours", func(t *testing.T) {
		p := planDays(Range{From: date("2026-03-03"), To: date("2026-03-09")}, mustZone(t, "America/New_York"), at("2026-03-09T12:00:00Z"), true)
		if got := p.start[2].Sub(p.start[1]); got != 23*time.Hour {
			t.Errorf("March 8: %v", got)
		}
		if got := p.start[1].Sub(p.start[0]); got != 29*time.Hour {
			t.Errorf("the joining day, March 7: %v", got)
		}
	})
}

// TestBuild_TimeZone: in exact mode a view at 23:30 UTC is on the next day
// for a reader in Tokyo, and on its UTC day without tz; protected reports
// keep UTC days and say so.
func TestBuild_TimeZone(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 7, 10, 30, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.DB().ExecContext(ctx, s.Rebind(q), args...); err != nil {
			t.Fatal(err)
		}
	}
	hour := func(at time.Time, views, likes int64) {
		exec(`INSERT INTO video_hour (video_id, hour, views, viewers, likes) VALUES ('v', ?, ?, ?, ?)`, at.Unix()/3600, views, views, likes)
	}
	// March 6: 1 view at 10:10Z (19:10 in Tokyo, March 6) and 3 views
	// and a like at 23:30Z (08:30 in Tokyo, March 7). March 1: 7 views.
	hour(time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC), 1, 0)
	hour(time.Date(2026, 3, 6, 23, 0, 0, 0, time.UTC), 3, 1)
	exec(`INSERT INTO video_day (video_id, day, views, viewers, likes, watch_ms) VALUES ('v', ?, 4, 4, 1, 8000), ('v', ?, 7, 7, 0, 7000)`,
		date("2026-03-06").Unix()/86400, date("2026-03-01").Unix()/86400)

	b := &Builder{Layer: disclosure.New(config.Exact, s), Now: func() time.Time { return now }}
	report := func(tz string) *Report {
		t.Helper()
		zone := mustZone(t, tz)
		r, err := ParseRange("7d", "", "", b.Today(zone), BusinessMaxDays)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := b.Build(ctx, Request{Scope: disclosure.Scope{VideoID: "v"}, Range: r, Zone: zone, Business: true})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	views := func(rep *Report) map[string]int64 {
		out := map[string]int64{}
		for _, d := range rep.Daily {
			if d.Views != 0 {
				out[d.Date] = d.Views
			}
		}
		return out
	}

	utc := report("")
	if got, want := views(utc), map[string]int64{"2026-03-01": 7, "2026-03-06": 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("UTC days: %v, want %v", got, want)
	}
	tokyo := report("Asia/Tokyo")
	if got, want := views(tokyo), map[string]int64{"2026-03-01": 7, "2026-03-06": 1, "2026-03-07": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokyo days: %v, want %v", got, want)
	}
	if tokyo.Daily[6].Likes != 1 || tokyo.Totals.Views != 11 || tokyo.Totals.Likes != 1 || *tokyo.Daily[6].Viewers != 3 {
		t.Errorf("Tokyo: March 7 %+v, totals %+v", tokyo.Daily[6], tokyo.Totals)
	}
	// Range-wide figures are the UTC days': 15 s of watch time over 11 views.
	if *tokyo.Totals.WatchMS != 15000 || *tokyo.AvgWatchMS != 15000/11 {
		t.Errorf("Tokyo watch %d ms, average %d", *tokyo.Totals.WatchMS, *tokyo.AvgWatchMS)
	}
	if tokyo.DayBoundaries.TimeZone != "Asia/Tokyo" || len(tokyo.DayBoundaries.Spans) != 2 || tokyo.DayBoundaries.Spans[1].Start != "2026-03-05T00:00:00Z" {
		t.Errorf("Tokyo boundaries %+v", tokyo.DayBoundaries)
	}
	// Los Angeles (−08:00): the 23:30Z view is on March 6 (15:30 local),
	// with the 10:10Z one (02:10 local).
	if got := views(report("America/Los_Angeles")); got["2026-03-06"] != 4 || got["2026-03-07"] != 0 {
		t.Errorf("Los Angeles days: %v", got)
	}
	// Pago Pago (−11:00) is still on March 6 at 23:30: the range ends there,
	// and the 10:10Z view is on March 5 (23:10 local).
	if pp := report("Pacific/Pago_Pago"); pp.Range.To != date("2026-03-06") || pp.Daily[6].Views != 3 || pp.Daily[5].Views != 1 {
		t.Errorf("Pago Pago range ends %s, last day %+v", pp.Range.To.Format(time.DateOnly), pp.Daily[6])
	}

	// The trend compares the last 24 hours (11:00Z March 6 to 11:00Z
	// March 7: the 3 views at 23:30Z) with the average day of February 27
	// to March 5 (7 views / 7), whatever the zone.
	for _, rep := range []*Report{utc, tokyo} {
		tr := rep.Trend
		if tr.Today != 3 || tr.RecentAverage != 1 || tr.ChangePercent == nil || *tr.ChangePercent != 200 {
			t.Errorf("trend %+v", tr)
		}
		if !tr.Window.Start.Equal(time.Date(2026, 3, 6, 11, 0, 0, 0, time.UTC)) || !tr.Window.End.Equal(time.Date(2026, 3, 7, 11, 0, 0, 0, time.UTC)) ||
			!tr.Baseline.From.Equal(date("2026-02-27")) || !tr.Baseline.To.Equal(date("2026-03-05")) {
			t.Errorf("trend window %+v baseline %+v", tr.Window, tr.Baseline)
		}
	}

	// Protected: UTC days, whatever tz asked for, and the report says so.
	pb := &Builder{Layer: disclosure.New(config.Protected, s), Now: b.Now}
	zone := mustZone(t, "Asia/Tokyo")
	r, _ := ParseRange("7d", "", "", pb.Today(zone), BusinessMaxDays)
	if r.To != date("2026-03-07") {
		t.Errorf("protected range ends %s", r.To.Format(time.DateOnly))
	}
	rep, err := pb.Build(ctx, Request{Scope: disclosure.Scope{VideoID: "v"}, Range: r, Zone: zone})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.DayBoundaries; d.TimeZone != "Asia/Tokyo" || len(d.Spans) != 1 || d.Spans[0].TimeZone != "UTC" {
		t.Errorf("protected boundaries %+v", d)
	}
}
