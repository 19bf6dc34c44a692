package loadgen

import (
	"testing"
	"time"
)

// TestRateMeter checks the progress line's rate at a low rate: one event
// every two seconds, redrawn every 500 ms, reads as about 0.5/s in every
// redraw once the first event is in, never as 0/s between events.
func TestRateMeter(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	m := newRateMeter(start, rateWindow)
	var n int64
	for i := 1; i <= 40; i++ { // 20 s of redraws
		now := start.Add(time.Duration(i) * 500 * time.Millisecond)
		if i%4 == 1 { // an event at 0.5 s, 2.5 s, 4.5 s, ...
			n++
		}
		rate := m.add(now, n)
		if rate <= 0 {
			t.Fatalf("at %s with %d events: rate %v, want above 0", now.Sub(start), n, rate)
		}
		if i >= 12 && (rate < 0.35 || rate > 0.65) { // a full window holds 2 or 3 events
			t.Errorf("at %s: rate %.2f/s, want about 0.5/s", now.Sub(start), rate)
		}
		if got := rateText(rate); got == "0" || got == "0.0" {
			t.Errorf("at %s: rate shown as %q", now.Sub(start), got)
		}
	}
	if len(m.pts) > int(rateWindow/(500*time.Millisecond))+2 {
		t.Errorf("the meter keeps %d points, want only the window's", len(m.pts))
	}
}

func TestRateText(t *testing.T) {
	for rate, want := range map[float64]string{0: "0.0", 0.46: "0.5", 12.34: "12.3", 99.9: "99.9", 100: "100", 12345.6: "12,346"} {
		if got := rateText(rate); got != want {
			t.Errorf("rateText(%v) = %q, want %q", rate, got, want)
		}
	}
}
