package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/loadgen"
	"github.com/crowd-dev/crowd/internal/security"
)

// realisticOpts are the flags of crowd bench --world realistic.
type realisticOpts struct {
	videos, accounts, days int
	events, importEvents   int64
	batch                  int
	dur                    time.Duration
	reports                int
	stateLimit             int
	cpuProfile, memProfile string
	trace                  string // --trace: the bulk phase's execution trace
	keep                   bool
	compression            string        // --log-compression
	maxLag                 time.Duration // --max-lag
}

// childEnv marks a process the bench started from its own executable: the
// test binary of this package acts as crowd when it is set (TestMain).
const childEnv = "CROWDBENCH_EXEC"

// realBench is one run of the realistic world.
type realBench struct {
	o       realisticOpts
	world   loadgen.World
	cfg     config.Config
	m       *app.Main
	stderr  io.Writer
	start   time.Time
	timings *serverTimings
	token   string
	dir     string
	rows    [][3]string
	// traceSays is where aggregation's thread, history.db's writer and
	// the bulk handlers spent the bulk phase, from its execution trace
	// (--trace).
	traceSays string
	// events counts what the server accepted across phases.
	events int64
	// worldBytes is the data dir's size after the world's setup, before
	// any event: the accounts and videos, which are not the events' cost.
	worldBytes int64
}

func (b *realBench) row(what, measured, target string) {
	b.rows = append(b.rows, [3]string{what, measured, target})
}

func (b *realBench) say(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: %5.1fs: "+format+"\n", append([]any{time.Since(b.start).Seconds()}, args...)...)
}

// benchRealistic measures every row of the engine's table over a realistic
// world. The load generator runs as a separate process (this executable's
// crowd loadgen), sending pre-built bodies read from a file before its
// clock starts, so its CPU (its own getrusage while sending) and the
// server's (this process's getrusage over the same span) are apart. The
// history import is the real crowd import, as a process of its own, on a
// file of the same world; the restart reopens the data dir in this
// process.
func benchRealistic(ctx context.Context, o realisticOpts, stdout, stderr io.Writer, getenv func(string) string) error {
	world, err := loadgen.NewWorld(o.videos, o.accounts, o.days, 1)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	dir, err := os.MkdirTemp("", "crowd-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintf(stderr, "the data dir is kept: %s\n", filepath.Join(dir, "data"))
	} else {
		defer os.RemoveAll(dir)
	}
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Data = filepath.Join(dir, "data")
	cfg.Disclosure = config.Exact
	cfg.StateLimit = o.stateLimit
	cfg.LogCompression = o.compression
	cfg.MaxLag = o.maxLag
	cfg.AnonViewsPerMinute = 1 << 30 // the load generator's viewers all come from one address
	cfg.LoginPerMinute = 1 << 20     // and so do the creators who log in to read their reports
	cfg.AnalyticsPerMinute = 1 << 30 // which they read many times
	cfg.AdminAddr = ""
	setMemoryLimit(cfg, getenv)
	// The bench's own lines and its children's (the crash phase's server
	// and load generator at once) share stderr.
	b := &realBench{o: o, world: world, cfg: cfg, stderr: &lockedWriter{w: stderr}, start: time.Now(), timings: &serverTimings{}, dir: dir}
	if err := b.run(ctx); err != nil {
		if b.m != nil {
			b.m.Close()
		}
		return fmt.Errorf("bench: %w", err)
	}
	// The rows in the order of the engine's table.
	order := []string{"setup", "bulk ingest", "history import", "single-event", "video report", "creator overview", "restart with", "restart after a crash", "dedupe", "peak memory", "disk"}
	rank := func(r [3]string) int {
		for i, p := range order {
			if strings.HasPrefix(r[0], p) {
				return i
			}
		}
		return len(order)
	}
	slices.SortStableFunc(b.rows, func(x, y [3]string) int { return rank(x) - rank(y) })
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "what\tmeasured\ttarget\n")
	fmt.Fprintf(tw, "----\t--------\t------\n")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%s; %d cores; realistic world: %s videos (Zipf 1.1; the heavy creator owns %s), %s accounts with demographics, events over the last %d days; load generator a separate process on the same machine; server-side times as the API measured them.\n",
		time.Now().UTC().Format(time.DateOnly), runtime.NumCPU(), thousands(float64(world.Videos)), thousands(float64(world.HeavyVideos)),
		thousands(float64(world.Accounts)), world.Days)
	if o.trace != "" {
		fmt.Fprintf(stdout, "\nExecution trace of the server in the bulk phase: %s\n%s\n", o.trace, b.traceSays)
	}
	if o.cpuProfile != "" {
		for _, phase := range []string{phaseBulk, phaseSingle, phaseReports} {
			f := profileFile(o.cpuProfile, phase)
			fmt.Fprintf(stdout, "\nCPU profile of the server in the %s phase: %s\n", phase, f)
			if phase != phaseReports {
				fmt.Fprintf(stdout, "(of the load generator: %s)\n", f+".loadgen")
			}
			printProfileTop(ctx, stdout, f)
		}
	}
	return nil
}

