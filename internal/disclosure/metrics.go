package disclosure

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the release job's Prometheus metrics (Layer.Collectors).
type metrics struct {
	runs        prometheus.Counter
	failures    prometheus.Counter
	lastSuccess prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		runs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_release_runs_total", Help: "Passes of the release job (protected mode, every minute): cells of closed periods published.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_release_failures_total", Help: "Passes of the release job that failed (retried at the next pass).",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crowd_release_last_success_timestamp_seconds", Help: "When the release job last completed a pass, in Unix seconds (0: never, as in exact mode).",
		}),
	}
}

// observe records a pass of the release job.
func (m *metrics) observe(err error) {
	m.runs.Inc()
	if err != nil {
		m.failures.Inc()
		return
	}
	m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
}

// Collectors returns the release job's metrics for a Prometheus registry.
func (l *Layer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.metrics.runs, l.metrics.failures, l.metrics.lastSuccess}
}
