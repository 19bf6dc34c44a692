package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
)

// Viewers' history in a database of its own (SQLite).
//
// SQLite has one writer per database file, and aggregation's writer is
// what a batch waits for (docs/PERFORMANCE.md, "What stops aggregation").
// Viewers' history (viewer_history.go) is read and written by aggregation
// alone, and a batch needs only what it changes in the counts derived from
// it (pairs of days, a few rows a video). So on SQLite it lives in
// history.db beside crowd.db, written on a connection of its own by a
// goroutine of aggregation's while the batch's transaction writes the
// other rows (internal/rollup/history.go): a second writer, on the other
// core.
//
// Two files commit apart, so exactly once takes a protocol. A batch
// commits history.db first, durably (synchronous FULL), then crowd.db with
// its checkpoint. history.db's commit holds, beside the rows, the batch's
// last log sequence (history_mark) and an undo entry (history_undo): each
// changed row as it was before the batch, or its absence. A crash between
// the two commits leaves history.db one batch ahead of crowd.db's
// checkpoints; opening the store (and aggregation, after a batch that
// failed between the commits) undoes the batches beyond the checkpoints,
// newest first, and the log replays them.
//
// crowd.db's batch commits are not synced (aggregates are rebuilt from the
// log), so a power failure can take it back several batches, while
// history.db, synced before each of them, is never behind it. An undo
// entry is therefore kept until crowd.db's file holds its batch synced:
// until a checkpoint of crowd.db's write-ahead log, which syncs it, has
// copied every frame of a commit at or past the entry's sequence
// (checkpointer.durable, noteDurable); and while a backup copies the two
// files one after the other (HoldHistoryUndo). Between two such
// checkpoints (about a second under load) a few batches' entries wait.

//
// The actors' states (actor_state, actor_firsts and creator_day_counts:
// likes, saves and first shares by actor pseudonym, and the daily cap's
// counts) are aggregation's alone too, and what a batch reads of them
// (which events change nothing, which count) decides only what it credits.
// So they live in history.db as well (version 1, historyVersion), and the
// history writer's goroutine looks them up for each chunk while the
// batch's writer goes on with the next (internal/rollup/history.go); their
// undo entries (actor_undo, AppendActorUndo) follow the viewers' history's.

// historySchema is history.db's schema: viewer_history as crowd.db's
// (0003_viewer_history_key.sql), the actors' states as crowd.db's
// (0001_schema.sql), the undo entries by the log sequence of their batch,
// and the sequence of the last batch committed.
const historySchema = `CREATE TABLE IF NOT EXISTS viewer_history (
	key       INTEGER PRIMARY KEY,
	video_tag INTEGER NOT NULL,
	days      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS actor_state (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	state    INTEGER NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actor_firsts (
	video_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	PRIMARY KEY (video_id, kind, actor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS creator_day_counts (
	creator_day TEXT NOT NULL,
	kind        TEXT NOT NULL,
	day         BIGINT NOT NULL,
	n           BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (creator_day, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_undo (
	seq  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS actor_undo (
	seq  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_mark (
	id  INTEGER PRIMARY KEY CHECK (id = 0),
	seq INTEGER NOT NULL
)`

// historyVersion is history.db's version (its user_version): 1 since the
// actors' states moved in. A history.db of version 0 takes crowd.db's
// rows of them when opened (moveActors).
const historyVersion = 1

// actorTables are the actors' states' tables, each with its columns.
var actorTables = [...]struct{ name, cols string }{
	{"actor_state", "video_id, kind, actor, state"},
	{"actor_firsts", "video_id, kind, actor"},
	{"creator_day_counts", "creator_day, kind, day, n"},
}

// HistoryFile is history.db's name in the data dir.
const HistoryFile = "history.db"

// openHistory opens (creating if needed) history.db in dir.
func (s *Store) openHistory(ctx context.Context, dir, pragmas string) error {
	s.histPath = filepath.Join(dir, HistoryFile)
	// secure_delete off: history.db holds hashes, tags and days, nothing
	// to erase, and its undo entries are deleted batch after batch.
	// cache_size 16 MiB: its keys are hashes, so a batch's rows fall on
	// pages all over the table, which outgrows any cache the memory target
	// allows (a million videos: hundreds of MiB); the operating system's
	// page cache serves the rest. 64 MiB measured the same within the
	// noise (docs/PERFORMANCE.md, runs 182-190).
	db, err := sql.Open("sqlite", "file:"+s.histPath+"?"+pragmas+"&_pragma=secure_delete(0)&_pragma=cache_size(-16384)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("open history: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, historySchema); err != nil {
		db.Close()
		return fmt.Errorf("open history: %w", mapErr(err))
	}
	s.hist = db
	s.histStmts = newStmtCache(db, stmtCacheBytes)
	return nil
}

