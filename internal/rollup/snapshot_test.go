package rollup

import (
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

// smallSnapshots makes snapshots due every few entries and cut into many
// chunks, for the test's duration.
func smallSnapshots(t *testing.T, minEntries int) {
	t.Helper()
	m, r, f := snapshotMinEntries, snapshotRangeEntries, snapshotFilterBlocks
	snapshotMinEntries, snapshotRangeEntries, snapshotFilterBlocks = minEntries, 4, 2
	t.Cleanup(func() {
		snapshotMinEntries, snapshotRangeEntries, snapshotFilterBlocks, snapshotChunkHook = m, r, f, nil
	})
}

type entry struct {
	val   uint32
	stamp uint16
}

// entries returns what a table holds.
func entries(t *table) map[uint64]entry {
	out := map[uint64]entry{}
	for i, k := range t.keys {
		if k != 0 {
			var v uint32
			if !t.set {
				v = t.vals[i]
			}
			out[k] = entry{v, t.stamps[i]}
		}
	}
	return out
}

// sameState fails unless a and b hold the same event ids and viewer-days.
func sameState(t *testing.T, what string, a, b *Aggregator) {
	t.Helper()
	a.st.mu.RLock()
	defer a.st.mu.RUnlock()
	b.st.mu.RLock()
	defer b.st.mu.RUnlock()
	if x, y := entries(a.st.seen), entries(b.st.seen); !maps.Equal(x, y) {
		t.Fatalf("%s: %d event ids, want the same %d", what, len(y), len(x))
	}
	if x, y := entries(a.st.viewers), entries(b.st.viewers); !maps.Equal(x, y) {
		t.Fatalf("%s: %d viewer-days, want the same %d", what, len(y), len(x))
	}
}

// snapshotGen returns the generation of the snapshot of all partitions (0:
// none).
func snapshotGen(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var gen int64
	if err := s.ReadDB().QueryRow(`SELECT COALESCE(MAX(gen), 0) FROM rollup_snapshot`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	return gen
}

// rowCount returns the rows of table.
func rowCount(t *testing.T, s *store.Store, table string) int {
	t.Helper()
	var n int
	if err := s.ReadDB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sender applies batches of views of video v, numbered on.
type sender struct {
	t   *testing.T
	seq uint64
	n   int
}

func (sn *sender) views(a *Aggregator, at time.Time, count int) {
	sn.t.Helper()
	var evs []event.Event
	for range count {
		// Viewers repeat, so viewer-days change after they are written.
		evs = append(evs, view(fmt.Sprint("e", sn.n), fmt.Sprint("V", sn.n%37), day0, "for_you"))
		sn.n++
	}
	sn.send(a, at, evs...)
}

func (sn *sender) send(a *Aggregator, at time.Time, evs ...event.Event) {
	sn.t.Helper()
	sn.seq++
	m := msg(sn.seq, evs...)
	m.Time = at
	if err := a.apply(sn.t.Context(), []eventlog.Delivered{m}); err != nil {
		sn.t.Fatal(err)
	}
}

// TestSnapshot_Restart: a snapshot is written in chunks over several
// batches, and a restart loads it and replays only the journal rows from
// when it began: the state is the one the running process had and the one
// a replay of the whole journal gives, and everything still counts once.
func TestSnapshot_Restart(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		smallSnapshots(t, 40)
		a := setup(t, s)
		sn := &sender{t: t}
		for b := range 30 {
			sn.views(a, day0.Add(time.Duration(b)*time.Minute), 7)
		}
		gen := snapshotGen(t, s)
		if gen == 0 {
			t.Fatal("no snapshot written")
		}
		var chunks int
		s.ReadDB().QueryRow(`SELECT chunks FROM rollup_snapshot`).Scan(&chunks)
		if chunks < 4 {
			t.Fatalf("the snapshot has %d chunks; want it cut into several", chunks)
		}
		rows := rowCount(t, s, "rollup_journal")

		b := reopen(s)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if b.st.loadedGen != gen {
			t.Fatalf("loaded snapshot %d, want %d", b.st.loadedGen, gen)
		}
		if b.st.replayRows >= rows/2 {
			t.Fatalf("replayed %d of %d journal rows after the snapshot", b.st.replayRows, rows)
		}
		sameState(t, "from the snapshot", a, b)

		// Without the snapshot, the whole journal: the same state.
		if _, err := s.DB().Exec(`DELETE FROM rollup_snapshot`); err != nil {
			t.Fatal(err)
		}
		c := reopen(s)
		if err := c.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if c.st.loadedGen != 0 || c.st.replayRows != rows {
			t.Fatalf("without the snapshot: loaded %d, replayed %d of %d rows", c.st.loadedGen, c.st.replayRows, rows)
		}
		sameState(t, "from the journal", a, c)

		// Duplicates stay duplicates and viewers stay viewers.
		views0, viewers0, _ := videoDay(t, s)
		sn.send(b, day0.Add(time.Hour), view("e0", "V0", day0, "for_you"), view("e209", "V24", day0, "for_you"), view("new", "V1", day0, "for_you"))
		if views, viewers, _ := videoDay(t, s); views != views0+1 || viewers != viewers0 {
			t.Fatalf("after the restart: views %d viewers %d, want %d %d", views, viewers, views0+1, viewers0)
		}
	})
}

// TestSnapshot_Unusable: a snapshot that is corrupt, incomplete, of
// another format or ahead of the checkpoints is not loaded: the whole
// journal is replayed and the state is what it would be without it.
func TestSnapshot_Unusable(t *testing.T) {
	for _, c := range []struct {
		name, sql string
	}{
		{"corrupt chunk", `UPDATE rollup_snapshot_chunks SET data = ? WHERE n = 1`},
		{"missing chunk", `DELETE FROM rollup_snapshot_chunks WHERE n = 2`},
		{"corrupt row", `UPDATE rollup_snapshot SET checksum = checksum + 1`},
		{"other format", `UPDATE rollup_snapshot SET format = 99`},
		{"ahead of the checkpoints", `UPDATE rollup_checkpoint SET seq = 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			stores(t, func(t *testing.T, s *store.Store) {
				ctx := t.Context()
				smallSnapshots(t, 40)
				a := setup(t, s)
				sn := &sender{t: t}
				for b := range 20 {
					sn.views(a, day0.Add(time.Duration(b)*time.Minute), 7)
				}
				if snapshotGen(t, s) == 0 {
					t.Fatal("no snapshot written")
				}
				var args []any
				if c.name == "corrupt chunk" {
					var data []byte
					s.ReadDB().QueryRow(`SELECT data FROM rollup_snapshot_chunks WHERE n = 1`).Scan(&data)
					data[len(data)-1] ^= 1
					args = append(args, data)
				}
				if _, err := s.DB().Exec(s.Rebind(c.sql), args...); err != nil {
					t.Fatal(err)
				}
				b := reopen(s)
				if err := b.LoadState(ctx); err != nil {
					t.Fatal(err)
				}
				if b.st.loadedGen != 0 {
					t.Fatal("an unusable snapshot was loaded")
				}
				if c.name == "ahead of the checkpoints" {
					return // the journal is what the checkpoints say now
				}
				if rows := rowCount(t, s, "rollup_journal"); b.st.replayRows != rows {
					t.Fatalf("replayed %d of %d journal rows", b.st.replayRows, rows)
				}
				sameState(t, "after the fallback", a, b)
				views0, viewers0, _ := videoDay(t, s)
				sn.send(b, day0.Add(time.Hour), view("e3", "V3", day0, "for_you"), view("new", "V3", day0, "for_you"))
				if views, viewers, _ := videoDay(t, s); views != views0+1 || viewers != viewers0 {
					t.Fatalf("after the fallback: views %d viewers %d, want %d %d", views, viewers, views0+1, viewers0)
				}
			})
		})
	}
}

// TestSnapshot_CrashWhileWriting: a process that dies while writing a
// snapshot (its chunks committed up to some point, the snapshot's row not
// moved) leaves the previous snapshot in use; the next start loads that
// one and replays the journal since it, exactly, and the next snapshot
// removes the partial chunks.
func TestSnapshot_CrashWhileWriting(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		smallSnapshots(t, 40)
		a := setup(t, s)
		sn := &sender{t: t}
		b := 0
		for ; b < 12 || a.st.snap != nil; b++ {
			sn.views(a, day0.Add(time.Duration(b)*time.Minute), 7)
		}
		first := snapshotGen(t, s)
		if first == 0 {
			t.Fatal("no snapshot written")
		}
		// The next snapshot dies at its third chunk.
		died := errors.New("killed")
		snapshotChunkHook = func(n int) error {
			if n == 2 {
				return died
			}
			return nil
		}
		for ; a.st.snap == nil || a.st.snap.next < 3; b++ {
			if b > 200 {
				t.Fatal("no second snapshot began")
			}
			sn.views(a, day0.Add(time.Duration(b)*time.Minute), 7)
		}
		snapshotChunkHook = nil
		partial := a.st.snap.gen
		var left int
		s.ReadDB().QueryRow(s.Rebind(`SELECT COUNT(*) FROM rollup_snapshot_chunks WHERE gen = ?`), partial).Scan(&left)
		if left != 3 || snapshotGen(t, s) != first {
			t.Fatalf("%d chunks of the partial snapshot, snapshot %d in use; want 3 and %d", left, snapshotGen(t, s), first)
		}
		// a is gone; r starts.
		r := reopen(s)
		if err := r.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if r.st.loadedGen != first {
			t.Fatalf("loaded snapshot %d, want %d", r.st.loadedGen, first)
		}
		sameState(t, "after the crash", a, r)
		views0, viewers0, _ := videoDay(t, s)
		sn.send(r, day0.Add(time.Hour), view("e5", "V5", day0, "for_you"), view("e90", "V16", day0, "for_you"), view("new", "V5", day0, "for_you"))
		if views, viewers, _ := videoDay(t, s); views != views0+1 || viewers != viewers0 {
			t.Fatalf("after the crash: views %d viewers %d, want %d %d", views, viewers, views0+1, viewers0)
		}
		for i := 0; snapshotGen(t, s) == first; i++ {
			if i > 100 {
				t.Fatal("no snapshot after the crash")
			}
			sn.views(r, day0.Add(time.Hour+time.Duration(i)*time.Minute), 7)
		}
		s.ReadDB().QueryRow(s.Rebind(`SELECT COUNT(*) FROM rollup_snapshot_chunks WHERE gen <> ?`), snapshotGen(t, s)).Scan(&left)
		if left != 0 {
			t.Fatalf("%d chunks of other snapshots left", left)
		}
	})
}

// TestSnapshot_Spilled: with a tiny state limit, entries spill before and
// after snapshots are written; a restart from a snapshot takes the spill's
// Bloom filters from it, and duplicates of spilled ids and returning
// viewers of spilled viewer-days still count once.
func TestSnapshot_Spilled(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		smallSnapshots(t, 40)
		a := setup(t, s)
		a.SetStateLimit(40)
		send := (&sender{t: t}).send
		// 300 viewers, one view each, over five hours.
		for b := range 60 {
			var evs []event.Event
			for i := range 5 {
				n := 5*b + i
				evs = append(evs, view(fmt.Sprint("s", n), fmt.Sprint("V", n), day0, "for_you"))
			}
			send(a, day0.Add(time.Duration(b)*5*time.Minute), evs...)
		}
		if !a.st.spilledSeen || !a.st.spilledViewers || snapshotGen(t, s) == 0 {
			t.Fatalf("spilled %v %v, snapshot %d", a.st.spilledSeen, a.st.spilledViewers, snapshotGen(t, s))
		}
		b := reopen(s)
		b.SetStateLimit(40)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if b.st.loadedGen == 0 || b.st.seenBloom == nil || b.st.viewerBloom == nil || !b.st.spilledSeen || !b.st.spilledViewers {
			t.Fatalf("loaded snapshot %d, filters %v %v", b.st.loadedGen, b.st.seenBloom != nil, b.st.viewerBloom != nil)
		}
		// Every id again, and a new view by every viewer.
		var again []event.Event
		for n := range 300 {
			again = append(again, view(fmt.Sprint("s", n), fmt.Sprint("V", n), day0, "for_you"), view(fmt.Sprint("r", n), fmt.Sprint("V", n), day0, "for_you"))
		}
		send(b, day0.Add(6*time.Hour), again...)
		if views, viewers, pViews := videoDay(t, s); views != 600 || viewers != 300 || pViews != 600 {
			t.Fatalf("views %d viewers %d p_views %d, want 600 300 600", views, viewers, pViews)
		}
	})
}

// TestSnapshot_FilterReplaced: a Bloom filter replaced while a snapshot
// writes the filters (compaction rebuilds them from the spill tables) makes
// it write them again: the snapshot holds the filter in use, and a restart
// from it still finds every spilled id.
func TestSnapshot_FilterReplaced(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		smallSnapshots(t, 1<<30) // none due by itself
		snapshotFilterBlocks = 1
		a := setup(t, s)
		a.SetStateLimit(40)
		sn := &sender{t: t}
		for b := range 40 {
			sn.views(a, day0.Add(time.Duration(b)*5*time.Minute), 5)
		}
		if a.st.seenBloom == nil || len(a.st.seenBloom.Blocks) < 2 {
			t.Fatal("nothing spilled")
		}
		a.st.mu.Lock()
		a.st.journalled = 1 << 40
		a.st.mu.Unlock()
		replaced := false
		for i := 0; ; i++ {
			if i > 10_000 {
				t.Fatal("the snapshot never completed")
			}
			if err := a.snapshotSome(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if j := a.st.snap; !replaced && j != nil && j.filters != nil && j.next > int(j.ranges) {
				// A piece of the old filter is written: compaction
				// rebuilds the filters now.
				if err := a.spillFlags(ctx); err != nil {
					t.Fatal(err)
				}
				replaced = true
			}
			if replaced && a.st.snap == nil {
				break
			}
		}
		b := reopen(s)
		b.SetStateLimit(40)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if b.st.loadedGen == 0 {
			t.Fatal("no snapshot loaded")
		}
		if !slices.Equal(b.st.seenBloom.Blocks, a.st.seenBloom.Blocks) || !slices.Equal(b.st.viewerBloom.Blocks, a.st.viewerBloom.Blocks) {
			t.Fatal("the snapshot's filters are not the ones in use")
		}
		views0, _, _ := videoDay(t, s)
		sn.send(b, day0.Add(5*time.Hour), view("e0", "V0", day0, "for_you"), view("e1", "V1", day0, "for_you"))
		if views, _, _ := videoDay(t, s); views != views0 {
			t.Fatalf("views %d, want %d: spilled ids counted again", views, views0)
		}
	})
}

// TestSnapshot_Partitions: aggregators of disjoint partition sets (several
// processes on one database) each write and load their own snapshot; a
// process of another set finds none and replays the journal; everything
// counts once throughout.
func TestSnapshot_Partitions(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		smallSnapshots(t, 20)
		setup(t, s)
		w := otherVideo(t, s)
		pv := eventlog.PartitionOf("v", eventlog.DefaultPartitions)
		var rest []int
		for p := range eventlog.DefaultPartitions {
			if p != pv {
				rest = append(rest, p)
			}
		}
		split := func() (*Aggregator, *Aggregator) {
			x, y := reopen(s), reopen(s)
			if err := x.SetPartitions([]int{pv}); err != nil {
				t.Fatal(err)
			}
			if err := y.SetPartitions(rest); err != nil {
				t.Fatal(err)
			}
			return x, y
		}
		x, y := split()
		var seq uint64
		batch := func(from, n int) []eventlog.Delivered {
			seq++
			var evs []event.Event
			for i := from; i < from+n; i++ {
				evs = append(evs, viewOf("v", fmt.Sprint("v", i), fmt.Sprint("A", i%11)), viewOf(w, fmt.Sprint("w", i), fmt.Sprint("B", i%13)))
			}
			return []eventlog.Delivered{msg(seq, evs...)}
		}
		for b := range 15 {
			m := batch(5*b, 5)
			for _, g := range []*Aggregator{x, y} {
				if err := g.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		var sets int
		s.ReadDB().QueryRow(`SELECT COUNT(*) FROM rollup_snapshot`).Scan(&sets)
		if sets != 2 {
			t.Fatalf("%d snapshots, want one per partition set", sets)
		}
		x2, y2 := split()
		for _, g := range []*Aggregator{x2, y2} {
			if err := g.LoadState(ctx); err != nil {
				t.Fatal(err)
			}
			if g.st.loadedGen == 0 {
				t.Fatalf("partitions %v: no snapshot loaded", g.Partitions())
			}
		}
		sameState(t, "partition of v", x, x2)
		sameState(t, "the other partitions", y, y2)
		// One aggregator of all partitions: no snapshot of its own.
		all := reopen(s)
		if err := all.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if all.st.loadedGen != 0 {
			t.Fatal("a snapshot of another partition set was loaded")
		}
		// Everything again through the restarted pair (duplicates), and
		// a new view of each video by a viewer it has.
		for b := range 15 {
			m := batch(5*b, 5)
			for _, g := range []*Aggregator{x2, y2} {
				if err := g.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		m := batch(1000, 1)
		for _, g := range []*Aggregator{x2, y2} {
			if err := g.apply(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, video := range []string{"v", w} {
			if views, viewers := totalViews(t, s, video); views != 76 || (video == "v" && viewers != 11) || (video == w && viewers != 13) {
				t.Fatalf("%s: %d views %d viewers, want 76 and 11 (v) or 13", video, views, viewers)
			}
		}
	})
}

// TestTable_EachInRange: cut into ranges, a table's keys come out each
// exactly once, whether the ranges are fewer than the slots or more.
func TestTable_EachInRange(t *testing.T) {
	for _, n := range []int{5000, 700} {
		tb := newTable(false)
		rng := rand.New(rand.NewPCG(3, uint64(n)))
		want := map[uint64]bool{}
		for len(want) < n {
			k := nonzero(rng.Uint64())
			// Some keys at the table's last slots, so that runs wrap
			// around its end.
			if len(want) < 8 && tb.home(k) < uint64(len(tb.keys))-2 {
				continue
			}
			want[k] = true
			tb.put(k, 1, 1, nil)
		}
		eachInRanges(t, tb, want)
	}
}

func eachInRanges(t *testing.T, tb *table, want map[uint64]bool) {
	for _, r := range []uint64{1, 8, 1024, uint64(len(tb.keys)), 4 * uint64(len(tb.keys))} {
		got := map[uint64]int{}
		for x := range r {
			tb.eachInRange(x, r, func(i int) {
				k := tb.keys[i]
				if mix(k)>>(64-bits.TrailingZeros64(r)) != x {
					t.Fatalf("%d ranges: key %x in range %d", r, k, x)
				}
				got[k]++
			})
		}
		if len(got) != len(want) {
			t.Fatalf("%d ranges: %d keys, want %d", r, len(got), len(want))
		}
		for k, n := range got {
			if n != 1 || !want[k] {
				t.Fatalf("%d ranges: key %x %d times", r, k, n)
			}
		}
	}
}

// TestSnapshot_Now: at a clean shutdown the state is written whole, with
// no snapshot due or one half written, so the next start replays no
// journal row; with nothing journalled since, nothing is written.
func TestSnapshot_Now(t *testing.T) {
	for _, c := range []struct {
		name       string
		minEntries int
	}{
		{"none due", 1 << 20},
		{"one in progress", 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			stores(t, func(t *testing.T, s *store.Store) {
				ctx := t.Context()
				smallSnapshots(t, c.minEntries)
				a := setup(t, s)
				sn := &sender{t: t}
				// In the second case, until a snapshot is half written.
				for b := 0; b < 30 || (c.minEntries < 1000 && a.st.snap == nil && b < 300); b++ {
					sn.views(a, day0.Add(time.Duration(b)*time.Minute), 7)
				}
				if c.minEntries > 1000 && snapshotGen(t, s) != 0 {
					t.Fatal("a snapshot was written before it was due")
				}
				if c.minEntries < 1000 && a.st.snap == nil {
					t.Fatal("no snapshot in progress")
				}
				written, err := a.SnapshotNow(ctx)
				if err != nil || !written {
					t.Fatalf("SnapshotNow: %v, %v", written, err)
				}
				b := reopen(s)
				if err := b.LoadState(ctx); err != nil {
					t.Fatal(err)
				}
				if b.st.loadedGen == 0 || b.st.replayRows != 0 {
					t.Fatalf("loaded snapshot %d and replayed %d journal rows; want a snapshot and none", b.st.loadedGen, b.st.replayRows)
				}
				sameState(t, "from the shutdown's snapshot", a, b)
				gen := snapshotGen(t, s)
				if written, err := b.SnapshotNow(ctx); err != nil || written {
					t.Fatalf("SnapshotNow with nothing journalled since the snapshot: %v, %v", written, err)
				}
				if g := snapshotGen(t, s); g != gen {
					t.Fatalf("snapshot %d replaced by %d with nothing new", gen, g)
				}
			})
		})
	}
}
