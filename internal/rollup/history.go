package rollup

import (
	"context"
	"errors"
	"log/slog"

	"github.com/crowd-dev/crowd/internal/store"
)

// historyWriter records a batch's viewer-days in history.db
// (store.HistoryApart) on a goroutine of its own, beside the batch's
// transaction: a second SQLite writer, on the other core. What they change
// in the derived counts (d) is written in the batch's transaction once the
// chunks are recorded; history.db then commits, synced, with the batch's
// entries as a run of its sequence while the batch writes its rows, and
// the batch commits after it (internal/store/history_db.go); the writer
// then moves the merges of runs on (store.MergeHistory).
type historyWriter struct {
	tx *store.RollupTx
	in chan []viewerDay
	d  *historyDelta

	recorded  chan error // the chunks are recorded
	commit    chan bool  // commit (true) or give up (false)
	committed chan error
	done      chan struct{} // closed when the goroutine ends, its MergeHistory call too
	// step is how far the aggregation goroutine has taken the writer:
	// 0 chunks going in, 1 recorded, 2 commit asked or given up, 3 done.
	step int
}

var errHistoryAbandoned = errors.New("batch abandoned")

// startHistory begins a batch's transaction on history.db and its writer;
// last is the batch's last log sequence.
func (a *Aggregator) startHistory(ctx context.Context, last uint64) (*historyWriter, error) {
	a.waitHistory() // the batch before's merge
	tx, err := a.store.BeginHistory(ctx)
	if err != nil {
		return nil, err
	}
	in := make(chan []viewerDay, 2)
	w := &historyWriter{tx: tx, in: in, d: newHistoryDelta(),
		recorded: make(chan error, 1), commit: make(chan bool, 1), committed: make(chan error, 1), done: make(chan struct{})}
	a.historyDone = w.done
	go func() {
		defer close(w.done)
		var err error
		for vdays := range in {
			if err == nil && len(vdays) > 0 {
				err = recordHistory(ctx, tx, vdays, w.d)
			}
		}
		w.recorded <- err
		if ok := <-w.commit; !ok || err != nil {
			_ = tx.Rollback()
			w.committed <- errHistoryAbandoned
			return
		}
		err = a.store.CommitHistory(ctx, tx, last)
		if err != nil {
			_ = tx.Rollback() // unless its commit failed: then it is done
		}
		w.committed <- err
		if err == nil {
			// After the batch's commit, beside its rows' commit: it
			// starts a merge on a goroutine of the store's, or swaps a
			// built one in; the next batch's history waits for this call
			// only.
			if err := a.store.MergeHistory(ctx); err != nil && ctx.Err() == nil {
				a.lg.Warn("merge viewers' history", slog.Any("err", err))
			}
		}
	}()
	return w, nil
}

// waitHistory waits for the last batch's history goroutine to end, its
// MergeHistory call included (a built merge swapped in, some blocks of
// runs merged away deleted): before the next batch's history begins, and
// before Run returns (the store may close then). A merge being built goes
// on beside the batches; closing the store stops it.
func (a *Aggregator) waitHistory() {
	if a.historyDone != nil {
		<-a.historyDone
		a.historyDone = nil
	}
}

// add records a chunk's new viewer-days.
func (w *historyWriter) add(vdays []viewerDay) { w.in <- vdays }

// wait waits for the chunks' viewer-days to be recorded; w.d is then
// complete.
func (w *historyWriter) wait() error {
	if w.step > 0 {
		return nil
	}
	close(w.in)
	w.step = 1
	return <-w.recorded
}

// startCommit commits history.db's transaction in the background. From
// here until the batch's own transaction commits, history.db may be ahead
// of its checkpoints (a.historyAhead).
func (a *Aggregator) startCommit(w *historyWriter) {
	a.historyAhead = true
	w.commit <- true
	w.step = 2
}

// committedWait waits for history.db's commit.
func (w *historyWriter) committedWait() error {
	w.step = 3
	return <-w.committed
}

// abort settles the writer of a batch that failed: it is given up unless
// its commit was asked for, and waited for either way.
func (w *historyWriter) abort() {
	if w.step == 0 {
		_ = w.wait()
	}
	if w.step == 1 {
		w.commit <- false
		w.step = 2
	}
	if w.step == 2 {
		_ = w.committedWait()
	}
}

// recoverHistory undoes history.db's batch beyond the checkpoints, after
// a batch that failed once history.db may have committed it.
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
