package rollup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/crowd-dev/crowd/internal/bloom"
	"github.com/crowd-dev/crowd/internal/store"
)

// Snapshots of the state. Rebuilding the state from the whole journal at
// start costs one map insertion per journalled entry, and the journal holds
// every entry of every batch while anything in it is live (a row of an
// open day's viewer-days lives as long as the day): a restart replayed
// millions of entries, spilling as it went. A snapshot is the state's
// tables written out as they are, tagged with the log sequence of each
// partition they reflect; a start loads the latest snapshot (one
// sequential read, one insertion per live entry) and replays only the
// journal rows after it.
//
// Where. In the database, beside the journal (rollup_snapshot and its
// chunks), so a snapshot goes wherever the journal and the
// checkpoints go: into a backup, and to every process of a PostgreSQL
// scale-out. One snapshot per partition set (the journal's parts bitmap,
// empty for all partitions): a snapshot belongs to the aggregator of that
// set, and one of another set, another partition count or another format
// is never loaded.
//
// When. A snapshot is due once the journal has taken, since the last
// snapshot began, a quarter of the entries the state holds, and at least
// snapshotMinEntries (or, with a state limit, a quarter of the limit if
// that is less). Writing one costs about as much as the state it holds, so
// writing it per quarter of the state's size in new entries bounds that
// cost at four writes per journalled entry, and the replay at start at
// about half the state's size (the quarter before the last snapshot began,
// and what came while it was written).
//
// How. A snapshot is written in steps after batches, as the spill is
// (spill.go), so aggregation never waits for a whole one: each batch
// writes chunks of about eight times its own journal row, at least one.
// The entries are cut into ranges by the top bits of their mixed hash
// (about snapshotRangeEntries each), which are also the top bits of their
// home slot in a table (table.home): a range is gathered under the read
// lock from one block of slots (a step costs its share of the table, not a
// scan of all of it), written as one chunk in a transaction of its own,
// and at start loaded into its block of a fresh table, in slot order.
// After the ranges come the spill's Bloom filters, in pieces of
// snapshotFilterBlocks blocks. A last
// transaction points the snapshot's row at the new generation and deletes
// the chunks of every other: a crash before it leaves the previous
// snapshot in place, and its partial chunks are deleted when the next
// snapshot begins. (Two processes of one partition set, an overlap of
// --aggregate-partitions, may so delete each other's chunks in progress:
// the one whose chunks are gone when it finishes abandons its snapshot,
// and the other's is used.) Every chunk carries a checksum (xxhash), the row one of
// the whole; a snapshot that fails a check is not loaded.
//
// Why a snapshot taken over many batches is exact. The ranges are read at
// different moments while batches keep committing, so the snapshot is no
// picture of any single moment. It is tagged with the sequences the state
// had reached when it began (T0), and a start replays every journal row
// after them, in sequence order; replaying rows is idempotent (entries are
// put, not added). Take any live entry of an owned partition. If a row
// after T0 changed it, the replay puts its last value. If none did, its
// value was the same from T0 on: either it was in memory when its range
// was read (the snapshot holds it), or it had been spilled before (it is
// in the spill tables and in the Bloom filter, which is written after
// every range and only ever gains keys; a filter rebuilt from the spill
// tables holds them too, and the filter pieces are written again if that
// happens meanwhile), or it had expired or its day was dropped (dropped
// days are dropped again at start). So the snapshot and the rows after it
// give what a process paused at T0 would have after catching up, which is
// what catchUp does for a process that another one overtook.
//
// The journal is kept as it was: rows are deleted only once nothing in them
// is live (Compact), never because a snapshot covers them. A snapshot that
// is missing, corrupt, of another version, or ahead of the checkpoints
// read at start (another process advanced them meanwhile) is then simply
// not used, and the whole journal is replayed as before: the snapshot
// saves time, and losing it loses nothing but that time.

