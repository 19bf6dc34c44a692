package app

import (
	"testing"
	"time"
)

// TestLagTime: the backlog's time is its messages over the measured rate;
// 0 when caught up or when no rate is measured yet.
func TestLagTime(t *testing.T) {
	for _, tt := range []struct {
		lag  uint64
		rate float64
		want time.Duration
	}{
		{400, 100, 4 * time.Second},
		{30, 60, 500 * time.Millisecond},
		{0, 100, 0},
		{400, 0, 0},
		{1 << 40, 1e-9, 24 * time.Hour}, // capped, no overflow
	} {
		if got := lagTime(tt.lag, tt.rate); got != tt.want {
			t.Errorf("lagTime(%d, %v) = %s, want %s", tt.lag, tt.rate, got, tt.want)
		}
	}
}
