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
	if got := r.perSecond(time.Time{}); got != coldRate {
		t.Fatalf("before any batch: %v, want the prior %v", got, coldRate)
	}
	observe(&r, 0, time.Second) // nothing applied: no measure
	observe(&r, 5, 0)
	if got := r.perSecond(time.Time{}); got != coldRate {
		t.Fatalf("after empty batches: %v, want the prior %v", got, coldRate)
	}
	// 100 messages in 1 s: 100 a second.
	observe(&r, 100, time.Second)
	if got := r.perSecond(time.Time{}); got != 100 {
		t.Fatalf("first batch: %v, want 100", got)
	}
	// The same rate in batches of other sizes keeps it.
	observe(&r, 10, 100*time.Millisecond)
	observe(&r, 400, 4*time.Second)
	if got := r.perSecond(time.Time{}); math.Abs(got-100) > 1e-9 {
		t.Fatalf("same rate, other sizes: %v, want 100", got)
	}
	// A long idle wait between batches is not observed: the next batch at
	// the same rate leaves the estimate as it was.
	observe(&r, 2, 20*time.Millisecond)
	if got := r.perSecond(time.Time{}); math.Abs(got-100) > 1e-9 {
		t.Fatalf("after idle: %v, want 100", got)
	}
	// A slower stretch (50 a second) pulls it down, gradually.
	observe(&r, 100, 2*time.Second)
	one := r.perSecond(time.Time{})
	if !(one < 100 && one > 50) {
		t.Fatalf("after one slow batch: %v, want between 50 and 100", one)
	}
	for range 100 {
		observe(&r, 100, 2*time.Second)
	}
	if got := r.perSecond(time.Time{}); math.Abs(got-50) > 0.01 {
		t.Fatalf("after many slow batches: %v, want 50", got)
	}
	// Weighted by batch: a tiny fast batch barely moves an estimate made
	// of large ones, since both averages move by its share.
	observe(&r, 1, time.Millisecond) // 1,000 a second, alone
	if got := r.perSecond(time.Time{}); got > 60 {
		t.Fatalf("after a tiny fast batch: %v, want about 50", got)
	}
}

// TestRate_InFlight: a batch being applied lowers the estimate once it is
// slower than the estimate (as if it finished now), never raises it; it
// gives a first estimate before any batch is done; and a failed attempt
// leaves the averages as they were.
func TestRate_InFlight(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var r rate
	// The first batch, 10 messages, still running after 2 s: at most 5 a
	// second.
	if got := r.perSecond(t0); got != coldRate {
		t.Fatalf("no batch yet: %v, want the prior %v", got, coldRate)
	}
	r.begin(10, t0)
	if got := r.perSecond(t0.Add(100 * time.Millisecond)); got != coldRate {
		t.Fatalf("a batch running fast, none done: %v, want the prior %v, not its in-flight 100", got, coldRate)
	}
	if got := r.perSecond(t0.Add(2 * time.Second)); got != 5 {
		t.Fatalf("first batch running for 2 s: %v, want 5", got)
	}
	r.end(true, t0.Add(100*time.Millisecond)) // it took 100 ms in fact
	if got := r.perSecond(t0.Add(time.Hour)); got != 100 {
		t.Fatalf("after the first batch: %v, want 100", got)
	}
	// A batch running faster than the estimate leaves it.
	t1 := t0.Add(time.Minute)
	r.begin(100, t1)
	if got := r.perSecond(t1.Add(100 * time.Millisecond)); got != 100 {
		t.Fatalf("a fast batch in flight: %v, want 100", got)
	}
	// One that runs long pulls it down as it runs, without end.
	slow := r.perSecond(t1.Add(10 * time.Second))
	slower := r.perSecond(t1.Add(100 * time.Second))
	if !(slow < 100 && slower < slow) {
		t.Fatalf("a slow batch in flight: %v then %v, want falling below 100", slow, slower)
	}
	// It fails: the averages are as before it.
	r.end(false, t1.Add(100*time.Second))
	if got := r.perSecond(t1.Add(200 * time.Second)); got != 100 {
		t.Fatalf("after a failed attempt: %v, want 100", got)
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
					observe(&r, 10, 10*time.Millisecond)
				} else if got := r.perSecond(time.Time{}); got != coldRate && math.Abs(got-1000) > 1e-6 {
					t.Errorf("rate %v, want the prior or 1000", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAggregator_Rate: applying batches through the path Run uses gives the
// aggregator a rate of its own; before the first batch it is the prior.
func TestAggregator_Rate(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		a := setup(t, s)
		if got := a.Rate(); got != coldRate {
			t.Fatalf("before any batch: %v, want the prior %v", got, coldRate)
		}
		ctx := t.Context()
		if err := a.applyRetrying(ctx, []eventlog.Delivered{msg(1, view("r1", "A", day0, "for_you")), msg(2, view("r2", "B", day0, "for_you"))}); err != nil {
			t.Fatal(err)
		}
		if got := a.Rate(); got <= 0 || got == coldRate {
			t.Fatalf("after a batch: %v, want a measure of its own", got)
		}
	})
}

// observe records, as applyRetrying does, a batch of n messages applied
// in d (on a clock of its own: the estimate of a batch in flight is
// not what these tests measure).
func observe(r *rate, n int, d time.Duration) {
	var at time.Time
	r.begin(n, at)
	r.end(true, at.Add(d))
}