func (b *realBench) open(ctx context.Context) error {
	// The few creators who log in to read their reports have passwords of
	// low hashing cost: the temporary data dir holds nothing to protect,
	// and the default cost would dominate the sync of the world.
	b.m = &app.Main{Config: b.cfg, Logger: newLogger(b.stderr, "error"), ObserveRequest: b.timings.observe,
		Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	return b.m.Open(ctx)
}

func (b *realBench) run(ctx context.Context) error {
	o, w := b.o, b.world
	if err := b.open(ctx); err != nil {
		return err
	}
	tok, err := security.NewToken("crv")
	if err != nil {
		return err
	}
	if err := b.m.Store.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), "crowd bench", time.Now().UTC()); err != nil {
		return fmt.Errorf("create service token: %w", err)
	}
	b.token = tok
	password, err := security.NewToken("pw")
	if err != nil {
		return err
	}
	// The videos whose reports are timed: the ten hottest and twenty
	// drawn at random; their creators (the heavy creator among them) can
	// log in.
	sample := w.Hottest(10)
	rng := rand.New(rand.NewPCG(2, 3))
	for len(sample) < min(30, w.Videos) {
		v := rng.IntN(w.Videos)
		if !contains(sample, v) {
			sample = append(sample, v)
		}
	}
	passwords := map[int]string{0: password}
	for _, v := range sample {
		passwords[w.Owner(v)] = password
	}

	// Setup: the world through the bulk sync API.
	b.say("syncing %s accounts and %s videos (bulk sync, batches of 50,000)", thousands(float64(w.Accounts)), thousands(float64(w.Videos)))
	svc := &client.Client{BaseURL: b.m.URL(), Token: tok, HTTP: &http.Client{Timeout: 10 * time.Minute}}
	st, err := w.Sync(ctx, svc, passwords, b.stderr)
	if err != nil {
		return err
	}
	b.row("setup: world synced (POST /v1/sync/accounts, /v1/sync/videos)", fmt.Sprintf("%s accounts in %s (%s/s), %s videos in %s",
		thousands(float64(st.Accounts)), loadgen.Round(st.AccountTime), thousands(float64(st.Accounts)/st.AccountTime.Seconds()),
		thousands(float64(st.Videos)), loadgen.Round(st.VideoTime)), "")
	// The world's own bytes, with the write-ahead log folded into the
	// database and truncated, so that what the events add is measured.
	if err := b.m.Store.Purge(ctx); err != nil {
		return err
	}
	if b.worldBytes, err = dirSize(b.cfg.Data); err != nil {
		return err
	}

	// The event files, before anything is timed.
	bulkFile, importFile, crashFile := filepath.Join(b.dir, "bulk.ndjson"), filepath.Join(b.dir, "import.ndjson"), filepath.Join(b.dir, "crash.ndjson")
	t0 := time.Now()
	now := time.Now()
	if err := writeWorldFile(bulkFile, w, "bulk-", o.events, now, 11); err != nil {
		return err
	}
	if err := writeWorldFile(importFile, w, "imp-", o.importEvents, now, 12); err != nil {
		return err
	}
	if err := writeWorldFile(crashFile, w, "crash-", crashEvents(o.events), now, 13); err != nil {
		return err
	}
	b.say("built %s + %s + %s events of the world in %s (not timed)", thousands(float64(o.events)), thousands(float64(o.importEvents)),
		thousands(float64(crashEvents(o.events))), loadgen.Round(time.Since(t0)))

	// Each phase's profile goes to a file of its own (profileFile), so
	// each target's cost can be read alone.
	stopProfile := func() {}
	profile := func(phase string) error {
		stopProfile()
		stopProfile = func() {}
		if o.cpuProfile == "" {
			return nil
		}
		stop, err := startCPUProfile(profileFile(o.cpuProfile, phase))
		if err != nil {
			return err
		}
		stopProfile = stop
		return nil
	}
	endProfile := func() {
		stopProfile()
		stopProfile = func() {}
	}
	defer endProfile()

	if err := profile(phaseBulk); err != nil {
		return err
	}
	stopTrace, err := startTrace(o.trace)
	if err != nil {
		return err
	}
	err = b.bulk(ctx, bulkFile)
	stopTrace()
	if err != nil {
		return err
	}
	if o.trace != "" {
		b.traceSays = describeTrace(o.trace)
	}
	if err := profile(phaseSingle); err != nil {
		return err
	}
	if err := b.single(ctx); err != nil {
		return err
	}
	if err := profile(phaseReports); err != nil {
		return err
	}
	if err := b.reportLatency(ctx, sample, password); err != nil {
		return err
	}
	endProfile()
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	// The server's peak so far: the import and the restart come next.
	serverPeak, _ := procStatus("VmHWM")
	if err := b.m.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	b.m = nil
	importRSS, err := b.importHistory(ctx, importFile)
	if err != nil {
		return err
	}
	if err := b.restart(ctx); err != nil {
		return err
	}
	if err := b.crashRestart(ctx, crashFile); err != nil {
		return fmt.Errorf("crash restart: %w", err)
	}
	peak, _ := procStatus("VmHWM")
	b.row("peak memory", fmt.Sprintf("server %.0f MiB (VmHWM through bulk, single events and reports; %.0f MiB with the restarts) at %s events, %s videos; crowd import %.0f MiB (its own process)",
		float64(serverPeak)/1024, float64(peak)/1024, thousands(float64(b.events)), thousands(float64(w.Videos)), float64(importRSS)/1024),
		"≤ 2 GiB at 100M events, 1M videos")
	return b.disk()
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func writeWorldFile(name string, w loadgen.World, prefix string, n int64, now time.Time, seed uint64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := w.WriteEvents(f, prefix+strconv.FormatInt(now.UnixNano(), 36)+"-", n, now, seed); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// child runs this executable as crowd with args and returns its stdout,
// the process state (its CPU) and its peak RSS in KiB: VmHWM read from
// /proc every 100 ms while it runs (the rusage of a child started by fork
// and exec may report the parent's peak instead of its own).
func (b *realBench) child(ctx context.Context, args ...string) ([]byte, *os.ProcessState, int64, error) {
	return b.childTo(ctx, b.stderr, args...)
}

// childTo is child with the child's stderr going to stderr.
func (b *realBench) childTo(ctx context.Context, stderr io.Writer, args ...string) ([]byte, *os.ProcessState, int64, error) {
	cmd, err := command(ctx, args...)
	if err != nil {
		return nil, nil, 0, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, 0, fmt.Errorf("crowd %s: %w", args[0], err)
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procStatusOf(status, "VmHWM"); err == nil {
				peak.Store(max(peak.Load(), kb))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	close(stop)
	<-watched
	if err != nil {
		return out.Bytes(), cmd.ProcessState, peak.Load(), fmt.Errorf("crowd %s: %w", args[0], err)
	}
	return out.Bytes(), cmd.ProcessState, peak.Load(), nil
}

// command is this executable as crowd with args, for a child process.
func command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd, nil
}

// loadgen runs crowd loadgen --json with args and returns its report and
// the server's CPU over the run.
func (b *realBench) loadgen(ctx context.Context, args ...string) (loadgenReport, time.Duration, error) {
	return b.loadgenAt(ctx, b.m.URL(), args...)
}

// loadgenAt is loadgen against the server at url.
func (b *realBench) loadgenAt(ctx context.Context, url string, args ...string) (loadgenReport, time.Duration, error) {
	args = append([]string{"loadgen", "--url", url, "--token", b.token, "--setup=false", "--json"}, args...)
	cpu0 := cputime.Process()
	out, _, _, err := b.child(ctx, args...)
	cpu := cputime.Process() - cpu0
	var rep loadgenReport
	if err != nil {
		return rep, 0, err
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, 0, fmt.Errorf("read the load generator's report: %w", err)
	}
	if rep.Result.Accepted+rep.Result.Duplicates == 0 {
		return rep, 0, fmt.Errorf("%s mode: nothing accepted (%d errors; first: %s)", rep.Result.Mode, rep.Result.Errors, rep.Result.FirstError)
	}
	if rep.Result.Errors > 0 || rep.Result.Rejected > 0 {
		b.say("%s mode: %d errors, %d rejected; first: %s", rep.Result.Mode, rep.Result.Errors, rep.Result.Rejected, rep.Result.FirstError)
	}
	return rep, cpu, nil
}

// share is a CPU time as a share of the machine over elapsed.
func share(cpu, elapsed time.Duration) string {
	return fmt.Sprintf("%.2f CPU-s, %.0f%% of %d cores", cpu.Seconds(), 100*cpu.Seconds()/elapsed.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU())
}

// bulk sends the bulk file through the load generator, then waits for
// aggregation, watching the aggregation state for a spill.
func (b *realBench) bulk(ctx context.Context, file string) error {
	b.say("bulk ingest: %s events in requests of %d (crowd loadgen --bodies, 4 concurrent)", thousands(float64(b.o.events)), b.o.batch)
	watch := b.watchState()
	stages0 := b.m.Aggregate.StageTimes()
	args := []string{"--bodies", file, "--batch", strconv.Itoa(b.o.batch), "--workers", "4"}
	if b.o.cpuProfile != "" {
		args = append(args, "--cpuprofile", profileFile(b.o.cpuProfile, phaseBulk)+".loadgen")
	}
	wrote0, ioErr := procWritten("/proc/self/io")
	rep, cpu, err := b.loadgen(ctx, args...)
	if err != nil {
		watch()
		return err
	}
	res := rep.Result
	cpuAgg0 := cputime.Process()
	b.say("bulk ingest: %s accepted at %s events/s; waiting for aggregation", thousands(float64(res.Accepted)), thousands(res.Rate()))
	catchUp, err := waitApplied(ctx, b.m, b.say)
	if err != nil {
		watch()
		return err
	}
	spills := watch()
	aggCPU := cputime.Process() - cpuAgg0
	stages := b.m.Aggregate.StageTimes().Sub(stages0)
	n := res.Accepted + res.Duplicates
	b.events += res.Accepted
	total := res.Elapsed + catchUp
	// What the server wrote (this process: the load generator is another).
	wrote := ""
	if wrote1, err := procWritten("/proc/self/io"); err == nil && ioErr == nil {
		wrote = "; " + wrote1.sub(wrote0).perEvent(n)
	}
	b.row("bulk ingest, durable, aggregated (visible in exact mode)",
		fmt.Sprintf("%s events/s (%s events accepted at %s events/s, request p99 %s, %d answers 429/503 retried; aggregation caught up %s after the last batch); server %s (%.1f µs of CPU per event%s); load generator %s; aggregation's thread: %s",
			thousands(float64(n)/total.Seconds()), thousands(float64(n)), thousands(res.Rate()), loadgen.Round(res.Latency.P99), res.Throttled, loadgen.Round(catchUp),
			share(cpu+aggCPU, total), (cpu+aggCPU).Seconds()*1e6/float64(max(n, 1)), wrote, share(rep.CPU, res.Elapsed), stages),
		"≥ 1,000,000 events/s")
	b.spillRow(res.Timeline, spills)
	return nil
}

// spill is a drop of the in-memory dedupe state seen between two looks.
type spill struct {
	from, to    time.Time
	before, now int
}

// watchState looks at the aggregation state every 10 ms until the
// returned func is called, which returns the spills seen: the event ids
// held falling between two looks. A look blocks while
// a spill holds the state, so from and to bound it.
func (b *realBench) watchState() func() []spill {
	stop := make(chan struct{})
	done := make(chan []spill)
	go func() {
		var out []spill
		prev, _, _ := b.m.Aggregate.StateStats()
		prevAt := time.Now()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- out
				return
			case <-t.C:
			}
			ids, _, _ := b.m.Aggregate.StateStats()
			now := time.Now()
			// Nothing expires within a run (ids live 24 hours from
			// their batch), so the table shrinking is a spill. A spill
			// followed by a batch that more than refills the table is
			// not seen: at sizes where spills matter (millions of
			// ids, batches of at most 8 MiB) it cannot refill it.
			if ids < prev {
				out = append(out, spill{from: prevAt, to: now, before: prev, now: ids})
			}
			prev, prevAt = ids, now
		}
	}()
	return func() []spill { close(stop); return <-done }
}

