package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// readiness is what /readyz reports. A process is ready once its
// components are open, aggregation has loaded its state, the account
// directory has loaded the accounts, and every
// partition it owns is applied up to the log's last sequence as it was at
// start (so a restarted server is not sent traffic, nor counted on for
// fresh reports, while it catches up), and while its disk is not full.
// Once ready it stays ready until shutdown, except while the disk is full:
// a later backlog is aggregation lag (crowd_aggregation_lag_messages,
// ingestion backpressure), not a reason to take the process out of a load
// balancer.
type readiness struct {
	m     *Main
	start time.Time

	mu    sync.Mutex
	phase string // the component being opened; "" once all are open
	// target is the log's last sequence on the owned partitions at start.
	target uint64

	ready   atomic.Bool // latched once caught up
	closing atomic.Bool
}

func (r *readiness) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *readiness) setTarget(seq uint64) {
	r.mu.Lock()
	r.target = seq
	r.mu.Unlock()
}

// startingReason is the reason while components open (for the listener's
// start-up handler, which has no API behind it yet).
func (r *readiness) startingReason() string {
	if r.closing.Load() {
		return "shutting down"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == "" {
		return "starting"
	}
	return r.phase
}

// NotReady says why the process is not ready, or "" when it is
// (httpapi.Readiness).
func (r *readiness) NotReady(ctx context.Context) string {
	if r.closing.Load() {
		return "shutting down"
	}
	r.mu.Lock()
	phase, target := r.phase, r.target
	r.mu.Unlock()
	if phase != "" {
		return phase
	}
	if g := r.m.disk; g != nil {
		if reason := g.full(); reason != "" {
			return reason
		}
	}
	if r.ready.Load() {
		return ""
	}
	a := r.m.Aggregate
	if !a.StateLoaded() {
		return "loading state"
	}
	if d := r.m.Directory; d == nil || !d.Loaded() {
		return "loading account directory"
	}
	cp, err := a.Checkpoint(ctx)
	if err != nil {
		return "aggregation checkpoints unreadable"
	}
	if cp < target {
		return fmt.Sprintf("catching up: %d messages behind", target-cp)
	}
	if r.ready.CompareAndSwap(false, true) {
		r.m.Logger.Info("crowd ready", slog.Uint64("caught_up_to", target),
			slog.Int64("duration_ms", time.Since(r.start).Milliseconds()))
	}
	return ""
}

// watch logs readiness as soon as it is reached, whether or not anyone
// asks /readyz, until ctx is done.
func (r *readiness) watch(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !r.ready.Load() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.NotReady(ctx)
	}
	return nil
}

// swapHandler serves the handler last stored: the start-up handler, then
// the API.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}
