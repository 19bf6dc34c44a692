package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Creators' rows deferred (SQLite only; migration 0009 and
// internal/rollup/deferred.go): while aggregation trails the log, a batch
// may keep its creators' rows as one row of creator_rows_deferred instead
// of adding them to the creators' tables, and a later batch adds them all
// at once. The store only keeps the rows; what they hold is aggregation's.

// DeferredCreatorRows returns how many batches' rows are deferred, how many
// rows they hold, and when the first was deferred (Unix seconds; 0 if
// none).
func (t *RollupTx) DeferredCreatorRows(ctx context.Context) (batches, rows, since int64, err error) {
	err = t.tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(MIN(at), 0) FROM creator_rows_deferred`).Scan(&batches, &rows, &since)
	if err != nil {
		err = fmt.Errorf("read deferred creator rows: %w", err)
	}
	return batches, rows, since, err
}

// DeferCreatorRows keeps a batch's creators' rows, n rows encoded in b,
// deferred at (Unix seconds).
func (t *RollupTx) DeferCreatorRows(ctx context.Context, at, n int64, b []byte) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO creator_rows_deferred (at, n, rows) VALUES (?, ?, ?)`, at, n, b); err != nil {
		return fmt.Errorf("defer creator rows: %w", err)
	}
	return nil
}

// TakeDeferredCreatorRows calls fn (unless nil) with each batch's deferred
// rows, in the order they were deferred, and deletes them: the caller adds
// them to the creators' tables in the same transaction. b is valid only
// during fn.
func (t *RollupTx) TakeDeferredCreatorRows(ctx context.Context, fn func(b []byte) error) error {
	var err error
	if fn != nil {
		rows, qerr := t.tx.QueryContext(ctx, `SELECT rows FROM creator_rows_deferred ORDER BY id`)
		err = eachRow(rows, qerr, func(rows *sql.Rows) error {
			var b sql.RawBytes
			if err := rows.Scan(&b); err != nil {
				return err
			}
			return fn(b)
		})
	}
	if err == nil {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM creator_rows_deferred`)
	}
	if err != nil {
		return fmt.Errorf("take deferred creator rows: %w", err)
	}
	return nil
}
