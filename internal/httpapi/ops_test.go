package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestServerTiming: every answer says how long the server took to its
// header, whether the handler set a status or only wrote a body.
func TestServerTiming(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	for name, h := range map[string]http.HandlerFunc{
		"status": func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * time.Millisecond)
			w.WriteHeader(http.StatusAccepted)
		},
		"body only": func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(3 * time.Millisecond)
			w.Write([]byte("{}"))
		},
	} {
		w := httptest.NewRecorder()
		m.instrument("GET /x", h).ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		ms, ok := strings.CutPrefix(w.Header().Get("Server-Timing"), "app;dur=")
		if !ok {
			t.Fatalf("%s: Server-Timing %q", name, w.Header().Get("Server-Timing"))
		}
		if d, err := strconv.ParseFloat(ms, 64); err != nil || d < 3 {
			t.Fatalf("%s: duration %q ms, want at least the 3 ms slept", name, ms)
		}
	}
}