// snapshotFormat is the version of the snapshot's layout and of what its
// entries mean (how keys are hashed, how stamps count): a snapshot of
// another format is not loaded.
const snapshotFormat = 1

// Tuning; variables for tests.
var (
	// snapshotMinEntries is the fewest journalled entries that make a
	// snapshot due (see above): a small state is not written out per
	// few thousand entries.
	snapshotMinEntries = 1 << 20
	// snapshotRangeEntries is about how many entries a chunk holds
	// (64k entries: about 0.8 MB).
	snapshotRangeEntries = 1 << 16
	// snapshotFilterBlocks is the Bloom filter blocks a chunk holds (1 MiB).
	snapshotFilterBlocks = 1 << 14
	// snapshotChunkHook, if set, is called after each chunk commits, with
	// the chunk's number; an error ends the step there, as a crash would
	// (tests).
	snapshotChunkHook func(n int) error
)

// The kinds of chunk.
const (
	chunkRange        = 1 // entries: kind, range, ids, viewer-days (uint32 each), records
	chunkSeenFilter   = 2 // kind, first block (uint32), blocks of 8 uint64
	chunkViewerFilter = 3
)

const (
	seenRecordBytes  = 10 // key, stamp
	chunkHeaderBytes = 13
)

// snapshotJob is a snapshot being written.
type snapshotJob struct {
	gen     int64
	seqs    []uint64 // the state's sequences when it began
	at      time.Time
	started time.Time
	// ranges is how many ranges the entries are cut into (a power of
	// two); chunks 0 to ranges-1 hold them, the filters' pieces follow.
	ranges uint64
	next   int      // the next chunk to write
	sums   []uint64 // the checksums of the chunks written, by number
	counts [2]int   // ids and viewer-days written
	bytes  int64
	// base is the state's journalled count when the job began: given
	// back if the job is abandoned.
	base    int
	filters *filterPhase // nil while ranges are written
}

// filterPhase is the writing of the Bloom filters, which must see one
// filter throughout: it starts again if a filter is replaced meanwhile.
type filterPhase struct {
	gen     uint64 // the state's bloomGen when it began
	blooms  [2]*bloom.Filter
	spilled [2]bool
	pieces  [2]int
}

// snapshotStep advances the state's snapshot after a batch that
// journalled added entries. A failure only delays the snapshot (the
// journal holds everything): it is logged, and the next batch goes on
// from the chunk that failed.
func (a *Aggregator) snapshotStep(ctx context.Context, added int) {
	if err := a.snapshotSome(ctx, max(1, 8*added*viewerRecordBytes)); err != nil && ctx.Err() == nil {
		a.lg.Warn("write aggregation state snapshot", slog.Any("err", err))
	}
}

// snapshotSome starts a snapshot if one is due and writes chunks of the
// one in progress until budget bytes are written (at least one chunk), or
// it is complete.
func (a *Aggregator) snapshotSome(ctx context.Context, budget int) error {
	s := a.st
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.snap == nil {
		if !s.snapshotDue() {
			return nil
		}
		if err := a.startSnapshot(ctx); err != nil {
			return err
		}
	}
	for {
		done, n, err := a.snapshotChunk(ctx, s.snap)
		if err != nil || done {
			return err
		}
		if budget -= n; budget <= 0 {
			return nil
		}
	}
}

// snapshotDue reports whether the journal has taken enough since the last
// snapshot began (see the comment at the top).
func (s *state) snapshotDue() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.journalled > 0 && s.journalled >= max(s.snapshotFloor(), (s.seen.n+s.viewers.n)/4)
}

func (s *state) snapshotFloor() int {
	if s.limit > 0 {
		return min(snapshotMinEntries, s.limit/4)
	}
	return snapshotMinEntries
}

