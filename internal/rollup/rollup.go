// Package rollup aggregates the event log into analytics state, exactly
// once: each batch of log messages is applied in one database transaction
// that also records the last applied log sequence of each partition the
// aggregator owns (the checkpoints) and the ids of the events applied (the
// journal). A restart resumes after the checkpoints; an event delivered
// twice, or published twice, is counted once; processes split the log's
// partitions between them (partitions.go).
package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// Log is the part of the event log aggregation reads.
type Log interface {
	ConsumeSubjects(ctx context.Context, subjects []string, startSeq uint64, fn func(ctx context.Context, batch []eventlog.Delivered) error) error
	Info(ctx context.Context) (eventlog.Info, error)
	Partitions() int
}

// DedupeWindow is how long event ids are remembered to drop duplicates,
// from when the log stored the first copy. An event re-sent later than this
// counts again; clients retry within seconds or minutes, and the outbox
// relay republishes only what it had not deleted, right after a restart.
// The window costs memory: 10 to 20 bytes for every event id that arrived
// within it (see state).
const DedupeWindow = 24 * time.Hour

// ErrCheckpointAhead means the database has applied events the log no longer
// has: the log lost its tail (or was replaced). Resuming would silently skip
// new events that reuse those sequence numbers, so aggregation stops.
var ErrCheckpointAhead = errors.New("rollup checkpoint is ahead of the event log")

// Bounds are the contribution bounds applied before aggregation, for the
// protected numbers. The disclosure policy's privacy ledger is derived from
// them: each bound is a sensitivity.
type Bounds struct {
	// ViewsPerViewerDay caps the views one viewer adds to a video per day.
	ViewsPerViewerDay int64
	// WatchMSPerViewerDay caps the watch time one viewer adds per video and day.
	WatchMSPerViewerDay int64
	// PerAccountDay caps the first shares (and, separately, saves) one
	// account adds per day, across all videos: whatever set of videos a
	// reader sees (an owner's, or a co-creator's spanning many owners),
	// one account's day moves at most this many of its sharers cells.
	PerAccountDay int64
}

// DefaultBounds are the bounds of the default policy.
var DefaultBounds = Bounds{ViewsPerViewerDay: 5, WatchMSPerViewerDay: 10 * 60 * 1000, PerAccountDay: 3}

// Aggregator applies the event log to rollups.
type Aggregator struct {
	store *store.Store
	log   Log
	lg    *slog.Logger
	now   func() time.Time

	bounds  Bounds
	applied atomic.Uint64 // last applied log sequence, for observers
	pending atomic.Uint64 // messages of its subjects after the last batch (Lag)
	rate    rate          // messages a second while applying (rate.go)
	metrics *metrics      // metrics.go
	// stages is the aggregation thread's wall time by stage (stages.go);
	// clock is when its current lap began (zero before the first batch).
	stages stages
	clock  time.Time
	// historyDone is closed when the last batch's history goroutine
	// has ended (history.go).
	historyDone chan struct{}
	// historyAhead: history.db committed a batch whose own transaction
	// has not (history.go); the next batch undoes it first.
	historyAhead bool

	// The partitions of the log this aggregator owns (partitions.go):
	// nparts in all, own sorted, parts their bitmap (nil when all).
	nparts           int
	own              []int
	all              bool
	parts            []byte
	checkpointsReady atomic.Bool
	// loadOnce loads the state (LoadState); loadErr is its outcome, and
	// loaded is set once it succeeded (StateLoaded).
	loadOnce sync.Once
	loadErr  error
	loaded   atomic.Bool

	stallMu   sync.Mutex
	stallPrev []uint64 // every partition's checkpoint at the last Stalled

	st *state // event ids seen, viewer-days
	// evs are two decode buffers, reused by apply: a chunk's events are
	// credited in the background while the next chunk is decoded into the
	// other (applyChunk); evTurn is the one the next chunk takes.
	evs    [2][]event.Event
	evTurn int

	// committed is what the batch being applied does once its
	// transaction commits (the deferred rows' metrics, deferred.go).
	committed func()

	mu          sync.Mutex
	creators    map[string][]string // video id → creator account ids
	creatorsAt  time.Time           // when creators was last emptied
	creatorsSeq int64               // the last change to creators it read (SQLite)
}

