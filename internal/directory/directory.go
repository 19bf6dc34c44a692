// Package directory answers, fast, the questions ingestion asks of every
// event: does this video exist and who owns it, does this account exist and
// what are its audience buckets.
//
// Accounts are held in memory, every one of them up to a limit: a compact
// table (table.go: 49 bytes an account for a million ids of 15 bytes)
// loaded from the store at start (Run) and kept fresh by the store's
// account changes (store.WatchAccounts for this process's writes,
// store.AccountChanges for other processes' on PostgreSQL, polled every
// PollEvery). An id the table does not hold is asked of the store, which
// answers for accounts created a moment ago by another process, and for
// every account while the table is loading or past its limit, when it is
// a bounded cache instead.
//
// Videos are cached: a miss asks the store for the whole batch at once.
// Only existing ids are cached, so a video created a moment ago is found on
// its first event. Videos this process syncs are put in the cache as
// stored (PutVideos), so their first events do not ask.
package directory

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/store"
)

// MaxEntries bounds the video cache; past it the cache starts over (a
// cheap, safe eviction: entries are reloaded from the store on demand).
const MaxEntries = 1_000_000

// DefaultLimit is how many accounts a directory holds in memory by
// default (--directory-limit): at most about 100 MiB with ids of 15 bytes
// (a 16-byte slot in a table 3/8 to 3/4 full, 22–43 bytes, and the id).
const DefaultLimit = 2_000_000

// PollEvery is how often a directory reads other processes' account
// changes (PostgreSQL): the bound on how long a change made through another
// process goes unseen here, a deletion included.
const PollEvery = time.Second

// TombstoneRetention is how long a deleted account's tombstone (its id)
// is kept for other processes (PostgreSQL); a process that has not read it
// by then reloads its whole directory.
const TombstoneRetention = 10 * time.Minute

// pollWindow is how many change numbers one read of changes covers (a
// sync transaction writes up to 5,000 accounts).
const pollWindow = 64

// maxPending bounds the changes of this process waiting for an earlier
// one; past it the directory reloads.
const maxPending = 10_000

// gapWait is how long a SQLite directory waits for a change number that
// is missing before it reloads (every change there is this process's own,
// told a moment after its commit).
const gapWait = 2 * time.Second

