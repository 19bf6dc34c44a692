package disclosure

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestBreakdown_MonthsAndDaysAgree: a creator's breakdown read from
// monthly sums plus the days around them, and a video's read from its days
// alone, equal the sum over days, for any range.
func TestBreakdown_MonthsAndDaysAgree(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2025, 10, 17, 0, 0, 0, 0, time.UTC)
	type dayBucket struct {
		day    int64
		bucket string
	}
	days := map[dayBucket][2]int64{}
	var dayRows, monthRows []store.AudienceRow
	for d := 0; d < 420; d++ {
		day := start.AddDate(0, 0, d).Unix() / 86400
		for _, b := range []string{"DE", "FR", "US"} {
			v, w := int64(rng.IntN(100)), int64(rng.IntN(50))
			days[dayBucket{day, b}] = [2]int64{v, w}
			c := []store.AudienceCount{{Dim: store.AudienceCountry, Bucket: b, Views: v, Viewers: w}}
			dayRows = append(dayRows, store.AudienceRow{ID: "v", Period: day, Counts: c})
			monthRows = append(monthRows, store.AudienceRow{ID: "v", Period: rollup.MonthOf(day), Counts: c})
		}
	}
	// The same buckets for video "v" by day and for creator "v" by day
	// and by month.
	for _, add := range []struct {
		t    store.AudienceTable
		rows []store.AudienceRow
	}{{store.VideoAudienceDayTable, dayRows}, {store.AccountAudienceDayTable, dayRows}, {store.AccountAudienceMonthTable, monthRows}} {
		if err := s.AddAudience(ctx, add.t, add.rows); err != nil {
			t.Fatal(err)
		}
	}
	l := New("exact", s)
	for i := 0; i < 200; i++ {
		from := start.AddDate(0, 0, rng.IntN(420))
		to := from.AddDate(0, 0, rng.IntN(400))
		for _, sc := range []Scope{{VideoID: "v"}, {AccountID: "v"}} {
			got, err := l.Breakdown(ctx, sc, from, to)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range got["country"] {
				var views, viewers int64
				for d := from.Unix() / 86400; d <= to.Unix()/86400; d++ {
					c := days[dayBucket{d, b.Bucket}]
					views += c[0]
					viewers += c[1]
				}
				if b.Views != views || b.Viewers != viewers {
					t.Fatalf("%+v %s..%s %s: got %d/%d, want %d/%d", sc, from.Format(time.DateOnly), to.Format(time.DateOnly), b.Bucket, b.Views, b.Viewers, views, viewers)
				}
			}
			if len(got["country"]) == 0 && !to.Before(start) && from.Before(start.AddDate(0, 0, 420)) {
				t.Fatal(fmt.Sprint("no buckets for ", sc, from, to))
			}
		}
	}
}

// TestAccountVideoTrends_ManyVideos: a creator with enough videos to be
// read in parts at once gets each video's exact views over the window's
// hours and the baseline's days, every video with views once, in id order,
// and none of another creator's.
func TestAccountVideoTrends_ManyVideos(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	for _, a := range []string{"c", "other"} {
		if err := s.CreateAccount(ctx, &platform.Account{ID: a, Handle: a, Type: "business", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: now.AddDate(0, -1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	h := period.HourOf(now)
	w := TrendWindow{Start: (h - 23).Start(), End: (h + 1).Start(), BaselineFrom: (h - 23).Day().Start().AddDate(0, 0, -7), BaselineTo: (h - 23).Day().Start().AddDate(0, 0, -1)}
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[string]VideoTrend{}
	db, err := s.DB().BeginTx(ctx, nil) // the rows in one transaction
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		id, owner := fmt.Sprintf("v%04d", i), "c"
		if i%7 == 3 {
			owner = "other"
		}
		if _, err := db.Exec(`INSERT INTO videos (id, owner_id, title, created_at) VALUES (?, ?, 't', ?)`, id, owner, now.AddDate(0, -1, 0).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO video_creators (video_id, account_id, position) VALUES (?, ?, 0)`, id, owner); err != nil {
			t.Fatal(err)
		}
		var tr VideoTrend
		if i%5 != 0 { // a fifth without any views
			for d := period.DayOf(w.BaselineFrom) - 2; d <= h.Day(); d++ {
				v := int64(rng.IntN(4))
				if v == 0 {
					continue
				}
				if _, err := db.Exec(`INSERT INTO video_day (video_id, day, views) VALUES (?, ?, ?)`, id, int64(d), v); err != nil {
					t.Fatal(err)
				}
				if d >= period.DayOf(w.BaselineFrom) && d <= period.DayOf(w.BaselineTo) {
					tr.Before += v
				}
				// The day's views over its hours, some in the window.
				for k := range v {
					hr := d.Start().Add(time.Duration(rng.IntN(24)) * time.Hour)
					if k == 0 && d == h.Day() {
						hr = h.Start() // the current hour counts
					}
					if hr.After(now) {
						hr = h.Start()
					}
					if _, err := db.Exec(`INSERT INTO video_hour (video_id, hour, views) VALUES (?, ?, 1) ON CONFLICT (video_id, hour) DO UPDATE SET views = views + 1`, id, int64(period.HourOf(hr))); err != nil {
						t.Fatal(err)
					}
					if !hr.Before(w.Start) && hr.Before(w.End) {
						tr.Today++
					}
				}
			}
		}
		if owner == "c" && (tr.Today != 0 || tr.Before != 0) {
			tr.VideoID = id
			want[id] = tr
		}
	}
	if err := db.Commit(); err != nil {
		t.Fatal(err)
	}
	l := New("exact", s)
	got, err := l.AccountVideoTrends(ctx, "c", w)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d videos, want %d", len(got), len(want))
	}
	for i, g := range got {
		if i > 0 && got[i-1].VideoID >= g.VideoID {
			t.Fatalf("videos out of order: %s before %s", got[i-1].VideoID, g.VideoID)
		}
		if g != want[g.VideoID] {
			t.Fatalf("%s: %+v, want %+v", g.VideoID, g, want[g.VideoID])
		}
	}
}
