// Package store persists Crowd's domain state in SQLite (the embedded
// default) or PostgreSQL (scale-out), from one code base: the SQL is written
// once with '?' placeholders and portable syntax, and rebound for
// PostgreSQL. Every public method runs in one transaction. Domain actions
// that produce analytics events write them to the outbox in the same
// transaction, so an action and its event never get out of step.
//
// It also holds the SQL of aggregation (internal/rollup) and of the
// disclosure layer (internal/disclosure), which keep the logic and call
// typed methods for their data: a batch's writes go through a RollupTx
// (rollup_rows.go), aggregation's bookkeeping and snapshots are in
// rollup_state.go and snapshots.go, released cells and the rollups reports
// read in cells.go and reports.go. Those methods run their statements as
// the two packages always did: reads one statement each on the read pool,
// without a transaction around them, and multi-row writes chunk by chunk.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crowd-dev/crowd/internal/platform"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL engine behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is Crowd's database. It is safe for concurrent use.
type Store struct {
	dialect Dialect
	// write is the pool for transactions that write. On SQLite it has one
	// connection: SQLite allows one writer, and a single writer connection
	// avoids SQLITE_BUSY_SNAPSHOT, which bypasses busy_timeout.
	write *sql.DB
	// read serves read-only queries; on SQLite a separate pool of readers
	// that WAL lets run beside the writer. On PostgreSQL it is write.
	read *sql.DB
	// path is the SQLite database file.
	path string
	now  func() time.Time
	// guard, fault and diskFull: Options.WriteGuard, WriteFault, DiskFull.
	guard    func() error
	fault    func() error
	diskFull func(error)
	// watch are the watchers of account changes (WatchAccounts).
	watch watchers
	// stmts keeps aggregation's statements prepared on the write
	// connection across transactions (SQLite only).
	stmts *stmtCache
	// readStmts keeps the read pool's statements prepared (SQLite only;
	// nil on PostgreSQL, whose driver keeps them per connection).
	readStmts *readStmts
	// ckpt copies the write-ahead log into the database beside the writer
	// (SQLite only; checkpointer.go).
	ckpt *checkpointer
	// deferred indexes the creators' rows deferred, for the creators'
	// reads (SQLite only; deferred_overlay.go).
	deferred deferredCache
	// hist is history.db's one writer, histStmts its statements kept;
	// histRead its reader (a merge's inputs), histReads its statements
	// kept (SQLite only; history_db.go).
	hist      *sql.DB
	histStmts *stmtCache
	histRead  *sql.DB
	histReads *readStmts
	histPath  string
	// histRuns are viewers' history's runs in history.db; histMerge is
	// held by MergeHistory and by RecoverHistory; histBuild is the merge
	// being built beside the batches (history_runs.go).
	histRuns  historyRuns
	histMerge sync.Mutex
	histBuild historyBuild
	// runsHeld counts the backups holding history.db's runs unmerged;
	// durable is the highest of aggregation's checkpoints crowd.db's
	// file holds synced (history_db.go).
	runsHeld atomic.Int32
	durable  atomic.Uint64
}

// Options configure Open.
type Options struct {
	// Dir is the data directory holding crowd.db (SQLite mode).
	Dir string
	// PostgresURL selects PostgreSQL when set.
	PostgresURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WriteGuard, when set, is asked before every write transaction; an
	// error refuses the write before it starts (the disk is full).
	WriteGuard func() error
	// WriteFault, when set, is asked before every commit; an error fails
	// the transaction as if the database had returned it (tests inject
	// ENOSPC with it).
	WriteFault func() error
	// DiskFull, when set, is told of every write that failed for want of
	// space.
	DiskFull func(error)
}

