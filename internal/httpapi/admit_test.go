package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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

// lagging is an aggregation that trails the log by more than MaxLag.
type lagging struct{}

func (lagging) Lag() uint64                 { return MaxLag + 1 }
func (lagging) StateStats() (int, int, int) { return 0, 0, 0 }
func (lagging) StalledPartitions() int      { return 0 }
func (lagging) ForgetCreators([]string)     {}
