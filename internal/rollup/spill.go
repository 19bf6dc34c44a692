package rollup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"time"

	"github.com/crowd-dev/crowd/internal/bloom"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// The spill tier bounds the memory of the state. As a table nears its
// limit, its oldest entries (by arrival hour, or by the view's day) move to
// a database table (rollup_seen_spill, rollup_viewer_spill) and leave
// memory, in steps (below). Lookups that miss in memory then
// ask the database, in one statement per few hundred keys: slower, but
// exact, and memory stays bounded whatever the volume. The spill tables,
// like the tables in memory, are rebuilt from the journal: they are written
// in their own transactions, and a crash before one commits only means the
// next start spills again.

// spillLookup finds what the spill tables hold for the event ids (keys)
// and viewer-days (vkeys, 0 for events that are not a viewer's view) of evs
// that miss in memory and may have been spilled, and records it in d. The
// caller holds the state's read lock.
func (a *Aggregator) spillLookup(ctx context.Context, tx *store.RollupTx, d *delta, evs []event.Event, keys, vkeys []uint64) error {
	s := a.st
	if s.spilledSeen {
		var miss []uint64
		for _, k := range keys {
			if _, _, ok := s.seen.get(k); !ok && s.seenBloom.MayContain(k) {
				miss = append(miss, k)
			}
		}
		hours, err := a.spilledIDs(ctx, tx, miss)
		if err != nil {
			return err
		}
		for k, hour := range hours {
			d.coldSeen[k] = uint16(hour)
		}
	}
	if s.spilledViewers {
		var miss []uint64
		for i, k := range vkeys {
			if k == 0 {
				continue
			}
			day := int64(period.DayOf(evs[i].TS))
			if _, st, ok := s.viewers.get(k); (!ok || st != dayStamp(day)) && s.viewerBloom.MayContain(k) {
				miss = append(miss, k)
			}
		}
		err := tx.SpilledViewers(ctx, miss, func(k uint64, day int64, val uint32) {
			d.coldViewers[k] = viewerEntry{val: viewerVal(val), day: dayStamp(day)}
		})
		if err != nil {
			return fmt.Errorf("read spilled viewer-days: %w", err)
		}
	}
	return nil
}

// spilledIDs returns the arrival hour (Unix hours) of each of keys that
// the spill table of event ids holds.
func (a *Aggregator) spilledIDs(ctx context.Context, q idSpill, keys []uint64) (map[uint64]int64, error) {
	out := map[uint64]int64{}
	err := q.SpilledIDs(ctx, keys, func(k uint64, hour int64) { out[k] = hour })
	if err != nil {
		return nil, fmt.Errorf("read spilled event ids: %w", err)
	}
	return out, nil
}

// idSpill looks event ids up in their spill table: the store, or a
// batch's transaction (which sees what it wrote).
type idSpill interface {
	SpilledIDs(ctx context.Context, keys []uint64, fn func(key uint64, hour int64)) error
}

// The spill runs in bounded steps, so that aggregation never stops for it.
// A table whose entries pass three quarters of the limit starts a spill job:
// its oldest entries, down to half the limit, are to move. Each applied
// batch then moves twice as many entries as it added (spillSome), so the
// table shrinks while batches keep committing; only a table that would
// pass the limit itself makes the batch wait until there is room
// (makeRoom), and that too in bounded steps. A step gathers the job's
// entries of one range of keys (a scan of the table under the read lock),
// writes them in key order, at most spillChunkRows per transaction, and
// only once a transaction has committed adds its keys to the Bloom filter
// and removes them from memory (under the write lock, briefly): until then
// they are found in memory, after it in the database. An entry a batch
// changed since it was gathered stays in memory (memory is read first, and
// a later job moves it again).
//
// The journal holds every live entry whether it is in memory or spilled, so
// the spill tables are a cache of it: a crash at any point of a job loses
// nothing, and the next start rebuilds memory from the journal and spills
// again as needed.

