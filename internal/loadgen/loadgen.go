// Package loadgen drives realistic traffic at a Crowd instance at a target
// rate and measures what it gets back: how many events were accepted, how
// fast, with what request latency, and how often the service pushed back.
//
// It works through the public HTTP API only, against the one URL it is
// given, with its own accounts and videos (ids prefixed "lg-"), which it
// syncs first. Two modes:
//
//   - bulk: NDJSON batches to POST /v1/events (service token) from a few
//     concurrent workers, with a realistic mix: mostly views, some likes,
//     saves, shares and comments, over Zipf-distributed videos;
//   - single: one anonymous POST /v1/videos/{id}/views per event from many
//     concurrent workers, the way viewers' apps report views.
//
// Answers 429 and 503 are retried after their Retry-After; a run stops by
// itself when its duration is over (requests in flight get a grace period
// to finish). The measurement helpers (Freshness, Sample) are what
// `crowd bench` measures its targets with.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Modes.
const (
	Bulk   = "bulk"
	Single = "single"
)

// Config is a load run.
type Config struct {
	// URL is the Crowd instance; nothing else is ever contacted.
	URL string
	// Token is a service token: it syncs the accounts and videos, and bulk
	// mode sends events with it.
	Token string
	// Mode is Bulk or Single.
	Mode string
	// Rate is the target in events per second; 0 means as fast as the
	// service takes them.
	Rate int
	// Duration is how long events are sent; 0 means until Events were
	// sent.
	Duration time.Duration
	// Events stops the run after this many events; 0 means no limit.
	Events int64
	// Batch is how many events a bulk request carries.
	Batch int
	// Workers is how many requests are in flight at once; 0 means 4 in
	// bulk mode (the batches are large: a few keep both cores busy) and 256
	// in single mode (small requests need many in flight to share fsyncs).
	Workers int
	// Videos and Accounts are the sizes of the load generator's own world.
	// The first Creators accounts own the videos, round-robin.
	Videos, Accounts, Creators int
	// OwnerPassword, when set, lets the first account (OwnerHandle, a
	// business account) log in; bench reads analytics with it.
	OwnerPassword string
	// Spread dates events uniformly over the past Spread instead of now:
	// a history load.
	Spread time.Duration
	// Seed makes the traffic reproducible (event ids still differ per run).
	Seed uint64
	// Progress receives a live status line, redrawn every 500 ms; nil
	// means none.
	Progress io.Writer
	// SkipSetup skips syncing accounts and videos (they are there already).
	SkipSetup bool
	// Bodies, when set, are pre-built NDJSON bodies for POST /v1/events
	// (bulk mode): each is sent once, in order, and nothing is generated
	// while sending, so the generator's own cost is the HTTP exchange
	// alone. Duration and Events are then optional limits.
	Bodies [][]byte
	// Timeline records every request's start and duration in
	// Result.Timeline.
	Timeline bool
}

// DefaultConfig is half a minute of ten thousand events a second, in bulk.
func DefaultConfig() Config {
	return Config{
		URL: "http://127.0.0.1:8080", Mode: Bulk, Rate: 10_000, Duration: 30 * time.Second, Batch: 10_000,
		Videos: 1000, Accounts: 10_000, Creators: 100, Seed: 1,
	}
}

// OwnerHandle is the handle of the load generator's first account, which
// owns its most popular video (VideoID(0)).
const OwnerHandle = "lg_user00000"

// VideoID is the id of the load generator's i-th video; 0 is the most
// popular.
func VideoID(i int) string { return fmt.Sprintf("lg-vid-%05d", i) }

// AccountID is the id of the load generator's i-th account.
func AccountID(i int) string { return fmt.Sprintf("lg-acct-%05d", i) }

