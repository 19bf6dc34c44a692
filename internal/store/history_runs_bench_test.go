package store

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// BenchmarkHistory: viewers' history's batches as history.db's writer
// runs them (internal/rollup/history.go), over CROWD_HISTORY_KEYS keys
// held already: each batch of CROWD_HISTORY_BATCH keys (a tenth of them
// held already, as repeat viewers of the realistic world are) looks them
// up, writes what it changed as a run, commits, and merges runs where a
// level has enough. Reports the CPU time and wall time per key, the
// merges' share of the wall time, the runs held at the end and the
// longest merge of all (the held keys' batches' too): the pause the next
// batch's history waits for.
//
//	CROWD_HISTORY_KEYS=10000000 go test -run '^$' -bench BenchmarkHistory -benchtime 20x ./internal/store/
func BenchmarkHistory(b *testing.B) {
	held := testutil.EnvInt("CROWD_HISTORY_KEYS", 2_000_000)
	batch := testutil.EnvInt("CROWD_HISTORY_BATCH", 75_000)
	s := openStore(b, Options{Dir: b.TempDir()})
	ctx := b.Context()
	r := rand.New(rand.NewPCG(1, 2))
	var keys []int64
	var seq uint64
	var merging, longest time.Duration // longest: of every merge, those before the timer too
	found := 0
	apply := func() {
		ks := make([]int64, 0, batch)
		for range batch {
			if len(keys) > 0 && r.IntN(10) == 0 {
				ks = append(ks, keys[r.IntN(len(keys))])
			} else {
				k := int64(r.Uint64())
				ks = append(ks, k)
				keys = append(keys, k)
			}
		}
		slices.Sort(ks)
		ks = slices.Compact(ks)
		seq++
		tx, err := s.BeginHistory(ctx)
		if err != nil {
			b.Fatal(err)
		}
		days := map[int64][]byte{}
		err = tx.ViewerHistories(ctx, ks, func(h ViewerHistory) {
			days[h.Key] = h.Days
			found++
		})
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]ViewerHistory, len(ks))
		for i, k := range ks {
			rows[i] = ViewerHistory{Key: k, VideoTag: 7, Days: append(slices.Clip(days[k]), byte(seq))}
		}
		if err := tx.SetViewerHistories(ctx, rows); err != nil {
			b.Fatal(err)
		}
		if err := s.CommitHistory(ctx, tx, seq); err != nil {
			b.Fatal(err)
		}
		s.noteDurable(seq)
		start := time.Now()
		if err := s.MergeHistory(ctx); err != nil {
			b.Fatal(err)
		}
		merging += time.Since(start)
		longest = max(longest, time.Since(start))
	}
	for len(keys) < held {
		apply()
	}
	merging, found = 0, 0
	cpu := cputime.Process()
	start := time.Now()
	n := 0
	for b.Loop() {
		apply()
		n += batch
	}
	wall := time.Since(start)
	b.ReportMetric(float64((cputime.Process()-cpu).Nanoseconds())/float64(n), "cpu-ns/key")
	b.ReportMetric(float64(wall.Nanoseconds())/float64(n), "wall-ns/key")
	b.ReportMetric(100*merging.Seconds()/wall.Seconds(), "merging-%")
	b.ReportMetric(float64(found)/float64(n), "found/key")
	b.ReportMetric(float64(len(s.histRuns.list())), "runs")
	b.ReportMetric(float64(longest.Milliseconds()), "longest-merge-ms")
}
