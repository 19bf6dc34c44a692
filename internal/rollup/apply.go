package rollup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/store"
)

// Dimensions of the one-way audience marginals.
const (
	DimSource  = "source"
	DimAge     = "age"
	DimGender  = "gender"
	DimCountry = "country"
)

// counters are the additive measures of one rollup row.
type counters struct {
	views, viewers, watchMS, completions, likes, comments, shares, saves, followersGained, followersLost int64
	// Bounded measures for protected mode.
	pViews, pCompletions, pWatchMS, sharers, savers int64
}

func (c *counters) add(o *counters) {
	c.views += o.views
	c.viewers += o.viewers
	c.watchMS += o.watchMS
	c.completions += o.completions
	c.likes += o.likes
	c.comments += o.comments
	c.shares += o.shares
	c.saves += o.saves
	c.followersGained += o.followersGained
	c.followersLost += o.followersLost
	c.pViews += o.pViews
	c.pCompletions += o.pCompletions
	c.pWatchMS += o.pWatchMS
	c.sharers += o.sharers
	c.savers += o.savers
}

// pair is what a row of an audience marginal adds: views and viewers. Its
// rows are most of a batch's (four dimensions, by day and by month, for
// videos and creators), so they carry these two alone, not counters.
type pair struct{ views, viewers int64 }

func (p *pair) add(o *pair) {
	p.views += o.views
	p.viewers += o.viewers
}

type timeKey struct {
	id string
	t  int64
}

// batch accumulates one transaction's deltas in memory, so each rollup row
// is written once per batch however many events touch it. Events are
// credited to their video (videos); finish then derives the creators' rows
// and the monthly marginals from the video rows, once per row rather than
// once per event.
type batch struct {
	videos   map[string]*videoAcc
	creators map[string][]string
	// minHour is the oldest hour that gets hourly rows: older hours are past
	// HourlyRetention (a history import), and live on in their days.
	minHour int64
	// codes and buckets name the audience buckets credited (code); rank
	// orders the codes as their names sort, and ranked names the ranks
	// (finishVideos).
	codes   map[string]uint32
	buckets []string
	rank    []uint32
	ranked  []string

	// The video tables' rows, in key order (finish).
	totals        []keyed[string, counters]
	videoHour     []keyed[timeKey, counters]
	videoDay      []keyed[timeKey, counters]
	videoDim      []store.AudienceRow
	videoDimMonth []store.AudienceRow // Period holds the month number; its creators' months are derived from it
	// accountDay is what events add to creators' days themselves (follows);
	// the rest of the creators' rows are their videos' (finishCreators).
	accountDay map[timeKey]*counters
	// The creators' tables' rows, in key order (finishCreators).
	accountHourRows, accountDayRows     []keyed[timeKey, counters]
	accountDimRows, accountDimMonthRows []store.AudienceRow
}

// videoAcc is one video's deltas in a batch. Most videos of a batch get
// one or two events (events spread over many videos and days), so a video's
// hours, days and audience buckets are short slices searched in turn, with
// no map of their own until they outgrow indexFrom (smallRows).
type videoAcc struct {
	total counters
	hours smallRows[int64, counters]
	days  smallRows[int64, counters]
	dims  smallRows[dimKey, pair]
}

// indexFrom is the number of rows past which smallRows index them by key
// instead of searching them in turn. A variable for tests.
var indexFrom = 16

// smallRows are a video's rows by key (an hour, a day, an audience
// bucket's dimKey), in the order first credited.
type smallRows[K comparable, V any] struct {
	rows  []keyedRow[K, V]
	index map[K]int32 // nil until there are more than indexFrom rows
}

type keyedRow[K comparable, V any] struct {
	k K
	c V
}

// at returns the row of k, added if missing. The pointer is good until the
// next at.
func (r *smallRows[K, V]) at(k K) *V {
	if r.index != nil {
		if i, ok := r.index[k]; ok {
			return &r.rows[i].c
		}
	} else {
		for i := range r.rows {
			if r.rows[i].k == k {
				return &r.rows[i].c
			}
		}
	}
	r.rows = append(r.rows, keyedRow[K, V]{k: k})
	n := len(r.rows) - 1
	switch {
	case r.index != nil:
		r.index[k] = int32(n)
	case n >= indexFrom:
		r.index = make(map[K]int32, 2*len(r.rows))
		for i := range r.rows {
			r.index[r.rows[i].k] = int32(i)
		}
	}
	return &r.rows[n].c
}

// dimKey packs an audience bucket's period (a day or a month number), its
// dimension and its bucket's code (batch.code) into one integer: equal
// keys, equal buckets. The period is the top 30 bits (signed), the
// dimension the next 2, the code the low 32.
type dimKey uint64

func packDim(period int64, dim uint8, code uint32) dimKey {
	return dimKey(uint64(period)<<34 | uint64(dim&3)<<32 | uint64(code))
}

func (k dimKey) period() int64 { return int64(k) >> 34 }
func (k dimKey) dim() uint8    { return uint8(k>>32) & 3 }
func (k dimKey) code() uint32  { return uint32(k) }

// dimRow is an audience bucket's row.
type dimRow = keyedRow[dimKey, pair]

