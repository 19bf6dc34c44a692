package rollup

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/crowd-dev/crowd/internal/bloom"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// state is aggregation's per-event memory, held in RAM: the event ids seen
// within the dedupe window, and per viewer-day what the viewer has watched
// (views, whether they completed, watch time). Looking these up is most of
// what aggregating an event costs, so they live in hash tables rather than
// in database rows, and each batch's changes are written to the database
// as one journal row (rollup_journal) in the batch's own transaction. The
// journal is therefore exactly as durable as the checkpoint: on start the
// tables are rebuilt from it (from a snapshot of them and the journal rows
// after it, snapshot.go), and a process that finds another has applied
// batches since (PostgreSQL, several processes) reads their rows to catch
// up.
//
// Keys are 64-bit xxhash digests of the event id, or of (video, day,
// daily viewer pseudonym). Two different keys share a digest with
// probability about n²/2⁶⁵ among n live keys (3·10⁻⁶ at ten million ids),
// in which case the later event would be taken for a duplicate.
type state struct {
	mu      sync.RWMutex
	seen    *table // event id → (stamp: arrival hour)
	viewers *table // viewer-day → packed viewerVal (stamp: the day)
	// dropped holds the day stamps of days whose viewer-days are dropped:
	// closed days (their salts destroyed) whose events are all applied
	// (rollup_days). A viewer-day lives until its day is dropped, however
	// old, so a late view of an open day always finds it.
	dropped map[uint16]bool
	// seqs[p] is the log sequence up to which the tables reflect the
	// events of partition p (for the partitions the aggregator owns).
	seqs []uint64

	// limit bounds the entries of each table (0: no bound); beyond it the
	// oldest move to the spill tables (spill.go), which the flags say may
	// hold live entries.
	limit                       int
	spilledSeen, spilledViewers bool
	// ceil lets a table hold more than the limit (0: no more): while the
	// journal is replayed at start (replaying), and after it, while the
	// spill brings a table the replay left past its limit back under it
	// (spill.go, roomFor). Both guarded by spillMu.
	ceil      [2]int
	replaying bool
	// Bloom filters of the spilled keys (nil when none are spilled).
	seenBloom, viewerBloom *bloom.Filter

	// spillMu serializes spill steps; jobs (by spillSeen, spillViewers)
	// are the spills in progress, and spillRows the rows of a step, reused
	// from step to step, both guarded by spillMu.
	spillMu   sync.Mutex
	jobs      [2]*spillJob
	spillRows []store.SpillRow
	// bloomGen counts the times a filter was replaced (snapshot.go).
	bloomGen uint64

	// Snapshots (snapshot.go): journalled counts the entries applied
	// since the last snapshot began; snap is the snapshot being written,
	// guarded by snapMu.
	journalled int
	snapMu     sync.Mutex
	snap       *snapshotJob
	// What the last load did: the snapshot generation it loaded (0:
	// none), and the journal rows and entries it replayed.
	loadedGen                 int64
	replayRows, replayEntries int
}

func newState(partitions int) *state {
	return &state{seen: newTable(true), viewers: newTable(false), seqs: make([]uint64, partitions), dropped: map[uint16]bool{}}
}

func idKey(id string) uint64 { return nonzero(xxhash.Sum64String(id)) }

func viewerKey(video string, day int64, viewer string) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(video)
	var b [9]byte
	binary.LittleEndian.PutUint64(b[1:], uint64(day))
	d.Write(b[:])
	d.WriteString(viewer)
	return nonzero(d.Sum64())
}

// viewerVal packs a viewer-day: views (8 bits, saturating), whether any
// view completed (1 bit) and watch time in ms (23 bits, saturating). The
// contribution bounds are below the saturation points (Bounds.validate), so
// the bounded numbers derived from it are exact (SetBounds refuses others).
type viewerVal uint32

const (
	maxPackedViews   = 1<<8 - 1
	maxPackedWatchMS = 1<<23 - 1
)

func packViewer(views, watchMS int64, completed bool) viewerVal {
	v := viewerVal(min(views, maxPackedViews)) | viewerVal(min(watchMS, maxPackedWatchMS))<<9
	if completed {
		v |= 1 << 8
	}
	return v
}

func (v viewerVal) views() int64    { return int64(v & 0xff) }
func (v viewerVal) completed() bool { return v&(1<<8) != 0 }
func (v viewerVal) watchMS() int64  { return int64(v >> 9) }

// Stamps are hours (event ids, by arrival) or days (viewer-days, by the
// view's day) since the epoch, modulo 2¹⁶; an age is their difference,
// read as signed so that a stamp slightly ahead (clock skew) is young.
func hourStamp(t time.Time) uint16 { return uint16(period.HourOf(t)) }
func dayStamp(day int64) uint16    { return uint16(day) }
func stampAge(now, s uint16) int64 { return int64(int16(now - s)) }

