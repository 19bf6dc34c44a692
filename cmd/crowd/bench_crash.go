package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/loadgen"
	"github.com/crowd-dev/crowd/internal/store"
)

// The crash phase of crowd bench --world realistic: the restart after a
// kill -9 in the middle of bulk ingestion.
//
// The bench's server runs in this process, and a process cannot SIGKILL
// itself and go on measuring, so the phase runs crowd serve (this
// executable) as a child on the same data dir, with the same settings
// (serveArgs), sends it the crash file through the load generator, and
// kills it with SIGKILL about halfway through. Then it reopens the data
// dir in this process and times it as the clean restart is timed
// (reopen): until /readyz answers 200, and until the aggregation state is
// loaded and aggregation has applied the whole log, which after a crash
// means the journal after the last snapshot and the log after the last
// checkpoint.
//
// When to kill: once the load generator's live line (redrawn every 500 ms
// on its stderr, which the bench watches on its way to the bench's
// stderr) shows at least half the events accepted. The bench cannot see
// the child's aggregation (its operator listener, /metrics, is off like
// the in-process server's), and polling the public API would add load of
// its own; a timer at the half time the bulk phase's rate predicts would
// depend on the child accepting at that rate, and in a small world it
// fired before the first answer. The live line counts the answers
// themselves; the kill comes at most a redraw (500 ms of sending) past
// the half. Aggregation trails ingestion by seconds in every bulk phase
// measured ("aggregation caught up N s after the last batch"), so at that
// moment the server has acknowledged events it has not aggregated, and
// the restart has a backlog to apply; the row says how many events were
// acknowledged and how many log messages /readyz reported behind, so a
// kill that came late shows (in a small world the first redraw can come
// after the last answer). Should the load generator finish without its
// line showing half (only if requests failed: its last redraw, as it
// ends, counts every answer), the kill comes at once, which the row says.
//
// What is checked: exactly once, on what the bench can count cheaply.
// Views, comments and shares each add exactly one to their video's
// lifetime totals (video_totals), whatever came before them; likes and
// saves add nothing when the account already likes or saves the video, so
// their totals cannot be checked against a count of events. The load
// generator reports which requests were acknowledged (answered 2xx:
// loadgen.Result.Acked). After the crash restart has caught up, the
// totals must have grown by at least the acknowledged requests' views,
// comments and shares (none of those lost) and by at most the whole
// file's (a request cut by the kill may be in the log in part, in whole
// or not at all, but nothing twice). Then, as a platform retries what was
// not acknowledged, the unacknowledged requests are sent again (to the
// reopened server), and once aggregated the totals must have grown by
// exactly the file's: an acknowledged event lost would be missing (it is
// not sent again), one counted twice would be over. A failed check fails
// the bench. The crash tests check the same per video, through several
// kills: TestIngestCrash, TestIngestCrash_Spilling (e2e).

// crashEvents is how many events the crash phase sends: a quarter of the
// bulk phase's, at most a million.
func crashEvents(events int64) int64 { return max(1, min(events/4, 1_000_000)) }

