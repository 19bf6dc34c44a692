package store

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkRowCost measures what one upserted row costs SQLite's writer,
// on a store's own connection (its page cache, WAL and settings): rows of
// 200-row statements into a WITHOUT ROWID table keyed like video_day
// (a video of 100,000 and a day of 30), by how many counter columns a row
// adds, whether it carries a packed value of 40 bytes, and whether its key
// is new or stored already. The evidence of docs/PERFORMANCE.md, "What a
// row costs the writer".
func BenchmarkRowCost(b *testing.B) {
	for _, c := range []struct {
		counters int
		packed   bool
	}{{1, false}, {7, false}, {13, false}, {13, true}, {7, true}, {0, true}} {
		for _, stored := range []bool{false, true} {
			b.Run(fmt.Sprintf("counters=%d/packed=%v/stored=%v", c.counters, c.packed, stored), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					s := openStore(b, Options{Dir: b.TempDir()})
					q := rowCostTable(b, s, c.counters, c.packed)
					keys := rowCostKeys(200_000)
					if stored {
						rowCostWrite(b, s, q, keys, c.counters, c.packed)
					}
					b.StartTimer()
					rowCostWrite(b, s, q, keys, c.counters, c.packed)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000/1000, "µs/row")
			})
		}
	}
}

// rowCostTable creates the table and returns its 200-row upsert.
func rowCostTable(b *testing.B, s *Store, counters int, packed bool) string {
	var defs, cols, set []string
	for i := range counters {
		defs = append(defs, fmt.Sprintf("c%d BIGINT NOT NULL DEFAULT 0", i))
		cols = append(cols, fmt.Sprintf("c%d", i))
		set = append(set, fmt.Sprintf("c%d = t.c%d + excluded.c%d", i, i, i))
	}
	if packed {
		defs = append(defs, "a BLOB")
		cols = append(cols, "a")
		set = append(set, "a = "+mergeFunction+"(t.a, excluded.a)")
	}
	if _, err := s.write.ExecContext(b.Context(), `CREATE TABLE t (id TEXT NOT NULL, day BIGINT NOT NULL, `+strings.Join(defs, ", ")+`, PRIMARY KEY (id, day)) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	return `INSERT INTO t (id, day, ` + strings.Join(cols, ", ") + `) VALUES ` + rowsOf(200, 2+len(cols)) +
		` ON CONFLICT (id, day) DO UPDATE SET ` + strings.Join(set, ", ")
}

// rowCostKeys returns n keys, each once, in 200-row statements' order.
func rowCostKeys(n int) [][2]any {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[[2]any]bool{}
	keys := make([][2]any, 0, n)
	for len(keys) < n {
		k := [2]any{fmt.Sprintf("v%07d", rng.IntN(100_000)), int64(20_000 + rng.IntN(30))}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// rowCostWrite upserts a row of every key in one transaction.
func rowCostWrite(b *testing.B, s *Store, q string, keys [][2]any, counters int, packed bool) {
	ctx := b.Context()
	value := AppendAudience(nil, []AudienceCount{{AudienceSource, "for_you", 1, 1}, {AudienceAge, "18-24", 1, 1}, {AudienceGender, "male", 1, 1}, {AudienceCountry, "DE", 1, 1}})
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, 200*(2+counters+1))
	for i := 0; i < len(keys); i += 200 {
		args = args[:0]
		for _, k := range keys[i : i+200] {
			args = append(args, k[0], k[1])
			for c := range counters {
				args = append(args, int64(c+1))
			}
			if packed {
				args = append(args, value)
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
