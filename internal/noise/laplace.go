package noise

import (
	"errors"
	"fmt"
	"math/bits"
)

const (
	// MaxScale is the largest scale Δ/ε that Scale and Keyring.Noise
	// accept: 2^40, about 1.1·10^12. Noise that large drowns any count
	// Crowd releases, so a larger scale is a misconfiguration (an ε near
	// zero or a sensitivity in the trillions), not a privacy choice.
	MaxScale = 1 << 40

	// MaxNoise bounds |DiscreteLaplace| at 2^62, so that a count below
	// 2^62 plus noise cannot overflow an int64. At MaxScale a draw reaches
	// it with probability about exp(−2^22): never.
	MaxNoise = 1 << 62

	// maxRounds bounds DiscreteLaplace's rejection loop. A round succeeds
	// with probability at least (1−1/e)/2 > 0.31, so all rounds fail with
	// probability below 0.69^2048 < 2^−1090.
	maxRounds = 2048
	// maxGeometric bounds the count of Bernoulli(exp(−1)) successes; it
	// is reached with probability exp(−2048).
	maxGeometric = 2048
	// maxSeriesTerms bounds the alternating series of bernoulliExpFrac; it
	// is reached with probability at most 1/63! < 2^−290.
	maxSeriesTerms = 64
)

// Scale returns the discrete-Laplace scale sensitivity/ε for ε =
// epsNum/epsDen, as the reduced fraction num/den =
// sensitivity·epsDen/epsNum. Equal scales give equal fractions, so two
// spellings of one ε (1/2 and 2/4) give a cell the same noise. It fails
// if an argument is 0 or the scale exceeds MaxScale.
func Scale(epsNum, epsDen, sensitivity uint64) (num, den uint64, err error) {
	if epsNum == 0 || epsDen == 0 {
		return 0, 0, fmt.Errorf("epsilon %d/%d must be positive", epsNum, epsDen)
	}
	if sensitivity == 0 {
		return 0, 0, errors.New("sensitivity must be positive")
	}
	// Cancel common factors before multiplying, so that a product that
	// would overflow but reduces to a small scale still works.
	g := gcd(sensitivity, epsNum)
	sensitivity, den = sensitivity/g, epsNum/g
	g = gcd(epsDen, den)
	epsDen, den = epsDen/g, den/g
	hi, num := bits.Mul64(sensitivity, epsDen)
	// num/den > MaxScale ⇔ num > MaxScale·den; MaxScale·den < 2^104.
	mhi, mlo := bits.Mul64(MaxScale, den)
	if hi > mhi || hi == mhi && num > mlo {
		return 0, 0, fmt.Errorf("scale %d·%d/%d exceeds %d: epsilon too small or sensitivity too large", sensitivity, epsDen, den, uint64(MaxScale))
	}
	return num, den, nil
}

// DiscreteLaplace returns a sample of the discrete Laplace distribution of
// scale t = scaleNum/scaleDen, P[X = x] ∝ exp(−|x|·scaleDen/scaleNum), drawn
// from r with integer arithmetic only (Canonne, Kamath & Steinke 2020,
// Algorithm 2). The fraction is reduced first, so equal scales consume r
// alike and give equal samples. |X| is capped at MaxNoise (see the package
// documentation for the other caps). It panics if scaleNum or scaleDen is
// 0.
//
// Its running time depends on the sample; compute noise ahead of time and
// serve it from storage.
func DiscreteLaplace(r *Stream, scaleNum, scaleDen uint64) int64 {
	if scaleNum == 0 || scaleDen == 0 {
		panic("noise: DiscreteLaplace with a zero in the scale")
	}
	g := gcd(scaleNum, scaleDen)
	t, s := scaleNum/g, scaleDen/g
	for range maxRounds {
		// A geometric magnitude in units of 1/t: X = U + t·V is geometric
		// with P[X = x] ∝ exp(−x/t). U is uniform in [0, t), kept with
		// probability exp(−U/t); V counts Bernoulli(exp(−1)) successes.
		u := r.Uniform(t)
		if !bernoulliExpFrac(r, u, t) {
			continue
		}
		var v uint64
		for v < maxGeometric && bernoulliExpFrac(r, 1, 1) {
			v++
		}
		// Y = ⌊X/s⌋ is geometric with P[Y = y] ∝ exp(−y·s/t). X can
		// exceed 64 bits for huge t, so compute in 128.
		hi, lo := bits.Mul64(t, v)
		lo, carry := bits.Add64(lo, u, 0)
		hi += carry
		y := uint64(MaxNoise)
		if hi < s { // else the quotient overflows 64 bits: cap it
			if q, _ := bits.Div64(hi, lo, s); q < MaxNoise {
				y = q
			}
		}
		// A random sign, rejecting −0 so that 0 is not drawn twice as
		// often as it should be.
		negative := r.Bernoulli(1, 2)
		if negative && y == 0 {
			continue
		}
		if negative {
			return -int64(y)
		}
		return int64(y)
	}
	return 0
}

// bernoulliExpFrac returns true with probability exp(−num/den) for
// 0 ≤ num ≤ den (γ = num/den in [0, 1]), by von Neumann's method: draw
// A_k ~ Bernoulli(γ/k) for k = 1, 2, … until one is 0, and return
// whether that k is odd. P[k > n] = γ^n/n!, so P[stop at odd k] is the
// alternating series 1 − γ + γ²/2! − … = exp(−γ). Bernoulli(γ/k) is drawn
// as Bernoulli(γ) and Bernoulli(1/k) together, which is exact and cannot
// overflow den·k.
func bernoulliExpFrac(r *Stream, num, den uint64) bool {
	k := uint64(1)
	for ; k < maxSeriesTerms; k++ {
		if !r.Bernoulli(num, den) || !r.Bernoulli(1, k) {
			break
		}
	}
	return k%2 == 1
}

// bernoulliExp returns true with probability exp(−num/den) for any
// rational γ = num/den ≥ 0: exp(−1) once for each whole unit of γ,
// stopping at the first failure, then exp(−(γ − ⌊γ⌋)). It panics if den
// is 0.
func bernoulliExp(r *Stream, num, den uint64) bool {
	if den == 0 {
		panic("noise: bernoulliExp with denominator 0")
	}
	for range num / den {
		if !bernoulliExpFrac(r, 1, 1) {
			return false
		}
	}
	return bernoulliExpFrac(r, num%den, den)
}

// gcd returns the greatest common divisor of a and b (b if a is 0).
func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
