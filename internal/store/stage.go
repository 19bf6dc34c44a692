package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// A batch's upserts. A table's rows go in one of two ways:
//
//   - multi-row statements (INSERT … VALUES … ON CONFLICT DO UPDATE),
//     up to rollupChunk rows to a statement (rollupChunks), each prepared
//     once per transaction, or on SQLite kept across transactions
//     (stmtCache): SQLite always, PostgreSQL for a few rows;
//   - on PostgreSQL, from copyMinRows rows on: COPY into a staging table
//     (a temporary table of the transaction's connection), then one
//     INSERT … SELECT … ORDER BY … ON CONFLICT DO UPDATE from it. COPY
//     sends the rows in PostgreSQL's binary format as one stream; the
//     statements send them 200 at a time, each a round trip whose
//     parameters the server parses and binds and whose plan it runs
//     anew.
//
// Both write the rows in key order, so that concurrent aggregators take
// the row locks of one table in one order and never deadlock: the
// statements in the order the rows come (the caller's), the merge in its
// ORDER BY, which compares text in bytes (COLLATE "C", the order Go's
// strings.Compare sorts in, whatever the database's collation) and
// numbers as numbers.
//
// A staging table is created by the first transaction that needs it on
// its connection (stageQuery) and lives as long as the connection, which
// remembers it once that transaction commits (noteStages); ON COMMIT
// DELETE ROWS empties it at every commit, and a rollback takes what was
// copied along with everything else. It has no index and no constraint:
// the target's key and NOT NULLs check the rows as they are merged.
//
// viewer_history keeps its statements: a viewer's days are unbounded, so
// its staging table would need a TOAST table (stageQuery says what that
// costs at every commit). So do the packed audience rows, read under a
// row lock and merged in Go on PostgreSQL (audience.go): a packed value
// grows with its buckets and could outgrow a staged row of storage PLAIN.

// copyMinRows is the fewest rows written by COPY on PostgreSQL; fewer go
// in one multi-row statement. BenchmarkUpsert (stage_test.go: n rows of
// video_day in a transaction of their own, commit included) measured the
// two ways on this 2-core machine (medians of 3, under load): 1 row 1.1 ms
// by a statement against 3.3 ms by COPY (copying, merging and truncating
// the staging table at commit are three steps where a statement is one),
// 5 rows 1.6 against 1.2, 20 rows 1.5 against 1.7, 50 rows
// 4.4 against 2.3, 1,000 rows 63 against 31 ms. From 50 rows COPY wins
// clearly; below it the two are within the runs' spread.
var copyMinRows = 50

// An upsert writes rows to table: cols, of SQL types types, the first
// keys of them the key of its conflict, merged into a stored row by set.
type upsert struct {
	table string
	cols  []string
	types []string
	keys  int
	set   string
	// stage names the staging table on PostgreSQL: crowd_stage_ and the
	// table's name, or another if the table is written with other
	// columns.
	stage string
}

// valuesQuery is the multi-row statement of n rows.
func (u *upsert) valuesQuery(n int) string {
	return `INSERT INTO ` + u.table + ` (` + strings.Join(u.cols, ", ") + `) VALUES ` + rowsOf(n, len(u.cols)) +
		` ON CONFLICT (` + strings.Join(u.cols[:u.keys], ", ") + `) DO UPDATE SET ` + u.set
}

// stageQuery creates the staging table unless the session has it. Its
// columns are added by ALTER TABLE, with their storage PLAIN, so that it
// has no TOAST table: at every commit PostgreSQL empties an ON COMMIT
// DELETE ROWS table by truncating it, and a TOAST table's index is rebuilt
// each time (pgbench on this machine: a commit emptying eight such tables
// took 27-37 ms with TOAST tables, 5-9 ms without). Every value staged
// is short (ids of at most 128 bytes, numbers, gaps rows of at most 365
// gaps); a row of more than a page would fail the COPY.
func (u *upsert) stageQuery() string {
	add := make([]string, 0, 2*len(u.cols))
	for i, c := range u.cols {
		add = append(add, `ADD COLUMN `+c+` `+u.types[i])
	}
	for i, c := range u.cols {
		if u.types[i] != "BIGINT" {
			add = append(add, `ALTER COLUMN `+c+` SET STORAGE PLAIN`)
		}
	}
	return `DO $$BEGIN IF to_regclass('pg_temp.` + u.stage + `') IS NULL THEN ` +
		`CREATE TEMP TABLE ` + u.stage + ` () ON COMMIT DELETE ROWS; ` +
		`ALTER TABLE pg_temp.` + u.stage + ` ` + strings.Join(add, ", ") + `; END IF; END$$`
}

// mergeQuery is the statement merging the staging table into the table,
// in key order.
func (u *upsert) mergeQuery() string {
	order := make([]string, u.keys)
	for i, k := range u.cols[:u.keys] {
		order[i] = k
		if u.types[i] == "TEXT" {
			order[i] += ` COLLATE "C"`
		}
	}
	cols := strings.Join(u.cols, ", ")
	return `INSERT INTO ` + u.table + ` (` + cols + `) SELECT ` + cols + ` FROM pg_temp.` + u.stage +
		` ORDER BY ` + strings.Join(order, ", ") +
		` ON CONFLICT (` + strings.Join(u.cols[:u.keys], ", ") + `) DO UPDATE SET ` + u.set
}