// crashRestart runs the crash phase with the events of file. The server
// of the clean restart is open; it is closed first, and the server of the
// crash restart is closed at the end.
func (b *realBench) crashRestart(ctx context.Context, file string) error {
	// The requests the load generator will send, as it cuts the file.
	bodies, err := readBodies(file, b.o.batch)
	if err != nil {
		return err
	}
	var n int64
	var want tally
	for _, body := range bodies {
		n += body.events
		want = want.plus(body.tally)
	}
	before, err := b.totals(ctx)
	if err != nil {
		return err
	}
	if err := b.m.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	b.m = nil
	eventsBefore := b.events

	srv, err := b.startServer(ctx)
	if err != nil {
		return err
	}
	defer srv.stop()
	b.say("crash: crowd serve (pid %d) ready at %s; sending %s events (crowd loadgen --bodies, 4 concurrent), SIGKILL once the load generator shows half of them accepted",
		srv.cmd.Process.Pid, srv.url, thousands(float64(n)))
	watch := &progressWatch{w: b.stderr, half: max(1, n/2), reached: make(chan struct{})}
	sent := make(chan struct{})
	type kill struct {
		after    time.Duration // from the load generator's start of sending
		accepted int64         // what its live line showed last
		late     bool          // the load generator had finished
		peak     int64         // the server's VmHWM in KiB just before
	}
	killed := make(chan kill, 1)
	go func() {
		var k kill
		select {
		case <-watch.reached:
		case <-sent:
			k.late = true
		}
		k.peak, _ = procStatusOf(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid), "VmHWM")
		srv.cmd.Process.Signal(syscall.SIGKILL)
		k.after, k.accepted = watch.seen()
		killed <- k
	}()
	out, _, _, lgErr := b.childTo(ctx, watch, "loadgen", "--url", srv.url, "--token", b.token, "--setup=false", "--json",
		"--bodies", file, "--batch", strconv.Itoa(b.o.batch), "--workers", "4")
	close(sent)
	k := <-killed
	<-srv.exited
	if ws, ok := srv.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("crowd serve ended before the kill (%v); its last log lines:\n%s", srv.err, srv.lastLines())
	}
	// The load generator exits non-zero when nothing was accepted, which
	// an early kill can cause; its report is printed all the same.
	var rep loadgenReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("the load generator (%v) left no report: %w", lgErr, err)
	}
	res := rep.Result
	if res.Rejected > 0 {
		return fmt.Errorf("%d events of the crash file rejected (first: %s): the counts below assume none", res.Rejected, res.FirstError)
	}
	acked := make([]bool, len(bodies))
	var ackedEvents int64
	var ackedTally tally
	for _, i := range res.Acked {
		if i < 0 || i >= len(bodies) || acked[i] {
			return fmt.Errorf("the load generator acknowledged body %d of %d (twice?)", i, len(bodies))
		}
		acked[i] = true
		ackedEvents += bodies[i].events
		ackedTally = ackedTally.plus(bodies[i].tally)
	}
	if ackedEvents != res.Accepted+res.Duplicates {
		return fmt.Errorf("the load generator acknowledged %d requests of %d events, but counted %d accepted and %d duplicates", len(res.Acked), ackedEvents, res.Accepted, res.Duplicates)
	}
	when := fmt.Sprintf("%s after the load generator began sending, its live line at %s accepted", loadgen.Round(k.after), thousands(float64(k.accepted)))
	if k.late {
		when = fmt.Sprintf("once the load generator had finished, its live line at %s accepted", thousands(float64(k.accepted)))
	}
	b.say("crash: killed the server %s: %s of %s events acknowledged in %d of %d requests (%d failed); reopening the data dir",
		when, thousands(float64(ackedEvents)), thousands(float64(n)), len(res.Acked), len(bodies), res.Errors)

	r, err := b.reopen(ctx)
	if err != nil {
		return err
	}
	afterCrash, err := b.totals(ctx)
	if err != nil {
		return err
	}
	logged := afterCrash.minus(before)
	if !logged.covers(ackedTally) {
		return fmt.Errorf("acknowledged events lost: after the crash restart the totals grew by %s, the acknowledged requests held %s", logged, ackedTally)
	}
	if !want.covers(logged) {
		return fmt.Errorf("events counted twice: after the crash restart the totals grew by %s, the whole file holds %s", logged, want)
	}
	// What was not acknowledged is sent again, as a platform retries.
	requests := 0
	for i := range bodies {
		if !acked[i] {
			requests++
		}
	}
	resent := "none to send again"
	if requests > 0 {
		retryFile := filepath.Join(b.dir, "crash-retry.ndjson")
		if err := copyBodies(retryFile, file, b.o.batch, func(i int) bool { return !acked[i] }); err != nil {
			return err
		}
		b.say("crash: sending the %d unacknowledged requests again (%s events)", requests, thousands(float64(n-ackedEvents)))
		rep, _, err := b.loadgen(ctx, "--bodies", retryFile, "--batch", strconv.Itoa(b.o.batch), "--workers", "4")
		if err != nil {
			return fmt.Errorf("send the unacknowledged requests again: %w", err)
		}
		if rep.Result.Errors > 0 || rep.Result.Rejected > 0 {
			return fmt.Errorf("send the unacknowledged requests again: %d errors, %d rejected (first: %s)", rep.Result.Errors, rep.Result.Rejected, rep.Result.FirstError)
		}
		if _, err := waitApplied(ctx, b.m, b.say); err != nil {
			return err
		}
		what := "requests"
		if requests == 1 {
			what = "request"
		}
		resent = fmt.Sprintf("sent again the %d unacknowledged %s (%s events): %s accepted, %s already held", requests, what,
			thousands(float64(n-ackedEvents)), thousands(float64(rep.Result.Accepted)), thousands(float64(rep.Result.Duplicates)))
	}
	after, err := b.totals(ctx)
	if err != nil {
		return err
	}
	if got := after.minus(before); got != want {
		return fmt.Errorf("not exactly once: with the unacknowledged requests sent again the totals grew by %s, the file holds %s (after the crash restart alone: %s; acknowledged: %s)",
			got, want, logged, ackedTally)
	}
	b.events += n
	behind := "no backlog seen by /readyz"
	if r.behind > 0 {
		behind = fmt.Sprintf("/readyz said %s log messages behind", thousands(float64(r.behind)))
	}
	b.row("restart after a crash (kill -9 during bulk ingest)",
		fmt.Sprintf("%s; %s events in the data dir before the crash phase; crowd serve (its own process, the same settings; peak RSS %.0f MiB) killed %s, with %s of its %s events acknowledged in %d of %d requests (%s). Exactly once (views, comments and shares in the lifetime totals): the crash restart's totals grew by %s (acknowledged: %s; the file: %s); %s; the totals then grew by exactly the file's",
			r, thousands(float64(eventsBefore)), float64(k.peak)/1024, when, thousands(float64(ackedEvents)), thousands(float64(n)),
			len(res.Acked), len(bodies), behind, logged, ackedTally, want, resent),
		"ready ≤ 10 s after a crash (/readyz not ready until it is); 0 acknowledged events lost or counted twice")
	err = b.m.Close()
	b.m = nil
	return err
}

