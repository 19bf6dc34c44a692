package rollup

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// BenchmarkApply measures aggregation: batches of 10,000 events (views with
// audience, some likes and shares) over 1,000 videos with Zipf popularity,
// applied to SQLite.
//
// The live cases date events within one day; the history cases spread them
// over a year, as a history import does, so that most events land in rows
// of their own.
func BenchmarkApply(b *testing.B) {
	for _, spread := range []struct {
		name string
		d    time.Duration
	}{{"live", 24 * time.Hour}, {"history", 365 * 24 * time.Hour}} {
		b.Run("sqlite/"+spread.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchApply(b, s, spread.d, 0)
		})
		// Small batches, as single events' group commits make them:
		// four messages of 50 events.
		b.Run("sqlite/"+spread.name+"/small", func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			defer func(n int) { benchBatch = n }(benchBatch)
			benchBatch = 200
			benchApply(b, s, spread.d, 0)
		})
		b.Run("sqlite/"+spread.name+"/spilling", func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchApply(b, s, spread.d, 100_000)
		})
		// A limit of several batches, as in production (12M against
		// batches of up to a few hundred thousand): a spill moves half
		// the limit, which a spill in one go does within one batch.
		b.Run("sqlite/"+spread.name+"/spilling-large", func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchApply(b, s, spread.d, 600_000)
		})
		b.Run("postgres/"+spread.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{PostgresURL: testutil.PostgresURL(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchApply(b, s, spread.d, 0)
		})
		b.Run("postgres/"+spread.name+"/split", func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{PostgresURL: testutil.PostgresURL(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchApply(b, s, spread.d, 0, []int{0, 1, 2, 3, 4, 5, 6, 7}, []int{8, 9, 10, 11, 12, 13, 14, 15})
		})
	}
}

