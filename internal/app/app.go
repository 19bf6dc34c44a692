// Package app wires Crowd together: it opens the components in dependency
// order (store, secrets, event log, relay, aggregation, HTTP) and closes them
// in reverse. Main is the program; tests run it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/httpapi"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/relay"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/security"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/web"
)

// Main is a running Crowd service.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests drive time with it.
	Now func() time.Time
	// Passwords overrides the password hashing cost (tests use a cheap one).
	Passwords security.PasswordParams
	// ObserveRequest, when set, is told every API request's route
	// pattern, status and time in the server: how crowd bench measures
	// server-side latency without a header on the public listener.
	ObserveRequest func(route string, status int, d time.Duration)
	// Locks, when set, are the data and secrets dirs the caller already
	// holds (crowd serve --demo holds them across the demo fill and the
	// server). When nil, Open takes them first and Close releases them.
	Locks *Locks

	Store     *store.Store
	Log       *eventlog.Log
	Relay     *relay.Relay
	Aggregate *rollup.Aggregator
	API       *httpapi.Server

	Directory *directory.Directory
	Committer *pipeline.Committer

	// WriteFault, when set, is asked before every write of the store and
	// the event log and by the disk guard's probe; an error it returns is
	// the write's (tests inject ENOSPC with it).
	WriteFault func() error
	// LogWriteFault, when set, is asked before every message the event log
	// sends, after WriteFault; tests fail a batch part-way with it.
	LogWriteFault func() error

	ready *readiness
	disk  *diskGuard
	front *swapHandler // the public listener's handler
	back  *swapHandler // the operator listener's handler

	backingUp sync.Mutex // one backup at a time

	lag atomic.Uint64
	// lagTime is lag's estimated time to apply (nanoseconds; 0: caught
	// up), from watchLag.
	lagTime atomic.Int64
	// stalled counts partitions with messages after a checkpoint that does
	// not move (watchPartitions).
	stalled atomic.Int64
	ln      net.Listener
	http    *http.Server
	adminLn net.Listener
	admin   *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// Aggregation runs apart from the other components, so that a
	// shutdown can let it apply what the relay flushed before stopping it.
	cancelAgg context.CancelFunc
	aggWG     sync.WaitGroup
	aggDone   chan struct{}
	errs      chan error
	once      sync.Once
	// ownLocks: Open took Locks, Close releases them.
	ownLocks bool
}

// OpenStore opens the configured store (for commands that need only it).
func OpenStore(ctx context.Context, c config.Config) (*store.Store, error) {
	return store.Open(ctx, store.Options{Dir: c.Data, PostgresURL: c.PostgresURL})
}