// startSnapshot begins a snapshot of the state as it is, and deletes the
// chunks of snapshots of this partition set that never completed.
func (a *Aggregator) startSnapshot(ctx context.Context) error {
	s := a.st
	if err := a.store.DeleteUnfinishedSnapshots(ctx, a.partsKey()); err != nil {
		return fmt.Errorf("start snapshot: %w", err)
	}
	s.mu.Lock()
	job := &snapshotJob{gen: rand.Int64N(math.MaxInt64) + 1, seqs: slices.Clone(s.seqs), at: a.now(), started: time.Now(), ranges: 1, base: s.journalled}
	total := s.seen.n + s.viewers.n
	s.journalled = 0
	s.mu.Unlock()
	for job.ranges*uint64(snapshotRangeEntries) < uint64(total) {
		job.ranges *= 2
	}
	s.snap = job
	return nil
}

// partsKey is the snapshot's key: the partition bitmap, empty for all.
func (a *Aggregator) partsKey() []byte {
	if a.parts == nil {
		return []byte{}
	}
	return a.parts
}

// snapshotChunk writes the job's next chunk, or completes the job; it
// returns whether the job is complete and the bytes written.
func (a *Aggregator) snapshotChunk(ctx context.Context, job *snapshotJob) (done bool, n int, err error) {
	s := a.st
	var data []byte
	if uint64(job.next) < job.ranges {
		data = s.rangeChunk(job)
	} else {
		if job.filters == nil {
			job.filters = s.startFilters()
		}
		var ok bool
		data, ok = s.filterChunk(job)
		if !ok {
			// A filter was replaced: write the filters again.
			if err := a.restartFilters(ctx, job); err != nil {
				return false, 0, err
			}
			return false, 0, nil
		}
		if data == nil {
			return a.finishSnapshot(ctx, job)
		}
	}
	sum := xxhash.Sum64(data)
	if err := a.store.WriteSnapshotChunk(ctx, a.partsKey(), job.gen, job.next, sum, data); err != nil {
		return false, 0, fmt.Errorf("write snapshot chunk: %w", err)
	}
	if data[0] == chunkRange {
		job.counts[0] += int(binary.LittleEndian.Uint32(data[5:]))
		job.counts[1] += int(binary.LittleEndian.Uint32(data[9:]))
	}
	job.sums = append(job.sums[:job.next], sum)
	job.next++
	job.bytes += int64(len(data))
	if snapshotChunkHook != nil {
		if err := snapshotChunkHook(job.next - 1); err != nil {
			return false, len(data), err
		}
	}
	return false, len(data), nil
}

// rangeChunk gathers the entries of the job's next range.
func (s *state) rangeChunk(job *snapshotJob) []byte {
	x := uint64(job.next)
	s.mu.RLock()
	defer s.mu.RUnlock()
	guess := (s.seen.n*seenRecordBytes + s.viewers.n*viewerRecordBytes) / int(job.ranges)
	b := make([]byte, chunkHeaderBytes, chunkHeaderBytes+guess+guess/8)
	b[0] = chunkRange
	binary.LittleEndian.PutUint32(b[1:], uint32(x))
	ids, vds := 0, 0
	t := s.seen
	t.eachInRange(x, job.ranges, func(i int) {
		b = binary.LittleEndian.AppendUint64(b, t.keys[i])
		b = binary.LittleEndian.AppendUint16(b, t.stamps[i])
		ids++
	})
	t = s.viewers
	t.eachInRange(x, job.ranges, func(i int) {
		b = binary.LittleEndian.AppendUint64(b, t.keys[i])
		b = binary.LittleEndian.AppendUint16(b, t.stamps[i])
		b = binary.LittleEndian.AppendUint32(b, t.vals[i])
		vds++
	})
	binary.LittleEndian.PutUint32(b[5:], uint32(ids))
	binary.LittleEndian.PutUint32(b[9:], uint32(vds))
	return b
}

