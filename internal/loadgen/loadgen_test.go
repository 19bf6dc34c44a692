package loadgen_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/demo"
	"github.com/crowd-dev/crowd/internal/loadgen"
	"github.com/crowd-dev/crowd/internal/security"
)

const ownerPassword = "owner-password"

// MustStart runs Crowd in-process on a fresh data dir in exact mode and
// returns it with a service token.
func MustStart(tb testing.TB) (*app.Main, string) {
	tb.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminAddr = "" // no operator listener: tests run side by side
	cfg.Data = filepath.Join(tb.TempDir(), "data")
	cfg.Disclosure = config.Exact
	cfg.AnonViewsPerMinute = 1 << 30                                                                   // every viewer is this one address
	m := &app.Main{Config: cfg, Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}} // cheap: tests, not security
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	tok, err := demo.ServiceToken(tb.Context(), m, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return m, tok
}

// small is a small world at m.
func small(m *app.Main, tok string) loadgen.Config {
	return loadgen.Config{URL: m.URL(), Token: tok, Videos: 20, Accounts: 200, Creators: 5, Batch: 500,
		OwnerPassword: ownerPassword, Seed: 1}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	m, tok := MustStart(t)
	ctx := t.Context()

	t.Run("Bulk", func(t *testing.T) {
		cfg := small(m, tok)
		cfg.Mode, cfg.Rate, cfg.Duration = loadgen.Bulk, 5000, time.Second
		var progress syncBuffer
		cfg.Progress = &progress
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted == 0 || res.Accepted != res.Sent || res.Errors != 0 || res.Rejected != 0 || res.Latency.N != res.Requests {
			t.Errorf("result = %+v", res)
		}
		if p := progress.String(); !strings.Contains(p, "\r") || !strings.Contains(p, "accepted") || !strings.HasSuffix(p, "\n") {
			t.Errorf("progress = %q", p)
		}
	})

	t.Run("Single", func(t *testing.T) {
		cfg := small(m, tok)
		cfg.Mode, cfg.Rate, cfg.Duration, cfg.Workers, cfg.SkipSetup = loadgen.Single, 300, time.Second, 8, true
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted == 0 || res.Accepted != res.Requests || res.Errors != 0 {
			t.Errorf("result = %+v", res)
		}
	})

	t.Run("EventsAndSpread", func(t *testing.T) {
		cfg := small(m, tok)
		cfg.Mode, cfg.Rate, cfg.Events, cfg.Spread, cfg.SkipSetup = loadgen.Bulk, 0, 1234, 30*24*time.Hour, true
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Three bodies; a body answered 429 or 503 (backpressure while
		// aggregation catches up with the subtests before) is sent again.
		if res.Sent != 1234 || res.Accepted != 1234 || res.Requests-res.Throttled != 3 {
			t.Errorf("result = %+v, want 1234 events in 3 requests besides those throttled", res)
		}
	})

	if err := demo.WaitAggregated(ctx, m); err != nil {
		t.Fatal(err)
	}
	anon := client.New(m.URL())
	s, err := anon.Login(ctx, loadgen.OwnerHandle, ownerPassword)
	if err != nil {
		t.Fatalf("log in as the owner: %v", err)
	}
	owner := anon.WithToken(s.Token)

	t.Run("Report", func(t *testing.T) {
		var rep struct {
			Totals struct{ Views, Likes int64 } `json:"totals"`
		}
		if err := owner.Do(ctx, "GET", "/v1/analytics/videos/"+loadgen.VideoID(0)+"?range=60d", nil, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Totals.Views == 0 {
			t.Errorf("the hot video's totals = %+v, want views", rep.Totals)
		}
	})

	t.Run("Freshness", func(t *testing.T) {
		lat, err := loadgen.Freshness(ctx, owner, []string{loadgen.VideoID(5), loadgen.VideoID(10)}, 4)
		if err != nil {
			t.Fatal(err)
		}
		if lat.N != 4 || lat.Max < lat.P50 {
			t.Errorf("freshness = %+v", lat)
		}
	})

	t.Run("Sample", func(t *testing.T) {
		calls := 0
		lat, err := loadgen.Sample(ctx, 7, func(ctx context.Context) error {
			calls++
			return owner.Do(ctx, "GET", "/v1/analytics/account", nil, nil)
		})
		if err != nil || calls != 7 || lat.N != 7 {
			t.Errorf("Sample = %+v, %v after %d calls", lat, err, calls)
		}
	})
}

// TestRun_Throttled checks 429 and 503 are retried after Retry-After, and
// that a redirect is not followed: the load goes to the URL given only.
func TestRun_Throttled(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/v1/events" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		lines := 0
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines++
		}
		switch n {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			http.Redirect(w, r, other.URL+"/v1/events", http.StatusTemporaryRedirect)
		default:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"accepted":%d,"duplicates":0,"rejected":[]}`, lines)
		}
	}))
	defer srv.Close()
	cfg := loadgen.Config{URL: srv.URL, Token: "tok", Mode: loadgen.Bulk, Events: 300, Batch: 100, Workers: 1, SkipSetup: true}
	res, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Throttled != 2 || res.Errors != 1 || res.Accepted != 200 || res.Requests != 5 {
		t.Errorf("result = %+v, want 2 throttled, 1 error (the redirect), 200 accepted in 5 requests", res)
	}
	if elsewhere.Load() != 0 {
		t.Errorf("the redirect was followed")
	}
}

// TestRun_Acked checks which pre-built bodies a run says were
// acknowledged: those answered 2xx, not one answered with an error status
// nor one whose connection died without an answer; without a timeline it
// says nothing.
func TestRun_Acked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		switch first := strings.SplitN(b.String(), "\n", 2)[0]; first {
		case "body-1":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "body-3":
			// The connection dies without an answer, as at a kill.
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"accepted":%d,"duplicates":0,"rejected":[]}`, strings.Count(b.String(), "\n"))
		}
	}))
	defer srv.Close()
	var bodies [][]byte
	for i := range 5 {
		bodies = append(bodies, fmt.Appendf(nil, "body-%d\nevent\n", i))
	}
	for _, timeline := range []bool{true, false} {
		cfg := loadgen.Config{URL: srv.URL, Token: "tok", Mode: loadgen.Bulk, Batch: 2, Workers: 1, SkipSetup: true, Bodies: bodies, Timeline: timeline}
		res, err := loadgen.Run(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{0, 2, 4}
		if !timeline {
			want = nil
		}
		if fmt.Sprint(res.Acked) != fmt.Sprint(want) || res.Accepted != 6 || res.Errors != 2 {
			t.Errorf("timeline %v: acked %v, want %v; result %+v", timeline, res.Acked, want, res)
		}
	}
}

