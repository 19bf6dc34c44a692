package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/loadgen"
)

func noEnv(string) string { return "" }

// TestMain lets crowd bench --world realistic start this test binary as
// crowd (its load generator and crowd import are processes of their own).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "crowd:", err)
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchCmd_Realistic runs a tiny realistic world end to end and checks
// every row of the engine's table is printed, measured or saying how to
// measure it. It asserts no number.
func TestBenchCmd_Realistic(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an in-process Crowd under load")
	}
	var stdout, stderr bytes.Buffer
	prof := filepath.Join(t.TempDir(), "cpu.out")
	traceFile := filepath.Join(t.TempDir(), "bulk.trace")
	args := []string{"bench", "--world", "realistic", "--videos", "300", "--accounts", "2000", "--days", "30", "--events", "20000",
		"--import-events", "5000", "--batch", "1000", "--state-limit", "5000", "--duration", "500ms", "--report-requests", "20", "--cpuprofile", prof,
		"--trace", traceFile}
	if err := run(t.Context(), args, &stdout, &stderr, noEnv); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"world synced", "bulk ingest, durable, aggregated", "history import (crowd import)", "log write at",
		"single-event requests", "video report, server-side", "creator overview (account report) with 150 videos",
		"restart with the state", "/readyz 200 after", "restart after a crash (kill -9 during bulk ingest)", "killed", "Exactly once",
		"the totals then grew by exactly the file's", "dedupe state at --state-limit", "peak memory", "disk per event", "bytes the events added",
		"load generator", "% of", "top 15 by flat time", "top 15 by cum time",
		"against a handler that does nothing", "in the single phase", "in the reports phase",
		"Execution trace of the server in the bulk phase", "aggregation's thread applying batches for", "history.db's writer recording", "bulk ingest's handlers for",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{prof, prof + ".loadgen", prof + ".single", prof + ".single.loadgen", prof + ".reports"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("CPU profile %s: %v", f, err)
		}
	}
	if b, err := os.ReadFile(traceFile); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Errorf("execution trace %s: %v, %d bytes, want a trace's header", traceFile, err, len(b))
	}
	t.Log(out)
}

// TestServeArgs checks the crash phase's crowd serve gets every setting of
// the bench's server as a flag, whatever CROWD_* variables say.
func TestServeArgs(t *testing.T) {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminAddr = ""
	cfg.Data = "/tmp/d"
	cfg.Disclosure = config.Exact
	cfg.StateLimit = 5000
	cfg.AnonViewsPerMinute = 1 << 30
	cfg.LogRetention = 90 * time.Minute
	args, err := serveArgs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--addr=127.0.0.1:0", "--admin-addr=", "--data=/tmp/d", "--secrets-dir=", "--disclosure=exact", "--state-limit=5000", "--log-retention=1h30m0s"} {
		if !slices.Contains(args, want) {
			t.Errorf("serve args lack %q: %q", want, args)
		}
	}
	// What crowd serve makes of them, with the environment saying
	// otherwise.
	back := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	back.Flags(fs)
	env := map[string]string{"CROWD_STATE_LIMIT": "7", "CROWD_ADMIN_ADDR": "127.0.0.1:9464", "CROWD_DISCLOSURE": "protected"}
	if err := config.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("crowd serve with %q has\n%+v, want\n%+v", args, back, cfg)
	}
}

// TestReadBodies checks the crash phase cuts a file into requests as the
// load generator does, and copies the ones it is asked for.
func TestReadBodies(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "events.ndjson")
	data := []byte(`{"id":"a","type":"view"}` + "\n" + `{"id":"b","type":"like"}` + "\n" + `{"id":"c","type":"share"}` + "\n" +
		`{"id":"d","type":"view"}` + "\n" + `{"id":"e","type":"comment"}` + "\n" + `{"id":"f","type":"view"}` + "\n" + `{"id":"g","type":"view"}`)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want, _ := loadgen.SplitNDJSON(data, 3)
	got, err := readBodies(src, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d bodies, the load generator cuts %d", len(got), len(want))
	}
	for i := range want {
		if wb := (body{events: int64(len(strings.Split(strings.TrimSuffix(string(want[i]), "\n"), "\n"))), tally: tallyOf(want[i])}); got[i] != wb {
			t.Errorf("body %d = %+v, want %+v", i, got[i], wb)
		}
	}
	if got[0].tally != (tally{views: 1, shares: 1}) || got[2].tally != (tally{views: 1}) {
		t.Errorf("tallies %+v", got)
	}
	dst := filepath.Join(dir, "retry.ndjson")
	if err := copyBodies(dst, src, 3, func(i int) bool { return i != 1 }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != string(want[0])+string(want[2]) {
		t.Errorf("copied %q, want bodies 0 and 2", b)
	}
}

