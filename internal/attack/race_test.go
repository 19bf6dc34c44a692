//go:build race

package attack

// raceEnabled is true under the race detector, which makes the SQLite
// engine (pure Go) about ten times slower: the end-to-end attacks run a
// tenth of their trials then.
const raceEnabled = true
