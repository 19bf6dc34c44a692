package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestInstrument_NoServerTiming: no answer tells the client how long the
// server took (a timing tell on the public listener); the time goes to the
// in-process observer instead, whether the handler set a status or only
// wrote a body.
func TestInstrument_NoServerTiming(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	type seen struct {
		route  string
		status int
		d      time.Duration
	}
	var got []seen
	m.observe = func(route string, status int, d time.Duration) { got = append(got, seen{route, status, d}) }
	for name, tc := range map[string]struct {
		h    http.HandlerFunc
		want int
	}{
		"status": {func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * time.Millisecond)
			w.WriteHeader(http.StatusAccepted)
		}, http.StatusAccepted},
		"body only": {func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * time.Millisecond)
			w.Write([]byte("{}"))
		}, http.StatusOK},
	} {
		got = nil
		w := httptest.NewRecorder()
		s := &Server{metrics: m, log: slog.New(slog.DiscardHandler)}
		s.observe(route("GET /x", tc.h)).ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		if v := w.Header().Get("Server-Timing"); v != "" {
			t.Errorf("%s: Server-Timing %q on the answer", name, v)
		}
		if len(got) != 1 || got[0].route != "GET /x" || got[0].status != tc.want || got[0].d < 3*time.Millisecond {
			t.Errorf("%s: observed %+v, want one GET /x with status %d and at least the 3 ms slept", name, got, tc.want)
		}
	}
}