// tally counts the events that add exactly one each to their video's
// lifetime totals, whatever came before them: views, comments and shares.
type tally struct{ views, comments, shares int64 }

func (t tally) plus(u tally) tally {
	return tally{t.views + u.views, t.comments + u.comments, t.shares + u.shares}
}

func (t tally) minus(u tally) tally {
	return tally{t.views - u.views, t.comments - u.comments, t.shares - u.shares}
}

// covers reports whether t holds at least u of each.
func (t tally) covers(u tally) bool {
	return t.views >= u.views && t.comments >= u.comments && t.shares >= u.shares
}

func (t tally) String() string {
	return fmt.Sprintf("%s views, %s comments, %s shares", thousands(float64(t.views)), thousands(float64(t.comments)), thousands(float64(t.shares)))
}

// tallyOf counts the views, comments and shares of NDJSON events as the
// world writes them (loadgen.World.WriteEvents: `"type":"view"`).
func tallyOf(lines []byte) tally {
	return tally{
		views:    int64(bytes.Count(lines, []byte(`"type":"view"`))),
		comments: int64(bytes.Count(lines, []byte(`"type":"comment"`))),
		shares:   int64(bytes.Count(lines, []byte(`"type":"share"`))),
	}
}

// body is one request of the crash file: its events, and its views,
// comments and shares.
type body struct {
	events int64
	tally  tally
}

