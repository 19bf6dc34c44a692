package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/loadgen"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/security"
)

// benchCmd implements "crowd bench": it measures Crowd's targets
// (docs/PERFORMANCE.md, "Targets") on this machine against an in-process
// Crowd (exact mode, a temporary data dir, HTTP on loopback) and prints
// them next to the targets.
//
// Phases, in order: bulk ingestion at full speed (counting the time until
// aggregation caught up), single-event requests, freshness of exact-mode
// analytics, a history load, then report latency over that history and the
// process's memory. Each timed phase lasts --duration; the history load
// (--history-events, spread over the past year, on top of the events of
// the earlier phases) takes as long as it needs: about N divided by the
// aggregated bulk rate, so the 10M–100M of the target take proportionally
// longer than the default 1M.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := fs.Duration("duration", 10*time.Second, "how long each timed phase runs")
	history := fs.Int64("history-events", 1_000_000, "events of history, spread over the past year, loaded before the report latency is measured (the target speaks of 10M–100M; larger values take proportionally longer)")
	samples := fs.Int("freshness-samples", 200, "events whose freshness is measured")
	reports := fs.Int("report-requests", 500, "report requests whose latency is measured")
	videos := fs.Int("videos", 1000, "videos of the load generator's world")
	accounts := fs.Int("accounts", 10_000, "accounts of the load generator's world")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (server and load generator) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile, taken where the memory is measured, to this file")
	traceFile := fs.String("trace", "", "realistic world: write an execution trace of the server's bulk phase to this file (go tool trace; -pprof=sched, sync, syscall for where goroutines waited)")
	stateLimit := fs.Int("state-limit", config.Default().StateLimit, "event ids and viewer-days aggregation holds in memory (each) before spilling to the database; a low value measures the spilling path")
	world := fs.String("world", "small", "small: the phases above over --videos and --accounts; realistic: every row of the engine's table over a world of 100k Zipf videos and 1M accounts with demographics (see --days, --events, --import-events)")
	days := fs.Int("days", 30, "realistic world: events are spread over the last DAYS days")
	events := fs.Int64("events", 2_000_000, "realistic world: events sent over HTTP in bulk (pre-built NDJSON bodies)")
	importEvents := fs.Int64("import-events", -1, "realistic world: events of the file loaded with crowd import (default: --events)")
	batch := fs.Int("batch", 10_000, "realistic world: events per bulk request")
	keep := fs.Bool("keep", false, "realistic world: keep the data dir at the end and print its path (to inspect or reopen it)")
	compression := fs.String("log-compression", config.Default().LogCompression, "event log block compression, s2 or none (as crowd serve's flag)")
	maxLag := fs.Duration("max-lag", config.Default().MaxLag, "longest backlog aggregation may have before bulk events get 429, as the time to apply it (as crowd serve's flag)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch *world {
	case "small":
	case "realistic":
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		o := realisticOpts{videos: 100_000, accounts: 1_000_000, days: *days, events: *events, importEvents: *importEvents,
			batch: *batch, dur: *dur, reports: *reports, stateLimit: *stateLimit, cpuProfile: *cpuProfile, memProfile: *memProfile, trace: *traceFile, keep: *keep,
			compression: *compression, maxLag: *maxLag}
		if set["videos"] {
			o.videos = *videos
		}
		if set["accounts"] {
			o.accounts = *accounts
		}
		if o.importEvents < 0 {
			o.importEvents = o.events
		}
		if o.videos < 2 || o.accounts < 2 || o.days < 1 || o.events < 1 || o.batch < 1 || o.batch > 10_000 || *dur <= 0 || *reports < 1 || *stateLimit < 1000 {
			return fmt.Errorf("%w: realistic world: videos and accounts at least 2, days and events at least 1, batch from 1 to 10000, duration and report-requests positive, state-limit at least 1000", errUsage)
		}
		return benchRealistic(ctx, o, stdout, stderr, getenv)
	default:
		return fmt.Errorf("%w: world %q: must be small or realistic", errUsage, *world)
	}
	if *dur <= 0 || *history < 0 || *samples < 1 || *reports < 1 || *videos < 1 || *accounts < 1 || *stateLimit < 1000 {
		return fmt.Errorf("%w: duration, freshness-samples, report-requests, videos and accounts must be positive, history-events not negative, state-limit at least 1000", errUsage)
	}
	dir, err := os.MkdirTemp("", "crowd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.Data = filepath.Join(dir, "data")
	cfg.Disclosure = config.Exact
	cfg.StateLimit = *stateLimit
	cfg.LogCompression = *compression
	cfg.MaxLag = *maxLag
	// The load generator's viewers all come from this one address.
	cfg.AnonViewsPerMinute = 1 << 30
	cfg.AnalyticsPerMinute = 1 << 30 // the bench reads many reports with few tokens
	cfg.AdminAddr = ""               // the bench reads the server's times in-process
	setMemoryLimit(cfg, getenv)
	timings := &serverTimings{}
	m := &app.Main{Config: cfg, Logger: newLogger(stderr, "error"), ObserveRequest: timings.observe}
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := &bencher{m: m, stderr: stderr, dur: *dur, memProfile: *memProfile, start: time.Now(), reports: *reports,
		videos: *videos, accounts: *accounts, timings: timings}
	if err := b.run(ctx, *history, *samples); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "what\tmeasured\ttarget\n")
	fmt.Fprintf(tw, "----\t--------\t------\n")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%s; %d cores; each timed phase %s; latencies measured by the client on loopback.\n", time.Now().UTC().Format(time.DateOnly), runtime.NumCPU(), *dur)
	return nil
}