// dimNames are the dimensions by index: the packed audience rows' order
// (store.AudienceDimensions), which is also the order rules gives a view's
// buckets in (DimSource, DimAge, DimGender, DimCountry).
var dimNames = store.AudienceDimensions

func newBatch() *batch {
	return &batch{
		videos: map[string]*videoAcc{}, creators: map[string][]string{},
		accountDay: map[timeKey]*counters{}, codes: map[string]uint32{},
	}
}

func at[K comparable, V any](m map[K]*V, k K) *V {
	c := m[k]
	if c == nil {
		c = new(V)
		m[k] = c
	}
	return c
}

// code returns the code of an audience bucket in this batch: buckets are
// few (sources, age ranges, genders, countries), and a code keys a bucket
// without hashing its name again.
func (b *batch) code(bucket string) uint32 {
	c, ok := b.codes[bucket]
	if !ok {
		c = uint32(len(b.buckets))
		b.codes[bucket] = c
		b.buckets = append(b.buckets, bucket)
	}
	return c
}

// credit adds d to the video's rows (and, in finish, to each creator's).
func (b *batch) credit(video string, creators []string, hour, day int64, d *counters, dims []dimDelta) {
	v := b.videos[video]
	if v == nil {
		v = &videoAcc{}
		b.videos[video] = v
		b.creators[video] = creators
	}
	v.total.add(d)
	if hour >= b.minHour {
		v.hours.at(hour).add(d)
	}
	v.days.at(day).add(d)
	for i := range dims {
		v.dims.at(packDim(day, dims[i].dim, b.code(dims[i].bucket))).add(&dims[i].c)
	}
}

// keyed is one row to write: its key and what it adds.
type keyed[K, V any] struct {
	k K
	c *V
}

// videoRows are the video tables' rows of some videos, in key order.
type videoRows struct {
	totals        []keyed[string, counters]
	hour, day     []keyed[timeKey, counters]
	dims, dimsMon []store.AudienceRow
}

// finishParallel is the fewest videos a batch splits between two
// goroutines to put in order. A variable for tests.
var finishParallel = 2048

// finishVideos puts the video tables' rows in key order, straight from
// the per-video maps, which are small, and sums the monthly marginals. A
// batch of many videos is done in two halves at once: the other core is
// often idle while aggregation runs (a history import), and the writer
// waits for these rows.
func (b *batch) finishVideos() {
	b.rankBuckets()
	videos := slices.Sorted(maps.Keys(b.videos))
	var r videoRows
	if len(videos) < finishParallel {
		r = b.videoRowsOf(videos)
	} else {
		var second videoRows
		var wg sync.WaitGroup
		half := len(videos) / 2
		wg.Go(func() { second = b.videoRowsOf(videos[half:]) })
		r = b.videoRowsOf(videos[:half])
		wg.Wait()
		r.totals = append(r.totals, second.totals...)
		r.hour = append(r.hour, second.hour...)
		r.day = append(r.day, second.day...)
		r.dims = append(r.dims, second.dims...)
		r.dimsMon = append(r.dimsMon, second.dimsMon...)
	}
	b.totals, b.videoHour, b.videoDay, b.videoDim, b.videoDimMonth = r.totals, r.hour, r.day, r.dims, r.dimsMon
}

// rankBuckets sets b.rank and b.ranked: the codes in the order of their
// buckets' names.
func (b *batch) rankBuckets() {
	b.ranked = slices.Sorted(slices.Values(b.buckets))
	b.rank = make([]uint32, len(b.buckets))
	for c, name := range b.buckets {
		r, _ := slices.BinarySearch(b.ranked, name)
		b.rank[c] = uint32(r)
	}
}

// videoRowsOf returns the rows of videos (sorted), reading b only.
func (b *batch) videoRowsOf(videos []string) videoRows {
	var nHours, nDays int
	for _, video := range videos {
		v := b.videos[video]
		nHours += len(v.hours.rows)
		nDays += len(v.days.rows)
	}
	r := videoRows{
		totals: make([]keyed[string, counters], 0, len(videos)),
		hour:   make([]keyed[timeKey, counters], 0, nHours),
		day:    make([]keyed[timeKey, counters], 0, nDays),
		dims:   make([]store.AudienceRow, 0, nDays),
		// Most videos' events of a batch are in one month.
		dimsMon: make([]store.AudienceRow, 0, len(videos)),
	}
	months := monthCache{}
	var monthly []dimRow // scratch, reused video to video
	for _, video := range videos {
		v := b.videos[video]
		r.totals = append(r.totals, keyed[string, counters]{video, &v.total})
		r.hour = appendTimes(r.hour, video, v.hours.rows)
		r.day = appendTimes(r.day, video, v.days.rows)
		// The buckets by rank from here on (the credit is over, and
		// the index is not read again), so that their keys sort as
		// their rows do.
		for i := range v.dims.rows {
			d := &v.dims.rows[i]
			d.k = packDim(d.k.period(), d.k.dim(), b.rank[d.k.code()])
		}
		sortDims(v.dims.rows)
		r.dims = b.appendPacked(r.dims, video, v.dims.rows)
		monthly = monthly[:0]
		for _, d := range v.dims.rows {
			monthly = append(monthly, dimRow{packDim(months.of(d.k.period()), d.k.dim(), d.k.code()), d.c})
		}
		sortDims(monthly)
		r.dimsMon = b.appendPacked(r.dimsMon, video, mergeDims(monthly))
	}
	return r
}

