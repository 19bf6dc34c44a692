package attack

import (
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/disclosure"
)

// TestAttack14_Timing: released numbers are served from storage, so how long
// an answer takes must not depend on the value. Two worlds whose true counts
// differ by orders of magnitude are read many times, interleaved; a
// two-sample Kolmogorov–Smirnov test compares the latencies. It runs only in
// long mode: wall-clock measurements on a shared 2-core machine are too
// noisy for every CI run.
func TestAttack14_Timing(t *testing.T) {
	if !(*longFlag || os.Getenv("CROWD_ATTACK_LONG") == "1") {
		t.Skip("timing attack runs in long mode (-long or CROWD_ATTACK_LONG=1)")
	}
	ctx := t.Context()
	small := newWorld(t)
	big := newWorld(t)
	big.s.DB().Exec(`UPDATE video_day SET p_views = 4000000, viewers = 900000, sharers = 100000, savers = 80000`)
	scope := disclosure.Scope{VideoID: "v"}
	// Release first, so both measure reads of stored cells.
	small.l.Daily(ctx, scope, small.dayN(0), small.dayN(3))
	big.l.Daily(ctx, scope, big.dayN(0), big.dayN(3))
	const n = 2000
	var a, b []float64
	for i := 0; i < n; i++ {
		for _, w := range []*world{small, big} {
			start := time.Now()
			if _, err := w.l.Daily(ctx, scope, w.dayN(0), w.dayN(3)); err != nil {
				t.Fatal(err)
			}
			d := float64(time.Since(start))
			if w == small {
				a = append(a, d)
			} else {
				b = append(b, d)
			}
		}
	}
	p := ksPValue(a, b)
	if p < 0.01 {
		t.Fatalf("read latency depends on the value: KS p = %.4f", p)
	}
	recordCheck(t, "14 timing", "read latency of small vs huge true values indistinguishable (KS p = "+formatP(p)+")")
}

func formatP(p float64) string { return strconv.FormatFloat(p, 'f', 3, 64) }

// ksPValue is the asymptotic two-sample Kolmogorov–Smirnov p-value.
func ksPValue(a, b []float64) float64 {
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		if a[i] <= b[j] {
			i++
		} else {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	ne := float64(len(a)*len(b)) / float64(len(a)+len(b))
	lambda := (math.Sqrt(ne) + 0.12 + 0.11/math.Sqrt(ne)) * d
	// Q_KS(λ) = 2 Σ (−1)^{k−1} e^{−2k²λ²}
	var sum float64
	for k := 1; k <= 100; k++ {
		term := 2 * math.Pow(-1, float64(k-1)) * math.Exp(-2*float64(k*k)*lambda*lambda)
		sum += term
		if math.Abs(term) < 1e-10 {
			break
		}
	}
	return math.Min(math.Max(sum, 0), 1)
}