// spillRow reports accept latency before, across and after the first
// spill of the dedupe state during the bulk phase.
func (b *realBench) spillRow(timeline []loadgen.Request, spills []spill) {
	const what, target = "dedupe state at --state-limit", "no stall: p99 accept latency flat across the spill"
	if len(spills) == 0 {
		b.row(what, fmt.Sprintf("not measured: no spill (state limit %s event ids, %s events sent); use --state-limit below --events, e.g. --state-limit %d",
			thousands(float64(b.o.stateLimit)), thousands(float64(b.o.events)), max(1000, b.o.events/2)), target)
		return
	}
	s := spills[0]
	var before, during, after []time.Duration
	last := int64(0)
	for _, r := range timeline {
		start, end := r.Start, r.Start+int64(r.Dur)
		last = max(last, end)
		switch {
		case end < s.from.UnixNano():
			before = append(before, r.Dur)
		case start > s.to.UnixNano():
			after = append(after, r.Dur)
		default:
			during = append(during, r.Dur)
		}
	}
	if len(during) == 0 && s.from.UnixNano() > last {
		b.row(what, fmt.Sprintf("not measured: the spill (%s → %s event ids) came %s after the last request, while aggregation caught up; use a --state-limit further below --events",
			thousands(float64(s.before)), thousands(float64(s.now)), loadgen.Round(time.Duration(s.from.UnixNano()-last))), target)
		return
	}
	p := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		l := loadgen.Percentiles(ds)
		return fmt.Sprintf("p99 %s (p50 %s, %d requests)", loadgen.Round(l.P99), loadgen.Round(l.P50), l.N)
	}
	b.row(what, fmt.Sprintf("bulk request latency before the spill %s; across it %s; after %s (spill of %s → %s event ids in about %s; %d spills in the phase)",
		p(before), p(during), p(after), thousands(float64(s.before)), thousands(float64(s.now)), loadgen.Round(s.to.Sub(s.from)), len(spills)), target)
}

