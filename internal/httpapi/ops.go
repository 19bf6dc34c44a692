package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed openapi.json
var openapiJSON []byte

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *principal) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only once the process is ready (NotReady: its state
// loaded and aggregation caught up with the log as it was at start, the
// disk not full) and the store and the event log are open and answering.
// Otherwise it answers 503 in the JSON error shape, the reason in the
// message ("not ready: loading state").
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *principal) {
	if s.NotReady != nil {
		if reason := s.NotReady(r.Context()); reason != "" {
			writeNotReady(w, reason)
			return
		}
	}
	for _, c := range s.Ready {
		if err := c.Check(r.Context()); err != nil {
			writeNotReady(w, "a dependency does not answer")
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}

// Operator returns the handler of the operator listener (--admin-addr):
// the Prometheus metrics, which the public listener never serves. Per-route
// request counters and the viewer-day gauge, read in real time, would tell
// a watcher of one video when a single share or save happened; they are for
// the operator only. Anything else is a 404 in the JSON error shape.
func (s *Server) Operator() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	return s.recoverer(notFoundJSON(mux))
}

// metrics are the API's Prometheus metrics. Labels are route patterns and
// status codes, never ids.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// observe, when set, is told each request's route, status and time
	// in the server (Deps.ObserveRequest).
	observe func(route string, status int, d time.Duration)
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowd_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crowd_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
				panic(err) // a programming error: two metrics of one name
			}
		}
	}
	return m
}

// aggregation registers gauges of aggregation: its lag behind the log, its
// in-memory state and the partitions that stalled.
func (m *metrics) aggregation(reg *prometheus.Registry, lag func() uint64, state func() (int, int, int), stalled func() int) {
	var cs []prometheus.Collector
	if stalled != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_stalled_partitions",
			Help: "Event log partitions whose events wait behind a checkpoint that did not move in five minutes (owned by no process's --aggregate-partitions, or stuck).",
		}, func() float64 { return float64(stalled()) }))
	}
	if lag != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_lag_messages", Help: "Event log messages not yet applied by aggregation.",
		}, func() float64 { return float64(lag()) }))
	}
	if state != nil {
		for i, g := range []struct{ name, help string }{
			{"crowd_aggregation_event_ids", "Event ids aggregation remembers for deduplication (the last 24 hours)."},
			{"crowd_aggregation_viewer_days", "Viewer-days aggregation holds (the last three days)."},
			{"crowd_aggregation_state_bytes", "Bytes of aggregation's in-memory state tables."},
		} {
			cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, func() float64 {
				v := [3]int{}
				v[0], v[1], v[2] = state()
				return float64(v[i])
			}))
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
				panic(err) // a programming error: two metrics of one name
			}
		}
	}
}

func (m *metrics) instrument(route string, next http.Handler) http.Handler {
	dur := m.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		dur.Observe(d.Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		if m.observe != nil {
			m.observe(route, sw.status, d)
		}
	})
}

// statusWriter records the status. The time the server took is not told
// to the client (no Server-Timing header): on the public listener it would
// be a timing tell of what the server looked up; crowd bench reads it
// in-process through Deps.ObserveRequest instead.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
