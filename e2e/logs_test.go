package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestLogs: every line a server writes is one JSON object with each key
// once, durations are milliseconds under _ms keys (never Go duration
// strings), every API request has an access log line with method, route
// pattern, status, bytes, duration_ms and its request id (the caller's
// when sane, echoed in the answer), unmatched routes are logged and
// counted as "unmatched", and what stops a server is a JSON record too.
func TestLogs(t *testing.T) {
	data := t.TempDir()
	p := Start(t, data, "--disclosure", "exact")

	do := func(method, path, id string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// A caller's sane id is kept and echoed.
	if got := do("GET", "/v1/videos", "trace-7f3a.42").Header.Get("X-Request-Id"); got != "trace-7f3a.42" {
		t.Errorf("X-Request-Id echoed %q, want the caller's", got)
	}
	// An insane one (a space, too long) is replaced by a generated one.
	generated := map[string]bool{}
	for _, bad := range []string{"has space", strings.Repeat("x", 129), ""} {
		got := do("GET", "/healthz", bad).Header.Get("X-Request-Id")
		if got == "" || got == bad || strings.ContainsAny(got, " \t") || generated[got] {
			t.Errorf("X-Request-Id for %q: %q; want a new generated id", bad, got)
		}
		generated[got] = true
	}
	// A path no route matches, holding what could be a handle.
	if resp := do("GET", "/v1/nothing/secret-handle-x", "unmatched-1"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unmatched route: %s", resp.Status)
	}
	if m := scrape(t, p); m[`crowd_http_requests_total{route="unmatched",status="404"}`] < 1 {
		t.Errorf("the unmatched 404 is not counted under route \"unmatched\"")
	}
	// What stops a server is a JSON record: a second server on the same
	// data dir is refused.
	out, err := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data", data).CombinedOutput()
	if err == nil {
		t.Fatalf("a second server on a held data dir started:\n%s", out)
	}
	frecs := records(t, string(out))
	if last := frecs[len(frecs)-1]; last["level"] != "ERROR" || last["msg"] != "crowd stopped" || last["err"] == "" {
		t.Errorf("last record of a failed start: %v; want level ERROR, msg \"crowd stopped\" and the err", last)
	}
	p.Stop(t)

	recs := records(t, p.Logs())
	access := map[string]map[string]any{} // request id → access log record
	for _, rec := range recs {
		if rec["msg"] == "request" {
			id, _ := rec["request_id"].(string)
			access[id] = rec
		}
	}
	want := map[string]struct{ method, route, status string }{
		"trace-7f3a.42": {"GET", "GET /v1/videos", "200"},
		"unmatched-1":   {"GET", "unmatched", "404"},
	}
	for id, w := range want {
		rec, ok := access[id]
		if !ok {
			t.Errorf("no access log line with request_id %q", id)
			continue
		}
		if rec["method"] != w.method || rec["route"] != w.route || fmt.Sprint(rec["status"]) != w.status {
			t.Errorf("access log %s: %v; want %s %s %s", id, rec, w.method, w.route, w.status)
		}
		if _, ok := rec["duration_ms"].(float64); !ok {
			t.Errorf("access log %s: duration_ms %v", id, rec["duration_ms"])
		}
		if b, ok := rec["bytes"].(float64); !ok || b <= 0 {
			t.Errorf("access log %s: bytes %v", id, rec["bytes"])
		}
	}
	for id := range generated {
		if _, ok := access[id]; !ok {
			t.Errorf("no access log line with the generated request_id %q", id)
		}
	}
	if strings.Contains(p.Logs(), "secret-handle-x") {
		t.Errorf("a raw path is in the logs")
	}

	// A mistake in the command line stays plain text, for the person who
	// typed it.
	out, _ = exec.Command(binary, "serve", "--no-such-flag").CombinedOutput()
	if bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) {
		t.Errorf("usage error logged as JSON: %s", out)
	}
}

// goDuration matches a value that is a Go duration string ("1.5s",
// "168h0m0s", "250ms"): durations are logged as numbers under _ms keys.
var goDuration = regexp.MustCompile(`^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)

// records parses logs as one JSON object a line, failing on any line that
// is not one, on a key that appears twice in a record, and on a duration
// logged as a Go duration string.
func records(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		keys, err := topLevelKeys([]byte(line))
		if err != nil {
			t.Fatalf("log line is not one JSON object (%v): %s", err, line)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("key %q twice in one record: %s", k, line)
			}
			seen[k] = true
		}
		var rec map[string]any
		json.Unmarshal([]byte(line), &rec)
		for k, v := range rec {
			if s, ok := v.(string); ok && goDuration.MatchString(s) {
				t.Errorf("%s is a duration string %q; log milliseconds under %s_ms: %s", k, s, k, line)
			}
		}
		out = append(out, rec)
	}
	return out
}

// topLevelKeys returns the keys of a JSON object in order, repeats
// included.
func topLevelKeys(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return keys, nil
}