// HistoryApart reports whether viewers' history lives in history.db,
// written by BeginHistory's transactions beside aggregation's.
func (s *Store) HistoryApart() bool { return s.hist != nil }

// HistoryDB returns the database viewers' history is read from: history.db
// where it is apart, else the read pool.
func (s *Store) HistoryDB() *sql.DB {
	if s.hist != nil {
		return s.hist
	}
	return s.read
}

// BeginHistory starts a batch's transaction on history.db. Commit it with
// CommitHistory.
func (s *Store) BeginHistory(ctx context.Context) (*RollupTx, error) {
	tx, err := s.hist.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.writeErr(err)
	}
	return &RollupTx{tx: tx, d: SQLite, done: func() {}, cache: s.histStmts}, nil
}

// CommitHistory commits a batch's history transaction tx with the batch's
// last log sequence seq and its undo entries (AppendHistoryUndo for the
// viewers' history, AppendActorUndo for the actors' states), dropping the
// undo entries crowd.db holds synced, unless a backup holds them.
func (s *Store) CommitHistory(ctx context.Context, tx *RollupTx, seq uint64, undo, actorUndo []byte) error {
	for _, u := range []struct {
		table string
		data  []byte
	}{{"history_undo", undo}, {"actor_undo", actorUndo}} {
		if len(u.data) > 0 {
			if _, err := tx.exec(ctx, `INSERT OR REPLACE INTO `+u.table+` (seq, data) VALUES (?, ?)`, int64(seq), u.data); err != nil {
				return fmt.Errorf("commit history: %w", err)
			}
		}
		if s.undoHeld.Load() == 0 {
			if _, err := tx.exec(ctx, `DELETE FROM `+u.table+` WHERE seq <= ?`, int64(min(s.durable.Load(), seq-1))); err != nil {
				return fmt.Errorf("commit history: %w", err)
			}
		}
	}
	if _, err := tx.exec(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(seq)); err != nil {
		return fmt.Errorf("commit history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit history: %w", s.writeErr(err))
	}
	return nil
}

// noteDurable notes that crowd.db's file holds aggregation's checkpoints
// up to seq synced (the checkpointer, after a checkpoint that copied every
// frame).
func (s *Store) noteDurable(seq uint64) {
	for {
		d := s.durable.Load()
		if seq <= d || s.durable.CompareAndSwap(d, seq) {
			return
		}
	}
}

// HoldHistoryUndo keeps every undo entry until the returned func is
// called: a backup copies crowd.db, then history.db, which may be batches
// ahead by then; opening the copy undoes them.
func (s *Store) HoldHistoryUndo() (release func()) {
	s.undoHeld.Add(1)
	return func() { s.undoHeld.Add(-1) }
}

// AppendHistoryUndo appends to undo the state of a history row before a
// batch changed it: absent (stored false), or its tag and days.
func AppendHistoryUndo(undo []byte, key int64, stored bool, tag int32, days []byte) []byte {
	undo = binary.AppendVarint(undo, key)
	if !stored {
		return binary.AppendUvarint(undo, 0)
	}
	undo = binary.AppendUvarint(undo, uint64(len(days))+1)
	undo = binary.LittleEndian.AppendUint32(undo, uint32(tag))
	return append(undo, days...)
}

// historyBefore is an entry of an undo entry.
type historyBefore struct {
	key    int64
	stored bool
	tag    int32
	days   []byte
}

var errBadUndo = errors.New("malformed history undo entry")

// decodeHistoryUndo returns the entries of an undo entry, in order.
func decodeHistoryUndo(b []byte) ([]historyBefore, error) {
	var out []historyBefore
	for len(b) > 0 {
		key, n := binary.Varint(b)
		if n <= 0 {
			return nil, errBadUndo
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)) {
			return nil, errBadUndo
		}
		b = b[n:]
		if l == 0 {
			out = append(out, historyBefore{key: key})
			continue
		}
		l--
		if uint64(len(b)) < 4+l {
			return nil, errBadUndo
		}
		tag := int32(binary.LittleEndian.Uint32(b))
		out = append(out, historyBefore{key: key, stored: true, tag: tag, days: b[4 : 4+l]})
		b = b[4+l:]
	}
	return out, nil
}

// highestCheckpoint reads the highest of aggregation's checkpoints: where
// its last batch committed (the checkpointer reads it too).
const highestCheckpoint = `SELECT COALESCE(MAX(seq), 0) FROM rollup_checkpoint`

