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
		chunk, ranges := spillChunkRows, spillRangeRows
		spillChunkRows, spillRangeRows = 10, 25
		var txs, largest int
		spillTxHook = func(rows int) { txs++; largest = max(largest, rows) }
		t.Cleanup(func() { spillChunkRows, spillRangeRows, spillTxHook = chunk, ranges, nil })

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
		if txs == 0 {
			t.Fatal("nothing spilled")
		}
		if largest > spillChunkRows {
			t.Errorf("a spill transaction wrote %d rows; want at most %d", largest, spillChunkRows)
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
		if largest > spillChunkRows {
			t.Errorf("a spill transaction wrote %d rows; want at most %d", largest, spillChunkRows)
		}
	})
}