// eachInRange calls fn with the slot of every key of range x of r (keys
// whose mixed hash's top bits, r a power of two, are x). Home slots are the
// same top bits (table.home), so with at least r slots the range's keys
// have their homes in one block of m/r slots, and sit in it or on the
// probe runs that go on past its end: the block is read in slot order,
// then the run that crosses its end. Each key is taken at its own home's
// block only, so once.
func (t *table) eachInRange(x, r uint64, fn func(i int)) {
	m := uint64(len(t.keys))
	mask := m - 1
	var lo, width uint64 // the range's home slots: lo … lo+width-1
	if r <= m {
		lo, width = x*(m/r), m/r
	} else {
		lo, width = x/(r/m), 1
	}
	rshift := uint(64 - bits.TrailingZeros64(r))
	for d := uint64(0); d < width+m; d++ {
		j := (lo + d) & mask
		k := t.keys[j]
		if k == 0 {
			if d >= width {
				return
			}
			continue
		}
		// The key is taken where the walk meets it along its run: its
		// home is off slots into the block, and the key disp slots
		// after its home.
		h := t.home(k)
		if off := (h - lo) & mask; off < width && off+(j-h)&mask == d && mix(k)>>rshift == x {
			fn(int(j))
		}
	}
}

// startFilters notes the filters to write, and what the spill flags are.
func (s *state) startFilters() *filterPhase {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f := &filterPhase{gen: s.bloomGen, blooms: [2]*bloom.Filter{s.seenBloom, s.viewerBloom}, spilled: [2]bool{s.spilledSeen, s.spilledViewers}}
	for i, b := range f.blooms {
		if b != nil {
			f.pieces[i] = (len(b.Blocks) + snapshotFilterBlocks - 1) / snapshotFilterBlocks
		}
	}
	return f
}

// filterChunk returns the job's next piece of a filter, nil when all are
// written, or false if a filter was replaced since the filters' writing
// began.
func (s *state) filterChunk(job *snapshotJob) ([]byte, bool) {
	f := job.filters
	piece := job.next - int(job.ranges)
	which := 0
	if piece >= f.pieces[0] {
		which, piece = 1, piece-f.pieces[0]
	}
	if which == 1 && piece >= f.pieces[1] {
		return nil, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.bloomGen != f.gen {
		return nil, false
	}
	blocks := f.blooms[which].Blocks
	lo := piece * snapshotFilterBlocks
	hi := min(lo+snapshotFilterBlocks, len(blocks))
	b := make([]byte, 5, 5+64*(hi-lo))
	b[0] = chunkSeenFilter
	if which == 1 {
		b[0] = chunkViewerFilter
	}
	binary.LittleEndian.PutUint32(b[1:], uint32(lo))
	for _, blk := range blocks[lo:hi] {
		for _, w := range blk {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b, true
}

// restartFilters drops the filter pieces written and begins them again.
func (a *Aggregator) restartFilters(ctx context.Context, job *snapshotJob) error {
	if err := a.store.DeleteSnapshotChunks(ctx, a.partsKey(), job.gen, int(job.ranges)); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	job.next = int(job.ranges)
	job.sums = job.sums[:job.next]
	job.filters = nil
	return nil
}

// snapshotMeta is what a snapshot's row says of its chunks.
type snapshotMeta struct {
	windowHours    int64
	ranges         uint64
	counts         [2]uint64 // ids, viewer-days
	spilled        [2]bool
	filterBlocks   [2]uint32 // 0: no filter
	filterKeys     [2]uint64
	filterPieces   [2]uint32
	blocksPerPiece uint32
}

func (m *snapshotMeta) encode() []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(m.windowHours))
	b = binary.LittleEndian.AppendUint64(b, m.ranges)
	for i := range 2 {
		b = binary.LittleEndian.AppendUint64(b, m.counts[i])
		var f byte
		if m.spilled[i] {
			f = 1
		}
		b = append(b, f)
		b = binary.LittleEndian.AppendUint32(b, m.filterBlocks[i])
		b = binary.LittleEndian.AppendUint64(b, m.filterKeys[i])
		b = binary.LittleEndian.AppendUint32(b, m.filterPieces[i])
	}
	return binary.LittleEndian.AppendUint32(b, m.blocksPerPiece)
}

const snapshotMetaBytes = 16 + 2*25 + 4

func decodeMeta(b []byte) (*snapshotMeta, error) {
	if len(b) != snapshotMetaBytes {
		return nil, fmt.Errorf("meta of %d bytes", len(b))
	}
	m := &snapshotMeta{windowHours: int64(binary.LittleEndian.Uint64(b)), ranges: binary.LittleEndian.Uint64(b[8:])}
	b = b[16:]
	for i := range 2 {
		m.counts[i] = binary.LittleEndian.Uint64(b)
		m.spilled[i] = b[8] != 0
		m.filterBlocks[i] = binary.LittleEndian.Uint32(b[9:])
		m.filterKeys[i] = binary.LittleEndian.Uint64(b[13:])
		m.filterPieces[i] = binary.LittleEndian.Uint32(b[21:])
		b = b[25:]
	}
	m.blocksPerPiece = binary.LittleEndian.Uint32(b)
	return m, nil
}

func encodeSeqs(seqs []uint64) []byte {
	b := make([]byte, 0, 8*len(seqs))
	for _, q := range seqs {
		b = binary.LittleEndian.AppendUint64(b, q)
	}
	return b
}

// snapshotSum is the checksum of a whole snapshot: of its sequences, its
// meta and its chunks' checksums in order.
func snapshotSum(seqs, meta []byte, sums []uint64) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(seqs)
	d.Write(meta)
	var b [8]byte
	for _, s := range sums {
		binary.LittleEndian.PutUint64(b[:], s)
		d.Write(b[:])
	}
	return d.Sum64()
}