// appendTimes appends a video's rows by hour or day in time order. It sorts
// rows, which stay in place: the keyed rows point into them.
func appendTimes(dst []keyed[timeKey, counters], video string, rows []keyedRow[int64, counters]) []keyed[timeKey, counters] {
	slices.SortFunc(rows, func(x, y keyedRow[int64, counters]) int { return cmp.Compare(x.k, y.k) })
	for i := range rows {
		dst = append(dst, keyed[timeKey, counters]{timeKey{video, rows[i].k}, &rows[i].c})
	}
	return dst
}

// sortDims orders a video's audience buckets, keyed by rank, as their
// packed rows do: period, then dimension, then bucket. Packed keys compare
// as their parts do once the period's sign bit is flipped.
func sortDims(rows []dimRow) {
	slices.SortFunc(rows, func(x, y dimRow) int { return cmp.Compare(x.k^1<<63, y.k^1<<63) })
}

// mergeDims sums the rows of equal keys in sorted rows, in place.
func mergeDims(rows []dimRow) []dimRow {
	n := 0
	for i := range rows {
		if n > 0 && rows[n-1].k == rows[i].k {
			rows[n-1].c.add(&rows[i].c)
			continue
		}
		rows[n] = rows[i]
		n++
	}
	return rows[:n]
}

// monthCache remembers the month of each day asked.
type monthCache map[int64]int64

func (m monthCache) of(day int64) int64 {
	mo, ok := m[day]
	if !ok {
		mo = MonthOf(day)
		m[day] = mo
	}
	return mo
}

// appendPacked appends the packed audience rows of id's buckets rows
// (keyed by rank, sorted, keys distinct), one per period, in period order.
func (b *batch) appendPacked(dst []store.AudienceRow, id string, rows []dimRow) []store.AudienceRow {
	for _, d := range rows {
		if n := len(dst); n == 0 || dst[n-1].ID != id || dst[n-1].Period != d.k.period() {
			dst = append(dst, store.AudienceRow{ID: id, Period: d.k.period()})
		}
		p := &dst[len(dst)-1]
		p.Counts = append(p.Counts, store.AudienceCount{Dim: d.k.dim(), Bucket: b.ranked[d.k.code()], Views: d.c.views, Viewers: d.c.viewers})
	}
	return dst
}

type dimDelta struct {
	dim    uint8 // index in dimNames
	bucket string
	c      pair
}

// errRaced means another process applied batches since this one's state:
// the caller catches up and applies what is left.
type errRaced struct{}

func (e errRaced) Error() string {
	return "another aggregator advanced a checkpoint of this one's partitions"
}

// apply applies one batch of log messages in one transaction: dedupe by
// event id, distinct viewers, every rollup, the state journal and the
// checkpoints of the partitions this aggregator owns. If another process
// got there first (several processes on one PostgreSQL), it catches up
// from that process's journal and applies only the events of partitions
// whose checkpoints are behind them.
func (a *Aggregator) apply(ctx context.Context, msgs []eventlog.Delivered) error {
	if err := a.ensureCheckpoints(ctx); err != nil {
		return err
	}
	defer a.releaseIdle(msgs)
	for {
		err := a.applyOnce(ctx, msgs)
		var raced errRaced
		if !errors.As(err, &raced) {
			return err
		}
		cps, err := a.raced(ctx)
		if err != nil {
			return err
		}
		if err := a.catchUp(ctx, cps); err != nil {
			return err
		}
		lo, _ := a.span(a.st.seqs)
		a.applied.Store(max(a.applied.Load(), lo))
		i := 0
		for i < len(msgs) && msgs[i].Seq <= lo {
			i++
		}
		msgs = msgs[i:]
	}
}

// releaseIdle lets the decode buffers go once a batch, msgs, left nothing
// waiting in the log. Sized for the largest chunk, they hold about 28 MiB
// each at chunkBytes, full of pointers that every collection marks while
// aggregation is idle (a heap profile after a bulk load: 56 MB of 274 in
// use); under a backlog they are reused batch after batch, and the batch
// after a pause makes them again at its own size.
func (a *Aggregator) releaseIdle(msgs []eventlog.Delivered) {
	if len(msgs) > 0 && msgs[len(msgs)-1].Pending == 0 {
		a.evs = [2][]event.Event{}
	}
}

// chunkBytes bounds the log messages one chunk of a transaction decodes at
// once: a transaction may cover more messages than their events could be
// held decoded, so they are decoded, checked against the state and credited
// to the transaction's rows a chunk at a time. Later chunks see what earlier
// ones did through the transaction and the state delta. A variable for
// tests.
var chunkBytes = 8 << 20