// Options configure a Directory.
type Options struct {
	// Limit is how many accounts are held in memory; 0 means
	// DefaultLimit. Past it the table is a cache of the accounts last
	// looked up, started over when full.
	Limit int
	// PollEvery is how often other processes' changes are read; 0 means
	// PollEvery.
	PollEvery time.Duration
	// Logger reports loads and failures; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Directory resolves video and account ids.
type Directory struct {
	store  *store.Store
	limit  int
	every  time.Duration
	log    *slog.Logger
	now    func() time.Time
	shared bool // other processes may change accounts (PostgreSQL)

	vmu    sync.RWMutex
	videos map[string]store.VideoRef
	// vgen counts the changes to cached videos (ForgetVideos, PutVideos):
	// what the store answered a miss is cached only if none came between
	// the read and the insert.
	vgen uint64

	// mu guards the account table and what says how fresh it is. Lookups
	// hold it shared; changes, loads and inserts after a miss exclusive.
	mu       sync.RWMutex
	accounts *table
	// loaded: the table reflects every change numbered up to seq (and
	// pending waits to be applied); before the first load it is a cache
	// that changes only invalidate.
	loaded bool
	// loading: a load is under way; this process's changes are kept in
	// pending until it ends.
	loading bool
	// complete: the table holds every account (not past the limit).
	complete bool
	seq      int64
	pending  map[int64]store.AccountsChange
	gapSince time.Time // when a change first waited for an earlier one
	// gen counts the changes applied; an insert after a miss is skipped
	// when one came between the store's answer and the insert.
	gen uint64

	kick      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	stop      func()
	loadTime  time.Duration
}

// New returns a directory over s. It resolves accounts through the store
// (a cache) until Run or Load has loaded them.
func New(s *store.Store, o Options) *Directory {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.PollEvery <= 0 {
		o.PollEvery = PollEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Directory{store: s, limit: o.Limit, every: o.PollEvery, log: o.Logger, now: o.Now,
		shared: s.Dialect() == store.Postgres, videos: map[string]store.VideoRef{},
		accounts: newTable(0), pending: map[int64]store.AccountsChange{},
		kick: make(chan struct{}, 1), ready: make(chan struct{})}
	d.stop = s.WatchAccounts(d.changed)
	return d
}

// Close stops following the store's changes.
func (d *Directory) Close() { d.stop() }

// Loaded reports whether the accounts are loaded (ready to serve from
// memory).
func (d *Directory) Loaded() bool {
	select {
	case <-d.ready:
		return true
	default:
		return false
	}
}

// Videos returns the existing videos among ids.
func (d *Directory) Videos(ctx context.Context, ids []string) (map[string]store.VideoRef, error) {
	out := make(map[string]store.VideoRef, len(ids))
	var missing []string
	d.vmu.RLock()
	for _, id := range ids {
		if r, ok := d.videos[id]; ok {
			out[id] = r
		} else if _, dup := out[id]; !dup {
			missing = append(missing, id)
		}
	}
	gen := d.vgen
	d.vmu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	refs, err := d.store.VideoRefs(ctx, dedupe(missing))
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		out[r.ID] = r
	}
	d.vmu.Lock()
	defer d.vmu.Unlock()
	if d.vgen != gen {
		return out, nil // videos changed meanwhile: cache none of these
	}
	d.putLocked(refs)
	return out, nil
}

// VideoGeneration returns the count of changes to cached videos, to give
// PutVideos: take it before storing the videos.
func (d *Directory) VideoGeneration() uint64 {
	d.vmu.RLock()
	defer d.vmu.RUnlock()
	return d.vgen
}

// PutVideos caches videos as they are after this process stored them
// (a sync's upserts), so that their first events do not ask the store:
// a miss costs a read on a connection whose page cache the writer's last
// commit emptied, about 30 µs a video (docs/PERFORMANCE.md, "Synced videos
// cached"). gen is VideoGeneration from before they were stored: if videos
// changed since (a deletion, another sync), what was stored may be stale
// already, and the videos are dropped from the cache instead, to be read
// when asked for.
func (d *Directory) PutVideos(gen uint64, refs ...store.VideoRef) {
	d.vmu.Lock()
	defer d.vmu.Unlock()
	changed := d.vgen != gen
	d.vgen++
	if changed {
		for _, r := range refs {
			delete(d.videos, r.ID)
		}
		return
	}
	d.putLocked(refs)
}

func (d *Directory) putLocked(refs []store.VideoRef) {
	if len(d.videos)+len(refs) > MaxEntries {
		clear(d.videos)
	}
	for _, r := range refs {
		d.videos[r.ID] = r
	}
}

// ForgetVideos drops cached videos, after they changed or went.
func (d *Directory) ForgetVideos(ids ...string) {
	d.vmu.Lock()
	defer d.vmu.Unlock()
	d.vgen++
	for _, id := range ids {
		delete(d.videos, id)
	}
}

// Accounts returns the existing accounts among ids. Ids the table does not
// hold are asked of the store, in one query.
func (d *Directory) Accounts(ctx context.Context, ids []string) (map[string]store.AccountRef, error) {
	out := make(map[string]store.AccountRef, len(ids))
	var missing []string
	d.mu.RLock()
	for _, id := range ids {
		if r, ok := d.accounts.get(id); ok {
			out[id] = r
		} else {
			missing = append(missing, id)
		}
	}
	gen := d.gen
	d.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	refs, err := d.store.AccountRefs(ctx, dedupe(missing))
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		out[r.ID] = r
	}
	// Keep what the store said, unless a change was applied since it was
	// asked: the answer may predate it.
	d.mu.Lock()
	if d.gen == gen {
		for _, r := range refs {
			if !d.accounts.has(r.ID) && d.accounts.n >= d.limit {
				if d.complete {
					d.complete = false
					d.log.Warn("account directory past its limit: accounts beyond it are looked up in the database", slog.Int("limit", d.limit))
				}
				d.accounts.clear()
			}
			put(d.accounts, r.ID, r.BirthDate, r.Gender, r.Country)
		}
	}
	d.mu.Unlock()
	return out, nil
}

