package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/config"
)

// TestAdmit: bulk requests beyond the slots wait and are then told to come
// back (503 + Retry-After); while aggregation lags they get 429.
func TestAdmit(t *testing.T) {
	s := &Server{bulkSlots: make(chan struct{}, 1), metrics: newMetrics(prometheus.NewRegistry())}
	r := httptest.NewRequest("POST", "/v1/events", nil)

	release, ok := s.admit(httptest.NewRecorder(), r)
	if !ok {
		t.Fatal("first request not admitted")
	}
	saved := admitWait
	admitWait = 0
	defer func() { admitWait = saved }()
	w := httptest.NewRecorder()
	if _, ok := s.admit(w, r); ok || w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over the slots: admitted %v, %d %q", ok, w.Code, w.Header().Get("Retry-After"))
	}
	release()
	if rel, ok := s.admit(httptest.NewRecorder(), r); !ok {
		t.Fatal("slot not freed")
	} else {
		rel()
	}

	s.Aggregation = lagging{}
	w = httptest.NewRecorder()
	if ok := s.notLagging(w); ok || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("lagging aggregation: admitted %v, %d", ok, w.Code)
	}
}

// lagging is an aggregation that trails the log by more than MaxLag (and
// has not measured its rate).
type lagging struct{}

func (lagging) Lag() uint64                 { return MaxLag + 1 }
func (lagging) LagTime() time.Duration      { return 0 }
func (lagging) StateStats() (int, int, int) { return 0, 0, 0 }
func (lagging) StalledPartitions() int      { return 0 }
func (lagging) ForgetCreators([]string)     {}

// behind is an aggregation that trails the log by msgs messages, which it
// estimates take d to apply.
type behind struct {
	msgs uint64
	d    time.Duration
}

func (b behind) Lag() uint64               { return b.msgs }
func (b behind) LagTime() time.Duration    { return b.d }
func (behind) StateStats() (int, int, int) { return 0, 0, 0 }
func (behind) StalledPartitions() int      { return 0 }
func (behind) ForgetCreators([]string)     {}

// TestBackpressure_LagTime: bulk events are refused (429 + Retry-After)
// while the backlog would take aggregation longer than --max-lag to apply,
// even far below MaxLag messages; a short backlog passes, and so does one
// of fewer than minLagRefused messages whatever its estimate (a cold rate
// cannot block ingestion); beyond MaxLag messages it is refused whatever
// the estimate, also with no rate measured.
func TestBackpressure_LagTime(t *testing.T) {
	cfg := config.Default()
	cfg.MaxLag = 3 * time.Second
	for _, tt := range []struct {
		agg     behind
		maxLag  time.Duration
		refused bool
	}{
		{behind{200, 10 * time.Second}, 0, true},               // few messages, long to apply
		{behind{200, 4 * time.Second}, 0, true},                // just over 3 s
		{behind{200, 4 * time.Second}, 5 * time.Second, false}, // a looser --max-lag
		{behind{200, 2 * time.Second}, 0, false},               // under the bound
		{behind{minLagRefused - 1, time.Hour}, 0, false},       // tiny lag: never refused
		{behind{minLagRefused, time.Hour}, 0, true},            // at the floor, the estimate counts
		{behind{MaxLag, 0}, 0, false},                          // at the ceiling, rate unknown
		{behind{MaxLag + 1, 0}, 0, true},                       // over the ceiling, rate unknown
		{behind{MaxLag + 1, 100 * time.Millisecond}, 0, true},  // over the ceiling however fast
		{behind{0, 0}, 0, false},                               // caught up
	} {
		c := cfg
		if tt.maxLag > 0 {
			c.MaxLag = tt.maxLag
		}
		s := &Server{cfg: c, metrics: newMetrics(prometheus.NewRegistry())}
		s.Aggregation = tt.agg
		w := httptest.NewRecorder()
		ok := s.notLagging(w)
		if ok == tt.refused {
			t.Errorf("%d messages, %s to apply, --max-lag %s: admitted %v, want %v", tt.agg.msgs, tt.agg.d, c.MaxLag, ok, !tt.refused)
			continue
		}
		if tt.refused && (w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "") {
			t.Errorf("%d messages, %s to apply: refused with %d, Retry-After %q; want 429 with Retry-After", tt.agg.msgs, tt.agg.d, w.Code, w.Header().Get("Retry-After"))
		}
	}
	// A Server built without a --max-lag (zero) uses the default bound.
	s := &Server{metrics: newMetrics(prometheus.NewRegistry())}
	s.Aggregation = behind{200, config.DefaultMaxLag + time.Second}
	if s.notLagging(httptest.NewRecorder()) {
		t.Error("no --max-lag set: a backlog over the default bound admitted")
	}
}
