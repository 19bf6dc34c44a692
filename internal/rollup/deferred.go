package rollup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/crowd-dev/crowd/internal/store"
)

// Creators' rows deferred while aggregation trails the log.
//
// A batch's creators' rows (account_hour, account_day with its audience,
// account_audience_month) are its videos' rows summed by creator
// (creators.go). Creators are few and busy, so batch after batch writes
// the same creator-days again: about a quarter of the writer's time in the
// realistic world (docs/PERFORMANCE.md, "Creators' rows deferred while
// aggregation trails"). So, on SQLite, a batch after which the log holds
// more messages keeps its creators' rows in one row of
// creator_rows_deferred, encoded compactly (appendCreatorRows), in its own
// transaction with its checkpoints: exactly once holds across a kill -9 as
// for every other row. The first batch that finds the log's head, or
// finds maxDeferredBatches batches, maxDeferredRows rows, rows older than
// maxDeferredAge or a sum of maxDeferredBytes deferred, sums them with its
// own and writes each creator row once (writeCreators); so does a start
// that finds the log applied to its end, for what a stopped process left
// (FlushDeferred), and crowd import at its end.
//
// The creators' reads (store.DailyRollups, HourlyRollups, AudienceSums)
// add the rows deferred to the tables' in one snapshot
// (store/deferred_overlay.go), so a creator's numbers are as fresh as its
// videos' whatever is deferred. (A creator's rows serve exact mode's
// creator reports, and protected mode's likes, comments and followers of a
// creator; released numbers come from videos' cells.) Deferring at the
// log's head too, the reads being exact anyway, was measured and not kept:
// the sum held in memory grows to its bounds in bulk ingestion and raised
// the server's peak by about 400 MiB for a gain within the noise
// (docs/PERFORMANCE.md). On PostgreSQL several aggregators add to the same
// creators' rows, and each batch writes its own as before.

// The bounds of what batches defer; variables for tests. In the
// realistic world a batch of 100,000 events has about 83,000 creators'
// rows, most of them creator-days, hours and months that the next batch
// writes again. maxDeferredBytes bounds the memory of their sum (creatorSums.bytes),
// the most a process that deferred them holds: a million creators with a
// day each would otherwise hold hundreds of MiB. The realistic world's
// 5,000 creators fill well under it; at 48 MiB its batches of 300,000
// events deferred one or two batches each and gained nothing
// (docs/PERFORMANCE.md).
var (
	maxDeferredBatches int64 = 16
	maxDeferredRows    int64 = 1_000_000
	maxDeferredBytes   int64 = 128 << 20
	maxDeferredAge           = 30 * time.Second
)

// creatorRows are a batch's rows of the creators' tables, each in key order.
type creatorRows struct {
	hours, days  []keyed[timeKey, counters]
	dims, months []store.AudienceRow
}

func (r *creatorRows) len() int {
	return len(r.hours) + len(r.days) + len(r.dims) + len(r.months)
}

// creatorTables are the creators' tables.
var creatorTables = rowTables{store.AccountHourTable, store.AccountDayTable, store.AccountAudienceDayTable, store.AccountAudienceMonthTable}

