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

// threadFunc is the function on the stack of aggregation's thread while
// it applies a batch: the goroutine that stops bulk ingest
// (docs/PERFORMANCE.md, "The writer's thread off its core").
const threadFunc = "rollup.(*Aggregator).applyRetrying"

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

// traceThread reads an execution trace (runtime/trace) and returns where
// the goroutines that ran fn spent it. A goroutine's time is counted from
// its first transition in the trace to its last; what it was doing is the
// stack of its last transition that had one (a goroutine resumes where it
// blocked).
func traceThread(r io.Reader, fn string) (threadTimes, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return threadTimes{}, fmt.Errorf("read trace: %w", err)
	}
	type goState struct {
		state  trace.GoState
		since  trace.Time
		in     bool // fn on its stack
		marked bool // fn was ever on its stack
		t      threadTimes
	}
	gs := map[trace.GoID]*goState{}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return threadTimes{}, fmt.Errorf("read trace: %w", err)
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
			g = &goState{}
			gs[id] = g
		} else if g.in {
			g.t.in.add(g.state, ev.Time().Sub(g.since))
		} else {
			g.t.out.add(g.state, ev.Time().Sub(g.since))
		}
		g.state, g.since = to, ev.Time()
		stack := st.Stack
		if stack == trace.NoStack && ev.Goroutine() == id {
			stack = ev.Stack()
		}
		if stack != trace.NoStack {
			g.in = stackHas(stack, fn)
			g.marked = g.marked || g.in
		}
	}
	var out threadTimes
	for _, g := range gs {
		if !g.marked {
			continue
		}
		out.goroutines++
		out.in.plus(g.t.in)
		out.out.plus(g.t.out)
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

// describeTrace says where aggregation's thread spent the execution
// trace in file, or why it cannot.
func describeTrace(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Sprintf("(trace: %v)", err)
	}
	defer f.Close()
	t, err := traceThread(bufio.NewReader(f), threadFunc)
	if err != nil {
		return fmt.Sprintf("(trace: %v)", err)
	}
	return t.describe()
}

// describe says where the thread's time went, for the bench's bulk row.
func (t threadTimes) describe() string {
	if t.goroutines == 0 {
		return "aggregation's thread not found in the trace"
	}
	in := t.in
	pct := func(d time.Duration) string {
		return fmt.Sprintf("%s (%d%%)", loadgen.Round(d), int(100*d/max(in.total(), 1)))
	}
	return fmt.Sprintf("aggregation's thread applying batches for %s (execution trace): running %s, ready but waiting for a core %s, blocked on its batch's other goroutines or a lock %s, in system calls %s; waiting for the log %s",
		loadgen.Round(in.total()), pct(in.running), pct(in.runnable), pct(in.blocked), pct(in.syscall), loadgen.Round(t.out.total()))
}