// waitApplied waits until aggregation has applied everything in the event
// log and says how long that took.
func waitApplied(ctx context.Context, m *app.Main, say func(string, ...any)) (time.Duration, error) {
	start := time.Now()
	var failing time.Time
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
	for {
		// A busy event log may time out answering; only a minute of
		// failures in a row is an error.
		info, err := m.Log.Info(ctx)
		switch {
		case err == nil:
			failing = time.Time{}
			if m.Aggregate.Applied() >= info.LastSeq {
				return time.Since(start), nil
			}
		case failing.IsZero():
			failing = time.Now()
		case time.Since(failing) > time.Minute:
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-progress.C:
			// A long catch-up says every half minute where it is and
			// what the process holds.
			rss, _ := procStatus("VmRSS")
			peak, _ := procStatus("VmHWM")
			ids, vds, _ := m.Aggregate.StateStats()
			say("aggregation: applied up to message %s of %s; RSS %.0f MiB (peak %.0f MiB); %s event ids and %s viewer-days in memory",
				thousands(float64(m.Aggregate.Applied())), thousands(float64(info.LastSeq)), float64(rss)/1024, float64(peak)/1024, thousands(float64(ids)), thousands(float64(vds)))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// single runs single-event requests for the phase's duration, then the
// same requests against a handler that does nothing (ceiling).
func (b *realBench) single(ctx context.Context) error {
	b.say("single-event requests for %s, 256 concurrent", b.o.dur)
	args := []string{"--mode", "single", "--rate", "0", "--duration", b.o.dur.String(), "--workers", "256",
		"--videos", strconv.Itoa(b.world.Videos), "--accounts", strconv.Itoa(b.world.Accounts)}
	profiled := args
	if b.o.cpuProfile != "" {
		profiled = append(slices.Clip(args), "--cpuprofile", profileFile(b.o.cpuProfile, phaseSingle)+".loadgen")
	}
	rep, cpu, err := b.loadgen(ctx, profiled...)
	if err != nil {
		return err
	}
	res := rep.Result
	b.events += res.Accepted
	if _, err := waitApplied(ctx, b.m, b.say); err != nil {
		return err
	}
	ceiling, err := b.ceiling(ctx, args)
	if err != nil {
		return err
	}
	b.row("single-event requests (one event per HTTP request)", fmt.Sprintf("%s requests/s (256 concurrent, p50 %s, p99 %s); server %s (%.1f µs of CPU per request); load generator %s; %s",
		thousands(res.Rate()), loadgen.Round(res.Latency.P50), loadgen.Round(res.Latency.P99), share(cpu, res.Elapsed),
		cpu.Seconds()*1e6/float64(max(res.Accepted, 1)), share(rep.CPU, res.Elapsed), ceiling), "≥ 30,000 requests/s")
	return nil
}

// ceiling sends the single-event requests of args, for as long, to an
// HTTP server in this process whose handler reads the body and answers
// 202: what this machine's loopback and Go's HTTP client and server allow
// before Crowd does anything. It returns the row's words for it.
func (b *realBench) ceiling(ctx context.Context, args []string) (string, error) {
	b.say("single-event requests for %s against a handler that does nothing (the machine's ceiling)", b.o.dur)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	cpu0 := cputime.Process()
	rep, _, err := b.loadgenAt(ctx, "http://"+ln.Addr().String(), args...)
	if err != nil {
		return "", fmt.Errorf("ceiling: %w", err)
	}
	cpu := cputime.Process() - cpu0
	res := rep.Result
	return fmt.Sprintf("against a handler that does nothing, the same load %s requests/s (this process, the empty server beside an idle Crowd, %.1f µs of CPU per request; load generator %s)",
		thousands(res.Rate()), cpu.Seconds()*1e6/float64(max(res.Accepted, 1)), share(rep.CPU, res.Elapsed)), nil
}

// serverTimes runs n requests of fn one after another and returns the
// server's own times of route, beside the client's.
func (b *realBench) serverTimes(ctx context.Context, route string, n int, fn func(ctx context.Context, i int) error) (server, clientSide loadgen.Latency, err error) {
	b.timings.start(route)
	i := 0
	lat, err := loadgen.Sample(ctx, n, func(ctx context.Context) error {
		defer func() { i++ }()
		return fn(ctx, i)
	})
	if err != nil {
		b.timings.stop(0)
		return server, lat, err
	}
	ds := b.timings.stop(int(lat.N))
	if int64(len(ds)) != lat.N {
		return server, lat, fmt.Errorf("the server timed %d requests of %s, the client sent %d", len(ds), route, lat.N)
	}
	return loadgen.Percentiles(ds), lat, nil
}

// reportLatency times the video reports of the sample (the hottest alone,
// then the sample in turn) and the heavy creator's account report.
func (b *realBench) reportLatency(ctx context.Context, sample []int, password string) error {
	anon := client.New(b.m.URL())
	sessions := map[int]*client.Client{}
	for _, v := range sample {
		a := b.world.Owner(v)
		if sessions[a] != nil {
			continue
		}
		s, err := anon.Login(ctx, fmt.Sprintf("lg_user%05d", a), password)
		if err != nil {
			return fmt.Errorf("log in as the creator of %s: %w", loadgen.VideoID(v), err)
		}
		sessions[a] = anon.WithToken(s.Token)
	}
	report := func(v int) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			return sessions[b.world.Owner(v)].Do(ctx, "GET", "/v1/analytics/videos/"+loadgen.VideoID(v)+"?range=60d", nil, nil)
		}
	}
	hot := sample[0]
	var rep struct {
		Totals struct{ Views, Likes, Comments, Shares, Saves int64 } `json:"totals"`
	}
	if err := sessions[b.world.Owner(hot)].Do(ctx, "GET", "/v1/analytics/videos/"+loadgen.VideoID(hot)+"?range=60d", nil, &rep); err != nil {
		return fmt.Errorf("read the hottest video's report: %w", err)
	}
	hotEvents := rep.Totals.Views + rep.Totals.Likes + rep.Totals.Comments + rep.Totals.Shares + rep.Totals.Saves
	n := b.o.reports
	b.say("report latency: %d requests of the hottest video's report, %d over %d videos, %d of the heavy creator's account report", n, n, len(sample), max(20, n/5))
	hotServer, _, err := b.serverTimes(ctx, reportRoute, n, report(hot))
	if err != nil {
		return err
	}
	server, lat, err := b.serverTimes(ctx, reportRoute, n, func(ctx context.Context, i int) error {
		return report(sample[i%len(sample)])(ctx, i)
	})
	if err != nil {
		return err
	}
	b.row("video report, server-side, hottest video included (range=60d)",
		fmt.Sprintf("p99 %s server-side over %d videos, the 10 hottest included (p50 %s; client-side p99 %s); the hottest alone p99 %s (p50 %s; it holds %s events)",
			loadgen.Round(server.P99), len(sample), loadgen.Round(server.P50), loadgen.Round(lat.P99), loadgen.Round(hotServer.P99), loadgen.Round(hotServer.P50), thousands(float64(hotEvents))),
		"p99 ≤ 2 ms")
	owner := sessions[0]
	acct, acctLat, err := b.serverTimes(ctx, "GET /v1/analytics/account", max(20, n/5), func(ctx context.Context, _ int) error {
		return owner.Do(ctx, "GET", "/v1/analytics/account?range=60d", nil, nil)
	})
	if err != nil {
		return err
	}
	b.row(fmt.Sprintf("creator overview (account report) with %s videos", thousands(float64(b.world.HeavyVideos))),
		fmt.Sprintf("p99 %s server-side (p50 %s; client-side p99 %s; %d requests)", loadgen.Round(acct.P99), loadgen.Round(acct.P50), loadgen.Round(acctLat.P99), acct.N),
		"≤ 20 ms")
	return nil
}

var (
	publishedRE  = regexp.MustCompile(`published (\d+) events \((\d+) duplicates, (\d+) rejected\) in (\S+)`)
	aggregatedRE = regexp.MustCompile(`aggregated; total time (\S+)`)
	threadRE     = regexp.MustCompile(`aggregation's thread: (.+)`)
)

// importHistory loads the import file with crowd import (its own process,
// the server stopped) and returns the import's peak RSS in KiB.
func (b *realBench) importHistory(ctx context.Context, file string) (int64, error) {
	b.say("history import: crowd import of %s events", thousands(float64(b.o.importEvents)))
	args := []string{"import", file, "--data", b.cfg.Data, "--disclosure", config.Exact.String(), "--log-compression", b.cfg.LogCompression}
	if b.o.cpuProfile != "" {
		args = append(args, "--cpuprofile", profileFile(b.o.cpuProfile, phaseImport))
	}
	out, ps, rss, err := b.child(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("%w\n%s", err, out)
	}
	p, a, thread := publishedRE.FindSubmatch(out), aggregatedRE.FindSubmatch(out), threadRE.FindSubmatch(out)
	if p == nil || a == nil {
		return 0, fmt.Errorf("crowd import: unexpected output %q", out)
	}
	n, _ := strconv.ParseInt(string(p[1]), 10, 64)
	dups, _ := strconv.ParseInt(string(p[2]), 10, 64)
	rejected, _ := strconv.ParseInt(string(p[3]), 10, 64)
	logWrite, err1 := time.ParseDuration(string(p[4]))
	total, err2 := time.ParseDuration(string(a[1]))
	if err1 != nil || err2 != nil || n == 0 {
		return 0, fmt.Errorf("crowd import: unexpected output %q", out)
	}
	b.events += n
	var cpu time.Duration
	stored := ""
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		// ru_oublock counts the 512-byte blocks the process sent to
		// storage (/proc/PID/io's write_bytes).
		stored = fmt.Sprintf("; %s bytes an event to storage", thousands(float64(ru.Oublock)*512/float64(max(n, 1))))
	}
	threadSays := ""
	if thread != nil {
		threadSays = "; aggregation's thread: " + string(thread[1])
	}
	b.row("history import (crowd import)", fmt.Sprintf("%s events/s aggregated (%s events: log write at %s events/s in %s, then %s of aggregation; %.1f CPU-s in all%s; %d duplicates, %d rejected%s)",
		thousands(float64(n)/total.Seconds()), thousands(float64(n)), thousands(float64(n)/logWrite.Seconds()), loadgen.Round(logWrite),
		loadgen.Round(total-logWrite), cpu.Seconds(), stored, dups, rejected, threadSays),
		"≥ 1,000,000 events/s (100M events in under 2 minutes of aggregation after the log write)")
	return rss, nil
}

