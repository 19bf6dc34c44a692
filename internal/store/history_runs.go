package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/crowd-dev/crowd/internal/bloom"
)

// Viewers' history as sorted runs (SQLite: history.db).
//
// A batch of the realistic world makes about 0.7 new (video, viewer) pairs
// an event, almost all of them never seen before: as rows of a B-tree keyed
// by a hash, each was a look-up that found nothing and an insert on a page
// anywhere in a table that outgrows any cache, history.db's writer's whole
// cost (docs/PERFORMANCE.md, "Viewers' history as sorted runs"). So
// history.db keeps it as an LSM tree of its own:
//
//   - A batch's changed entries (key, video tag, the viewer's days, all of
//     them) are written once, as a run: sorted by key, cut into blocks of
//     about historyBlockBytes (history_blocks, rowid run<<20 | block), with
//     a row of history_runs holding the run's batch sequence, its level, a
//     Bloom filter of its keys and the first key of each block. The writer
//     appends a few hundred rows a batch, where it wrote a row an entry.
//   - Every run's filter and block index are kept in memory (historyRuns,
//     about 1.3 bytes a key), so a look-up of a key no run holds reads
//     nothing, and one that some run holds reads one block of it. Runs are
//     searched newest first, and an entry holds the viewer's days in full,
//     so the newest run holding a key answers for it.
//   - historyFanout runs of a level merge into one run of the next
//     (MergeHistory, after a batch's commit), newest entry of a key kept,
//     up to historyMaxLevel: at most about historyFanout runs a level to
//     search, and each entry rewritten historyMaxLevel times.
//
// Exactly once keeps history.db's protocol (history_db.go): a batch's run
// carries its last log sequence, so undoing the batches beyond crowd.db's
// checkpoints deletes their runs. Runs merge only once crowd.db holds their
// batches synced (Store.durable) and no backup holds the runs
// (HoldHistoryRuns), so a merged run is never one to undo. A history.db
// of rows (the B-tree of earlier versions) becomes one run as it opens.

// historyBlockBytes is a block's size: a key some run holds reads one
// block (of about 250 entries) and decodes it. historyFanout runs of
// a level merge into one of the next. Variables for tests.
var (
	historyBlockBytes = 4096
	historyFanout     = 8
)

const (
	// historyMaxLevel is the last level runs merge into.
	historyMaxLevel = 2
	// historyBlockBits: a run's blocks are rowids run<<historyBlockBits
	// + block, up to 2²⁰ blocks (4 GiB) a run.
	historyBlockBits = 20
)

// historyRun is a run's row of history_runs, in memory.
type historyRun struct {
	id, seq int64
	level   int
	keys    int
	filter  *bloom.Filter
	firsts  []int64 // the first key of each block
}

// historyRuns are history.db's runs, oldest first: by level, highest
// first, then by id.
type historyRuns struct {
	mu   sync.Mutex
	runs []*historyRun
	next int64 // the next run's id
}

func (h *historyRuns) list() []*historyRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.runs)
}

// nextID reserves a run's id.
func (h *historyRuns) nextID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	return h.next - 1
}

// historyBatch is what a batch's transaction of history.db reads and
// writes: the runs as it began, and its own entries, which its commit
// writes as a run.
type historyBatch struct {
	runs    []*historyRun
	pending map[int64]ViewerHistory
}

// Block encoding: the first entry's key as 8 bytes little-endian, each
// next key as the uvarint of its distance from the one before (keys
// strictly increasing), and per entry its video tag (4 bytes
// little-endian), the length of its days (uvarint) and the days
// (AppendDays).

var errHistoryBlock = errors.New("malformed viewers' history block")

// appendEntry appends h to a block b whose last key is prev (first: b is
// empty).
func appendEntry(b []byte, prev int64, h ViewerHistory) []byte {
	if len(b) == 0 {
		b = binary.LittleEndian.AppendUint64(b, uint64(h.Key))
	} else {
		b = binary.AppendUvarint(b, uint64(h.Key-prev))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(h.VideoTag))
	b = binary.AppendUvarint(b, uint64(len(h.Days)))
	return append(b, h.Days...)
}