// finishSnapshot makes the job's chunks the partition set's snapshot and
// deletes the chunks of every other generation, in one transaction,
// unless a filter was replaced since it was written (then its pieces are
// written again) or some chunks are missing (another process of the same
// partition set deleted them: the job is abandoned).
func (a *Aggregator) finishSnapshot(ctx context.Context, job *snapshotJob) (bool, int, error) {
	s := a.st
	f := job.filters
	m := &snapshotMeta{windowHours: hoursOf(DedupeWindow), ranges: job.ranges, spilled: f.spilled, blocksPerPiece: uint32(snapshotFilterBlocks)}
	m.counts = [2]uint64{uint64(job.counts[0]), uint64(job.counts[1])}
	s.mu.RLock()
	same := s.bloomGen == f.gen
	for i, b := range f.blooms {
		if b != nil {
			m.filterBlocks[i], m.filterKeys[i], m.filterPieces[i] = uint32(len(b.Blocks)), uint64(b.Keys), uint32(f.pieces[i])
		}
	}
	s.mu.RUnlock()
	if !same {
		return false, 0, a.restartFilters(ctx, job)
	}
	seqs, meta := encodeSeqs(job.seqs), m.encode()
	sum := snapshotSum(seqs, meta, job.sums)
	// The generation becomes the snapshot only if all its chunks are
	// there (another process of the same partition set may have deleted
	// them).
	have, err := a.store.FinishSnapshot(ctx, store.SnapshotRow{Parts: a.partsKey(), Gen: job.gen, Format: snapshotFormat,
		Seqs: seqs, Meta: meta, Chunks: job.next, Checksum: sum, At: job.at.UnixMicro()})
	if err != nil {
		return false, 0, fmt.Errorf("write snapshot: %w", err)
	}
	s.snap = nil
	if have != job.next {
		s.mu.Lock()
		s.journalled += job.base
		s.mu.Unlock()
		return true, 0, fmt.Errorf("write snapshot: %d of its %d chunks are left (another aggregator of partitions %v wrote one meanwhile); abandoned", have, job.next, a.own)
	}
	a.lg.Info("aggregation state snapshot written", slog.Int("event_ids", job.counts[0]), slog.Int("viewer_days", job.counts[1]),
		slog.Int("chunks", job.next), slog.Int64("bytes", job.bytes), slog.Int64("took_ms", time.Since(job.started).Milliseconds()))
	return true, 0, nil
}

