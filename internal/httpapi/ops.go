package httpapi

import (
	"context"
	_ "embed"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crowd-dev/crowd/internal/buildinfo"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/store"
)

//go:embed openapi.json
var openapiJSON []byte

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *principal) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only once the process is ready (Readiness: its state
// loaded and aggregation caught up with the log as it was at start, the
// disk not full) and the store and the event log are open and answering.
// Otherwise it answers 503 in the JSON error shape, the reason in the
// message ("not ready: loading state").
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *principal) {
	if s.Readiness != nil {
		if reason := s.Readiness.NotReady(r.Context()); reason != "" {
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
// the operator only. Anything else is a 404 in the JSON error shape. The
// operator listener's own requests (scrapes) are neither counted nor in
// the access log.
func (s *Server) Operator() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	return s.recoverer(notFoundJSON(mux))
}

// routeUnmatched is the route label of requests no route matched (404,
// 405, path-cleaning redirects): never the raw path, which would make the
// label set unbounded and can hold a handle.
const routeUnmatched = "unmatched"

// Reasons a bulk request is refused before its events are looked at
// (crowd_bulk_requests_refused_total).
const (
	refusedLag    = "lag"       // aggregation trails the log (429)
	refusedBusy   = "busy"      // no bulk slot within admitWait (503)
	refusedMemory = "memory"    // bulk bodies in memory at their bound (503)
	refusedSlow   = "slow_body" // body slower than --bulk-min-rate (408)
)

// rejectionReasons are the codes a rejected event line can have; any other
// is counted as "other", so that the label set stays bounded.
var rejectionReasons = []string{
	ingest.CodeMalformedJSON, ingest.CodeUnknownField, ingest.CodeMissingField, ingest.CodeInvalidField,
	ingest.CodeLineTooLong, ingest.CodeFutureTimestamp, "unknown_video", "unknown_account", engage.CodeDayClosed, "other",
}

// metrics are the API's Prometheus metrics. Labels are route patterns,
// status codes and reasons from fixed lists, never ids or paths.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	accepted   *prometheus.CounterVec
	duplicates prometheus.Counter
	rejectedBy *prometheus.CounterVec
	refusedBy  *prometheus.CounterVec
	// receiving counts bulk bodies being read; buffered the bytes of the
	// buffers of every bulk body in memory.
	receiving prometheus.Gauge
	buffered  prometheus.Gauge
	// observe, when set, is told each request's route, status and time
	// in the server (Deps.ObserveRequest).
	observe func(route string, status int, d time.Duration)
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowd_http_requests_total", Help: "HTTP requests of the API by route pattern (\"unmatched\" for none) and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crowd_http_request_duration_seconds", Help: "HTTP request latency of the API by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowd_events_accepted_total", Help: "Engagement events accepted into the event log, by source: bulk (POST /v1/events) or single (a view or share through the API).",
		}, []string{"source"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crowd_events_duplicates_total", Help: "Bulk event lines answered as duplicates of events already accepted.",
		}),
		rejectedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowd_events_rejected_total", Help: "Bulk event lines rejected, by reason (the rejection code).",
		}, []string{"reason"}),
		refusedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crowd_bulk_requests_refused_total", Help: "Bulk requests (events, sync) refused whole, by reason: lag (429), busy (503, no slot), memory (503, bulk bodies at their memory bound), slow_body (408).",
		}, []string{"reason"}),
		receiving: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crowd_bulk_bodies_receiving", Help: "Bulk request bodies being received (they hold no bulk slot until they are in).",
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crowd_bulk_buffered_bytes", Help: "Bytes of buffers held by bulk request bodies (receiving, waiting for a slot or being processed).",
		}),
	}
	for _, src := range []string{"bulk", "single"} {
		m.accepted.WithLabelValues(src)
	}
	for _, r := range rejectionReasons {
		m.rejectedBy.WithLabelValues(r)
	}
	for _, r := range []string{refusedLag, refusedBusy, refusedMemory, refusedSlow} {
		m.refusedBy.WithLabelValues(r)
	}
	bi := buildinfo.Read()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "crowd_build_info", Help: "Always 1; the labels tell the running build: version, source revision and Go version.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.Go},
	})
	build.Set(1)
	register(reg, m.requests, m.duration, m.accepted, m.duplicates, m.rejectedBy, m.refusedBy, m.receiving, m.buffered, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register registers collectors, tolerating ones already registered (two
// Servers on one registry).
func register(reg prometheus.Registerer, cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
				panic(err) // a programming error: two metrics of one name
			}
		}
	}
}

