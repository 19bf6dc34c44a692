package disclosure

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestBreakdown_MonthsAndDaysAgree: a breakdown read from monthly sums plus
// the days around them equals the sum over days, for any range.
func TestBreakdown_MonthsAndDaysAgree(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2025, 10, 17, 0, 0, 0, 0, time.UTC)
	months := map[[3]any][2]int64{}
	db := s.DB()
	for d := 0; d < 420; d++ {
		day := start.AddDate(0, 0, d).Unix() / 86400
		for _, b := range []string{"DE", "FR", "US"} {
			v, w := int64(rng.IntN(100)), int64(rng.IntN(50))
			if _, err := db.Exec(`INSERT INTO video_dim_day (video_id, day, dim, bucket, views, viewers) VALUES ('v', ?, 'country', ?, ?, ?)`, day, b, v, w); err != nil {
				t.Fatal(err)
			}
			k := [3]any{rollup.MonthOf(day), "country", b}
			m := months[k]
			months[k] = [2]int64{m[0] + v, m[1] + w}
		}
	}
	for k, m := range months {
		db.Exec(`INSERT INTO video_dim_month (video_id, month, dim, bucket, views, viewers) VALUES ('v', ?, ?, ?, ?, ?)`, k[0], k[1], k[2], m[0], m[1])
	}
	l := New("exact", s)
	for i := 0; i < 200; i++ {
		from := start.AddDate(0, 0, rng.IntN(420))
		to := from.AddDate(0, 0, rng.IntN(400))
		got, err := l.Breakdown(ctx, Scope{VideoID: "v"}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range got["country"] {
			var views, viewers int64
			db.QueryRow(`SELECT COALESCE(SUM(views), 0), COALESCE(SUM(viewers), 0) FROM video_dim_day WHERE video_id = 'v' AND dim = 'country' AND bucket = ? AND day BETWEEN ? AND ?`,
				b.Bucket, from.Unix()/86400, to.Unix()/86400).Scan(&views, &viewers)
			if b.Views != views || b.Viewers != viewers {
				t.Fatalf("%s..%s %s: got %d/%d, want %d/%d", from.Format(time.DateOnly), to.Format(time.DateOnly), b.Bucket, b.Views, b.Viewers, views, viewers)
			}
		}
		if len(got["country"]) == 0 && !to.Before(start) && from.Before(start.AddDate(0, 0, 420)) {
			t.Fatal(fmt.Sprint("no buckets for ", from, to))
		}
	}
}