// Open opens (creating if needed) the database and applies migrations.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{now: o.Now, guard: o.WriteGuard, fault: o.WriteFault, diskFull: o.DiskFull}
	if s.now == nil {
		s.now = time.Now
	}
	if o.PostgresURL != "" {
		s.dialect = Postgres
		db, err := sql.Open("pgx", o.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.write, s.read = db, db
	} else {
		s.dialect = SQLite
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		path := filepath.Join(o.Dir, "crowd.db")
		s.path = path
		// Pragmas, applied to every connection:
		//   journal_mode(WAL): readers never block the writer and vice versa.
		//   synchronous(FULL): a committed transaction survives power loss;
		//     an acknowledged action must not be lost, and the fsync cost
		//     is shared by batched writes.
		//   busy_timeout(10000): wait for locks instead of failing at once.
		//   foreign_keys(1): enforce references (cascading deletes rely on it).
		//   cache_size: 64 MiB of page cache for the writer (the default 2 MiB
		//     makes every rollup upsert over a large table a page read), 16
		//     MiB for each reader.
		//   secure_delete(1): overwrite deleted content with zeros, in the
		//     pages that keep living and in pages that go to the freelist.
		//     Without it a deleted account's handle, messages and comments
		//     stay readable in the file's free space until reused. (The
		//     WAL still holds earlier copies of those pages: Purge, run
		//     after an account deletion, checkpoints and truncates it.)
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails halfway when it upgrades from reading to writing.
		pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)&_pragma=temp_store(MEMORY)"
		//   wal_autocheckpoint, for the writer: the checkpointer copies the
		//     log beside it; the writer's own checkpoint is a backstop.
		w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint("+strconv.Itoa(walAutoCheckpointPages)+")&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-16384)&_pragma=query_only(1)")
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// Every reader stays open: database/sql keeps two idle connections
		// unless told otherwise, and closes the others when they are put
		// back, so a burst of reads (or a request that holds two at once)
		// would open a connection with an empty page cache and a fresh
		// schema to parse, then read the working set from the file again.
		r.SetMaxOpenConns(readConns)
		r.SetMaxIdleConns(readConns)
		s.write, s.read = w, r
		s.stmts = newStmtCache(w, stmtCacheBytes)
		s.readStmts = newReadStmts(r, readStmtBytes)
		if s.ckpt, err = startCheckpointer("file:"+path+"?"+pragmas+"&_pragma=cache_size(-1024)", s.noteDurable); err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if err := s.openHistory(ctx, o.Dir, pragmas); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.write.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.RecoverHistory(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.dialect == SQLite {
		// Make the file private: it holds password hashes and private
		// profile fields.
		_ = os.Chmod(filepath.Join(o.Dir, "crowd.db"), 0o600)
		_ = os.Chmod(s.histPath, 0o600)
	}
	return s, nil
}

// Purge makes what was deleted gone from the database's files too. With
// SQLite, secure_delete has zeroed the deleted bytes in the database's
// pages, but the write-ahead log still holds copies of those pages as they
// were before (and after a checkpoint the WAL file is reused, not
// cleared): Purge checkpoints every frame into the database and truncates
// the WAL to zero bytes. It waits for a checkpoint of the checkpointer's
// to end, then up to busy_timeout for readers on older snapshots; if some
// remain it fails, and the next Purge (the server runs one hourly)
// finishes the job. With PostgreSQL it does nothing: dead rows
// stay in the table files until VACUUM reclaims and reuses their space
// (autovacuum does, eventually; see docs/SECURITY.md, Deletion).
func (s *Store) Purge(ctx context.Context) error {
	if s.dialect != SQLite {
		return nil
	}
	var busy, frames, moved int
	err := s.ckpt.exclusive(func() error {
		return s.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &moved)
	})
	if err != nil {
		return fmt.Errorf("purge deleted data: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("purge deleted data: readers kept %d of %d WAL frames", frames-moved, frames)
	}
	return nil
}

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close closes the database.
func (s *Store) Close() error {
	err := s.ckpt.close()
	if s.stmts != nil {
		s.stmts.close()
	}
	s.readStmts.close()
	s.histMerge.Lock() // a MergeHistory running ends first
	s.stopHistoryBuild()
	s.histMerge.Unlock()
	if s.histStmts != nil {
		s.histStmts.close()
	}
	s.histReads.close()
	if s.histRead != nil {
		err = errors.Join(err, s.histRead.Close())
	}
	if s.hist != nil {
		err = errors.Join(err, s.hist.Close())
	}
	if s.read != nil && s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if s.write != nil {
		err = errors.Join(err, s.write.Close())
	}
	return err
}

