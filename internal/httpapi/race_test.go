//go:build race

package httpapi

// raceEnabled is true under the race detector, whose sync.Pool drops a
// share of what is put back on purpose: tests of reuse skip then.
const raceEnabled = true
