package directory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/store"
)

// benchAccounts is the realistic world's account count (crowd bench
// --world realistic): a million accounts with demographics.
const benchAccounts = 1_000_000

// benchID is the id of account i, as the realistic world names them
// (loadgen.AccountID).
func benchID(i int) string { return fmt.Sprintf("lg-acct-%05d", i) }

var (
	seedOnce sync.Once
	seedDir  string
	seedErr  error
)

// seededStore opens a SQLite store holding benchAccounts accounts with
// demographics. The database is built once per test binary (about 10 s)
// and shared; each caller gets its own handle.
func seededStore(b *testing.B) *store.Store {
	b.Helper()
	ctx := context.Background()
	seedOnce.Do(func() {
		if seedDir, seedErr = os.MkdirTemp("", "crowd-directory-bench-"); seedErr != nil {
			return
		}
		var s *store.Store
		if s, seedErr = store.Open(ctx, store.Options{Dir: seedDir}); seedErr != nil {
			return
		}
		defer s.Close()
		seedErr = seedAccounts(ctx, s, benchAccounts)
	})
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	s, err := store.Open(ctx, store.Options{Dir: seedDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// seedAccounts inserts n accounts with the realistic world's spread of
// demographics (birth dates over 56 years, 4 genders, 20 countries) in
// one transaction of multi-row statements.
func seedAccounts(ctx context.Context, s *store.Store, n int) error {
	genders := []string{"female", "male", "other", "undisclosed"}
	countries := []string{"US", "DE", "FR", "GB", "BR", "IN", "JP", "MX", "ES", "IT", "CA", "AU", "NL", "PL", "SE", "KR", "TR", "ID", "NG", "AR"}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	const rows = 500
	for i := 0; i < n; i += rows {
		m := min(rows, n-i)
		args := make([]any, 0, m*6)
		for j := i; j < i+m; j++ {
			args = append(args, benchID(j), fmt.Sprintf("lg_user%05d", j),
				now.AddDate(-(14+rng.IntN(56)), 0, -rng.IntN(360)).Format(time.DateOnly),
				genders[rng.IntN(len(genders))], countries[rng.IntN(len(countries))], now.UnixMicro())
		}
		q := `INSERT INTO accounts (id, handle, birth_date, gender, country, created_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", m), ", ")
		if _, err := tx.ExecContext(ctx, s.Rebind(q), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if seedDir != "" {
		os.RemoveAll(seedDir)
	}
	os.Exit(code)
}

// BenchmarkAccounts measures the directory lookups of bulk ingestion in
// the realistic world: batches of 1,000 account ids drawn from a million
// accounts, each batch of ids not looked up before (as in a bulk load
// where each account appears a few times among millions of events).
// "store" is a directory before its load: every id misses and is read from
// the database (as every lookup did before the accounts were held in
// memory, the cache then being too cold to help); "memory" is a loaded
// directory. ns/op is per batch; cpu-ns/lookup is the process's CPU time
// (GC and SQLite included) per id.
func BenchmarkAccounts(b *testing.B) {
	s := seededStore(b)
	perm := rand.New(rand.NewPCG(3, 4)).Perm(benchAccounts)
	ids := make([]string, benchAccounts)
	for i, p := range perm {
		ids[i] = benchID(p)
	}
	for _, loaded := range []bool{false, true} {
		name := "store"
		if loaded {
			name = "memory"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			d := New(s, Options{})
			defer d.Close()
			if loaded {
				if err := d.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			const batch = 1000
			b.ReportAllocs()
			next := 0
			cpu := cputime.Process()
			for b.Loop() {
				if next+batch > len(ids) {
					next = 0
				}
				got, err := d.Accounts(ctx, ids[next:next+batch])
				if err != nil || len(got) != batch {
					b.Fatalf("accounts: %d found, %v", len(got), err)
				}
				next += batch
			}
			cpu = cputime.Process() - cpu
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/lookup")
			}
		})
	}
}

// BenchmarkLoad measures loading a million accounts into a directory (at
// start, before /readyz says ready): CPU time per load, and the memory of
// the table, as the table counts it (table-bytes) and as the heap grew
// with it after a collection (heap-bytes), per account too.
func BenchmarkLoad(b *testing.B) {
	s := seededStore(b)
	ctx := b.Context()
	var d *Directory
	var heap uint64
	cpu := cputime.Process()
	for b.Loop() {
		d = nil
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d = New(s, Options{})
		if err := d.Load(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		d.Close()
		b.StartTimer()
	}
	cpu = cputime.Process() - cpu
	n, bytes, complete := d.Stats()
	if n != benchAccounts || !complete {
		b.Fatalf("loaded %d accounts, complete %v", n, complete)
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(bytes), "table-bytes")
	b.ReportMetric(float64(bytes)/float64(n), "table-bytes/account")
	b.ReportMetric(float64(heap), "heap-bytes")
	b.ReportMetric(float64(heap)/float64(n), "heap-bytes/account")
}
