package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads the operator listener's /metrics: every sample, keyed by
// its series as written (name{labels}).
func scrape(t testing.TB, p *Process) map[string]float64 {
	t.Helper()
	if p.AdminURL == "" {
		t.Fatal("scrape: the operator listener is off")
	}
	resp, body := get(t, p.AdminURL+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
