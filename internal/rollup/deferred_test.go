package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// creatorTableNames are the tables of creatorTables.
var creatorTableNames = []string{"account_hour", "account_day", "account_audience_month"}

// trailing returns batch with its last message followed by pending
// messages in the log.
func trailing(batch []eventlog.Delivered, pending uint64) []eventlog.Delivered {
	batch = slices.Clone(batch)
	batch[len(batch)-1].Pending = pending
	return batch
}

// deferredBatches returns the batches whose creators' rows are deferred.
func deferredBatches(t *testing.T, s *store.Store) int {
	t.Helper()
	return rowCount(t, s, "creator_rows_deferred")
}

// counterValue returns c's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestDeferredCreatorRows: batches defer their creators' rows, which are
// then in no creator's table; a bound on what is deferred, or a flush (a
// start, the end of an import) writes them, and the creators' tables are
// then exactly those of the same batches each writing its own (the videos'
// tables too). Without deferAtHead, the batch that reaches the log's head
// writes them.
func TestDeferredCreatorRows(t *testing.T) {
	batches, open := creatorsWorld()
	tables := append([]string{"video_day", "video_totals"}, creatorTableNames...)
	direct, a := open(t)
	applyWriting(t, a, batches...)
	want := map[string]string{}
	for _, table := range tables {
		if want[table] = dumpTable(t, direct, table); want[table] == "" {
			t.Fatalf("%s: no rows", table)
		}
	}
	same := func(t *testing.T, s *store.Store) {
		t.Helper()
		if n := deferredBatches(t, s); n != 0 {
			t.Errorf("%d batches' rows still deferred", n)
		}
		for _, table := range tables {
			if got := dumpTable(t, s, table); got != want[table] {
				t.Errorf("%s differs:\nwritten by each batch:\n%s\ndeferred:\n%s", table, want[table], got)
			}
		}
	}

	for _, atHead := range []bool{true, false} {
		t.Run(fmt.Sprintf("to the log's head, deferAtHead=%v", atHead), func(t *testing.T) {
			defer func(v bool) { deferAtHead = v }(deferAtHead)
			deferAtHead = atHead
			s, a := open(t)
			for i, b := range batches {
				left := uint64(len(batches) - 1 - i)
				if err := a.apply(t.Context(), trailing(b, left*30)); err != nil {
					t.Fatal(err)
				}
				if left == 0 && !atHead {
					break
				}
				if n := deferredBatches(t, s); n != i+1 {
					t.Fatalf("after batch %d: %d batches deferred, want %d", i, n, i+1)
				}
				if g, c := a.metrics.deferredBatches.Load(), counterValue(t, a.metrics.deferrals); g != int64(i+1) || c != float64(i+1) {
					t.Fatalf("after batch %d: the metrics say %d batches deferred, %v in all; want %d", i, g, c, i+1)
				}
				for _, table := range creatorTableNames {
					if got := dumpTable(t, s, table); got != "" {
						t.Fatalf("after batch %d, %s holds rows deferred:\n%s", i, table, got)
					}
				}
			}
			deferrals := len(batches) - 1
			if atHead {
				if err := a.FlushDeferred(t.Context()); err != nil {
					t.Fatal(err)
				}
				deferrals++
			}
			same(t, s)
			if g, c := a.metrics.deferredBatches.Load(), counterValue(t, a.metrics.deferrals); g != 0 || c != float64(deferrals) {
				t.Errorf("at the end the metrics say %d batches deferred, %v in all; want 0, %d", g, c, deferrals)
			}
		})
	}

	for _, bound := range []struct {
		name string
		v    *int64
	}{{"batches", &maxDeferredBatches}, {"rows", &maxDeferredRows}, {"bytes", &maxDeferredBytes}} {
		t.Run("bounded by "+bound.name, func(t *testing.T) {
			defer func(n int64) { *bound.v = n }(*bound.v)
			*bound.v = 1
			s, a := open(t)
			for i, b := range batches {
				if err := a.apply(t.Context(), trailing(b, 1000)); err != nil {
					t.Fatal(err)
				}
				// Batch 0 defers; batch 1 finds it over the bound and
				// writes both; batch 2 defers again. No batch's rows are
				// within a bound of one row.
				want := 1 - i%2
				if bound.v == &maxDeferredRows {
					want = 0
				}
				if n := deferredBatches(t, s); n != want {
					t.Fatalf("after batch %d: %d batches deferred, want %d", i, n, want)
				}
			}
			if err := a.FlushDeferred(t.Context()); err != nil {
				t.Fatal(err)
			}
			if g := a.metrics.deferredBatches.Load(); g != 0 {
				t.Errorf("after FlushDeferred the metrics say %d batches deferred", g)
			}
			same(t, s)
		})
	}

	t.Run("too old", func(t *testing.T) {
		s, a := open(t)
		now := day0
		a.now = func() time.Time { return now }
		for i, b := range batches {
			if err := a.apply(t.Context(), trailing(b, 1000)); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				now = now.Add(maxDeferredAge) // batch 1 writes both
			} else if n, want := deferredBatches(t, s), i-1; n != want {
				t.Fatalf("after batch %d: %d batches deferred, want %d", i, n, want)
			}
		}
		if err := a.FlushDeferred(t.Context()); err != nil {
			t.Fatal(err)
		}
		same(t, s)
	})

	t.Run("restart", func(t *testing.T) {
		// Two batches defer and the process is killed: a new aggregator
		// on the same database loads the state, gets the last batch, finds
		// the bound reached and writes all three, each event once.
		s, a := open(t)
		for _, b := range batches[:2] {
			if err := a.apply(t.Context(), trailing(b, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		b := New(s, nil, a.lg, a.now)
		if err := b.LoadState(t.Context()); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func(n int64) { maxDeferredBatches = n }(maxDeferredBatches)
			maxDeferredBatches = 2
			if err := b.apply(t.Context(), batches[2]); err != nil {
				t.Fatal(err)
			}
		}()
		same(t, s)

		// And a start with rows deferred writes them before any batch.
		s2, a2 := open(t)
		for _, b := range batches {
			if err := a2.apply(t.Context(), trailing(b, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		if n := deferredBatches(t, s2); n != 3 {
			t.Fatalf("%d batches deferred, want 3", n)
		}
		if err := New(s2, nil, a.lg, a.now).FlushDeferred(t.Context()); err != nil {
			t.Fatal(err)
		}
		same(t, s2)
	})
}

// applyWriting applies the batches, each writing its creators' rows.
func applyWriting(t *testing.T, a *Aggregator, batches ...[]eventlog.Delivered) {
	t.Helper()
	defer func(n int64) { maxDeferredBatches = n }(maxDeferredBatches)
	maxDeferredBatches = 0
	for _, b := range batches {
		if err := a.apply(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
}

// creatorReads returns what the creators' reads give: c1's and c2's daily
// and hourly rows and audience by day and by month, over creatorsWorld's
// days.
func creatorReads(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := t.Context()
	d1 := int64(period.DayOf(day0))
	h1 := int64(period.HourOf(day0))
	var out []string
	for _, c := range []string{"c1", "c2"} {
		sc := store.RollupScope{AccountID: c}
		if err := s.DailyRollups(ctx, sc, d1-30, d1, func(day int64, rc store.RollupCounters) {
			out = append(out, fmt.Sprintf("%s day %d %+v", c, day, rc))
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.HourlyRollups(ctx, sc, h1-100, h1, func(hour int64, rc store.RollupCounters) {
			out = append(out, fmt.Sprintf("%s hour %d %+v", c, hour, rc))
		}); err != nil {
			t.Fatal(err)
		}
		for _, months := range []bool{false, true} {
			from, to := d1-30, d1
			if months {
				from, to = MonthOf(d1-30), MonthOf(d1)
			}
			if err := s.AudienceSums(ctx, sc, months, from, to, func(dim, bucket string, views, viewers int64) {
				out = append(out, fmt.Sprintf("%s months=%v %s %s %d %d", c, months, dim, bucket, views, viewers))
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestDeferredCreatorRows_Reads: the creators' reads add the rows
// deferred. After each batch, a store whose batches defer them (the log
// holding more behind each) reads the
// same creators' rows as one whose batches write them; so does another
// store opened on the same files (another process, which indexes the
// batches itself); and so do both after the rows are written, and after
// a batch deferred then, whose id is new (an id used again would read
// the rows another process indexed under it before).
func TestDeferredCreatorRows_Reads(t *testing.T) {
	batches, open := creatorsWorld()
	direct, d := open(t)
	s, a := open(t)
	other, err := store.Open(t.Context(), store.Options{Dir: s.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	both := map[string]*store.Store{"this process": s, "another process": other}
	same := func(step string, stores map[string]*store.Store) {
		t.Helper()
		want := creatorReads(t, direct)
		if !strings.Contains(want, "day") || !strings.Contains(want, "hour") || !strings.Contains(want, "months=true") {
			t.Fatalf("%s the creators' reads give too little to compare:\n%s", step, want)
		}
		for name, s := range stores {
			if got := creatorReads(t, s); got != want {
				t.Fatalf("%s, %s reads with rows deferred:\n%s\nwant, as written:\n%s", step, name, got, want)
			}
		}
	}
	for i, b := range batches[:2] {
		applyWriting(t, d, b)
		if err := a.apply(t.Context(), trailing(b, 1000)); err != nil {
			t.Fatal(err)
		}
		if n := deferredBatches(t, s); n != i+1 {
			t.Fatalf("after batch %d: %d batches deferred, want %d", i, n, i+1)
		}
		same(fmt.Sprintf("after batch %d", i), both)
	}
	if err := a.FlushDeferred(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The other process does not read now: it still holds the batches
	// flushed when the next is deferred.
	same("after the flush", map[string]*store.Store{"this process": s})
	applyWriting(t, d, batches[2])
	if err := a.apply(t.Context(), trailing(batches[2], 1000)); err != nil {
		t.Fatal(err)
	}
	if n := deferredBatches(t, s); n != 1 {
		t.Fatalf("after the last batch: %d batches deferred, want 1", n)
	}
	same("after a batch deferred after the flush", both)
}

// TestCreatorRowsEncoding: deferred rows decode as they were encoded, a
// truncated or altered encoding fails without a panic, and two batches'
// rows merge by key.
func TestCreatorRowsEncoding(t *testing.T) {
	rows := creatorRows{
		hours: []keyed[timeKey, counters]{{timeKey{"c1", 480_000}, &counters{views: 3, viewers: 2, likes: -1}}},
		days: []keyed[timeKey, counters]{
			{timeKey{"c1", 20_000}, &counters{views: 1 << 40, followersGained: 2, followersLost: 1, savers: 7}},
			{timeKey{"c2", -3}, &counters{pViews: 5, pWatchMS: 9000, sharers: 1}},
		},
		dims: []store.AudienceRow{{ID: "c1", Period: 20_000, Counts: []store.AudienceCount{{Dim: store.AudienceCountry, Bucket: "DE", Views: 4, Viewers: 2}}}},
		months: []store.AudienceRow{{ID: "c1", Period: 24_311, Counts: []store.AudienceCount{
			{Dim: store.AudienceSource, Bucket: "for_you", Views: 1, Viewers: 1}, {Dim: store.AudienceAge, Bucket: "18-24", Views: 2}}}},
	}
	b := appendCreatorRows(nil, &rows)
	got, err := mergeCreatorRows([][]byte{b})
	if err != nil {
		t.Fatal(err)
	}
	want := packed(rows)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	for n := range len(b) {
		if _, err := mergeCreatorRows([][]byte{b[:n]}); err == nil {
			t.Fatalf("the first %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := mergeCreatorRows([][]byte{append(slices.Clone(b), 0)}); err == nil {
		t.Fatal("a byte after the rows decoded")
	}

	// Merged with another batch's rows: c1's day and audience by day
	// summed, c2's day alone, c3's day after it.
	more := creatorRows{
		days: []keyed[timeKey, counters]{
			{timeKey{"c1", 20_000}, &counters{views: 2, savers: 1}},
			{timeKey{"c3", 20_000}, &counters{views: 1}},
		},
		dims: []store.AudienceRow{{ID: "c1", Period: 20_000, Counts: []store.AudienceCount{
			{Dim: store.AudienceCountry, Bucket: "DE", Views: 1, Viewers: 1}, {Dim: store.AudienceCountry, Bucket: "FR", Views: 2, Viewers: 1}}}},
	}
	got, err = mergeCreatorRows([][]byte{b, appendCreatorRows(nil, &more)})
	if err != nil {
		t.Fatal(err)
	}
	want.days = []keyed[timeKey, counters]{
		{timeKey{"c1", 20_000}, &counters{views: 1<<40 + 2, followersGained: 2, followersLost: 1, savers: 8}},
		rows.days[1],
		more.days[1],
	}
	want.dims = packed(creatorRows{dims: []store.AudienceRow{{ID: "c1", Period: 20_000, Counts: []store.AudienceCount{
		{Dim: store.AudienceCountry, Bucket: "DE", Views: 5, Viewers: 3}, {Dim: store.AudienceCountry, Bucket: "FR", Views: 2, Viewers: 1}}}}}).dims
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
}

// packed returns r with its audiences' counts packed, as
// mergeCreatorRows returns them.
func packed(r creatorRows) creatorRows {
	pack := func(rows []store.AudienceRow) []store.AudienceRow {
		var out []store.AudienceRow
		for _, row := range rows {
			out = append(out, store.AudienceRow{ID: row.ID, Period: row.Period, Packed: store.AppendAudience(nil, row.Counts)})
		}
		return out
	}
	r.dims, r.months = pack(r.dims), pack(r.months)
	return r
}

// TestMeasures_EveryCounter: measures, which the deferred rows' encoding
// and the rows' statements read, give each field of counters once, so no
// counter is left out of either.
func TestMeasures_EveryCounter(t *testing.T) {
	var c counters
	seen := map[*int64]bool{}
	for m, f := range measures {
		p := f(&c)
		if seen[p] {
			t.Fatalf("measure %d gives a counter another gives too", m)
		}
		seen[p] = true
	}
	if n := reflect.TypeFor[counters]().NumField(); len(seen) != n {
		t.Fatalf("measures give %d counters of %d", len(seen), n)
	}
}

// FuzzCreatorRows: no input panics the decoder, and what it decodes sums
// and encodes again to rows that decode alike.
func FuzzCreatorRows(f *testing.F) {
	f.Add(appendCreatorRows(nil, &creatorRows{
		days: []keyed[timeKey, counters]{{timeKey{"c1", 20_000}, &counters{views: 3}}},
		dims: []store.AudienceRow{{ID: "c1", Period: 20_000, Counts: []store.AudienceCount{{Dim: store.AudienceGender, Bucket: "male", Views: 1, Viewers: 1}}}},
	}))
	f.Add(append(store.AppendDeferredStart(nil), 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := mergeCreatorRows([][]byte{b})
		if err != nil {
			return
		}
		again, err := mergeCreatorRows([][]byte{appendCreatorRows(nil, &r)})
		if err != nil {
			t.Fatalf("rows decoded from %x do not decode once encoded again: %v", b, err)
		}
		if len(again.hours) != len(r.hours) || len(again.days) != len(r.days) || len(again.dims) != len(r.dims) || len(again.months) != len(r.months) {
			t.Fatalf("rows decoded from %x decode as other rows once encoded again", b)
		}
	})
}

// TestRun_WritesDeferredAtStart: a process stopped with creators' rows
// deferred and the log applied to its end leaves them to the next start,
// which writes them before any batch comes.
func TestRun_WritesDeferredAtStart(t *testing.T) {
	batches, open := creatorsWorld()
	direct, a := open(t)
	applyWriting(t, a, batches...)

	ctx := t.Context()
	s, _ := open(t)
	l, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	newAgg := func() *Aggregator {
		return NewBeforeLog(s, l.Partitions(), slog.New(slog.DiscardHandler), func() time.Time { return day0 })
	}
	// The world's messages in the log (sequences 1 to 90, as the
	// batches number them), applied while the log seemed to hold more.
	first := newAgg()
	for _, b := range batches {
		for _, m := range b {
			if err := l.Publish(ctx, []eventlog.Message{{Subject: l.Subject(0), ID: fmt.Sprint("m", m.Seq), Data: m.Data}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.apply(ctx, trailing(b, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if n := deferredBatches(t, s); n != len(batches) {
		t.Fatalf("%d batches deferred, want %d", n, len(batches))
	}

	second := newAgg()
	if err := second.SetLog(l); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for deferredBatches(t, s) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deferred rows are still deferred after the start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, table := range append([]string{"video_day"}, creatorTableNames...) {
		if got, want := dumpTable(t, s, table), dumpTable(t, direct, table); got != want {
			t.Errorf("%s differs:\nwritten by each batch:\n%s\nafter the start:\n%s", table, want, got)
		}
	}
}
