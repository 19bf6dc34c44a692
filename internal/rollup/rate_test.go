package rollup

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestRate: the estimate is the batches' messages over their busy time,
// 0 before the first batch, weighted by batch, and idle time between
// batches does not lower it (only observed batches count).
func TestRate(t *testing.T) {
	var r rate
	if got := r.perSecond(); got != 0 {
		t.Fatalf("before any batch: %v, want 0", got)
	}
	r.observe(0, time.Second) // nothing applied: no measure
	r.observe(5, 0)
	if got := r.perSecond(); got != 0 {
		t.Fatalf("after empty batches: %v, want 0", got)
	}
	// 100 messages in 1 s: 100 a second.
	r.observe(100, time.Second)
	if got := r.perSecond(); got != 100 {
		t.Fatalf("first batch: %v, want 100", got)
	}
	// The same rate in batches of other sizes keeps it.
	r.observe(10, 100*time.Millisecond)
	r.observe(400, 4*time.Second)
	if got := r.perSecond(); math.Abs(got-100) > 1e-9 {
		t.Fatalf("same rate, other sizes: %v, want 100", got)
	}
	// A long idle wait between batches is not observed: the next batch at
	// the same rate leaves the estimate as it was.
	r.observe(2, 20*time.Millisecond)
	if got := r.perSecond(); math.Abs(got-100) > 1e-9 {
		t.Fatalf("after idle: %v, want 100", got)
	}
	// A slower stretch (50 a second) pulls it down, gradually.
	r.observe(100, 2*time.Second)
	one := r.perSecond()
	if !(one < 100 && one > 50) {
		t.Fatalf("after one slow batch: %v, want between 50 and 100", one)
	}
	for range 100 {
		r.observe(100, 2*time.Second)
	}
	if got := r.perSecond(); math.Abs(got-50) > 0.01 {
		t.Fatalf("after many slow batches: %v, want 50", got)
	}
	// Weighted by batch: a tiny fast batch barely moves an estimate made
	// of large ones, since both averages move by its share.
	r.observe(1, time.Millisecond) // 1,000 a second, alone
	if got := r.perSecond(); got > 60 {
		t.Fatalf("after a tiny fast batch: %v, want about 50", got)
	}
}

// TestRate_Concurrent: observers and readers at once (run with -race).
func TestRate_Concurrent(t *testing.T) {
	var r rate
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if i%2 == 0 {
					r.observe(10, 10*time.Millisecond)
				} else if got := r.perSecond(); got != 0 && math.Abs(got-1000) > 1e-6 {
					t.Errorf("rate %v, want 0 or 1000", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAggregator_Rate: applying batches through the path Run uses gives the
// aggregator a rate; before the first batch it is 0.
func TestAggregator_Rate(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		a := setup(t, s)
		if got := a.Rate(); got != 0 {
			t.Fatalf("before any batch: %v, want 0", got)
		}
		ctx := t.Context()
		if err := a.applyRetrying(ctx, []eventlog.Delivered{msg(1, view("r1", "A", day0, "for_you")), msg(2, view("r2", "B", day0, "for_you"))}); err != nil {
			t.Fatal(err)
		}
		if got := a.Rate(); got <= 0 {
			t.Fatalf("after a batch: %v, want > 0", got)
		}
	})
}
