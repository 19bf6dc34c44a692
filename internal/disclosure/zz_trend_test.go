package disclosure

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

func TestZZTrend(t *testing.T) {
	dir := os.Getenv("CROWD_LOAD_DIR")
	if dir == "" {
		t.Skip()
	}
	s, err := store.Open(t.Context(), store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var id string
	if err := s.ReadDB().QueryRow(`SELECT account_id FROM video_creators GROUP BY account_id ORDER BY COUNT(*) DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	l := New(config.Exact, s)
	h := period.HourOf(time.Now())
	day := (h - 23).Day().Start()
	w := TrendWindow{Start: (h - 23).Start(), End: (h + 1).Start(), BaselineFrom: day.AddDate(0, 0, -7), BaselineTo: day.AddDate(0, 0, -1)}
	var ds []time.Duration
	var n int
	for range 300 {
		st := time.Now()
		out, err := l.AccountVideoTrends(t.Context(), id, w)
		if err != nil {
			t.Fatal(err)
		}
		n = len(out)
		ds = append(ds, time.Since(st))
	}
	slices.Sort(ds)
	t.Logf("%d videos; p50 %v p90 %v p99 %v", n, ds[150], ds[270], ds[297])
}