func hoursOf(d time.Duration) int64 { return int64(d / time.Hour) }
func unixDay(t time.Time) int64     { return int64(period.DayOf(t)) }

func (s *state) memBytes() int {
	return s.seen.bytes() + s.viewers.bytes() + s.seenBloom.Bytes() + s.viewerBloom.Bytes()
}

func seenLive(now time.Time) func(uint16) bool {
	h := hourStamp(now)
	return func(s uint16) bool { return stampAge(h, s) < hoursOf(DedupeWindow) }
}

// viewersLive reports whether a viewer-day of the day stamped s is live:
// whether its day is not dropped. The caller holds the state's lock.
func (s *state) viewersLive() func(uint16) bool {
	return func(st uint16) bool { return !s.dropped[st] }
}

// drop drops the viewer-days of days (Unix days) from memory.
func (s *state) drop(days []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range days {
		if !s.dropped[dayStamp(d)] {
			s.dropped[dayStamp(d)] = true
			n++
		}
	}
	if n > 0 {
		s.viewers.rebuild(s.viewersLive(), false)
	}
}

// delta is one batch's changes to the state, applied to the tables only
// once the batch's transaction commits.
type delta struct {
	at      time.Time
	seen    map[uint64]struct{}
	viewers map[uint64]viewerEntry
	// What the spill tables hold for keys that missed in memory.
	coldSeen    map[uint64]uint16
	coldViewers map[uint64]viewerEntry
}

type viewerEntry struct {
	val viewerVal
	day uint16
}

func newDelta(at time.Time, n int) *delta {
	return &delta{at: at, seen: make(map[uint64]struct{}, n), viewers: map[uint64]viewerEntry{},
		coldSeen: map[uint64]uint16{}, coldViewers: map[uint64]viewerEntry{}}
}

// firstSeen records the event id of key k and reports whether it is new:
// not in the tables (or the spill, as looked up in d) within the window,
// and not earlier in this batch.
func (s *state) firstSeen(d *delta, k uint64) bool {
	if _, ok := d.seen[k]; ok {
		return false
	}
	if _, st, ok := s.seen.get(k); ok && stampAge(hourStamp(d.at), st) < hoursOf(DedupeWindow) {
		return false
	}
	if st, ok := d.coldSeen[k]; ok && stampAge(hourStamp(d.at), st) < hoursOf(DedupeWindow) {
		return false
	}
	d.seen[k] = struct{}{}
	return true
}

// viewer returns a viewer-day's value as of this batch so far.
func (s *state) viewer(d *delta, k uint64, day int64) viewerVal {
	if e, ok := d.viewers[k]; ok {
		return e.val
	}
	if v, st, ok := s.viewers.get(k); ok && st == dayStamp(day) {
		return viewerVal(v)
	}
	if e, ok := d.coldViewers[k]; ok && e.day == dayStamp(day) {
		return e.val
	}
	return 0
}

// commit applies a committed batch's delta, first making room for it if
// the tables would outgrow their limit; the partitions own are then
// applied up to seq (or stay where they were, if further). It then moves
// twice the entries the batch added out of any table being spilled, so
// that the spill keeps ahead of the batches. A failure of that step is
// returned apart (spillErr): the batch is applied all the same, and the
// entries stay in memory for the next batch to move.
func (s *state) commit(ctx context.Context, st *store.Store, d *delta, own []int, seq uint64) (spillErr error, err error) {
	added := [2]int{len(d.seen), len(d.viewers)}
	if err := s.makeRoom(ctx, st, d.at, added); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.apply(d)
	for _, p := range own {
		s.seqs[p] = max(s.seqs[p], seq)
	}
	s.mu.Unlock()
	return s.spillSome(ctx, st, d.at, [2]int{2 * added[0], 2 * added[1]}), nil
}

func (s *state) apply(d *delta) {
	s.journalled += len(d.seen) + len(d.viewers)
	sl, vl := seenLive(d.at), s.viewersLive()
	h := hourStamp(d.at)
	for k := range d.seen {
		s.seen.put(k, 0, h, sl)
	}
	for k, e := range d.viewers {
		if s.dropped[e.day] {
			continue // a journal row from before its day was dropped
		}
		s.viewers.put(k, uint32(e.val), e.day, vl)
	}
}

// sweep drops expired entries and shrinks the tables if they emptied. A
// table is rebuilt only when a quarter of it or more has expired: a rebuild
// holds the old and the new arrays at once.
func (s *state) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range []struct {
		t    *table
		live func(uint16) bool
	}{{s.seen, seenLive(now)}, {s.viewers, s.viewersLive()}} {
		if expired := t.t.count(func(st uint16) bool { return !t.live(st) }); 4*expired >= t.t.n && expired > 0 {
			t.t.rebuild(t.live, false)
		}
	}
}

