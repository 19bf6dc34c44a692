package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
	args := []string{"bench", "--world", "realistic", "--videos", "300", "--accounts", "2000", "--days", "30", "--events", "20000",
		"--import-events", "5000", "--batch", "1000", "--state-limit", "5000", "--duration", "500ms", "--report-requests", "20", "--cpuprofile", prof}
	if err := run(t.Context(), args, &stdout, &stderr, noEnv); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"world synced", "bulk ingest, durable, aggregated", "history import (crowd import)", "log write at",
		"single-event requests", "video report, server-side", "creator overview (account report) with 150 videos",
		"restart with the state", "/readyz 200 after", "dedupe state at --state-limit", "peak memory", "disk per event", "bytes the events added",
		"load generator", "% of", "top 15 by flat time", "top 15 by cum time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{prof, prof + ".loadgen"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("CPU profile %s: %v", f, err)
		}
	}
	t.Log(out)
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
