package noise

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"
)

// long runs the statistical tests with 10^6 samples per configuration
// (docs/PRIVACY.md, "The attack suite", attack 17): go test ./internal/noise/ -run Statistics -long
// or CROWD_NOISE_LONG=1.
var long = flag.Bool("long", os.Getenv("CROWD_NOISE_LONG") != "", "run the statistical tests with 10^6 samples")

func sampleCount() int {
	switch {
	case *long:
		return 1_000_000
	case testing.Short():
		return 20_000
	}
	return 100_000
}

// dl is the discrete Laplace distribution of scale t:
// P[X = x] = (1−α)/(1+α)·α^|x| with α = exp(−1/t).
type dl struct{ t float64 }

func (d dl) alpha() float64 { return math.Exp(-1 / d.t) }

func (d dl) pmf(x int64) float64 {
	a := d.alpha()
	return -math.Expm1(-1/d.t) / (1 + a) * math.Exp(-math.Abs(float64(x))/d.t)
}

// cdf returns P[X ≤ x].
func (d dl) cdf(x int64) float64 {
	a := d.alpha()
	if x < 0 {
		return math.Exp(float64(x)/d.t) / (1 + a)
	}
	return 1 - math.Exp(-float64(x+1)/d.t)/(1+a)
}

// variance is 2α/(1−α)².
func (d dl) variance() float64 {
	a, b := d.alpha(), -math.Expm1(-1/d.t)
	return 2 * a / (b * b)
}

// fourthMoment returns E[X^4] = 2α(1+10α+α²)/(1−α)^4.
func (d dl) fourthMoment() float64 {
	a, b := d.alpha(), -math.Expm1(-1/d.t)
	return 2 * a * (1 + 10*a + a*a) / (b * b * b * b)
}

