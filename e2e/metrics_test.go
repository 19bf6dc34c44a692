package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
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

// TestMetrics: after events, views and a failed route, the operator's
// /metrics has each family the operator runbook names, counted: events by
// source and rejection reason, publish latency, aggregation throughput and
// lag, the release job, state size and disk, requests by route pattern
// (unmatched ones under "unmatched", never the raw path), build info and
// the Go and process figures; counters end in _total.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	p, tok := StartWithToken(t, t.TempDir())
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "owner-1", Handle: "owner"}, {ID: "fan-1", Handle: "fan", Password: "password-fan"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid-1", Owner: "owner-1", Title: "metered"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	res, err := svc.Ingest(ctx, []client.Event{
		{ID: "m1", Type: "view", VideoID: "vid-1", TS: ts, Source: "for_you"},
		{ID: "m2", Type: "view", VideoID: "vid-1", TS: ts, Source: "for_you"},
		{ID: "m3", Type: "view", VideoID: "no-such-video", TS: ts, Source: "for_you"},
		{ID: "m4", Type: "view", VideoID: "vid-1", TS: ts, Source: "nowhere"},
	})
	if err != nil || res.Accepted != 2 || len(res.Rejected) != 2 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	fan := p.Client().WithToken(mustLoginToken(t, p.Client(), "fan"))
	if err := fan.RecordView(ctx, "vid-1", client.View{Source: "profile"}); err != nil {
		t.Fatal(err)
	}
	get(t, p.URL+"/v1/accounts/owner/no-such-thing")

	var m map[string]float64
	// Both counters of the two messages are waited for: a scrape reads the
	// counters one by one, so one taken while the second message is being
	// counted can see its events and not yet its message.
	Eventually(t, "aggregation applied the three views", func() bool {
		m = scrape(t, p)
		return m["crowd_aggregation_applied_events_total"] >= 3 && m["crowd_aggregation_applied_messages_total"] >= 2 && m["crowd_release_runs_total"] >= 1
	})
	for series, min := range map[string]float64{
		`crowd_events_accepted_total{source="bulk"}`:                      2,
		`crowd_events_accepted_total{source="single"}`:                    1,
		`crowd_events_rejected_total{reason="unknown_video"}`:             1,
		`crowd_events_rejected_total{reason="invalid_field"}`:             1,
		`crowd_eventlog_published_messages_total`:                         2,
		`crowd_eventlog_publish_duration_seconds_count`:                   2,
		`crowd_aggregation_applied_messages_total`:                        2,
		`crowd_aggregation_thread_seconds_total{stage="commit"}`:          1e-9,
		`crowd_store_size_bytes`:                                          1,
		`crowd_data_dir_free_bytes`:                                       1,
		`crowd_eventlog_stored_messages`:                                  2,
		`crowd_eventlog_stored_bytes`:                                     1,
		`crowd_http_requests_total{route="unmatched",status="404"}`:       1,
		`crowd_http_requests_total{route="POST /v1/events",status="202"}`: 1,
		`crowd_aggregation_lag_seconds`:                                   0,
		`crowd_aggregation_lag_messages`:                                  0,
		`crowd_aggregation_backlog_seconds`:                               0,
		`crowd_aggregation_state_bytes`:                                   0,
		`crowd_bulk_buffered_bytes`:                                       0,
		`go_goroutines`:                                                   1,
		`process_resident_memory_bytes`:                                   1,
	} {
		if v, ok := m[series]; !ok || v < min {
			t.Errorf("%s = %v (present %v); want at least %v", series, v, ok, min)
		}
	}
	for _, zero := range []string{`crowd_release_failures_total`, `crowd_aggregation_apply_failures_total`, `crowd_eventlog_publish_failures_total`} {
		if v, ok := m[zero]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v); want 0", zero, v, ok)
		}
	}
	build := false
	for series, v := range m {
		if strings.HasPrefix(series, "crowd_build_info{") {
			build = v == 1 && strings.Contains(series, `goversion="go`) && strings.Contains(series, `revision="`) && strings.Contains(series, `version="`)
		}
		if strings.Contains(series, "no-such-thing") || strings.Contains(series, "/v1/accounts/owner") {
			t.Errorf("a raw path is a label: %s", series)
		}
	}
	if !build {
		t.Errorf("no crowd_build_info with version, revision and goversion")
	}
	// Names follow Prometheus conventions: counters end in _total.
	_, body := get(t, p.AdminURL+"/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && f[3] == "counter" && !strings.HasSuffix(f[2], "_total") {
			t.Errorf("counter %s does not end in _total", f[2])
		}
	}
}

// promName finds the metric names in a PromQL expression: Crowd's own,
// and the Go runtime's and the process's.
var promName = regexp.MustCompile(`\b(?:crowd|go|process)_[a-z0-9_]+\b`)

// TestMetrics_DeployFiles: the Grafana dashboard and the Prometheus alert
// rules in deploy/ parse, and every metric they use is exported by a
// running server's operator listener.
func TestMetrics_DeployFiles(t *testing.T) {
	var exprs []string
	// The dashboard: JSON, every panel's targets' expressions.
	b, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	panels := 0
	for _, pn := range dash.Panels {
		if pn.Type == "row" {
			continue
		}
		panels++
		if len(pn.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", pn.Title)
		}
		for _, tg := range pn.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if panels < 10 {
		t.Fatalf("dashboard has %d panels", panels)
	}
	// The alert rules: each "- alert:" has an expr, a severity and a
	// summary. The file keeps every expr on one line.
	b, err = os.ReadFile("../deploy/prometheus-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	type rule struct{ name, expr, severity, summary string }
	var rules []*rule
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		key, val, _ := strings.Cut(strings.TrimPrefix(line, "- "), ":")
		val = strings.TrimSpace(val)
		if key == "alert" {
			rules = append(rules, &rule{name: val})
			continue
		}
		if len(rules) == 0 {
			continue
		}
		r := rules[len(rules)-1]
		switch key {
		case "expr":
			r.expr = val
		case "severity":
			r.severity = val
		case "summary":
			r.summary = val
		}
	}
	if len(rules) < 10 {
		t.Fatalf("alert rules: found %d", len(rules))
	}
	for _, r := range rules {
		if r.expr == "" || (r.severity != "warning" && r.severity != "critical") || r.summary == "" {
			t.Errorf("alert %s: expr %q, severity %q, summary %q", r.name, r.expr, r.severity, r.summary)
		}
		if strings.Count(r.expr, "(") != strings.Count(r.expr, ")") {
			t.Errorf("alert %s: unbalanced parentheses in %q", r.name, r.expr)
		}
		exprs = append(exprs, r.expr)
	}
	for _, want := range []string{"crowd_aggregation_lag_seconds", "crowd_bulk_requests_refused_total", "crowd_data_dir_free_bytes"} {
		if !slices.ContainsFunc(rules, func(r *rule) bool { return strings.Contains(r.expr, want) }) {
			t.Errorf("no alert on %s", want)
		}
	}

	// A running server, with some traffic so that the histograms of
	// routes have samples.
	p := Start(t, t.TempDir())
	get(t, p.URL+"/v1/videos")
	exported := map[string]bool{}
	for series := range scrape(t, p) {
		name, _, _ := strings.Cut(series, "{")
		exported[name] = true
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range promName.FindAllString(e, -1) {
			used[name] = true
		}
	}
	for name := range used {
		if !exported[name] {
			t.Errorf("deploy/ uses %s, which /metrics does not export", name)
		}
	}
	if len(used) < 20 {
		t.Errorf("deploy/ uses only %d metrics", len(used))
	}
}
