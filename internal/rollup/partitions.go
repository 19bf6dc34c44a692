package rollup

import (
	"context"
	"fmt"
	"slices"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

// Aggregation is split by the event log's partitions (a video's events, and
// a creator's follows, all fall in one partition). Each partition has its
// own checkpoint row, "p<partition>": the last log sequence whose events of
// that partition are applied. An aggregator owns a set of partitions (all
// of them by default); it consumes their subjects and the mixed subject of
// single events, keeps the events of its partitions, and moves the
// checkpoints of all of them to the end of each batch, by compare-and-set.
// Several aggregators can so split the partitions between processes; and
// because every checkpoint is per partition, the split can change between
// runs (or two aggregators can even overlap: the one that finds a
// checkpoint moved catches up from the other's journal) without counting
// anything twice or skipping it.
//
// Every aggregator writes each batch's state changes as a journal row
// naming its partitions; one catching up reads the rows of the partitions
// it owns. What the state holds is keyed by video (event ids, viewer-days
// of a video), so a row's entries of other partitions are harmless in
// memory: their events never reach this aggregator. (An event id is
// deduplicated within its video's partition: a platform that reused one id
// for events of two videos in different partitions would have both counted
// by split aggregators, and the second dropped by one of all partitions.)

func checkpointName(p int) string { return store.CheckpointName(p) }

// SetPartitions restricts the aggregator to some of the log's partitions
// (before Run); nil or empty means all of them.
func (a *Aggregator) SetPartitions(parts []int) error {
	if len(parts) == 0 {
		a.own, a.all = allPartitions(a.nparts), true
		a.parts = nil
		return nil
	}
	own := slices.Clone(parts)
	slices.Sort(own)
	own = slices.Compact(own)
	if own[0] < 0 || own[len(own)-1] >= a.nparts {
		return fmt.Errorf("aggregate partitions %v: the event log has partitions 0 to %d", parts, a.nparts-1)
	}
	a.own, a.all = own, len(own) == a.nparts
	a.parts = nil
	if !a.all {
		a.parts = make([]byte, (a.nparts+7)/8)
		for _, p := range own {
			a.parts[p/8] |= 1 << (p % 8)
		}
	}
	return nil
}

// Partitions returns the partitions this aggregator owns.
func (a *Aggregator) Partitions() []int { return slices.Clone(a.own) }

func allPartitions(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// owns reports whether the aggregator owns partition p.
func (a *Aggregator) owns(p int) bool {
	if a.all {
		return true
	}
	return a.parts[p/8]&(1<<(p%8)) != 0
}

// rowOwns reports whether a journal row's partition bitmap (empty: all)
// includes partition p.
func rowOwns(parts []byte, p int) bool {
	return len(parts) == 0 || (p/8 < len(parts) && parts[p/8]&(1<<(p%8)) != 0)
}

// subjects returns the log subjects to consume: all (nil) when the
// aggregator owns every partition, else its partitions' and the mixed one.
func (a *Aggregator) subjects() []string {
	if a.all || a.log == nil {
		return nil
	}
	l, ok := a.log.(interface {
		Subject(p int) string
		MixedSubject() string
	})
	if !ok {
		return nil
	}
	out := make([]string, 0, len(a.own)+1)
	for _, p := range a.own {
		out = append(out, l.Subject(p))
	}
	return append(out, l.MixedSubject())
}

// ensureCheckpoints creates the checkpoint row of every partition, at 0.
func (a *Aggregator) ensureCheckpoints(ctx context.Context) error {
	if a.checkpointsReady.Load() {
		return nil
	}
	names := make([]string, 0, a.nparts)
	for _, p := range allPartitions(a.nparts) {
		names = append(names, checkpointName(p))
	}
	if err := a.store.EnsureCheckpoints(ctx, names); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	a.checkpointsReady.Store(true)
	return nil
}

// checkpoints reads the checkpoint of each partition this aggregator owns,
// indexed by partition (others are 0).
func (a *Aggregator) checkpoints(ctx context.Context) ([]uint64, error) {
	cps, err := a.store.Checkpoints(ctx, a.nparts)
	if err != nil {
		return nil, err
	}
	for p := range cps {
		if !a.owns(p) {
			cps[p] = 0
		}
	}
	return cps, nil
}

// span returns the lowest and highest of seqs over the owned partitions.
func (a *Aggregator) span(seqs []uint64) (lo, hi uint64) {
	for i, p := range a.own {
		if i == 0 || seqs[p] < lo {
			lo = seqs[p]
		}
		hi = max(hi, seqs[p])
	}
	return lo, hi
}

// advance moves the checkpoints of the owned partitions from where the
// state has them to last, or returns errRaced if another process moved
// any of them meanwhile.
func (a *Aggregator) advance(ctx context.Context, tx *store.RollupTx, last uint64) error {
	// Partitions already at or past last (caught up from another process's
	// batches beyond this one) stay where they are: a checkpoint never
	// moves back, and this batch's events of theirs were skipped.
	n := 0
	bySeq := map[uint64][]int{}
	for _, p := range a.own {
		if seq := a.st.seqs[p]; seq < last {
			bySeq[seq] = append(bySeq[seq], p)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	// A compare-and-set of each checkpoint from where the state has it
	// (on PostgreSQL, with the rows locked in one order first).
	moved, err := tx.MoveCheckpoints(ctx, last, bySeq)
	if err != nil {
		return fmt.Errorf("apply batch: checkpoint: %w", err)
	}
	if moved == int64(n) {
		return nil
	}
	// Another process moved some: the caller reads where they are once
	// this transaction (which moved the others) is rolled back.
	return errRaced{}
}

// raced reads the checkpoints another process moved, which can only have
// moved forward.
func (a *Aggregator) raced(ctx context.Context) ([]uint64, error) {
	cps, err := a.checkpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply batch: checkpoint: %w", err)
	}
	moved := false
	for _, p := range a.own {
		if cps[p] < a.st.seqs[p] {
			return nil, fmt.Errorf("apply batch: checkpoint of partition %d is %d, behind this aggregator's state %d", p, cps[p], a.st.seqs[p])
		}
		moved = moved || cps[p] > a.st.seqs[p]
	}
	if !moved {
		// The compare-and-set failed, yet nothing moved: rows are missing
		// (removed by hand?). Recreating them would apply everything again.
		return nil, fmt.Errorf("apply batch: the checkpoint rows of partitions %v are missing from rollup_checkpoint", a.own)
	}
	return cps, nil
}

// Lag returns how many log messages of its partitions this process has yet
// to apply: when it owns every partition, the stream's last sequence minus
// the last applied; otherwise the consumer's count of messages on its
// subjects after the last batch applied (a partition's messages that
// arrived since are counted once the consumer delivers them).
func (a *Aggregator) Lag(ctx context.Context) (uint64, error) {
	if !a.all {
		return a.pending.Load(), nil
	}
	info, err := a.log.Info(ctx)
	if err != nil {
		return 0, err
	}
	applied := a.Applied()
	if applied == 0 {
		if applied, err = a.Checkpoint(ctx); err != nil {
			return 0, err
		}
	}
	if info.LastSeq > applied {
		return info.LastSeq - applied, nil
	}
	return 0, nil
}

// partitionOf returns the partition of an event's partition key.
func (a *Aggregator) partitionOf(key string) int { return eventlog.PartitionOf(key, a.nparts) }

// Stalled returns the partitions whose subject in the log holds messages
// after their checkpoint while the checkpoint has not moved since the
// previous call: partitions that no process aggregates (every partition
// must be owned by some process's --aggregate-partitions), or whose
// aggregator is stuck. lastSeq returns the sequence of the newest message
// on a partition's subject (0 if none). The first call only takes note.
// Single events of every partition travel on the mixed subject, which
// every aggregator reads; a partition whose own subject is quiet is not
// reported however far behind it is.
func (a *Aggregator) Stalled(ctx context.Context, lastSeq func(ctx context.Context, p int) (uint64, error)) ([]int, error) {
	cps, err := a.store.Checkpoints(ctx, a.nparts)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	a.stallMu.Lock()
	defer a.stallMu.Unlock()
	prev := a.stallPrev
	a.stallPrev = cps
	if prev == nil {
		return nil, nil
	}
	var out []int
	for p := range a.nparts {
		if cps[p] != prev[p] {
			continue
		}
		last, err := lastSeq(ctx, p)
		if err != nil {
			return nil, err
		}
		if last > cps[p] {
			out = append(out, p)
		}
	}
	return out, nil
}
