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

// readyz answers 200 only once the store and the event log are open and
// answering.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *principal) {
	for _, c := range s.Ready {
		if err := c.Check(r.Context()); err != nil {
			writeCode(w, codeUnavailable, "not ready")
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
}

// metrics are the API's Prometheus metrics. Labels are route patterns and
// status codes, never ids.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, start: start}
		next.ServeHTTP(sw, r)
		dur.Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
	})
}

// statusWriter records the status, and tells the client how long the
// server took to the answer's header: "Server-Timing: app;dur=<ms>" (what
// crowd bench reports as server-side latency).
type statusWriter struct {
	http.ResponseWriter
	status int
	start  time.Time
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.status = code
		w.Header().Set("Server-Timing", "app;dur="+strconv.FormatFloat(float64(time.Since(w.start).Microseconds())/1000, 'f', 3, 64))
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