// CreatorsTTL bounds how long aggregation trusts its cache of videos'
// creators on PostgreSQL. A change made through this process reaches its
// aggregation at once (ForgetCreators); one made through another process
// on the same database (scale-out: a co-creator accepting or leaving
// there) reaches it within this time, when the whole cache is refilled
// from the store. On SQLite, where this process is the database's only
// writer, every change is recorded with its video
// (store.RollupTx.CreatorsChanges), and a batch drops the changed videos
// from the cache: a video's creators are read again once it changed, and
// no other video's are (re-reading every active video's creators every
// ten seconds was 4–5% of aggregation's thread in the realistic world; so
// was re-reading them at every upload, with uploads every few seconds).
const CreatorsTTL = 10 * time.Second

// creatorsCacheLimit bounds the videos whose creators aggregation keeps
// in memory (about 150 bytes each); past it, a part of them is dropped.
var creatorsCacheLimit = 200_000

// New returns an Aggregator of l's partitions (eventlog.DefaultPartitions
// if l is nil).
func New(s *store.Store, l Log, lg *slog.Logger, now func() time.Time) *Aggregator {
	n := eventlog.DefaultPartitions
	if l != nil {
		n = l.Partitions()
	}
	a := NewBeforeLog(s, n, lg, now)
	a.log = l
	return a
}

// NewBeforeLog returns an Aggregator of a log of n partitions that is not
// open yet: it can load its state (LoadState) while the log opens, and
// SetLog gives it the log before Run.
func NewBeforeLog(s *store.Store, n int, lg *slog.Logger, now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	a := &Aggregator{store: s, lg: lg, now: now, creators: map[string][]string{}, bounds: DefaultBounds, st: newState(n), nparts: n, metrics: newMetrics()}
	a.own, a.all = allPartitions(n), true
	return a
}

// SetLog gives an Aggregator made by NewBeforeLog its log, which must have
// the partitions it was made for. It is called before Run, and not while
// anything else uses the Aggregator but LoadState (which needs no log).
func (a *Aggregator) SetLog(l Log) error {
	if l.Partitions() != a.nparts {
		return fmt.Errorf("aggregation: a log of %d partitions for an aggregator of %d", l.Partitions(), a.nparts)
	}
	a.log = l
	return nil
}

// Checkpoint returns the last log sequence up to which every partition
// this aggregator owns is applied.
func (a *Aggregator) Checkpoint(ctx context.Context) (uint64, error) {
	cps, err := a.checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	lo, _ := a.span(cps)
	return lo, nil
}

// Run consumes the log from the checkpoints until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	defer a.waitHistory()
	if err := a.LoadState(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while loading
		}
		return err
	}
	// The checkpoints as they are now. Another process of the same
	// partitions may have moved them since the state was loaded (crowd
	// import loads it before it publishes, and aggregates after): the
	// first batch then finds the state behind them and catches up from
	// the journal, as whenever another process overtakes this one (apply).
	cps, err := a.checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	lo, hi := a.span(cps)
	info, err := a.log.Info(ctx)
	if err != nil {
		return fmt.Errorf("read event log info: %w", err)
	}
	if hi > info.LastSeq {
		a.lg.Error("event log is behind the aggregation checkpoint; refusing to skip events",
			slog.Uint64("checkpoint", hi), slog.Uint64("log_last_seq", info.LastSeq))
		return fmt.Errorf("%w: checkpoint %d, log last sequence %d", ErrCheckpointAhead, hi, info.LastSeq)
	}
	if lo >= info.LastSeq {
		// No batch to come yet: creators' rows a stopped process left
		// deferred are written now (with a backlog, the batch that
		// reaches the log's head writes them).
		if err := a.FlushDeferred(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("write deferred creator rows: %w", err)
		}
	}
	a.applied.Store(lo)
	start := lo + 1
	if lo == 0 {
		start = 0 // nothing applied yet: from the oldest event still stored
	}
	a.lg.Info("aggregating", slog.Any("partitions", a.own), slog.Uint64("from", start))
	// The log failing (its server restarting, its disk full) does not stop
	// aggregation: it resumes after its checkpoints, with backoff, until
	// ctx is done. Only a log that lost what was applied, or events the
	// checkpoints never reached, stops it.
	wait := 100 * time.Millisecond
	for {
		err = a.log.ConsumeSubjects(ctx, a.subjects(), start, a.applyRetrying)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventlog.ErrSeqAhead) || errors.Is(err, eventlog.ErrSeqRemoved) || errors.Is(err, ErrCheckpointAhead) {
			return err
		}
		a.lg.Warn("consume event log; retrying", slog.Any("err", err), slog.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
		cp, cerr := a.Checkpoint(ctx)
		if cerr != nil {
			continue // the database is in trouble too; retry with what we had
		}
		if cp > 0 {
			start = cp + 1
		}
	}
}

