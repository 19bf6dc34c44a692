package rollup

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestTable_Del: deleting keys (backward shift) keeps every other key
// findable, through wrap-around and long probe runs, as a map would.
func TestTable_Del(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tb := newTable(false)
	want := map[uint64]uint32{}
	// Few distinct slots, so that probe runs are long and wrap around.
	key := func() uint64 { return nonzero(uint64(rng.IntN(1500)) | uint64(rng.IntN(4))<<40) }
	for i := range 200_000 {
		k := key()
		if rng.IntN(3) == 0 {
			tb.del(k)
			delete(want, k)
		} else if len(want) < 700 {
			tb.put(k, uint32(i), 1, nil)
			want[k] = uint32(i)
		}
		if i%1000 == 0 {
			if tb.n != len(want) {
				t.Fatalf("step %d: table holds %d entries, map %d", i, tb.n, len(want))
			}
			for k, v := range want {
				if got, _, ok := tb.get(k); !ok || got != v {
					t.Fatalf("step %d: key %x = %d, %v; want %d", i, k, got, ok, v)
				}
			}
		}
	}
}

// TestState_SpillInSteps: a spill moves the state in bounded steps while
// batches keep committing, instead of in one transaction at the limit. No
// spill transaction writes more than spillChunkRows rows, a spill job spans
// several batches, the state never passes its limit, and everything still
// counts once: duplicates of spilled ids are dropped and returning viewers
// of spilled viewer-days stay one viewer, also after a restart.
func TestState_SpillInSteps(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		txs, largest := smallSpillSteps(t)

		const limit, batches, perBatch = 200, 40, 20
		a := setup(t, s)
		a.SetStateLimit(limit)
		send := (&sender{t: t}).send
		at := func(b int) time.Time { return day0.Add(time.Duration(b) * 10 * time.Minute) }
		during := 0 // batches committed while a spill job was in progress
		for b := range batches {
			var evs []event.Event
			for i := range perBatch {
				n := b*perBatch + i
				evs = append(evs, view(fmt.Sprint("e", n), fmt.Sprint("V", n), day0, "for_you"))
			}
			send(a, at(b), evs...)
			if ids, vds, _ := a.StateStats(); ids > limit || vds > limit {
				t.Fatalf("batch %d: state holds %d ids and %d viewer-days over a limit of %d", b, ids, vds, limit)
			}
			if a.st.jobs[spillSeen] != nil || a.st.jobs[spillViewers] != nil {
				during++
			}
		}
		if *txs == 0 {
			t.Fatal("nothing spilled")
		}
		if *largest > spillChunkRows {
			t.Errorf("a spill transaction wrote %d rows; want at most %d", *largest, spillChunkRows)
		}
		if during < 2 {
			t.Errorf("a spill job was in progress after %d batches; want it to span several", during)
		}

		// Every id again (most of them spilled) and a new view by each
		// of the first viewers (spilled viewer-days).
		var again []event.Event
		for n := range batches * perBatch {
			again = append(again, view(fmt.Sprint("e", n), fmt.Sprint("V", n), day0, "for_you"))
		}
		for n := range 50 {
			again = append(again, view(fmt.Sprint("r", n), fmt.Sprint("V", n), day0, "for_you"))
		}
		send(a, at(batches), again...)
		const total = batches * perBatch
		if views, viewers, pViews := videoDay(t, s); views != total+50 || viewers != total || pViews != total+50 {
			t.Fatalf("views %d viewers %d p_views %d, want %d %d %d", views, viewers, pViews, total+50, total, total+50)
		}

		b := reopen(s)
		b.SetStateLimit(limit)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if seen := b.Seen([]string{"e0", "e500", "r3", "never"}); !seen[0] || !seen[1] || !seen[2] || seen[3] {
			t.Fatalf("Seen after restart: %v", seen)
		}
		send(b, at(batches+1), view("e1", "V1", day0, "for_you"), view("r100", "V1", day0, "for_you"))
		if views, viewers, _ := videoDay(t, s); views != total+51 || viewers != total {
			t.Fatalf("after restart: views %d viewers %d, want %d %d", views, viewers, total+51, total)
		}
		if *largest > spillChunkRows {
			t.Errorf("a spill transaction wrote %d rows; want at most %d", *largest, spillChunkRows)
		}
	})
}

