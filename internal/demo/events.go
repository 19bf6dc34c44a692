package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// Engagement model. Each number is a rough likeness of what short-video
// platforms report publicly; none of them is load-bearing.
const (
	// loggedOut is the share of views by logged-out visitors.
	loggedOut = 0.12
	// likeBase and likeFinish make likes more likely on videos people
	// watch to the end.
	likeBase, likeFinish = 0.04, 0.10
	// commentRate, saveRate: per logged-in view.
	commentRate, saveRate = 0.012, 0.025
	// shareRate and viralShareRate: per logged-in view; a viral video's
	// viewers share more.
	shareRate, viralShareRate = 0.02, 0.05
	// cascadeShare is the share of all events that go to each viral
	// cascade: the burst of shared views one share of a viral video sets
	// off. With four viral videos of two or three cascades each, about a
	// tenth of the history.
	cascadeShare = 0.01
	// cascadeSpread is the mean delay of a cascade's views after the share
	// that started it: most come within hours.
	cascadeSpread = 3 * time.Hour
	// unlikeRate and unsaveRate: how often a like or save is undone later.
	unlikeRate, unsaveRate = 0.05, 0.10
	// maxCascadeDepth bounds how many hops a share cascade travels.
	maxCascadeDepth = 6
	// hotViewers is how many distinct accounts are sure to watch mia's
	// hot video this week: past the 100 viewers her audience panel needs.
	hotViewers = 150
)

// rhythm is the relative activity of each UTC hour: quiet in the European
// night, rising through the day and peaking in the evening.
var rhythm = []float64{5, 4, 3, 2, 2, 2, 2, 3, 4, 5, 5, 6, 7, 7, 7, 7, 8, 9, 11, 12, 12, 11, 9, 7}

var rhythmCum = cumulative(len(rhythm), func(h int) float64 { return rhythm[h] })

// generator produces a world's engagement. It draws what happens from one
// random stream and when it happens from another, so the counts of a seed
// never depend on the clock.
type generator struct {
	w      *World
	rs, rt *rand.Rand
	now    time.Time
	target int
	prefix string

	send  func([]client.Event) error
	batch []client.Event
	later []client.Event
	err   error
	n     int // events produced so far

	liked, saved map[uint64]bool
	sum          Summary
}

// Events generates the world's engagement: it calls send with batches of at
// most Config.Batch events, in an order that can be sent concurrently, and
// returns the events that must be sent only after all of those were
// accepted (unlikes and unsaves: they undo a like or a save, which must be
// in the log first). It stops at the first error of send.
func (w *World) Events(send func([]client.Event) error) (later []client.Event, s Summary, err error) {
	g := &generator{
		w:      w,
		rs:     rand.New(rand.NewPCG(w.cfg.Seed, 1)),
		rt:     rand.New(rand.NewPCG(w.cfg.Seed, 2)),
		now:    w.cfg.Now,
		target: w.cfg.Events,
		prefix: "demo" + strconv.FormatUint(w.cfg.Seed, 10) + "-",
		send:   send,
		liked:  map[uint64]bool{},
		saved:  map[uint64]bool{},
	}
	g.run()
	return g.later, g.sum, g.err
}

func (g *generator) run() {
	w := g.w
	// mia's hot video: enough distinct viewers this week for her audience
	// panel, then whatever popularity brings.
	for i := range min(hotViewers, len(w.viewers)) {
		g.session(w.hot, w.viewerIdx[i], choose(g.rs, sources), g.videoTime(w.hot), 0)
	}
	for vi, v := range w.videos {
		if !v.viral {
			continue
		}
		n := 2
		if vi == w.hot {
			n = 3
		}
		for range n {
			g.viralCascade(vi)
		}
	}
	for !g.full() {
		vi := sample(g.rs, w.videoCum)
		g.session(vi, g.viewer(), choose(g.rs, sources), g.videoTime(vi), 0)
	}
	if len(g.batch) > 0 && g.err == nil {
		g.err = g.send(g.batch)
		g.batch = nil
	}
	g.sum.Events = g.n
}

func (g *generator) full() bool { return g.err != nil || g.n >= g.target }

// viewer picks a viewer index, or -1 for a logged-out visitor.
func (g *generator) viewer() int {
	if g.rs.Float64() < loggedOut {
		return -1
	}
	return g.w.viewerIdx[sample(g.rs, g.w.viewerCum)]
}

