package rollup

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestStageTimes applies two batches as Run does, with a pause between
// them, and checks that the thread's time is split between the stages:
// the pause is the log's, the batches' statements are the rows' and the
// commit's, and the stages add up to no more than the time that passed.
func TestStageTimes(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		a := setup(t, s)
		ctx := t.Context()
		ev := view("s1", "A", day0, "for_you")
		ev.Actor = "actor-a" // a logged-in view: its viewer's history is written
		start := time.Now()
		if err := a.applyRetrying(ctx, []eventlog.Delivered{msg(1, ev)}); err != nil {
			t.Fatal(err)
		}
		const pause = 50 * time.Millisecond
		time.Sleep(pause)
		ev2 := view("s2", "B", day0.Add(24*time.Hour), "following")
		ev2.Actor = "actor-b"
		if err := a.applyRetrying(ctx, []eventlog.Delivered{msg(2, ev2)}); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)

		got := a.StageTimes()
		var sum time.Duration
		for _, d := range got {
			sum += d
		}
		if got[StageLog] < pause {
			t.Errorf("log stage %v, want at least the pause between the batches (%v)", got[StageLog], pause)
		}
		for _, s := range []Stage{StageState, StageLookups, StageHistory, StageJournal, StageRows, StageCommit, StageAfter} {
			if got[s] <= 0 {
				t.Errorf("stage %v: %v, want the time the batches spent in it", s, got[s])
			}
		}
		if sum > elapsed {
			t.Errorf("stages add up to %v, more than the %v that passed: %v", sum, elapsed, got)
		}

		// The same times as a metric, one series a stage.
		reg := prometheus.NewRegistry()
		reg.MustRegister(a.Collectors(func() uint64 { return 0 })...)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		series := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "crowd_aggregation_thread_seconds_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "stage" {
						series[l.GetValue()] = m.GetCounter().GetValue()
					}
				}
			}
		}
		if len(series) != int(numStages) {
			t.Fatalf("metric has %d stages, want %d: %v", len(series), numStages, series)
		}
		if series["log"] < pause.Seconds() || series["rows"] <= 0 {
			t.Errorf("metric %v, want the log's pause and the rows' time", series)
		}
	})
}

func TestStageTimesString(t *testing.T) {
	var st StageTimes
	st[StageRows] = 3 * time.Second
	st[StageCommit] = time.Second
	st[StageState] = time.Millisecond // under half a percent: left out
	if got, want := st.String(), "rows 75%, commit 25% of 4.001s"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := st.Sub(st).String(); got != "no time yet" {
		t.Errorf("nothing: %q", got)
	}
}