// StateLoaded reports whether the in-memory state is loaded (LoadState).
func (a *Aggregator) StateLoaded() bool { return a.loaded.Load() }

// applyRetrying applies a batch, retrying with backoff while the database
// fails: the batch is already taken from the log, and skipping it would lose
// events. It gives up only when ctx is done.
func (a *Aggregator) applyRetrying(ctx context.Context, batch []eventlog.Delivered) error {
	if a.clock.IsZero() {
		a.clock = time.Now()
	} else {
		a.stages.lap(StageLog, &a.clock)
	}
	defer a.stages.lap(StageOther, &a.clock) // what the stages did not take
	wait := 50 * time.Millisecond
	for {
		// Each attempt is timed for the rate (rate.go); only one that
		// succeeds joins it: a failed one is no measure of what applying
		// takes, and the backoff between attempts is not work.
		a.rate.begin(len(batch), time.Now())
		err := a.apply(ctx, batch)
		a.rate.end(err == nil, time.Now())
		if err == nil || ctx.Err() != nil {
			return err
		}
		a.metrics.failures.Inc()
		a.lg.Error("apply events; retrying", slog.Any("err", err), slog.Int64("wait_ms", wait.Milliseconds()))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// SetBounds sets the contribution bounds (before Run). Bounds above what
// the viewer-day state counts exactly are refused.
func (a *Aggregator) SetBounds(b Bounds) error {
	if b.ViewsPerViewerDay < 0 || b.ViewsPerViewerDay >= maxPackedViews || b.WatchMSPerViewerDay < 0 || b.WatchMSPerViewerDay >= maxPackedWatchMS || b.PerAccountDay < 0 {
		return fmt.Errorf("contribution bounds out of range: %+v (views per viewer-day < %d, watch ms < %d)", b, maxPackedViews, maxPackedWatchMS)
	}
	a.bounds = b
	return nil
}

// Seen reports which of ids aggregation has applied within the dedupe
// window, as far as this process knows.
func (a *Aggregator) Seen(ids []string) []bool {
	out := make([]bool, len(ids))
	// While a spill holds the state (seconds, at millions of entries),
	// answer "not seen" rather than stall ingestion: this count is a
	// courtesy to the caller, and aggregation dedupes for real.
	if !a.st.mu.TryRLock() {
		return out
	}
	now := a.now()
	var miss []uint64 // missed in memory, and may have been spilled
	for i, id := range ids {
		k := idKey(id)
		_, st, ok := a.st.seen.get(k)
		out[i] = ok && stampAge(hourStamp(now), st) < hoursOf(DedupeWindow)
		if !out[i] && a.st.seenBloom.MayContain(k) {
			miss = append(miss, k)
		}
	}
	a.st.mu.RUnlock()
	if len(miss) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hours, err := a.spilledIDs(ctx, a.store, miss)
	if err != nil {
		a.lg.Warn("read spilled event ids", slog.Any("err", err))
		return out
	}
	minHour := int64(period.HourOf(now.Add(-DedupeWindow)))
	for i, id := range ids {
		if hour, ok := hours[idKey(id)]; ok && hour >= minHour {
			out[i] = true
		}
	}
	return out
}

// SetStateLimit bounds the entries each in-memory state table holds
// before its oldest spill to the database (0: no bound). Call it before
// Run.
func (a *Aggregator) SetStateLimit(n int) { a.st.limit = n }

// StateStats reports the in-memory state: event ids and viewer-days held,
// and the bytes their tables take.
func (a *Aggregator) StateStats() (ids, viewerDays, bytes int) {
	a.st.mu.RLock()
	defer a.st.mu.RUnlock()
	return a.st.seen.n, a.st.viewers.n, a.st.memBytes()
}

// ForgetCreators drops cached creators of videos whose creators changed.
func (a *Aggregator) ForgetCreators(videoIDs []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range videoIDs {
		delete(a.creators, id)
	}
}

// Applied returns the last log sequence applied by this process.
func (a *Aggregator) Applied() uint64 { return a.applied.Load() }

// HourlyRetention is how long hourly rows are kept; the hourly chart shows
// the last 48 hours, and the days they belong to live on in daily rows.
const HourlyRetention = 72 * time.Hour

// Compact forgets what aggregation no longer needs: event ids older than the
// dedupe window; the viewer-days and per-creator daily counts of dropped
// days (closed days, CloseDays, whose events are all applied), from memory
// and the database; journal rows that hold nothing else; and hourly rows
// older than HourlyRetention (their days are in the daily rows).
//
// What is kept of a day does not depend on when Compact runs: a day's state
// lives until no event of the day can come any more, so a late view (or
// share, or save) of an open day is always bounded against the earlier
// ones, and the numbers are the same whenever compaction ran.
func (a *Aggregator) Compact(ctx context.Context) error {
	now := a.now()
	dropped, err := a.droppableDays(ctx)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	a.st.drop(dropped)
	a.st.sweep(now)
	// A journal row written at t holds ids that expire by t+DedupeWindow
	// and viewer-days of days whose first row is at t or before: once
	// every day kept has its first row after t, the row holds nothing live.
	journalCutoff := now.Add(-DedupeWindow).UnixMicro()
	firstKept, ok, err := a.store.FirstHeldAt(ctx, dropped)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if ok {
		journalCutoff = min(journalCutoff, firstKept)
	}
	spillRemoved, err := a.store.CompactRollups(ctx, store.RollupCompaction{
		JournalBefore:   journalCutoff,
		HourBefore:      int64(period.HourOf(now.Add(-HourlyRetention))),
		SeenSpillBefore: int64(period.HourOf(now.Add(-DedupeWindow))) - 1,
		Days:            dropped,
	})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if spillRemoved == 0 {
		return nil
	}
	// The filters still hold the removed keys (filters cannot forget);
	// rebuild them, with spill steps held off so no spill slips past.
	return a.spillFlags(ctx)
}

// CloseDays records that days (Unix days) are closed: their viewer salts
// are destroyed, so no event of theirs is accepted any more. seq is the
// event log's last sequence at that moment: once every partition is
// applied up to it, Compact drops the days' state. Closing a day again
// changes nothing.
func (a *Aggregator) CloseDays(ctx context.Context, days []int64, seq uint64) error {
	if len(days) == 0 {
		return nil
	}
	if err := a.store.CloseDays(ctx, days, a.now().UnixMicro(), seq); err != nil {
		return fmt.Errorf("close days: %w", err)
	}
	return nil
}

// droppableDays returns the closed days whose events every partition has
// applied: closed at a log sequence no checkpoint is behind.
func (a *Aggregator) droppableDays(ctx context.Context) ([]int64, error) {
	cps, err := a.store.Checkpoints(ctx, a.nparts)
	if err != nil {
		return nil, err
	}
	low := cps[0]
	for _, c := range cps {
		low = min(low, c)
	}
	return a.store.ClosedDays(ctx, low)
}

// spillFlags notes whether the spill tables hold anything, and rebuilds
// their Bloom filters (the tables lose rows to compaction, filters cannot).
func (a *Aggregator) spillFlags(ctx context.Context) error {
	// No spill step writes meanwhile (spillMu); the state's lock is held
	// only to swap the filters in, not while the tables are read.
	a.st.spillMu.Lock()
	defer a.st.spillMu.Unlock()
	seen, err := loadBloom(ctx, a.store, store.SeenSpill, a.st.limit)
	if err != nil {
		return fmt.Errorf("read spill tables: %w", err)
	}
	viewers, err := loadBloom(ctx, a.store, store.ViewerSpill, a.st.limit)
	if err != nil {
		return fmt.Errorf("read spill tables: %w", err)
	}
	a.st.mu.Lock()
	a.st.seenBloom, a.st.viewerBloom = seen, viewers
	a.st.spilledSeen, a.st.spilledViewers = seen != nil, viewers != nil
	a.st.bloomGen++
	a.st.mu.Unlock()
	return nil
}

// LoadState loads the in-memory state up to the checkpoints: the latest
// snapshot and the journal after it (loadState). It needs the store alone,
// not the log, so a server loads it while its event log opens (after a
// crash the log's recovery takes seconds of its own); a process that reads
// the state without aggregating (crowd import's Seen) calls it alone. Run
// calls it too: once it was called, later calls wait for that load and
// return its outcome, so the state is loaded once whoever asks first.
func (a *Aggregator) LoadState(ctx context.Context) error {
	a.loadOnce.Do(func() {
		a.loadErr = func() error {
			if err := a.ensureCheckpoints(ctx); err != nil {
				return err
			}
			cps, err := a.checkpoints(ctx)
			if err != nil {
				return fmt.Errorf("read checkpoint: %w", err)
			}
			return a.loadState(ctx, cps)
		}()
		a.loaded.Store(a.loadErr == nil)
	})
	return a.loadErr
}

// loadState rebuilds the in-memory state up to the checkpoints cps (by
// partition): from the partition set's snapshot and the journal after it
// (snapshot.go), or from the whole journal if there is no snapshot to use.
func (a *Aggregator) loadState(ctx context.Context, cps []uint64) error {
	cp, _ := a.span(cps)
	start := time.Now()
	img, err := a.readSnapshot(ctx, cps)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, errNoSnapshot) {
			a.lg.Warn("aggregation state snapshot not used; replaying the whole journal", slog.Any("err", err))
		}
		img = nil
	}
	if img != nil {
		// The snapshot holds the spill's filters and flags as they were.
		a.st.install(img, a.own)
	} else if err := a.spillFlags(ctx); err != nil {
		return fmt.Errorf("load aggregation state: %w", err)
	}
	loaded := time.Since(start)
	// Dropped days first, so the journal's rows of them are skipped.
	dropped, err := a.droppableDays(ctx)
	if err != nil {
		return fmt.Errorf("load aggregation state: %w", err)
	}
	a.st.drop(dropped)
	// The replay holds its entries past the limit; the batches after the
	// start spill them (spill.go, "A state loaded past its limit").
	a.st.beginReplay()
	err = a.catchUp(ctx, cps)
	a.st.endReplay()
	if err != nil {
		return fmt.Errorf("load aggregation state: %w", err)
	}
	ids, vds, bytes := a.StateStats()
	a.st.mu.RLock()
	rows, entries := a.st.replayRows, a.st.replayEntries
	a.st.mu.RUnlock()
	attrs := []any{slog.Uint64("checkpoint", cp), slog.Int("event_ids", ids), slog.Int("viewer_days", vds), slog.Int("bytes", bytes),
		slog.Bool("snapshot", img != nil), slog.Int("journal_rows", rows), slog.Int("journal_entries", entries),
		slog.Int64("took_ms", time.Since(start).Milliseconds())}
	if img != nil {
		attrs = append(attrs, slog.Int64("snapshot_bytes", img.bytes), slog.Int64("snapshot_ms", loaded.Milliseconds()))
	}
	a.lg.Info("aggregation state loaded", attrs...)
	return nil
}