// session is one view and what the viewer did next; a share may set off a
// cascade of shared views.
func (g *generator) session(vi, viewer int, source string, t time.Time, depth int) {
	v := &g.w.videos[vi]
	completed := g.rs.Float64() < v.finish
	watch := 300 + g.rs.Int64N(v.duration)
	if completed {
		watch = v.duration
		if g.rs.IntN(5) == 0 { // watched it again
			watch += g.rs.Int64N(v.duration)
		}
	}
	ev := g.event("view", vi, viewer, t)
	ev.Source, ev.WatchMS, ev.Completed = source, watch, completed
	g.emit(ev)
	g.sum.Views++
	if viewer < 0 {
		return
	}
	key := uint64(viewer)<<32 | uint64(vi)
	if g.rs.Float64() < likeBase+likeFinish*v.finish && !g.liked[key] {
		g.liked[key] = true
		at := g.after(t, 20*time.Second)
		g.emit(g.event("like", vi, viewer, at))
		g.sum.Likes++
		if g.rs.Float64() < unlikeRate {
			g.later = append(g.later, g.event("unlike", vi, viewer, g.after(at, 6*time.Hour)))
			g.n++
			g.sum.Unlikes++
		}
	}
	if g.rs.Float64() < commentRate {
		ev := g.event("comment", vi, viewer, g.after(t, 40*time.Second))
		ev.Text = pick(g.rs, comments)
		g.emit(ev)
		g.sum.Comments++
	}
	if g.rs.Float64() < saveRate && !g.saved[key] {
		g.saved[key] = true
		at := g.after(t, 25*time.Second)
		g.emit(g.event("save", vi, viewer, at))
		g.sum.Saves++
		if g.rs.Float64() < unsaveRate {
			g.later = append(g.later, g.event("unsave", vi, viewer, g.after(at, 48*time.Hour)))
			g.n++
			g.sum.Unsaves++
		}
	}
	rate := shareRate
	if v.viral {
		rate = viralShareRate
	}
	if g.rs.Float64() < rate {
		at := g.after(t, 30*time.Second)
		ev := g.event("share", vi, viewer, at)
		ev.Channel = choose(g.rs, channels)
		g.emit(ev)
		g.sum.Shares++
		g.cascade(vi, at, depth)
	}
}

// cascade is what an ordinary share sets off: a friend or two open it.
func (g *generator) cascade(vi int, t time.Time, depth int) {
	if depth >= maxCascadeDepth || g.full() {
		return
	}
	for range 1 + g.rs.IntN(2) {
		g.session(vi, g.viewer(), "shared", g.after(t, 45*time.Minute), depth+1)
	}
}

// viralCascade is one share of a viral video that took off: a burst of
// shared views within hours, whose viewers like, save and share in turn.
func (g *generator) viralCascade(vi int) {
	sharer := g.viewer()
	for sharer < 0 {
		sharer = g.viewer()
	}
	at := g.videoTime(vi)
	ev := g.event("share", vi, sharer, at)
	ev.Channel = choose(g.rs, channels)
	g.emit(ev)
	g.sum.Shares++
	g.sum.Cascades++
	size := int(float64(g.target) * cascadeShare * (0.5 + g.rs.Float64()))
	for range max(size, 20) {
		g.session(vi, g.viewer(), "shared", g.after(at, cascadeSpread), 1)
	}
}

func (g *generator) event(typ string, vi, viewer int, t time.Time) client.Event {
	ev := client.Event{ID: g.prefix + strconv.Itoa(g.n), Type: typ, VideoID: g.w.videos[vi].id, TS: t.Format(time.RFC3339)}
	if viewer >= 0 {
		ev.AccountID = g.w.viewers[viewer].id
	}
	return ev
}

func (g *generator) emit(ev client.Event) {
	g.n++
	if g.err != nil {
		return
	}
	g.batch = append(g.batch, ev)
	if len(g.batch) >= g.w.cfg.Batch {
		g.err = g.send(g.batch)
		g.batch = make([]client.Event, 0, g.w.cfg.Batch)
	}
}

// videoTime is when a view of video vi happens: most views come in the
// first days after it was published, the rest trickle in over its life;
// the hour follows the daily rhythm.
func (g *generator) videoTime(vi int) time.Time {
	v := &g.w.videos[vi]
	created := g.now.Add(-v.age)
	var off time.Duration
	if g.rt.Float64() < 0.65 {
		mean := min(36*time.Hour, v.age/2)
		off = time.Duration(g.rt.ExpFloat64() * float64(mean))
	}
	if off <= 0 || off >= v.age {
		off = time.Duration(g.rt.Int64N(int64(v.age) + 1))
	}
	t := created.Add(off)
	h := sample(g.rt, rhythmCum)
	t2 := t.Truncate(24 * time.Hour).Add(time.Duration(h)*time.Hour + time.Duration(g.rt.Int64N(int64(time.Hour))))
	if !t2.Before(created) && !t2.After(g.now) {
		t = t2
	}
	return t.Truncate(time.Second)
}

// after is a moment shortly after t (mean delay d), never after now.
func (g *generator) after(t time.Time, d time.Duration) time.Time {
	next := t.Add(time.Duration(math.Min(g.rt.ExpFloat64(), 20) * float64(d)))
	if next.After(g.now) {
		next = t.Add(time.Duration(g.rt.Float64() * float64(g.now.Sub(t))))
	}
	return next.Truncate(time.Second)
}