// request counts a finished request.
func (m *metrics) request(route string, status int, d time.Duration) {
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if m.observe != nil {
		m.observe(route, status, d)
	}
}

// ingested counts what became of a bulk batch's lines.
func (m *metrics) ingested(res engage.Result) {
	m.accepted.WithLabelValues("bulk").Add(float64(res.Accepted))
	m.duplicates.Add(float64(res.Duplicates))
	for _, r := range res.Rejected {
		reason := r.Code
		if !slices.Contains(rejectionReasons, reason) {
			reason = "other"
		}
		m.rejectedBy.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) refused(reason string) { m.refusedBy.WithLabelValues(reason).Inc() }

// aggregation registers gauges of aggregation: its lag behind the log, its
// in-memory state and the partitions that stalled.
func (m *metrics) aggregation(reg *prometheus.Registry, a Aggregation) {
	if a == nil {
		return
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_stalled_partitions",
			Help: "Event log partitions whose events wait behind a checkpoint that did not move in five minutes (owned by no process's --aggregate-partitions, or stuck).",
		}, func() float64 { return float64(a.StalledPartitions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_lag_messages", Help: "Event log messages not yet applied by aggregation.",
		}, func() float64 { return float64(a.Lag()) }),
		// crowd_aggregation_lag_seconds is rollup's: the age of the last
		// message applied, how stale the numbers are. This one is how
		// long the backlog takes to apply, what backpressure bounds.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_aggregation_backlog_seconds",
			Help: "Estimated time aggregation takes to apply the event log messages waiting, at the rate it measures while applying (0: caught up; until the first batch after a start is applied, at a prior of 20 messages a second); bulk ingestion is refused beyond --max-lag.",
		}, func() float64 { return a.LagTime().Seconds() }),
	}
	for i, g := range []struct{ name, help string }{
		{"crowd_aggregation_event_ids", "Event ids aggregation remembers in memory for deduplication (the last 24 hours)."},
		{"crowd_aggregation_viewer_days", "Viewer-days aggregation holds in memory (the open days)."},
		{"crowd_aggregation_state_bytes", "Bytes of aggregation's in-memory state tables."},
	} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, func() float64 {
			v := [3]int{}
			v[0], v[1], v[2] = a.StateStats()
			return float64(v[i])
		}))
	}
	register(reg, cs...)
}

// state registers gauges of what Crowd keeps on disk: the database's size
// and the space left where the data dir is.
func (m *metrics) state(reg *prometheus.Registry, st *store.Store, dataDir string) {
	var cs []prometheus.Collector
	if st != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_store_size_bytes", Help: "Size of the database (SQLite pages in use, or PostgreSQL's pg_database_size).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := st.SizeBytes(ctx)
			if err != nil {
				return 0
			}
			return float64(n)
		}))
	}
	if dataDir != "" {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "crowd_data_dir_free_bytes", Help: "Bytes available on the file system of the data dir (the SQLite database and the embedded event log).",
		}, func() float64 {
			n, err := freeBytes(dataDir)
			if err != nil {
				return 0
			}
			return float64(n)
		}))
	}
	register(reg, cs...)
}

// statusWriter records the status and the bytes of the body. The time the
// server took is not told to the client (no Server-Timing header): on the
// public listener it would be a timing tell of what the server looked up;
// crowd bench reads it in-process through Deps.ObserveRequest instead.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
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
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
