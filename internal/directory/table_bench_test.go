package directory

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTableGet measures one lookup in a table of a million accounts,
// ids in random order: about three cache misses (slot, record, id bytes).
func BenchmarkTableGet(b *testing.B) {
	t := newTable(benchAccounts)
	for i := range benchAccounts {
		put(t, benchID(i), "1990-01-01", "female", "DE")
	}
	perm := rand.New(rand.NewPCG(3, 4)).Perm(benchAccounts)
	ids := make([]string, benchAccounts)
	for i, p := range perm {
		ids[i] = benchID(p)
	}
	i := 0
	for b.Loop() {
		if _, ok := t.get(ids[i]); !ok {
			b.Fatal("missing")
		}
		if i++; i == len(ids) {
			i = 0
		}
	}
}