// snapshotImage is a snapshot read back.
type snapshotImage struct {
	gen           int64
	seqs          []uint64
	seen, viewers *table
	blooms        [2]*bloom.Filter
	spilled       [2]bool
	chunks        int
	bytes         int64
}

// errNoSnapshot means the partition set has no snapshot.
var errNoSnapshot = errors.New("no snapshot")

// readSnapshot reads the partition set's snapshot and checks it against
// the checkpoints cps: errNoSnapshot if there is none, another error if it
// cannot be used (read, checksum, format, partitions, sequences).
func (a *Aggregator) readSnapshot(ctx context.Context, cps []uint64) (*snapshotImage, error) {
	var img *snapshotImage
	// The row and its chunks from one snapshot of the database: a process
	// of the same partition set may replace them meanwhile.
	err := a.store.ViewSnapshot(ctx, func(v *store.SnapshotView) error {
		var err error
		img, err = a.readSnapshotIn(ctx, v, cps)
		return err
	})
	return img, err
}

func (a *Aggregator) readSnapshotIn(ctx context.Context, v *store.SnapshotView, cps []uint64) (*snapshotImage, error) {
	row, ok, err := v.Row(ctx, a.partsKey())
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, errNoSnapshot
	}
	gen, format, seqsB, metaB, chunks, sum := row.Gen, row.Format, row.Seqs, row.Meta, row.Chunks, row.Checksum
	if format != snapshotFormat {
		return nil, fmt.Errorf("format %d, this version reads %d", format, snapshotFormat)
	}
	if len(seqsB) != 8*a.nparts {
		return nil, fmt.Errorf("of %d partitions, the event log has %d", len(seqsB)/8, a.nparts)
	}
	m, err := decodeMeta(metaB)
	if err != nil {
		return nil, err
	}
	if m.windowHours != hoursOf(DedupeWindow) {
		return nil, fmt.Errorf("dedupe window of %d hours, this version's is %d", m.windowHours, hoursOf(DedupeWindow))
	}
	img := &snapshotImage{gen: gen, seqs: make([]uint64, a.nparts), spilled: m.spilled}
	for p := range img.seqs {
		img.seqs[p] = binary.LittleEndian.Uint64(seqsB[8*p:])
	}
	for _, p := range a.own {
		if img.seqs[p] > cps[p] {
			return nil, fmt.Errorf("partition %d at sequence %d, ahead of its checkpoint %d", p, img.seqs[p], cps[p])
		}
	}
	// The whole checksum first, from the chunks' own (a small read), so
	// that nothing is allocated from a meta that is not the one written.
	sums, err := v.ChunkSums(ctx, a.partsKey(), gen)
	if err != nil {
		return nil, err
	}
	if len(sums) != chunks || snapshotSum(seqsB, metaB, sums) != sum {
		return nil, fmt.Errorf("checksum mismatch (%d of %d chunks)", len(sums), chunks)
	}
	pieces := uint64(m.filterPieces[0]) + uint64(m.filterPieces[1])
	if m.ranges == 0 || m.ranges&(m.ranges-1) != 0 || m.ranges > math.MaxUint32 || uint64(chunks) != m.ranges+pieces ||
		m.counts[0] > math.MaxInt32 || m.counts[1] > math.MaxInt32 || m.blocksPerPiece == 0 {
		return nil, fmt.Errorf("meta out of range: %+v, %d chunks", *m, chunks)
	}
	img.seen, img.viewers = tableFor(true, int(m.counts[0])), tableFor(false, int(m.counts[1]))
	for i := range 2 {
		if m.filterBlocks[i] == 0 {
			if m.spilled[i] {
				return nil, errors.New("spilled entries without their filter")
			}
			continue
		}
		if m.filterBlocks[i] > bloom.MaxBlocks || uint64(m.filterPieces[i]) != (uint64(m.filterBlocks[i])+uint64(m.blocksPerPiece)-1)/uint64(m.blocksPerPiece) {
			return nil, fmt.Errorf("filter of %d blocks in %d pieces", m.filterBlocks[i], m.filterPieces[i])
		}
		img.blooms[i] = &bloom.Filter{Blocks: make([][8]uint64, m.filterBlocks[i]), Keys: int(m.filterKeys[i])}
	}
	// A range's ids and viewer-days go into their two tables on two
	// goroutines, one each, while this one reads and checks the next
	// chunks: reading the chunks and inserting their entries each take
	// about half of a start's load, and a state's tables are hundreds of
	// megabytes (docs/PERFORMANCE.md, "Restart: the state's load"). The
	// chunks are copied into a few buffers used in turn, so the reads
	// allocate nothing new per chunk.
	type buffer struct {
		data  []byte
		users atomic.Int32 // the table fills still reading it
	}
	// part is a range's records of one table, in buf.
	type part struct {
		recs []byte
		buf  *buffer
	}
	const buffers = 4
	free := make(chan *buffer, buffers)
	for range buffers {
		free <- &buffer{}
	}
	parts := [2]chan part{make(chan part, buffers), make(chan part, buffers)}
	var wg sync.WaitGroup
	for i, t := range [2]*table{img.seen, img.viewers} {
		wg.Go(func() {
			for p := range parts[i] {
				t.fill(p.recs)
				if p.buf.users.Add(-1) == 0 {
					free <- p.buf // never blocks: free holds every buffer
				}
			}
		})
	}
	read := 0
	err = v.Chunks(ctx, a.partsKey(), gen, func(n int, chunkSum uint64, data []byte) error {
		if n != read || chunkSum != sums[n] {
			return fmt.Errorf("chunk %d missing or changed", read)
		}
		if xxhash.Sum64(data) != chunkSum {
			return fmt.Errorf("chunk %d: checksum mismatch", n)
		}
		read++
		img.bytes += int64(len(data))
		if uint64(n) >= m.ranges {
			if err := img.decodeFilter(n, m, data); err != nil {
				return fmt.Errorf("chunk %d: %w", n, err)
			}
			return nil
		}
		buf := <-free
		buf.data = append(buf.data[:0], data...)
		ids, vds, err := decodeRange(n, buf.data)
		if err != nil {
			free <- buf
			return fmt.Errorf("chunk %d: %w", n, err)
		}
		buf.users.Store(2)
		parts[0] <- part{ids, buf}
		parts[1] <- part{vds, buf}
		return nil
	})
	close(parts[0])
	close(parts[1])
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if read != chunks {
		return nil, fmt.Errorf("%d of %d chunks", read, chunks)
	}
	if uint64(img.seen.n) != m.counts[0] || uint64(img.viewers.n) != m.counts[1] {
		return nil, fmt.Errorf("%d ids and %d viewer-days, the meta says %d and %d", img.seen.n, img.viewers.n, m.counts[0], m.counts[1])
	}
	img.chunks = chunks
	return img, nil
}