func TestRun_Invalid(t *testing.T) {
	ok := loadgen.Config{URL: "http://127.0.0.1:1", Token: "t", Duration: time.Second}
	for name, mod := range map[string]func(*loadgen.Config){
		"NoToken":     func(c *loadgen.Config) { c.Token = "" },
		"BadURL":      func(c *loadgen.Config) { c.URL = "ftp://x" },
		"BadMode":     func(c *loadgen.Config) { c.Mode = "burst" },
		"NoDuration":  func(c *loadgen.Config) { c.Duration = 0 },
		"NegRate":     func(c *loadgen.Config) { c.Rate = -1 },
		"HugeBatch":   func(c *loadgen.Config) { c.Batch = 1_000_000 },
		"TooCreators": func(c *loadgen.Config) { c.Accounts, c.Creators = 2, 3 },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			mod(&c)
			if _, err := loadgen.Run(t.Context(), c); err == nil {
				t.Errorf("Run(%+v) = nil error", c)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want loadgen.Latency
	}{
		{nil, loadgen.Latency{}},
		{[]time.Duration{5}, loadgen.Latency{N: 1, P50: 5, P90: 5, P99: 5, Max: 5}},
		{[]time.Duration{4, 1, 3, 2}, loadgen.Latency{N: 4, P50: 2, P90: 4, P99: 4, Max: 4}},
	} {
		if got := loadgen.Percentiles(tc.in); got != tc.want {
			t.Errorf("Percentiles(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	if got := loadgen.Percentiles(ds); got.P50 != 50*time.Millisecond || got.P90 != 90*time.Millisecond || got.P99 != 99*time.Millisecond {
		t.Errorf("Percentiles(1..100 ms) = %+v", got)
	}
}

// BenchmarkRun_Bulk measures bulk ingestion through the whole service,
// in-process; `crowd bench` reports the same with more data.
func BenchmarkRun_Bulk(b *testing.B) {
	m, tok := MustStart(b)
	cfg := small(m, tok)
	cfg.Mode, cfg.Batch, cfg.Events = loadgen.Bulk, 10_000, int64(b.N)
	b.ResetTimer()
	res, err := loadgen.Run(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Rate(), "events/s")
}

// TestRun_ProgressLowRate checks the live status line at a few events a
// second shows that rate, not 0/s.
func TestRun_ProgressLowRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var progress syncBuffer
	cfg := loadgen.Config{URL: srv.URL, Mode: loadgen.Single, Rate: 4, Duration: 1600 * time.Millisecond, Workers: 2,
		SkipSetup: true, Videos: 10, Accounts: 10, Creators: 1, Progress: &progress}
	res, err := loadgen.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted < 4 {
		t.Fatalf("result = %+v, want at least 4 accepted", res)
	}
	// Every redraw after the first event shows a rate above 0.
	for _, line := range strings.Split(strings.TrimSpace(progress.String()), "\r") {
		f := strings.Fields(line)
		if len(f) < 6 || f[4] == "0" {
			continue // before the first event
		}
		if f[5] == "0/s" || f[5] == "0.0/s" {
			t.Errorf("status line %q shows 0/s with %s accepted", line, f[4])
		}
	}
}