// Open starts serving and opens every component. The listeners come
// first: while the components open, GET /healthz answers 200 and GET
// /readyz 503 with what is being opened, and every other request 503 with
// Retry-After. Open returns once the API serves; /readyz turns 200 later,
// once aggregation has loaded its state and caught up with the log as it
// was at start. Every step honours ctx (a SIGTERM during start-up). On
// error everything opened so far is closed again.
func (m *Main) Open(ctx context.Context) (err error) {
	if err := m.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	m.errs = make(chan error, 8)
	m.ready = &readiness{m: m, start: time.Now(), phase: "opening store"}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	// The data dir is this process's before anything in it is opened.
	if m.Locks == nil {
		if m.Locks, err = LockDirs(m.Config); err != nil {
			return err
		}
		m.ownLocks = true
	}
	if err := os.MkdirAll(m.Config.Data, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := m.listen(); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.disk = newDiskGuard(m.Config.Data, uint64(m.Config.DiskReserveMiB)<<20, m.WriteFault, m.Logger)
	m.goRun("disk", func() error { return m.disk.run(runCtx) })

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if m.Store, err = store.Open(ctx, store.Options{Dir: m.Config.Data, PostgresURL: m.Config.PostgresURL, Now: m.Now,
		WriteGuard: m.disk.check, WriteFault: m.WriteFault, DiskFull: m.disk.report}); err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	if err := CheckDisclosure(ctx, m.Store, m.Config, m.Logger, m.Now()); err != nil {
		return err
	}
	// Every account in memory for ingestion, loaded in the background
	// while the rest opens (/readyz waits for it; until then lookups go
	// to the database) and kept fresh from then on.
	m.Directory = newDirectory(m.Config, m.Store, m.Logger, m.Now)
	m.goRun("directory", func() error { return m.Directory.Run(runCtx) })
	// Aggregation's state loads while the rest opens too: it needs the
	// store alone, and after a crash the event log's recovery takes
	// seconds of its own (/readyz says "loading state" until it is done;
	// a failed load is Run's error, below).
	logCfg := logConfig(m.Config, m.Logger)
	logCfg.WriteGuard, logCfg.WriteFault, logCfg.DiskFull = m.disk.check, m.logWriteFault(), m.disk.report
	if m.Aggregate, err = newAggregator(m.Config, m.Store, logCfg.PartitionCount(), m.Logger, m.Now); err != nil {
		return err
	}
	aggCtx, cancelAgg := context.WithCancel(context.Background())
	m.cancelAgg = cancelAgg
	m.aggWG.Add(1)
	go func() {
		defer m.aggWG.Done()
		_ = m.Aggregate.LoadState(aggCtx)
	}()
	m.ready.setPhase("opening secrets")
	pseud, err := pseudonym.Open(m.Config.Secrets(), m.Now)
	if err != nil {
		return fmt.Errorf("open secrets: %w", err)
	}
	if _, err := pseud.PruneSalts(pseudonym.DefaultSaltRetention, pseudonym.DefaultSaltIdle); err != nil {
		return fmt.Errorf("prune salts: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	m.ready.setPhase("opening event log")
	if m.Log, err = eventlog.Open(ctx, logCfg); err != nil {
		return fmt.Errorf("open event log: %w", err)
	}
	m.disk.log.Store(m.Log)

	m.Relay = relay.New(m.Store, m.Log, m.Logger)
	if err := m.Aggregate.SetLog(m.Log); err != nil {
		return err
	}
	// Ready once every partition owned is applied up to the log's end
	// as it is now.
	target, err := m.logEnd(ctx)
	if err != nil {
		return err
	}
	m.ready.setTarget(target)
	m.ready.setPhase("")
	m.aggDone = make(chan struct{})
	m.aggWG.Add(1)
	go func() {
		defer m.aggWG.Done()
		defer close(m.aggDone)
		if err := m.Aggregate.Run(aggCtx); err != nil {
			m.Logger.Error("component stopped", slog.String("component", "aggregate"), slog.Any("err", err))
			m.errs <- fmt.Errorf("aggregate: %w", err)
		}
	}()
	m.goRun("relay", func() error { return m.Relay.Run(runCtx) })
	m.goRun("housekeeping", func() error { return m.housekeeping(runCtx, pseud) })
	m.goRun("ready", func() error { return m.ready.watch(runCtx) })

	cfg := m.Config
	cfg.Addr = m.ln.Addr().String()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	layer, err := openDisclosure(m.Config, m.Store, m.Now)
	if err != nil {
		return err
	}
	m.goRun("release", func() error { return m.releaseCells(runCtx, layer) })
	// Group commit for single events: up to 2,000 concurrent requests share
	// one publish and one fsync.
	m.Committer = pipeline.NewCommitter(m.Log, 2000)
	m.goRun("lag", func() error { return m.watchLag(runCtx) })
	m.goRun("partitions", func() error { return m.watchPartitions(runCtx, stallCheckEvery) })
	// The operator's metrics: the API registers its own; the event log,
	// aggregation and the release job theirs.
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Log.Collectors()...)
	reg.MustRegister(m.Aggregate.Collectors(func() uint64 { return m.lag.Load() })...)
	reg.MustRegister(layer.Collectors()...)
	reg.MustRegister(m.Directory.Collectors()...)
	events, ingester := newIngestion(m.Config, pseud, m.Directory, m.Aggregate, m.Log, layer, m.Now)
	m.API = httpapi.New(httpapi.Deps{
		Config:         cfg,
		Store:          m.Store,
		Counter:        layer,
		Reports:        &analytics.Builder{Layer: layer, Now: m.Now},
		Directory:      m.Directory,
		Events:         events,
		Ingest:         ingester,
		Committer:      m.Committer,
		Relay:          m.Relay,
		Aggregation:    aggregation{m},
		Readiness:      m.ready,
		Ready:          []httpapi.Checker{m.Store, m.Log},
		Logger:         m.Logger,
		Now:            m.Now,
		Registry:       reg,
		Passwords:      m.Passwords,
		ObserveRequest: m.ObserveRequest,
	})
	// The operator listener serves first: once the API's /readyz can
	// answer 200, /metrics must answer too.
	if m.back != nil {
		m.back.set(m.operator())
	}
	m.front.set(routes(m.API, security.Headers(web.New(web.Options{Logger: m.Logger}))))
	m.Logger.Info("crowd serving", slog.String("addr", cfg.Addr), slog.String("admin_addr", m.AdminAddr()), slog.String("disclosure", cfg.Disclosure.String()), slog.String("store", string(m.Store.Dialect())))
	return nil
}

// listen opens the listeners and serves the start-up handler on them.
func (m *Main) listen() (err error) {
	m.ln, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if !m.Config.AdminOff() {
		if m.adminLn, err = net.Listen("tcp", m.Config.AdminAddr); err != nil {
			return fmt.Errorf("listen on admin-addr: %w", err)
		}
	}
	starting := httpapi.Starting(m.ready.startingReason)
	m.front = &swapHandler{}
	m.front.set(starting)
	m.http = m.httpServer(m.front)
	m.serve("http", m.http, m.ln)
	if m.adminLn != nil {
		// The operator listener: metrics and backups, apart from the
		// public listener.
		m.back = &swapHandler{}
		m.back.set(starting)
		m.admin = m.httpServer(m.back)
		m.serve("admin http", m.admin, m.adminLn)
		m.Logger.Info("crowd operator listener", slog.String("addr", m.adminLn.Addr().String()))
	}
	m.Logger.Info("crowd listening", slog.String("addr", m.ln.Addr().String()), slog.String("admin_addr", m.AdminAddr()))
	return nil
}

// logEnd returns the log's last sequence on the partitions this process
// aggregates (and the mixed subject): where aggregation must be for the
// process to be ready.
func (m *Main) logEnd(ctx context.Context) (uint64, error) {
	parts := m.Aggregate.Partitions()
	if len(parts) == m.Log.Partitions() {
		info, err := m.Log.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("read event log end: %w", err)
		}
		return info.LastSeq, nil
	}
	subjects := []string{m.Log.MixedSubject()}
	for _, p := range parts {
		subjects = append(subjects, m.Log.Subject(p))
	}
	var end uint64
	for _, s := range subjects {
		seq, err := m.Log.LastSeqOn(ctx, s)
		if err != nil {
			return 0, fmt.Errorf("read event log end: %w", err)
		}
		end = max(end, seq)
	}
	return end, nil
}

func (m *Main) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
}

