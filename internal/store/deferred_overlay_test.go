package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// deferredSample encodes two creators' rows in every section.
func deferredSample() []byte {
	b := AppendDeferredStart(nil)
	m := [NumMeasures]int64{MeasureViews: 3, MeasureViewers: 2, MeasureFollowersLost: -1}
	b = AppendDeferredCount(b, 2)
	b = AppendDeferredCounters(b, "c1", 480_000, &m)
	b = AppendDeferredCounters(b, "c2", 480_001, &m)
	b = AppendDeferredCount(b, 3)
	b = AppendDeferredCounters(b, "c1", 20_000, &m)
	b = AppendDeferredCounters(b, "c1", 20_001, &m)
	b = AppendDeferredCounters(b, "c2", -3, &m)
	packed := AppendAudience(nil, []AudienceCount{{Dim: AudienceCountry, Bucket: "DE", Views: 4, Viewers: 2}})
	b = AppendDeferredCount(b, 1)
	b = AppendDeferredAudience(b, "c2", 20_000, packed)
	b = AppendDeferredCount(b, 1)
	return AppendDeferredAudience(b, "c1", 24_311, packed)
}

// deferredDump returns the rows decodeDeferred gives, one line each.
func deferredDump(r *DeferredRow) string {
	return fmt.Sprintf("%d %s %d %v %x", r.Section, r.ID, r.Period, r.M, r.Packed)
}

// TestIndexDeferred: a creator's rows read through the index are those
// of the encoding, section by section, and a truncated or altered
// encoding fails to index without a panic.
func TestIndexDeferred(t *testing.T) {
	b := deferredSample()
	checkIndex(t, b)
	for n := range len(b) {
		if _, err := indexDeferred(b[:n]); err == nil {
			t.Fatalf("the first %d of %d bytes indexed", n, len(b))
		}
	}
	if _, err := indexDeferred(append(slices.Clone(b), 0)); err == nil {
		t.Fatal("a byte after the rows indexed")
	}
	// c1's days, c2's, c1's again: not in key order, so c1's span would
	// hold c2's day.
	m := [NumMeasures]int64{MeasureViews: 1}
	b = AppendDeferredCount(AppendDeferredStart(nil), 0)
	b = AppendDeferredCount(b, 3)
	for _, c := range []string{"c1", "c2", "c1"} {
		b = AppendDeferredCounters(b, c, 20_000, &m)
	}
	b = AppendDeferredCount(AppendDeferredCount(b, 0), 0)
	if err := decodeDeferred(b, func(*DeferredRow) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := indexDeferred(b); err == nil {
		t.Fatal("a creator's rows apart indexed")
	}
	if err := MergeDeferred([][]byte{b}, func(*DeferredRow) {}); err == nil {
		t.Fatal("rows out of key order merged")
	}
}

// checkIndex fails t unless b indexes and each creator's rows read
// through the index are the rows of the encoding, in order.
func checkIndex(t *testing.T, b []byte) {
	t.Helper()
	want := map[string][]string{} // by creator and section
	var creators []string
	if err := decodeDeferred(b, func(r *DeferredRow) {
		k := fmt.Sprintf("%s/%d", r.ID, r.Section)
		if want[k] == nil && !slices.Contains(creators, string(r.ID)) {
			creators = append(creators, string(r.ID))
		}
		want[k] = append(want[k], deferredDump(r))
	}); err != nil {
		t.Fatal(err)
	}
	db, err := indexDeferred(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creators {
		for s := range numDeferredSections {
			var got []string
			if err := db.rows(c, s, func(r *DeferredRow) { got = append(got, deferredDump(r)) }); err != nil {
				t.Fatal(err)
			}
			if k := fmt.Sprintf("%s/%d", c, s); strings.Join(got, "\n") != strings.Join(want[k], "\n") {
				t.Fatalf("%s through the index:\n%s\nwant:\n%s", k, strings.Join(got, "\n"), strings.Join(want[k], "\n"))
			}
		}
	}
}

// FuzzIndexDeferred: no input panics the index or the decoder, and what
// indexes reads back through the index as it decodes.
func FuzzIndexDeferred(f *testing.F) {
	f.Add(deferredSample())
	f.Add(append(AppendDeferredStart(nil), 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := indexDeferred(b); err == nil {
			checkIndex(t, b)
		}
	})
}

// TestDeferredCache_LetsGo: a deferred batch is indexed once its
// transaction commits, and let go of once the transaction that takes it
// back commits, without a read (a server ingesting with nobody reading
// creators would otherwise hold every batch it ever deferred); an index
// finished after that is not kept.
func TestDeferredCache_LetsGo(t *testing.T) {
	defer func(f func(func())) { indexAsync = f }(indexAsync)
	var late []func()
	indexAsync = func(fn func()) { late = append(late, fn) }
	ctx := t.Context()
	s, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := func(fn func(*RollupTx) error) {
		t.Helper()
		rtx, err := s.BeginRollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer rtx.Rollback()
		if err := fn(rtx); err != nil {
			t.Fatal(err)
		}
		if err := rtx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		tx(func(rtx *RollupTx) error { return rtx.DeferCreatorRows(ctx, 1, 5, deferredSample()) })
	}
	late[0]()
	if n := s.deferred.len(); n != 1 {
		t.Fatalf("%d batches indexed after one commit's index ran, want 1", n)
	}
	tx(func(rtx *RollupTx) error { return rtx.TakeDeferredCreatorRows(ctx, nil) })
	if n := s.deferred.len(); n != 0 {
		t.Fatalf("%d batches indexed after they were taken back, want 0", n)
	}
	late[1]() // the second commit's index, finishing late
	if n := s.deferred.len(); n != 0 {
		t.Fatalf("%d batches indexed after a late index of one taken back, want 0", n)
	}
}