// quantile returns the smallest x with P[X ≤ x] ≥ u.
func (d dl) quantile(u float64) int64 {
	lo, hi := int64(-MaxNoise), int64(MaxNoise)
	for lo < hi {
		mid := lo + int64(uint64(hi-lo)/2) // hi−lo can exceed MaxInt64
		if d.cdf(mid) >= u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// unitCuts returns bin boundaries for a chi-square test of n samples of
// d: one bin per integer in [−B, B] and a pooled bin for each tail, with
// B as large as keeps every expected count at least 5.
func (d dl) unitCuts(n int) []int64 {
	N := float64(n)
	b := int64(0)
	for N*d.pmf(b+1) >= 5 && N*(1-d.cdf(b+1)) >= 5 {
		b++
	}
	var cuts []int64
	for x := -b - 1; x <= b; x++ {
		cuts = append(cuts, x)
	}
	return cuts
}

// quantileCuts returns the boundaries of k bins of about equal mass, for
// scales too large for unit bins.
func (d dl) quantileCuts(k int) []int64 {
	var cuts []int64
	for j := 1; j < k; j++ {
		cuts = append(cuts, d.quantile(float64(j)/float64(k)))
	}
	return slices.Compact(cuts)
}

// fitResult is what checkFit measured.
type fitResult struct {
	n                      int
	chi2                   float64
	df                     int
	p                      float64
	mean, meanSE           float64
	variance, want, varTol float64
	minSample, maxSample   int64
}

func (r fitResult) String() string {
	return fmt.Sprintf("n=%d χ²=%.1f df=%d p=%.3f mean=%+.4f (±%.4f) var=%.4f want %.4f (±%.4f) range [%d, %d]",
		r.n, r.chi2, r.df, r.p, r.mean, r.meanSE, r.variance, r.want, r.varTol, r.minSample, r.maxSample)
}

// checkFit compares samples with d: a chi-square test over the bins
// (−∞, cuts[0]], (cuts[0], cuts[1]], …, (cuts[last], ∞) that must not be
// rejected at p = 0.001, and mean and variance within 5 standard errors
// of 0 and 2α/(1−α)².
func checkFit(t *testing.T, samples []int64, d dl, cuts []int64) fitResult {
	t.Helper()
	n := len(samples)
	counts := make([]float64, len(cuts)+1)
	var sum, sumSq float64
	r := fitResult{n: n, minSample: math.MaxInt64, maxSample: math.MinInt64}
	for _, x := range samples {
		i, _ := slices.BinarySearch(cuts, x) // first cut ≥ x: x is in (cuts[i−1], cuts[i]]
		counts[i]++
		f := float64(x)
		sum += f
		sumSq += f * f
		r.minSample, r.maxSample = min(r.minSample, x), max(r.maxSample, x)
	}
	exp := make([]float64, len(counts))
	prev := 0.0
	for i, c := range cuts {
		p := d.cdf(c)
		exp[i] = (p - prev) * float64(n)
		prev = p
	}
	exp[len(cuts)] = (1 - prev) * float64(n)
	r.chi2, r.p = chiSquare(counts, exp)
	r.df = len(counts) - 1

	N := float64(n)
	r.mean = sum / N
	r.variance = (sumSq - sum*sum/N) / (N - 1)
	r.want = d.variance()
	r.meanSE = math.Sqrt(r.want / N)
	r.varTol = 5 * math.Sqrt((d.fourthMoment()-r.want*r.want)/N)
	t.Logf("%s: %v", t.Name(), r)
	if r.p < 0.001 {
		t.Errorf("chi-square rejects the discrete Laplace fit: χ² = %.1f with %d df, p = %.2g", r.chi2, r.df, r.p)
	}
	if math.Abs(r.mean) > 5*r.meanSE {
		t.Errorf("mean %.4f, want 0 ± %.4f", r.mean, 5*r.meanSE)
	}
	if math.Abs(r.variance-r.want) > r.varTol {
		t.Errorf("variance %.4f, want %.4f ± %.4f", r.variance, r.want, r.varTol)
	}
	return r
}

// TestNoise_Statistics checks Keyring.Noise against the closed-form pmf
// (docs/PRIVACY.md, "The attack suite", attack 17), one fresh cell per sample, for the ε and Δ
// Crowd uses.
func TestNoise_Statistics(t *testing.T) {
	k := memKeyring(map[uint32][]byte{1: testKey})
	n := sampleCount()
	for _, c := range []struct{ epsNum, epsDen, delta uint64 }{
		{1, 2, 1}, {1, 1, 1}, {1, 2, 5}, {1, 1, 5},
	} {
		t.Run(fmt.Sprintf("ε=%d/%d,Δ=%d", c.epsNum, c.epsDen, c.delta), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			samples := make([]int64, n)
			cell := testCell()
			cell.Metric = fmt.Sprintf("stat-%d-%d-%d", c.epsNum, c.epsDen, c.delta)
			for i := range samples {
				cell.Subject = fmt.Sprintf("video:%d", i)
				samples[i] = MustNoise(t, k, 1, cell, c.epsNum, c.epsDen, c.delta)
			}
			d := dl{t: float64(c.delta*c.epsDen) / float64(c.epsNum)}
			checkFit(t, samples, d, d.unitCuts(n))
			t.Logf("%v per sample", time.Since(start)/time.Duration(n))
		})
	}
}

// TestDiscreteLaplace_Scales checks the sampler on one long stream at
// scales Noise never sees in production: fractional, tiny and huge.
func TestDiscreteLaplace_Scales(t *testing.T) {
	n := sampleCount()
	for _, c := range []struct {
		num, den uint64
		quantile bool
	}{
		{7, 3, false},
		{1, 3, false},
		{14, 6, false}, // 7/3 again, unreduced
		{1000, 1, false},
		{MaxScale, 1, true},
		{1<<64 - 1, 1 << 20, true},
	} {
		t.Run(fmt.Sprintf("t=%d/%d", c.num, c.den), func(t *testing.T) {
			t.Parallel()
			s := testStream(t, fmt.Sprintf("scale-%d-%d", c.num, c.den))
			samples := make([]int64, n)
			for i := range samples {
				samples[i] = DiscreteLaplace(s, c.num, c.den)
			}
			d := dl{t: float64(c.num) / float64(c.den)}
			cuts := d.unitCuts(n)
			if c.quantile {
				cuts = d.quantileCuts(50)
			}
			checkFit(t, samples, d, cuts)
		})
	}
}

func TestDiscreteLaplace_Reduced(t *testing.T) {
	// Equal scales consume the stream alike.
	a, b := testStream(t, "reduced"), testStream(t, "reduced")
	for i := range 1000 {
		if x, y := DiscreteLaplace(a, 7, 3), DiscreteLaplace(b, 700, 300); x != y {
			t.Fatalf("sample %d: scale 7/3 gives %d, 700/300 gives %d", i, x, y)
		}
	}
}

func TestNoise_EquivalentParameters(t *testing.T) {
	// Equal scales Δ/ε give a cell equal noise, however spelt.
	k := memKeyring(map[uint32][]byte{1: testKey})
	for i := range 200 {
		cell := testCell()
		cell.Subject = fmt.Sprintf("video:%d", i)
		a := MustNoise(t, k, 1, cell, 1, 2, 1)
		for _, p := range [][3]uint64{{2, 4, 1}, {1, 1, 2}, {5, 5, 2}, {3, 2, 3}} {
			if b := MustNoise(t, k, 1, cell, p[0], p[1], p[2]); b != a {
				t.Fatalf("cell %d: ε=%d/%d Δ=%d gives %d, ε=1/2 Δ=1 gives %d", i, p[0], p[1], p[2], b, a)
			}
		}
	}
}

func TestScale(t *testing.T) {
	const max64 = 1<<64 - 1
	tests := []struct {
		epsNum, epsDen, sens uint64
		num, den             uint64
		ok                   bool
	}{
		{1, 2, 1, 2, 1, true},
		{2, 4, 1, 2, 1, true},
		{3, 20, 5, 100, 3, true},
		{1, 20, 14400, 288000, 1, true},
		{1, 1, MaxScale, MaxScale, 1, true},
		{1, 1, MaxScale + 1, 0, 0, false},
		{3, 1, 3*MaxScale - 1, 3*MaxScale - 1, 3, true},
		{3, 1, 3*MaxScale + 1, 0, 0, false},
		{3, 1, 3*MaxScale + 3, 0, 0, false},
		{max64, max64, max64, 0, 0, false},
		{max64, 1, max64, 1, 1, true},                 // cancels before multiplying
		{max64 - 1, max64, 2, max64, max64 / 2, true}, // a scale near 2 with 64-bit terms
		{1000, 1, 1, 1, 1000, true},
		{max64, 1, 1, 1, max64, true},
		{0, 1, 1, 0, 0, false},
		{1, 0, 1, 0, 0, false},
		{1, 1, 0, 0, 0, false},
	}
	for _, tt := range tests {
		num, den, err := Scale(tt.epsNum, tt.epsDen, tt.sens)
		if (err == nil) != tt.ok || tt.ok && (num != tt.num || den != tt.den) {
			t.Errorf("Scale(%d, %d, %d) = %d/%d, %v; want %d/%d ok=%v", tt.epsNum, tt.epsDen, tt.sens, num, den, err, tt.num, tt.den, tt.ok)
		}
	}
}

func TestDiscreteLaplace_Extremes(t *testing.T) {
	s := testStream(t, "extremes")
	// Tiny scale: almost always 0, never a panic.
	for range 1000 {
		if x := DiscreteLaplace(s, 1, 1<<64-1); x != 0 {
			t.Fatalf("scale 2^-64 gave %d", x)
		}
	}
	// Huge scale: capped at MaxNoise, both signs.
	var pos, neg int
	for range 1000 {
		x := DiscreteLaplace(s, 1<<64-1, 1)
		if x > MaxNoise || x < -MaxNoise {
			t.Fatalf("scale 2^64 gave %d, beyond MaxNoise", x)
		}
		if x > 0 {
			pos++
		} else if x < 0 {
			neg++
		}
	}
	if pos < 400 || neg < 400 {
		t.Fatalf("scale 2^64: %d positive, %d negative of 1000", pos, neg)
	}
	for _, args := range [][2]uint64{{0, 1}, {1, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DiscreteLaplace(%d, %d) did not panic", args[0], args[1])
				}
			}()
			DiscreteLaplace(s, args[0], args[1])
		}()
	}
}

