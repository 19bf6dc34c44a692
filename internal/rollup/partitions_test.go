package rollup

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// otherVideo creates a second video of mia's whose partition differs from
// v's, and returns its id.
func otherVideo(t *testing.T, s *store.Store) string {
	t.Helper()
	pv := eventlog.PartitionOf("v", eventlog.DefaultPartitions)
	for i := 0; ; i++ {
		id := fmt.Sprint("w", i)
		if eventlog.PartitionOf(id, eventlog.DefaultPartitions) != pv {
			if err := s.CreateVideo(t.Context(), &platform.Video{ID: id, OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia"}}); err != nil {
				t.Fatal(err)
			}
			return id
		}
	}
}

func viewOf(video, id, viewer string) event.Event {
	ev := view(id, viewer, day0, "for_you")
	ev.VideoID = video
	return ev
}

func totalViews(t *testing.T, s *store.Store, video string) (views, viewers int64) {
	t.Helper()
	err := s.ReadDB().QueryRow(s.Rebind(`SELECT COALESCE(SUM(views), 0), COALESCE(SUM(viewers), 0) FROM video_day WHERE video_id = ?`), video).Scan(&views, &viewers)
	if err != nil {
		t.Fatal(err)
	}
	return views, viewers
}

// TestPartitions_SplitAndRejoin: two aggregators own disjoint partitions and
// are both handed every message (single events of all partitions share
// messages); each counts its own videos' events, the creator's rows get
// both, and each moves only its partitions' checkpoints. Then one aggregator
// of all partitions takes over (the split changed): it rebuilds the state
// from both journals, so a re-sent event and a returning viewer of either
// video count once, and it applies what neither had.
func TestPartitions_SplitAndRejoin(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		w := otherVideo(t, s)
		pv := eventlog.PartitionOf("v", eventlog.DefaultPartitions)
		if err := a.SetPartitions([]int{pv}); err != nil {
			t.Fatal(err)
		}
		b := reopen(s)
		var rest []int
		for p := range eventlog.DefaultPartitions {
			if p != pv {
				rest = append(rest, p)
			}
		}
		if err := b.SetPartitions(rest); err != nil {
			t.Fatal(err)
		}
		m1 := msg(1, viewOf("v", "a1", "A"), viewOf(w, "b1", "A"), viewOf(w, "b2", "B"))
		m2 := msg(2, viewOf("v", "a2", "B"), viewOf("v", "a3", "A"))
		m3 := msg(3, viewOf(w, "b3", "C"))
		if err := a.apply(ctx, []eventlog.Delivered{m1, m2}); err != nil {
			t.Fatal(err)
		}
		if err := b.apply(ctx, []eventlog.Delivered{m1, m2, m3}); err != nil {
			t.Fatal(err)
		}
		// a is handed m3 too: nothing of its partitions, but it moves on.
		if err := a.apply(ctx, []eventlog.Delivered{m3}); err != nil {
			t.Fatal(err)
		}
		if views, viewers := totalViews(t, s, "v"); views != 3 || viewers != 2 {
			t.Fatalf("v: %d views, %d viewers; want 3 and 2", views, viewers)
		}
		if views, viewers := totalViews(t, s, w); views != 3 || viewers != 3 {
			t.Fatalf("%s: %d views, %d viewers; want 3 and 3", w, views, viewers)
		}
		if got := dayRow(t, s, "account_day", "mia", day0); got.views != 6 {
			t.Fatalf("mia's day: %d views, want 6", got.views)
		}
		if cp, _ := a.Checkpoint(ctx); cp != 3 {
			t.Fatalf("a's checkpoint %d, want 3", cp)
		}

		// One aggregator of every partition now. b's partitions are at 3,
		// a's too; m2 and m3 are re-delivered (it starts from the lowest
		// checkpoint it finds, and re-sent events repeat ids).
		c := reopen(s)
		if err := c.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		m4 := msg(4, viewOf("v", "a1", "A"), viewOf(w, "b1", "A"), viewOf("v", "a4", "A"), viewOf(w, "b4", "B"), viewOf(w, "b5", "D"))
		if err := c.apply(ctx, []eventlog.Delivered{m2, m3, m4}); err != nil {
			t.Fatal(err)
		}
		if views, viewers := totalViews(t, s, "v"); views != 4 || viewers != 2 {
			t.Fatalf("after rejoining, v: %d views, %d viewers; want 4 and 2", views, viewers)
		}
		if views, viewers := totalViews(t, s, w); views != 5 || viewers != 4 {
			t.Fatalf("after rejoining, %s: %d views, %d viewers; want 5 and 4", w, views, viewers)
		}
		if cp, _ := c.Checkpoint(ctx); cp != 4 {
			t.Fatalf("checkpoint %d, want 4", cp)
		}
	})
}

