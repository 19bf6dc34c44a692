package rollup

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/eventlog"
)

// metrics are aggregation's Prometheus metrics (Aggregator.Collectors).
type metrics struct {
	messages prometheus.Counter
	events   prometheus.Counter
	failures prometheus.Counter
	// deferrals counts the batches that deferred their creators' rows
	// (deferred.go), and deferredBatches is how many wait in the store
	// after the last batch committed.
	deferrals       prometheus.Counter
	deferredBatches atomic.Int64
	// appliedAt is when the log stored the last message applied (Unix
	// nanoseconds; 0 before the first batch), startedAt when New ran.
	appliedAt atomic.Int64
	startedAt time.Time
}

func newMetrics() *metrics {
	return &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_aggregation_applied_messages_total", Help: "Event log messages aggregation applied.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_aggregation_applied_events_total", Help: "Events aggregation applied (those of its partitions; duplicates included).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_aggregation_apply_failures_total", Help: "Batches whose application failed and is retried (a database error).",
		}),
		deferrals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_aggregation_deferred_batches_total", Help: "Batches whose creators' rows were deferred while aggregation trailed the event log (written later, summed; the creators' reads add them meanwhile).",
		}),
		startedAt: time.Now(),
	}
}

// applied records a batch applied: its messages and events.
func (m *metrics) applied(msgs []eventlog.Delivered, events int) {
	m.messages.Add(float64(len(msgs)))
	m.events.Add(float64(events))
	m.appliedAt.Store(msgs[len(msgs)-1].Time.UnixNano())
}

// Collectors returns aggregation's metrics for a Prometheus registry:
// throughput (messages and events applied), failed batches, and its lag in
// seconds. lag reports how many log messages aggregation trails by; while
// it trails, the lag in seconds is the age of the last message it applied
// (the newest event it reflects), or the time since the process started
// if it applied none yet; caught up, it is 0.
func (a *Aggregator) Collectors(lag func() uint64) []prometheus.Collector {
	m := a.metrics
	return append(a.stageCollectors(), m.messages, m.events, m.failures, m.deferrals,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_deferred_batches",
			Help: "Batches whose creators' rows wait in the store after the last batch applied (the creators' reads add them: a creator's numbers are as fresh as its videos').",
		}, func() float64 { return float64(m.deferredBatches.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_lag_seconds",
			Help: "How far behind the event log aggregation is, in seconds: the age of the last message applied while messages wait after it, 0 when caught up.",
		}, func() float64 {
			if lag() == 0 {
				return 0
			}
			since := m.startedAt
			if ns := m.appliedAt.Load(); ns != 0 {
				since = time.Unix(0, ns)
			}
			return max(time.Since(since).Seconds(), 0)
		}),
	)
}
