// Package disclosure is the one place every number Crowd releases is read
// from: public counters, the analytics API, exports and Studio. Reports are
// built from what this package releases and nothing else.
//
// In exact mode it releases exact aggregates from the rollups, updated in
// real time. In protected mode (the default) it releases likes and comments
// (public actions) exactly, and views, viewers, shares, saves and every
// breakdown only as published noisy cells; until Protect gives it its noise
// keys, a protected layer releases none of those at all (see State).
package disclosure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// Layer is the disclosure layer.
type Layer struct {
	mode  config.Mode
	store *store.Store

	// Protected-mode release (see Protect).
	keys   *noise.Keyring
	policy Policy
	now    func() time.Time

	// The newest (day, hour) whose cells ReleaseDue has released for
	// every video: a pass over all videos runs only when it moves.
	dueMu   sync.Mutex
	dueDone [2]int64

	metrics *metrics // metrics.go
}

// New returns the disclosure layer for mode (config.Protected or
// config.Exact). A protected layer releases nothing private until Protect
// gives it its noise keys (StateProtectedNoKeys).
func New(mode config.Mode, s *store.Store) *Layer {
	return &Layer{mode: mode, store: s, metrics: newMetrics()}
}

// Mode returns the disclosure mode.
func (l *Layer) Mode() config.Mode { return l.mode }

// State is what a Layer releases: its mode, and in protected mode whether
// it can release noisy cells yet.
type State int

const (
	// StateExact is exact mode: exact aggregates, updated in real time.
	StateExact State = iota
	// StateProtected is protected mode releasing: Protect has given the
	// layer its noise keys, policy and clock. Likes, comments and followers
	// (public actions) are exact; views, viewers, watch time, completions,
	// shares, saves and every breakdown come only from noisy cells, each
	// published once its period has closed and the policy's delay passed.
	StateProtected
	// StateProtectedNoKeys is protected mode before Protect: no noise keys,
	// so no cell can be released, and the layer releases nothing private:
	// views, viewers, watch time, completions, shares, saves and
	// breakdowns read 0, no day is marked released, and the notice has no
	// bounds. Only likes, comments and followers (public) are released,
	// exactly. Every command that serves or imports calls Protect right
	// after New (internal/app, crowd import, crowd bench), so a running
	// Crowd is never in this state; tests that need no released cells are.
	StateProtectedNoKeys
)