// Validate fills in the defaults of zero fields and checks the rest, naming
// the field at fault.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.URL == "" {
		c.URL = d.URL
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	if c.Mode == "" {
		c.Mode = d.Mode
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.Videos == 0 {
		c.Videos = d.Videos
	}
	if c.Accounts == 0 {
		c.Accounts = d.Accounts
	}
	if c.Creators == 0 {
		c.Creators = min(d.Creators, c.Accounts)
	}
	if c.Workers == 0 {
		c.Workers = 4
		if c.Mode == Single {
			c.Workers = 256
		}
	}
	switch {
	case !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("url %q: must start with http:// or https://", c.URL)
	case c.Mode != Bulk && c.Mode != Single:
		return fmt.Errorf("mode %q: must be bulk or single", c.Mode)
	case c.Bodies != nil && c.Mode != Bulk:
		return fmt.Errorf("mode %q: pre-built bodies are bulk requests", c.Mode)
	case c.Token == "" && (c.Mode == Bulk || !c.SkipSetup):
		return fmt.Errorf("token: a service token is required (crowd token create --service)")
	case c.Rate < 0:
		return fmt.Errorf("rate %d: must not be negative", c.Rate)
	case c.Duration < 0 || c.Events < 0:
		return fmt.Errorf("duration and events must not be negative")
	case c.Duration == 0 && c.Events == 0 && c.Bodies == nil:
		return fmt.Errorf("duration: give a duration or a number of events")
	case c.Batch < 1 || c.Batch > 100_000:
		return fmt.Errorf("batch %d: must be from 1 to 100000", c.Batch)
	case c.Workers < 1 || c.Workers > 10_000:
		return fmt.Errorf("workers %d: must be from 1 to 10000", c.Workers)
	case c.Videos < 1 || c.Accounts < 1 || c.Creators < 1 || c.Creators > c.Accounts:
		return fmt.Errorf("videos %d, accounts %d, creators %d: need at least one of each, creators among the accounts", c.Videos, c.Accounts, c.Creators)
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Mode string
	// Elapsed is from the first request to the last answer.
	Elapsed time.Duration
	// Requests counts HTTP requests, retries included.
	Requests int64
	// Sent counts events in requests that got an answer.
	Sent int64
	// Accepted, Duplicates and Rejected are the service's verdicts on them.
	Accepted, Duplicates, Rejected int64
	// Throttled counts 429 and 503 answers; their requests were retried.
	Throttled int64
	// Errors counts requests that failed otherwise (and were not retried).
	Errors int64
	// FirstError describes the first of those.
	FirstError string
	// Latency is of single HTTP requests.
	Latency Latency
	// Timeline is every answered request, in the order they ended, when
	// Config.Timeline asked for it.
	Timeline []Request `json:",omitempty"`
	// Acked lists the Config.Bodies answered 2xx (acknowledged: the
	// service holds their events, accepted, duplicates or rejected), by
	// index in the order the answers came, when Config.Timeline asked for
	// it. A body not listed was not acknowledged: its request failed (the
	// service may still hold some or all of its events) or was never sent.
	Acked []int `json:",omitempty"`
}

// Request is one answered request of a timeline.
type Request struct {
	// Start is when it was sent, in Unix nanoseconds; Dur how long its
	// answer took.
	Start int64
	Dur   time.Duration
	// Events is how many events it carried.
	Events int
}

// Rate is the events accepted per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted+r.Duplicates) / r.Elapsed.Seconds()
}

// grace is how long requests in flight at the end of a run of a given
// duration may take.
const grace = 15 * time.Second

// Run syncs the load generator's accounts and videos (unless SkipSetup)
// and sends events as cfg says, until its duration is over, its events are
// sent or ctx is done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	hc := newHTTPClient(cfg.Workers)
	defer hc.CloseIdleConnections()
	if !cfg.SkipSetup {
		if err := setup(ctx, hc, cfg); err != nil {
			return Result{}, err
		}
	}
	r := &runner{cfg: cfg, hc: hc, runID: newRunID()}
	return r.run(ctx), nil
}

// Setup syncs the load generator's accounts and videos, as Run does first
// unless SkipSetup.
func Setup(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	return setup(ctx, hc, cfg)
}

// newHTTPClient returns a client that keeps a connection per worker and
// never follows a redirect: the load goes to the URL given, nowhere else.
func newHTTPClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * workers
	tr.MaxIdleConnsPerHost = 2 * workers
	tr.DisableCompression = true
	tr.Proxy = nil
	return &http.Client{
		Transport: tr,
		Timeout:   time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func newRunID() string {
	return fmt.Sprintf("lg-%x", time.Now().UnixNano())
}

// runner is one run in progress.
type runner struct {
	cfg   Config
	hc    *http.Client
	runID string

	requests, sent, accepted, dups, rejected, throttled, errs atomic.Int64

	mu       sync.Mutex
	firstErr string
	hist     histogram
	timeline []Request
	acked    []int
}

// job is one request to send: n generated events, or the pre-built body
// Config.Bodies[body] (when body >= 0) of n events.
type job struct{ n, body int }

func (r *runner) run(ctx context.Context) Result {
	// Requests may outlive the sending window by the grace period; then
	// everything stops.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	sendCtx := ctx
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	jobs := make(chan job, r.cfg.Workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(reqCtx, sendCtx, w, jobs)
		}()
	}
	stopProgress := r.progress(start)
	r.dispatch(sendCtx, start, jobs)
	close(jobs)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A run of a fixed set of events (no duration) waits for all of
	// them: each request is bounded by the client's timeout.
	var over <-chan time.Time
	if r.cfg.Duration > 0 {
		over = time.After(grace)
	}
	select {
	case <-done:
	case <-over:
		cancelReq()
		<-done
	}
	elapsed := time.Since(start)
	stopProgress()
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{
		Mode: r.cfg.Mode, Elapsed: elapsed, Requests: r.requests.Load(), Sent: r.sent.Load(),
		Accepted: r.accepted.Load(), Duplicates: r.dups.Load(), Rejected: r.rejected.Load(),
		Throttled: r.throttled.Load(), Errors: r.errs.Load(), FirstError: r.firstErr,
		Latency:  latency(r.hist.snapshot(), time.Duration(r.hist.max.Load())),
		Timeline: r.timeline, Acked: r.acked,
	}
}