// TestState_ReplayPastLimit: a crash near the state limit. The journal
// after the last snapshot holds more than the limit lets in; the restart
// replays it without spilling (it holds the entries past the limit), and
// the batches after it bring the tables back under the limit in bounded
// steps, never growing meanwhile. Every event id and viewer-day from before
// the crash, in the snapshot, in the spill tables or in the replayed
// journal, still counts once.
func TestState_ReplayPastLimit(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		txs, largest := smallSpillSteps(t)

		const limit, perBatch = 100, 10
		sn := &sender{t: t}
		at := func(b int) time.Time { return day0.Add(time.Duration(b) * 10 * time.Minute) }
		batch := 0
		sendViews := func(a *Aggregator, from, count int) {
			t.Helper()
			var evs []event.Event
			for n := from; n < from+count; n++ {
				evs = append(evs, view(fmt.Sprint("e", n), fmt.Sprint("V", n), day0, "for_you"))
			}
			sn.send(a, at(batch), evs...)
			batch++
		}

		// Before the crash: 150 views at the limit (spilling), a snapshot,
		// then 80 more views journalled after it and no snapshot (a
		// process without a limit writes none below snapshotMinEntries),
		// as if it crashed before the next one completed.
		a := setup(t, s)
		a.SetStateLimit(limit)
		for b := range 15 {
			sendViews(a, b*perBatch, perBatch)
		}
		if written, err := a.SnapshotNow(ctx); err != nil || !written {
			t.Fatalf("snapshot: %v, %v", written, err)
		}
		if !a.st.spilledSeen || !a.st.spilledViewers {
			t.Fatal("nothing spilled before the snapshot")
		}
		gen := snapshotGen(t, s)
		a = reopen(s)
		if err := a.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		for b := range 8 {
			sendViews(a, 150+b*perBatch, perBatch)
		}
		const sent = 230
		if snapshotGen(t, s) != gen {
			t.Fatal("a snapshot was written after the first")
		}

		// The restart at the limit.
		*txs = 0
		b := reopen(s)
		b.SetStateLimit(limit)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		snapshot, _, replayed := b.LoadedFrom()
		ids, vds, _ := b.StateStats()
		if !snapshot || replayed != 160 {
			t.Fatalf("loaded a snapshot %v, replayed %d entries; want the snapshot and 160", snapshot, replayed)
		}
		if *txs != 0 {
			t.Fatalf("the replay spilled in %d transactions; want none", *txs)
		}
		if ids <= limit || vds <= limit {
			t.Fatalf("after the replay: %d ids and %d viewer-days; want both past the limit of %d", ids, vds, limit)
		}
		all := make([]string, sent)
		for n := range all {
			all[n] = fmt.Sprint("e", n)
		}
		for n, ok := range b.Seen(all) {
			if !ok {
				t.Fatalf("e%d not seen after the restart", n)
			}
		}

		// Batches of two new views each: the tables never grow, and come
		// back under the limit over several batches.
		over, n := 0, 0
		for ids > limit || vds > limit {
			if over++; over > 30 {
				t.Fatalf("still %d ids and %d viewer-days after 30 batches; limit %d", ids, vds, limit)
			}
			var evs []event.Event
			for range 2 {
				evs = append(evs, view(fmt.Sprint("n", n), fmt.Sprint("W", n), day0, "for_you"))
				n++
			}
			sn.send(b, at(batch), evs...)
			batch++
			i, v, _ := b.StateStats()
			if i > max(ids, limit) || v > max(vds, limit) {
				t.Fatalf("a batch took the state from %d ids and %d viewer-days to %d and %d", ids, vds, i, v)
			}
			ids, vds = i, v
		}
		if over < 2 {
			t.Errorf("back under the limit after %d batch; want the spill spread over several", over)
		}
		if *largest > spillChunkRows {
			t.Errorf("a spill transaction wrote %d rows; want at most %d", *largest, spillChunkRows)
		}

		// Every event from before the crash again, and a new view by each
		// of its viewers: no view counted twice, no viewer twice.
		views0, viewers0, _ := videoDay(t, s)
		var again []event.Event
		for n := range sent {
			again = append(again, view(fmt.Sprint("e", n), fmt.Sprint("V", n), day0, "for_you"), view(fmt.Sprint("r", n), fmt.Sprint("V", n), day0, "for_you"))
		}
		sn.send(b, at(batch), again...)
		if views, viewers, _ := videoDay(t, s); views != views0+sent || viewers != viewers0 {
			t.Fatalf("after the restart: views %d viewers %d, want %d %d", views, viewers, views0+sent, viewers0)
		}
	})
}

