package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Aggregation's batch transaction (internal/rollup/apply.go): everything a
// batch of the event log changes, written in one transaction with the
// checkpoints it moves. The statements are multi-row, up to rollupChunk
// rows to a statement (rollupChunks), and the rows of each table go in key
// order, so that concurrent aggregators on PostgreSQL take row locks in one
// order. On PostgreSQL a large write goes by COPY instead (upsert,
// stage.go).

// rollupChunk is how many rows one multi-row statement carries: one
// statement per 200 rows instead of per row, well inside every dialect's
// parameter limit.
const rollupChunk = 200

// rollupChunks cuts s into the chunks a rollup transaction of dialect d
// writes or reads in one statement each: whole chunks of rollupChunk
// rows, then, on SQLite, the rest in powers of two (128, 64, …, 1), so
// that each statement comes in at most nine sizes, which the statements
// kept across transactions (stmtCache) serve for batches of every size;
// cut at its own size, nearly every small batch's remainder would be a
// statement compiled for it alone. On PostgreSQL, where every statement
// is a round trip, the rest is one chunk.
func rollupChunks[T any](d Dialect, s []T) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			n := chunkLen(d, len(s))
			if !yield(s[:n:n]) {
				return
			}
			s = s[n:]
		}
	}
}

// chunkLen is the rows of the next statement with n rows left to write
// (rollupChunks).
func chunkLen(d Dialect, n int) int {
	switch {
	case n >= rollupChunk:
		return rollupChunk
	case d == Postgres:
		return n
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// RollupTx is a transaction of aggregation's. Its commit need not survive
// a power failure (BeginRebuildable): what it writes is rebuilt from the
// event log. Call Rollback when done with it, after Commit too.
type RollupTx struct {
	tx   *sql.Tx
	d    Dialect
	done func()
	// conn is the transaction's connection on PostgreSQL, for COPY into
	// its staging tables (stage.go); staged names those the transaction
	// has copied into.
	conn   *sql.Conn
	staged map[string]bool
	// ckpt is poked after a commit (SQLite).
	ckpt *checkpointer
	// hist is a transaction of history.db's: viewers' history as runs
	// (history_runs.go).
	hist *historyBatch

	// stmts are the statements the transaction prepared, by query:
	// compiling a multi-row statement costs about as much as running it,
	// and a batch runs each full-size one hundreds of times. They close
	// with the transaction.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// cache keeps statements across transactions (SQLite; nil on
	// PostgreSQL): see stmtCache.
	cache *stmtCache
	// deferred is the store's index of the creators' rows deferred
	// (SQLite); deferredRows the rows this transaction deferred, under
	// deferredID, indexed once it commits; deferredTaken the last id of
	// the rows it took back, let go of once it commits.
	deferred      *deferredCache
	deferredID    int64
	deferredRows  []byte
	deferredTaken int64
}

// BeginRollup starts a batch transaction of aggregation's. On PostgreSQL
// it holds a connection of its own, on which it can COPY.
func (s *Store) BeginRollup(ctx context.Context) (*RollupTx, error) {
	if s.dialect == Postgres {
		conn, err := s.write.Conn(ctx)
		if err != nil {
			return nil, err
		}
		tx, err := beginRebuildableOn(ctx, conn)
		if err != nil {
			conn.Close()
			return nil, err
		}
		return &RollupTx{tx: tx, d: s.dialect, done: func() { conn.Close() }, conn: conn}, nil
	}
	tx, done, err := s.beginRelaxed(ctx, false, true)
	if err != nil {
		return nil, err
	}
	return &RollupTx{tx: tx, d: s.dialect, done: done, cache: s.stmts, ckpt: s.ckpt, deferred: &s.deferred}, nil
}

// Commit commits the transaction and gives its connection back.
func (t *RollupTx) Commit() error {
	if t.tx == nil {
		return errors.New("commit a batch of history.db's with Store.CommitHistory")
	}
	err := t.tx.Commit()
	t.noteStages(err == nil)
	t.release()
	if err == nil {
		t.ckpt.poke()
		if t.deferredTaken > 0 {
			t.deferred.dropThrough(t.deferredTaken)
		}
		if b := t.deferredRows; b != nil {
			// Indexed beside the next batch, not on aggregation's thread.
			indexAsync(func() { t.deferred.index(t.deferredID, b) })
		}
	}
	return err
}

// Rollback rolls the transaction back, unless it is committed, and gives
// its connection back. (A batch of history.db's holds no transaction:
// nothing to do.)
func (t *RollupTx) Rollback() error {
	if t.tx == nil {
		return nil
	}
	err := t.tx.Rollback()
	t.noteStages(false)
	t.release()
	return err
}

func (t *RollupTx) release() {
	if t.done != nil {
		t.done()
		t.done = nil
		if t.cache != nil {
			// The connection is free again: keep what this
			// transaction had to compile for the next ones.
			t.cache.prepareWanted(context.Background())
		}
	}
}

func (t *RollupTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx, err := t.stmtContext(ctx)
	if err != nil {
		return nil, err
	}
	st, err := t.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *RollupTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx, err := t.stmtContext(ctx)
	if err != nil {
		return nil, err
	}
	st, err := t.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// stmtContext is the context a statement of the transaction runs with. On
// SQLite it cannot be cancelled: the driver watches a cancellable context
// on a goroutine of its own for every statement and wakes it when the
// statement ends, and a batch runs thousands of short statements: as many
// goroutines competing for the cores the batch needs (docs/PERFORMANCE.md,
// "The writer's thread off its core"). ctx is checked before each
// statement instead, so a cancelled batch stops within one statement.
// (database/sql still watches the transaction's own context for every
// query's rows.)
func (t *RollupTx) stmtContext(ctx context.Context) (context.Context, error) {
	if t.d != SQLite {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// prepared returns the transaction's statement of q, preparing it the
// first time.
func (t *RollupTx) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.stmts[q]; st != nil {
		return st, nil
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	if t.cache != nil {
		if kept := t.cache.get(q); kept != nil {
			st := t.tx.StmtContext(ctx, kept)
			t.stmts[q] = st
			return st, nil
		}
	}
	st, err := t.tx.PrepareContext(ctx, Rebind(t.d, q))
	if err != nil {
		return nil, err
	}
	if t.cache != nil {
		t.cache.compiles.Add(1)
	}
	t.stmts[q] = st
	return st, nil
}

// CheckpointName names partition p's row in rollup_checkpoint.
func CheckpointName(p int) string { return "p" + strconv.Itoa(p) }

// MoveCheckpoints moves the checkpoints of partitions to seq by
// compare-and-set: from maps each sequence a checkpoint is at to the
// partitions at it. It returns how many moved; fewer than given means
// another aggregator moved the others meanwhile.
func (t *RollupTx) MoveCheckpoints(ctx context.Context, seq uint64, from map[uint64][]int) (int64, error) {
	var names []any
	for _, q := range slices.Sorted(maps.Keys(from)) {
		for _, p := range from[q] {
			names = append(names, CheckpointName(p))
		}
	}
	if len(names) == 0 {
		return 0, nil
	}
	if t.d == Postgres {
		// Lock the rows in name order first: an UPDATE locks them in the
		// order it finds them, which after updates is the heap's, and two
		// aggregators of overlapping sets locking in different orders
		// would deadlock.
		rows, err := t.query(ctx, `SELECT name FROM rollup_checkpoint WHERE name IN `+rowsOf(1, len(names))+` ORDER BY name FOR UPDATE`, names...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
	}
	// One statement per distinct current sequence (all the same, unless
	// partitions came from different owners), each a compare-and-set of
	// its rows.
	var moved int64
	for _, q := range slices.Sorted(maps.Keys(from)) {
		for chunk := range slices.Chunk(from[q], rollupChunk) {
			args := make([]any, 0, 2+len(chunk))
			args = append(args, int64(seq), int64(q))
			for _, p := range chunk {
				args = append(args, CheckpointName(p))
			}
			res, err := t.exec(ctx, `UPDATE rollup_checkpoint SET seq = ? WHERE seq = ? AND name IN `+rowsOf(1, len(chunk)), args...)
			if err != nil {
				return 0, err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return 0, err
			}
			moved += n
		}
	}
	return moved, nil
}

// creatorsChangesKept is how many changes to videos' creators
// CreatorsChanges keeps for readers; it prunes the older ones once there
// are twice as many. A reader reads them at every batch, so it is never
// more than a few behind; one that is (a new aggregator, one whose batches
// failed for a long time) empties its cache instead.
var creatorsChangesKept int64 = 10_000

// CreatorsChanges returns, on SQLite, the videos whose creators changed
// after the change numbered after (migrations/sqlite/0006_creators_changes.sql),
// the number of the last change, complete (false when changes after after
// were pruned unread, so that the caller must forget every video's
// creators) and true. On PostgreSQL, which keeps no such changes, it
// returns nil, 0, false and false. It prunes changes beyond the newest
// creatorsChangesKept in the transaction.
func (t *RollupTx) CreatorsChanges(ctx context.Context, after int64) (videos []string, last int64, complete, ok bool, err error) {
	if t.d != SQLite {
		return nil, 0, false, false, nil
	}
	var pruned int64
	rows, err := t.query(ctx, `SELECT upto FROM creators_changes_pruned WHERE id = 1`)
	err = eachRow(rows, err, func(rows *sql.Rows) error { return rows.Scan(&pruned) })
	if err != nil {
		return nil, 0, false, false, fmt.Errorf("read creators' changes: %w", err)
	}
	last = max(after, pruned)
	rows, err = t.query(ctx, `SELECT seq, video_id FROM creators_changes WHERE seq > ? ORDER BY seq`, after)
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var v string
		if err := rows.Scan(&last, &v); err != nil {
			return err
		}
		videos = append(videos, v)
		return nil
	})
	if err != nil {
		return nil, 0, false, false, fmt.Errorf("read creators' changes: %w", err)
	}
	if last-pruned >= 2*creatorsChangesKept {
		upto := last - creatorsChangesKept
		if _, err := t.exec(ctx, `DELETE FROM creators_changes WHERE seq <= ?`, upto); err != nil {
			return nil, 0, false, false, fmt.Errorf("prune creators' changes: %w", err)
		}
		if _, err := t.exec(ctx, `UPDATE creators_changes_pruned SET upto = ? WHERE id = 1`, upto); err != nil {
			return nil, 0, false, false, fmt.Errorf("prune creators' changes: %w", err)
		}
	}
	return videos, last, after >= pruned, true, nil
}

// VideoCreators calls fn with the creators of each of the videos, each
// video's in their order, 500 videos to a statement.
func (t *RollupTx) VideoCreators(ctx context.Context, videos []string, fn func(videoID, accountID string)) error {
	for chunk := range slices.Chunk(videos, 500) {
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		rows, err := t.query(ctx, `SELECT video_id, account_id FROM video_creators WHERE video_id IN (`+placeholders(len(chunk))+`) ORDER BY video_id, position`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var v, acct string
			if err := rows.Scan(&v, &acct); err != nil {
				return err
			}
			fn(v, acct)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ActorKey names an actor pseudonym's state for a video: its like or save
// state (actor_state), or its first share or save (actor_firsts).
type ActorKey struct{ VideoID, Kind, Actor string }

// InsertFirsts records the keys (in key order) in actor_firsts and calls
// fn with each that was not there yet: the actor's first of its kind for
// the video.
func (t *RollupTx) InsertFirsts(ctx context.Context, keys []ActorKey, fn func(ActorKey)) error {
	for chunk := range rollupChunks(t.d, keys) {
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, k.VideoID, k.Kind, k.Actor)
		}
		rows, err := t.query(ctx, `INSERT INTO actor_firsts (video_id, kind, actor) VALUES `+rowsOf(len(chunk), 3)+` ON CONFLICT DO NOTHING RETURNING video_id, kind, actor`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k ActorKey
			if err := rows.Scan(&k.VideoID, &k.Kind, &k.Actor); err != nil {
				return err
			}
			fn(k)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DayCount is what a batch adds to the count of one (cap pseudonym, kind)
// of a day: its counted first shares or saves.
type DayCount struct {
	AccountDay, Kind string
	Day, N           int64
}

// AddDayCounts adds the counts (in key order) to creator_day_counts and
// calls fn with each row's total after the addition. The counts are added
// to and read back in one statement: aggregators of different partitions
// may count one row at once, and the row lock of the upsert orders them.
func (t *RollupTx) AddDayCounts(ctx context.Context, counts []DayCount, fn func(accountDay, kind string, total int64)) error {
	for chunk := range rollupChunks(t.d, counts) {
		args := make([]any, 0, 4*len(chunk))
		for _, c := range chunk {
			args = append(args, c.AccountDay, c.Kind, c.Day, c.N)
		}
		rows, err := t.query(ctx, `INSERT INTO creator_day_counts (creator_day, kind, day, n) VALUES `+rowsOf(len(chunk), 4)+`
ON CONFLICT (creator_day, kind) DO UPDATE SET n = creator_day_counts.n + excluded.n RETURNING creator_day, kind, n`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var accountDay, kind string
			var total int64
			if err := rows.Scan(&accountDay, &kind, &total); err != nil {
				return err
			}
			fn(accountDay, kind, total)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ActorStates calls fn with the stored like or save state of each of the
// keys that has one.
func (t *RollupTx) ActorStates(ctx context.Context, keys []ActorKey, fn func(k ActorKey, state int)) error {
	for chunk := range rollupChunks(t.d, keys) {
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, k.VideoID, k.Kind, k.Actor)
		}
		rows, err := t.query(ctx, `SELECT video_id, kind, actor, state FROM actor_state WHERE (video_id, kind, actor) IN (VALUES `+rowsOf(len(chunk), 3)+`)`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k ActorKey
			var st int
			if err := rows.Scan(&k.VideoID, &k.Kind, &k.Actor, &st); err != nil {
				return err
			}
			fn(k, st)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SetActorStates stores state(k) as the state of each of the keys, in
// their order.
func (t *RollupTx) SetActorStates(ctx context.Context, keys []ActorKey, state func(ActorKey) int) error {
	for chunk := range rollupChunks(t.d, keys) {
		args := make([]any, 0, 4*len(chunk))
		for _, k := range chunk {
			args = append(args, k.VideoID, k.Kind, k.Actor, state(k))
		}
		if _, err := t.exec(ctx, `INSERT INTO actor_state (video_id, kind, actor, state) VALUES `+rowsOf(len(chunk), 4)+`
ON CONFLICT (video_id, kind, actor) DO UPDATE SET state = excluded.state`, args...); err != nil {
			return err
		}
	}
	return nil
}

// VideoDayKey names a video's day.
type VideoDayKey struct {
	VideoID string
	Day     int64
}

// AddViewersBack adds n(k) to video_day.viewers_back of each of the keys,
// in their order.
func (t *RollupTx) AddViewersBack(ctx context.Context, keys []VideoDayKey, n func(VideoDayKey) int64) error {
	err := t.upsert(ctx, viewersBackUpsert, len(keys), func(i int, a []any) ([]any, error) {
		k := keys[i]
		return append(a, k.VideoID, k.Day, n(k)), nil
	})
	if err != nil {
		return fmt.Errorf("write returning viewers: %w", err)
	}
	return nil
}

// viewersBackUpsert stages its rows apart from video_day's others: a
// batch writes both.
var viewersBackUpsert = &upsert{table: "video_day", cols: []string{"video_id", "day", "viewers_back"}, types: []string{"TEXT", "BIGINT", "BIGINT"}, keys: 2,
	set: "viewers_back = video_day.viewers_back + excluded.viewers_back", stage: "crowd_stage_viewers_back"}

// ViewerGaps calls fn with the stored gaps row (video_viewer_gaps.gaps) of
// each of the keys that has one.
func (t *RollupTx) ViewerGaps(ctx context.Context, keys []VideoDayKey, fn func(k VideoDayKey, gaps []byte)) error {
	for chunk := range rollupChunks(t.d, keys) {
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.VideoID, k.Day)
		}
		rows, err := t.query(ctx, `SELECT video_id, day, gaps FROM video_viewer_gaps WHERE (video_id, day) IN (VALUES `+periodKeys(len(chunk))+`)`, args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k VideoDayKey
			var b []byte
			if err := rows.Scan(&k.VideoID, &k.Day, &b); err != nil {
				return err
			}
			fn(k, b)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read viewer gaps: %w", err)
		}
	}
	return nil
}

// periodKeys returns n groups of an id's and a period's placeholders, the
// period's type spelled out: PostgreSQL takes the parameters of a VALUES
// list for text unless told.
func periodKeys(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT)), ", n), ", ")
}

// SetViewerGaps stores gaps(k) as the gaps row of each of the keys, in
// their order; an error of gaps ends it.
func (t *RollupTx) SetViewerGaps(ctx context.Context, keys []VideoDayKey, gaps func(VideoDayKey) ([]byte, error)) error {
	err := t.upsert(ctx, gapsUpsert, len(keys), func(i int, a []any) ([]any, error) {
		k := keys[i]
		g, err := gaps(k)
		return append(a, k.VideoID, k.Day, g), err
	})
	if err != nil {
		return fmt.Errorf("write viewer gaps: %w", err)
	}
	return nil
}

var gapsUpsert = &upsert{table: "video_viewer_gaps", cols: []string{"video_id", "day", "gaps"}, types: []string{"TEXT", "BIGINT", "BYTEA"}, keys: 2,
	set: "gaps = excluded.gaps", stage: "crowd_stage_video_viewer_gaps"}

// RegisterDays notes in rollup_days that journal rows from at (Unix
// microseconds) on may hold state of the days (sorted). The earliest time
// wins: aggregators of different partitions may commit their first rows of
// a day out of time order.
func (t *RollupTx) RegisterDays(ctx context.Context, days []int64, at int64) error {
	if len(days) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(days))
	for _, day := range days {
		args = append(args, day, at)
	}
	_, err := t.exec(ctx, `INSERT INTO rollup_days (day, first_at) VALUES `+rowsOf(len(days), 2)+`
ON CONFLICT (day) DO UPDATE SET first_at = excluded.first_at WHERE excluded.first_at < rollup_days.first_at`, args...)
	return err
}

// AppendJournal writes the journal row of the batch ending at seq, of the
// partitions in the bitmap parts (nil or empty: all), written at at (Unix
// microseconds): the event ids and viewer-days it added, encoded.
func (t *RollupTx) AppendJournal(ctx context.Context, seq uint64, parts []byte, at int64, seen, viewers []byte) error {
	if parts == nil {
		parts = []byte{}
	}
	_, err := t.exec(ctx, `INSERT INTO rollup_journal (seq, parts, at, seen, viewers) VALUES (?, ?, ?, ?, ?)`,
		int64(seq), parts, at, seen, viewers)
	return err
}

// SpilledIDs calls fn with the arrival hour (Unix hours) of each of keys
// that the spill table of event ids holds, as the transaction sees it.
func (t *RollupTx) SpilledIDs(ctx context.Context, keys []uint64, fn func(key uint64, hour int64)) error {
	return spilledIDs(ctx, t.tx, t.d, keys, fn)
}

// SpilledViewers calls fn with the day and value of each of keys that the
// spill table of viewer-days holds, as the transaction sees it.
func (t *RollupTx) SpilledViewers(ctx context.Context, keys []uint64, fn func(key uint64, day int64, val uint32)) error {
	return spilledViewers(ctx, t.tx, t.d, keys, fn)
}

// Measure is a counter column of the rollup tables.
type Measure uint8

// The measures. The P measures and sharers and savers are the bounded
// ones of protected mode.
const (
	MeasureViews Measure = iota
	MeasureViewers
	MeasureWatchMS
	MeasureCompletions
	MeasureLikes
	MeasureComments
	MeasureShares
	MeasureSaves
	MeasureFollowersGained
	MeasureFollowersLost
	MeasurePViews
	MeasurePCompletions
	MeasurePWatchMS
	MeasureSharers
	MeasureSavers
	// NumMeasures is the number of measures.
	NumMeasures
)

var measureColumns = [NumMeasures]string{
	"views", "viewers", "watch_ms", "completions", "likes", "comments", "shares", "saves",
	"followers_gained", "followers_lost", "p_views", "p_completions", "p_watch_ms", "sharers", "savers",
}

// RollupTable is a rollup table that batches add rows to: its key columns,
// in the order a row's key values are given, and the measures a row adds,
// in the order their values follow the key's.
type RollupTable struct {
	name     string
	keys     []string
	measures []Measure
}

// Name returns the table's name.
func (t RollupTable) Name() string { return t.name }

// Measures returns the measures a row of the table adds, in order.
func (t RollupTable) Measures() []Measure { return slices.Clone(t.measures) }

var (
	allMeasures = []Measure{MeasureViews, MeasureViewers, MeasureWatchMS, MeasureCompletions, MeasureLikes, MeasureComments, MeasureShares, MeasureSaves,
		MeasurePViews, MeasurePCompletions, MeasurePWatchMS, MeasureSharers, MeasureSavers}
	hourMeasures = []Measure{MeasureViews, MeasureViewers, MeasureLikes, MeasureComments, MeasureShares, MeasureSaves, MeasurePViews}
)

// The rollup tables, by key: a video or a creator account (the creators of
// a video's rows), then a period (a Unix hour or day). The audience rows
// are packed (audience.go).
var (
	VideoTotalsTable = RollupTable{"video_totals", []string{"video_id"},
		[]Measure{MeasureViews, MeasureLikes, MeasureComments, MeasureShares, MeasureSaves}}
	VideoHourTable   = RollupTable{"video_hour", []string{"video_id", "hour"}, hourMeasures}
	VideoDayTable    = RollupTable{"video_day", []string{"video_id", "day"}, allMeasures}
	AccountHourTable = RollupTable{"account_hour", []string{"account_id", "hour"}, hourMeasures}
	AccountDayTable  = RollupTable{"account_day", []string{"account_id", "day"}, append(slices.Clone(allMeasures), MeasureFollowersGained, MeasureFollowersLost)}
)

// RowWriter adds a batch's rows to the rollup tables, through its
// transaction's statements (each prepared once per transaction).
type RowWriter struct {
	ctx context.Context
	rtx *RollupTx
	d   Dialect
}

// RowWriter returns a row writer of the transaction.
func (t *RollupTx) RowWriter(ctx context.Context) *RowWriter {
	return &RowWriter{ctx: ctx, rtx: t, d: t.d}
}

// AddDayRows adds rows, in key order, to the day table t (VideoDayTable or
// AccountDayTable) as AddRows does, and audience, the packed rows of the
// same key in a (VideoAudienceDayTable or AccountAudienceDayTable), as
// AddAudience does; key returns a row's key (its id and day). Where the
// dialect keeps a day's audience in its day row (SQLite, audienceIn), each
// row goes with its audience in one upsert, as both come in the same key
// order; an audience row without a day row among rows is added on its own.
func AddDayRows[R any](w *RowWriter, t RollupTable, rows []R, args func(R, []any) []any, key func(R) (string, int64), a AudienceTable, audience []AudienceRow) error {
	table, _, _, col := a.audienceIn(w.d)
	if table != t.name {
		if err := AddRows(w, t, rows, args); err != nil {
			return err
		}
		return w.AddAudience(a, audience)
	}
	u := tableUpsert(t)
	u.cols = append(u.cols, col)
	u.types = append(u.types, "BYTEA")
	u.set += ", " + mergeSet(t.name, col)
	// The packed values, appended and never overwritten: the statements'
	// parameters are slices of it.
	var buf []byte
	var alone []AudienceRow // audience rows of no day row in rows
	j := 0
	err := w.rtx.upsert(w.ctx, u, len(rows), func(i int, out []any) ([]any, error) {
		out = args(rows[i], out)
		id, day := key(rows[i])
		for j < len(audience) && cmp.Or(strings.Compare(audience[j].ID, id), cmp.Compare(audience[j].Period, day)) < 0 {
			alone = append(alone, audience[j])
			j++
		}
		if j == len(audience) || audience[j].ID != id || audience[j].Period != day {
			return append(out, nil), nil
		}
		r := &audience[j]
		j++
		if len(r.Counts) == 0 && len(r.Packed) == 0 {
			return append(out, nil), nil
		}
		start := len(buf)
		buf = r.appendPacked(buf)
		return append(out, buf[start:len(buf):len(buf)]), nil
	})
	if err != nil {
		return fmt.Errorf("upsert %s: %w", t.name, err)
	}
	if alone = append(alone, audience[j:]...); len(alone) > 0 {
		return w.AddAudience(a, alone)
	}
	return nil
}

// AddRows adds rows, in key order, to table t: args appends a row's key
// values and then the values of t's measures.
func AddRows[R any](w *RowWriter, t RollupTable, rows []R, args func(R, []any) []any) error {
	err := w.rtx.upsert(w.ctx, tableUpsert(t), len(rows), func(i int, a []any) ([]any, error) { return args(rows[i], a), nil })
	if err != nil {
		return fmt.Errorf("upsert %s: %w", t.name, err)
	}
	return nil
}