func FuzzDiscreteLaplace(f *testing.F) {
	f.Add(uint64(1), uint64(1), "a")
	f.Add(uint64(1<<64-1), uint64(1), "b")
	f.Add(uint64(1), uint64(1<<64-1), "c")
	f.Add(uint64(1<<63), uint64(3), "d")
	k := memKeyring(map[uint32][]byte{1: testKey})
	f.Fuzz(func(t *testing.T, num, den uint64, subject string) {
		if num == 0 || den == 0 {
			return
		}
		cell := testCell()
		cell.Subject = "video:" + subject + "x"
		a := DiscreteLaplace(MustStream(t, k, 1, cell), num, den)
		b := DiscreteLaplace(MustStream(t, k, 1, cell), num, den)
		if a != b {
			t.Fatalf("not deterministic: %d then %d", a, b)
		}
		if a > MaxNoise || a < -MaxNoise {
			t.Fatalf("%d beyond MaxNoise", a)
		}
	})
}

// TestDiscreteLaplace_Support checks Mironov's concern directly
// (docs/PRIVACY.md, "The attack suite", attack 13): outputs of count c and c+1 have the same
// support. With integer noise that support is every integer in range; here
// the outputs for c = 10 and 11 at ε = 1 must both cover the interval
// where either has mass above 10^-3.
func TestDiscreteLaplace_Support(t *testing.T) {
	k := memKeyring(map[uint32][]byte{1: testKey})
	var seen [2]map[int64]bool
	for w := range 2 {
		seen[w] = map[int64]bool{}
		for i := range 20_000 {
			cell := testCell()
			cell.Subject = fmt.Sprintf("video:support-%d-%d", w, i)
			seen[w][10+int64(w)+MustNoise(t, k, 1, cell, 1, 1, 1)] = true
		}
	}
	for x := int64(5); x <= 16; x++ {
		if !seen[0][x] || !seen[1][x] {
			t.Errorf("output %d: seen for c=10 %v, for c=11 %v", x, seen[0][x], seen[1][x])
		}
	}
}