// TestPartitions_Overlap: an aggregator of all partitions and one of some
// run at once over the same messages; the compare-and-set of each
// partition's checkpoint makes the slower one catch up and skip what the
// other applied, whichever partitions it was.
func TestPartitions_Overlap(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		w := otherVideo(t, s)
		part := reopen(s)
		if err := part.SetPartitions([]int{eventlog.PartitionOf(w, eventlog.DefaultPartitions)}); err != nil {
			t.Fatal(err)
		}
		m1 := msg(1, viewOf("v", "a1", "A"), viewOf(w, "b1", "A"))
		m2 := msg(2, viewOf(w, "b2", "B"), viewOf("v", "a2", "B"))
		m3 := msg(3, viewOf(w, "b1", "A"), viewOf(w, "b3", "C"), viewOf("v", "a3", "C"))
		if err := part.apply(ctx, []eventlog.Delivered{m1, m2}); err != nil {
			t.Fatal(err)
		}
		// a (all partitions) applies everything: w's events of m1 and m2
		// are the partial aggregator's, and count once.
		if err := a.apply(ctx, []eventlog.Delivered{m1, m2, m3}); err != nil {
			t.Fatal(err)
		}
		// The partial one is behind now; handed m3, it catches up.
		if err := part.apply(ctx, []eventlog.Delivered{m3}); err != nil {
			t.Fatal(err)
		}
		if views, viewers := totalViews(t, s, "v"); views != 3 || viewers != 3 {
			t.Fatalf("v: %d views, %d viewers; want 3 and 3", views, viewers)
		}
		if views, viewers := totalViews(t, s, w); views != 3 || viewers != 3 {
			t.Fatalf("%s: %d views, %d viewers; want 3 and 3", w, views, viewers)
		}
	})
}

func TestSetPartitions(t *testing.T) {
	a := New(nil, nil, nil, nil)
	if err := a.SetPartitions([]int{3, 1, 3}); err != nil || fmt.Sprint(a.Partitions()) != "[1 3]" || a.all {
		t.Fatalf("SetPartitions: %v, %v", err, a.Partitions())
	}
	if !a.owns(1) || !a.owns(3) || a.owns(2) {
		t.Fatal("owns")
	}
	if err := a.SetPartitions([]int{eventlog.DefaultPartitions}); err == nil {
		t.Fatal("a partition out of range accepted")
	}
	if err := a.SetPartitions(nil); err != nil || !a.all || len(a.Partitions()) != eventlog.DefaultPartitions {
		t.Fatalf("all: %v %v", err, a.Partitions())
	}
}

// TestPartitions_AccountDayCap: one account's first shares of a day count
// up to the cap even when the videos are in partitions of different
// aggregators.
func TestPartitions_AccountDayCap(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		w := otherVideo(t, s)
		pv := eventlog.PartitionOf("v", eventlog.DefaultPartitions)
		if err := a.SetPartitions([]int{pv}); err != nil {
			t.Fatal(err)
		}
		b := reopen(s)
		if err := b.SetPartitions([]int{eventlog.PartitionOf(w, eventlog.DefaultPartitions)}); err != nil {
			t.Fatal(err)
		}
		share := func(id, video string) event.Event {
			return event.Event{ID: id, Type: event.Share, VideoID: video, TS: day0, Actor: "X-" + video, AccountDay: "X-day0"}
		}
		// The cap is 3: two firsts through a, then three through b.
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, share("s1", "v"))}); err != nil {
			t.Fatal(err)
		}
		if err := b.apply(ctx, []eventlog.Delivered{msg(2, share("s2", w))}); err != nil {
			t.Fatal(err)
		}
		var sharers int64
		if err := s.ReadDB().QueryRow(`SELECT SUM(sharers) FROM video_day`).Scan(&sharers); err != nil || sharers != 2 {
			t.Fatalf("sharers %d (%v), want 2", sharers, err)
		}
		c := reopen(s)
		if err := c.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		// Two more videos' first shares the same day: one fits.
		third, fourth := "v3", "v4"
		for _, id := range []string{third, fourth} {
			if err := s.CreateVideo(ctx, &platform.Video{ID: id, OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia"}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.apply(ctx, []eventlog.Delivered{msg(3, share("s3", third), share("s4", fourth))}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReadDB().QueryRow(`SELECT SUM(sharers) FROM video_day`).Scan(&sharers); err != nil || sharers != 3 {
			t.Fatalf("sharers %d (%v), want 3 (the cap)", sharers, err)
		}
	})
}

// TestStalled: a partition whose subject holds messages after its
// checkpoint, with the checkpoint still since the last look, is reported;
// one whose aggregator moved it, or whose subject holds nothing newer, is
// not.
func TestStalled(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		pv := eventlog.PartitionOf("v", eventlog.DefaultPartitions)
		if err := a.SetPartitions([]int{pv}); err != nil {
			t.Fatal(err)
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, viewOf("v", "a1", "A"))}); err != nil {
			t.Fatal(err)
		}
		// Every partition's subject has a message at 5; partition 3's
		// newest is at 0 (none).
		last := func(_ context.Context, p int) (uint64, error) {
			if p == 3 && pv != 3 {
				return 0, nil
			}
			return 5, nil
		}
		if got, err := a.Stalled(ctx, last); err != nil || got != nil {
			t.Fatalf("first look: %v, %v; want nothing", got, err)
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(5, viewOf("v", "a2", "B"))}); err != nil {
			t.Fatal(err)
		}
		got, err := a.Stalled(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for p := range eventlog.DefaultPartitions {
			if p != pv && p != 3 {
				want = append(want, p)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stalled %v, want %v (all but %d, which moved, and 3, which has nothing)", got, want, pv)
		}
	})
}