// serve runs srv on ln until Close; its failure is reported on Err.
func (m *Main) serve(name string, srv *http.Server, ln net.Listener) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// routes sends the API's paths to the API and everything else to the web
// pages. A share link /s/{id} is both: a browser opening it gets the page
// (which records the shared view itself), an API client the video's JSON.
func routes(api, pages http.Handler) http.Handler {
	mux := http.NewServeMux()
	// /metrics goes to the API only so that it answers 404 in the JSON
	// error shape: metrics are served on the operator listener alone.
	for _, p := range []string{"/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
		mux.Handle(p, api)
	}
	mux.HandleFunc("/s/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if web.PrefersHTML(r) {
			pages.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	mux.Handle("/", pages)
	return mux
}

// goRun runs a background component; its failure is reported on Err.
func (m *Main) goRun(name string, fn func() error) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := fn(); err != nil {
			m.Logger.Error("component stopped", slog.String("component", name), slog.Any("err", err))
			m.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// housekeeping destroys old viewer salts, closing their days, forgets old
// event ids and the state of closed days, deletes expired sessions and
// purges deleted data from the WAL, hourly.
func (m *Main) housekeeping(ctx context.Context, p *pseudonym.Pseudonymizer) error {
	m.closeDays(ctx, p)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := p.PruneSalts(pseudonym.DefaultSaltRetention, pseudonym.DefaultSaltIdle); err != nil {
			m.Logger.Error("prune salts", slog.Any("err", err))
		}
		m.closeDays(ctx, p)
		if err := m.Aggregate.Compact(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("compact rollups", slog.Any("err", err))
		}
		if _, err := m.Store.DeleteExpiredSessions(ctx, m.Now()); err != nil && ctx.Err() == nil {
			m.Logger.Error("delete expired sessions", slog.Any("err", err))
		}
		// What was deleted leaves the write-ahead log too (a purge after
		// an account deletion that readers held up is finished here).
		if err := m.Store.Purge(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Warn("purge deleted data", slog.Any("err", err))
		}
	}
}

// closeDays tells aggregation which days are closed (their salts
// destroyed, here or by crowd salts prune), so that it drops their state
// once it has applied every event logged before. It also opens today, so
// that every day the service runs has a salt and is closed in due course,
// even a day with shares and saves but no logged-in view.
func (m *Main) closeDays(ctx context.Context, p *pseudonym.Pseudonymizer) {
	if err := p.OpenDay(m.Now()); err != nil {
		m.Logger.Error("open today's salt", slog.Any("err", err))
	}
	info, err := m.Log.Info(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.Logger.Error("close days", slog.Any("err", err))
		}
		return
	}
	if err := m.Aggregate.CloseDays(ctx, p.ClosedDays(), info.LastSeq); err != nil && ctx.Err() == nil {
		m.Logger.Error("close days", slog.Any("err", err))
	}
}

