package store

import (
	"context"
	"errors"
	"testing"
)

// TestRollupTx_CancelledBetweenStatements: a batch's transactions on
// SQLite (crowd.db's and history.db's) do not hand their context to the
// driver, which would watch it on a goroutine per statement
// (RollupTx.stmtContext); a cancelled context still stops the batch at its
// next statement, nothing of it is stored, and the connection serves the
// next batch.
func TestRollupTx_CancelledBetweenStatements(t *testing.T) {
	s, err := Open(t.Context(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	begin := map[string]func(context.Context) (*RollupTx, error){
		"crowd.db": s.BeginRollup, "history.db": s.BeginHistory,
	}
	// The next statement after the cancel: on history.db a batch's
	// entries are statements at its commit (history_runs.go).
	next := map[string]func(context.Context, *RollupTx, []ViewerHistory) error{
		"crowd.db": func(ctx context.Context, tx *RollupTx, row []ViewerHistory) error {
			return tx.SetViewerHistories(ctx, row)
		},
		"history.db": func(ctx context.Context, tx *RollupTx, row []ViewerHistory) error {
			if err := tx.SetViewerHistories(ctx, row); err != nil {
				return err
			}
			return s.CommitHistory(ctx, tx, 1)
		},
	}
	for name, begin := range begin {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			tx, err := begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			row := []ViewerHistory{{Key: 1, VideoTag: 1, Days: AppendDays(nil, []int64{20_400})}}
			if err := tx.SetViewerHistories(ctx, row); err != nil {
				t.Fatal(err)
			}
			sctx, err := tx.stmtContext(ctx)
			if err != nil || sctx.Done() != nil {
				t.Fatalf("a statement's context: done channel %v, error %v; want none", sctx.Done(), err)
			}
			cancel()
			row[0].Key = 2
			if err := next[name](ctx, tx, row); !errors.Is(err, context.Canceled) {
				t.Fatalf("a statement after the cancel: %v, want %v", err, context.Canceled)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatalf("rollback: %v", err)
			}

			// The connection is free and the rolled-back row is not there.
			tx, err = begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			n := 0
			if err := tx.ViewerHistories(t.Context(), []int64{1, 2}, func(ViewerHistory) { n++ }); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows of the cancelled batch stored", n)
			}
		})
	}
}