func (a *Aggregator) applyOnce(ctx context.Context, msgs []eventlog.Delivered) error {
	if len(msgs) == 0 {
		return nil
	}
	// The batch's time is when the log stored its last message, not the
	// clock: replaying the journal then gives the same windows.
	batchAt := msgs[len(msgs)-1].Time
	if batchAt.IsZero() {
		batchAt = a.now()
	}
	last := msgs[len(msgs)-1].Seq
	if err := a.recoverHistory(ctx); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	// Aggregates and the checkpoint commit together, so a power failure
	// that loses this commit loses both, and the batch is applied again
	// from the log: the commit need not wait for an fsync.
	a.stages.lap(StageOther, &a.clock) // a retry's backoff, a catch-up
	tx, err := a.store.BeginRollup(ctx)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer tx.Rollback()
	a.committed = nil

	// Move the checkpoints first, from the sequences this process's state
	// reflects: on PostgreSQL the row locks order concurrent aggregators,
	// and the loser sees them moved.
	if err := a.advance(ctx, tx, last); err != nil {
		return err
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	sd := newDelta(batchAt, min(size, chunkBytes)/96) // a record with pseudonyms is about 100 bytes
	b := newBatch()
	b.minHour = int64(period.HourOf(batchAt)) - hoursOf(HourlyRetention)
	_, hi := a.span(a.st.seqs)
	events := 0
	var chunks [][]eventlog.Delivered
	for rest := msgs; len(rest) > 0; {
		n, size := 1, len(rest[0].Data)
		for n < len(rest) && size+len(rest[n].Data) <= chunkBytes {
			size += len(rest[n].Data)
			n++
		}
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	// Viewers' history is written on history.db's own writer where it
	// has one (history.go), else in the batch's transaction.
	var hw *historyWriter
	if a.store.HistoryApart() {
		if hw, err = a.startHistory(ctx, last); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
		defer hw.abort()
	}
	var credit crediting
	defer credit.wait() // the chunks' buffers are free again
	// A chunk is decoded on another goroutine while the writer does the
	// previous chunk's statements (applyChunk's prefetch), into the buffer
	// the chunk before that was credited from.
	var pending chan decoded
	decode := func(i int) {
		turn := a.evTurn
		a.evTurn ^= 1
		ch := make(chan decoded, 1)
		go func() { ch <- a.decodeChunk(chunks[i], hi, turn) }()
		pending = ch
	}
	defer func() {
		if pending != nil { // decoded for a chunk an error left unapplied
			d := <-pending
			clear(d.evs)
		}
	}()
	decode(0)
	for i := range chunks {
		a.stages.lap(StageJournal, &a.clock) // the first: the begin and the checkpoints
		d := <-pending
		a.stages.lap(StageDecode, &a.clock)
		pending = nil
		prefetch := func() {}
		if i+1 < len(chunks) {
			prefetch = func() { decode(i + 1) }
		}
		got, err := a.applyChunk(ctx, tx, hw, sd, b, d, &credit, prefetch)
		if err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
		events += got
	}
	// The video tables' rows are put in key order once the last chunk is
	// credited, on another goroutine, while the writer registers the days
	// and journals the state delta: the writer is the one thread every
	// batch waits for.
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		credit.wait()
		b.finishVideos()
	}()
	defer func() { <-finished }() // before credit.wait above, on an error
	if err := a.registerDays(ctx, tx, batchAt, sd); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	if len(sd.seen)+len(sd.viewers) > 0 {
		if err := journal(ctx, tx, last, a.parts, sd); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	a.stages.lap(StageJournal, &a.clock)
	if hw != nil {
		if err := hw.wait(); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
		a.stages.lap(StageHistory, &a.clock)
		if err := a.applyHistoryDelta(ctx, tx, hw.d); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
		a.startCommit(hw) // synced while the rows are written
		a.stages.lap(StageRows, &a.clock)
	}
	<-finished
	a.stages.lap(StageCredit, &a.clock)
	if err := a.write(ctx, tx, b, msgs[len(msgs)-1].Pending); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	a.stages.lap(StageRows, &a.clock)
	if hw != nil {
		if err := hw.committedWait(); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
		a.stages.lap(StageCommit, &a.clock)
		if err := betweenCommits(); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	// Commit gives the connection back: spilling writes through the write
	// connection.
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply batch: commit: %w", err)
	}
	a.historyAhead = false
	a.stages.lap(StageCommit, &a.clock)
	if a.committed != nil {
		a.committed()
		a.committed = nil
	}
	a.pending.Store(msgs[len(msgs)-1].Pending)
	spillErr, err := a.st.commit(ctx, a.store, sd, a.own, last)
	if err != nil {
		// The batch is committed; the next batch finds the checkpoint
		// ahead of this state and catches up from the journal.
		return fmt.Errorf("apply batch: %w", err)
	}
	a.applied.Store(last)
	a.metrics.applied(msgs, events)
	if spillErr != nil && ctx.Err() == nil {
		// The batch is applied; the entries stay in memory and the next
		// batch spills them (or, at the limit, fails until it can).
		a.lg.Warn("spill aggregation state", slog.Any("err", spillErr))
	}
	a.snapshotStep(ctx, len(sd.seen)+len(sd.viewers))
	a.stages.lap(StageAfter, &a.clock)
	return nil
}

// decoded is a chunk's events as decodeChunk decoded them, with each
// event's id key and, for a logged-in view, its viewer-day key (0 for the
// others), hashed once.
type decoded struct {
	evs         []event.Event
	keys, vkeys []uint64
}

// decodeChunk decodes the messages of one chunk into the events buffer
// a.evs[turn], dropping the events of partitions this aggregator does not
// own (or has applied already: hi is the highest checkpoint of its
// partitions), and hashes their keys. It reads the aggregator's partitions
// and checkpoints only, which no one changes while a batch is applied, so
// it runs beside the writer.
func (a *Aggregator) decodeChunk(msgs []eventlog.Delivered, hi uint64, turn int) decoded {
	// The events slices are reused from chunk to chunk: growing a fresh
	// one to a hundred thousand events costs more than decoding them. The
	// other buffer may be in use by the previous chunk's credit. A buffer
	// is made at the chunk's count of records, cheap to count (each has a
	// length prefix): grown from an estimate of bytes per record, it was
	// copied again and again, half of decode's CPU in the realistic
	// world's bulk phase, where the buffers go whenever the log is idle
	// (releaseIdle).
	evs := a.evs[turn][:0]
	n := 0
	for _, m := range msgs {
		for range event.Records(m.Data) {
			n++
		}
	}
	if cap(evs) < n {
		evs = make([]event.Event, 0, n)
	}
	// Events of partitions this aggregator does not own (single events of
	// every partition share messages), or that it has applied already (a
	// partition whose checkpoint another aggregator moved), are skipped.
	for _, m := range msgs {
		if len(m.Data) == 0 {
			// A message of another partition's subject, delivered without
			// its payload where the server cannot filter a consumer by
			// several subjects (eventlog.ConsumeSubjects): nothing of ours.
			continue
		}
		filter := !a.all || m.Seq <= hi
		for rec, err := range event.Records(m.Data) {
			evs = append(evs, event.Event{})
			ev := &evs[len(evs)-1]
			if err == nil {
				err = event.DecodeInto(ev, rec)
			}
			if err != nil {
				// Entries are validated before publishing, so this is a
				// bug; skip it loudly rather than wedge aggregation.
				a.lg.Error("skip malformed log entry", slog.Uint64("seq", m.Seq), slog.Any("err", err))
				evs = evs[:len(evs)-1]
				continue
			}
			if filter {
				if p := a.partitionOf(ev.PartitionKey()); !a.owns(p) || m.Seq <= a.st.seqs[p] {
					*ev = event.Event{}
					evs = evs[:len(evs)-1]
				}
			}
		}
	}
	a.evs[turn] = evs[:0] // as grown, for the chunk after next

	keys := make([]uint64, len(evs))
	vkeys := make([]uint64, len(evs)) // 0: not a viewer's view
	for i := range evs {
		keys[i] = idKey(evs[i].ID)
		if evs[i].Type == event.View && evs[i].ActorDay != "" {
			vkeys[i] = viewerKey(evs[i].VideoID, int64(period.DayOf(evs[i].TS)), evs[i].ActorDay)
		}
	}
	return decoded{evs: evs, keys: keys, vkeys: vkeys}
}

// applyChunk applies one chunk of a transaction's messages, decoded (d):
// it drops the events applied before, records the rest in the state delta
// sd and the transaction's tables, and credits what they add to b. It
// returns how many events were decoded for this aggregator.
//
// What the chunk's events add is credited to b in the background (credit),
// while the caller goes on with the next chunk: the caller waits for it
// before b is read, and before the chunk after next, which reuses this
// chunk's buffer. Once the credit has started (the previous chunk's is
// done, and its buffer free), prefetch is called: it starts decoding the
// next chunk into that buffer.
func (a *Aggregator) applyChunk(ctx context.Context, tx *store.RollupTx, hw *historyWriter, sd *delta, b *batch, d decoded, credit *crediting, prefetch func()) (int, error) {
	evs, keys, vkeys := d.evs, d.keys, d.vkeys
	credited := false
	defer func() {
		if !credited {
			clear(evs) // let the strings go
		}
	}()
	a.st.mu.RLock()
	if err := a.spillLookup(ctx, tx, sd, evs, keys, vkeys); err != nil {
		a.st.mu.RUnlock()
		return 0, err
	}
	// Dedupe: drop events applied before (a republished outbox row, a
	// retried ingestion batch) and repeats within this transaction.
	n := 0
	for i := range evs {
		if a.st.firstSeen(sd, keys[i]) {
			if n != i {
				evs[n], vkeys[n] = evs[i], vkeys[i]
			}
			n++
		}
	}
	fresh := evs[:n]
	newViewer := a.viewerDays(sd, fresh, vkeys[:n])
	a.st.mu.RUnlock()

	a.stages.lap(StageState, &a.clock)
	creators, err := a.creatorsOf(ctx, tx, fresh)
	if err != nil {
		return 0, fmt.Errorf("creators: %w", err)
	}
	counted, err := a.firsts(ctx, tx, fresh)
	if err != nil {
		return 0, fmt.Errorf("first shares and saves: %w", err)
	}
	noop, err := a.actorStates(ctx, tx, fresh)
	if err != nil {
		return 0, fmt.Errorf("like and save state: %w", err)
	}
	vdays := newViewerDays(fresh, newViewer)
	a.stages.lap(StageLookups, &a.clock)
	// The previous chunk's credit first: b takes one writer at a time.
	credit.wait()
	a.stages.lap(StageCredit, &a.clock)
	credited = true
	credit.start(func() {
		creditHook()
		a.credit(b, fresh, noop, newViewer, counted, creators)
		clear(evs) // let the strings go
	})
	prefetch()
	// The viewers' history is written while the chunk is credited: it
	// reads vdays, no longer the events.
	if hw != nil {
		hw.add(vdays)
		return len(evs), nil
	}
	if err := a.viewerHistory(ctx, tx, vdays); err != nil {
		return 0, err
	}
	a.stages.lap(StageHistory, &a.clock)
	return len(evs), nil
}

// credit adds what the events evs add to b: each event's delta (unless
// noop), given its viewer-day (newViewer), whether it is a counted first
// share or save (counted) and its video's creators.
func (a *Aggregator) credit(b *batch, evs []event.Event, noop map[int]bool, newViewer []viewerDelta, counted map[int]bool, creators map[string][]string) {
	for i := range evs {
		ev := &evs[i]
		if noop[i] {
			continue // a like of a liked video, an unsave of an unsaved one
		}
		hour, day := int64(period.HourOf(ev.TS)), int64(period.DayOf(ev.TS))
		if ev.Type == event.Follow || ev.Type == event.Unfollow {
			c := at(b.accountDay, timeKey{ev.CreatorID, day})
			if ev.Type == event.Follow {
				c.followersGained++
			} else {
				c.followersLost++
			}
			continue
		}
		d, dims, nd, ok := eventDelta(ev, newViewer[i], counted[i])
		if !ok {
			a.lg.Error("skip event of unknown type", slog.String("type", ev.Type))
			continue
		}
		b.credit(ev.VideoID, creators[ev.VideoID], hour, day, &d, dims[:nd])
	}
}

// betweenCommits runs between a batch's commit of history.db and its
// own: tests fail a batch there.
var betweenCommits = func() error { return nil }

// creditHook runs as a chunk's credit begins: tests slow the credit with
// it, so that it overlaps what runs beside it.
var creditHook = func() {}

// crediting is a chunk's credit running in the background (applyChunk).
type crediting struct{ done chan struct{} }

// start runs fn in the background; the previous one must have been waited
// for.
func (c *crediting) start(fn func()) {
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		fn()
	}()
}

// wait waits for the credit running, if any.
func (c *crediting) wait() {
	if c.done != nil {
		<-c.done
		c.done = nil
	}
}

// actorStates tracks the like and save state of each actor pseudonym and
// reports, by event index, the like/unlike/save/unsave events that change
// nothing.
func (a *Aggregator) actorStates(ctx context.Context, tx *store.RollupTx, evs []event.Event) (map[int]bool, error) {
	state := map[store.ActorKey]int{}
	var keys []store.ActorKey
	for i := range evs {
		kind := stateKind(evs[i].Type)
		if kind == "" || evs[i].Actor == "" {
			continue
		}
		k := store.ActorKey{VideoID: evs[i].VideoID, Kind: kind, Actor: evs[i].Actor}
		if _, ok := state[k]; !ok {
			state[k] = 0 // unless the table says otherwise
			keys = append(keys, k)
		}
	}
	noop := map[int]bool{}
	if len(keys) == 0 {
		return noop, nil
	}
	slices.SortFunc(keys, compareStateKeys)
	if err := tx.ActorStates(ctx, keys, func(k store.ActorKey, st int) { state[k] = st }); err != nil {
		return nil, err
	}
	before := maps.Clone(state)
	for i := range evs {
		kind := stateKind(evs[i].Type)
		if kind == "" || evs[i].Actor == "" {
			continue
		}
		k := store.ActorKey{VideoID: evs[i].VideoID, Kind: kind, Actor: evs[i].Actor}
		next, unchanged := toggleStep(state[k], evs[i].Type)
		if unchanged {
			noop[i] = true
			continue
		}
		state[k] = next
	}
	changed := slices.DeleteFunc(keys, func(k store.ActorKey) bool { return state[k] == before[k] })
	if err := tx.SetActorStates(ctx, changed, func(k store.ActorKey) int { return state[k] }); err != nil {
		return nil, err
	}
	return noop, nil
}

func compareStateKeys(x, y store.ActorKey) int {
	return cmp.Or(strings.Compare(x.VideoID, y.VideoID), strings.Compare(x.Kind, y.Kind), strings.Compare(x.Actor, y.Actor))
}

func stateKind(typ string) string {
	switch typ {
	case event.Like, event.Unlike:
		return "like"
	case event.Save, event.Unsave:
		return "save"
	}
	return ""
}

// MonthOf returns the month number (year*12 + month-1) of a Unix day.
func MonthOf(day int64) int64 { return int64(period.Day(day).Month()) }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// registerDays notes, for each day of the viewer-days in d, that journal
// rows from at on may hold its state (rollup_days.first_at), so compaction
// keeps them until the day is dropped.
func (a *Aggregator) registerDays(ctx context.Context, tx *store.RollupTx, at time.Time, d *delta) error {
	today := unixDay(at)
	days := map[int64]bool{}
	for _, e := range d.viewers {
		days[today-stampAge(dayStamp(today), e.day)] = true
	}
	if err := tx.RegisterDays(ctx, slices.Sorted(maps.Keys(days)), at.UnixMicro()); err != nil {
		return fmt.Errorf("register days: %w", err)
	}
	return nil
}

// viewerDelta is what a viewer-day adds in one batch: a new viewer, and
// the bounded views, completion and watch time.
type viewerDelta struct {
	newViewer                      bool
	pViews, pCompletions, pWatchMS int64
}

// viewerDays records each view against its viewer's daily pseudonym in d
// and returns, by event index, what the view adds: whether it is the
// viewer-day's first view of the video, and its views, completion and
// watch time within the per-viewer-day caps. vkeys are the events'
// viewer-day keys (0 for events that are not a viewer's view). The caller
// holds the state's read lock.
func (a *Aggregator) viewerDays(d *delta, evs []event.Event, vkeys []uint64) []viewerDelta {
	out := make([]viewerDelta, len(evs))
	b := a.bounds
	for i, k := range vkeys {
		if k == 0 {
			continue
		}
		ev := &evs[i]
		day := int64(period.DayOf(ev.TS))
		after, vd := viewerStep(a.st.viewer(d, k, day), ev, b)
		d.viewers[k] = viewerEntry{val: after, day: dayStamp(day)}
		out[i] = vd
	}
	return out
}

// firsts reports, by event index, the shares and saves that count in
// protected mode: the first share (or save) of the video by its actor, ever,
// and within the cap of counted firsts per (account, day), across all videos.
func (a *Aggregator) firsts(ctx context.Context, tx *store.RollupTx, evs []event.Event) (map[int]bool, error) {
	out := map[int]bool{}
	first := map[store.ActorKey]int{} // → index of the key's first event
	var keys []store.ActorKey
	for i := range evs {
		ev := &evs[i]
		if (ev.Type != event.Share && ev.Type != event.Save) || ev.Actor == "" {
			continue
		}
		k := store.ActorKey{VideoID: ev.VideoID, Kind: ev.Type, Actor: ev.Actor}
		if _, ok := first[k]; !ok {
			first[k] = i
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	slices.SortFunc(keys, compareStateKeys)
	var firstIdx []int // events that are their actor's first, in event order
	err := tx.InsertFirsts(ctx, keys, func(k store.ActorKey) { firstIdx = append(firstIdx, first[k]) })
	if err != nil {
		return nil, err
	}
	slices.Sort(firstIdx)

	// The per-(account, day) cap across all videos, counted in event order.
	// The counts are added to and read back in one statement: aggregators of
	// different partitions (an account's shares spread over them) may count
	// firsts of one account-day at once, and the row lock of the upsert
	// orders them, so the cap holds across them. The table keeps its old
	// name, creator_day_counts: its key is whatever cap pseudonym the event
	// carries (the account-day one, or for events logged before it the
	// retired creator-day one; the two never collide).
	type capKey struct{ accountDay, kind string }
	n := map[capKey]int64{} // firsts in this batch, then the count before it
	day := map[capKey]int64{}
	var capKeys []capKey
	for _, i := range firstIdx {
		if ev := &evs[i]; ev.AccountDay != "" {
			k := capKey{ev.AccountDay, ev.Type}
			if _, ok := n[k]; !ok {
				day[k] = int64(period.DayOf(ev.TS))
				capKeys = append(capKeys, k)
			}
			n[k]++
		}
	}
	slices.SortFunc(capKeys, func(x, y capKey) int {
		return cmp.Or(strings.Compare(x.accountDay, y.accountDay), strings.Compare(x.kind, y.kind))
	})
	counts := make([]store.DayCount, len(capKeys))
	for i, k := range capKeys {
		counts[i] = store.DayCount{AccountDay: k.accountDay, Kind: k.kind, Day: day[k], N: n[k]}
	}
	err = tx.AddDayCounts(ctx, counts, func(accountDay, kind string, total int64) {
		k := capKey{accountDay, kind}
		n[k] = total - n[k]
	})
	if err != nil {
		return nil, err
	}
	for _, i := range firstIdx {
		ev := &evs[i]
		if ev.AccountDay == "" {
			out[i] = true
			continue
		}
		k := capKey{ev.AccountDay, ev.Type}
		n[k]++
		out[i] = countsAsFirst(n[k], a.bounds)
	}
	return out, nil
}

// creatorsOf returns the creator account ids of the videos in evs, from a
// cache filled from the store.
func (a *Aggregator) creatorsOf(ctx context.Context, tx *store.RollupTx, evs []event.Event) (map[string][]string, error) {
	// The changes are read before the creators, in the same transaction,
	// which holds SQLite's write lock: no change can come between the two.
	changed, last, complete, exact, err := tx.CreatorsChanges(ctx, a.creatorsSeq)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if exact {
		if complete {
			for _, v := range changed {
				delete(a.creators, v)
			}
		} else {
			clear(a.creators)
		}
		a.creatorsSeq = last
	} else if now := a.now(); now.Sub(a.creatorsAt) >= CreatorsTTL || now.Before(a.creatorsAt) {
		clear(a.creators)
		a.creatorsAt = now
	}
	out := map[string][]string{}
	var missing []string
	for i := range evs {
		v := evs[i].VideoID
		if v == "" {
			continue
		}
		if _, ok := out[v]; ok {
			continue
		}
		if cs, ok := a.creators[v]; ok {
			out[v] = cs
			continue
		}
		out[v] = nil
		missing = append(missing, v)
	}
	err = tx.VideoCreators(ctx, missing, func(v, acct string) { out[v] = append(out[v], acct) })
	if err != nil {
		return nil, err
	}
	for v, cs := range out {
		a.creators[v] = cs
	}
	if over := len(a.creators) - creatorsCacheLimit; over > 0 {
		// Bound memory: drop a quarter of the limit more than is over,
		// in the map's order (which is no order: what is dropped is
		// read again from the store when a batch needs it).
		over += creatorsCacheLimit / 4
		for v := range a.creators {
			if over == 0 {
				break
			}
			delete(a.creators, v)
			over--
		}
	}
	return out, nil
}

// write adds every row of b (its video rows put in order by finishVideos)
// to its table, in key order so concurrent writers on PostgreSQL take row
// locks in one order: the videos' tables, then the creators'. The
// creators' rows are derived from the videos' on another goroutine while
// the videos' rows are written (the database's writer is one thread;
// deriving them was a fifth of aggregation's CPU), and deferred while
// pending messages follow the batch in the log (deferred.go).
func (a *Aggregator) write(ctx context.Context, tx *store.RollupTx, b *batch, pending uint64) error {
	creators := make(chan struct{})
	go func() {
		defer close(creators)
		b.finishCreators()
	}()
	w := tx.RowWriter(ctx)
	// A video's audience by month is not written (its days are summed,
	// store.AudienceSums); the batch's sums by month are its creators'.
	err := writeRows(w, b.totals, rowTables{hour: store.VideoHourTable, day: store.VideoDayTable, dayDims: store.VideoAudienceDayTable},
		b.videoHour, b.videoDay, b.videoDim, nil)
	<-creators
	if err != nil {
		return err
	}
	return a.writeCreators(ctx, tx, w, &creatorRows{b.accountHourRows, b.accountDayRows, b.accountDimRows, b.accountDimMonthRows}, pending)
}

// rowTables are the tables of a video's or a creator's rows.
type rowTables struct {
	hour, day          store.RollupTable
	dayDims, monthDims store.AudienceTable
}

// writeRows adds the videos' totals (if any), then the rows by hour, by
// day with their audience, and the audience by month (if any).
func writeRows(w *store.RowWriter, totals []keyed[string, counters], t rowTables, hours, days []keyed[timeKey, counters], dayDims, monthDims []store.AudienceRow) error {
	if err := store.AddRows(w, store.VideoTotalsTable, totals, counterArgs(store.VideoTotalsTable, func(k string, args []any) []any { return append(args, k) })); err != nil {
		return err
	}
	timeKeyArgs := func(k timeKey, args []any) []any { return append(args, k.id, k.t) }
	if err := store.AddRows(w, t.hour, hours, counterArgs(t.hour, timeKeyArgs)); err != nil {
		return err
	}
	dayKey := func(r keyed[timeKey, counters]) (string, int64) { return r.k.id, r.k.t }
	if err := store.AddDayRows(w, t.day, days, counterArgs(t.day, timeKeyArgs), dayKey, t.dayDims, dayDims); err != nil {
		return err
	}
	if len(monthDims) == 0 {
		return nil
	}
	return w.AddAudience(t.monthDims, monthDims)
}

// measures gives the counter of each measure (every field of counters).
var measures = [store.NumMeasures]func(*counters) *int64{
	store.MeasureViews: func(c *counters) *int64 { return &c.views }, store.MeasureViewers: func(c *counters) *int64 { return &c.viewers },
	store.MeasureWatchMS: func(c *counters) *int64 { return &c.watchMS }, store.MeasureCompletions: func(c *counters) *int64 { return &c.completions },
	store.MeasureLikes: func(c *counters) *int64 { return &c.likes }, store.MeasureComments: func(c *counters) *int64 { return &c.comments },
	store.MeasureShares: func(c *counters) *int64 { return &c.shares }, store.MeasureSaves: func(c *counters) *int64 { return &c.saves },
	store.MeasureFollowersGained: func(c *counters) *int64 { return &c.followersGained }, store.MeasureFollowersLost: func(c *counters) *int64 { return &c.followersLost },
	store.MeasurePViews: func(c *counters) *int64 { return &c.pViews }, store.MeasurePCompletions: func(c *counters) *int64 { return &c.pCompletions },
	store.MeasurePWatchMS: func(c *counters) *int64 { return &c.pWatchMS }, store.MeasureSharers: func(c *counters) *int64 { return &c.sharers },
	store.MeasureSavers: func(c *counters) *int64 { return &c.savers },
}

// counterArgs returns a function appending a row's key values (key) and
// then its counters of t's measures.
func counterArgs[K any](t store.RollupTable, key func(K, []any) []any) func(keyed[K, counters], []any) []any {
	ms := t.Measures()
	get := make([]func(*counters) *int64, len(ms))
	for i, m := range ms {
		get[i] = measures[m]
	}
	return func(r keyed[K, counters], args []any) []any {
		args = key(r.k, args)
		for _, g := range get {
			args = append(args, *g(r.c))
		}
		return args
	}
}