// chiSquare returns Pearson's statistic of observed against expected
// counts and its p-value with len−1 degrees of freedom.
func chiSquare(observed, expected []float64) (stat, p float64) {
	for i := range observed {
		d := observed[i] - expected[i]
		stat += d * d / expected[i]
	}
	return stat, gammaQ(float64(len(observed)-1)/2, stat/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x): a
// series for x < a+1, Lentz's continued fraction otherwise (Numerical
// Recipes §6.2).
func gammaQ(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		term, sum := 1/a, 1/a
		for n := 1.0; n < 10000; n++ {
			term *= x / (a + n)
			sum += term
			if term < sum*1e-16 {
				break
			}
		}
		return 1 - sum*front
	}
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1.0; i < 10000; i++ {
		an := -i * (i - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return front * h
}

func TestGammaQ(t *testing.T) {
	// Known chi-square critical values.
	for _, c := range []struct {
		stat float64
		df   int
		p    float64
	}{
		{3.841, 1, 0.05}, {10.828, 1, 0.001}, {18.307, 10, 0.05}, {29.588, 10, 0.001}, {124.342, 100, 0.05}, {0, 5, 1},
	} {
		if got := gammaQ(float64(c.df)/2, c.stat/2); math.Abs(got-c.p) > 1e-4 {
			t.Errorf("p(χ²=%v, df=%d) = %.5f, want %.4f", c.stat, c.df, got, c.p)
		}
	}
}