// bencher runs the phases against one in-process Crowd and collects rows.
type bencher struct {
	m      *app.Main
	stderr io.Writer
	dur    time.Duration
	rows   [][3]string
	// events counts what was accepted across phases.
	events     int64
	memProfile string
	start      time.Time
	reports    int
	// videos and accounts size the load generator's world.
	videos, accounts int
	// timings collects the server's own time of the report requests.
	timings *serverTimings
}

func (b *bencher) row(what, measured, target string) {
	b.rows = append(b.rows, [3]string{what, measured, target})
}

func (b *bencher) say(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: %5.1fs: "+format+"\n", append([]any{time.Since(b.start).Seconds()}, args...)...)
}

func (b *bencher) run(ctx context.Context, history int64, samples int) error {
	tok, err := security.NewToken("crv")
	if err != nil {
		return err
	}
	if err := b.m.Store.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), "crowd bench", time.Now().UTC()); err != nil {
		return fmt.Errorf("create service token: %w", err)
	}
	password, err := security.NewToken("pw")
	if err != nil {
		return err
	}
	base := loadgen.DefaultConfig()
	base.URL, base.Token, base.OwnerPassword, base.Progress = b.m.URL(), tok, password, b.stderr
	// A tenth of the accounts post (at most 100), so the owner has videos
	// beside the hot one to measure freshness on.
	base.Videos, base.Accounts, base.Creators = b.videos, b.accounts, max(1, min(100, b.accounts, b.videos/10))

	// Bulk ingestion: as fast as it goes, then until aggregation has
	// caught up; the sustained rate counts both.
	b.say("bulk ingestion for %s (syncing %d accounts and %d videos first)", b.dur, base.Accounts, base.Videos)
	bulk := base
	bulk.Mode, bulk.Rate, bulk.Duration = loadgen.Bulk, 0, b.dur
	res, err := loadgen.Run(ctx, bulk)
	if err != nil {
		return err
	}
	if err := b.failed(res); err != nil {
		return err
	}
	b.say("bulk ingestion: %s accepted; waiting for aggregation", thousands(float64(res.Accepted)))
	catchUp, err := b.waitLag(ctx)
	if err != nil {
		return err
	}
	n := res.Accepted + res.Duplicates
	b.events += res.Accepted
	b.row("bulk ingest, batches of 10k: accepted", fmt.Sprintf("%s events/s (request p99 %s)", thousands(res.Rate()), loadgen.Round(res.Latency.P99)), "")
	b.row("bulk ingest: accepted and aggregated", fmt.Sprintf("%s events/s (%s events; aggregation caught up %s after the last batch)",
		thousands(float64(n)/(res.Elapsed+catchUp).Seconds()), thousands(float64(n)), loadgen.Round(catchUp)), "≥ 1,000,000 events/s sustained")

	// Single events, many in flight.
	single := base
	single.Mode, single.Rate, single.Duration, single.SkipSetup = loadgen.Single, 0, b.dur, true
	single.Workers = 256
	b.say("single-event requests for %s, %d concurrent", b.dur, single.Workers)
	res, err = loadgen.Run(ctx, single)
	if err != nil {
		return err
	}
	if err := b.failed(res); err != nil {
		return err
	}
	b.events += res.Accepted
	b.row("single-event requests (POST /v1/videos/{id}/views, 256 concurrent)", fmt.Sprintf("%s requests/s (p50 %s, p99 %s)",
		thousands(res.Rate()), loadgen.Round(res.Latency.P50), loadgen.Round(res.Latency.P99)), "≥ 30,000 requests/s")
	if _, err := b.waitLag(ctx); err != nil {
		return err
	}

	// Freshness in exact mode.
	anon := client.New(b.m.URL())
	s, err := anon.Login(ctx, loadgen.OwnerHandle, password)
	if err != nil {
		return fmt.Errorf("log in as %s: %w", loadgen.OwnerHandle, err)
	}
	owner := anon.WithToken(s.Token)
	// The owner is the first of the Creators accounts: it owns every
	// Creators-th video. Up to four of them besides the hot one, sampled
	// concurrently.
	var videos []string
	for i := 1; i <= 4 && i*base.Creators < base.Videos; i++ {
		videos = append(videos, loadgen.VideoID(i*base.Creators))
	}
	if len(videos) == 0 {
		videos = []string{loadgen.VideoID(0)}
	}
	b.say("freshness: %d events, accepted → visible in GET /v1/analytics/videos/{id}", samples)
	fresh, err := loadgen.Freshness(ctx, owner, videos, samples)
	if err != nil {
		return err
	}
	b.events += fresh.N
	b.row("exact mode: event accepted → visible in analytics", fmt.Sprintf("p99 %s (p50 %s, max %s, %d samples)",
		loadgen.Round(fresh.P99), loadgen.Round(fresh.P50), loadgen.Round(fresh.Max), fresh.N), "p99 ≤ 1 s")

	// History spread over the past year, so the report's 365 days all
	// have data; then the report over it.
	if history > 0 {
		b.say("history: %s events spread over the past year", thousands(float64(history)))
		hist := base
		hist.Mode, hist.Rate, hist.Duration, hist.Events, hist.Spread, hist.SkipSetup = loadgen.Bulk, 0, 0, history, 365*24*time.Hour, true
		res, err = loadgen.Run(ctx, hist)
		if err != nil {
			return err
		}
		if err := b.failed(res); err != nil {
			return err
		}
		b.events += res.Accepted
		b.say("history: %s accepted at %s events/s; waiting for aggregation", thousands(float64(res.Accepted)), thousands(res.Rate()))
		if _, err := b.waitLag(ctx); err != nil {
			return err
		}
	}
	hot := loadgen.VideoID(0)
	path := "/v1/analytics/videos/" + hot + "?range=365d"
	var rep struct {
		Totals struct {
			Views, Likes, Comments, Shares, Saves int64
		} `json:"totals"`
	}
	if err := owner.Do(ctx, "GET", path, nil, &rep); err != nil {
		return fmt.Errorf("read the hot video's report: %w", err)
	}
	hotEvents := rep.Totals.Views + rep.Totals.Likes + rep.Totals.Comments + rep.Totals.Shares + rep.Totals.Saves
	b.say("report latency: %d requests of GET %s", b.reports, path)
	// The server's own time of each, as the API's instrumentation saw
	// it (Main.ObserveRequest), beside the client's.
	b.timings.start(reportRoute)
	lat, err := loadgen.Sample(ctx, b.reports, func(ctx context.Context) error {
		return owner.Do(ctx, "GET", path, nil, nil)
	})
	if err != nil {
		b.timings.stop(0)
		return err
	}
	ds := b.timings.stop(int(lat.N))
	if int64(len(ds)) != lat.N {
		return fmt.Errorf("the server timed %d report requests, the client sent %d", len(ds), lat.N)
	}
	server := loadgen.Percentiles(ds)
	b.row(fmt.Sprintf("a video's full report (range=365d, business) over %s events (%s spread over the year)", thousands(float64(b.events)), thousands(float64(history))),
		fmt.Sprintf("p99 %s server-side (p50 %s; client-measured on loopback p99 %s, p50 %s; %d requests; the hot video holds %s events)",
			loadgen.Round(server.P99), loadgen.Round(server.P50),
			loadgen.Round(lat.P99), loadgen.Round(lat.P50), lat.N, thousands(float64(hotEvents))), "p99 ≤ 2 ms server-side over 10M–100M events")
	// Protected mode: the release job runs every minute and releases every
	// video's due cells; a cell is published within a minute plus one pass.
	// Measure a pass over this history's videos, two days on, so the
	// newest days are due.
	keys, err := noise.OpenKeyring(filepath.Join(b.m.Config.Data, "bench-keys"))
	if err != nil {
		return err
	}
	layer := disclosure.New(config.Protected, b.m.Store)
	if err := layer.Protect(keys, disclosure.DefaultPolicy(), func() time.Time { return time.Now().Add(48 * time.Hour) }); err != nil {
		return err
	}
	start := time.Now()
	released, err := layer.ReleaseDue(ctx)
	if err != nil {
		return fmt.Errorf("release cells: %w", err)
	}
	pass := time.Since(start)
	b.row("protected mode: cell published", fmt.Sprintf("≤ 60 s + %s (release job every minute; one pass released the due cells of %d videos in %s)",
		loadgen.Round(pass), released, loadgen.Round(pass)), "within 1 min of its release time")
	if b.memProfile != "" {
		if err := writeHeapProfile(b.memProfile); err != nil {
			return err
		}
	}
	rss := "n/a"
	if kb, err := procStatus("VmRSS"); err == nil {
		rss = fmt.Sprintf("%.0f MiB", float64(kb)/1024)
	}
	if kb, err := procStatus("VmHWM"); err == nil {
		rss += fmt.Sprintf(", peak %.0f MiB", float64(kb)/1024)
	}
	// Where the memory is: the Go heap in use, and what the Go runtime
	// holds from the OS in all (the rest of RSS is outside Go: SQLite's
	// allocator, the event log's files mapped in).
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss += fmt.Sprintf(" (Go heap %.0f MiB in use, Go runtime %.0f MiB from the OS", float64(ms.HeapInuse)/(1<<20), float64(ms.Sys-ms.HeapReleased)/(1<<20))
	// What stays once the runtime has handed back what the peaks of
	// ingestion and aggregation left free.
	debug.FreeOSMemory()
	if kb, err := procStatus("VmRSS"); err == nil {
		rss += fmt.Sprintf("; %.0f MiB after returning free memory", float64(kb)/1024)
	}
	ids, vds, stateBytes := b.m.Aggregate.StateStats()
	rss += fmt.Sprintf("; aggregation state in memory: %s event ids, %s viewer-days, %.0f MiB)", thousands(float64(ids)), thousands(float64(vds)), float64(stateBytes)/(1<<20))
	b.row("memory (RSS of this process: server and load generator)",
		fmt.Sprintf("%s at %s events, %s videos", rss, thousands(float64(b.events)), thousands(float64(base.Videos))), "≤ 2 GiB at 100M events, 1M videos")
	return nil
}