// tableFor returns an empty table with room for n entries without growing.
func tableFor(set bool, n int) *table {
	t := &table{set: set}
	slots := minTableSlots
	for slots < 2*n {
		slots *= 2
	}
	t.alloc(slots)
	return t
}

// decodeRange checks range chunk n and returns its records: its ids (key,
// stamp) and its viewer-days (key, stamp, value), for table.fill.
func decodeRange(n int, b []byte) (ids, vds []byte, err error) {
	if len(b) < chunkHeaderBytes || b[0] != chunkRange || uint64(binary.LittleEndian.Uint32(b[1:])) != uint64(n) {
		return nil, nil, errors.New("not the range expected")
	}
	nids, nvds := int(binary.LittleEndian.Uint32(b[5:])), int(binary.LittleEndian.Uint32(b[9:]))
	b = b[chunkHeaderBytes:]
	if len(b) != nids*seenRecordBytes+nvds*viewerRecordBytes {
		return nil, nil, fmt.Errorf("%d bytes for %d ids and %d viewer-days", len(b), nids, nvds)
	}
	return b[:nids*seenRecordBytes], b[nids*seenRecordBytes:], nil
}

// fill puts records of a range chunk into t: ids into a set, viewer-days
// otherwise (decodeRange).
func (t *table) fill(b []byte) {
	if t.set {
		for ; len(b) >= seenRecordBytes; b = b[seenRecordBytes:] {
			t.put(binary.LittleEndian.Uint64(b), 0, binary.LittleEndian.Uint16(b[8:]), nil)
		}
		return
	}
	for ; len(b) >= viewerRecordBytes; b = b[viewerRecordBytes:] {
		t.put(binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[10:]), binary.LittleEndian.Uint16(b[8:]), nil)
	}
}