// Check reports whether the database answers.
func (s *Store) Check(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// DB returns the write pool, for packages (such as aggregation) that keep
// their own tables in the same database and need transactions spanning them.
func (s *Store) DB() *sql.DB { return s.write }

// ReadDB returns the read pool.
func (s *Store) ReadDB() *sql.DB { return s.read }

// BeginRebuildable starts a write transaction whose commit need not survive
// a power failure: for state that is rebuilt from the event log when its
// last transactions are lost (aggregates committed with the log position
// they reflect). It is atomic like any other, only not synced: SQLite
// commits it to the WAL without an fsync (synchronous NORMAL for this one
// transaction), PostgreSQL without waiting for its WAL flush
// (synchronous_commit off). The next durable commit syncs it along. Call
// done after Commit or Rollback.
func (s *Store) BeginRebuildable(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	return s.beginRelaxed(ctx, false, false)
}

// BeginScratch is BeginRebuildable for data that is rewritten wholesale and
// holds nothing to erase: aggregation's snapshots of its in-memory state
// (64-bit hashes, as in its journal). On SQLite the pages its deletions
// free are not overwritten with zeros (secure_delete off for this one
// transaction): replacing a snapshot would otherwise write it twice, once
// as zeros. Pages freed by any other transaction are zeroed as before; the
// write connection goes back with secure_delete on, or is discarded. On
// PostgreSQL it is BeginRebuildable.
func (s *Store) BeginScratch(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	return s.beginRelaxed(ctx, true, false)
}

// beginRelaxed begins the transaction; with uncancelled, on SQLite, the
// transaction itself does not watch ctx once begun (RollupTx.stmtContext).
func (s *Store) beginRelaxed(ctx context.Context, scratch, uncancelled bool) (tx *sql.Tx, done func(), err error) {
	if s.dialect == Postgres {
		tx, err := beginRebuildableOn(ctx, s.write)
		if err != nil {
			return nil, nil, err
		}
		return tx, func() {}, nil
	}
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	relax, restore := `PRAGMA synchronous = NORMAL`, `PRAGMA synchronous = FULL`
	if scratch {
		relax, restore = relax+`; PRAGMA secure_delete = 0`, `PRAGMA secure_delete = 1; `+restore
	}
	done = func() {
		// The write pool's one connection goes back durable (and
		// erasing); if that fails the connection is discarded rather
		// than reused relaxed.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), restore); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	if _, err := conn.ExecContext(ctx, relax); err != nil {
		done()
		return nil, nil, err
	}
	txCtx := ctx
	if uncancelled {
		txCtx = context.WithoutCancel(ctx)
	}
	tx, err = conn.BeginTx(txCtx, nil)
	if err != nil {
		done()
		return nil, nil, err
	}
	return tx, done, nil
}

// beginRebuildableOn begins a PostgreSQL transaction on db (a pool or one
// of its connections) whose commit does not wait for its WAL flush.
func beginRebuildableOn(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}) (*sql.Tx, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// Rebind rewrites '?' placeholders for the store's dialect.
func (s *Store) Rebind(q string) string { return Rebind(s.dialect, q) }

// Rebind rewrites '?' placeholders as $1, $2, … for PostgreSQL. Queries must
// not contain '?' inside string literals.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// tx is a transaction that rebinds its queries.
type tx struct {
	*sql.Tx
	d Dialect
	// rs, on a read transaction (view), keeps its queries prepared.
	rs *readStmts
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.ExecContext(ctx, Rebind(t.d, q), args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = Rebind(t.d, q)
	if st := t.rs.get(q); st != nil {
		return t.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.QueryContext(ctx, q, args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = Rebind(t.d, q)
	if st := t.rs.get(q); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.QueryRowContext(ctx, q, args...)
}

// update runs fn in a write transaction, committing if it returns nil.
// While the disk is full (WriteGuard) it refuses before it begins.
func (s *Store) update(ctx context.Context, fn func(*tx) error) error {
	if s.guard != nil {
		if err := s.guard(); err != nil {
			return err
		}
	}
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.writeErr(err)
	}
	if err := fn(&tx{Tx: t, d: s.dialect}); err != nil {
		_ = t.Rollback()
		return s.writeErr(err)
	}
	if s.fault != nil {
		if err := s.fault(); err != nil {
			_ = t.Rollback()
			return s.writeErr(err)
		}
	}
	return s.writeErr(t.Commit())
}

// writeErr maps a write's error and tells DiskFull of one for want of
// space.
func (s *Store) writeErr(err error) error {
	err = mapErr(err)
	if s.diskFull != nil && errors.Is(err, platform.ErrDiskFull) {
		s.diskFull(err)
	}
	return err
}

// IsNoSpace reports whether err says a device has no space left:
// ENOSPC, SQLite's SQLITE_FULL or PostgreSQL's disk_full (53100).
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, platform.ErrDiskFull) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "53100" {
		return true
	}
	return strings.Contains(err.Error(), "no space left on device")
}

// view runs fn in a read-only transaction on the read pool, so its reads see
// one snapshot.
func (s *Store) view(ctx context.Context, fn func(*tx) error) error {
	t, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(err)
	}
	defer t.Rollback()
	return mapErr(fn(&tx{Tx: t, d: s.dialect, rs: s.readStmts}))
}