// writeCreators writes the batch's creators' rows, or defers them while
// the log holds pending messages after the batch (see above). The sum of
// the deferred rows is kept in memory too (a.deferred), so that the batch
// that writes them reads them back only when this process did not defer
// them all itself (a start after a kill, a failed transaction).
func (a *Aggregator) writeCreators(ctx context.Context, tx *store.RollupTx, w *store.RowWriter, rows *creatorRows, pending uint64) error {
	if a.store.Dialect() != store.SQLite {
		return writeRows(w, nil, creatorTables, rows.hours, rows.days, rows.dims, rows.months)
	}
	batches, n, since, err := tx.DeferredCreatorRows(ctx)
	if err != nil {
		return err
	}
	if batches == 0 {
		a.deferred, a.deferredKnown = creatorSums{}, true
	}
	now := a.now()
	if pending > 0 && batches < maxDeferredBatches && n+int64(rows.len()) <= maxDeferredRows &&
		(!a.deferredKnown || a.deferred.bytes < maxDeferredBytes) &&
		(batches == 0 || now.Sub(time.Unix(since, 0)) < maxDeferredAge) {
		if err := tx.DeferCreatorRows(ctx, now.Unix(), int64(rows.len()), appendCreatorRows(nil, rows)); err != nil {
			return err
		}
		known := a.deferredKnown
		a.deferredKnown = false // until the transaction commits
		a.committed = func() {
			if known {
				a.deferredKnown = a.deferred.add(rows) == nil
			}
			a.metrics.deferrals.Inc()
			a.metrics.deferredBatches.Store(batches + 1)
		}
		return nil
	}
	if batches == 0 {
		return writeRows(w, nil, creatorTables, rows.hours, rows.days, rows.dims, rows.months)
	}
	sum := &a.deferred
	if !a.deferredKnown {
		*sum = creatorSums{}
		if err := sum.take(ctx, tx); err != nil {
			return err
		}
	} else if err := tx.TakeDeferredCreatorRows(ctx, nil); err != nil {
		return err
	}
	a.deferredKnown = false // sum is changed; empty once the transaction commits
	if err := sum.add(rows); err != nil {
		return err
	}
	all := sum.rows()
	a.committed = func() {
		a.deferred, a.deferredKnown = creatorSums{}, true
		a.metrics.deferredBatches.Store(0)
	}
	return writeRows(w, nil, creatorTables, all.hours, all.days, all.dims, all.months)
}

