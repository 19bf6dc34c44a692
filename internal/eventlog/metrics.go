package eventlog

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the event log's Prometheus metrics (Log.Collectors).
type metrics struct {
	publish   prometheus.Histogram
	published prometheus.Counter
	failures  prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crowd_eventlog_publish_duration_seconds",
			Help:    "Time a publish to the event log takes until every message of it is acknowledged (stored, and fsynced by the embedded server).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_eventlog_published_messages_total", Help: "Messages published to the event log and acknowledged.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_eventlog_publish_failures_total", Help: "Publishes to the event log that failed (the caller retries or refuses its request).",
		}),
	}
}

// observe records one Publish of n messages.
func (m *metrics) observe(n int, d time.Duration, err error) {
	if err != nil {
		m.failures.Inc()
		return
	}
	m.publish.Observe(d.Seconds())
	m.published.Add(float64(n))
}

// Collectors returns the event log's metrics for a Prometheus registry:
// publish latency, messages published, publish failures, and the stream's
// stored messages and bytes (read from the server at each scrape).
func (l *Log) Collectors() []prometheus.Collector {
	info := func(f func(Info) uint64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			i, err := l.Info(ctx)
			if err != nil {
				return 0
			}
			return float64(f(i))
		}
	}
	return []prometheus.Collector{l.metrics.publish, l.metrics.published, l.metrics.failures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_eventlog_stored_bytes", Help: "Bytes the event log's stream stores.",
		}, info(func(i Info) uint64 { return i.Bytes })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_eventlog_stored_messages", Help: "Messages the event log's stream stores.",
		}, info(func(i Info) uint64 { return i.Msgs })),
	}
}
