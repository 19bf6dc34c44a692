package rollup

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/store"
)

// BenchmarkKeptLoadState loads the aggregation state of a data dir that
// crowd bench --world realistic --keep left, as a start does: the latest
// snapshot and the journal after it. Give it a copy of the dir:
//
//	CROWD_KEPT_DATA=/tmp/kept go test -run '^$' -bench BenchmarkKeptLoadState -benchtime 3x ./internal/rollup/
//
// Each load begins with the process's free memory handed back to the
// system (debug.FreeOSMemory), as a fresh process has none: a state's
// tables and whatever the load allocates are then new pages, which is most
// of what a start's load costs and what a benchmark reusing its memory
// from one load to the next does not see (BenchmarkLoadSnapshot). Skipped
// without CROWD_KEPT_DATA.
func BenchmarkKeptLoadState(b *testing.B) {
	dir := os.Getenv("CROWD_KEPT_DATA")
	if dir == "" {
		b.Skip("CROWD_KEPT_DATA is not set")
	}
	s, err := store.Open(b.Context(), store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var cpu time.Duration
	var entries int
	for range b.N {
		b.StopTimer()
		debug.FreeOSMemory()
		b.StartTimer()
		cpu0 := cputime.Process()
		a := New(s, nil, slog.New(slog.DiscardHandler), nil)
		a.SetStateLimit(12_000_000) // crowd serve's default
		if err := a.LoadState(b.Context()); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - cpu0
		ids, vds, _ := a.StateStats()
		entries = ids + vds
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(entries), "entries")
}
