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

	ts, err := traceThreads(bytes.NewReader(data), []string{"markedForTraceTest", "noSuchFunction"})
	if err != nil {
		t.Fatal(err)
	}
	got, none := ts[0], ts[1]
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
	if s := got.describe("the marked", "outside"); !strings.Contains(s, "the marked for") || !strings.Contains(s, "1 goroutine)") ||
		!strings.Contains(s, "waiting for a core") || !strings.Contains(s, "; outside ") {
		t.Errorf("describe: %q", s)
	}
	if none.goroutines != 0 || none.describe("no such", "") != "no such: not found in the trace" {
		t.Errorf("a function no goroutine ran: %+v, %q", none, none.describe("no such", ""))
	}
}

//go:noinline
func markedForTraceTest() {
	time.Sleep(20 * time.Millisecond)
	for t0 := time.Now(); time.Since(t0) < 2*time.Millisecond; {
	}
}
