package rollup

import (
	"context"
	"errors"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/store"
)

// historyWriter records a batch's viewer-days in history.db
// (store.HistoryApart) on a goroutine of its own, beside the batch's
// transaction: a second SQLite writer, on the other core. For each chunk
// it first looks up and updates the actors' states (lookUpActors), which
// live there too, and hands the chunk's credit what they decide. What the
// viewer-days change in the derived counts (d) is written in the batch's
// transaction once the chunks are recorded; history.db then commits,
// synced, with the batch's undo entries (undo, actorUndo) while the batch
// writes its rows, and the batch commits after it
// (internal/store/history_db.go).
type historyWriter struct {
	tx              *store.RollupTx
	in              chan historyJob
	d               *historyDelta
	undo, actorUndo []byte

	recorded  chan error // the chunks are recorded
	commit    chan bool  // commit (true) or give up (false)
	committed chan error
	// step is how far the aggregation goroutine has taken the writer:
	// 0 chunks going in, 1 recorded, 2 commit asked or given up, 3 done.
	step int
}

var errHistoryAbandoned = errors.New("batch abandoned")

// historyJob is a chunk's work for the history writer: the actors'
// states of its events, whose outcome goes to out, then its viewer-days.
type historyJob struct {
	evs   []event.Event
	vdays []viewerDay
	out   chan<- lookedUp
}

// lookedUp is what lookUpActors decided for a chunk, or why it could not.
type lookedUp struct {
	counted, noop map[int]bool
	err           error
}

// startHistory begins a batch's transaction on history.db and its writer;
// last is the batch's last log sequence.
func (a *Aggregator) startHistory(ctx context.Context, last uint64) (*historyWriter, error) {
	tx, err := a.store.BeginHistory(ctx)
	if err != nil {
		return nil, err
	}
	in := make(chan historyJob, 2)
	w := &historyWriter{tx: tx, in: in, d: newHistoryDelta(),
		recorded: make(chan error, 1), commit: make(chan bool, 1), committed: make(chan error, 1)}
	go func() {
		var err error
		for job := range in {
			if err != nil {
				job.out <- lookedUp{err: err}
				continue
			}
			var l lookedUp
			l.counted, l.noop, err = a.lookUpActors(ctx, tx, job.evs, &w.actorUndo)
			l.err = err
			job.out <- l
			if err == nil && len(job.vdays) > 0 {
				err = recordHistory(ctx, tx, job.vdays, w.d, &w.undo)
			}
		}
		w.recorded <- err
		if ok := <-w.commit; !ok || err != nil {
			_ = tx.Rollback()
			w.committed <- errHistoryAbandoned
			return
		}
		err = a.store.CommitHistory(ctx, tx, last, w.undo, w.actorUndo)
		if err != nil {
			_ = tx.Rollback() // unless its commit failed: then it is done
		}
		w.committed <- err
	}()
	return w, nil
}

// add looks up the actors' states of a chunk's events evs and records its
// new viewer-days vdays; what the lookups decide comes on the channel it
// returns, once they are done. evs are not read after that.
func (w *historyWriter) add(evs []event.Event, vdays []viewerDay) <-chan lookedUp {
	out := make(chan lookedUp, 1)
	w.in <- historyJob{evs: evs, vdays: vdays, out: out}
	return out
}

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
