package rollup

import "github.com/crowd-dev/crowd/internal/event"

// The aggregation rules: what one event adds to its video's rows, given
// what the aggregation state says about it. They are pure functions of an
// event, a state value and the bounds, tested without a database
// (rules_test.go); apply.go looks the state up, feeds them and writes what
// they return. docs/PRIVACY.md ("Contribution bounds") states the bounds
// they enforce.

// viewerStep is a view's effect on its viewer-day (the viewer's views of
// one video on one day): the viewer-day's value after it, and what the view
// adds to the rows — whether it is the viewer-day's first view of the video,
// and its views, completion and watch time within the per-viewer-day
// bounds b.
func viewerStep(before viewerVal, ev *event.Event, b Bounds) (viewerVal, viewerDelta) {
	after := packViewer(before.views()+1, before.watchMS()+ev.WatchMS, before.completed() || ev.Completed)
	vd := viewerDelta{
		newViewer: before.views() == 0,
		pViews:    min(after.views(), b.ViewsPerViewerDay) - min(before.views(), b.ViewsPerViewerDay),
		pWatchMS:  min(after.watchMS(), b.WatchMSPerViewerDay) - min(before.watchMS(), b.WatchMSPerViewerDay),
	}
	if after.completed() && !before.completed() {
		vd.pCompletions = 1
	}
	return after, vd
}

// toggleStep is a like, unlike, save or unsave applied to its actor's state
// for the video (1 liked or saved, 0 not): the state after it, and whether
// the event changes nothing (a like of a liked video, an unsave of an
// unsaved one), in which case it counts nowhere.
func toggleStep(state int, typ string) (next int, noop bool) {
	want := 0
	if typ == event.Like || typ == event.Save {
		want = 1
	}
	return want, state == want
}

// countsAsFirst reports whether the n-th first share (or save) of an
// account-day, counted across all videos in event order (n from 1), moves a
// sharers (savers) cell: at most PerAccountDay of them do.
func countsAsFirst(n int64, b Bounds) bool { return n <= b.PerAccountDay }

// eventDelta is what ev adds to its video's rows: d for the video's hour,
// day and total rows, and for views the audience marginals (dims[:n]). vd is
// the view's viewer-day step (viewerStep; zero for a logged-out view or
// another type), counted whether a share or save is a counted first
// (countsAsFirst of the actor's first of the video). ok is false for events
// that add nothing to a video's rows: follows and unfollows (credited to
// their creator's day by the caller) and unknown types.
func eventDelta(ev *event.Event, vd viewerDelta, counted bool) (d counters, dims [len(dimNames)]dimDelta, n int, ok bool) {
	switch ev.Type {
	case event.View:
		d.views = 1
		d.watchMS = ev.WatchMS
		if ev.Completed {
			d.completions = 1
		}
		if vd.newViewer {
			d.viewers = 1
		}
		d.pViews, d.pCompletions, d.pWatchMS = vd.pViews, vd.pCompletions, vd.pWatchMS
		if ev.ActorDay == "" {
			// A logged-out view has no viewer to bound: it counts in exact
			// views only, never in protected numbers.
			d.pViews = 0
		}
		for i, bucket := range [len(dimNames)]string{ev.Source, orUnknown(ev.Age), orUnknown(ev.Gender), orUnknown(ev.Country)} {
			if i > 0 && ev.ActorDay == "" {
				// Logged-out views have no audience; they still count in
				// traffic sources.
				bucket = "unknown"
			}
			dims[i] = dimDelta{dim: uint8(i), bucket: bucket, c: pair{views: 1, viewers: d.viewers}}
		}
		return d, dims, len(dimNames), true
	case event.Like:
		d.likes = 1
	case event.Unlike:
		d.likes = -1
	case event.Comment:
		d.comments = 1
	case event.CommentDelete:
		d.comments = -1
	case event.Share:
		d.shares = 1
		if counted {
			d.sharers = 1
		}
	case event.Save:
		d.saves = 1
		if counted {
			d.savers = 1
		}
	case event.Unsave:
		d.saves = -1
	default:
		return d, dims, 0, false
	}
	return d, dims, 0, true
}
