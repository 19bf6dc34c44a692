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
// its checkpoint. history.db's commit holds the batch's entries as a run
// marked with the batch's last log sequence (history_runs.go) and that
// sequence as history.db's mark (history_mark). A crash between the two
// commits leaves history.db one batch ahead of crowd.db's checkpoints;
// opening the store (and aggregation, after a batch that failed between
// the commits) deletes the runs of the batches beyond the checkpoints, and
// the log replays them.
//
// crowd.db's batch commits are not synced (aggregates are rebuilt from the
// log), so a power failure can take it back several batches, while
// history.db, synced before each of them, is never behind it. A batch's
// run is therefore kept apart (not merged) until crowd.db's file holds its
// batch synced: until a checkpoint of crowd.db's write-ahead log, which
// syncs it, has copied every frame of a commit at or past the run's
// sequence (checkpointer.durable, noteDurable); and while a backup copies
// the two files one after the other (HoldHistoryRuns). Between two such
// checkpoints (about a second under load) a few batches' runs wait.

// historySchema is history.db's schema: the runs of viewers' history
// (history_runs.go) and the sequence of the last batch committed;
// viewer_history (rows, as crowd.db's 0003_viewer_history_key.sql) and
// history_undo (each batch's changed rows as they were) are those of
// earlier versions, which RecoverHistory converts.
const historySchema = `CREATE TABLE IF NOT EXISTS viewer_history (
	key       INTEGER PRIMARY KEY,
	video_tag INTEGER NOT NULL,
	days      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_undo (
	seq  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_mark (
	id  INTEGER PRIMARY KEY CHECK (id = 0),
	seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history_runs (
	id     INTEGER PRIMARY KEY,
	seq    INTEGER NOT NULL,
	level  INTEGER NOT NULL,
	keys   INTEGER NOT NULL,
	filter BLOB NOT NULL,
	firsts BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_blocks (
	id   INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history_garbage (
	id INTEGER PRIMARY KEY
)`

// HistoryFile is history.db's name in the data dir.
const HistoryFile = "history.db"

// openHistory opens (creating if needed) history.db in dir.
func (s *Store) openHistory(ctx context.Context, dir, pragmas string) error {
	s.histPath = filepath.Join(dir, HistoryFile)
	// secure_delete off: history.db holds hashes, tags and days, nothing
	// to erase, and its merged runs are deleted as they merge.
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
	// A reader, for a merge being built to read its inputs beside the
	// writer (history_runs.go): runs' blocks never change once written.
	// (A batch's look-ups stay on the writer's connection, whose page
	// cache its own writes never invalidate: on a reader, which drops
	// its cache at each read after a write, they cost a third more CPU
	// in BenchmarkHistory.)
	r, err := sql.Open("sqlite", "file:"+s.histPath+"?"+pragmas+"&_pragma=cache_size(-2048)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("open history: %w", err)
	}
	r.SetMaxOpenConns(1)
	s.histRead = r
	s.histReads = newReadStmts(r, readStmtBytes)
	return s.loadHistoryRuns(ctx)
}

// HistoryApart reports whether viewers' history lives in history.db,
// written by BeginHistory's transactions beside aggregation's.
func (s *Store) HistoryApart() bool { return s.hist != nil }

// BeginHistory starts a batch of history.db's. It holds no transaction:
// its look-ups read the runs as it began, a statement at a time on
// history.db's writer connection, and its entries are held in memory until
// CommitHistory writes them as a run in one short transaction, so a merge
// being built writes between its statements (MergeHistory). Call Rollback
// when done with it, after CommitHistory too.
func (s *Store) BeginHistory(ctx context.Context) (*RollupTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A run the batch sees stays whole until the batch ends: runs merged
	// away lose their blocks only in MergeHistory, which aggregation's
	// history writer calls between batches.
	hb := &historyBatch{historyReader: historyReader{db: s.hist, kept: s.histStmts.get}, runs: s.histRuns.list(), pending: map[int64]ViewerHistory{}}
	return &RollupTx{d: SQLite, hist: hb}, nil
}

