package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

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
