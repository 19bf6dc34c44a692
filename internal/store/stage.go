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
//     rollupChunk rows to a statement, each prepared once per
//     transaction: SQLite always, PostgreSQL for a few rows;
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
// A staging table is created in the transaction that first needs it on
// its connection (CREATE TEMP TABLE IF NOT EXISTS, one round trip per
// table and transaction) and lives as long as the connection; ON COMMIT
// DELETE ROWS empties it at every commit, and a rollback takes what was
// copied along with everything else. It has no index and no constraint:
// the target's key and NOT NULLs check the rows as they are merged.

// copyMinRows is the fewest rows written by COPY on PostgreSQL; fewer go
// in multi-row statements. Measured with BenchmarkUpsert (stage_test.go,
// video_day's 15 columns, milliseconds per write of n new rows, PostgreSQL
// 15 on this 2-core machine): …
var copyMinRows = 1000

// An upsert writes rows to table: cols, the first keys of them the key of
// its conflict, merged into a stored row by set.
type upsert struct {
	table string
	cols  []string
	keys  int
	set   string
	// text says which of the key columns are text (and are ordered by
	// their bytes).
	text []bool
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

// mergeQuery is the statement merging the staging table into the table,
// in key order.
func (u *upsert) mergeQuery() string {
	order := make([]string, u.keys)
	for i, k := range u.cols[:u.keys] {
		order[i] = k
		if u.text[i] {
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
	width := len(u.cols)
	full := u.valuesQuery(rollupChunk)
	buf := make([]any, 0, min(n, rollupChunk)*width)
	for start := 0; start < n; start += rollupChunk {
		end := min(start+rollupChunk, n)
		buf = buf[:0]
		for i := start; i < end; i++ {
			var err error
			if buf, err = row(i, buf); err != nil {
				return err
			}
		}
		q := full
		if end-start < rollupChunk {
			q = u.valuesQuery(end - start)
		}
		if _, err := t.exec(ctx, q, buf...); err != nil {
			return err
		}
	}
	return nil
}

// copyUpsert writes the rows by COPY into u's staging table and one merge
// from it.
func (t *RollupTx) copyUpsert(ctx context.Context, u *upsert, n int, row func(i int, args []any) ([]any, error)) error {
	// Create the staging table, or empty it if this transaction has
	// copied into it before (its rows are deleted at commit only).
	prep := `CREATE TEMP TABLE IF NOT EXISTS ` + u.stage + ` ON COMMIT DELETE ROWS AS SELECT ` + strings.Join(u.cols, ", ") +
		` FROM ` + u.table + ` WITH NO DATA`
	if t.staged[u.stage] {
		prep = `DELETE FROM pg_temp.` + u.stage
	}
	if _, err := t.tx.ExecContext(ctx, prep); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	if t.staged == nil {
		t.staged = map[string]bool{}
	}
	t.staged[u.stage] = true
	// The transaction is open on t.conn: what pgx runs on the connection
	// runs in it.
	src := &copyRows{n: n, row: row, args: make([]any, 0, len(u.cols))}
	err := t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("COPY needs a pgx connection, not %T", dc)
		}
		copied, err := c.Conn().CopyFrom(ctx, pgx.Identifier{"pg_temp", u.stage}, u.cols, src)
		if err == nil && copied != int64(n) {
			err = fmt.Errorf("copied %d rows of %d", copied, n)
		}
		return err
	})
	if src.err != nil {
		// A row's own error, which the server only saw as the COPY's
		// failure.
		return src.err
	}
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, u.mergeQuery()); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
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

// tableUpsert is the upsert of t's rows: its key, then its measures, each
// added to the stored one.
func tableUpsert(t RollupTable) *upsert {
	u := &upsert{table: t.name, cols: slices.Clone(t.keys), keys: len(t.keys), stage: "crowd_stage_" + t.name}
	set := make([]string, len(t.measures))
	for i, m := range t.measures {
		c := measureColumns[m]
		u.cols = append(u.cols, c)
		set[i] = c + " = " + t.name + "." + c + " + excluded." + c
	}
	u.set = strings.Join(set, ", ")
	// Every rollup table's key is an id, then a period if any.
	u.text = []bool{true, false}[:len(t.keys)]
	return u
}
