// Package attack is Crowd's privacy attack suite (docs/PRIVACY.md, "The
// attack suite"; the attacks are numbered as in its table "The attacks,
// numbered").
// It has no non-test code: its tests mount attacks on the protected
// release path (internal/disclosure and internal/noise) and check that
// each one learns no more than the configured ε allows, and that canary
// builds with deliberately broken settings are caught.
//
// Two harnesses. The direct one (below) releases cells with the real
// release arithmetic: fast, seeded, 20,000 trials per world. The
// end-to-end one (e2e_test.go, TestE2E_*) starts the real application
// in-process (app.Main: SQLite, the embedded event log, aggregation,
// release) on a fresh data dir and talks to it only over HTTP: accounts and
// videos through POST /v1/sync/*, engagement through POST /v1/events, the
// attacker reading GET /v1/analytics/videos/{id} as the video's creator or
// co-creator. It also checks that every released cell minus its keyed noise
// is exactly what the contribution bounds allow, so a leak anywhere on the
// path (ingest, pseudonyms, log, aggregation, release, report) shows up.
// It runs 2,000 trials per world, a tenth of that under -race or -short,
// 5× with CROWD_ATTACK_LONG=1.
//
// Run it with
//
//	go test -race ./internal/attack/
//
// Add -args -long (or set CROWD_ATTACK_LONG=1) for 10× the trials, and set
// CROWD_ATTACK_REPORT=path to write the results as a markdown table.
// CROWD_ATTACK_SEED (an integer) changes the seed the per-trial noise keys
// are derived from; by default it is fixed, so runs are reproducible.
//
// # Harness
//
// Two worlds W0 and W1 differ by one privacy unit (one friend's share, or
// one viewer-day), everything else known to the attacker. Each trial takes
// a fresh 32-byte noise key, releases the cells the attack reads with the
// real cell-noise function (noise.Keyring.Noise on the cell's canonical
// key, with the policy's ε and sensitivity: what disclosure.Layer stores),
// and the attacker guesses the world. TestHarness_MatchesLayerRelease
// checks on a real store that a cell stored by the Layer is exactly truth
// plus that noise.
//
// From TPR and FPR over N trials per world, with 95% Clopper–Pearson
// bounds (exact: beta quantiles by bisection on the regularized incomplete
// beta function), the empirical lower bound is
//
//	ε̂_lb = max(ln(TPR_lo / FPR_hi), ln((1 − FPR_hi) / (1 − TPR_lo)))
//
// (δ = 0: the mechanism is pure ε-DP). An attack passes if ε̂_lb ≤ ε and
// its accuracy ≤ e^ε/(1+e^ε) + 0.01.
package attack
