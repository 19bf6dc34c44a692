package noise

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"testing"
)

// testKey is the fixed key of the statistical and golden tests: results
// are reproducible, so a conservative threshold passes or fails for good.
var testKey = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// testStream returns the stream of a fixed cell under testKey, for tests
// of the samplers on one long stream.
func testStream(tb testing.TB, metric string) *Stream {
	tb.Helper()
	cell := testCell()
	cell.Metric = metric
	return MustStream(tb, memKeyring(map[uint32][]byte{1: testKey}), 1, cell)
}

func TestStream_Construction(t *testing.T) {
	// The stream is AES-256-CTR, zero IV, keyed by
	// HMAC-SHA256(key, Canonical), however it is read.
	cell := testCell()
	mac := hmac.New(sha256.New, testKey)
	mac.Write(cell.Canonical())
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 1000)
	cipher.NewCTR(block, make([]byte, 16)).XORKeyStream(want, want)

	s := MustStream(t, memKeyring(map[uint32][]byte{1: testKey}), 1, cell)
	var got []byte
	for i := 0; len(got) < len(want)-16; i++ {
		if i%3 == 0 {
			got = binary.BigEndian.AppendUint64(got, s.Uint64())
		} else {
			p := make([]byte, i%13)
			s.Read(p)
			got = append(got, p...)
		}
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("stream differs from AES-256-CTR of HMAC-SHA256(key, canonical cell)")
	}
}

func TestStream_Deterministic(t *testing.T) {
	k := memKeyring(map[uint32][]byte{1: testKey, 2: bytes.Repeat([]byte{1}, 32)})
	first := func(kid uint32, cell CellKey) uint64 { return MustStream(t, k, kid, cell).Uint64() }
	c := testCell()
	if a, b := first(1, c), first(1, c); a != b {
		t.Fatal("same kid and cell, different streams")
	}
	if first(1, c) == first(2, c) {
		t.Fatal("different kids, same stream")
	}
	other := c
	other.Metric = "savers"
	if first(1, c) == first(1, other) {
		t.Fatal("different cells, same stream")
	}
	if a, b := MustNoise(t, k, 1, c, 1, 2, 1), MustNoise(t, k, 1, c, 1, 2, 1); a != b {
		t.Fatal("same kid and cell, different noise")
	}
}

func TestStream_Uniform(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	s := testStream(t, "uniform")
	tests := []struct {
		name  string
		bound uint64
		bin   func(uint64) int
		bins  int
	}{
		{"n=1", 1, func(v uint64) int { return int(v) }, 1},
		{"n=10", 10, func(v uint64) int { return int(v) }, 10},
		// 2^64 mod 3·2^62 = 2^62: a quarter of raw words must be
		// rejected, or the first third of the range gets half the mass.
		{"n=3·2^62", 3 << 62, func(v uint64) int { return int(v >> 62) }, 3},
		{"n=2^63+1", 1<<63 + 1, func(v uint64) int { return int(min(v>>62, 1)) }, 2},
		{"n=2^64-1", math.MaxUint64, func(v uint64) int { return int(v >> 60) }, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := make([]float64, tt.bins)
			for range n {
				v := s.Uniform(tt.bound)
				if v >= tt.bound {
					t.Fatalf("Uniform(%d) = %d", tt.bound, v)
				}
				counts[tt.bin(v)]++
			}
			if tt.bins == 1 {
				return
			}
			exp := make([]float64, tt.bins)
			for i := range exp {
				exp[i] = float64(n) / float64(tt.bins)
			}
			stat, p := chiSquare(counts, exp)
			t.Logf("χ² = %.2f, p = %.3f", stat, p)
			if p < 0.001 {
				t.Fatalf("Uniform(%d) is not uniform: χ² = %.2f, p = %.2g", tt.bound, stat, p)
			}
		})
	}
}

func TestStream_Bernoulli(t *testing.T) {
	n := 100_000
	s := testStream(t, "bernoulli")
	tests := []struct{ num, den uint64 }{
		{0, 5}, {5, 5}, {7, 5}, {1, 2}, {1, 3}, {2, 3}, {1, 1000}, {1 << 63, math.MaxUint64},
	}
	for _, tt := range tests {
		hits := 0
		for range n {
			if s.Bernoulli(tt.num, tt.den) {
				hits++
			}
		}
		checkProportion(t, "Bernoulli", hits, n, min(1, float64(tt.num)/float64(tt.den)))
	}
}

func TestBernoulliExp(t *testing.T) {
	n := 100_000
	s := testStream(t, "bernoulli-exp")
	tests := []struct{ num, den uint64 }{
		{0, 1}, {1, 3}, {1, 1}, {2, 2}, {999, 1000}, {5, 2}, {7, 1}, {1<<64 - 2, 1<<64 - 1},
	}
	for _, tt := range tests {
		hits := 0
		for range n {
			if bernoulliExp(s, tt.num, tt.den) {
				hits++
			}
		}
		checkProportion(t, "Bernoulli(exp(−γ))", hits, n, math.Exp(-float64(tt.num)/float64(tt.den)))
	}
}

// checkProportion fails unless hits/n is within 5 standard errors of p
// (or exact, for p of 0 or 1).
func checkProportion(t *testing.T, what string, hits, n int, p float64) {
	t.Helper()
	got := float64(hits) / float64(n)
	se := math.Sqrt(p * (1 - p) / float64(n))
	if math.Abs(got-p) > 5*se {
		t.Errorf("%s with p = %.6f: frequency %.6f (±%.6f)", what, p, got, se)
	}
}