// reopened is what reopen measured.
type reopened struct {
	// opened is when Open returned, ready when /readyz first answered
	// 200, loaded when the state was loaded and aggregation had applied
	// the whole log; each from the start of Open.
	opened, ready, loaded time.Duration
	// phases says how long /readyz gave each reason for not being ready,
	// in the order they came.
	phases []string
	// behind is the most log messages /readyz said aggregation was behind
	// ("catching up: N messages behind"); 0 if it never said so.
	behind uint64
	// ids and viewerDays are the aggregation state held in memory once
	// caught up.
	ids, viewerDays int
	// snapshot says whether the state came from a snapshot (and the
	// journal after it) or the whole journal; entries how many journal
	// entries were replayed.
	snapshot bool
	entries  int
}

// reopen opens the data dir in this process (b.open) and times it until
// /readyz answers 200 and until the aggregation state is loaded and
// caught up with the log. The server stays open.
func (b *realBench) reopen(ctx context.Context) (reopened, error) {
	var r reopened
	start := time.Now()
	if err := b.open(ctx); err != nil {
		return r, err
	}
	r.opened = time.Since(start)
	hc := &http.Client{Timeout: 5 * time.Second}
	reason, since := "opening", time.Duration(0)
	for {
		resp, err := hc.Get(b.m.URL() + "/readyz")
		if err == nil {
			var body struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			now := strings.TrimPrefix(body.Error.Message, "not ready: ")
			if resp.StatusCode == http.StatusOK {
				now = ""
			}
			if strings.HasPrefix(now, "catching up") {
				var behind uint64
				if _, err := fmt.Sscanf(now, "catching up: %d messages behind", &behind); err == nil {
					r.behind = max(r.behind, behind)
				}
				now = "catching up"
			}
			if now != reason {
				at := time.Since(start)
				r.phases = append(r.phases, fmt.Sprintf("%s %s", reason, loadgen.Round(at-since)))
				reason, since = now, at
			}
			if resp.StatusCode == http.StatusOK {
				r.ready = time.Since(start)
				break
			}
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("/readyz not 200 after 10 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := waitApplied(ctx, b.m, b.say); err != nil {
		return r, err
	}
	r.loaded = time.Since(start)
	r.ids, r.viewerDays, _ = b.m.Aggregate.StateStats()
	r.snapshot, _, r.entries = b.m.Aggregate.LoadedFrom()
	return r, nil
}

// String describes the reopening for a row.
func (r reopened) String() string {
	from := "the whole journal"
	if r.snapshot {
		from = "a snapshot and the journal after it"
	}
	return fmt.Sprintf("/readyz 200 after %s (Open returned after %s; %s); state loaded and aggregation caught up after %s (%s event ids, %s viewer-days in memory; from %s, %s journal entries replayed)",
		loadgen.Round(r.ready), loadgen.Round(r.opened), strings.Join(r.phases, ", "), loadgen.Round(r.loaded),
		thousands(float64(r.ids)), thousands(float64(r.viewerDays)), from, thousands(float64(r.entries)))
}

// restart reopens the data dir after the clean stop of the import and
// times it (reopen). The server stays open for the crash phase.
func (b *realBench) restart(ctx context.Context) error {
	b.say("restart: reopening the data dir")
	r, err := b.reopen(ctx)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	b.row("restart with the state", fmt.Sprintf("%s; %s events in the data dir", r, thousands(float64(b.events))),
		"ready ≤ 10 s (/readyz not ready until it is)")
	return nil
}

// disk reports the data dir's bytes per event.
func (b *realBench) disk() error {
	total, err := dirSize(b.cfg.Data)
	if err != nil {
		return err
	}
	logBytes, _ := dirSize(filepath.Join(b.cfg.Data, "eventlog"))
	secrets, _ := dirSize(b.cfg.Secrets())
	db := total - logBytes - secrets
	added := total - b.worldBytes
	b.row("disk per event (state + retained log)", fmt.Sprintf("%.1f bytes the events added (%.0f MiB over the world's %.0f MiB of accounts and videos); %.1f bytes with the world (data dir %.0f MiB for %s events: database and its state %.0f MiB, %.1f bytes/event; event log %.0f MiB, %.1f bytes/event)",
		float64(added)/float64(b.events), float64(added)/(1<<20), float64(b.worldBytes)/(1<<20),
		float64(total)/float64(b.events), float64(total)/(1<<20), thousands(float64(b.events)), float64(db)/(1<<20), float64(db)/float64(b.events),
		float64(logBytes)/(1<<20), float64(logBytes)/float64(b.events)), "≤ 40 bytes")
	return nil
}

// The phases that get a CPU profile of their own.
const (
	phaseBulk    = "bulk"
	phaseSingle  = "single"
	phaseImport  = "import"
	phaseReports = "reports"
)

// profileFile is where the CPU profile of phase goes: the --cpuprofile
// name for the bulk phase, that name with ".phase" for the others.
func profileFile(name, phase string) string {
	if phase == phaseBulk {
		return name
	}
	return name + "." + phase
}

// printProfileTop prints the 15 functions of the profile with the most
// flat and the most cumulative time, with go tool pprof when the Go
// toolchain is on PATH, or the command to run otherwise.
func printProfileTop(ctx context.Context, w io.Writer, profile string) {
	goBin, err := exec.LookPath("go")
	for _, by := range []string{"flat", "cum"} {
		args := []string{"tool", "pprof", "-top", "-nodecount=15"}
		if by == "cum" {
			args = append(args, "-cum")
		}
		args = append(args, profile)
		fmt.Fprintf(w, "\ntop 15 by %s time: go %s\n", by, strings.Join(args, " "))
		if err != nil {
			fmt.Fprintln(w, "(the go command is not on PATH: run the command above)")
			continue
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(w, "(go tool pprof: %v)\n", err)
		}
		w.Write(out.Bytes())
	}
}
