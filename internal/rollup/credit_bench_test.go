package rollup

import (
	"log/slog"
	"testing"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/event"
)

// BenchmarkCredit measures the Go that turns a batch's events into its
// rows, off the database: crediting 100,000 events of the realistic world
// (100,000 videos, Zipf; 30 days; a creator per video) to a batch, then
// putting the videos' and the creators' rows in order (finishVideos,
// finishCreators). It runs beside aggregation's writer, which waits for it
// (the "credit" stage).
func BenchmarkCredit(b *testing.B) {
	const per = 100_000
	evs := worldEvents(per, 100_000, 30, 1_000_000, day0)
	vds := make([]viewerDelta, len(evs))
	creators := map[string][]string{}
	for i := range evs {
		if evs[i].Type == event.View {
			vds[i] = viewerDelta{newViewer: true, pViews: 1, pWatchMS: evs[i].WatchMS}
		}
		creators[evs[i].VideoID] = []string{"c" + evs[i].VideoID}
	}
	a := New(nil, nil, slog.New(slog.DiscardHandler), nil)
	var cpu int64
	for b.Loop() {
		cpu0 := cputime.Process()
		bt := newBatch()
		a.credit(bt, evs, nil, vds, nil, creators)
		bt.finishVideos()
		bt.finishCreators()
		cpu += int64(cputime.Process() - cpu0)
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/per/1000, "cpu-µs/event")
}