// benchApply applies batches to s; a stateLimit above 0 bounds the state
// in memory, so that most lookups go to the spill tables. With split, one
// aggregator per partition set applies every batch at once, each keeping
// its partitions' events (processes splitting the work).
func benchApply(b *testing.B, s *store.Store, spread time.Duration, stateLimit int, split ...[]int) {
	ctx := b.Context()
	s.CreateAccount(ctx, &platform.Account{ID: "c", Handle: "creator", Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: day0})
	const videos = 1000
	for i := 0; i < videos; i++ {
		s.CreateVideo(ctx, &platform.Video{ID: fmt.Sprint("v", i), OwnerID: "c", Title: "t", CreatedAt: day0, CreatorIDs: []string{"c"}})
	}
	a := New(s, nil, slog.New(slog.DiscardHandler), time.Now)
	if stateLimit > 0 {
		a.SetStateLimit(stateLimit)
	}
	aggs := []*Aggregator{a}
	if len(split) > 0 {
		aggs = nil
		for _, parts := range split {
			g := New(s, nil, slog.New(slog.DiscardHandler), time.Now)
			if err := g.SetPartitions(parts); err != nil {
				b.Fatal(err)
			}
			aggs = append(aggs, g)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.2, 1, videos-1)
	batch := benchBatch
	sources := platform.Sources
	var seq uint64
	var longest time.Duration // the longest batch: a spill in one go shows here
	var cpu time.Duration     // CPU time of the applies (not of making batches)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		evs := make([]event.Event, batch)
		for i := range evs {
			v := fmt.Sprint("v", zipf.Uint64())
			at := day0.Add(-time.Duration(rng.Int64N(int64(spread/time.Second))) * time.Second)
			switch k := rng.IntN(20); {
			case k < 17:
				evs[i] = event.Event{ID: fmt.Sprint(n, "-", i), Type: event.View, VideoID: v, TS: at, Source: sources[rng.IntN(len(sources))],
					ActorDay: fmt.Sprint("viewer", rng.IntN(50_000)), WatchMS: 5000, Age: "18-24", Gender: "female", Country: "DE"}
			case k < 19:
				evs[i] = event.Event{ID: fmt.Sprint(n, "-", i), Type: event.Like, VideoID: v, TS: at, Actor: fmt.Sprint("a", rng.IntN(50_000))}
			default:
				evs[i] = event.Event{ID: fmt.Sprint(n, "-", i), Type: event.Share, VideoID: v, TS: at, Actor: fmt.Sprint("a", rng.IntN(50_000))}
			}
		}
		var msgs []eventlog.Delivered
		for i := 0; i < batch; i += 50 {
			seq++
			m := msg(seq, evs[i:i+50]...)
			m.Time = day0 // the log received the batch now
			if stateLimit > 0 {
				// Batches arrive over hours, so that a spill has old
				// entries to move and young ones to keep.
				m.Time = day0.Add(time.Duration(n) * 10 * time.Minute)
			}
			msgs = append(msgs, m)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cputime.Process()
		var wg sync.WaitGroup
		for _, g := range aggs {
			wg.Go(func() {
				if err := g.apply(ctx, msgs); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		longest = max(longest, time.Since(start))
		cpu += cputime.Process() - cpu0
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(longest.Milliseconds()), "max-batch-ms")
	if cpu > 0 && s.Dialect() == store.SQLite {
		// CPU time of the process, SQLite's included (PostgreSQL's is
		// another process's): steadier than wall time on a busy machine.
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-µs/event")
	}
}

// benchBatch is the events per applied batch: the consumer hands over up to
// 1,000 log messages at once, which under load hold far more than this.
var benchBatch = 100_000

// BenchmarkLoadState measures a restart without a snapshot: rebuilding the
// in-memory state from the journal of a million views (a million event ids
// and about as many viewer-days).
func BenchmarkLoadState(b *testing.B) {
	s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	s.CreateAccount(ctx, &platform.Account{ID: "c", Handle: "creator", Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: day0})
	s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "c", Title: "t", CreatedAt: day0, CreatorIDs: []string{"c"}})
	a := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
	const events, perBatch = 1_000_000, 100_000
	var seq uint64
	for n := 0; n < events; n += perBatch {
		var msgs []eventlog.Delivered
		for i := n; i < n+perBatch; i += 500 {
			evs := make([]event.Event, 500)
			for j := range evs {
				evs[j] = event.Event{ID: fmt.Sprint("e", i+j), Type: event.View, VideoID: "v", TS: day0, Source: "for_you", ActorDay: fmt.Sprint("viewer", i+j)}
			}
			seq++
			m := msg(seq, evs...)
			m.Time = day0
			msgs = append(msgs, m)
		}
		if err := a.apply(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	// The journal alone (BenchmarkLoadSnapshot measures snapshots).
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM rollup_snapshot`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		r := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
		if err := r.LoadState(ctx); err != nil {
			b.Fatal(err)
		}
		if ids, vds, _ := r.StateStats(); ids != events || vds != events {
			b.Fatalf("loaded %d ids and %d viewer-days", ids, vds)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLoadSnapshot measures a restart at the realistic world's size
// (about 300k event ids and 1M viewer-days in memory, as crowd bench
// --world realistic left them) and at a state table's default limit (3M
// ids and 12M viewer-days): from the whole journal (rows of 100k entries,
// as batches write them; the state's own entries only, so a lower bound of
// what a real journal, which keeps every row while its days are open,
// replays) and from a snapshot written of the same state.
func BenchmarkLoadSnapshot(b *testing.B) {
	for _, size := range []struct {
		name     string
		ids, vds int
		postgres bool
	}{
		{name: "sqlite/realistic", ids: 300_000, vds: 1_000_000},
		{name: "postgres/realistic", ids: 300_000, vds: 1_000_000, postgres: true},
		{name: "sqlite/large", ids: 3_000_000, vds: 12_000_000},
	} {
		b.Run(size.name, func(b *testing.B) {
			o := store.Options{Dir: b.TempDir()}
			if size.postgres {
				o = store.Options{PostgresURL: testutil.PostgresURL(b)}
			}
			s, err := store.Open(b.Context(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			a := syntheticState(b, s, size.ids, size.vds)
			load := func(b *testing.B, snapshot bool) {
				var cpu time.Duration
				for range b.N {
					r := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
					cpu0 := cputime.Process()
					if err := r.LoadState(b.Context()); err != nil {
						b.Fatal(err)
					}
					cpu += cputime.Process() - cpu0
					if ids, vds, _ := r.StateStats(); ids != size.ids || vds != size.vds {
						b.Fatalf("loaded %d ids and %d viewer-days", ids, vds)
					}
					if (r.st.loadedGen != 0) != snapshot {
						b.Fatalf("loaded snapshot %d", r.st.loadedGen)
					}
				}
				b.ReportMetric(float64(size.ids+size.vds)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				if cpu > 0 {
					b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
				}
			}
			b.Run("journal", func(b *testing.B) { load(b, false) })
			start, cpu0 := time.Now(), cputime.Process()
			writeSnapshot(b, a)
			var bytes int64
			s.ReadDB().QueryRow(`SELECT COALESCE(SUM(LENGTH(data)), 0) FROM rollup_snapshot_chunks`).Scan(&bytes)
			b.Logf("snapshot of %d entries: %d bytes, written in %v (%v CPU)", size.ids+size.vds, bytes, time.Since(start).Round(time.Millisecond), (cputime.Process() - cpu0).Round(time.Millisecond))
			b.Run("snapshot", func(b *testing.B) { load(b, true) })
		})
	}
}

// syntheticState journals ids event ids and vds viewer-days of the last
// three days in rows of 100k entries, as batches of views would, moves
// every checkpoint to the last row, and returns an aggregator holding that
// state.
func syntheticState(b *testing.B, s *store.Store, ids, vds int) *Aggregator {
	a := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
	if err := a.ensureCheckpoints(b.Context()); err != nil {
		b.Fatal(err)
	}
	journalSynthetic(b, a, rand.New(rand.NewPCG(7, 7)), ids, vds, func(int) time.Time { return day0 })
	return a
}

// journalSynthetic journals ids event ids and vds viewer-days (of the
// last three days) after a's state, in rows of 100k entries written at
// at(row), applies them to a's state and moves every checkpoint to the
// last row.
func journalSynthetic(b *testing.B, a *Aggregator, rng *rand.Rand, ids, vds int, at func(row int) time.Time) {
	ctx, s := b.Context(), a.store
	const perRow = 100_000
	today := unixDay(day0)
	seq := a.st.seqs[0]
	for n := 0; n < ids+vds; n += perRow {
		d := newDelta(at(n/perRow), perRow)
		for i := n; i < min(n+perRow, ids+vds); i++ {
			if i < ids {
				d.seen[nonzero(rng.Uint64())] = struct{}{}
			} else {
				d.viewers[nonzero(rng.Uint64())] = viewerEntry{val: packViewer(1+rng.Int64N(5), rng.Int64N(600_000), rng.IntN(2) == 0), day: dayStamp(today - rng.Int64N(3))}
			}
		}
		seq++
		tx, err := s.BeginRollup(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := journal(ctx, tx, seq, nil, d); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		a.st.mu.Lock()
		a.st.apply(d)
		a.st.mu.Unlock()
	}
	if _, err := s.DB().ExecContext(ctx, s.Rebind(`UPDATE rollup_checkpoint SET seq = ?`), int64(seq)); err != nil {
		b.Fatal(err)
	}
	for p := range a.st.seqs {
		a.st.seqs[p] = seq
	}
}

// BenchmarkLoadState_PastLimit measures a restart after a crash near the
// state limit: a snapshot of a state at the limit (limit event ids and
// limit viewer-days), then journal rows after it of 22% of that state
// (half ids, half viewer-days, all new: as the realistic world's crash
// left 441,262 entries after a snapshot at a limit of 1M), the ids spread
// over 13 hours so that a spill moves the oldest. It reports the spill
// transactions the load wrote and the state it left in memory.
func BenchmarkLoadState_PastLimit(b *testing.B) {
	for _, limit := range []int{500_000, 1_000_000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			s, err := store.Open(b.Context(), store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			after := limit * 22 / 100
			a := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
			if err := a.ensureCheckpoints(b.Context()); err != nil {
				b.Fatal(err)
			}
			rows := (2*limit + 2*after + 99_999) / 100_000
			at := func(first int) func(int) time.Time {
				return func(row int) time.Time { return day0.Add(time.Duration(first+row-rows) * time.Hour) }
			}
			rng := rand.New(rand.NewPCG(7, 7))
			journalSynthetic(b, a, rng, limit, limit, at(0))
			writeSnapshot(b, a)
			journalSynthetic(b, a, rng, after, after, at(2*limit/100_000))
			txs := 0
			spillTxHook = func(int) { txs++ }
			defer func() { spillTxHook = nil }()
			b.ResetTimer()
			for range b.N {
				// The spill tables as the snapshot left them (empty).
				b.StopTimer()
				for _, q := range []string{`DELETE FROM rollup_spill_runs`} {
					if _, err := s.DB().ExecContext(b.Context(), q); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				r := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
				r.SetStateLimit(limit)
				if err := r.LoadState(b.Context()); err != nil {
					b.Fatal(err)
				}
				if snapshot, _, entries := r.LoadedFrom(); !snapshot || entries != 2*after {
					b.Fatalf("loaded a snapshot %v, replayed %d entries", snapshot, entries)
				}
				ids, vds, bytes := r.StateStats()
				b.ReportMetric(float64(ids+vds), "entries-in-memory")
				b.ReportMetric(float64(bytes)/(1<<20), "state-MiB")
			}
			b.ReportMetric(float64(txs)/float64(b.N), "spill-txs/op")
		})
	}
}

// writeSnapshot writes a snapshot of a's state in one go.
func writeSnapshot(tb testing.TB, a *Aggregator) {
	a.st.mu.Lock()
	a.st.journalled = max(a.st.journalled, 1<<40)
	a.st.mu.Unlock()
	if err := a.snapshotSome(tb.Context(), math.MaxInt); err != nil {
		tb.Fatal(err)
	}
	if a.st.snap != nil {
		tb.Fatal("snapshot not complete")
	}
}