// upsert writes n rows: row appends the values of the i-th (its key, then
// the other columns) to args and returns it, or fails. The rows come in
// key order, each key once.
func (t *RollupTx) upsert(ctx context.Context, u *upsert, n int, row func(i int, args []any) ([]any, error)) error {
	if n == 0 {
		return nil
	}
	if t.conn != nil && n >= copyMinRows {
		return t.copyUpsert(ctx, u, n, row)
	}
	buf := make([]any, 0, min(n, rollupChunk)*len(u.cols))
	var full string // the query of a whole chunk, built once
	for start, end := 0, 0; start < n; start = end {
		end = start + chunkLen(t.d, n-start)
		buf = buf[:0]
		for i := start; i < end; i++ {
			var err error
			if buf, err = row(i, buf); err != nil {
				return err
			}
		}
		var q string
		switch {
		case end-start < rollupChunk:
			q = u.valuesQuery(end - start)
		case full == "":
			full = u.valuesQuery(rollupChunk)
			q = full
		default:
			q = full
		}
		if _, err := t.exec(ctx, q, buf...); err != nil {
			return err
		}
	}
	return nil
}

// stagesKey is the key, in a connection's pgconn.CustomData, of the set of
// staging tables its session is known to have (created by a committed
// transaction).
const stagesKey = "crowd.stages"

// copyUpsert writes the rows by COPY into u's staging table and one merge
// from it, all on the transaction's connection: what pgx runs there runs
// in the transaction database/sql holds open on it.
func (t *RollupTx) copyUpsert(ctx context.Context, u *upsert, n int, row func(i int, args []any) ([]any, error)) error {
	src := &copyRows{n: n, row: row, args: make([]any, 0, len(u.cols))}
	err := t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, not %T", dc)
		}
		pc := c.Conn()
		known, _ := pc.PgConn().CustomData()[stagesKey].(map[string]bool)
		switch {
		case t.staged[u.stage]:
			// Copied into before in this transaction: its rows are
			// deleted at commit only.
			if _, err := pc.Exec(ctx, `DELETE FROM pg_temp.`+u.stage); err != nil {
				return fmt.Errorf("empty %s: %w", u.stage, err)
			}
		case !known[u.stage]:
			if _, err := pc.Exec(ctx, u.stageQuery()); err != nil {
				return fmt.Errorf("create %s: %w", u.stage, err)
			}
		}
		if t.staged == nil {
			t.staged = map[string]bool{}
		}
		t.staged[u.stage] = true
		copied, err := pc.CopyFrom(ctx, pgx.Identifier{"pg_temp", u.stage}, u.cols, src)
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if copied != int64(n) {
			return fmt.Errorf("copied %d rows of %d", copied, n)
		}
		if _, err := pc.Exec(ctx, u.mergeQuery()); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		return nil
	})
	if src.err != nil {
		// A row's own error, which the server saw as the COPY's failure.
		return src.err
	}
	return err
}

// noteStages records, after a commit, that the connection's session has
// the staging tables the transaction used; after a rollback, that it may
// not (the transaction may have created them), so that the next
// transaction on it makes sure of them.
func (t *RollupTx) noteStages(committed bool) {
	if len(t.staged) == 0 {
		return
	}
	t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		data := c.Conn().PgConn().CustomData()
		known, _ := data[stagesKey].(map[string]bool)
		if known == nil {
			known = map[string]bool{}
			data[stagesKey] = known
		}
		for s := range t.staged {
			if committed {
				known[s] = true
			} else {
				delete(known, s)
			}
		}
		return nil
	})
	t.staged = nil
}

// copyRows is n rows as pgx.CopyFromSource: Values returns the same slice
// for every row, which CopyFrom encodes before it asks for the next.
type copyRows struct {
	n, i int // i is the row after the current one
	row  func(i int, args []any) ([]any, error)
	args []any
	err  error
}

func (c *copyRows) Next() bool {
	if c.err != nil || c.i >= c.n {
		return false
	}
	c.i++
	return true
}

func (c *copyRows) Values() ([]any, error) {
	c.args, c.err = c.row(c.i-1, c.args[:0])
	return c.args, c.err
}

func (c *copyRows) Err() error { return c.err }

// tableUpsert is the upsert of t's rows: its key (an id, then a period if
// any), then its measures, each added to the stored one.
func tableUpsert(t RollupTable) *upsert {
	u := &upsert{table: t.name, cols: slices.Clone(t.keys), types: []string{"TEXT", "BIGINT"}[:len(t.keys)], keys: len(t.keys),
		stage: "crowd_stage_" + t.name}
	set := make([]string, len(t.measures))
	for i, m := range t.measures {
		c := measureColumns[m]
		u.cols = append(u.cols, c)
		u.types = append(u.types, "BIGINT")
		set[i] = c + " = " + t.name + "." + c + " + excluded." + c
	}
	u.set = strings.Join(set, ", ")
	return u
}
