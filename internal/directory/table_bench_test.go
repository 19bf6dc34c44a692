package directory

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTableGet measures one lookup among a million accounts, ids in
// random order: in the table (a slot and the id's bytes: two cache misses),
// and for comparison in a Go map of the same ids.
func BenchmarkTableGet(b *testing.B) {
	perm := rand.New(rand.NewPCG(3, 4)).Perm(benchAccounts)
	ids := make([]string, benchAccounts)
	for i, p := range perm {
		ids[i] = benchID(p)
	}
	b.Run("table", func(b *testing.B) {
		t := newTable(benchAccounts)
		for i := range benchAccounts {
			put(t, benchID(i), "1990-01-01", "female", "DE")
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
	})
	b.Run("map", func(b *testing.B) {
		m := make(map[string]int32, benchAccounts)
		for i := range benchAccounts {
			m[benchID(i)] = int32(i)
		}
		i := 0
		for b.Loop() {
			if _, ok := m[ids[i]]; !ok {
				b.Fatal("missing")
			}
			if i++; i == len(ids) {
				i = 0
			}
		}
	})
}