// CommitHistory commits a batch of history.db's, hb: its entries as a run
// of the batch's last log sequence seq, and seq as history.db's mark, in
// one transaction.
func (s *Store) CommitHistory(ctx context.Context, hb *RollupTx, seq uint64) error {
	tx, err := s.beginHistoryWrite(ctx)
	if err != nil {
		return fmt.Errorf("commit history: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	run, err := s.writeBatchRun(ctx, tx, hb.hist, seq)
	if err != nil {
		return fmt.Errorf("commit history: %w", s.writeErr(err))
	}
	if _, err := tx.exec(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(seq)); err != nil {
		return fmt.Errorf("commit history: %w", s.writeErr(err))
	}
	if run != nil {
		s.histRuns.mu.Lock()
		defer s.histRuns.mu.Unlock()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit history: %w", s.writeErr(err))
	}
	if run != nil {
		s.histRuns.runs = append(s.histRuns.runs, run)
	}
	return nil
}

// beginHistoryWrite begins a transaction of history.db's writer.
func (s *Store) beginHistoryWrite(ctx context.Context) (*RollupTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := s.hist.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil) // RollupTx.stmtContext
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &RollupTx{tx: tx, d: SQLite, done: func() { conn.Close() }, cache: s.histStmts}, nil
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

// HoldHistoryRuns keeps every batch's run of viewers' history as it is
// (no merge) until the returned func is called: a backup copies crowd.db,
// then history.db, which may be batches ahead by then; opening the copy
// undoes them.
func (s *Store) HoldHistoryRuns() (release func()) {
	s.runsHeld.Add(1)
	return func() { s.runsHeld.Add(-1) }
}

// historyBefore is an entry of an earlier version's undo entry (history_undo):
// a row as it was before a batch changed it.
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
// undoes the batches history.db committed beyond them (a crash between a
// batch's two commits, or a backup's copies): their runs, and the undo
// entries of an earlier version's rows, newest first. A new history.db
// takes crowd.db's viewer_history rows (a data dir of an earlier version,
// or its backup), and rows become a run (history_runs.go). Open calls it;
// so does aggregation after a batch that failed once history.db had
// committed.
func (s *Store) RecoverHistory(ctx context.Context) error {
	if s.hist == nil {
		return nil
	}
	s.histMerge.Lock() // no merge changes the runs meanwhile
	defer s.histMerge.Unlock()
	s.stopHistoryBuild() // its inputs may be reloaded below
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
		if err := s.loadHistoryRuns(ctx); err != nil {
			return err
		}
	}
	// crowd.db's rows, once history.db holds them (a move that crashed
	// before this).
	var left bool
	if err := s.write.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM viewer_history)`).Scan(&left); err != nil {
		return fmt.Errorf("recover history: %w", err)
	}
	if left {
		if _, err := s.write.ExecContext(ctx, `DELETE FROM viewer_history`); err != nil {
			return fmt.Errorf("recover history: %w", mapErr(err))
		}
	}
	if err := s.convertHistoryRows(ctx); err != nil {
		return fmt.Errorf("recover history: convert rows to a run: %w", mapErr(err))
	}
	if err := s.collectGarbage(ctx, -1); err != nil {
		return fmt.Errorf("recover history: %w", mapErr(err))
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
	rows, err := tx.QueryContext(ctx, `SELECT data FROM history_undo WHERE seq > ? ORDER BY seq DESC`, int64(at))
	var undos [][]byte
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		undos = append(undos, b)
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range undos {
		before, err := decodeHistoryUndo(u)
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
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM history_undo WHERE seq > ?`, int64(at)); err != nil {
		return err
	}
	if err := undoRuns(ctx, tx, at); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(at)); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// moveHistory fills a new history.db with crowd.db's viewer_history rows
// and marks it at at, in one transaction of history.db's; RecoverHistory
// then empties crowd.db's table.
func (s *Store) moveHistory(ctx context.Context, at uint64) error {
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO viewer_history (key, video_tag, days) SELECT key, video_tag, days FROM crowd.viewer_history`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO history_mark (id, seq) VALUES (0, ?)`, int64(at)); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

// Dir returns the data directory of a SQLite store ("" on PostgreSQL).
func (s *Store) Dir() string {
	if s.path == "" {
		return ""
	}
	return filepath.Dir(s.path)
}