// spillChunkRows bounds the rows one spill transaction writes, and
// spillRangeRows the entries one scan of a table gathers (a job's keys are
// split into that many ranges, in key order). Variables for tests.
var (
	spillChunkRows = 8192
	spillRangeRows = 1 << 18
)

// spillTxHook, if set, is called with the rows of each spill transaction
// after it commits (tests).
var spillTxHook func(rows int)

// The tables of the state, by index in s.tables() and s.jobs.
const (
	spillSeen = iota
	spillViewers
)

// spillDests are the spill tables of the state's tables.
var spillDests = [2]store.SpillTable{spillSeen: store.SeenSpill, spillViewers: store.ViewerSpill}

// spillJob is a spill in progress: the entries of one table aged cut or
// more at its start (stamp now, Unix hour or day base) move to the
// database, range by range of keys (the key with its sign bit flipped,
// shifted right by shift, is its range: ranges in the order of the keys as
// signed integers, the spill tables' order).
type spillJob struct {
	now        uint16
	base, cut  int64
	shift      uint
	next, last uint64 // the next range to gather, and the last one
	pending    []victim
}

type victim struct {
	k  uint64
	v  uint32
	st uint16
}

func (s *state) tableOf(which int) *table {
	if which == spillSeen {
		return s.seen
	}
	return s.viewers
}

// size returns the entries of a table. The caller holds the lock or is the
// aggregation goroutine (the only one adding entries).
func (s *state) size(which int) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tableOf(which).n
}

// makeRoom spills, step by step, until each table can take the entries a
// batch adds (extra) within its room (roomFor: the limit, or more while a
// state loaded past it drains), or has nothing left to move.
func (s *state) makeRoom(ctx context.Context, st *store.Store, at time.Time, extra [2]int) error {
	if s.limit <= 0 {
		return nil
	}
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	for which := range s.jobs {
		room := s.roomFor(which, extra[which])
		for s.size(which)+extra[which] > room {
			moved, err := s.spillStep(ctx, st, which, at, spillChunkRows)
			if err != nil {
				return err
			}
			if moved == 0 && s.jobs[which] == nil {
				// The job ended with the table still too full: entries
				// came in meanwhile. Start another, unless nothing is
				// old enough to move (a batch of more than half the
				// limit: it goes over).
				if s.jobs[which] = s.startJob(which, at); s.jobs[which] == nil {
					break
				}
			}
		}
	}
	return nil
}

// A state loaded past its limit. A start that replays journal rows after
// its snapshot (a crash: nothing wrote a snapshot at the stop) would, at
// the limit, spill as it replays, and a restart near the limit then took
// seconds per few hundred thousand entries where an unbounded replay takes
// a second per million. So the replay holds what it puts in memory past
// the limit, up to a hard ceiling (replayRoom), and spills only beyond it;
// after the start the batches bring the tables back under the limit in
// the steps above (spillSome starts a job for any table past three
// quarters of the limit). Meanwhile a table may not grow: its room only
// comes down, batch by batch, to what it holds with the batch's entries
// (roomFor), so memory never exceeds what the replay left, and once the
// table is back under the limit its arrays shrink to what the limit needs.
//
// The ceiling is the limit beyond the larger of the limit and what the
// snapshot loaded: at most twice the limit, when the table was at its
// limit. A crash replays the journal after the last complete snapshot
// began: by the snapshot schedule (snapshot.go) about half the state at
// most, and the state is at most twice the limit (two tables), so the
// replay adds at most about the limit to a table and does not spill. A
// table of twice the limit takes at most twice the arrays of one at the
// limit (tables are powers of two between 3/8 and 3/4 full: one
// doubling), and while it grows the old arrays too, briefly. A replay of
// the whole journal (no usable snapshot) can hold far more than that; it
// spills at the ceiling, down to half the limit, as it always did at the
// limit.

// replayRoom is the most entries a table may hold while the journal is
// replayed at start, loaded holding n: the limit beyond the larger of n and
// the limit.
func (s *state) replayRoom(n int) int { return max(s.limit, n) + s.limit }

