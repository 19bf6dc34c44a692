package app

import (
	"testing"
	"time"
)

// TestBacklogBound: --max-lag bounds the backlog unless the start was so
// slow that a start like it, then that backlog, would not be ready within
// --ready-within; then the bound leaves room for one and a half such
// starts, never less than a second. Off, or before the start is known,
// --max-lag alone.
func TestBacklogBound(t *testing.T) {
	const s = time.Second
	for _, tt := range []struct {
		maxLag, readyWithin, opened, want time.Duration
	}{
		{6 * s, 10 * s, s, 6 * s},        // a quick start: --max-lag
		{6 * s, 10 * s, 4 * s, 4 * s},    // 10 - 1.5 × 4
		{6 * s, 10 * s, 8 * s, s},        // too slow for the target: the floor
		{3 * s, 10 * s, 4 * s, 3 * s},    // a tighter --max-lag stays
		{6 * s, 0, 4 * s, 6 * s},         // --ready-within 0: off
		{6 * s, 10 * s, 0, 6 * s},        // the start not known yet
		{6 * s, 30 * s, 10 * s, 6 * s},   // a looser target
		{60 * s, 30 * s, 10 * s, 15 * s}, // a long --max-lag, bounded by the target
		{6 * s, 10 * s, 3100 * time.Millisecond, 5350 * time.Millisecond},
	} {
		if got := backlogBound(tt.maxLag, tt.readyWithin, tt.opened); got != tt.want {
			t.Errorf("backlogBound(%s, %s, %s) = %s, want %s", tt.maxLag, tt.readyWithin, tt.opened, got, tt.want)
		}
	}
}

// TestMain_LagBoundFromStart: once ready, the process knows how long its
// start took before catching up, and ingestion's bound follows it: with a
// target of 1.5 s the bound is at its floor (a second), below --max-lag;
// with --ready-within 0 it is --max-lag.
func TestMain_LagBoundFromStart(t *testing.T) {
	m, _ := openTestWith(t, func(m *Main) { m.Config.ReadyWithin = 1500 * time.Millisecond })
	opened := m.ready.openedIn()
	if opened <= 0 {
		t.Fatalf("ready, and the start's time before catching up is %s", opened)
	}
	agg := aggregation{m}
	if got, want := agg.LagBound(), backlogBound(m.Config.MaxLag, m.Config.ReadyWithin, opened); got != want || got >= m.Config.MaxLag {
		t.Errorf("bound %s after a start of %s, want %s, below --max-lag %s", got, opened, want, m.Config.MaxLag)
	}
	off, _ := openTestWith(t, func(m *Main) { m.Config.ReadyWithin = 0 })
	if got := (aggregation{off}).LagBound(); got != off.Config.MaxLag {
		t.Errorf("--ready-within 0: bound %s, want --max-lag %s", got, off.Config.MaxLag)
	}
}
