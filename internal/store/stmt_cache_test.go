package store

import (
	"context"
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

	// A bound of two: three statements (rows of 4, 5 and 6) in turn
	// keep evicting each other, and each is compiled again.
	s.stmts.close()
	s.stmts = newStmtCache(s.write, 2)
	for _, n := range []int{4, 5, 6} {
		write(n)
	}
	before := compiles()
	write(4) // evicted by 6
	if compiles() == before {
		t.Fatal("a statement dropped from a full cache was not compiled again")
	}
	before = compiles()
	write(6) // still kept
	if got := compiles(); got != before {
		t.Fatalf("a kept statement was compiled again (%d compiles)", got-before)
	}
	if rows, _ := videoDayViews(t, s); rows != 6 {
		t.Fatalf("video_day holds %d rows, want 6", rows)
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