// lastBatchAt returns the highest of aggregation's checkpoints in
// crowd.db.
func (s *Store) lastBatchAt(ctx context.Context) (uint64, error) {
	var seq int64
	if err := s.write.QueryRowContext(ctx, highestCheckpoint).Scan(&seq); err != nil {
		return 0, fmt.Errorf("recover history: %w", err)
	}
	return uint64(seq), nil
}

// RecoverHistory makes history.db agree with crowd.db's checkpoints: it
// undoes the batches history.db committed beyond them, newest first (a
// crash between a batch's two commits, or a backup's copies). A new
// history.db takes crowd.db's viewer_history rows (a data dir of an
// earlier version, or its backup). Open calls it; so does aggregation
// after a batch that failed once history.db had committed.
func (s *Store) RecoverHistory(ctx context.Context) error {
	if s.hist == nil {
		return nil
	}
	at, err := s.lastBatchAt(ctx)
	if err != nil {
		return err
	}
	var mark sql.NullInt64
	err = s.hist.QueryRowContext(ctx, `SELECT seq FROM history_mark`).Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("recover history: %w", err)
	}
	if !mark.Valid {
		if err := s.moveHistory(ctx, at); err != nil {
			return fmt.Errorf("recover history: %w", err)
		}
	} else if uint64(mark.Int64) > at {
		if err := s.undoHistory(ctx, at); err != nil {
			return fmt.Errorf("recover history: %w", err)
		}
	}
	if err := s.moveActors(ctx); err != nil {
		return fmt.Errorf("recover history: %w", err)
	}
	// crowd.db's rows, once history.db holds them (a move that crashed
	// before this).
	for _, table := range []string{"viewer_history", actorTables[0].name, actorTables[1].name, actorTables[2].name} {
		var left bool
		if err := s.write.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&left); err != nil {
			return fmt.Errorf("recover history: %w", err)
		}
		if left {
			if _, err := s.write.ExecContext(ctx, `DELETE FROM `+table); err != nil {
				return fmt.Errorf("recover history: %w", mapErr(err))
			}
		}
	}
	return nil
}

