// Package rollup aggregates the event log into analytics state, exactly
// once: each batch of log messages is applied in one database transaction
// that also records the last applied log sequence (the checkpoint) and the
// ids of the events applied. A restart resumes after the checkpoint; an
// event delivered twice, or published twice, is counted once.
package rollup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

// Log is the part of the event log aggregation reads.
type Log interface {
	Consume(ctx context.Context, startSeq uint64, fn func(ctx context.Context, batch []eventlog.Delivered) error) error
	Info(ctx context.Context) (eventlog.Info, error)
}

// checkpointName names this aggregator's checkpoint row.
const checkpointName = "totals"

// DedupeWindow is how long event ids are remembered to drop duplicates. An
// event re-sent later than this after its first copy counts again; clients
// retry within seconds, and the outbox relay within the log's retention.
const DedupeWindow = 7 * 24 * time.Hour

// ErrCheckpointAhead means the database has applied events the log no longer
// has: the log lost its tail (or was replaced). Resuming would silently skip
// new events that reuse those sequence numbers, so aggregation stops.
var ErrCheckpointAhead = errors.New("rollup checkpoint is ahead of the event log")

// Bounds are the contribution bounds applied before aggregation, for the
// protected numbers. The disclosure policy's privacy ledger is derived from
// them: each bound is a sensitivity.
type Bounds struct {
	// ViewsPerViewerDay caps the views one viewer adds to a video per day.
	ViewsPerViewerDay int64
	// WatchMSPerViewerDay caps the watch time one viewer adds per video and day.
	WatchMSPerViewerDay int64
	// PerCreatorDay caps the first shares (and, separately, saves) one
	// account adds to one creator's videos per day.
	PerCreatorDay int64
}

// DefaultBounds are the bounds of the default policy.
var DefaultBounds = Bounds{ViewsPerViewerDay: 5, WatchMSPerViewerDay: 10 * 60 * 1000, PerCreatorDay: 3}

// Aggregator applies the event log to rollups.
type Aggregator struct {
	store *store.Store
	log   Log
	lg    *slog.Logger
	now   func() time.Time

	bounds  Bounds
	applied atomic.Uint64 // last applied log sequence, for observers

	mu       sync.Mutex
	creators map[string][]string // video id → creator account ids
}

// New returns an Aggregator.
func New(s *store.Store, l Log, lg *slog.Logger, now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Aggregator{store: s, log: l, lg: lg, now: now, creators: map[string][]string{}, bounds: DefaultBounds}
}

// Checkpoint returns the last applied log sequence.
func (a *Aggregator) Checkpoint(ctx context.Context) (uint64, error) {
	var seq int64
	err := a.store.ReadDB().QueryRowContext(ctx, a.store.Rebind(`SELECT seq FROM rollup_checkpoint WHERE name = ?`), checkpointName).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(seq), err
}

// Run consumes the log from the checkpoint until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	cp, err := a.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	info, err := a.log.Info(ctx)
	if err != nil {
		return fmt.Errorf("read event log info: %w", err)
	}
	if cp > info.LastSeq {
		a.lg.Error("event log is behind the aggregation checkpoint; refusing to skip events",
			slog.Uint64("checkpoint", cp), slog.Uint64("log_last_seq", info.LastSeq))
		return fmt.Errorf("%w: checkpoint %d, log last sequence %d", ErrCheckpointAhead, cp, info.LastSeq)
	}
	start := cp + 1
	if cp == 0 {
		start = 0 // nothing applied yet: from the oldest event still stored
	}
	err = a.log.Consume(ctx, start, a.applyRetrying)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// applyRetrying applies a batch, retrying with backoff while the database
// fails: the batch is already taken from the log, and skipping it would lose
// events. It gives up only when ctx is done.
func (a *Aggregator) applyRetrying(ctx context.Context, batch []eventlog.Delivered) error {
	wait := 50 * time.Millisecond
	for {
		err := a.apply(ctx, batch)
		if err == nil || ctx.Err() != nil {
			return err
		}
		a.lg.Error("apply events; retrying", slog.Any("err", err), slog.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// SetBounds sets the contribution bounds (before Run).
func (a *Aggregator) SetBounds(b Bounds) { a.bounds = b }

// ForgetCreators drops cached creators of videos whose creators changed.
func (a *Aggregator) ForgetCreators(videoIDs []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range videoIDs {
		delete(a.creators, id)
	}
}

// Applied returns the last log sequence applied by this process.
func (a *Aggregator) Applied() uint64 { return a.applied.Load() }

// HourlyRetention is how long hourly rows are kept; the hourly chart shows
// the last 48 hours, and the days they belong to live on in daily rows.
const HourlyRetention = 72 * time.Hour

// ViewerDayRetention is how long per-viewer daily rows are kept: as long as
// the day's salt, after which a late view could not be linked anyway.
const ViewerDayRetention = 72 * time.Hour

// Compact forgets what aggregation no longer needs: event ids older than the
// dedupe window, hourly rows older than HourlyRetention (their days are in
// the daily rows), and per-viewer daily rows whose salts are gone.
func (a *Aggregator) Compact(ctx context.Context) error {
	now := a.now()
	db := a.store.DB()
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM seen_events WHERE seen_at < ?`, now.Add(-DedupeWindow).UnixMicro()},
		{`DELETE FROM video_hour WHERE hour < ?`, now.Add(-HourlyRetention).Unix() / 3600},
		{`DELETE FROM account_hour WHERE hour < ?`, now.Add(-HourlyRetention).Unix() / 3600},
		{`DELETE FROM viewer_days WHERE day < ?`, now.Add(-ViewerDayRetention).Unix() / 86400},
		{`DELETE FROM creator_day_counts WHERE day < ?`, now.Add(-ViewerDayRetention).Unix() / 86400},
	} {
		if _, err := db.ExecContext(ctx, a.store.Rebind(q.sql), q.arg); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	}
	return nil
}
