package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
)

// The creators' reads merge the rows deferred (SQLite only): while a
// batch's creators' rows wait in creator_rows_deferred, DailyRollups,
// HourlyRollups and AudienceSums of a creator add them to what the
// creators' tables hold, in one read transaction, so a creator's numbers
// are exact whatever aggregation defers and for how long.
//
// A deferred batch's row never changes once committed, and its id is never
// used again (AUTOINCREMENT, migration 0010), so each process keeps an
// index of the batches' encodings by id (deferredCache): per creator, the
// byte range of its rows in each section. A read takes the ids its
// snapshot holds, indexes those the cache lacks (the batch's commit
// indexes its own in the background, so reads rarely do), and decodes the
// creator's rows only. A batch's encoding is about 20 bytes a row; the
// cache holds what the table does, a bounded number of batches
// (internal/rollup/deferred.go): the transaction that takes them back
// lets go of them as it commits, and a read of the ids it no longer
// finds (those another process took).

// deferredCache is the index of the deferred batches by id.
type deferredCache struct {
	mu      sync.Mutex
	batches map[int64]*deferredBatch
	// taken is the last id this process's transactions took back (and
	// deleted): a batch up to it is indexed no more.
	taken int64
}

// indexAsync runs a committed batch's indexing; tests run it at once.
var indexAsync = func(fn func()) { go fn() }

// deferredBatch is a deferred batch's encoding and, per creator, where
// its rows are in it.
type deferredBatch struct {
	b     []byte
	spans map[string]*[numDeferredSections]deferredSpan
}

// deferredSpan is a creator's rows of a section: b[start:end], n rows.
type deferredSpan struct{ start, end, n int }

// indexDeferred indexes a batch's encoding b, which it keeps. A
// creator's rows must be together in each section (they are in key order).
func indexDeferred(b []byte) (*deferredBatch, error) {
	db := &deferredBatch{b: b, spans: map[string]*[numDeferredSections]deferredSpan{}}
	apart := false
	err := walkDeferred(b, func(r *DeferredRow, start, end int) {
		sp := db.spans[string(r.ID)]
		if sp == nil {
			sp = new([numDeferredSections]deferredSpan)
			db.spans[string(r.ID)] = sp
		}
		s := &sp[r.Section]
		switch {
		case s.n == 0:
			s.start = start
		case s.end != start:
			apart = true
		}
		s.end = end
		s.n++
	})
	switch {
	case err != nil:
		return nil, err
	case apart:
		return nil, fmt.Errorf("%w: a creator's rows apart in a section", errDeferred)
	}
	return db, nil
}

// rows calls fn with the creator's rows of a section, in period order.
func (db *deferredBatch) rows(creator string, section int, fn func(r *DeferredRow)) error {
	sp := db.spans[creator]
	if sp == nil || sp[section].n == 0 {
		return nil
	}
	s := sp[section]
	d := deferredDecoder{b: db.b[s.start:s.end]}
	r := DeferredRow{Section: section}
	for range s.n {
		if d.row(&r); d.bad {
			return errDeferred
		}
		fn(&r)
	}
	return nil
}

func (c *deferredCache) get(id int64) *deferredBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches[id]
}

func (c *deferredCache) put(id int64, db *deferredBatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id <= c.taken {
		return
	}
	if c.batches == nil {
		c.batches = map[int64]*deferredBatch{}
	}
	c.batches[id] = db
}

// dropThrough lets go of the batches up to id, which a committed
// transaction took back: only snapshots older than it still hold them
// (and index them again if they need them).
func (c *deferredCache) dropThrough(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taken = max(c.taken, id)
	for k := range c.batches {
		if k <= id {
			delete(c.batches, k)
		}
	}
}

// len is how many batches are indexed.
func (c *deferredCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

// keepOnly drops the batches a snapshot holding ids (in order) no longer
// finds: those before its last id and not among them. Later ones may be
// newer than the snapshot.
func (c *deferredCache) keepOnly(ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.batches {
		if _, found := slices.BinarySearch(ids, id); !found && (len(ids) == 0 || id < ids[len(ids)-1]) {
			delete(c.batches, id)
		}
	}
}

// index indexes a committed batch's encoding b under id, for the reads
// after it; one that fails to index is left to the reads, which fail
// loudly.
func (c *deferredCache) index(id int64, b []byte) {
	if db, err := indexDeferred(b); err == nil {
		c.put(id, db)
	}
}

// deferredRows calls fn with the creator's rows of a section from every
// batch deferred in t's snapshot, batch after batch, each batch's in
// period order. On PostgreSQL nothing is deferred.
func (s *Store) deferredRows(ctx context.Context, t *tx, creator string, section int, fn func(r *DeferredRow)) error {
	if s.dialect != SQLite {
		return nil
	}
	ids, err := int64Rows(t.query(ctx, `SELECT id FROM creator_rows_deferred ORDER BY id`))
	if err != nil {
		return fmt.Errorf("deferred creator rows: %w", err)
	}
	s.deferred.keepOnly(ids)
	for _, id := range ids {
		db := s.deferred.get(id)
		if db == nil {
			var b []byte
			if err := t.queryRow(ctx, `SELECT rows FROM creator_rows_deferred WHERE id = ?`, id).Scan(&b); err != nil {
				return fmt.Errorf("deferred creator rows %d: %w", id, err)
			}
			if db, err = indexDeferred(b); err != nil {
				return fmt.Errorf("deferred creator rows %d: %w", id, err)
			}
			s.deferred.put(id, db)
		}
		if err := db.rows(creator, section, fn); err != nil {
			return fmt.Errorf("deferred creator rows %d: %w", id, err)
		}
	}
	return nil
}

// periodCounters are a rollup row's period and counters.
type periodCounters struct {
	period int64
	c      RollupCounters
}

// addDeferred adds to rows (in period order) the counters of the deferred
// rows of creator in section whose period is within from..to: the
// measures of the table the section stands for (hourly rows have views,
// viewers, likes, comments, shares and saves; daily rows those and watch
// time, completions and followers).
func (s *Store) addDeferred(ctx context.Context, t *tx, creator string, section int, from, to int64, rows []periodCounters) ([]periodCounters, error) {
	err := s.deferredRows(ctx, t, creator, section, func(r *DeferredRow) {
		if r.Period < from || r.Period > to {
			return
		}
		m := &r.M
		c := RollupCounters{Views: m[MeasureViews], Viewers: m[MeasureViewers], Likes: m[MeasureLikes],
			Comments: m[MeasureComments], Shares: m[MeasureShares], Saves: m[MeasureSaves]}
		if section == DeferredDays {
			c.WatchMS, c.Completions = m[MeasureWatchMS], m[MeasureCompletions]
			c.FollowersGained, c.FollowersLost = m[MeasureFollowersGained], m[MeasureFollowersLost]
		}
		i, found := slices.BinarySearchFunc(rows, r.Period, func(x periodCounters, p int64) int { return cmp.Compare(x.period, p) })
		if !found {
			rows = slices.Insert(rows, i, periodCounters{period: r.Period})
		}
		rows[i].c.Add(c)
	})
	return rows, err
}

// Add adds o to c.
func (c *RollupCounters) Add(o RollupCounters) {
	c.Views += o.Views
	c.Viewers += o.Viewers
	c.WatchMS += o.WatchMS
	c.Completions += o.Completions
	c.Likes += o.Likes
	c.Comments += o.Comments
	c.Shares += o.Shares
	c.Saves += o.Saves
	c.FollowersGained += o.FollowersGained
	c.FollowersLost += o.FollowersLost
}
