package rollup

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stage is a part of the work of aggregation's one thread, the thread every
// batch waits for. The thread's wall time is split between the stages (the
// goroutines beside it are not counted apart: the thread's waits for them
// are), so their shares say what stops aggregation: the log, the Go around
// the database, or the database's one writer.
type Stage int

const (
	// StageLog is waiting for the event log's next batch (and fetching it).
	StageLog Stage = iota
	// StageDecode is waiting for a chunk's events to be decoded and hashed
	// (they are decoded beside the previous chunk's statements).
	StageDecode
	// StageState is dedupe and distinct viewer-days: the in-memory state
	// and the lookups of its spilled entries.
	StageState
	// StageLookups is reading what the events need from the database:
	// videos' creators, first shares and saves, like and save states.
	StageLookups
	// StageHistory is viewers' history (exact mode's distinct viewers).
	StageHistory
	// StageCredit is waiting for the background credit of a chunk's
	// events to the batch's rows, and for the rows to be put in order.
	StageCredit
	// StageJournal is the begin of the transaction, the checkpoints,
	// the days' registry and the state journal.
	StageJournal
	// StageRows is writing the rollup rows.
	StageRows
	// StageCommit is the transaction's commit.
	StageCommit
	// StageAfter is what follows the commit: the in-memory state's commit
	// (and its spill) and the state's snapshot.
	StageAfter
	// StageOther is the rest: a failed batch's backoff, catching up with
	// another process's journal (scale-out).
	StageOther
	numStages
)

var stageNames = [numStages]string{"log", "decode", "state", "lookups", "history", "credit", "journal", "rows", "commit", "after", "other"}

func (s Stage) String() string { return stageNames[s] }

// stages accumulates the thread's wall time by stage.
type stages [numStages]atomic.Int64

// lap adds the time since *t to stage s and moves *t to now. A zero *t
// (a batch applied without Run, in tests) only starts the clock.
func (st *stages) lap(s Stage, t *time.Time) {
	now := time.Now()
	if !t.IsZero() {
		st[s].Add(int64(now.Sub(*t)))
	}
	*t = now
}

// StageTimes is the wall time of aggregation's thread by Stage.
type StageTimes [numStages]time.Duration

// StageTimes returns the wall time aggregation's thread has spent in each
// stage since the Aggregator was made.
func (a *Aggregator) StageTimes() StageTimes {
	var d StageTimes
	for i := range d {
		d[i] = time.Duration(a.stages[i].Load())
	}
	return d
}

// Sub returns the times of t less those of u: what passed between two
// looks.
func (t StageTimes) Sub(u StageTimes) StageTimes {
	for i := range t {
		t[i] -= u[i]
	}
	return t
}

// String gives each stage's share of the whole, largest first, those
// under half a percent left out: "rows 44%, commit 16%, …".
func (t StageTimes) String() string {
	var sum time.Duration
	for _, d := range t {
		sum += d
	}
	if sum <= 0 {
		return "no time yet"
	}
	order := make([]Stage, 0, numStages)
	for s := range numStages {
		if 200*t[s] >= sum {
			order = append(order, s)
		}
	}
	slices.SortStableFunc(order, func(x, y Stage) int { return cmp.Compare(t[y], t[x]) })
	var b strings.Builder
	for i, s := range order {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f%%", s, 100*t[s].Seconds()/sum.Seconds())
	}
	fmt.Fprintf(&b, " of %s", sum.Round(time.Millisecond))
	return b.String()
}

// stageCollectors returns a counter of seconds for each stage, one metric
// with a stage label.
func (a *Aggregator) stageCollectors() []prometheus.Collector {
	cs := make([]prometheus.Collector, numStages)
	for i := range cs {
		cs[i] = prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "crowd_aggregation_thread_seconds_total",
			Help:        "Wall time of aggregation's one thread (the one every batch waits for), by stage: log (waiting for the event log), decode, state (dedupe, viewer-days), lookups, history (viewers' history), credit, journal, rows (rollup rows), commit, after (the state's commit, spill and snapshot), other (backoff after a failure, catching up).",
			ConstLabels: prometheus.Labels{"stage": stageNames[i]},
		}, func() float64 { return time.Duration(a.stages[i].Load()).Seconds() })
	}
	return cs
}