// undoHistory undoes the batches of history.db beyond seq at, newest
// first, and marks it at at.
func (s *Store) undoHistory(ctx context.Context, at uint64) error {
	tx, err := s.hist.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	type entry struct {
		actors bool
		data   []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, 0, data FROM history_undo WHERE seq > ?1
UNION ALL SELECT seq, 1, data FROM actor_undo WHERE seq > ?1 ORDER BY 1 DESC`, int64(at))
	var undos []entry
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var e entry
		var seq int64
		if err := rows.Scan(&seq, &e.actors, &e.data); err != nil {
			return err
		}
		undos = append(undos, e)
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range undos {
		if u.actors {
			err = undoActors(ctx, tx, u.data)
		} else {
			err = undoViewers(ctx, tx, u.data)
		}
		if err != nil {
			return err
		}
	}
	for _, table := range []string{"history_undo", "actor_undo"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE seq > ?`, int64(at)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(at)); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// undoViewers puts back the viewers' history rows of an undo entry, its
// last change first.
func undoViewers(ctx context.Context, tx *sql.Tx, data []byte) error {
	before, err := decodeHistoryUndo(data)
	if err != nil {
		return err
	}
	for _, h := range slices.Backward(before) {
		if h.stored {
			_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO viewer_history (key, video_tag, days) VALUES (?, ?, ?)`, h.key, h.tag, h.days)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM viewer_history WHERE key = ?`, h.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// undoActors puts back the actors' states of an undo entry, its last
// change first.
func undoActors(ctx context.Context, tx *sql.Tx, data []byte) error {
	before, err := decodeActorUndo(data)
	if err != nil {
		return err
	}
	for _, b := range slices.Backward(before) {
		switch {
		case b.table == undoState && b.stored:
			_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO actor_state (video_id, kind, actor, state) VALUES (?, ?, ?, ?)`, b.id, b.kind, b.actor, b.value)
		case b.table == undoState:
			_, err = tx.ExecContext(ctx, `DELETE FROM actor_state WHERE video_id = ? AND kind = ? AND actor = ?`, b.id, b.kind, b.actor)
		case b.table == undoFirst:
			_, err = tx.ExecContext(ctx, `DELETE FROM actor_firsts WHERE video_id = ? AND kind = ? AND actor = ?`, b.id, b.kind, b.actor)
		case b.stored:
			_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO creator_day_counts (creator_day, kind, day, n) VALUES (?, ?, ?, ?)`, b.id, b.kind, b.day, b.value)
		default:
			_, err = tx.ExecContext(ctx, `DELETE FROM creator_day_counts WHERE creator_day = ? AND kind = ?`, b.id, b.kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// The records of an actors' undo entry: the table's tag, then the row's
// key and what it held before the batch.
const (
	undoState = 1 + iota // actor_state: video, kind, actor; 0 (absent) or its state + 1
	undoFirst            // actor_firsts: video, kind, actor (absent before)
	undoCount            // creator_day_counts: cap key, kind; 0 (absent) or its count + 1; its day
)

// AppendStateUndo appends to undo a like or save state before a batch
// changed it: absent (stored false), or state.
func AppendStateUndo(undo []byte, k ActorKey, stored bool, state int) []byte {
	undo = appendActorKey(append(undo, undoState), k.VideoID, k.Kind, k.Actor)
	return appendBefore(undo, stored, int64(state))
}

// AppendFirstUndo appends to undo a first share or save a batch recorded.
func AppendFirstUndo(undo []byte, k ActorKey) []byte {
	return appendActorKey(append(undo, undoFirst), k.VideoID, k.Kind, k.Actor)
}

// AppendDayCountUndo appends to undo a cap key's count before a batch
// added to it: n, or absent if n is 0 (the table holds no zero counts).
func AppendDayCountUndo(undo []byte, accountDay, kind string, day, n int64) []byte {
	undo = appendActorKey(append(undo, undoCount), accountDay, kind)
	undo = appendBefore(undo, n != 0, n)
	return binary.AppendVarint(undo, day)
}

func appendActorKey(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

func appendBefore(b []byte, stored bool, v int64) []byte {
	if !stored {
		return binary.AppendUvarint(b, 0)
	}
	return binary.AppendUvarint(b, uint64(v)+1)
}

// actorBefore is a record of an actors' undo entry.
type actorBefore struct {
	table           byte
	id, kind, actor string // actor empty for undoCount
	stored          bool
	value, day      int64
}

// decodeActorUndo returns the records of an actors' undo entry, in order.
func decodeActorUndo(b []byte) ([]actorBefore, error) {
	var out []actorBefore
	str := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", false
		}
		v := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return v, true
	}
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for len(b) > 0 {
		r := actorBefore{table: b[0]}
		b = b[1:]
		if r.table < undoState || r.table > undoCount {
			return nil, errBadUndo
		}
		var ok1, ok2, ok3 bool
		r.id, ok1 = str()
		r.kind, ok2 = str()
		ok3 = true
		if r.table != undoCount {
			r.actor, ok3 = str()
		}
		if !ok1 || !ok2 || !ok3 {
			return nil, errBadUndo
		}
		if r.table != undoFirst {
			v, ok := uv()
			if !ok || v > 1<<62 {
				return nil, errBadUndo
			}
			if v > 0 {
				r.stored, r.value = true, int64(v-1)
			}
		}
		if r.table == undoCount {
			day, n := binary.Varint(b)
			if n <= 0 {
				return nil, errBadUndo
			}
			r.day, b = day, b[n:]
		}
		out = append(out, r)
	}
	return out, nil
}

// withCrowd runs fn in a transaction of history.db's with crowd.db
// attached (read-only, as "crowd").
func (s *Store) withCrowd(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.hist.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS crowd`, "file:"+s.path+"?mode=ro"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE crowd`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// moveHistory fills a new history.db with crowd.db's viewer_history rows
// and marks it at at, in one transaction of history.db's; RecoverHistory
// then empties crowd.db's table.
func (s *Store) moveHistory(ctx context.Context, at uint64) error {
	return s.withCrowd(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO viewer_history (key, video_tag, days) SELECT key, video_tag, days FROM crowd.viewer_history`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(at))
		return err
	})
}

// moveActors fills a history.db of version 0 with crowd.db's rows of the
// actors' states, in one transaction of history.db's that makes it of
// version 1; RecoverHistory then empties crowd.db's tables. Called once
// history.db agrees with crowd.db's checkpoints.
func (s *Store) moveActors(ctx context.Context) error {
	var version int
	if err := s.hist.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version >= historyVersion {
		return nil
	}
	return s.withCrowd(ctx, func(tx *sql.Tx) error {
		for _, t := range actorTables {
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+t.name+` (`+t.cols+`) SELECT `+t.cols+` FROM crowd.`+t.name); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, historyVersion))
		return err
	})
}

// Dir returns the data directory of a SQLite store ("" on PostgreSQL).
func (s *Store) Dir() string {
	if s.path == "" {
		return ""
	}
	return filepath.Dir(s.path)
}