// String names the state for logs and test failures.
func (s State) String() string {
	switch s {
	case StateExact:
		return string(config.Exact)
	case StateProtected:
		return string(config.Protected)
	case StateProtectedNoKeys:
		return "protected, not yet releasing"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// State returns the layer's state. A mode other than config.Exact counts as
// protected: the layer fails towards releasing less.
func (l *Layer) State() State {
	switch {
	case l.mode == config.Exact:
		return StateExact
	case l.keys == nil:
		return StateProtectedNoKeys
	default:
		return StateProtected
	}
}

// Notice describes how released numbers were produced. Every analytics
// response carries it as its "policy".
type Notice struct {
	Mode      config.Mode `json:"mode"`
	Estimates bool        `json:"estimates"`
	Released  string      `json:"released"`
	Summary   string      `json:"summary"`
	// Bounds are the contribution bounds of protected mode (nil in exact
	// mode): what one viewer-day can add at most, before noise. Readers
	// post-process released values with them (docs/PRIVACY.md, "What a
	// person reads"): a true watch time is at most WatchMSPerViewerDay per
	// viewer-day, so a noisy one above that is shown at that bound.
	Bounds *NoticeBounds `json:"bounds,omitempty"`
}

// NoticeBounds are the contribution bounds a Notice states.
type NoticeBounds struct {
	ViewsPerViewerDay   int64 `json:"views_per_viewer_day"`
	WatchMSPerViewerDay int64 `json:"watch_ms_per_viewer_day"`
}

// Notice returns the notice of the policy in force.
func (l *Layer) Notice() Notice {
	state := l.State()
	if state == StateExact {
		return Notice{
			Mode: config.Exact, Estimates: false, Released: "real time",
			Summary: "Exact counts, updated as events arrive. Audience breakdowns appear from 100 viewers, and small groups are folded into \"other\". Nobody's identity is ever shown.",
		}
	}
	n := Notice{
		Mode: config.Protected, Estimates: true, Released: "after each period closes",
		Summary: "Views, viewers, shares and saves are privacy-protected estimates: each day's numbers get a little random noise and are published only after the day has closed, so no single person's action can be told from them. Likes and comments are exact, since they are public.",
	}
	if state == StateProtected {
		n.Bounds = &NoticeBounds{ViewsPerViewerDay: l.policy.Bounds.ViewsPerViewerDay, WatchMSPerViewerDay: l.policy.Bounds.WatchMSPerViewerDay}
	}
	return n
}

// Counters are released additive measures for one period or a total: the
// measures of a rollup row (followers gained and lost for accounts only),
// once the disclosure layer has released them.
type Counters store.RollupCounters

// Add adds o to c.
func (c *Counters) Add(o Counters) { (*store.RollupCounters)(c).Add(store.RollupCounters(o)) }

// protect hides what protected mode does not release from exact rollups:
// until noisy cells are published, private-identity measures are withheld
// (zero), never exact.
func (l *Layer) protect(c *Counters) {
	if l.State() == StateExact {
		return
	}
	likes, comments, gained, lost := c.Likes, c.Comments, c.FollowersGained, c.FollowersLost
	*c = Counters{Likes: likes, Comments: comments, FollowersGained: gained, FollowersLost: lost}
}

// Scope selects whose numbers: a video, or a creator account (all its
// videos and its followers).
type Scope struct {
	VideoID   string
	AccountID string
}

// rollups returns the scope as the store names it.
func (s Scope) rollups() store.RollupScope { return store.RollupScope(s) }

// Day is one day's released numbers. Released is false for a day whose
// private numbers are not released yet (they read 0).
type Day struct {
	Day      time.Time
	Released bool
	Counters
}

// Daily returns the released numbers of each day from..to (UTC dates,
// inclusive), one entry per day, zeros included.
func (l *Layer) Daily(ctx context.Context, s Scope, from, to time.Time) ([]Day, error) {
	fromDay, toDay := int64(period.DayOf(from)), int64(period.DayOf(to))
	out := make([]Day, 0, toDay-fromDay+1)
	state := l.State()
	var lastReleased int64
	switch state {
	case StateExact:
		lastReleased = toDay
	case StateProtected:
		lastReleased = int64(l.lastReleasedDay(l.now()))
	case StateProtectedNoKeys:
		lastReleased = -1 << 62 // no day
	}
	for d := fromDay; d <= toDay; d++ {
		out = append(out, Day{Day: period.Day(d).Start(), Released: d <= lastReleased})
	}
	err := l.store.DailyRollups(ctx, s.rollups(), fromDay, toDay, func(d int64, rc store.RollupCounters) {
		c := Counters(rc)
		l.protect(&c)
		out[d-fromDay].Counters = c
	})
	if err != nil {
		return nil, err
	}
	if state != StateProtected {
		return out, nil
	}
	videos, err := l.videosOf(ctx, s)
	if err != nil {
		return nil, err
	}
	cells, err := l.cells(ctx, videos, granDay, fromDay, toDay, l.families(granDay, false))
	if err != nil {
		return nil, err
	}
	for id, v := range cells {
		if id.dim != "" {
			continue // breakdown cells of the same days
		}
		c := &out[id.period-fromDay].Counters
		switch id.metric {
		case "views":
			c.Views += v
		case "viewers":
			c.Viewers += v
		case "completions":
			c.Completions += v
		case "watch_s":
			c.WatchMS += v * 1000
		case "sharers":
			c.Shares += v
		case "savers":
			c.Saves += v
		}
	}
	return out, nil
}

// Hour is one hour's released numbers. Protected mode releases views
// only (hourly cells); exact mode has views, viewers, likes, comments,
// shares and saves, from which a report builds days in the reader's time
// zone. An hour's viewers are the viewer-days (of UTC days) whose first
// view fell in it. Watch time, completions and followers have no hourly
// rows and read 0.
type Hour struct {
	Hour time.Time
	Counters
}

// Hourly returns released numbers for each hour from..to (inclusive).
func (l *Layer) Hourly(ctx context.Context, s Scope, from, to time.Time) ([]Hour, error) {
	fromH, toH := int64(period.HourOf(from)), int64(period.HourOf(to))
	out := make([]Hour, 0, toH-fromH+1)
	for h := fromH; h <= toH; h++ {
		out = append(out, Hour{Hour: period.Hour(h).Start()})
	}
	switch l.State() {
	case StateProtectedNoKeys:
		return out, nil
	case StateProtected:
		videos, err := l.videosOf(ctx, s)
		if err != nil {
			return nil, err
		}
		cells, err := l.cells(ctx, videos, granHour, fromH, toH, l.families(granHour, false))
		if err != nil {
			return nil, err
		}
		for id, v := range cells {
			out[id.period-fromH].Views += v
		}
		return out, nil
	}
	err := l.store.HourlyRollups(ctx, s.rollups(), fromH, toH, func(h int64, c store.RollupCounters) {
		out[h-fromH].Counters = Counters(c)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Bucket is one bucket of a breakdown.
type Bucket struct {
	Bucket  string
	Views   int64
	Viewers int64
}

// Breakdown returns the released views and viewers of each bucket of each
// dimension (source, age, gender, country) over from..to. Shares and saves
// have no breakdown.
func (l *Layer) Breakdown(ctx context.Context, s Scope, from, to time.Time) (map[string][]Bucket, error) {
	out := map[string][]Bucket{}
	switch l.State() {
	case StateProtectedNoKeys:
		return out, nil
	case StateProtected:
		// Protected breakdowns count viewers (one per viewer-day and
		// bucket), traffic sources included.
		videos, err := l.videosOf(ctx, s)
		if err != nil {
			return nil, err
		}
		cells, err := l.cells(ctx, videos, granDay, int64(period.DayOf(from)), int64(period.DayOf(to)), l.families(granDay, true))
		if err != nil {
			return nil, err
		}
		sums := map[[2]string]int64{}
		for id, v := range cells {
			sums[[2]string{id.dim, id.bucket}] += v
		}
		for dim, buckets := range domains {
			for _, b := range buckets {
				if v, ok := sums[[2]string{dim, b}]; ok {
					out[dim] = append(out[dim], Bucket{Bucket: b, Views: v, Viewers: v})
				}
			}
		}
		return out, nil
	}
	// A creator's whole months come from the monthly sums, the rest from
	// days; a video's audience is kept by day only (store.AudienceSums).
	from, to = from.UTC(), to.UTC()
	firstFull := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !firstFull.Equal(from) {
		firstFull = firstFull.AddDate(0, 1, 0)
	}
	afterLastFull := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC) // first day of to's month
	if to.AddDate(0, 0, 1).Month() != to.Month() {
		afterLastFull = afterLastFull.AddDate(0, 1, 0) // to is a month's last day
	}
	// The buckets summed, in the order first met (sorted below), found by
	// (dimension, bucket): sized for every known bucket, so a report's
	// breakdown grows neither.
	type dimBucket struct {
		dim string
		b   Bucket
	}
	idx := make(map[[2]string]int, breakdownBuckets)
	all := make([]dimBucket, 0, breakdownBuckets)
	add := func(months bool, from, to int64) error {
		return l.store.AudienceSums(ctx, s.rollups(), months, from, to, func(dim, bucket string, views, viewers int64) {
			k := [2]string{dim, bucket}
			i, ok := idx[k]
			if !ok {
				i = len(all)
				idx[k] = i
				all = append(all, dimBucket{dim: dim, b: Bucket{Bucket: bucket}})
			}
			all[i].b.Views += views
			all[i].b.Viewers += viewers
		})
	}
	day := func(t time.Time) int64 { return int64(period.DayOf(t)) }
	if s.VideoID == "" && firstFull.Before(afterLastFull) {
		m0, m1 := period.MonthOf(firstFull), period.MonthOf(afterLastFull)-1
		if err := add(true, int64(m0), int64(m1)); err != nil {
			return nil, err
		}
		if from.Before(firstFull) {
			if err := add(false, day(from), day(firstFull)-1); err != nil {
				return nil, err
			}
		}
		if !to.Before(afterLastFull) {
			if err := add(false, day(afterLastFull), day(to)); err != nil {
				return nil, err
			}
		}
	} else if err := add(false, day(from), day(to)); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b dimBucket) int {
		return cmp.Or(strings.Compare(a.dim, b.dim), strings.Compare(a.b.Bucket, b.b.Bucket))
	})
	// Each dimension's buckets are a run of the sorted buckets: one array
	// holds them all.
	buckets := make([]Bucket, len(all))
	for i, start := 0, 0; i < len(all); i++ {
		buckets[i] = all[i].b
		if i+1 == len(all) || all[i+1].dim != all[i].dim {
			out[all[i].dim] = buckets[start : i+1 : i+1]
			start = i + 1
		}
	}
	return out, nil
}

// breakdownBuckets is how many buckets the known domains have.
var breakdownBuckets = func() int {
	n := 0
	for _, bs := range domains {
		n += len(bs)
	}
	return n
}()

// VideoTrend is one video's released views over a trend's window and
// over its baseline days.
type VideoTrend struct {
	VideoID string
	Today   int64 // views over the window
	Before  int64 // views over the baseline days
}

// TrendWindow is what a trend compares: the views of Start..End (whole
// hours) against those of the UTC days BaselineFrom..BaselineTo. In
// protected mode Start must be the start of a UTC day and the window that
// day: only daily cells are read.
type TrendWindow struct {
	Start, End               time.Time
	BaselineFrom, BaselineTo time.Time
}

// AccountVideoTrends returns the released views of each video the account
// created over the window and over the baseline days.
func (l *Layer) AccountVideoTrends(ctx context.Context, accountID string, w TrendWindow) ([]VideoTrend, error) {
	var out []VideoTrend
	b0, b1 := int64(period.DayOf(w.BaselineFrom)), int64(period.DayOf(w.BaselineTo))
	switch l.State() {
	case StateProtectedNoKeys:
		return out, nil
	case StateProtected:
		videos, err := l.videosOf(ctx, Scope{AccountID: accountID})
		if err != nil {
			return nil, err
		}
		d := int64(period.DayOf(w.Start))
		cells, err := l.cells(ctx, videos, granDay, min(d, b0), max(d, b1), []Family{l.family("views", "", granDay)})
		if err != nil {
			return nil, err
		}
		byVideo := map[string]*VideoTrend{}
		for id, v := range cells {
			if id.metric != "views" || id.dim != "" {
				continue
			}
			t := byVideo[id.video]
			if t == nil {
				t = &VideoTrend{VideoID: id.video}
				byVideo[id.video] = t
			}
			if id.period == d {
				t.Today += v
			}
			if id.period >= b0 && id.period <= b1 {
				t.Before += v
			}
		}
		for _, t := range byVideo {
			out = append(out, *t)
		}
		return out, nil
	}
	// Exact mode: the window's views come from hourly rows, the baseline's
	// from daily ones. A creator's videos are mostly quiet on any given
	// day, and each video's hourly rows sit on pages of their own, so the
	// daily rows are read first (one pass over the baseline's and the
	// window's days) and hourly rows only for the videos with views on the
	// window's days: a video without them has none in the window either.
	// What it costs is a B-tree seek per video and table, CPU in SQLite:
	// a creator with many videos has them read in parts at once, each on
	// a reader connection of its own, so the report takes the machine's
	// cores rather than one.
	h0, h1 := int64(period.HourOf(w.Start)), int64(period.HourOf(w.End))-1
	w0, w1 := int64(period.Hour(h0).Day()), int64(period.Hour(h1).Day())
	ids, err := l.store.CreatorVideoIDs(ctx, accountID)
	if err != nil {
		return nil, err
	}
	parts := min(runtime.GOMAXPROCS(0), (len(ids)+trendPartVideos-1)/trendPartVideos)
	if parts <= 1 {
		return l.videoTrends(ctx, ids, h0, h1, w0, w1, b0, b1)
	}
	found := make([][]VideoTrend, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		part := ids[i*len(ids)/parts : (i+1)*len(ids)/parts]
		wg.Go(func() { found[i], errs[i] = l.videoTrends(ctx, part, h0, h1, w0, w1, b0, b1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The parts are contiguous runs of the ids in order: so is the result.
	return slices.Concat(found...), nil
}

// trendPartVideos is the fewest videos worth a part of their own in a
// creator's trends (AccountVideoTrends).
const trendPartVideos = 200

// videoTrends returns the exact views of the videos (in id order) over
// the hours h0..h1 (whose days are w0..w1) and the days b0..b1, leaving out
// videos with none, in id order.
func (l *Layer) videoTrends(ctx context.Context, ids []string, h0, h1, w0, w1, b0, b1 int64) ([]VideoTrend, error) {
	byVideo := make(map[string]*VideoTrend, len(ids))
	var active []string // videos with views on the window's days
	err := l.store.VideoDayViews(ctx, ids, w0, w1, b0, b1, func(id string, windowDays, before int64) {
		byVideo[id] = &VideoTrend{VideoID: id, Before: before}
		if windowDays != 0 {
			active = append(active, id)
		}
	})
	if err != nil {
		return nil, err
	}
	err = l.store.HourlyViews(ctx, active, h0, h1, func(id string, views int64) {
		if t := byVideo[id]; t != nil {
			t.Today = views
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]VideoTrend, 0, len(byVideo))
	for _, t := range byVideo {
		if t.Today != 0 || t.Before != 0 {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(x, y VideoTrend) int { return strings.Compare(x.VideoID, y.VideoID) })
	return out, nil
}

// VideoCounts returns the public counters of videos: lifetime totals.
func (l *Layer) VideoCounts(ctx context.Context, ids []string) (map[string]platform.Counts, error) {
	out := make(map[string]platform.Counts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	err := l.store.VideoTotals(ctx, ids, func(id string, rc store.RollupCounters) {
		c := Counters(rc)
		l.protect(&c)
		out[id] = platform.Counts{Views: c.Views, Likes: c.Likes, Comments: c.Comments, Shares: c.Shares, Saves: c.Saves}
	})
	if err != nil {
		return nil, err
	}
	if l.State() == StateProtected {
		if err := l.publicCounters(ctx, ids, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// publicCounters fills protected views, shares and saves of public
// counters: the running maximum of the sum of the released daily cells,
// clamped at zero, so a counter never goes down though noise may be
// negative. Only released cells go in, so the counter moves once a day.
func (l *Layer) publicCounters(ctx context.Context, ids []string, out map[string]platform.Counts) error {
	var videos []store.VideoCreation
	for _, id := range ids {
		vs, err := l.videosOf(ctx, Scope{VideoID: id})
		if err != nil {
			return err
		}
		videos = append(videos, vs...)
	}
	last := int64(l.lastReleasedDay(l.now()))
	earliest := last
	for _, v := range videos {
		earliest = min(earliest, int64(period.DayOf(v.Created)))
	}
	fams := []Family{l.family("views", "", granDay), l.family("sharers", "", granDay), l.family("savers", "", granDay)}
	cells, err := l.cells(ctx, videos, granDay, earliest, last, fams)
	if err != nil {
		return err
	}
	type series struct{ views, shares, saves map[int64]int64 }
	per := map[string]*series{}
	for id, v := range cells {
		if id.dim != "" {
			continue
		}
		s := per[id.video]
		if s == nil {
			s = &series{map[int64]int64{}, map[int64]int64{}, map[int64]int64{}}
			per[id.video] = s
		}
		switch id.metric {
		case "views":
			s.views[id.period] = v
		case "sharers":
			s.shares[id.period] = v
		case "savers":
			s.saves[id.period] = v
		}
	}
	for _, v := range videos {
		c := out[v.ID]
		if s := per[v.ID]; s != nil {
			from := int64(period.DayOf(v.Created))
			c.Views, c.Shares, c.Saves = monotone(s.views, from, last), monotone(s.shares, from, last), monotone(s.saves, from, last)
		} else {
			c.Views, c.Shares, c.Saves = 0, 0, 0
		}
		out[v.ID] = c
	}
	return nil
}

// monotone is the running maximum of the prefix sums of daily values,
// clamped at zero.
func monotone(daily map[int64]int64, from, to int64) int64 {
	var sum, best int64
	for d := from; d <= to; d++ {
		sum += daily[d]
		best = max(best, sum)
	}
	return best
}

// family returns the policy's family of a metric, dimension and granularity.
func (l *Layer) family(metric, dim, gran string) Family {
	for _, f := range l.policy.Families {
		if f.Metric == metric && f.Dim == dim && f.Granularity == gran {
			return f
		}
	}
	panic("disclosure: no family " + metric + "/" + dim + "/" + gran) // a programming error: Validate checks the default families
}

// DistinctViewers returns, in exact mode, the distinct viewers of a video
// over from..to (UTC dates, inclusive), given its viewer-days over the same
// days (the sum of the daily viewers): viewer-days less those whose viewer
// had viewed the video on an earlier day of the range
// (rollup.ReturningViewers). Viewer-days from before exact mode (no
// history) each count as a viewer. In protected mode it returns false:
// distinct viewers over a range are not released.
func (l *Layer) DistinctViewers(ctx context.Context, videoID string, from, to time.Time, viewerDays int64) (int64, bool, error) {
	if l.State() != StateExact {
		return 0, false, nil
	}
	back, err := rollup.ReturningViewers(ctx, l.store, videoID, int64(period.DayOf(from)), int64(period.DayOf(to)))
	if err != nil {
		return 0, false, err
	}
	return max(viewerDays-back, 0), true, nil
}
