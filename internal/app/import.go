package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// Import is Crowd without its server, for crowd import: the store, the
// secrets, the event log, the disclosure layer, aggregation, the account
// directory and bulk ingestion, built by the functions Main builds them
// with. It holds the data and secrets dirs for itself (and refuses dirs a
// server holds): an import runs while crowd serve is stopped.
type Import struct {
	Store     *store.Store
	Log       *eventlog.Log
	Layer     *disclosure.Layer
	Aggregate *rollup.Aggregator
	Directory *directory.Directory
	// Ingest publishes batches of events to the log, as POST /v1/events.
	Ingest *engage.Ingester

	logger  *slog.Logger
	locks   *Locks
	stopDir context.CancelFunc
	dirDone chan struct{}
	once    sync.Once
	closed  error
}

// OpenImport takes c's dirs and opens the components. Aggregation's state
// is loaded from its journal: the event ids it holds make events imported
// before duplicates. The accounts are loaded into memory in the background
// while the first batches are read (they are looked up in the database
// until then), and follow other processes' changes on a shared
// PostgreSQL. On error everything opened so far is closed again.
func OpenImport(ctx context.Context, c config.Config, logger *slog.Logger) (*Import, error) {
	im := &Import{}
	if err := im.open(ctx, c, logger); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

func (im *Import) open(ctx context.Context, c config.Config, logger *slog.Logger) (err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	im.logger = logger
	// Nothing of the data dir is opened before it is this process's.
	if im.locks, err = LockDirs(c); err != nil {
		return err
	}
	if im.Store, err = OpenStore(ctx, c); err != nil {
		return err
	}
	if err := CheckDisclosure(ctx, im.Store, c, logger, time.Now()); err != nil {
		return err
	}
	pseud, err := pseudonym.Open(c.Secrets(), nil)
	if err != nil {
		return err
	}
	if im.Log, err = eventlog.Open(ctx, logConfig(c, logger)); err != nil {
		return fmt.Errorf("open event log: %w", err)
	}
	// Events dated in days whose cells are released count today; the rest
	// keep their dates, and their days are released from the imported
	// history when first read (or by the server's release job).
	if im.Layer, err = openDisclosure(c, im.Store, nil); err != nil {
		return err
	}
	if im.Aggregate, err = newAggregator(c, im.Store, im.Log.Partitions(), logger, nil); err != nil {
		return err
	}
	if err := im.Aggregate.SetLog(im.Log); err != nil {
		return err
	}
	if err := im.Aggregate.LoadState(ctx); err != nil {
		return err
	}
	im.Directory = newDirectory(c, im.Store, logger, nil)
	dirCtx, stopDir := context.WithCancel(context.Background())
	im.stopDir, im.dirDone = stopDir, make(chan struct{})
	go func() {
		defer close(im.dirDone)
		_ = im.Directory.Run(dirCtx) // it logs its failures and retries
	}()
	_, im.Ingest = newIngestion(c, pseud, im.Directory, im.Aggregate, im.Log, im.Layer, nil)
	return nil
}

// AggregateAll runs aggregation until it has applied the log up to its end
// as it is when called, then writes a snapshot of aggregation's state.
// progress, when set, is told every 50 ms how many
// log messages were applied since the call, of how many, and once more
// with last at the end.
func (im *Import) AggregateAll(ctx context.Context, progress func(done, total uint64, last bool)) error {
	if progress == nil {
		progress = func(uint64, uint64, bool) {}
	}
	info, err := im.Log.Info(ctx)
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- im.Aggregate.Run(actx) }()
	first, _ := im.Aggregate.Checkpoint(ctx)
	first = min(first, info.LastSeq)
	for {
		cp, err := im.Aggregate.Checkpoint(ctx)
		if err == nil && cp >= info.LastSeq {
			progress(info.LastSeq-first, info.LastSeq-first, true)
			break
		}
		if err == nil {
			progress(max(cp, first)-first, info.LastSeq-first, false)
		}
		select {
		case err := <-done:
			return fmt.Errorf("aggregate: %w", err)
		case <-ctx.Done():
			<-done
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
	// Creators' rows a batch deferred (none when the last batch reached
	// the log's end, as it does here), written before the import ends.
	if err := im.Aggregate.FlushDeferred(ctx); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	// The state as the import leaves it, whole: the server's next start
	// loads it instead of replaying what the import journalled.
	snapshotAtStop(im.Aggregate, im.logger)
	return nil
}

// Close closes the components in reverse order and releases the dirs.
// Calls after the first return the first's error.
func (im *Import) Close() error {
	im.once.Do(func() { im.closed = im.close() })
	return im.closed
}

func (im *Import) close() error {
	var err error
	if im.stopDir != nil {
		im.stopDir()
		<-im.dirDone
	}
	if im.Directory != nil {
		im.Directory.Close()
	}
	if im.Log != nil {
		err = errors.Join(err, im.Log.Close())
	}
	if im.Store != nil {
		err = errors.Join(err, im.Store.Close())
	}
	if im.locks != nil {
		err = errors.Join(err, im.locks.Release())
	}
	return err
}