// beginReplay lets the tables grow past the limit while the journal is
// replayed at start (replayRoom), and endReplay ends that: from the next
// batch on, a table left past its limit may not grow, and drains.
func (s *state) beginReplay() {
	if s.limit <= 0 {
		return
	}
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	s.replaying = true
	for which := range s.ceil {
		s.ceil[which] = s.replayRoom(s.size(which))
	}
}

func (s *state) endReplay() {
	if s.limit <= 0 {
		return
	}
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	s.replaying = false
	for which := range s.ceil {
		if s.size(which) <= s.limit {
			s.ceil[which] = 0
		}
	}
}

// roomFor returns the entries table which may hold once extra more are
// put, before they wait for the spill: the limit, or the ceiling while it
// is above it. Outside the replay the ceiling comes down to the table's
// size with the extra entries: the table may go back to neither more than
// it held, nor (once the ceiling is at the limit) past the limit; its
// arrays are then shrunk. The caller holds spillMu.
func (s *state) roomFor(which, extra int) int {
	c := s.ceil[which]
	if c == 0 || s.replaying {
		return max(s.limit, c)
	}
	if c = min(c, s.size(which)+extra); c <= s.limit {
		c = 0
		s.mu.Lock()
		s.tableOf(which).shrink(s.limit)
		s.mu.Unlock()
	}
	s.ceil[which] = c
	return max(s.limit, c)
}

// spillSome advances the spill jobs by up to budget entries each, starting
// a job for a table past three quarters of the limit.
func (s *state) spillSome(ctx context.Context, st *store.Store, at time.Time, budget [2]int) error {
	if s.limit <= 0 {
		return nil
	}
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	for which := range s.jobs {
		if s.jobs[which] == nil && 4*s.size(which) <= 3*s.limit {
			continue
		}
		for left := max(budget[which], spillChunkRows); left > 0; {
			moved, err := s.spillStep(ctx, st, which, at, min(left, spillChunkRows))
			if err != nil {
				return err
			}
			if s.jobs[which] == nil {
				break
			}
			left -= max(moved, 1)
		}
	}
	return nil
}

// spillStep moves up to rows entries of a table's job, in one transaction,
// starting the job if there is none; it returns the entries it removed
// from memory (written, or expired). The job ends when its last range is
// moved. The caller holds spillMu.
func (s *state) spillStep(ctx context.Context, st *store.Store, which int, at time.Time, rows int) (int, error) {
	job := s.jobs[which]
	if job == nil {
		job = s.startJob(which, at)
		if job == nil {
			return 0, nil
		}
		s.jobs[which] = job
	}
	for len(job.pending) == 0 {
		if job.next > job.last {
			s.jobs[which] = nil
			return 0, nil
		}
		s.gather(which, job)
	}
	n := min(rows, len(job.pending))
	piece := job.pending[:n]
	job.pending = job.pending[n:]
	if len(job.pending) == 0 {
		job.pending = nil // let the range's array go
	}
	// Event ids past the dedupe window need no spilling, only removing.
	expired := func(v victim) bool {
		return which == spillSeen && stampAge(job.now, v.st) >= hoursOf(DedupeWindow)
	}
	dest := spillDests[which]
	out := s.spillRows[:0]
	for _, v := range piece {
		if expired(v) {
			continue
		}
		out = append(out, store.SpillRow{Key: v.k, Period: job.base - stampAge(job.now, v.st), Val: v.v})
	}
	s.spillRows = out[:0]
	written := len(out)
	if err := st.Spill(ctx, dest, out); err != nil {
		return 0, fmt.Errorf("spill %s: %w", dest, err)
	}
	if spillTxHook != nil {
		spillTxHook(written)
	}

	s.mu.Lock()
	t := s.tableOf(which)
	bf := &s.seenBloom
	if which == spillViewers {
		bf = &s.viewerBloom
	}
	if *bf == nil && written > 0 {
		*bf = bloom.New(max(s.limit, t.n))
		s.bloomGen++
	}
	removed := 0
	for _, v := range piece {
		val, stamp, ok := t.get(v.k)
		if !ok || stamp != v.st || (!t.set && val != v.v) {
			continue // changed since gathered: it stays
		}
		if !expired(v) {
			(*bf).Add(v.k)
		}
		t.del(v.k)
		removed++
	}
	if written > 0 {
		if which == spillSeen {
			s.spilledSeen = true
		} else {
			s.spilledViewers = true
		}
	}
	full := *bf != nil && (*bf).Full()
	s.mu.Unlock()
	if full {
		// A filter past its size answers "maybe" too often: rebuild it
		// from the table, twice the size, from the read connections (no
		// spill writes meanwhile: the caller holds spillMu).
		b, err := loadBloom(ctx, st, dest, 2*(*bf).Keys)
		if err != nil {
			return removed, fmt.Errorf("spill %s: %w", dest, err)
		}
		s.mu.Lock()
		*bf = b
		s.bloomGen++
		s.mu.Unlock()
	}
	return removed, nil
}