// TestProgressWatch checks the crash phase reads the load generator's live
// line: a count cut between two writes, and the half reached once.
func TestProgressWatch(t *testing.T) {
	var out bytes.Buffer
	p := &progressWatch{w: &out, half: 2500, reached: make(chan struct{})}
	for _, w := range []string{"loadgen: sending f, 5 bodies\n", "\r   0.5s  sent 2,000  accepted 1,", "000  4,000/s  p50 1ms", "\r   1.0s  sent 4,000  accepted 2,000  ",
		"\r   1.5s  sent 5,000  accepted 3,000  ", "\r   2.0s  sent 5,000  accepted 5,000  "} {
		p.Write([]byte(w))
		if w == "\r   1.0s  sent 4,000  accepted 2,000  " {
			select {
			case <-p.reached:
				t.Fatal("half reached at 2,000 of 5,000")
			default:
			}
		}
	}
	<-p.reached
	if after, accepted := p.seen(); accepted != 5000 || after <= 0 {
		t.Errorf("seen %v, %d; want 5,000 accepted", after, accepted)
	}
	if !strings.HasSuffix(out.String(), "accepted 5,000  ") {
		t.Errorf("passed on %q", out.String())
	}
}

// TestBenchCmd runs a short bench end to end and checks every target has
// its row. It asserts no number: targets are measured, never tested.
func TestBenchCmd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an in-process Crowd under load")
	}
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--duration", "500ms", "--history-events", "0", "--freshness-samples", "5", "--report-requests", "20",
		"--videos", "50", "--accounts", "300"}
	if err := run(t.Context(), args, &stdout, &stderr, noEnv); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"what", "bulk ingest", "single-event requests", "accepted → visible", "full report", "protected mode", "release job every minute", "memory", "MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
}

func TestCommands_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--duration", "0s"},
		{"bench", "--history-events", "-1"},
		{"bench", "--world", "huge"},
		{"bench", "--world", "realistic", "--events", "0"},
		{"bench", "--world", "realistic", "--videos", "1"},
		{"loadgen", "--mode", "burst", "--token", "t", "--url", "http://127.0.0.1:1"},
		{"loadgen", "--duration", "0s", "--token", "t"},
		{"loadgen", "--url", "http://127.0.0.1:1"},
		{"loadgen", "extra"},
		{"demo", "--seed", "x"},
		{"demo", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, &stdout, &stderr, noEnv)
		if err == nil {
			t.Errorf("crowd %s = nil error", strings.Join(args, " "))
		}
		if !errors.Is(err, errUsage) {
			t.Errorf("crowd %s = %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

func TestLoadgenCmd_Env(t *testing.T) {
	// Flags read CROWD_* from the environment: a bad CROWD_MODE is refused
	// before anything is contacted.
	env := map[string]string{"CROWD_MODE": "burst", "CROWD_TOKEN": "t", "CROWD_URL": "http://127.0.0.1:1"}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"loadgen"}, &stdout, &stderr, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), `mode "burst"`) {
		t.Errorf("loadgen with CROWD_MODE=burst = %v", err)
	}
}

// TestProcWritten: the bench's written bytes grow by what this process
// writes, and a file of /proc without the fields is refused.
func TestProcWritten(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/self/io here:", err)
	}
	before, err := procWritten("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1 << 20
	if err := os.WriteFile(filepath.Join(t.TempDir(), "f"), make([]byte, n), 0o600); err != nil {
		t.Fatal(err)
	}
	after, err := procWritten("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	if d := after.sub(before); d.calls < n {
		t.Fatalf("wrote %d bytes, wchar grew by %d", n, d.calls)
	}
	if got := (written{calls: 3000, storage: 1000}).perEvent(10); got != "300 bytes an event written (100 to storage)" {
		t.Fatalf("perEvent: %q", got)
	}
	bad := filepath.Join(t.TempDir(), "io")
	if err := os.WriteFile(bad, []byte("rchar: 1\nwchar: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := procWritten(bad); err == nil {
		t.Fatal("a malformed io file read without an error")
	}
	if err := os.WriteFile(bad, []byte("rchar: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := procWritten(bad); err == nil {
		t.Fatal("an io file without wchar read without an error")
	}
}