// dispatch hands out jobs at the target rate until the sending window
// closes or the events are all handed out. When every worker is busy it
// waits: the load is closed-loop, so an overloaded service shows up as a
// lower achieved rate and higher latency, not as an unbounded queue.
func (r *runner) dispatch(ctx context.Context, start time.Time, jobs chan<- job) {
	if r.cfg.Bodies != nil {
		r.dispatchBodies(ctx, start, jobs)
		return
	}
	per := 1
	if r.cfg.Mode == Bulk {
		per = r.cfg.Batch
	}
	var issued int64
	for {
		n := per
		if r.cfg.Events > 0 {
			if issued >= r.cfg.Events {
				return
			}
			n = int(min(int64(n), r.cfg.Events-issued))
		}
		if r.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(issued) / float64(r.cfg.Rate) * float64(time.Second)))
			if wait := time.Until(due); wait > time.Millisecond {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case jobs <- job{n, -1}:
			issued += int64(n)
		}
	}
}

// dispatchBodies hands out the pre-built bodies, each once, at the target
// rate (counted in events) and within Events.
func (r *runner) dispatchBodies(ctx context.Context, start time.Time, jobs chan<- job) {
	var issued int64
	for i, b := range r.cfg.Bodies {
		n := bytes.Count(b, []byte{'\n'})
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		if r.cfg.Events > 0 && issued >= r.cfg.Events {
			return
		}
		if !r.wait(ctx, start, issued) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case jobs <- job{n, i}:
			issued += int64(n)
		}
	}
}

// wait waits until issued events are due at the target rate; false when
// ctx ended first.
func (r *runner) wait(ctx context.Context, start time.Time, issued int64) bool {
	if r.cfg.Rate <= 0 {
		return true
	}
	due := start.Add(time.Duration(float64(issued) / float64(r.cfg.Rate) * float64(time.Second)))
	wait := time.Until(due)
	if wait <= time.Millisecond {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *runner) fail(msg string) {
	r.errs.Add(1)
	r.mu.Lock()
	if r.firstErr == "" {
		r.firstErr = msg
	}
	r.mu.Unlock()
}

// progress redraws the status line every 500 ms until the returned func is
// called, which draws it a last time and ends the line.
func (r *runner) progress(start time.Time) func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		prev := r.hist.snapshot()
		meter := newRateMeter(start, rateWindow)
		draw := func() {
			now := time.Now()
			snap := r.hist.snapshot()
			lat := latency(diff(snap, prev), time.Duration(r.hist.max.Load()))
			n := r.accepted.Load() + r.dups.Load()
			prev = snap
			fmt.Fprintf(r.cfg.Progress, "\r%6.1fs  sent %s  accepted %s  %s/s  p50 %-8s p99 %-8s errors %d  429/503 %d   ",
				now.Sub(start).Seconds(), count(r.sent.Load()), count(n), rateText(meter.add(now, n)),
				Round(lat.P50), Round(lat.P99), r.errs.Load()+r.rejected.Load(), r.throttled.Load())
		}
		for {
			select {
			case <-stop:
				draw()
				fmt.Fprintln(r.cfg.Progress)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(stop); <-done }
}

// rateWindow is the span the progress line's rate is measured over: long
// enough that a few events a second show as such, not as 0 in one redraw
// and a burst in the next.
const rateWindow = 5 * time.Second

// rateMeter is a rate over a sliding window: events counted over the last
// window (or since the start, within the first window), from the running
// totals it is given.
type rateMeter struct {
	window time.Duration
	pts    []ratePoint // oldest first; pts[0] at or before now-window once the window is full
}

type ratePoint struct {
	t time.Time
	n int64
}

func newRateMeter(start time.Time, window time.Duration) *rateMeter {
	return &rateMeter{window: window, pts: []ratePoint{{start, 0}}}
}

// add records the running total n at t and returns the rate in events per
// second over the window ending at t.
func (m *rateMeter) add(t time.Time, n int64) float64 {
	m.pts = append(m.pts, ratePoint{t, n})
	// Keep one point at or before the window's start.
	for len(m.pts) > 2 && !m.pts[1].t.After(t.Add(-m.window)) {
		m.pts = m.pts[1:]
	}
	first := m.pts[0]
	d := t.Sub(first.t).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n-first.n) / d
}

// rateText formats a rate: with a decimal below 100 a second, so a slow
// run shows 0.5/s rather than 0/s.
func rateText(rate float64) string {
	if rate < 100 {
		return strconv.FormatFloat(rate, 'f', 1, 64)
	}
	return count(int64(rate + 0.5))
}

// count formats n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