// Stats reports the accounts held in memory, the bytes of their table, and
// whether they are every account.
func (d *Directory) Stats() (accounts, bytes int, complete bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.accounts.n, d.accounts.bytes(), d.complete && d.loaded
}

// Collectors returns the directory's metrics for the operator's registry.
func (d *Directory) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowd_directory_accounts", Help: "Accounts the directory holds in memory."},
			func() float64 { n, _, _ := d.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowd_directory_bytes", Help: "Bytes of the directory's account table."},
			func() float64 { _, b, _ := d.Stats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crowd_directory_complete", Help: "1 when the directory holds every account, 0 while loading or past --directory-limit."},
			func() float64 {
				if _, _, c := d.Stats(); c {
					return 1
				}
				return 0
			}),
	}
}

// changed is told of this process's committed account changes
// (store.WatchAccounts), in the committing goroutine, possibly out of
// order.
func (d *Directory) changed(c store.AccountsChange) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if !d.loaded || d.loading {
		// A cache: forget what changed (the store answers the next
		// lookup). During a load, keep the change for after it.
		for _, r := range c.Upserted {
			d.accounts.remove(r.ID)
		}
		for _, id := range c.Deleted {
			d.accounts.remove(id)
		}
		if d.loading {
			d.pending[c.Seq] = c
		}
		return
	}
	if c.Seq <= d.seq {
		return // applied already, by a read of changes
	}
	d.pending[c.Seq] = c
	if c.Seq == d.seq+1 {
		d.drainLocked()
		return
	}
	// An earlier number is another process's change, or this process's
	// still on its way. This change applies at once all the same: it has
	// committed, and its caller, once answered, must find what it wrote
	// (a deleted account gone). It applies again in order, under the same
	// lock as whatever comes before it, so no lookup sees an older state
	// put back over it.
	d.applyLocked(c.Upserted, c.Deleted)
	if d.gapSince.IsZero() {
		d.gapSince = d.now()
	}
	d.poke()
}

// drainLocked applies the pending changes that follow seq.
func (d *Directory) drainLocked() {
	for {
		c, ok := d.pending[d.seq+1]
		if !ok {
			break
		}
		delete(d.pending, c.Seq)
		d.applyLocked(c.Upserted, c.Deleted)
		d.seq = c.Seq
	}
	if len(d.pending) == 0 {
		d.gapSince = time.Time{}
	}
}

// applyLocked applies one change to the table.
func (d *Directory) applyLocked(upserted []store.AccountRef, deleted []string) {
	d.gen++
	for _, id := range deleted {
		d.accounts.remove(id)
	}
	for _, r := range upserted {
		if !d.accounts.has(r.ID) && d.accounts.n >= d.limit {
			d.overLimitLocked()
			continue
		}
		if !put(d.accounts, r.ID, r.BirthDate, r.Gender, r.Country) {
			d.complete = false
		}
	}
}

func (d *Directory) overLimitLocked() {
	if d.complete {
		d.complete = false
		d.log.Warn("account directory past its limit: accounts beyond it are looked up in the database", slog.Int("limit", d.limit))
	}
}

// poke asks Run to read changes now.
func (d *Directory) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run loads the accounts, then keeps them fresh until ctx is done: it
// reads other processes' changes every PollEvery (PostgreSQL), at once
// when this process's change waits for an earlier number, and prunes
// tombstones. Failures are logged and retried; Run returns nil when ctx
// is done.
func (d *Directory) Run(ctx context.Context) error {
	for {
		err := d.Load(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		d.log.Error("load account directory", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.every):
		}
	}
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-d.kick:
		}
		if err := d.Refresh(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("refresh account directory", slog.Any("err", err))
		}
		if d.shared && d.now().Sub(pruned) >= time.Minute {
			pruned = d.now()
			if _, err := d.store.PruneAccountTombstones(ctx, pruned.Add(-TombstoneRetention)); err != nil && ctx.Err() == nil {
				d.log.Warn("prune account tombstones", slog.Any("err", err))
			}
		}
	}
}

