package rollup

import (
	"testing"

	"github.com/crowd-dev/crowd/internal/event"
)

func TestViewerStep_Bounds(t *testing.T) {
	b := Bounds{ViewsPerViewerDay: 3, WatchMSPerViewerDay: 10_000, PerAccountDay: 2}
	var v viewerVal
	var sum viewerDelta
	viewers := 0
	for i := range 5 {
		ev := &event.Event{Type: event.View, WatchMS: 4_000, Completed: i == 1 || i == 3}
		var vd viewerDelta
		v, vd = viewerStep(v, ev, b)
		if vd.newViewer {
			viewers++
		}
		sum.pViews += vd.pViews
		sum.pWatchMS += vd.pWatchMS
		sum.pCompletions += vd.pCompletions
	}
	if viewers != 1 {
		t.Errorf("%d new viewers over one viewer-day's 5 views, want 1", viewers)
	}
	if sum.pViews != 3 || sum.pWatchMS != 10_000 || sum.pCompletions != 1 {
		t.Errorf("bounded sums %+v, want 3 views, 10,000 ms, 1 completion", sum)
	}
	if v.views() != 5 || v.watchMS() != 20_000 || !v.completed() {
		t.Errorf("state after 5 views: %d views, %d ms, completed %v", v.views(), v.watchMS(), v.completed())
	}
}

func TestToggleStep(t *testing.T) {
	for _, c := range []struct {
		state     int
		typ       string
		next      int
		unchanged bool
	}{
		{0, event.Like, 1, false},
		{1, event.Like, 1, true},
		{1, event.Unlike, 0, false},
		{0, event.Unlike, 0, true},
		{0, event.Save, 1, false},
		{0, event.Unsave, 0, true},
	} {
		next, unchanged := toggleStep(c.state, c.typ)
		if next != c.next || unchanged != c.unchanged {
			t.Errorf("toggleStep(%d, %s) = %d, %v; want %d, %v", c.state, c.typ, next, unchanged, c.next, c.unchanged)
		}
	}
}

func TestCountsAsFirst(t *testing.T) {
	b := Bounds{PerAccountDay: 3}
	for n, want := range map[int64]bool{1: true, 3: true, 4: false, 10: false} {
		if got := countsAsFirst(n, b); got != want {
			t.Errorf("countsAsFirst(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestEventDelta(t *testing.T) {
	view := &event.Event{Type: event.View, Source: "search", ActorDay: "d", WatchMS: 700, Completed: true, Age: "18-24", Gender: "", Country: "DE"}
	d, dims, n, ok := eventDelta(view, viewerDelta{newViewer: true, pViews: 1, pWatchMS: 700, pCompletions: 1}, false)
	if !ok || n != 4 || d.views != 1 || d.viewers != 1 || d.watchMS != 700 || d.completions != 1 || d.pViews != 1 || d.pCompletions != 1 {
		t.Fatalf("view: %+v, %d dims, ok %v", d, n, ok)
	}
	got := map[string]string{}
	for _, dd := range dims[:n] {
		got[dimNames[dd.dim]] = dd.bucket
		if dd.c.views != 1 || dd.c.viewers != 1 {
			t.Errorf("dim %s adds %+v", dimNames[dd.dim], dd.c)
		}
	}
	if got[DimSource] != "search" || got[DimAge] != "18-24" || got[DimGender] != "unknown" || got[DimCountry] != "DE" {
		t.Errorf("buckets %v", got)
	}

	// A logged-out view counts in exact views and traffic sources only.
	anon := &event.Event{Type: event.View, Source: "for_you", Age: "18-24", Country: "DE"}
	d, dims, n, _ = eventDelta(anon, viewerDelta{pViews: 1}, false)
	if d.pViews != 0 || d.views != 1 || d.viewers != 0 {
		t.Errorf("logged-out view adds %+v", d)
	}
	for _, dd := range dims[1:n] {
		if dd.bucket != "unknown" {
			t.Errorf("logged-out view has audience %s=%s", dimNames[dd.dim], dd.bucket)
		}
	}
	if dims[0].bucket != "for_you" {
		t.Errorf("logged-out view's source %q", dims[0].bucket)
	}

	for _, c := range []struct {
		typ     string
		counted bool
		want    counters
	}{
		{event.Like, false, counters{likes: 1}},
		{event.Unlike, false, counters{likes: -1}},
		{event.Comment, false, counters{comments: 1}},
		{event.CommentDelete, false, counters{comments: -1}},
		{event.Share, true, counters{shares: 1, sharers: 1}},
		{event.Share, false, counters{shares: 1}},
		{event.Save, true, counters{saves: 1, savers: 1}},
		{event.Unsave, false, counters{saves: -1}},
	} {
		d, _, n, ok := eventDelta(&event.Event{Type: c.typ}, viewerDelta{}, c.counted)
		if !ok || n != 0 || d != c.want {
			t.Errorf("%s (counted %v): %+v, %d dims, ok %v; want %+v", c.typ, c.counted, d, n, ok, c.want)
		}
	}
	if _, _, _, ok := eventDelta(&event.Event{Type: event.Follow}, viewerDelta{}, false); ok {
		t.Error("a follow adds to a video's rows")
	}
}