// mapErr turns driver errors into domain errors at the store's edge.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *platform.Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return platform.Errorf(platform.ENOTFOUND, "not found")
	}
	if IsNoSpace(err) {
		// One domain error for a full disk, whatever said so.
		return fmt.Errorf("%w (%v)", platform.ErrDiskFull, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return platform.Errorf(platform.ECONFLICT, "already exists")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return platform.Errorf(platform.ENOTFOUND, "a referenced resource does not exist")
		}
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return platform.Errorf(platform.ECONFLICT, "already exists")
		case "23503":
			return platform.Errorf(platform.ENOTFOUND, "a referenced resource does not exist")
		}
	}
	return err
}

// migrate applies the embedded migrations of the store's dialect that have
// not run yet, each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if s.dialect == Postgres {
		// Serialize migrations between instances starting together.
		if _, err := s.write.ExecContext(ctx, `SELECT pg_advisory_lock(727272)`); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer s.write.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(727272)`)
	}
	dir := "migrations/" + string(s.dialect)
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	known := map[string]bool{}
	for _, name := range names {
		known[filepath.Base(name)] = true
	}
	done := map[string]bool{}
	for _, name := range applied {
		if !known[name] {
			// A database of a development version from before the
			// first release (whose migrations were folded into
			// 0001_schema.sql), or of a newer version: its schema is
			// not the one this version reads and writes.
			return fmt.Errorf("migrate: the database records migration %s, which this version of Crowd does not have: it was made by a pre-release development version (recreate it) or by a newer version", name)
		}
		done[name] = true
	}
	for _, name := range names {
		base := filepath.Base(name)
		if done[base] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		err = s.update(ctx, func(t *tx) error {
			if _, err := t.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			if step := migrationSteps[base]; step != nil {
				if err := step(ctx, t); err != nil {
					return err
				}
			}
			_, err := t.exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, base, s.now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

// appliedMigrations returns the names of the migrations the database
// records as applied.
func (s *Store) appliedMigrations(ctx context.Context) ([]string, error) {
	rows, err := s.write.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
