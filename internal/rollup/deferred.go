package rollup

import (
	"bytes"
	"context"
	"time"

	"github.com/crowd-dev/crowd/internal/store"
)

// Creators' rows deferred.
//
// A batch's creators' rows (account_hour, account_day with its audience,
// account_audience_month) are its videos' rows summed by creator
// (creators.go). Creators are few and busy, so batch after batch writes
// the same creator-days again: about a quarter of the writer's time in the
// realistic world (docs/PERFORMANCE.md, "Creators' rows deferred while
// aggregation trails"). So, on SQLite, a batch after which the log holds
// more messages (or any batch, with deferAtHead) keeps its creators' rows
// in one row of creator_rows_deferred, encoded compactly
// (appendCreatorRows), in its own transaction with its checkpoints:
// exactly once holds across a kill -9 as for every other row. The batch
// that finds the log's head (without deferAtHead), or
// maxDeferredBatches batches, maxDeferredRows rows, rows older than
// maxDeferredAge or maxDeferredBytes of them deferred takes them back,
// merges them with its own by key as it reads them (the encodings are in
// key order: store.MergeDeferred) and writes each creator row once
// (writeCreators); so does a start that finds the log applied to its end,
// for what a stopped process left (FlushDeferred), and crowd import at
// its end. Nothing is summed in memory between batches.
//
// The creators' reads (store.DailyRollups, HourlyRollups, AudienceSums)
// add the rows deferred to the tables' in one snapshot
// (store/deferred_overlay.go), so a creator's numbers are as fresh as its
// videos' whatever is deferred. (A creator's rows serve exact mode's
// creator reports, and protected mode's likes, comments and followers of
// a creator; released numbers come from videos' cells.) On PostgreSQL
// several aggregators add to the same creators' rows, and each batch
// writes its own as before.

// The bounds of what batches defer; variables for tests. In the
// realistic world a batch of 100,000 events has about 83,000 creators'
// rows, most of them creator-days, hours and months that the next batch
// writes again. maxDeferredBytes bounds the bytes of their encodings
// (about 20 bytes a row), which the batch that writes them reads back and
// merges as it goes (store.MergeDeferred): nothing is summed in memory
// between batches.
var (
	maxDeferredBatches int64 = 16
	maxDeferredRows    int64 = 1_000_000
	maxDeferredBytes   int64 = 64 << 20
	maxDeferredAge           = 30 * time.Second
)

// deferAtHead is whether a batch after which the log holds nothing more
// defers its creators' rows too (the reads add them, so they are exact
// either way). Off: in bulk ingestion, where aggregation finds the log's
// head after most batches, it was measured against deferring only while
// aggregation trails (docs/PERFORMANCE.md).
var deferAtHead = false

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
// the log holds more messages after the batch (or with deferAtHead),
// within the bounds (see above). The batch that writes the rows deferred merges
// their encodings with its own rows, key by key, and writes each key once.
func (a *Aggregator) writeCreators(ctx context.Context, tx *store.RollupTx, w *store.RowWriter, rows *creatorRows, pending uint64) error {
	if a.store.Dialect() != store.SQLite {
		return writeRows(w, nil, creatorTables, rows.hours, rows.days, rows.dims, rows.months)
	}
	batches, n, size, since, err := tx.DeferredCreatorRows(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	within := batches < maxDeferredBatches && n+int64(rows.len()) <= maxDeferredRows && size < maxDeferredBytes &&
		(batches == 0 || now.Sub(time.Unix(since, 0)) < maxDeferredAge)
	if within && (pending > 0 || deferAtHead) {
		if rows.len() == 0 {
			return nil // nothing to defer
		}
		if err := tx.DeferCreatorRows(ctx, now.Unix(), int64(rows.len()), appendCreatorRows(nil, rows)); err != nil {
			return err
		}
		a.committed = func() {
			a.metrics.deferrals.Inc()
			a.metrics.deferredBatches.Store(batches + 1)
		}
		return nil
	}
	if batches == 0 {
		return writeRows(w, nil, creatorTables, rows.hours, rows.days, rows.dims, rows.months)
	}
	all, _, err := takeDeferred(ctx, tx, appendCreatorRows(nil, rows))
	if err != nil {
		return err
	}
	a.committed = func() { a.metrics.deferredBatches.Store(0) }
	return writeRows(w, nil, creatorTables, all.hours, all.days, all.dims, all.months)
}

// takeDeferred takes the rows deferred out of the store (the transaction
// deletes them) and returns them merged by key with the encodings more,
// and how many batches it took.
func takeDeferred(ctx context.Context, tx *store.RollupTx, more ...[]byte) (creatorRows, int, error) {
	var bs [][]byte
	err := tx.TakeDeferredCreatorRows(ctx, func(b []byte) error {
		bs = append(bs, bytes.Clone(b))
		return nil
	})
	if err != nil {
		return creatorRows{}, 0, err
	}
	taken := len(bs)
	all, err := mergeCreatorRows(append(bs, more...))
	return all, taken, err
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
	all, taken, err := takeDeferred(ctx, tx)
	if err != nil || taken == 0 {
		return err
	}
	if err := writeRows(tx.RowWriter(ctx), nil, creatorTables, all.hours, all.days, all.dims, all.months); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.metrics.deferredBatches.Store(0)
	return nil
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

// mergeCreatorRows returns the rows of encodings bs (appendCreatorRows)
// merged by key (store.MergeDeferred): each key once, its counters summed,
// its audiences merged. The packed counts it returns may be bs's bytes:
// valid while bs is.
func mergeCreatorRows(bs [][]byte) (creatorRows, error) {
	var r creatorRows
	var slab []counters // the rows' counters, allocated a block at a time
	err := store.MergeDeferred(bs, func(d *store.DeferredRow) {
		switch d.Section {
		case store.DeferredHours, store.DeferredDays:
			if len(slab) == cap(slab) {
				slab = make([]counters, 0, 4096)
			}
			slab = slab[:len(slab)+1]
			c := &slab[len(slab)-1]
			for i, f := range measures {
				*f(c) = d.M[i]
			}
			rows := &r.hours
			if d.Section == store.DeferredDays {
				rows = &r.days
			}
			*rows = append(*rows, keyed[timeKey, counters]{timeKey{string(d.ID), d.Period}, c})
		default:
			rows := &r.dims
			if d.Section == store.DeferredMonths {
				rows = &r.months
			}
			*rows = append(*rows, store.AudienceRow{ID: string(d.ID), Period: d.Period, Packed: d.Packed})
		}
	})
	if err != nil {
		return creatorRows{}, err
	}
	return r, nil
}