// walkBlock calls fn with each entry of block b, in key order, until fn
// returns false. The entries' days are slices of b.
func walkBlock(b []byte, fn func(ViewerHistory) bool) error {
	if len(b) < 8 {
		return errHistoryBlock
	}
	key := int64(binary.LittleEndian.Uint64(b))
	b = b[8:]
	for first := true; len(b) > 0; first = false {
		if !first {
			// Keys are signed and a distance may exceed 2⁶³: added as
			// unsigned, it must land above the key before.
			d, n := binary.Uvarint(b)
			next := int64(uint64(key) + d)
			if n <= 0 || d == 0 || next <= key {
				return errHistoryBlock
			}
			key = next
			b = b[n:]
		}
		if len(b) < 4 {
			return errHistoryBlock
		}
		tag := int32(binary.LittleEndian.Uint32(b))
		l, n := binary.Uvarint(b[4:])
		if n <= 0 || l > uint64(len(b)-4-n) {
			return errHistoryBlock
		}
		b = b[4+n:]
		days := b[:l:l]
		b = b[l:]
		if !fn(ViewerHistory{Key: key, VideoTag: tag, Days: days}) {
			return nil
		}
	}
	return nil
}

// runBuilder cuts sorted entries into a run's blocks and writes them in
// t as they fill (a merge's run need not be held in memory), then the
// run's row.
type runBuilder struct {
	t       *RollupTx
	id      int64
	full    [][]byte // blocks filled, not yet written
	written int      // blocks written
	firsts  []int64
	filter  *bloom.Filter
	keys    int
	cur     []byte
	prev    int64
}

// newRunBuilder starts run id in t, sized for about keys keys.
func newRunBuilder(t *RollupTx, id int64, keys int) *runBuilder {
	return &runBuilder{t: t, id: id, filter: bloom.New(keys)}
}

// add appends h, whose key is above every key added before.
func (r *runBuilder) add(ctx context.Context, h ViewerHistory) error {
	if len(r.cur) >= historyBlockBytes {
		r.full = append(r.full, r.cur)
		r.cur = nil
		if len(r.full) == rollupChunk {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
	}
	if len(r.cur) == 0 {
		r.cur = make([]byte, 0, historyBlockBytes+64)
		r.firsts = append(r.firsts, h.Key)
	}
	r.cur = appendEntry(r.cur, r.prev, h)
	r.prev = h.Key
	r.filter.Add(uint64(h.Key))
	r.keys++
	return nil
}

// flush writes the blocks filled.
func (r *runBuilder) flush(ctx context.Context) error {
	if r.written+len(r.full) > 1<<historyBlockBits {
		return fmt.Errorf("write history run: over %d blocks", 1<<historyBlockBits)
	}
	for chunk := range rollupChunks(r.t.d, r.full) {
		args := make([]any, 0, 2*len(chunk))
		for _, b := range chunk {
			args = append(args, r.id<<historyBlockBits|int64(r.written), b)
			r.written++
		}
		if _, err := r.t.exec(ctx, `INSERT INTO history_blocks (id, data) VALUES `+rowsOf(len(chunk), 2), args...); err != nil {
			return fmt.Errorf("write history run: %w", err)
		}
	}
	r.full = r.full[:0]
	return nil
}

// finish writes the rest of the run and its row, as of its batch's
// sequence seq, at level, and returns it.
func (r *runBuilder) finish(ctx context.Context, seq int64, level int) (*historyRun, error) {
	if len(r.cur) > 0 {
		r.full = append(r.full, r.cur)
		r.cur = nil
	}
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	firsts := make([]byte, 0, 8*len(r.firsts))
	for _, k := range r.firsts {
		firsts = binary.LittleEndian.AppendUint64(firsts, uint64(k))
	}
	if _, err := r.t.exec(ctx, `INSERT INTO history_runs (id, seq, level, keys, filter, firsts) VALUES (?, ?, ?, ?, ?, ?)`,
		r.id, seq, level, r.keys, r.filter.AppendBinary(nil), firsts); err != nil {
		return nil, fmt.Errorf("write history run: %w", err)
	}
	return &historyRun{id: r.id, seq: seq, level: level, keys: r.keys, filter: r.filter, firsts: r.firsts}, nil
}

// runCursor reads a run's entries in key order, mergeChunk blocks at a
// time.
type runCursor struct {
	r    *historyRun
	next int // the next block to read
	buf  []ViewerHistory
	at   int
}

// mergeChunk is the blocks a merge reads of an input at a time.
const mergeChunk = 64

// head returns the cursor's entry, or nil past the run's end.
func (c *runCursor) head(ctx context.Context, t *RollupTx) (*ViewerHistory, error) {
	if c.at == len(c.buf) && c.next < len(c.r.firsts) {
		hi := min(c.next+mergeChunk, len(c.r.firsts))
		c.buf, c.at = c.buf[:0], 0
		rows, err := t.query(ctx, `SELECT data FROM history_blocks WHERE id >= ? AND id < ? ORDER BY id`, c.r.id<<historyBlockBits|int64(c.next), c.r.id<<historyBlockBits|int64(hi))
		n := 0
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			n++
			return walkBlock(b, func(h ViewerHistory) bool { c.buf = append(c.buf, h); return true })
		})
		if err == nil && n != hi-c.next {
			err = fmt.Errorf("%d of blocks %d..%d", n, c.next, hi-1)
		}
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", c.r.id, err)
		}
		c.next = hi
	}
	if c.at == len(c.buf) {
		return nil, nil
	}
	return &c.buf[c.at], nil
}