// Load reads every account into a new table (up to the limit) and puts it
// in place of the current one, with the changes made meanwhile.
func (d *Directory) Load(ctx context.Context) error {
	d.mu.Lock()
	d.loading = true
	d.mu.Unlock()
	start := time.Now()
	t := newTable(0)
	complete := true
	seq, err := d.store.ScanAccounts(ctx, func(n, idBytes int) {
		if n > d.limit {
			idBytes = int(int64(idBytes) * int64(d.limit) / int64(n))
			n = d.limit
		}
		t.reserve(n, idBytes)
	}, func(id, birth, gender, country []byte) error {
		if t.n >= d.limit {
			complete = false
			return errFull
		}
		if !t.putBytes(id, birth, gender, country) {
			complete = false
		}
		return nil
	})
	if errors.Is(err, errFull) {
		err = nil
	}
	d.mu.Lock()
	d.loading = false
	if err != nil {
		clear(d.pending)
		d.mu.Unlock()
		return err
	}
	d.accounts, d.seq, d.loaded, d.complete, d.gapSince = t, seq, true, complete, time.Time{}
	d.gen++
	// This process's changes made during the load: those the snapshot
	// holds are applied already, the others follow in order.
	for s := range d.pending {
		if s <= seq {
			delete(d.pending, s)
		}
	}
	d.drainLocked()
	if len(d.pending) > 0 {
		d.gapSince = d.now()
		d.poke()
	}
	n, bytes := t.n, t.bytes()
	d.loadTime = time.Since(start)
	d.mu.Unlock()
	d.readyOnce.Do(func() { close(d.ready) })
	if complete {
		d.log.Info("account directory loaded", slog.Int("accounts", n), slog.Int("bytes", bytes), slog.Int64("duration_ms", d.loadTime.Milliseconds()))
	} else {
		d.log.Warn("account directory loaded past its limit: accounts beyond it are looked up in the database",
			slog.Int("accounts", n), slog.Int("limit", d.limit), slog.Int("bytes", bytes), slog.Int64("duration_ms", d.loadTime.Milliseconds()))
	}
	return nil
}

var errFull = errors.New("directory full")

// Refresh applies the changes the directory has not seen: on PostgreSQL
// those of every process, read from the store; on SQLite, where every
// change is this process's own, it only reloads if a change number has
// been missing for gapWait (a change whose watcher call was lost).
func (d *Directory) Refresh(ctx context.Context) error {
	if !d.shared {
		d.mu.RLock()
		stuck := !d.gapSince.IsZero() && d.now().Sub(d.gapSince) >= gapWait || len(d.pending) > maxPending
		d.mu.RUnlock()
		if stuck {
			d.log.Warn("account directory missed a change: reloading")
			return d.Load(ctx)
		}
		return nil
	}
	for {
		d.mu.RLock()
		after, loaded := d.seq, d.loaded && !d.loading
		d.mu.RUnlock()
		if !loaded {
			return nil
		}
		changes, upTo, last, err := d.store.AccountChanges(ctx, after, pollWindow)
		if errors.Is(err, store.ErrChangesPruned) {
			d.log.Warn("account directory fell behind the deletions kept for it: reloading", slog.Int64("seq", after))
			return d.Load(ctx)
		}
		if err != nil {
			return err
		}
		remote := false
		d.mu.Lock()
		// The changes are the state as of upTo of the accounts they
		// name: newer than anything applied up to upTo, so they apply
		// even over this process's changes applied meanwhile; what is
		// past upTo waits in pending. Skipped only when the directory is
		// already past upTo.
		if d.loaded && !d.loading && d.seq < upTo {
			for i := 0; i < len(changes); {
				j := i
				var up []store.AccountRef
				var del []string
				for ; j < len(changes) && changes[j].Seq == changes[i].Seq; j++ {
					if changes[j].Deleted {
						del = append(del, changes[j].Ref.ID)
					} else {
						up = append(up, changes[j].Ref)
					}
				}
				if _, own := d.pending[changes[i].Seq]; !own && len(del) > 0 {
					remote = true
				}
				d.applyLocked(up, del)
				i = j
			}
			d.seq = upTo
			for s := range d.pending {
				if s <= upTo {
					delete(d.pending, s)
				}
			}
			d.drainLocked()
		}
		d.mu.Unlock()
		if remote {
			// Another process deleted accounts, and their videos with
			// them: the video cache starts over.
			d.vmu.Lock()
			d.vgen++
			clear(d.videos)
			d.vmu.Unlock()
		}
		if upTo >= last {
			return nil
		}
	}
}

func dedupe(ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