// releaseCells publishes due cells every minute (protected mode), so a
// cell is published within a minute of its release time.
func (m *Main) releaseCells(ctx context.Context, l *disclosure.Layer) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := l.ReleaseDue(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("release cells", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// stallCheckEvery is how often watchPartitions looks at every partition's
// checkpoint: far longer than a healthy aggregator takes to move one.
const stallCheckEvery = 5 * time.Minute

// watchPartitions warns about partitions whose events wait in the log
// while their checkpoint stands still: no process owns them
// (--aggregate-partitions), or their aggregator is stuck. Each is logged
// once when it stalls, and counted in crowd_aggregation_stalled_partitions.
func (m *Main) watchPartitions(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	warned := map[int]bool{}
	for {
		stalled, err := m.Aggregate.Stalled(ctx, func(ctx context.Context, p int) (uint64, error) {
			return m.Log.LastSeqOn(ctx, m.Log.Subject(p))
		})
		if err != nil && ctx.Err() == nil {
			m.Logger.Warn("check aggregation partitions", slog.Any("err", err))
		}
		if err == nil {
			now := map[int]bool{}
			for _, p := range stalled {
				now[p] = true
				if !warned[p] {
					m.Logger.Warn("events of a partition wait in the event log and its checkpoint does not move: is it in some process's --aggregate-partitions?", slog.Int("partition", p))
				}
			}
			warned = now
			m.stalled.Store(int64(len(stalled)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watchLag keeps track of how far aggregation trails the log, in messages
// and in the time it takes to apply them (lagTime), for ingestion
// backpressure and the metrics.
func (m *Main) watchLag(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		lag, err := m.Aggregate.Lag(ctx)
		if err != nil {
			continue
		}
		m.lag.Store(lag)
		m.lagTime.Store(int64(lagTime(lag, m.Aggregate.Rate())))
	}
}

// lagTime estimates how long lag messages take to apply at rate messages a
// second (aggregation's own measure, while applying, or its prior until
// its first batch); 0 when caught up, or for a rate of 0. It supposes the messages waiting are like those applied of
// late: a burst of bulk messages after a trickle of single events is
// underestimated until its first batch runs longer than the estimate (the
// rate counts the batch being applied), which MaxLag's hard ceiling in
// messages bounds meanwhile.
func lagTime(lag uint64, rate float64) time.Duration {
	if lag == 0 || rate <= 0 {
		return 0
	}
	return time.Duration(min(float64(lag)/rate, float64(24*time.Hour/time.Second)) * float64(time.Second))
}

// aggregation is aggregation as the API sees it (httpapi.Aggregation): the
// aggregator, with the lag, its time and the stalled partitions Main's
// watchers keep.
type aggregation struct{ m *Main }

func (a aggregation) Lag() uint64                              { return a.m.lag.Load() }
func (a aggregation) LagTime() time.Duration                   { return time.Duration(a.m.lagTime.Load()) }
func (a aggregation) StateStats() (ids, viewerDays, bytes int) { return a.m.Aggregate.StateStats() }
func (a aggregation) StalledPartitions() int                   { return int(a.m.stalled.Load()) }
func (a aggregation) ForgetCreators(videoIDs []string)         { a.m.Aggregate.ForgetCreators(videoIDs) }

// Addr returns the address the HTTP server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// AdminAddr returns the address the operator listener listens on, or ""
// when it is off.
func (m *Main) AdminAddr() string {
	if m.adminLn == nil {
		return ""
	}
	return m.adminLn.Addr().String()
}

// URL returns the base URL of the HTTP server.
func (m *Main) URL() string { return "http://" + m.Addr() }

// Err reports the failure of a background component.
func (m *Main) Err() <-chan error { return m.errs }

// Close shuts down in reverse dependency order: stop taking requests (and
// let those in flight finish), stop the relay after it drained the outbox,
// let aggregation apply what is in the log (a few seconds at most, and
// only if it had caught up: a shutdown during start-up does not wait for
// a catch-up), stop it, close the event log, close the database. It logs
// how long that took.
func (m *Main) Close() error {
	var err error
	m.once.Do(func() {
		start := time.Now()
		if m.ready != nil {
			m.ready.closing.Store(true)
		}
		if m.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err = errors.Join(err, m.http.Shutdown(ctx))
			cancel()
		} else if m.ln != nil {
			err = errors.Join(err, m.ln.Close())
		}
		if m.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = errors.Join(err, m.admin.Shutdown(ctx))
			cancel()
		} else if m.adminLn != nil {
			err = errors.Join(err, m.adminLn.Close())
		}
		if m.Committer != nil {
			m.Committer.Close()
		}
		if m.cancel != nil {
			m.cancel()
		}
		m.wg.Wait()
		behind := m.flushAggregation(5 * time.Second)
		if m.cancelAgg != nil {
			m.cancelAgg()
		}
		m.aggWG.Wait()
		m.snapshotState()
		if m.Log != nil {
			err = errors.Join(err, m.Log.Close())
		}
		if m.Directory != nil {
			m.Directory.Close()
		}
		if m.Store != nil {
			err = errors.Join(err, m.Store.Close())
		}
		if m.ownLocks {
			err = errors.Join(err, m.Locks.Release())
		}
		if m.Logger != nil {
			m.Logger.Info("crowd shut down", slog.Int64("duration_ms", time.Since(start).Milliseconds()),
				slog.Uint64("aggregation_behind", behind), slog.Bool("clean", err == nil))
		}
	})
	return err
}

// snapshotTimeout bounds the snapshot a clean shutdown writes.
const snapshotTimeout = 15 * time.Second

// snapshotState writes a snapshot of aggregation's state once aggregation
// has stopped (snapshotAtStop).
func (m *Main) snapshotState() { snapshotAtStop(m.Aggregate, m.Logger) }

// snapshotAtStop writes a snapshot of a's state once it has stopped, if it
// loaded its state, so the next start loads it and replays no journal (a
// restart's time is then the snapshot's load, not the journal's replay).
// Past snapshotTimeout it gives up: the next start replays the journal
// after the previous snapshot, as after a crash.
func snapshotAtStop(a *rollup.Aggregator, logger *slog.Logger) {
	if a == nil || !a.StateLoaded() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	start := time.Now()
	written, err := a.SnapshotNow(ctx)
	switch {
	case err != nil:
		logger.Warn("aggregation state snapshot at shutdown not written; the next start replays the journal", slog.Any("err", err))
	case written:
		logger.Info("aggregation state snapshot written at shutdown", slog.Int64("took_ms", time.Since(start).Milliseconds()))
	}
}

// flushAggregation waits up to limit for aggregation to apply the log up
// to its current end (the relay has just flushed the outbox into it), and
// returns how many messages it is still behind. A process that was not
// ready yet (loading its state, catching up) does not wait.
func (m *Main) flushAggregation(limit time.Duration) uint64 {
	if m.Aggregate == nil || m.Log == nil || m.ready == nil || !m.ready.ready.Load() || m.aggDone == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	end, err := m.logEnd(ctx)
	if err != nil {
		return 0
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cp, err := m.Aggregate.Checkpoint(ctx)
		if err == nil && cp >= end {
			return 0
		}
		select {
		case <-ctx.Done():
			if err != nil || cp >= end {
				return 0
			}
			return end - cp
		case <-m.aggDone:
			return 0
		case <-t.C:
		}
	}
}

// logWriteFault is the event log's write fault: WriteFault, then
// LogWriteFault; nil when neither is set.
func (m *Main) logWriteFault() func() error {
	if m.WriteFault == nil && m.LogWriteFault == nil {
		return nil
	}
	return func() error {
		for _, f := range []func() error{m.WriteFault, m.LogWriteFault} {
			if f != nil {
				if err := f(); err != nil {
					return err
				}
			}
		}
		return nil
	}
}