// historyEntries calls fn with each entry of t's batch's runs and own
// entries that holds one of keys (ascending): for each key, the newest.
func (t *RollupTx) historyEntries(ctx context.Context, keys []int64, fn func(ViewerHistory)) error {
	hb := t.hist
	left := make([]int64, 0, len(keys))
	for _, k := range keys {
		if h, ok := hb.pending[k]; ok {
			fn(h)
		} else {
			left = append(left, k)
		}
	}
	for i := len(hb.runs) - 1; i >= 0 && len(left) > 0; i-- {
		r := hb.runs[i]
		// The keys the run may hold, by block (both ascending).
		var ids []int64
		var want [][]int64
		for _, k := range left {
			if !r.filter.MayContain(uint64(k)) {
				continue
			}
			blk := sort.Search(len(r.firsts), func(j int) bool { return r.firsts[j] > k }) - 1
			if blk < 0 {
				continue
			}
			id := r.id<<historyBlockBits | int64(blk)
			if len(ids) == 0 || ids[len(ids)-1] != id {
				ids = append(ids, id)
				want = append(want, nil)
			}
			want[len(want)-1] = append(want[len(want)-1], k)
		}
		if len(ids) == 0 {
			continue
		}
		found := map[int64]bool{}
		blocks := map[int64][]byte{}
		for chunk := range rollupChunks(t.d, ids) {
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			rows, err := t.query(ctx, `SELECT id, data FROM history_blocks WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
			err = eachRow(rows, err, func(rows *sql.Rows) error {
				var id int64
				var b []byte
				if err := rows.Scan(&id, &b); err != nil {
					return err
				}
				blocks[id] = b
				return nil
			})
			if err != nil {
				return fmt.Errorf("read viewer history: %w", err)
			}
		}
		for j, id := range ids {
			b, ok := blocks[id]
			if !ok {
				return fmt.Errorf("read viewer history: block %d of run %d missing", id&(1<<historyBlockBits-1), r.id)
			}
			ks := want[j]
			err := walkBlock(b, func(h ViewerHistory) bool {
				for len(ks) > 0 && ks[0] < h.Key {
					ks = ks[1:]
				}
				if len(ks) == 0 {
					return false
				}
				if ks[0] == h.Key {
					fn(h)
					found[h.Key] = true
				}
				return true
			})
			if err != nil {
				return fmt.Errorf("read viewer history: run %d: %w", r.id, err)
			}
		}
		left = slices.DeleteFunc(left, func(k int64) bool { return found[k] })
	}
	return nil
}

// writeBatchRun writes the entries of t's batch as a run of seq.
func (s *Store) writeBatchRun(ctx context.Context, t *RollupTx, seq uint64) (*historyRun, error) {
	hb := t.hist
	if len(hb.pending) == 0 {
		return nil, nil
	}
	keys := make([]int64, 0, len(hb.pending))
	for k := range hb.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rb := newRunBuilder(t, s.histRuns.nextID(), len(keys))
	for _, k := range keys {
		if err := rb.add(ctx, hb.pending[k]); err != nil {
			return nil, err
		}
	}
	return rb.finish(ctx, int64(seq), 0)
}

// loadHistoryRuns reads history.db's runs into memory.
func (s *Store) loadHistoryRuns(ctx context.Context) error {
	rows, err := s.hist.QueryContext(ctx, `SELECT id, seq, level, keys, filter, firsts FROM history_runs`)
	var runs []*historyRun
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		r := &historyRun{}
		var filter, firsts []byte
		if err := rows.Scan(&r.id, &r.seq, &r.level, &r.keys, &filter, &firsts); err != nil {
			return err
		}
		var err error
		if r.filter, err = bloom.Decode(filter, r.keys); err != nil {
			return fmt.Errorf("run %d: %w", r.id, err)
		}
		if len(firsts)%8 != 0 {
			return fmt.Errorf("run %d: malformed block index", r.id)
		}
		r.firsts = make([]int64, len(firsts)/8)
		for i := range r.firsts {
			r.firsts[i] = int64(binary.LittleEndian.Uint64(firsts[8*i:]))
		}
		runs = append(runs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load viewers' history runs: %w", err)
	}
	sortRuns(runs)
	next := int64(1)
	for _, r := range runs {
		next = max(next, r.id+1)
	}
	s.histRuns.mu.Lock()
	defer s.histRuns.mu.Unlock()
	s.histRuns.runs, s.histRuns.next = runs, next
	return nil
}

// sortRuns puts runs oldest first: by level, highest first, then by id.
// A merged run takes a new id: its inputs were the oldest runs of their
// level, newer than every run of the levels above.
func sortRuns(runs []*historyRun) {
	slices.SortFunc(runs, func(x, y *historyRun) int {
		return cmp.Or(cmp.Compare(y.level, x.level), cmp.Compare(x.id, y.id))
	})
}

// deleteRun deletes run id's blocks and row in tx.
func deleteRun(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM history_blocks WHERE id >= ? AND id < ?`, id<<historyBlockBits, (id+1)<<historyBlockBits); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM history_runs WHERE id = ?`, id)
	return err
}

// undoRuns deletes the runs of batches beyond seq at, in tx.
func undoRuns(ctx context.Context, tx *sql.Tx, at uint64) error {
	ids, err := int64Rows(tx.QueryContext(ctx, `SELECT id FROM history_runs WHERE seq > ?`, int64(at)))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteRun(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// readHistoryRun calls fn with every entry of run r, in key order.
func readHistoryRun(ctx context.Context, db *sql.DB, r *historyRun, fn func(ViewerHistory)) error {
	rows, err := db.QueryContext(ctx, `SELECT data FROM history_blocks WHERE id >= ? AND id < ? ORDER BY id`, r.id<<historyBlockBits, (r.id+1)<<historyBlockBits)
	return eachRow(rows, err, func(rows *sql.Rows) error {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		return walkBlock(b, func(h ViewerHistory) bool { fn(h); return true })
	})
}

// MergeHistory merges historyFanout runs of a level into one of the next,
// if some level has that many that crowd.db holds synced (and no backup
// holds the undo): one merge a call, the lowest level first. Aggregation's
// history writer calls it after each batch's commit.
func (s *Store) MergeHistory(ctx context.Context) error {
	if s.hist == nil || s.runsHeld.Load() > 0 || !s.histMerge.TryLock() {
		return nil // a merge at a time: the next batch's finds what is left
	}
	defer s.histMerge.Unlock()
	durable := int64(s.durable.Load())
	runs := s.histRuns.list()
	var in []*historyRun
	for level := 0; level < historyMaxLevel && in == nil; level++ {
		var at []*historyRun
		for _, r := range runs {
			if r.level == level {
				at = append(at, r) // oldest first
			}
		}
		if len(at) >= historyFanout && at[historyFanout-1].seq <= durable {
			in = at[:historyFanout]
		}
	}
	if in == nil {
		return nil
	}
	tx, err := s.hist.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	rt := &RollupTx{tx: tx, d: SQLite}
	keys := 0
	cur := make([]*runCursor, len(in))
	for i, r := range in {
		keys += r.keys
		cur[i] = &runCursor{r: r}
	}
	// The merged run sorts after every run of its level and before the
	// runs left at its inputs' (sortRuns).
	rb := newRunBuilder(rt, s.histRuns.nextID(), keys)
	heads := make([]*ViewerHistory, len(in))
	for {
		var next *ViewerHistory
		for i, c := range cur {
			if heads[i], err = c.head(ctx, rt); err != nil {
				return fmt.Errorf("merge viewers' history: %w", err)
			}
			// Of equal keys the newest input's (the last) wins.
			if h := heads[i]; h != nil && (next == nil || h.Key <= next.Key) {
				next = h
			}
		}
		if next == nil {
			break
		}
		if err := rb.add(ctx, *next); err != nil {
			return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
		}
		for i, c := range cur {
			if heads[i] != nil && heads[i].Key == next.Key {
				c.at++
			}
		}
	}
	for _, r := range in {
		if err := deleteRun(ctx, tx, r.id); err != nil {
			return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
		}
	}
	newest := in[len(in)-1]
	merged, err := rb.finish(ctx, newest.seq, newest.level+1)
	if err != nil {
		return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
	}
	// The list changes as the merge commits: a batch's transaction that
	// begins after the commit takes the runs after the change.
	s.histRuns.mu.Lock()
	defer s.histRuns.mu.Unlock()
	err = rt.Commit()
	if err != nil {
		return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
	}
	s.histRuns.runs = slices.DeleteFunc(s.histRuns.runs, func(r *historyRun) bool { return slices.Contains(in, r) })
	s.histRuns.runs = append(s.histRuns.runs, merged)
	sortRuns(s.histRuns.runs)
	return nil
}

// convertHistoryRows makes the rows of viewer_history (history.db of an
// earlier version) one run, oldest of all, and deletes them.
func (s *Store) convertHistoryRows(ctx context.Context) error {
	var some bool
	if err := s.hist.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM viewer_history)`).Scan(&some); err != nil || !some {
		return err
	}
	if len(s.histRuns.list()) > 0 {
		return errors.New("history.db holds both rows and runs of viewers' history")
	}
	// The run is of no batch (it is never undone): crowd.db's file first
	// holds every batch the rows hold, synced, so that a power failure
	// cannot take it back behind them.
	if _, err := s.write.ExecContext(ctx, `PRAGMA wal_checkpoint(FULL)`); err != nil {
		return err
	}
	tx, err := s.hist.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rt := &RollupTx{tx: tx, d: SQLite}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM viewer_history`).Scan(&n); err != nil {
		return err
	}
	rb := newRunBuilder(rt, s.histRuns.nextID(), n)
	// A page of rows read, then added (its blocks written as they fill).
	for after, first := int64(0), true; ; first = false {
		q, args := `SELECT key, video_tag, days FROM viewer_history ORDER BY key LIMIT ?`, []any{movePage}
		if !first {
			q, args = `SELECT key, video_tag, days FROM viewer_history WHERE key > ? ORDER BY key LIMIT ?`, []any{after, movePage}
		}
		var page []ViewerHistory
		rows, err := tx.QueryContext(ctx, q, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var h ViewerHistory
			if err := rows.Scan(&h.Key, &h.VideoTag, &h.Days); err != nil {
				return err
			}
			page = append(page, h)
			return nil
		})
		if err != nil {
			return err
		}
		for _, h := range page {
			if err := rb.add(ctx, h); err != nil {
				return err
			}
			after = h.Key
		}
		if len(page) < movePage {
			break
		}
	}
	if _, err := rb.finish(ctx, 0, historyMaxLevel); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM viewer_history`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM history_undo`); err != nil {
		return err
	}
	if err := rt.Commit(); err != nil {
		return err
	}
	return s.loadHistoryRuns(ctx)
}

// HistoryEntries returns every entry of viewers' history, for each key
// the newest, in key order (tests, and checks of a data dir).
func (s *Store) HistoryEntries(ctx context.Context) ([]ViewerHistory, error) {
	if s.hist == nil {
		rows, err := s.read.QueryContext(ctx, `SELECT key, video_tag, days FROM viewer_history ORDER BY key`)
		var out []ViewerHistory
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var h ViewerHistory
			if err := rows.Scan(&h.Key, &h.VideoTag, &h.Days); err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
		return out, err
	}
	byKey := map[int64]ViewerHistory{}
	for _, r := range s.histRuns.list() { // oldest first: newer entries replace
		if err := readHistoryRun(ctx, s.hist, r, func(h ViewerHistory) { byKey[h.Key] = h }); err != nil {
			return nil, err
		}
	}
	out := make([]ViewerHistory, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, byKey[k])
	}
	return out, nil
}