// TestPartitions_ConcurrentOverlap: an aggregator of every partition and one
// of half of them apply the same stream of batches at the same time, as
// two processes would: each batch's events count once, and neither fails
// (no deadlock between their checkpoint locks).
func TestPartitions_ConcurrentOverlap(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		w := otherVideo(t, s)
		half := reopen(s)
		var parts []int
		for p := range eventlog.DefaultPartitions / 2 {
			parts = append(parts, p)
		}
		if err := half.SetPartitions(parts); err != nil {
			t.Fatal(err)
		}
		const batches, perBatch = 30, 4
		var msgs []eventlog.Delivered
		for i := range batches {
			var evs []event.Event
			for j := range perBatch {
				video := "v"
				if j%2 == 1 {
					video = w
				}
				evs = append(evs, viewOf(video, fmt.Sprint("c", i, "-", j), fmt.Sprint("viewer", j)))
			}
			msgs = append(msgs, msg(uint64(i+1), evs...))
		}
		var wg sync.WaitGroup
		for _, g := range []*Aggregator{a, half} {
			wg.Go(func() {
				for i := 0; i < len(msgs); i += 3 {
					if err := g.apply(ctx, msgs[i:min(i+3, len(msgs))]); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, video := range []string{"v", w} {
			if views, _ := totalViews(t, s, video); views != batches*perBatch/2 {
				t.Fatalf("%s: %d views, want %d", video, views, batches*perBatch/2)
			}
		}
	})
}

// TestPartitions_MissingCheckpoint: checkpoint rows removed by hand stop
// aggregation with an error instead of looping or applying from zero.
func TestPartitions_MissingCheckpoint(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, viewOf("v", "m1", "A"))}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, `DELETE FROM rollup_checkpoint`); err != nil {
			t.Fatal(err)
		}
		err := a.apply(ctx, []eventlog.Delivered{msg(2, viewOf("v", "m2", "A"))})
		if err == nil || !strings.Contains(err.Error(), "behind this aggregator's state") {
			t.Fatalf("apply after the checkpoints were removed: %v", err)
		}
		// A fresh aggregator (whose state is at 0) finds them missing.
		b := reopen(s)
		b.checkpointsReady.Store(true) // as after ensureCheckpoints, before the removal
		err = b.apply(ctx, []eventlog.Delivered{msg(2, viewOf("v", "m2", "A"))})
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("a fresh aggregator after the checkpoints were removed: %v", err)
		}
		if views, _ := totalViews(t, s, "v"); views != 1 {
			t.Fatalf("%d views, want 1", views)
		}
	})
}

// TestPartitions_NeverBack: an aggregator that catches up on a partition
// another moved past its batch leaves that partition's checkpoint where it
// is (moving it back to the batch's end would apply those events again).
func TestPartitions_NeverBack(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		w := otherVideo(t, s)
		pw := eventlog.PartitionOf(w, eventlog.DefaultPartitions)
		part := reopen(s)
		if err := part.SetPartitions([]int{pw}); err != nil {
			t.Fatal(err)
		}
		m1 := msg(1, viewOf("v", "n1", "A"), viewOf(w, "o1", "A"))
		m2 := msg(2, viewOf(w, "o2", "B"))
		m3 := msg(3, viewOf(w, "o3", "C"), viewOf("v", "n3", "C"))
		if err := part.apply(ctx, []eventlog.Delivered{m1, m2, m3}); err != nil {
			t.Fatal(err)
		}
		// a (every partition) is handed m1 and m2 only: w's partition is
		// at 3 already.
		if err := a.apply(ctx, []eventlog.Delivered{m1, m2}); err != nil {
			t.Fatal(err)
		}
		cps, err := s.Checkpoints(ctx, eventlog.DefaultPartitions)
		if err != nil {
			t.Fatal(err)
		}
		if cps[pw] != 3 {
			t.Fatalf("%s's partition checkpoint %d, want 3 (it was moved back)", w, cps[pw])
		}
		// Then m3 for everyone: w's views are not counted again.
		if err := a.apply(ctx, []eventlog.Delivered{m3}); err != nil {
			t.Fatal(err)
		}
		if views, _ := totalViews(t, s, w); views != 3 {
			t.Fatalf("%s: %d views, want 3", w, views)
		}
		if views, _ := totalViews(t, s, "v"); views != 2 {
			t.Fatalf("v: %d views, want 2", views)
		}
	})
}
