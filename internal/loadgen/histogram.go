package loadgen

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Latency summarises a set of durations.
type Latency struct {
	N                  int64
	P50, P90, P99, Max time.Duration
}

// String formats l as its percentiles and maximum.
func (l Latency) String() string {
	if l.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", Round(l.P50), Round(l.P90), Round(l.P99), Round(l.Max))
}

// Percentiles summarises ds (which it sorts).
func Percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		return ds[min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1)]
	}
	return Latency{N: int64(len(ds)), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ds[len(ds)-1]}
}

// Round shortens d for display: three significant digits.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Histogram buckets: logarithmic, 3% apart, from 1 µs to about 100 s, so a
// percentile read from them is within 3% of the true one. Recording is
// lock-free: hundreds of workers share one histogram.
const (
	histGrowth  = 1.03
	histBuckets = 640
)

var histLogGrowth = math.Log(histGrowth)

type histogram struct {
	counts [histBuckets]atomic.Int64
	max    atomic.Int64
}

func bucketOf(d time.Duration) int {
	if d <= time.Microsecond {
		return 0
	}
	return min(histBuckets-1, 1+int(math.Log(float64(d)/float64(time.Microsecond))/histLogGrowth))
}

// upper is the largest duration bucket i holds.
func upper(i int) time.Duration {
	return time.Duration(float64(time.Microsecond) * math.Pow(histGrowth, float64(i)))
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// snapshot copies the counts.
func (h *histogram) snapshot() []int64 {
	out := make([]int64, histBuckets)
	for i := range out {
		out[i] = h.counts[i].Load()
	}
	return out
}

// latency reads percentiles from counts (a snapshot, or the difference of
// two), with max as the largest duration seen.
func latency(counts []int64, max time.Duration) Latency {
	var n int64
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		return Latency{}
	}
	at := func(q float64) time.Duration {
		rank := int64(math.Ceil(q * float64(n)))
		var seen int64
		for i, c := range counts {
			if seen += c; seen >= rank {
				return min(upper(i), max)
			}
		}
		return max
	}
	return Latency{N: n, P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: max}
}

func diff(now, before []int64) []int64 {
	out := make([]int64, len(now))
	for i := range now {
		out[i] = now[i] - before[i]
	}
	return out
}
