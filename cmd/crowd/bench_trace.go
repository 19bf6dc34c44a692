package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/exp/trace"

	"github.com/crowd-dev/crowd/internal/loadgen"
)

// traced are the goroutines the bench splits its execution trace's time
// for, by a function on their stack while they do the work named: fn on
// the stack is "in", the rest of the goroutine's time is "out".
var traced = []struct{ fn, what, out string }{
	// The goroutine that stops bulk ingest (docs/PERFORMANCE.md, "The
	// writer's thread off its core"); out, it waits for the log.
	{"rollup.(*Aggregator).applyRetrying", "aggregation's thread applying batches", "waiting for the log"},
	// history.db's writer, which the thread waits for most.
	{"rollup.(*Aggregator).startHistory.func1", "history.db's writer recording batches' viewers' history", ""},
	// The bulk requests' handlers; out, their connections wait for the
	// next request.
	{"httpapi.(*Server).ingestEvents", "bulk ingest's handlers", "between requests"},
}

// threadTimes is where goroutines spent an execution trace: those that
// ever had fn on their stack, split by state, while fn was on their stack
// (in) or not (out: for aggregation's thread, waiting for the log's next
// batch).
type threadTimes struct {
	goroutines int
	in, out    goTimes
}

// goTimes is a goroutine's time by state.
type goTimes struct {
	running  time.Duration
	runnable time.Duration // ready, waiting for a core
	blocked  time.Duration // on a channel, a lock, a timer, the network
	syscall  time.Duration
}

func (g *goTimes) add(s trace.GoState, d time.Duration) {
	switch s {
	case trace.GoRunning:
		g.running += d
	case trace.GoRunnable:
		g.runnable += d
	case trace.GoWaiting:
		g.blocked += d
	case trace.GoSyscall:
		g.syscall += d
	}
}

func (g *goTimes) plus(o goTimes) {
	g.running += o.running
	g.runnable += o.runnable
	g.blocked += o.blocked
	g.syscall += o.syscall
}

func (g goTimes) total() time.Duration { return g.running + g.runnable + g.blocked + g.syscall }

// traceThreads reads an execution trace (runtime/trace) and returns, for
// each of fns, where the goroutines that ran it spent the trace. A goroutine's time is counted from
// its first transition in the trace to its last; what it was doing is the
// stack of its last transition that had one (a goroutine resumes where it
// blocked).
func traceThreads(r io.Reader, fns []string) ([]threadTimes, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	type goState struct {
		state  trace.GoState
		since  trace.Time
		in     []bool        // fns[i] on its stack
		marked []bool        // fns[i] was ever on its stack
		t      []threadTimes // goroutines unused: counted from marked
	}
	gs := map[trace.GoID]*goState{}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		_, to := st.Goroutine()
		g := gs[id]
		if g == nil {
			g = &goState{in: make([]bool, len(fns)), marked: make([]bool, len(fns)), t: make([]threadTimes, len(fns))}
			gs[id] = g
		} else {
			d := ev.Time().Sub(g.since)
			for i := range fns {
				if g.in[i] {
					g.t[i].in.add(g.state, d)
				} else {
					g.t[i].out.add(g.state, d)
				}
			}
		}
		g.state, g.since = to, ev.Time()
		stack := st.Stack
		if stack == trace.NoStack && ev.Goroutine() == id {
			stack = ev.Stack()
		}
		if stack != trace.NoStack {
			for i, fn := range fns {
				g.in[i] = stackHas(stack, fn)
				g.marked[i] = g.marked[i] || g.in[i]
			}
		}
	}
	out := make([]threadTimes, len(fns))
	for _, g := range gs {
		for i := range fns {
			if g.marked[i] {
				out[i].goroutines++
				out[i].in.plus(g.t[i].in)
				out[i].out.plus(g.t[i].out)
			}
		}
	}
	return out, nil
}

func stackHas(s trace.Stack, fn string) bool {
	for f := range s.Frames() {
		if strings.HasSuffix(f.Func, fn) {
			return true
		}
	}
	return false
}

// describeTrace says where the traced goroutines spent the execution
// trace in file, a line each, or why it cannot.
func describeTrace(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Sprintf("(trace: %v)", err)
	}
	defer f.Close()
	fns := make([]string, len(traced))
	for i, t := range traced {
		fns[i] = t.fn
	}
	ts, err := traceThreads(bufio.NewReader(f), fns)
	if err != nil {
		return fmt.Sprintf("(trace: %v)", err)
	}
	lines := make([]string, len(traced))
	for i, t := range traced {
		lines[i] = ts[i].describe(t.what, t.out)
	}
	return strings.Join(lines, "\n")
}

// describe says where the goroutines' time went while they did what
// (the traced function on their stack), and the rest of it (out, unless
// empty).
func (t threadTimes) describe(what, out string) string {
	if t.goroutines == 0 {
		return what + ": not found in the trace"
	}
	in := t.in
	pct := func(d time.Duration) string {
		return fmt.Sprintf("%s (%d%%)", loadgen.Round(d), int(100*d/max(in.total(), 1)))
	}
	goroutines := "1 goroutine"
	if t.goroutines > 1 {
		goroutines = fmt.Sprintf("%d goroutines", t.goroutines)
	}
	s := fmt.Sprintf("%s for %s (execution trace, %s): running %s, ready but waiting for a core %s, blocked on other goroutines or a lock %s, in system calls %s",
		what, loadgen.Round(in.total()), goroutines, pct(in.running), pct(in.runnable), pct(in.blocked), pct(in.syscall))
	if out != "" {
		s += fmt.Sprintf("; %s %s", out, loadgen.Round(t.out.total()))
	}
	return s
}