// The journal row: seen holds 8-byte little-endian keys, viewers 14-byte
// records (key, day stamp, value).
const viewerRecordBytes = 14

func (d *delta) encode() (seen, viewers []byte) {
	seen = make([]byte, 0, 8*len(d.seen))
	for k := range d.seen {
		seen = binary.LittleEndian.AppendUint64(seen, k)
	}
	viewers = make([]byte, 0, viewerRecordBytes*len(d.viewers))
	for k, e := range d.viewers {
		viewers = binary.LittleEndian.AppendUint64(viewers, k)
		viewers = binary.LittleEndian.AppendUint16(viewers, e.day)
		viewers = binary.LittleEndian.AppendUint32(viewers, uint32(e.val))
	}
	return seen, viewers
}

func decodeDelta(at time.Time, seen, viewers []byte) (*delta, error) {
	if len(seen)%8 != 0 || len(viewers)%viewerRecordBytes != 0 {
		return nil, fmt.Errorf("rollup state: journal row of %d and %d bytes", len(seen), len(viewers))
	}
	d := newDelta(at, len(seen)/8)
	for i := 0; i < len(seen); i += 8 {
		d.seen[binary.LittleEndian.Uint64(seen[i:])] = struct{}{}
	}
	for i := 0; i < len(viewers); i += viewerRecordBytes {
		r := viewers[i:]
		d.viewers[binary.LittleEndian.Uint64(r)] = viewerEntry{day: binary.LittleEndian.Uint16(r[8:]), val: viewerVal(binary.LittleEndian.Uint32(r[10:]))}
	}
	return d, nil
}

// journal writes d as the journal row of the batch ending at seq, of the
// partitions in the bitmap parts (empty: all).
func journal(ctx context.Context, tx *store.RollupTx, seq uint64, parts []byte, d *delta) error {
	seen, viewers := d.encode()
	if err := tx.AppendJournal(ctx, seq, parts, d.at.UnixMicro(), seen, viewers); err != nil {
		return fmt.Errorf("write rollup state: %w", err)
	}
	return nil
}

// catchUp brings the state of each owned partition p up to the journal's
// rows through upTo[p]: on start, and when another process applied batches.
// A row counts if it is of some owned partition p that the state has not
// reached yet (seqs[p] < seq <= upTo[p]); applying a row is idempotent (its
// entries are put, not added), so a row of several such partitions, or of
// partitions the state has partly reached, is simply applied once.
func (a *Aggregator) catchUp(ctx context.Context, upTo []uint64) error {
	s := a.st
	lo, _ := a.span(s.seqs)
	_, hi := a.span(upTo)
	type row struct {
		seq   uint64
		parts []byte
		d     *delta
	}
	wanted := func(seq uint64, parts []byte) bool {
		for _, p := range a.own {
			if s.seqs[p] < seq && seq <= upTo[p] && rowOwns(parts, p) {
				return true
			}
		}
		return false
	}
	cursor, cursorParts := lo, []byte{}
	for {
		// A few rows at a time, read before they are applied: no
		// statement stays open while applying spills (which writes).
		// After the cursor (seq, parts), in key order.
		var chunk []row
		var bad error // a row that does not decode
		read := 0
		err := a.store.JournalRows(ctx, cursor, cursorParts, hi, 20, func(r store.JournalRow) error {
			read++
			cursor, cursorParts = r.Seq, r.Parts
			if !wanted(r.Seq, r.Parts) {
				return nil
			}
			d, err := decodeDelta(time.UnixMicro(r.At), r.Seen, r.Viewers)
			if err != nil {
				bad = err
				return err
			}
			chunk = append(chunk, row{r.Seq, r.Parts, d})
			return nil
		})
		if bad != nil {
			return bad
		}
		if err != nil {
			return fmt.Errorf("read rollup state: %w", err)
		}
		// The state's lock is taken per row, not for the whole
		// catch-up: StateStats, Seen and Compact go on meanwhile (a
		// restart replays millions of entries).
		for _, r := range chunk {
			if err := s.makeRoom(ctx, a.store, r.d.at, [2]int{len(r.d.seen), len(r.d.viewers)}); err != nil {
				return err
			}
			s.mu.Lock()
			s.apply(r.d)
			s.replayRows++
			s.replayEntries += len(r.d.seen) + len(r.d.viewers)
			s.mu.Unlock()
		}
		if read == 0 {
			break
		}
	}
	// Batches whose rows are compacted away are older than every window:
	// nothing of theirs is live.
	s.mu.Lock()
	for _, p := range a.own {
		s.seqs[p] = max(s.seqs[p], upTo[p])
	}
	s.mu.Unlock()
	return nil
}
