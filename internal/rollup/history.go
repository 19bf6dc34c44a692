package rollup

import (
	"context"

	"github.com/crowd-dev/crowd/internal/store"
)

// historyWriter records a batch's viewer-days in history.db
// (store.HistoryApart) on a goroutine of its own, beside the batch's
// transaction: a second SQLite writer, on the other core. What they change
// in the derived counts (d) is written in the batch's transaction once the
// chunks are recorded; history.db commits first, with the undo entry of the
// batch (undo), then the batch (internal/store/history_db.go).
type historyWriter struct {
	tx   *store.RollupTx
	in   chan []viewerDay
	done chan error
	d    *historyDelta
	undo []byte
}

// startHistory begins a batch's transaction on history.db and its writer.
func (a *Aggregator) startHistory(ctx context.Context) (*historyWriter, error) {
	tx, err := a.store.BeginHistory(ctx)
	if err != nil {
		return nil, err
	}
	in := make(chan []viewerDay, 2)
	w := &historyWriter{tx: tx, in: in, done: make(chan error, 1), d: newHistoryDelta()}
	go func() {
		var err error
		for vdays := range in {
			if err == nil && len(vdays) > 0 {
				err = recordHistory(ctx, tx, vdays, w.d, &w.undo)
			}
		}
		w.done <- err
	}()
	return w, nil
}

// add records a chunk's new viewer-days.
func (w *historyWriter) add(vdays []viewerDay) { w.in <- vdays }

// wait waits for the chunks' viewer-days to be recorded.
func (w *historyWriter) wait() error {
	if w.in == nil {
		return nil
	}
	close(w.in)
	w.in = nil
	return <-w.done
}

// commitHistory commits history.db's transaction, the batch's last sequence
// being last. Until the batch's own transaction commits, history.db is
// ahead of its checkpoints (a.historyAhead).
func (a *Aggregator) commitHistory(ctx context.Context, w *historyWriter, last uint64) error {
	a.historyAhead = true
	return a.store.CommitHistory(ctx, w.tx, last, w.undo)
}

// abort stops the writer and rolls its transaction back, unless committed.
func (w *historyWriter) abort() {
	_ = w.wait()
	_ = w.tx.Rollback()
}

// recoverHistory undoes history.db's batch beyond the checkpoints, after
// a batch that failed once history.db had committed it.
func (a *Aggregator) recoverHistory(ctx context.Context) error {
	if !a.historyAhead {
		return nil
	}
	if err := a.store.RecoverHistory(ctx); err != nil {
		return err
	}
	a.historyAhead = false
	return nil
}
