package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/loadgen"
)

// BenchmarkSingleCeiling measures what this machine's loopback and Go's
// HTTP stack allow single-event requests before Crowd does anything: the
// load generator's single mode (256 concurrent POST
// /v1/videos/{id}/views, as `crowd bench` sends them) against a server
// whose handler reads the body and answers 202. Whatever Crowd's own
// handler costs comes on top of this. CROWD_CEILING_DURATION sets how
// long it sends (default 10s); run it with -benchtime 1x.
func BenchmarkSingleCeiling(b *testing.B) {
	dur := 10 * time.Second
	if v := os.Getenv("CROWD_CEILING_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("CROWD_CEILING_DURATION: %v", err)
		}
		dur = d
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	for range b.N {
		cfg := loadgen.Config{URL: srv.URL, Mode: loadgen.Single, Duration: dur, Workers: 256, SkipSetup: true,
			Videos: 100_000, Accounts: 1_000_000}
		cpu0 := cputime.Process()
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		cpu := cputime.Process() - cpu0
		if res.Errors > 0 || res.Accepted == 0 {
			b.Fatalf("%d accepted, %d errors (first: %s)", res.Accepted, res.Errors, res.FirstError)
		}
		b.ReportMetric(res.Rate(), "requests/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(res.Accepted), "cpu-µs/request")
		b.ReportMetric(float64(res.Latency.P50.Microseconds()), "p50-µs")
	}
}
