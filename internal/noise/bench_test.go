package noise

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkNoise measures one cell's noise end to end: HMAC seed, AES key
// schedule, keystream and sampler. A day of cells for a video (a dozen
// families, some broken down into tens of buckets) costs well under a
// millisecond.
func BenchmarkNoise(b *testing.B) {
	k := memKeyring(map[uint32][]byte{1: testKey})
	for _, c := range []struct{ epsNum, epsDen, delta uint64 }{
		{1, 2, 1}, {1, 20, 14400},
	} {
		b.Run(fmt.Sprintf("ε=%d/%d,Δ=%d", c.epsNum, c.epsDen, c.delta), func(b *testing.B) {
			cells := make([]CellKey, 1024)
			for i := range cells {
				cells[i] = testCell()
				cells[i].PeriodStart = day0.Add(time.Duration(i) * 24 * time.Hour)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := k.Noise(1, cells[i%len(cells)], c.epsNum, c.epsDen, c.delta); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkDiscreteLaplace measures the sampler alone, on one long stream.
func BenchmarkDiscreteLaplace(b *testing.B) {
	for _, scale := range []uint64{2, 288000} {
		b.Run(fmt.Sprintf("t=%d", scale), func(b *testing.B) {
			s := testStream(b, "bench")
			b.ReportAllocs()
			for b.Loop() {
				DiscreteLaplace(s, scale, 1)
			}
		})
	}
}