// TestState_RoomAfterReplay: a table the replay left past its limit may
// take a batch's entries without waiting for the spill, but never grow
// past what it held; once back under the limit it has the limit's room
// again and its arrays shrink to what the limit needs, its entries intact.
func TestState_RoomAfterReplay(t *testing.T) {
	const limit = 1000
	s := newState(1)
	s.limit = limit
	put := func(from, to int) {
		for k := from; k < to; k++ {
			s.seen.put(uint64(k), 0, 1, nil)
		}
	}
	put(1, 601)
	s.beginReplay()
	if got := s.roomFor(spillSeen, 10); got != 2*limit {
		t.Fatalf("room during the replay %d; want %d", got, 2*limit)
	}
	put(601, 1901) // the replay
	s.endReplay()
	if len(s.seen.keys) != 4096 {
		t.Fatalf("%d slots for %d entries", len(s.seen.keys), s.seen.n)
	}
	if got := s.roomFor(spillSeen, 10); got != 1910 {
		t.Fatalf("room after the replay %d; want 1910 (what it holds and the batch)", got)
	}
	for k := 1; k <= 500; k++ { // the spill
		s.seen.del(uint64(k))
	}
	if got := s.roomFor(spillSeen, 10); got != 1410 {
		t.Fatalf("room after a spill %d; want 1410", got)
	}
	for k := 501; k <= 1000; k++ {
		s.seen.del(uint64(k))
	}
	if got := s.roomFor(spillSeen, 10); got != limit || s.ceil[spillSeen] != 0 {
		t.Fatalf("room back under the limit %d (ceiling %d); want %d", got, s.ceil[spillSeen], limit)
	}
	if len(s.seen.keys) != 2048 || s.seen.n != 900 {
		t.Fatalf("%d slots for %d entries; want 2048 for 900", len(s.seen.keys), s.seen.n)
	}
	for k := 1; k < 1901; k++ {
		if _, _, ok := s.seen.get(uint64(k)); ok != (k > 1000) {
			t.Fatalf("key %d held %v after the shrink", k, ok)
		}
	}
	// A table the replay left under its limit has the limit's room.
	s.beginReplay()
	s.endReplay()
	if got := s.roomFor(spillSeen, 10); got != limit {
		t.Fatalf("room after a replay under the limit %d; want %d", got, limit)
	}
}

// smallSpillSteps makes the spill's steps small (10 rows a transaction, 25
// a range) for the test, and returns the counts of spill transactions and
// of the most rows one wrote, which the spill's hook keeps.
func smallSpillSteps(t *testing.T) (txs, largest *int) {
	chunk, ranges := spillChunkRows, spillRangeRows
	spillChunkRows, spillRangeRows = 10, 25
	txs, largest = new(int), new(int)
	spillTxHook = func(rows int) { *txs++; *largest = max(*largest, rows) }
	t.Cleanup(func() { spillChunkRows, spillRangeRows, spillTxHook = chunk, ranges, nil })
	return txs, largest
}
