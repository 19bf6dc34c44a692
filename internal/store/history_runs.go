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
//     (MergeHistory: built beside the batches, swapped in between two),
//     newest entry of a key kept,
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
	historyReader
	runs    []*historyRun
	pending map[int64]ViewerHistory
}

// historyReader reads runs' blocks on a pool of history.db's (db), with
// the statements kept for it (kept).
type historyReader struct {
	db   *sql.DB
	kept func(q string) *sql.Stmt
}

// query runs q on r's pool. As a batch's statements on a writer
// (RollupTx.stmtContext), it does not hand ctx to the driver.
func (r historyReader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if st := r.kept(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, q, args...)
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

// runBuilder cuts sorted entries into a run's blocks and writes them as
// they fill (a merge's run need not be held in memory): write stores
// blocks first, first+1, … of the run.
type runBuilder struct {
	write   func(ctx context.Context, first int, blocks [][]byte) error
	flushAt int // blocks filled that are written at once
	id      int64
	full    [][]byte // blocks filled, not yet written
	written int      // blocks written
	firsts  []int64
	filter  *bloom.Filter
	keys    int
	cur     []byte
	prev    int64
}

// newRunBuilder starts run id, written in t, sized for about keys keys.
func newRunBuilder(t *RollupTx, id int64, keys int) *runBuilder {
	r := &runBuilder{id: id, filter: bloom.New(keys), flushAt: rollupChunk}
	r.write = func(ctx context.Context, first int, blocks [][]byte) error {
		return insertBlocks(ctx, t, id, first, blocks)
	}
	return r
}

// add appends h, whose key is above every key added before.
func (r *runBuilder) add(ctx context.Context, h ViewerHistory) error {
	if len(r.cur) >= historyBlockBytes {
		r.full = append(r.full, r.cur)
		r.cur = nil
		if len(r.full) >= r.flushAt {
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
	if len(r.full) == 0 {
		return nil
	}
	if err := r.write(ctx, r.written, r.full); err != nil {
		return fmt.Errorf("write history run: %w", err)
	}
	r.written += len(r.full)
	r.full = r.full[:0]
	return nil
}

// insertBlocks inserts blocks first, first+1, … of run id in t.
func insertBlocks(ctx context.Context, t *RollupTx, id int64, first int, blocks [][]byte) error {
	for chunk := range rollupChunks(t.d, blocks) {
		args := make([]any, 0, 2*len(chunk))
		for _, b := range chunk {
			args = append(args, id<<historyBlockBits|int64(first), b)
			first++
		}
		if _, err := t.exec(ctx, `INSERT INTO history_blocks (id, data) VALUES `+rowsOf(len(chunk), 2), args...); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the rest of the run's blocks and returns the run, of its
// batch's sequence seq at level; its row is for the caller to write
// (insertRun).
func (r *runBuilder) finish(ctx context.Context, seq int64, level int) (*historyRun, error) {
	if len(r.cur) > 0 {
		r.full = append(r.full, r.cur)
		r.cur = nil
	}
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	return &historyRun{id: r.id, seq: seq, level: level, keys: r.keys, filter: r.filter, firsts: r.firsts}, nil
}

// insertRun writes run r's row in t.
func insertRun(ctx context.Context, t *RollupTx, r *historyRun) error {
	firsts := make([]byte, 0, 8*len(r.firsts))
	for _, k := range r.firsts {
		firsts = binary.LittleEndian.AppendUint64(firsts, uint64(k))
	}
	if _, err := t.exec(ctx, `INSERT INTO history_runs (id, seq, level, keys, filter, firsts) VALUES (?, ?, ?, ?, ?, ?)`,
		r.id, r.seq, r.level, r.keys, r.filter.AppendBinary(nil), firsts); err != nil {
		return fmt.Errorf("write history run: %w", err)
	}
	return nil
}

// runCursor reads a run's entries in key order, mergeChunk blocks at a
// time, through query.
type runCursor struct {
	r     *historyRun
	query func(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	next  int // the next block to read
	buf   []ViewerHistory
	at    int
}

// mergeChunk is the blocks a merge reads of an input at a time.
const mergeChunk = 64

// head returns the cursor's entry, or nil past the run's end.
func (c *runCursor) head(ctx context.Context) (*ViewerHistory, error) {
	if c.at == len(c.buf) && c.next < len(c.r.firsts) {
		hi := min(c.next+mergeChunk, len(c.r.firsts))
		c.buf, c.at = c.buf[:0], 0
		rows, err := c.query(ctx, `SELECT data FROM history_blocks WHERE id >= ? AND id < ? ORDER BY id`, c.r.id<<historyBlockBits|int64(c.next), c.r.id<<historyBlockBits|int64(hi))
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
			rows, err := hb.query(ctx, `SELECT id, data FROM history_blocks WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
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

// writeBatchRun writes the entries of batch hb as a run of seq, in t.
func (s *Store) writeBatchRun(ctx context.Context, t *RollupTx, hb *historyBatch, seq uint64) (*historyRun, error) {
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
	r, err := rb.finish(ctx, int64(seq), 0)
	if err != nil {
		return nil, err
	}
	return r, insertRun(ctx, t, r)
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
	// Ids are never used again while blocks of theirs may be left: a
	// merge's output not swapped in, runs merged away (history_garbage).
	var next int64
	if err := s.hist.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM history_garbage`).Scan(&next); err != nil {
		return fmt.Errorf("load viewers' history runs: %w", err)
	}
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

// Merges are built beside the batches. A merge into level 2 at 30M keys
// rewrites about 70 MB: 1.5-2.4 s in one transaction, which the next
// batch's history waited for (docs/PERFORMANCE.md, "Viewers' history
// as sorted runs"). So MergeHistory, which aggregation's history writer
// calls after each batch's commit, only starts a merge on a goroutine of
// its own (historyBuild) and swaps a built one in:
//
//   - The goroutine reads its inputs on history.db's reader and writes the
//     merged run's blocks in transactions of mergeWriteBlocks blocks, which
//     the batches' statements and commits come between. The first of them records the run's
//     id in history_garbage: until it is swapped in, its blocks are no
//     run's, and a crash or a cancelled merge leaves them to be deleted.
//   - The swap is one transaction, in MergeHistory between two batches: the
//     merged run's row in, its inputs' rows out and their ids into
//     history_garbage. No batch is reading then (a batch's look-ups read
//     the runs as it began: BeginHistory), so their blocks can go.
//   - Blocks of history_garbage's runs are deleted garbageBlocks at a time
//     by each MergeHistory, and all of them by RecoverHistory.

// mergeWriteBlocks is the blocks of a merged run one transaction writes
// (about 2 MiB), and garbageBlocks the blocks of runs merged away that a
// call of MergeHistory deletes. Variables for tests.
var (
	mergeWriteBlocks = 512
	garbageBlocks    = 1024
)

// mergeWritten runs after each transaction of a merge being built: tests
// stop a merge halfway with it.
var mergeWritten = func(context.Context) {}

// historyBuild is a merge of runs being built, or built and waiting to be
// swapped in. Its fields are MergeHistory's (under histMerge); out and
// err are set by the goroutine before done closes.
type historyBuild struct {
	in     []*historyRun
	id     int64 // the merged run's
	cancel context.CancelFunc
	done   chan struct{}
	out    *historyRun
	err    error
}

// MergeHistory moves the merges of viewers' history on: it swaps in a
// merge built (unless a backup holds the runs), deletes some blocks of
// runs merged away, and, if no merge is being built, starts one of
// historyFanout runs of a level into one of the next, if some level has
// that many that crowd.db holds synced (the lowest level first).
// Aggregation's history writer calls it after each batch's commit,
// between batches (see above).
func (s *Store) MergeHistory(ctx context.Context) error {
	if s.hist == nil || !s.histMerge.TryLock() {
		return nil
	}
	defer s.histMerge.Unlock()
	b := &s.histBuild
	if b.done != nil {
		select {
		case <-b.done:
			if b.err != nil {
				err := b.err
				*b = historyBuild{} // its blocks are garbage
				return fmt.Errorf("merge viewers' history: %w", err)
			}
			if s.runsHeld.Load() > 0 {
				break
			}
			if err := s.swapMerge(ctx); err != nil {
				return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
			}
		default: // still being built
		}
	}
	if err := s.collectGarbage(ctx, garbageBlocks); err != nil {
		return fmt.Errorf("merge viewers' history: %w", s.writeErr(err))
	}
	if b.done != nil || s.runsHeld.Load() > 0 {
		return nil
	}
	durable := int64(s.durable.Load())
	runs := s.histRuns.list()
	for level := 0; level < historyMaxLevel; level++ {
		var at []*historyRun
		for _, r := range runs {
			if r.level == level {
				at = append(at, r) // oldest first
			}
		}
		if len(at) >= historyFanout && at[historyFanout-1].seq <= durable {
			s.startMerge(at[:historyFanout])
			return nil
		}
	}
	return nil
}

// startMerge starts building the merge of runs in (historyBuild).
func (s *Store) startMerge(in []*historyRun) {
	ctx, cancel := context.WithCancel(context.Background())
	// The merged run sorts after every run of its level and before the
	// runs left at its inputs' (sortRuns).
	b := &s.histBuild
	id, done := s.histRuns.nextID(), make(chan struct{})
	*b = historyBuild{in: in, id: id, cancel: cancel, done: done}
	go func() {
		defer close(done)
		out, err := s.buildMerge(ctx, in, id)
		b.out, b.err = out, err
	}()
}

// buildMerge writes the merge of runs in as run id's blocks and returns
// the run, its row not written.
func (s *Store) buildMerge(ctx context.Context, in []*historyRun, id int64) (*historyRun, error) {
	keys := 0
	cur := make([]*runCursor, len(in))
	read := historyReader{db: s.histRead, kept: s.histReads.get}
	for i, r := range in {
		keys += r.keys
		cur[i] = &runCursor{r: r, query: read.query}
	}
	rb := &runBuilder{id: id, filter: bloom.New(keys), flushAt: mergeWriteBlocks}
	rb.write = func(ctx context.Context, first int, blocks [][]byte) error {
		t, err := s.beginHistoryWrite(ctx)
		if err != nil {
			return err
		}
		defer t.Rollback()
		if first == 0 {
			if _, err := t.exec(ctx, `INSERT INTO history_garbage (id) VALUES (?)`, id); err != nil {
				return err
			}
		}
		if err := insertBlocks(ctx, t, id, first, blocks); err != nil {
			return err
		}
		if err := t.Commit(); err != nil {
			return err
		}
		mergeWritten(ctx)
		return nil
	}
	heads := make([]*ViewerHistory, len(in))
	for {
		var next *ViewerHistory
		for i, c := range cur {
			var err error
			if heads[i], err = c.head(ctx); err != nil {
				return nil, err
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
			return nil, err
		}
		for i, c := range cur {
			if heads[i] != nil && heads[i].Key == next.Key {
				c.at++
			}
		}
	}
	newest := in[len(in)-1]
	return rb.finish(ctx, newest.seq, newest.level+1)
}

// swapMerge swaps the merge built in: its run's row in, its inputs' rows
// out and their blocks to history_garbage.
func (s *Store) swapMerge(ctx context.Context) error {
	b := &s.histBuild
	t, err := s.beginHistoryWrite(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	for _, r := range b.in {
		if _, err := t.exec(ctx, `DELETE FROM history_runs WHERE id = ?`, r.id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO history_garbage (id) VALUES (?)`, r.id); err != nil {
			return err
		}
	}
	if err := insertRun(ctx, t, b.out); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM history_garbage WHERE id = ?`, b.out.id); err != nil {
		return err
	}
	// The list changes as the swap commits: a batch that begins after it
	// takes the runs after the change.
	s.histRuns.mu.Lock()
	defer s.histRuns.mu.Unlock()
	if err := t.Commit(); err != nil {
		return err
	}
	s.histRuns.runs = slices.DeleteFunc(s.histRuns.runs, func(r *historyRun) bool { return slices.Contains(b.in, r) })
	s.histRuns.runs = append(s.histRuns.runs, b.out)
	sortRuns(s.histRuns.runs)
	*b = historyBuild{}
	return nil
}

// collectGarbage deletes up to limit blocks (all, if limit < 0) of the
// runs in history_garbage, but the merge's being built, and the rows of
// those it empties. The caller holds histMerge.
func (s *Store) collectGarbage(ctx context.Context, limit int) error {
	building := int64(-1)
	if s.histBuild.done != nil {
		building = s.histBuild.id
	}
	ids, err := int64Rows(s.hist.QueryContext(ctx, `SELECT id FROM history_garbage WHERE id != ? ORDER BY id`, building))
	if err != nil || len(ids) == 0 {
		return err
	}
	t, err := s.beginHistoryWrite(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	for _, id := range ids {
		n := limit
		if n < 0 {
			n = 1 << historyBlockBits
		}
		res, err := t.exec(ctx, `DELETE FROM history_blocks WHERE id IN (SELECT id FROM history_blocks WHERE id >= ? AND id < ? LIMIT ?)`,
			id<<historyBlockBits, (id+1)<<historyBlockBits, n)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if deleted < int64(n) {
			if _, err := t.exec(ctx, `DELETE FROM history_garbage WHERE id = ?`, id); err != nil {
				return err
			}
		}
		if limit >= 0 {
			if limit -= int(deleted); limit <= 0 {
				break
			}
		}
	}
	return t.Commit()
}

// stopHistoryBuild stops the merge being built, if any, and waits for it:
// its blocks are left to collectGarbage. The caller holds histMerge.
func (s *Store) stopHistoryBuild() {
	if b := &s.histBuild; b.done != nil {
		b.cancel()
		<-b.done
		*b = historyBuild{}
	}
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
	r, err := rb.finish(ctx, 0, historyMaxLevel)
	if err != nil {
		return err
	}
	if err := insertRun(ctx, rt, r); err != nil {
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
	s.histMerge.Lock() // no swap, no block of a run read deleted
	defer s.histMerge.Unlock()
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