// readBodies reads the world file name as the load generator cuts it
// (loadgen.SplitNDJSON: requests of batch lines) and returns what each
// request holds. The file is read a line at a time, not held: the bench's
// process is the server whose memory is measured.
func readBodies(name string, batch int) ([]body, error) {
	var out []body
	err := eachLine(name, func(i int64, line []byte) error {
		if i%int64(batch) == 0 {
			out = append(out, body{})
		}
		b := &out[len(out)-1]
		b.events++
		b.tally = b.tally.plus(tallyOf(line))
		return nil
	})
	return out, err
}

// copyBodies writes to dst the requests of src (cut into batch lines as
// readBodies cuts it) for which keep is true.
func copyBodies(dst, src string, batch int, keep func(i int) bool) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = eachLine(src, func(i int64, line []byte) error {
		if !keep(int(i / int64(batch))) {
			return nil
		}
		_, err := w.Write(line)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	return errors.Join(err, f.Close())
}

// eachLine calls fn with each line of the file name, its newline
// included, and the line's number from 0.
func eachLine(name string, fn func(i int64, line []byte) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for i := int64(0); ; i++ {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return fmt.Errorf("%s: line %d longer than %d bytes", name, i+1, r.Size())
		}
		if len(line) > 0 {
			if ferr := fn(i, line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// totals sums the lifetime totals of the world's videos, read from the
// open server's store in lookups of 10,000 videos.
func (b *realBench) totals(ctx context.Context) (tally, error) {
	var t tally
	ids := make([]string, 0, 10_000)
	flush := func() error {
		err := b.m.Store.VideoTotals(ctx, ids, func(_ string, c store.RollupCounters) {
			t = t.plus(tally{c.Views, c.Comments, c.Shares})
		})
		ids = ids[:0]
		return err
	}
	for v := range b.world.Videos {
		ids = append(ids, loadgen.VideoID(v))
		if len(ids) == cap(ids) {
			if err := flush(); err != nil {
				return t, fmt.Errorf("read the videos' totals: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return t, fmt.Errorf("read the videos' totals: %w", err)
	}
	return t, nil
}

// serveArgs returns crowd serve's flags for cfg: every flag serve has, set
// to cfg's value, so that neither serve's defaults nor CROWD_* variables
// in the environment make the child differ from the in-process server.
// Parsed back by serve, they must give cfg exactly: a setting without a
// flag (a field of config.Config that serve cannot be told) is an error
// that names it.
func serveArgs(cfg config.Config) ([]string, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := cfg
	c.Flags(fs)
	var args []string
	fs.VisitAll(func(f *flag.Flag) { args = append(args, "--"+f.Name+"="+f.Value.String()) })
	back := config.Default()
	bfs := flag.NewFlagSet("serve", flag.ContinueOnError)
	bfs.SetOutput(io.Discard)
	back.Flags(bfs)
	if err := config.Parse(bfs, args, func(string) string { return "" }); err != nil {
		return nil, fmt.Errorf("crowd serve's flags for the bench's settings: %w", err)
	}
	if !reflect.DeepEqual(back, cfg) {
		var fields []string
		bv, cv := reflect.ValueOf(back), reflect.ValueOf(cfg)
		for i := range cv.NumField() {
			if !reflect.DeepEqual(bv.Field(i).Interface(), cv.Field(i).Interface()) {
				fields = append(fields, fmt.Sprintf("%s (%v, crowd serve would use %v)", cv.Type().Field(i).Name, cv.Field(i).Interface(), bv.Field(i).Interface()))
			}
		}
		return nil, fmt.Errorf("settings of the bench's server that crowd serve's flags cannot give: %s", strings.Join(fields, ", "))
	}
	return args, nil
}

// crashServer is crowd serve as a child process.
type crashServer struct {
	cmd    *exec.Cmd
	url    string
	stderr io.Writer
	addr   chan string
	exited chan struct{} // closed once the process has ended
	err    error         // Wait's, once exited

	mu   sync.Mutex
	tail []string // its last log lines
}

// startServer starts crowd serve on the data dir with the in-process
// server's settings and waits until its /readyz answers 200.
func (b *realBench) startServer(ctx context.Context) (*crashServer, error) {
	args, err := serveArgs(b.cfg)
	if err != nil {
		return nil, err
	}
	cmd, err := command(ctx, append([]string{"serve"}, args...)...)
	if err != nil {
		return nil, err
	}
	s := &crashServer{cmd: cmd, stderr: b.stderr, addr: make(chan string, 1), exited: make(chan struct{})}
	cmd.Stdout = b.stderr
	cmd.Stderr = &lineWriter{fn: s.logLine}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("crowd serve: %w", err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	fail := func(format string, args ...any) (*crashServer, error) {
		s.stop()
		return nil, fmt.Errorf("crowd serve: %s; its last log lines:\n%s", fmt.Sprintf(format, args...), s.lastLines())
	}
	select {
	case addr := <-s.addr:
		s.url = "http://" + addr
	case <-s.exited:
		return fail("exited before listening (%v)", s.err)
	case <-time.After(2 * time.Minute):
		return fail("not listening after 2 minutes")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		resp, err := hc.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return fail("exited before it was ready (%v)", s.err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail("/readyz not 200 after 10 minutes")
		}
	}
}

// logLine looks at a log line of the server: its address, and warnings
// and errors, which are passed on.
func (s *crashServer) logLine(line []byte) {
	var rec struct{ Level, Msg, Addr string }
	if json.Unmarshal(line, &rec) == nil {
		if rec.Msg == "crowd listening" {
			select {
			case s.addr <- rec.Addr:
			default:
			}
		}
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			fmt.Fprintf(s.stderr, "crash phase server: %s\n", line)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tail = append(s.tail, string(line))
	if len(s.tail) > 20 {
		s.tail = s.tail[1:]
	}
}

func (s *crashServer) lastLines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// stop kills the server if it still runs and waits for it to end.
func (s *crashServer) stop() {
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	<-s.exited
}

// lineWriter calls fn with each whole line written to it (without the
// newline); a last line without one is dropped.
type lineWriter struct {
	fn  func(line []byte)
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.fn(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// progressWatch passes the load generator's stderr on to w and watches
// it: when its "sending" line came, and the most events its live line
// showed accepted ("accepted 1,234"); reached is closed once that is at
// least half. A count cut between two writes reads low, never high.
type progressWatch struct {
	w       io.Writer
	half    int64
	reached chan struct{}
	tail    []byte

	mu       sync.Mutex
	start    time.Time
	accepted int64
}

var acceptedRE = regexp.MustCompile(`accepted ([0-9,]+)`)

func (p *progressWatch) Write(b []byte) (int, error) {
	buf := append(append(make([]byte, 0, len(p.tail)+len(b)), p.tail...), b...)
	p.mu.Lock()
	if p.start.IsZero() && bytes.Contains(buf, []byte("loadgen: sending")) {
		p.start = time.Now()
	}
	was := p.accepted
	for _, m := range acceptedRE.FindAllSubmatch(buf, -1) {
		if v, err := strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64); err == nil {
			p.accepted = max(p.accepted, v)
		}
	}
	if was < p.half && p.accepted >= p.half {
		close(p.reached)
	}
	p.mu.Unlock()
	// The tail keeps a count cut at the end of this write for the next.
	p.tail = append(p.tail[:0], buf[max(0, len(buf)-64):]...)
	return p.w.Write(b)
}

// seen returns how long ago the sending began and the most events shown
// accepted.
func (p *progressWatch) seen() (time.Duration, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() {
		return 0, p.accepted
	}
	return time.Since(p.start), p.accepted
}

// lockedWriter is w for writers in several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
