// Package rollup aggregates the event log into analytics state, exactly
// once: each batch of log messages is applied in one database transaction
// that also records the last applied log sequence (the checkpoint) and the
// ids of the events applied. A restart resumes after the checkpoint; an
// event delivered twice, or published twice, is counted once.
package rollup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
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

// Aggregator applies the event log to rollups.
type Aggregator struct {
	store *store.Store
	log   Log
	lg    *slog.Logger
	now   func() time.Time

	applied chan uint64
}

// New returns an Aggregator.
func New(s *store.Store, l Log, lg *slog.Logger, now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	return &Aggregator{store: s, log: l, lg: lg, now: now}
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
	err = a.log.Consume(ctx, cp+1, a.applyRetrying)
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

// apply applies one batch in one transaction.
func (a *Aggregator) apply(ctx context.Context, batch []eventlog.Delivered) error {
	if len(batch) == 0 {
		return nil
	}
	type delta struct{ views, likes, comments, shares, saves int64 }
	deltas := map[string]*delta{}
	now := a.now().UnixMicro()
	db := a.store.DB()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer tx.Rollback()
	seen, err := tx.PrepareContext(ctx, a.store.Rebind(`INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING`))
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer seen.Close()
	for _, m := range batch {
		for line := range bytes.SplitSeq(m.Data, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			ev, err := event.Unmarshal(line)
			if err != nil {
				// A malformed entry cannot be fixed by retrying; it was
				// validated before publishing, so this is a bug. Skip it
				// loudly rather than wedge aggregation.
				a.lg.Error("skip malformed log entry", slog.Uint64("seq", m.Seq), slog.Any("err", err))
				continue
			}
			res, err := seen.ExecContext(ctx, ev.ID, now)
			if err != nil {
				return fmt.Errorf("apply batch: dedupe: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // counted already
			}
			if ev.VideoID == "" {
				continue
			}
			d := deltas[ev.VideoID]
			if d == nil {
				d = &delta{}
				deltas[ev.VideoID] = d
			}
			switch ev.Type {
			case event.View:
				d.views++
			case event.Like:
				d.likes++
			case event.Unlike:
				d.likes--
			case event.Comment:
				d.comments++
			case event.CommentDelete:
				d.comments--
			case event.Share:
				d.shares++
			case event.Save:
				d.saves++
			case event.Unsave:
				d.saves--
			}
		}
	}
	up, err := tx.PrepareContext(ctx, a.store.Rebind(`INSERT INTO video_totals (video_id, views, likes, comments, shares, saves) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (video_id) DO UPDATE SET views = video_totals.views + excluded.views, likes = video_totals.likes + excluded.likes,
comments = video_totals.comments + excluded.comments, shares = video_totals.shares + excluded.shares, saves = video_totals.saves + excluded.saves`))
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer up.Close()
	for id, d := range deltas {
		if _, err := up.ExecContext(ctx, id, d.views, d.likes, d.comments, d.shares, d.saves); err != nil {
			return fmt.Errorf("apply batch: upsert totals: %w", err)
		}
	}
	last := batch[len(batch)-1].Seq
	if _, err := tx.ExecContext(ctx, a.store.Rebind(`INSERT INTO rollup_checkpoint (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`), checkpointName, int64(last)); err != nil {
		return fmt.Errorf("apply batch: checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply batch: commit: %w", err)
	}
	return nil
}

// PruneSeen forgets event ids older than the dedupe window.
func (a *Aggregator) PruneSeen(ctx context.Context) error {
	_, err := a.store.DB().ExecContext(ctx, a.store.Rebind(`DELETE FROM seen_events WHERE seen_at < ?`), a.now().Add(-DedupeWindow).UnixMicro())
	return err
}
