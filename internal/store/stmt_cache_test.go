package store

import (
	"context"
	"slices"
	"testing"
)

// TestStmtCache_KeptAcrossTransactions: on SQLite a rollup transaction
// compiles a statement the cache does not hold, and the cache keeps it for
// the next transactions, which compile nothing; beyond its bound it drops
// the least recently used, and a dropped statement is compiled again. The
// rows written through kept statements add up as through fresh ones.
func TestStmtCache_KeptAcrossTransactions(t *testing.T) {
	s, err := Open(t.Context(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	compiles := func() int64 { return s.stmts.compiles.Load() }
	write := func(n int) {
		t.Helper()
		if err := addDayRows(ctx, s, dayRows(n, 1)); err != nil {
			t.Fatal(err)
		}
	}

	write(3)
	first := compiles()
	if first == 0 {
		t.Fatal("the first transaction compiled nothing")
	}
	for range 5 {
		write(3)
	}
	if got := compiles(); got != first {
		t.Fatalf("five more transactions of the same statement compiled %d statements, want none", got-first)
	}
	if rows, views := videoDayViews(t, s); rows != 3 || views != 18 {
		t.Fatalf("video_day holds %d rows, %d views; want 3 rows, 18 views", rows, views)
	}

	// A bound that holds two of three statements of different lengths:
	// they evict each other in turn, and one evicted is compiled again.
	run := func(q string) {
		t.Helper()
		tx, err := s.BeginRollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		rows, err := tx.query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	q1, q2, q3 := "SELECT 1", "SELECT 1, 2", "SELECT 1, 2, 3"
	s.stmts.close()
	s.stmts = newStmtCache(s.write, len(q2)+len(q3))
	run(q1)
	run(q2)
	run(q3) // drops q1, the least recently used
	if n := s.stmts.lru.Len(); n != 2 {
		t.Fatalf("the cache keeps %d statements, want 2 within its bound", n)
	}
	before := compiles()
	run(q1) // drops q2
	if compiles() == before {
		t.Fatal("a statement dropped from a full cache was not compiled again")
	}
	before = compiles()
	run(q3)
	run(q1)
	if got := compiles(); got != before {
		t.Fatalf("kept statements were compiled again (%d compiles)", got-before)
	}
}

// TestRollupChunks: on SQLite a statement's rows come in at most nine
// sizes (whole chunks, then powers of two), on PostgreSQL whole chunks and
// the rest; every row is in exactly one chunk, in order.
func TestRollupChunks(t *testing.T) {
	for _, tc := range []struct {
		d    Dialect
		n    int
		want []int
	}{
		{SQLite, 0, nil},
		{SQLite, 1, []int{1}},
		{SQLite, 3, []int{2, 1}},
		{SQLite, 199, []int{128, 64, 4, 2, 1}},
		{SQLite, 200, []int{200}},
		{SQLite, 401, []int{200, 200, 1}},
		{Postgres, 199, []int{199}},
		{Postgres, 401, []int{200, 200, 1}},
	} {
		s := make([]int, tc.n)
		for i := range s {
			s[i] = i
		}
		var sizes, all []int
		for c := range rollupChunks(tc.d, s) {
			sizes = append(sizes, len(c))
			all = append(all, c...)
		}
		if !slices.Equal(sizes, tc.want) || !slices.Equal(all, s) {
			t.Errorf("%v, %d rows: chunks of %v (rows in order: %t), want %v", tc.d, tc.n, sizes, slices.Equal(all, s), tc.want)
		}
	}
}

// TestStmtCache_ClosedStore: statements noted while the store closes are
// not kept, and nothing panics.
func TestStmtCache_ClosedStore(t *testing.T) {
	s, err := Open(t.Context(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.stmts.get("SELECT 1")
	s.Close()
	s.stmts.prepareWanted(context.Background())
	if n := s.stmts.lru.Len(); n != 0 {
		t.Fatalf("a closed store's cache keeps %d statements", n)
	}
}