// decodeFilter adds filter piece n (a chunk after the ranges) to the
// image's filter.
func (img *snapshotImage) decodeFilter(n int, m *snapshotMeta, b []byte) error {
	piece := uint64(n) - m.ranges
	which, kind := 0, byte(chunkSeenFilter)
	if piece >= uint64(m.filterPieces[0]) {
		which, kind, piece = 1, chunkViewerFilter, piece-uint64(m.filterPieces[0])
	}
	bf := img.blooms[which]
	lo := piece * uint64(m.blocksPerPiece)
	if len(b) < 5 || b[0] != kind || bf == nil || uint64(binary.LittleEndian.Uint32(b[1:])) != lo {
		return errors.New("not the filter piece expected")
	}
	b = b[5:]
	hi := min(lo+uint64(m.blocksPerPiece), uint64(len(bf.Blocks)))
	if uint64(len(b)) != 64*(hi-lo) {
		return fmt.Errorf("filter piece of %d bytes", len(b))
	}
	for i := lo; i < hi; i++ {
		for w := range 8 {
			bf.Blocks[i][w] = binary.LittleEndian.Uint64(b)
			b = b[8:]
		}
	}
	return nil
}

// install makes the image the state, for the partitions own.
func (s *state) install(img *snapshotImage, own []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen, s.viewers = img.seen, img.viewers
	s.seenBloom, s.viewerBloom = img.blooms[0], img.blooms[1]
	s.spilledSeen, s.spilledViewers = img.spilled[0], img.spilled[1]
	s.bloomGen++
	for _, p := range own {
		s.seqs[p] = img.seqs[p]
	}
	s.loadedGen = img.gen
}

// LoadedFrom reports how the state was last loaded (LoadState, Run):
// whether from a snapshot, and the journal rows and entries replayed (after
// the snapshot, or the whole journal).
func (a *Aggregator) LoadedFrom() (snapshot bool, journalRows, journalEntries int) {
	a.st.mu.RLock()
	defer a.st.mu.RUnlock()
	return a.st.loadedGen != 0, a.st.replayRows, a.st.replayEntries
}

// SnapshotNow writes a complete snapshot of the state as it is, finishing
// the one in progress first, unless the latest snapshot already holds
// everything journalled. It is for a clean shutdown, once Run has
// returned having loaded the state (StateLoaded): the next start then
// loads the snapshot and replays no journal.
// A failure or ctx ending midway leaves the previous snapshot in place
// (the next start deletes the unfinished chunks).
func (a *Aggregator) SnapshotNow(ctx context.Context) (written bool, err error) {
	s := a.st
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	// The job in progress began from an older state; a second one takes
	// what was journalled since it began.
	for range 2 {
		if s.snap == nil {
			s.mu.RLock()
			pending := s.journalled
			s.mu.RUnlock()
			if pending == 0 {
				return written, nil
			}
			if err := a.startSnapshot(ctx); err != nil {
				return written, err
			}
		}
		for {
			done, _, err := a.snapshotChunk(ctx, s.snap)
			if err != nil {
				return written, err
			}
			if done {
				written = true
				break
			}
		}
	}
	return written, nil
}
