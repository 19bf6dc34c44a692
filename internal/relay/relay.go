// Package relay moves analytics events from the store's transactional outbox
// to the event log. An action and its event commit together in the outbox;
// the relay publishes them and deletes them only after the log acknowledged
// them, so a crash at any point publishes an event again rather than never.
// Republished events carry the same message id and event ids, so the log's
// publish dedupe and aggregation's event-id dedupe count them once.
package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/store"
)

// Log is the part of the event log the relay uses.
type Log = pipeline.Log

// Relay is the outbox relay. Start it with Run; Wake nudges it after a write.
type Relay struct {
	store *store.Store
	log   Log
	lg    *slog.Logger
	wake  chan struct{}

	// Batch is how many outbox entries one round publishes. Larger batches
	// put more events in each log message and share one fsync.
	Batch int
	// Interval is how often the relay looks without being woken: a safety
	// net for wake-ups lost to a crash or another instance's writes.
	Interval time.Duration
	// MaxBackoff bounds the wait between rounds while relaying fails.
	MaxBackoff time.Duration

	mu      sync.Mutex
	relayed int64
}

// New returns a relay from s to l.
func New(s *store.Store, l Log, lg *slog.Logger) *Relay {
	return &Relay{store: s, log: l, lg: lg, wake: make(chan struct{}, 1), Batch: 2000, Interval: 250 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Wake tells the relay there is something to move. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Relayed returns how many events the relay has moved.
func (r *Relay) Relayed() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.relayed
}

// Run relays until ctx is done, then drains what is left with a short grace
// period so a clean shutdown leaves nothing behind.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	failures, wait := 0, r.Interval
	for {
		select {
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return r.Drain(drain)
		case <-r.wake:
		case <-t.C:
		}
		if err := r.Drain(ctx); err != nil && ctx.Err() == nil {
			// The log or the database is in trouble (down, its disk
			// full): back off, doubling up to MaxBackoff, and retry
			// until it answers. The outbox keeps the events meanwhile.
			if failures == 0 {
				r.lg.Error("relay outbox; retrying with backoff", slog.Any("err", err))
			} else {
				r.lg.Debug("relay outbox; still failing", slog.Any("err", err), slog.Duration("wait", wait))
			}
			failures++
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, r.MaxBackoff)
			continue
		}
		if failures > 0 {
			r.lg.Info("relay outbox works again", slog.Int("failed_rounds", failures))
		}
		failures, wait = 0, r.Interval
	}
}

// Drain relays until the outbox is empty.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		n, err := r.store.RelayOutbox(ctx, r.Batch, func(es []store.OutboxEntry) error {
			return r.log.Publish(ctx, r.messages(es))
		})
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.relayed += int64(n)
		r.mu.Unlock()
		if n < r.Batch {
			return nil
		}
	}
}

// messages packs outbox entries as log messages, exactly as events
// published directly are packed.
func (r *Relay) messages(es []store.OutboxEntry) []eventlog.Message {
	entries := make([]pipeline.Entry, len(es))
	for i, e := range es {
		entries[i] = pipeline.Entry{Key: e.PartitionKey, ID: e.EventID, Payload: e.Payload}
	}
	return pipeline.PackEntries(r.log, entries)
}