// failed turns a run that got nothing accepted into an error.
func (b *bencher) failed(r loadgen.Result) error {
	if r.Accepted == 0 {
		return fmt.Errorf("%s mode: nothing accepted (%d errors; first: %s)", r.Mode, r.Errors, r.FirstError)
	}
	if r.Errors > 0 || r.Rejected > 0 {
		b.say("%s mode: %d errors, %d rejected; first: %s", r.Mode, r.Errors, r.Rejected, r.FirstError)
	}
	return nil
}

// waitLag waits until aggregation has applied everything in the event log
// and says how long that took.
func (b *bencher) waitLag(ctx context.Context) (time.Duration, error) {
	return waitApplied(ctx, b.m, b.say)
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// procStatus reads a memory figure of this process from /proc/self/status,
// in KiB: "VmRSS" (resident set size) or "VmHWM" (its peak).
func procStatus(field string) (int64, error) {
	return procStatusOf("/proc/self/status", field)
}

// procStatusOf reads a memory figure in KiB from a /proc/PID/status file.
func procStatusOf(name, field string) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, name)
}

// thousands formats f rounded, with thousands separators.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// reportRoute is the route whose server-side latency the bench reports.
const reportRoute = "GET /v1/analytics/videos/{id}"

// serverTimings collects the server's own time of the requests of one
// route while armed; Main.ObserveRequest calls observe for every request.
type serverTimings struct {
	mu    sync.Mutex
	route string // "" when not armed
	ds    []time.Duration
}

func (t *serverTimings) observe(route string, status int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.route != "" && route == t.route && status == http.StatusOK {
		t.ds = append(t.ds, d)
	}
}

// start arms t for route, forgetting what it collected.
func (t *serverTimings) start(route string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.route, t.ds = route, nil
}

// stop disarms t and returns what it collected, once it has n times or a
// second has passed: the server observes a request as its handler returns,
// which can be just after the client has read the whole answer.
func (t *serverTimings) stop(n int) []time.Duration {
	deadline := time.Now().Add(time.Second)
	for {
		t.mu.Lock()
		if len(t.ds) >= n || time.Now().After(deadline) {
			ds := t.ds
			t.route, t.ds = "", nil
			t.mu.Unlock()
			return ds
		}
		t.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}
