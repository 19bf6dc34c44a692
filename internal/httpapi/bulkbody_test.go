package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/config"
)

// bulkServer serves bulkBody over real HTTP: 200 with the body's length
// when it is read.
func bulkServer(t *testing.T, cfg config.Config, limit int64) (*Server, *httptest.Server) {
	t.Helper()
	s := &Server{cfg: cfg, metrics: newMetrics(prometheus.NewRegistry()), budget: &byteBudget{limit: limit}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, done, ok := s.bulkBody(w, r, "split it")
		if !ok {
			return
		}
		defer done()
		writeJSON(w, http.StatusOK, map[string]int{"bytes": len(body)})
	}))
	t.Cleanup(ts.Close)
	return s, ts
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not the JSON error shape: %s", body)
	}
	return e.Error.Code
}

// TestBulkBody_MinRate: a body slower than the minimum rate is answered
// 408 in the JSON error shape; one that keeps the rate is read whole, and
// the bytes it held are given back.
func TestBulkBody_MinRate(t *testing.T) {
	saved := bodyGrace
	bodyGrace = 200 * time.Millisecond
	defer func() { bodyGrace = saved }()
	cfg := config.Default()
	cfg.BulkMinRate = 1 << 20
	s, ts := bulkServer(t, cfg, maxBufferedBulk)

	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"id\":")
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || errorCode(t, body) != codeTimeout {
		t.Fatalf("stalled body: %s %s; want 408 %s", resp.Status, body, codeTimeout)
	}

	big := bytes.Repeat([]byte("x"), 3<<20)
	resp, err = http.Post(ts.URL, "application/x-ndjson", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"bytes":3145728`) {
		t.Fatalf("body at full speed: %s %s", resp.Status, body)
	}
	if n := s.budget.used.Load(); n != 0 {
		t.Fatalf("%d bytes still held after the requests", n)
	}
}

// TestBulkBody_MemoryBound: a body that would take the bulk bodies in
// memory over their bound is answered 503 with Retry-After; within it,
// bodies of any transfer encoding are read.
func TestBulkBody_MemoryBound(t *testing.T) {
	s, ts := bulkServer(t, config.Default(), 1<<20)
	resp, err := http.Post(ts.URL, "application/x-ndjson", bytes.NewReader(bytes.Repeat([]byte("x"), 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || errorCode(t, body) != codeUnavailable {
		t.Fatalf("body over the bound: %s %q %s; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// Chunked (no Content-Length), within the bound.
	resp, err = http.Post(ts.URL, "application/x-ndjson", io.MultiReader(strings.NewReader("{}\n"), strings.NewReader("{}\n")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"bytes":6`) {
		t.Fatalf("chunked body: %s %s", resp.Status, body)
	}
	if n := s.budget.used.Load(); n != 0 {
		t.Fatalf("%d bytes still held after the requests", n)
	}
}