// startJob returns a job moving the oldest entries of a table so that at
// most half the limit stay, or nil if it has nothing to move.
func (s *state) startJob(which int, at time.Time) *spillJob {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tableOf(which)
	job := &spillJob{}
	if which == spillSeen {
		job.base = int64(period.HourOf(at))
		job.now = hourStamp(at)
	} else {
		job.base = unixDay(at)
		job.now = dayStamp(job.base)
	}
	cut, moving := oldestHalf(t, job.now, s.limit/2)
	if moving == 0 {
		return nil
	}
	job.cut = cut
	ranges := 1
	for ranges*spillRangeRows < moving {
		ranges *= 2
	}
	job.shift = uint(64 - bits.TrailingZeros(uint(ranges)))
	job.last = uint64(ranges - 1)
	return job
}

// gather collects the job's entries of its next range of keys, in key
// order.
func (s *state) gather(which int, job *spillJob) {
	s.mu.RLock()
	t := s.tableOf(which)
	r := job.next
	for i, k := range t.keys {
		if k == 0 || stampAge(job.now, t.stamps[i]) < job.cut || (k^1<<63)>>job.shift != r {
			continue
		}
		v := victim{k: k, st: t.stamps[i]}
		if !t.set {
			v.v = t.vals[i]
		}
		job.pending = append(job.pending, v)
	}
	s.mu.RUnlock()
	job.next++
	slices.SortFunc(job.pending, func(x, y victim) int { return cmp.Compare(int64(x.k), int64(y.k)) })
}

// oldestHalf returns the age from which entries move out of t so that at
// most keep stay, youngest first (if even the youngest age holds more than
// keep, everything moves), and how many entries move.
func oldestHalf(t *table, now uint16, keep int) (int64, int) {
	ages := map[int64]int{}
	for i, k := range t.keys {
		if k != 0 {
			ages[stampAge(now, t.stamps[i])]++
		}
	}
	if len(ages) == 0 {
		return 0, 0
	}
	sorted := slices.Sorted(maps.Keys(ages))
	// Keep the youngest ages while they fit.
	kept := 0
	for i, a := range sorted {
		if kept+ages[a] > keep {
			if i == 0 {
				return sorted[0], t.n // even the youngest do not fit: move all
			}
			return a, t.n - kept
		}
		kept += ages[a]
	}
	return sorted[len(sorted)-1] + 1, 0 // everything fits: move nothing
}

// loadBloom builds a filter of the keys of spill table name, sized for at
// least n keys; nil if the table is empty.
func loadBloom(ctx context.Context, st *store.Store, t store.SpillTable, n int) (*bloom.Filter, error) {
	count, err := st.SpilledCount(ctx, t)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, nil
	}
	b := bloom.New(max(n, count))
	if err := st.SpilledKeys(ctx, t, b.Add); err != nil {
		return nil, err
	}
	return b, nil
}
