package store

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// spillWorld is rows of both spill tables as aggregation writes them: keys
// dense and sparse (so runs of several levels), at both ends of the key
// space (where a run's window would overflow), over several periods.
func spillWorld(r *rand.Rand) (seen, viewers []SpillRow) {
	keys := []uint64{0, 1, 2, math.MaxInt64, math.MaxInt64 - 1, 1 << 63, 1<<63 + 1, math.MaxUint64}
	for range 3000 {
		keys = append(keys, r.Uint64())
	}
	base := r.Uint64()
	for i := range 700 {
		keys = append(keys, base+uint64(3*i)) // dense
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for i, k := range keys {
		seen = append(seen, SpillRow{Key: k, Period: 490_000 + int64(i%5)})
		viewers = append(viewers, SpillRow{Key: k ^ 0x5555, Period: 20_400 + int64(i%3), Val: uint32(r.IntN(1 << 20))})
	}
	return seen, viewers
}

func lookupAll(t *testing.T, q querier, d Dialect, tbl SpillTable, keys []uint64) map[uint64]SpillRow {
	t.Helper()
	got := map[uint64]SpillRow{}
	err := spilledEntries(t.Context(), q, d, tbl, keys, func(k uint64, p int64, v uint32) {
		if _, dup := got[k]; dup {
			t.Errorf("key %d reported twice", k)
		}
		got[k] = SpillRow{Key: k, Period: p, Val: v}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSpillRuns: every spilled key is found with its period and value,
// through the store and a rollup transaction, absent keys are not, a key
// spilled again has its newer value, and count and keys see every entry.
func TestSpillRuns(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		r := rand.New(rand.NewPCG(1, 2))
		seen, viewers := spillWorld(r)
		want := map[SpillTable]map[uint64]SpillRow{SeenSpill: {}, ViewerSpill: {}}
		for tbl, rows := range map[SpillTable][]SpillRow{SeenSpill: seen, ViewerSpill: viewers} {
			for _, e := range rows {
				want[tbl][e.Key] = e
			}
			// Written in pieces, as spill steps do, in no order.
			shuffled := slices.Clone(rows)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for piece := range slices.Chunk(shuffled, 900) {
				if err := s.Spill(ctx, tbl, slices.Clone(piece)); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Some viewer-days spilled again, changed, one of them into
		// another day.
		var again []SpillRow
		for i := 0; i < len(viewers); i += 7 {
			e := viewers[i]
			e.Val++
			if i == 0 {
				e.Period = 20_500
			}
			again = append(again, e)
			want[ViewerSpill][e.Key] = e
		}
		if err := s.Spill(ctx, ViewerSpill, again); err != nil {
			t.Fatal(err)
		}

		for tbl, w := range want {
			var keys []uint64
			for k := range w {
				keys = append(keys, k)
			}
			absent := []uint64{}
			for len(absent) < 500 {
				if k := r.Uint64(); w[k] == (SpillRow{}) {
					absent = append(absent, k)
				}
			}
			for _, k := range keys[:20] {
				absent = append(absent, k+1, k-1)
			}
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for name, q := range map[string]querier{"store": s.read, "rollup transaction": tx.tx} {
				got := lookupAll(t, q, s.dialect, tbl, append(slices.Clone(keys), absent...))
				for _, k := range absent {
					if _, spilled := w[k]; !spilled {
						if e, ok := got[k]; ok {
							t.Errorf("%s, %s: key %d never spilled, found %+v", tbl, name, k, e)
						}
						delete(got, k)
					}
				}
				if len(got) != len(w) {
					t.Errorf("%s, %s: %d keys found, want %d", tbl, name, len(got), len(w))
				}
				for k, e := range w {
					if got[k] != e {
						t.Errorf("%s, %s: key %d: %+v, want %+v", tbl, name, k, got[k], e)
					}
				}
			}
			tx.Rollback()

			n, err := s.SpilledCount(ctx, tbl)
			if err != nil {
				t.Fatal(err)
			}
			wantN := len(w)
			if tbl == ViewerSpill {
				wantN += len(again) // a key spilled twice counts twice
			}
			if n != wantN {
				t.Errorf("%s: count %d, want %d", tbl, n, wantN)
			}
			all := map[uint64]bool{}
			if err := s.SpilledKeys(ctx, tbl, func(k uint64) { all[k] = true }); err != nil {
				t.Fatal(err)
			}
			if len(all) != len(w) {
				t.Errorf("%s: %d distinct keys listed, want %d", tbl, len(all), len(w))
			}
		}
		// Runs, not rows: thousands of entries in far fewer rows.
		var runs int
		if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM rollup_spill_runs`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if entries := len(seen) + len(viewers) + len(again); runs*20 > entries {
			t.Errorf("%d runs for %d entries", runs, entries)
		}
	})
}

// TestSpillRuns_Compact: compaction deletes the entries of the periods it
// names, and no other, and counts them.
func TestSpillRuns_Compact(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		seen, viewers := spillWorld(rand.New(rand.NewPCG(3, 4)))
		if err := s.Spill(ctx, SeenSpill, slices.Clone(seen)); err != nil {
			t.Fatal(err)
		}
		if err := s.Spill(ctx, ViewerSpill, slices.Clone(viewers)); err != nil {
			t.Fatal(err)
		}
		removed, err := s.CompactRollups(ctx, RollupCompaction{SeenSpillBefore: 490_002, Days: []int64{20_400, 20_402}})
		if err != nil {
			t.Fatal(err)
		}
		var wantRemoved int64
		check := func(tbl SpillTable, rows []SpillRow, gone func(p int64) bool) {
			var keys []uint64
			for _, e := range rows {
				keys = append(keys, e.Key)
			}
			got := lookupAll(t, s.read, s.dialect, tbl, keys)
			for _, e := range rows {
				g, ok := got[e.Key]
				if gone(e.Period) {
					wantRemoved++
					if ok {
						t.Errorf("%s: %+v outlived compaction", tbl, g)
					}
				} else if g != e {
					t.Errorf("%s: %+v, want %+v", tbl, g, e)
				}
			}
		}
		check(SeenSpill, seen, func(p int64) bool { return p < 490_002 })
		check(ViewerSpill, viewers, func(p int64) bool { return p == 20_400 || p == 20_402 })
		if removed != wantRemoved {
			t.Errorf("compaction removed %d entries, want %d", removed, wantRemoved)
		}
	})
}

// TestSpillRuns_MoveRows: migration 0004 moves the rows of the former spill
// tables into runs and drops them.
func TestSpillRuns_MoveRows(t *testing.T) {
	defer func(n int) { movePage = n }(movePage)
	movePage = 100 // pages end inside periods
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		// The database as 0003 left it, with rows.
		for _, q := range []string{
			`DROP TABLE rollup_spill_runs`,
			`CREATE TABLE rollup_seen_spill (key BIGINT PRIMARY KEY, hour BIGINT NOT NULL)`,
			`CREATE INDEX rollup_seen_spill_hour ON rollup_seen_spill(hour)`,
			`CREATE TABLE rollup_viewer_spill (key BIGINT PRIMARY KEY, day BIGINT NOT NULL, val BIGINT NOT NULL)`,
			`CREATE INDEX rollup_viewer_spill_day ON rollup_viewer_spill(day)`,
			`DELETE FROM schema_migrations WHERE name = '0004_spill_runs.sql'`,
		} {
			if _, err := s.write.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		seen, viewers := spillWorld(rand.New(rand.NewPCG(5, 6)))
		for _, e := range seen {
			if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_seen_spill (key, hour) VALUES (?, ?)`), int64(e.Key), e.Period); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range viewers {
			if _, err := s.write.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_viewer_spill (key, day, val) VALUES (?, ?, ?)`), int64(e.Key), e.Period, int64(e.Val)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, old := range []string{"rollup_seen_spill", "rollup_viewer_spill"} {
			if _, err := s.write.ExecContext(ctx, `SELECT 1 FROM `+old); err == nil {
				t.Errorf("%s is still there after migration 0004", old)
			}
		}
		for tbl, rows := range map[SpillTable][]SpillRow{SeenSpill: seen, ViewerSpill: viewers} {
			var keys []uint64
			for _, e := range rows {
				keys = append(keys, e.Key)
			}
			got := lookupAll(t, s.read, s.dialect, tbl, keys)
			if len(got) != len(rows) {
				t.Errorf("%s: %d entries after the move, want %d", tbl, len(got), len(rows))
			}
			for _, e := range rows {
				if got[e.Key] != e {
					t.Errorf("%s: %+v after the move, want %+v", tbl, got[e.Key], e)
				}
			}
		}
	})
}

// TestSpillRunLevel: a run of level L holding key k ends at most 2^L after
// k, the window the lookup scans, even at the ends of the key space.
func TestSpillRunLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		a, b := int64(r.Uint64()), int64(r.Uint64())
		if r.IntN(4) == 0 {
			b = a + int64(r.IntN(1000))
			if b < a {
				b = math.MaxInt64
			}
		}
		first, last := min(a, b), max(a, b)
		lvl := spillRunLevel(first, last)
		for _, k := range []int64{first, last, first + int64((uint64(last)-uint64(first))/2)} {
			if end := spillWindowEnd(k, lvl); end < last || end < k {
				t.Fatalf("run %d..%d, level %d: window of %d ends at %d", first, last, lvl, k, end)
			}
		}
	}
}

// FuzzSpillRun: any blob either decodes to strictly increasing keys from
// first to last, which encode back to the blob and are each found by the
// lookup's search (and no key between them), or is refused; never a
// panic.
func FuzzSpillRun(f *testing.F) {
	seen, viewers := spillWorld(rand.New(rand.NewPCG(9, 10)))
	for tbl, rows := range map[SpillTable][]SpillRow{SeenSpill: seen, ViewerSpill: viewers} {
		for _, run := range spillRuns(tbl, slices.Clone(rows))[:3] {
			f.Add(uint8(tbl), run.first, run.last, run.n, run.entries)
		}
	}
	f.Add(uint8(0), int64(5), int64(5), 1, []byte{0, 0, 0, 0, 0, 0, 0, 5})
	f.Add(uint8(1), int64(-1), int64(1), 2, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, which uint8, first, last int64, n int, b []byte) {
		tbl := SpillTable(which % 2)
		var rows []SpillRow
		err := decodeSpillRun(tbl, first, last, n, b, func(k int64, v uint32) {
			rows = append(rows, SpillRow{Key: uint64(k), Val: v})
		})
		if err != nil {
			return
		}
		if len(rows) != n || int64(rows[0].Key) != first || int64(rows[len(rows)-1].Key) != last {
			t.Fatalf("decoded %d entries %d..%d, want %d, %d..%d", len(rows), int64(rows[0].Key), int64(rows[len(rows)-1].Key), n, first, last)
		}
		for i := 1; i < len(rows); i++ {
			if int64(rows[i].Key) <= int64(rows[i-1].Key) {
				t.Fatalf("keys not increasing at %d", i)
			}
		}
		if again := appendSpillRun(nil, tbl, rows); !bytes.Equal(again, b) {
			t.Fatalf("a run that decodes encodes back to %x, not %x", again, b)
		}
		for _, e := range rows {
			if v, ok := findInSpillRun(tbl, b, int64(e.Key)); !ok || v != e.Val {
				t.Fatalf("key %d: %d, %v; want %d", int64(e.Key), v, ok, e.Val)
			}
			if _, ok := findInSpillRun(tbl, b, int64(e.Key)+1); ok && !slices.ContainsFunc(rows, func(r SpillRow) bool { return int64(r.Key) == int64(e.Key)+1 }) {
				t.Fatalf("key %d found, never written", int64(e.Key)+1)
			}
		}
	})
}

// TestSpillRuns_FillPages: spilled entries take about their own bytes of
// the SQLite file, runs filling its pages (runs of 256 entries took a
// page each and left up to half of it empty).
func TestSpillRuns_FillPages(t *testing.T) {
	ctx := t.Context()
	const n = 50_000
	r := rand.New(rand.NewPCG(3, 4))
	for _, tbl := range []SpillTable{SeenSpill, ViewerSpill} {
		s := openStore(t, Options{Dir: t.TempDir()})
		before, err := s.SizeBytes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]SpillRow, n)
		for i := range rows {
			rows[i] = SpillRow{Key: r.Uint64(), Period: 20_400, Val: uint32(i)}
		}
		if err := s.Spill(ctx, tbl, rows); err != nil {
			t.Fatal(err)
		}
		after, err := s.SizeBytes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		entries := n * spillEntryBytes(tbl)
		if grew := after - before; float64(grew) > 1.1*float64(entries) {
			t.Errorf("table %d: %d entries (%d bytes) grew the database by %d bytes, %.2f times their bytes", tbl, n, entries, grew, float64(grew)/float64(entries))
		}
	}
}

// TestSpillRuns_Stored256: runs of 256 entries, as they were written
// before runs filled a page, still read.
func TestSpillRuns_Stored256(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		seen, viewers := spillWorld(rand.New(rand.NewPCG(5, 6)))
		for tbl, rows := range map[SpillTable][]SpillRow{SeenSpill: seen, ViewerSpill: viewers} {
			slices.SortFunc(rows, func(x, y SpillRow) int { return cmp.Compare(int64(x.Key), int64(y.Key)) })
			var runs []spillRun
			for chunk := range slices.Chunk(rows, 256) {
				first, last := int64(chunk[0].Key), int64(chunk[len(chunk)-1].Key)
				runs = append(runs, spillRun{lvl: spillRunLevel(first, last), first: first, last: last, period: 7, n: len(chunk), entries: appendSpillRun(nil, tbl, chunk)})
			}
			if runs[0].n != 256 {
				t.Fatalf("the first run holds %d entries", runs[0].n)
			}
			if err := insertSpillRuns(ctx, s.write, s.dialect, tbl, runs); err != nil {
				t.Fatal(err)
			}
			keys := make([]uint64, len(rows))
			for i, e := range rows {
				keys[i] = e.Key
			}
			got := lookupAll(t, s.read, s.dialect, tbl, keys)
			for _, e := range rows {
				if g, ok := got[e.Key]; !ok || g.Period != 7 || (tbl == ViewerSpill && g.Val != e.Val) {
					t.Fatalf("table %d key %d: got %+v, %v; want period 7, value %d", tbl, e.Key, g, ok, e.Val)
				}
			}
			if c, err := s.SpilledCount(ctx, tbl); err != nil || c != len(rows) {
				t.Fatalf("table %d: %d spilled, %v; want %d", tbl, c, err, len(rows))
			}
		}
	})
}
