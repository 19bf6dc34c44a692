// Package noise draws the differential-privacy noise of released cells:
// exact discrete-Laplace samples that are a deterministic function of a
// secret key and the cell's canonical key, computed with integers only.
//
// # Construction
//
// A cell (subject × metric × bucket × period; see CellKey) gets its noise
// in five steps, each exact:
//
//  1. CellKey.Canonical encodes the cell as versioned, length-prefixed
//     bytes, so that no two distinct cells share an encoding.
//  2. The seed is HMAC-SHA256(key[kid], canonical), where key[kid] is one of
//     the numbered 32-byte keys of a Keyring.
//  3. The seed keys AES-256 in counter mode with a zero IV; the keystream is
//     the Stream of random bits, read as big-endian 64-bit words. The seed
//     is used for this one stream only, so the fixed IV is safe.
//  4. Stream.Uniform draws integers in {0..n−1} by rejection (Lemire's
//     multiply-and-reject, no modulo bias); Stream.Bernoulli(num, den) is
//     Uniform(den) < num; Bernoulli(exp(−γ)) for rational γ follows von
//     Neumann's alternating-series method, as the paper of step 5 gives
//     it: for γ ≤ 1, draw Bernoulli(γ/k) for k = 1, 2, … until one fails
//     and accept if that k is odd; for γ > 1, one Bernoulli(exp(−1)) per
//     whole unit of γ, then Bernoulli(exp(−(γ − ⌊γ⌋))).
//  5. DiscreteLaplace is Algorithm 2 of Canonne, Kamath & Steinke, "The
//     Discrete Gaussian for Differential Privacy" (NeurIPS 2020): a
//     geometric magnitude drawn as U + t·V with U uniform and accepted
//     with probability exp(−U/t), V counting Bernoulli(exp(−1)) successes,
//     divided by s; a random sign; and "negative zero" rejected so that 0
//     is not counted twice. With scale t/s it samples exactly
//     P[X = x] ∝ exp(−|x|·s/t).
//
// Adding DiscreteLaplace noise of scale Δ/ε to an integer count whose
// sensitivity (L1, after contribution bounding) is Δ is ε-differentially
// private. Keyring.Noise does this with ε given as the rational
// epsNum/epsDen, so the scale is sensitivity·epsDen/epsNum, reduced.
//
// # Why no floating point
//
// Mironov ("On Significance of the Least Significant Bits for
// Differential Privacy", CCS 2012) showed that textbook Laplace noise
// computed in floating point is porous: which doubles can come out of
// f(D) + noise depends on f(D), so a few outputs tell f(D) = c from c+1
// and the guarantee is void. Later precision attacks (Haney et al. 2022)
// broke libraries that had tried to patch around it. Integers have no
// such holes: an integer count plus integer noise can be any integer,
// whatever the count, with exactly the discrete-Laplace probabilities.
// Integer arithmetic is also the same on every platform and Go version,
// which is what lets golden vectors pin the noise of a cell forever
// (libm and fused multiply-add differ between machines). A test parses
// this package's non-test sources and fails on any float type, float
// literal or import of math.
//
// # Consistency and rotation
//
// The same kid and cell always give the same noise, so a cell repeated,
// exported or summed into a window adds nothing an attacker can average.
// Callers compute a cell's noise once, when the cell is published, and
// store the kid with the noisy value; every answer reads the stored cell.
// Keyring.Rotate makes a new key current for new cells only: re-deriving
// an old cell under a new key would be a fresh draw, and two draws of one
// cell can be averaged. Old keys stay in the keyring so that published
// cells can be audited.
//
// The sampler's running time depends on the noise (it rejects and
// retries), which is another reason to compute at release time and serve
// from storage: request latency then reveals nothing.
//
// # Bounds
//
// Every loop is bounded and every result fits an int64. A scale t/s is
// reduced to lowest terms; Keyring.Noise refuses scales above MaxScale.
// DiscreteLaplace caps |noise| at MaxNoise, retries at most 2048 times,
// counts at most 2048 Bernoulli(exp(−1)) successes, and stops the
// alternating series after 64 terms. For scales up to MaxScale the caps
// together move the output distribution by less than 2^−280 in total
// variation (mostly the series cap, at most 1/63! per series), far below
// any δ that matters; they exist so that no input can make the sampler
// spin or overflow.
//
// # Keys
//
// A Keyring lives in its own directory, apart from the database (the
// server passes <data>/secrets), in the file noise.keys: mode 0600 in a
// directory of mode 0700, replaced atomically on every change. Whoever
// holds the keys can subtract the noise from every published cell, so
// they are treated like a signing key: a Keyring prints as "[redacted]"
// through fmt and log/slog, and no error carries key material. Back the
// file up with the database: losing it does not change published cells,
// but they can no longer be audited.
package noise