// FlushDeferred writes the creators' rows that batches deferred, in a
// transaction of its own: Run does at a start that finds nothing to apply,
// so that a process stopped while it trailed the log leaves no creator
// behind until its next batch, and crowd import at its end. Not while Run
// applies batches.
func (a *Aggregator) FlushDeferred(ctx context.Context) error {
	if a.store.Dialect() != store.SQLite {
		return nil
	}
	tx, err := a.store.BeginRollup(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var sum creatorSums
	if err := sum.take(ctx, tx); err != nil {
		return err
	}
	a.deferred, a.deferredKnown = creatorSums{}, false
	if sum.empty() {
		return nil
	}
	all := sum.rows()
	if err := writeRows(tx.RowWriter(ctx), nil, creatorTables, all.hours, all.days, all.dims, all.months); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.metrics.deferredBatches.Store(0)
	return nil
}

// creatorSums sums creators' rows by key.
type creatorSums struct {
	hours, days  map[timeKey]*counters
	dims, months map[timeKey][]byte // packed (store.AppendAudience)
	// bytes estimates the memory the sums hold: keyBytes a key and its
	// map entry, counterBytes a sum of counters more, packed values
	// their length.
	bytes int64
}

const (
	keyBytes     = 64
	counterBytes = int64(unsafe.Sizeof(counters{}))
)

func (s *creatorSums) empty() bool {
	return len(s.hours)+len(s.days)+len(s.dims)+len(s.months) == 0
}

// take adds the deferred rows to s and deletes them from the store.
func (s *creatorSums) take(ctx context.Context, tx *store.RollupTx) error {
	return tx.TakeDeferredCreatorRows(ctx, func(b []byte) error {
		r, err := decodeCreatorRows(b)
		if err != nil {
			return err
		}
		return s.add(&r)
	})
}

// add adds rows to s.
func (s *creatorSums) add(r *creatorRows) error {
	if s.hours == nil {
		s.hours, s.days = map[timeKey]*counters{}, map[timeKey]*counters{}
		s.dims, s.months = map[timeKey][]byte{}, map[timeKey][]byte{}
	}
	s.addCounters(s.hours, r.hours)
	s.addCounters(s.days, r.days)
	if err := s.addPacked(s.dims, r.dims); err != nil {
		return err
	}
	return s.addPacked(s.months, r.months)
}

func (s *creatorSums) addCounters(sum map[timeKey]*counters, rows []keyed[timeKey, counters]) {
	for _, r := range rows {
		if c := sum[r.k]; c != nil {
			c.add(r.c)
		} else {
			c := *r.c
			sum[r.k] = &c
			s.bytes += keyBytes + int64(len(r.k.id)) + counterBytes
		}
	}
}

func (s *creatorSums) addPacked(sum map[timeKey][]byte, rows []store.AudienceRow) error {
	for i := range rows {
		r := &rows[i]
		k := timeKey{r.ID, r.Period}
		p := r.Packed
		if p == nil {
			p = store.AppendAudience(nil, r.Counts)
		}
		old, ok := sum[k]
		if ok {
			var err error
			if p, err = store.MergeAudience(make([]byte, 0, len(old)+len(p)), old, p); err != nil {
				return fmt.Errorf("deferred creator rows (%s, %d): %w", r.ID, r.Period, err)
			}
		} else {
			s.bytes += keyBytes + int64(len(k.id))
			if r.Packed != nil {
				p = slices.Clone(p) // the store's buffer
			}
		}
		s.bytes += int64(len(p) - len(old))
		sum[k] = p
	}
	return nil
}

// rows returns the sums as rows in key order.
func (s *creatorSums) rows() creatorRows {
	counterRows := func(m map[timeKey]*counters) []keyed[timeKey, counters] {
		out := make([]keyed[timeKey, counters], 0, len(m))
		for _, k := range slices.SortedFunc(maps.Keys(m), compareTimeKeys) {
			out = append(out, keyed[timeKey, counters]{k, m[k]})
		}
		return out
	}
	packedRows := func(m map[timeKey][]byte) []store.AudienceRow {
		out := make([]store.AudienceRow, 0, len(m))
		for _, k := range slices.SortedFunc(maps.Keys(m), compareTimeKeys) {
			out = append(out, store.AudienceRow{ID: k.id, Period: k.t, Packed: m[k]})
		}
		return out
	}
	return creatorRows{counterRows(s.hours), counterRows(s.days), packedRows(s.dims), packedRows(s.months)}
}

func compareTimeKeys(x, y timeKey) int {
	return cmp.Or(strings.Compare(x.id, y.id), cmp.Compare(x.t, y.t))
}

// appendCreatorRows appends the encoding of r (store.AppendDeferredStart)
// to b.
func appendCreatorRows(b []byte, r *creatorRows) []byte {
	b = store.AppendDeferredStart(b)
	var m [store.NumMeasures]int64
	for _, rows := range [][]keyed[timeKey, counters]{r.hours, r.days} {
		b = store.AppendDeferredCount(b, len(rows))
		for _, row := range rows {
			for i, f := range measures {
				m[i] = *f(row.c)
			}
			b = store.AppendDeferredCounters(b, row.k.id, row.k.t, &m)
		}
	}
	var packed []byte
	for _, rows := range [][]store.AudienceRow{r.dims, r.months} {
		b = store.AppendDeferredCount(b, len(rows))
		for i := range rows {
			row := &rows[i]
			p := row.Packed
			if p == nil {
				packed = store.AppendAudience(packed[:0], row.Counts)
				p = packed
			}
			b = store.AppendDeferredAudience(b, row.ID, row.Period, p)
		}
	}
	return b
}

// decodeCreatorRows decodes rows that appendCreatorRows encoded. The
// packed counts it returns are b's: valid while b is.
func decodeCreatorRows(b []byte) (creatorRows, error) {
	var r creatorRows
	var all []counters
	err := store.DecodeDeferred(b, func(d *store.DeferredRow) {
		switch d.Section {
		case store.DeferredHours, store.DeferredDays:
			rows := &r.hours
			if d.Section == store.DeferredDays {
				rows = &r.days
			}
			if *rows == nil {
				*rows, all = make([]keyed[timeKey, counters], 0, d.N), make([]counters, d.N)
			}
			c := &all[len(*rows)]
			for i, f := range measures {
				*f(c) = d.M[i]
			}
			*rows = append(*rows, keyed[timeKey, counters]{timeKey{string(d.ID), d.Period}, c})
		default:
			rows := &r.dims
			if d.Section == store.DeferredMonths {
				rows = &r.months
			}
			if *rows == nil {
				*rows = make([]store.AudienceRow, 0, d.N)
			}
			*rows = append(*rows, store.AudienceRow{ID: string(d.ID), Period: d.Period, Packed: d.Packed})
		}
	})
	if err != nil {
		return creatorRows{}, err
	}
	return r, nil
}
