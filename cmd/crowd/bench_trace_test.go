package main

import (
	"bytes"
	rtrace "runtime/trace"
	"strings"
	"testing"
	"time"
)

// TestTraceThread: the bench finds the goroutine that runs the marked
// function in an execution trace and splits its time by state, inside the
// function and outside it.
func TestTraceThread(t *testing.T) {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		time.Sleep(30 * time.Millisecond) // blocked outside the marked function
		markedForTraceTest()
		close(done)
	}()
	<-done
	rtrace.Stop()
	data := buf.Bytes()

	got, err := traceThread(bytes.NewReader(data), "markedForTraceTest")
	if err != nil {
		t.Fatal(err)
	}
	if got.goroutines != 1 {
		t.Fatalf("%d goroutines ran the marked function, want 1", got.goroutines)
	}
	if got.in.blocked < 20*time.Millisecond {
		t.Errorf("blocked in the function %v, want at least its 20ms sleep", got.in.blocked)
	}
	if got.in.running <= 0 {
		t.Errorf("running in the function %v, want some", got.in.running)
	}
	if got.out.blocked < 30*time.Millisecond {
		t.Errorf("blocked outside the function %v, want at least its 30ms sleep before the call", got.out.blocked)
	}
	if s := got.describe(); !strings.Contains(s, "waiting for a core") || !strings.Contains(s, "waiting for the log") {
		t.Errorf("describe: %q", s)
	}

	none, err := traceThread(bytes.NewReader(data), "noSuchFunction")
	if err != nil {
		t.Fatal(err)
	}
	if none.goroutines != 0 || !strings.Contains(none.describe(), "not found") {
		t.Errorf("a function no goroutine ran: %+v, %q", none, none.describe())
	}
}

//go:noinline
func markedForTraceTest() {
	time.Sleep(20 * time.Millisecond)
	for t0 := time.Now(); time.Since(t0) < 2*time.Millisecond; {
	}
}
