// Package analytics builds creator reports — a video's, an account's, the
// CSV export — only from what the disclosure layer releases. Totals are sums
// of released days; rates, percentages, rankings and thresholds are computed
// from released numbers only, so every surface agrees with every other.
package analytics

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
)

// Thresholds of the audience panel.
const (
	// AudienceMinViewers is the viewers a range needs before its audience
	// breakdown is shown (as Instagram and Facebook do).
	AudienceMinViewers = 100
	// BucketMinViewers folds smaller buckets into "other".
	BucketMinViewers = 10
	// TopCountries is how many countries are listed before "other".
	TopCountries = 10
)

// Ranges, in days, and which account type may ask for them.
const (
	PersonalMaxDays = 60
	BusinessMaxDays = 365
)

// Range is a span of whole UTC days, inclusive.
type Range struct {
	From time.Time `json:"-"`
	To   time.Time `json:"-"`
}

// Days returns the number of days in r.
func (r Range) Days() int { return int(r.To.Sub(r.From).Hours()/24) + 1 }

// MarshalJSON renders the range as dates.
func (r Range) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"from":%q,"to":%q,"days":%d}`, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), r.Days()), nil
}

// ParseRange reads range=7d|28d|60d|365d or from=&to= (YYYY-MM-DD) at today.
// The default is 28 days ending today. maxDays bounds custom ranges and
// presets alike (60 for personal accounts, 365 for business ones).
func ParseRange(preset, from, to string, today time.Time, maxDays int) (Range, error) {
	today = period.DayOf(today).Start()
	if preset != "" && (from != "" || to != "") {
		return Range{}, platform.Errorf(platform.EINVALID, "give either range or from and to, not both")
	}
	if from != "" || to != "" {
		if from == "" || to == "" {
			return Range{}, platform.Errorf(platform.EINVALID, "from and to go together")
		}
		f, err1 := time.Parse(time.DateOnly, from)
		t, err2 := time.Parse(time.DateOnly, to)
		if err1 != nil || err2 != nil {
			return Range{}, platform.Errorf(platform.EINVALID, "from and to must be dates as YYYY-MM-DD")
		}
		if t.Before(f) {
			return Range{}, platform.Errorf(platform.EINVALID, "from must not be after to")
		}
		if t.After(today) {
			return Range{}, platform.Errorf(platform.EINVALID, "to must not be in the future")
		}
		r := Range{From: f, To: t}
		if r.Days() > maxDays {
			return Range{}, rangeTooLong(maxDays)
		}
		return r, nil
	}
	days := 28
	switch preset {
	case "", "28d":
	case "7d":
		days = 7
	case "60d":
		days = 60
	case "365d":
		days = 365
	default:
		return Range{}, platform.Errorf(platform.EINVALID, "range must be 7d, 28d, 60d or 365d")
	}
	if days > maxDays {
		return Range{}, rangeTooLong(maxDays)
	}
	return Range{From: today.AddDate(0, 0, -(days - 1)), To: today}, nil
}

func rangeTooLong(maxDays int) error {
	if maxDays < BusinessMaxDays {
		return platform.Errorf(platform.EFORBIDDEN, "ranges longer than %d days are for business accounts", maxDays)
	}
	return platform.Errorf(platform.EINVALID, "ranges are at most %d days", maxDays)
}

// Totals are a report's totals.
//
// Viewers are distinct accounts over the range: given for a video's report
// in exact mode only. ViewerDays count each account once per video and day
// it viewed (one account watching on three days is three): the sum of the
// daily viewers, which is what protected mode releases (each day's cell
// has its own noise), and what an account's report adds over its videos.
type Totals struct {
	Views      int64  `json:"views"`
	Likes      int64  `json:"likes"`
	Comments   int64  `json:"comments"`
	Shares     int64  `json:"shares"`
	Saves      int64  `json:"saves"`
	Viewers    *int64 `json:"viewers,omitempty"`
	ViewerDays *int64 `json:"viewer_days,omitempty"`
	WatchMS    *int64 `json:"watch_ms,omitempty"`
}

// DayPoint is one day of the daily series. A video's day has Viewers, its
// distinct viewers that day; an account's day has ViewerDays, the sum of
// its videos' viewers that day (an account watching two of its videos
// counts twice).
type DayPoint struct {
	Date       string `json:"date"`
	Released   bool   `json:"released"`
	Views      int64  `json:"views"`
	Likes      int64  `json:"likes"`
	Comments   int64  `json:"comments"`
	Shares     int64  `json:"shares"`
	Saves      int64  `json:"saves"`
	Viewers    *int64 `json:"viewers,omitempty"`
	ViewerDays *int64 `json:"viewer_days,omitempty"`
}

// HourPoint is one hour of views.
type HourPoint struct {
	Hour  string `json:"hour"`
	Views int64  `json:"views"`
}

// Share is one bucket of a breakdown with its share of the whole.
type Share struct {
	Key     string `json:"key"`
	Count   int64  `json:"count"`
	Percent int    `json:"percent"`
}

// Audience is the audience panel, or why it is withheld.
type Audience struct {
	Available bool    `json:"available"`
	Reason    string  `json:"reason,omitempty"`
	Age       []Share `json:"age,omitempty"`
	Gender    []Share `json:"gender,omitempty"`
	Countries []Share `json:"countries,omitempty"`
}

// Trend compares the views of a recent window with the average day of the
// days before, in place of milestone notifications. Like is compared with
// like: a whole window of 24 hours against whole days.
//
//   - Protected mode: the window is the newest released UTC day (the day
//     before yesterday until yesterday's cells are released at 06:00 UTC),
//     the baseline the 7 UTC days before it.
//   - Exact mode: the window is the last 24 hours, the 24 hourly rows
//     ending with the current one (so far), the baseline the 7 UTC days
//     before the day the window starts in (none of the window's hours are
//     in the baseline).
//
// The trend does not depend on the report's range or time zone. Today is
// the window's views: the name is older than the window, which the
// response states (Window, Baseline) so that a reader can label it.
type Trend struct {
	Today         int64 `json:"today"`
	RecentAverage int64 `json:"recent_average"`
	ChangePercent *int  `json:"change_percent,omitempty"`
	// Window is the span Today covers: [start, end).
	Window Span `json:"window"`
	// Baseline are the UTC days RecentAverage averages.
	Baseline Dates `json:"baseline"`
}

// Span is a span of time, [Start, End), rendered as RFC 3339 UTC.
type Span struct {
	Start time.Time `json:"-"`
	End   time.Time `json:"-"`
}

// MarshalJSON renders the span as {"start": …, "end": …}.
func (s Span) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"start":%q,"end":%q}`, s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339)), nil
}

// Dates are whole days from..to, inclusive.
type Dates struct {
	From time.Time `json:"-"`
	To   time.Time `json:"-"`
}

// MarshalJSON renders the days as {"from": YYYY-MM-DD, "to": YYYY-MM-DD}.
func (d Dates) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"from":%q,"to":%q}`, d.From.Format(time.DateOnly), d.To.Format(time.DateOnly)), nil
}

// Followers is follower growth over the range.
type Followers struct {
	Gained int64 `json:"gained"`
	Lost   int64 `json:"lost"`
	Net    int64 `json:"net"`
}

// RisingVideo is a video whose views over the trend's window beat its
// average day of the trend's baseline.
type RisingVideo struct {
	VideoID       string `json:"video_id"`
	Today         int64  `json:"today"`
	RecentAverage int64  `json:"recent_average"`
}

// Report is a video's or an account's analytics.
type Report struct {
	VideoID string            `json:"video_id,omitempty"`
	Account string            `json:"account,omitempty"`
	Detail  string            `json:"detail"` // personal or business
	Range   Range             `json:"range"`
	Policy  disclosure.Notice `json:"policy"`
	Totals  Totals            `json:"totals"`
	Daily   []DayPoint        `json:"daily"`
	Hourly  []HourPoint       `json:"hourly"`
	Trend   Trend             `json:"trend"`
	// DayBoundaries say where the daily series' days begin and end.
	DayBoundaries DayBoundaries `json:"day_boundaries"`
	GeneratedAt   time.Time     `json:"generated_at"`

	// Business detail. Viewers and ViewerDays as in Totals.
	Viewers        *int64        `json:"viewers,omitempty"`
	ViewerDays     *int64        `json:"viewer_days,omitempty"`
	AvgWatchMS     *int64        `json:"avg_watch_ms,omitempty"`
	CompletionRate *float64      `json:"completion_rate,omitempty"`
	TrafficSources []Share       `json:"traffic_sources,omitempty"`
	Audience       *Audience     `json:"audience,omitempty"`
	Followers      *Followers    `json:"followers,omitempty"`
	RisingVideos   []RisingVideo `json:"rising_videos,omitempty"`
}

// Builder builds reports from the disclosure layer.
type Builder struct {
	Layer *disclosure.Layer
	Now   func() time.Time
}

// Request selects a report.
type Request struct {
	Scope    disclosure.Scope
	Range    Range
	Business bool
	Handle   string // for account reports
	// Zone is the reader's time zone (the tz parameter); nil is UTC. It
	// sets the days of the daily series in exact mode (zone.go).
	Zone *time.Location
}

// Build builds the report of req.
func (b *Builder) Build(ctx context.Context, req Request) (*Report, error) {
	now := b.Now().UTC()
	exact := b.Layer.Mode() == config.Exact
	tw := trendWindow(b.Layer, now, exact)
	rep := &Report{VideoID: req.Scope.VideoID, Range: req.Range, Policy: b.Layer.Notice(), GeneratedAt: now, Detail: platform.TypePersonal}
	if req.Scope.AccountID != "" {
		rep.Account = req.Handle
	}
	if req.Business {
		rep.Detail = platform.TypeBusiness
	}
	plan := planDays(req.Range, req.Zone, now, exact)
	rep.DayBoundaries = plan.boundaries

	// UTC days: the range's (its days before plan.local, and every
	// range-wide figure), and the trend's.
	from, to := req.Range.From, req.Range.To
	if tw.BaselineFrom.Before(from) {
		from = tw.BaselineFrom
	}
	if last := period.DayOf(tw.End.Add(-time.Hour)).Start(); last.After(to) {
		to = last
	}
	days, err := b.Layer.Daily(ctx, req.Scope, from, to)
	if err != nil {
		return nil, fmt.Errorf("daily: %w", err)
	}
	// Hours: the last 48 for the chart, and those of the days built in
	// the reader's time zone.
	hoursFrom := now.Add(-47 * time.Hour)
	if plan.local < req.Range.Days() && plan.start[0].Before(hoursFrom) {
		hoursFrom = plan.start[0]
	}
	hours, err := b.Layer.Hourly(ctx, req.Scope, hoursFrom, now)
	if err != nil {
		return nil, fmt.Errorf("hourly: %w", err)
	}
	chart := hours[len(hours)-48:]
	rep.Hourly = make([]HourPoint, len(chart))
	for i, h := range chart {
		rep.Hourly[i] = HourPoint{Hour: h.Hour.Format(time.RFC3339), Views: h.Views}
	}

	// The trend.
	var baseline int64
	rep.Trend.Window = Span{Start: tw.Start, End: tw.End}
	rep.Trend.Baseline = Dates{From: tw.BaselineFrom, To: tw.BaselineTo}
	for _, d := range days {
		if !d.Day.Before(tw.BaselineFrom) && !d.Day.After(tw.BaselineTo) {
			baseline += d.Views
		}
		if !exact && d.Day.Equal(tw.Start) {
			rep.Trend.Today = d.Views
		}
	}
	if exact {
		for _, h := range hours {
			if !h.Hour.Before(tw.Start) && h.Hour.Before(tw.End) {
				rep.Trend.Today += h.Views
			}
		}
	}
	rep.Trend.RecentAverage = baseline / 7
	if rep.Trend.RecentAverage > 0 {
		rep.Trend.ChangePercent = ptr(int((rep.Trend.Today - rep.Trend.RecentAverage) * 100 / rep.Trend.RecentAverage))
	}

	// The daily series: UTC days up to plan.local, then the reader's days,
	// each the sum of its hours. Range-wide figures (watch time,
	// completions, followers, distinct viewers, breakdowns) are those of
	// the UTC days of the range's dates, which have them.
	var total, utc disclosure.Counters
	rep.Daily = make([]DayPoint, 0, req.Range.Days())
	for _, d := range days {
		if d.Day.Before(req.Range.From) || d.Day.After(req.Range.To) {
			continue
		}
		utc.Add(d.Counters)
		i := len(rep.Daily)
		c := d.Counters
		if i >= plan.local {
			c = disclosure.Counters{}
			start, end := plan.start[i-plan.local], plan.start[i-plan.local+1]
			for _, h := range hours {
				if !h.Hour.Before(start) && h.Hour.Before(end) {
					c.Add(h.Counters)
				}
			}
		}
		total.Add(c)
		p := DayPoint{Date: d.Day.Format(time.DateOnly), Released: d.Released, Views: c.Views, Likes: c.Likes, Comments: c.Comments, Shares: c.Shares, Saves: c.Saves}
		if req.Business && req.Scope.VideoID != "" {
			p.Viewers = ptr(c.Viewers)
		} else if req.Business {
			p.ViewerDays = ptr(c.Viewers)
		}
		rep.Daily = append(rep.Daily, p)
	}
	rep.Totals = Totals{Views: total.Views, Likes: total.Likes, Comments: total.Comments, Shares: total.Shares, Saves: total.Saves}

	if !req.Business {
		return rep, nil
	}
	rep.Totals.ViewerDays, rep.Totals.WatchMS = ptr(total.Viewers), ptr(utc.WatchMS)
	rep.ViewerDays = ptr(total.Viewers)
	audienceViewers := total.Viewers
	if req.Scope.VideoID != "" {
		n, ok, err := b.Layer.DistinctViewers(ctx, req.Scope.VideoID, req.Range.From, req.Range.To, utc.Viewers)
		if err != nil {
			return nil, fmt.Errorf("distinct viewers: %w", err)
		}
		if ok {
			rep.Totals.Viewers, rep.Viewers = ptr(n), ptr(n)
			audienceViewers = n
		}
	}
	if utc.Views > 0 {
		rep.AvgWatchMS = ptr(utc.WatchMS / utc.Views)
		// Protected completions and views are noisy cells of their own:
		// their ratio is clamped into 0..1, the rate's domain.
		rep.CompletionRate = ptr(float64(min(max(utc.Completions, 0), utc.Views)*1000/utc.Views) / 1000)
	}
	dims, err := b.Layer.Breakdown(ctx, req.Scope, req.Range.From, req.Range.To)
	if err != nil {
		return nil, fmt.Errorf("breakdown: %w", err)
	}
	rep.TrafficSources = shares(dims["source"], func(b disclosure.Bucket) int64 { return b.Views }, 0, 0)
	rep.Audience = audience(audienceViewers, dims)
	if req.Scope.AccountID != "" {
		rep.Followers = &Followers{Gained: utc.FollowersGained, Lost: utc.FollowersLost, Net: utc.FollowersGained - utc.FollowersLost}
		trends, err := b.Layer.AccountVideoTrends(ctx, req.Scope.AccountID, tw)
		if err != nil {
			return nil, fmt.Errorf("rising videos: %w", err)
		}
		rep.RisingVideos = rising(trends)
	}
	return rep, nil
}

// trendWindow returns the trend's window and baseline at now (see Trend).
func trendWindow(l *disclosure.Layer, now time.Time, exact bool) disclosure.TrendWindow {
	if exact {
		h := period.HourOf(now)
		start := (h - 23).Start()
		day := (h - 23).Day().Start()
		return disclosure.TrendWindow{Start: start, End: (h + 1).Start(), BaselineFrom: day.AddDate(0, 0, -7), BaselineTo: day.AddDate(0, 0, -1)}
	}
	day := l.LastReleasedDay(now) // midnight UTC
	return disclosure.TrendWindow{Start: day, End: day.AddDate(0, 0, 1), BaselineFrom: day.AddDate(0, 0, -7), BaselineTo: day.AddDate(0, 0, -1)}
}

func ptr[T any](v T) *T { return &v }

// audience builds the audience panel: shown only from AudienceMinViewers
// viewers, each dimension with buckets below BucketMinViewers folded into
// "other", countries limited to the top TopCountries.
func audience(viewers int64, dims map[string][]disclosure.Bucket) *Audience {
	if viewers < AudienceMinViewers {
		return &Audience{Reason: fmt.Sprintf("The audience breakdown appears once the range has at least %d viewers, so that no small group can be singled out.", AudienceMinViewers)}
	}
	v := func(b disclosure.Bucket) int64 { return b.Viewers }
	return &Audience{
		Available: true,
		Age:       shares(dims["age"], v, BucketMinViewers, 0),
		Gender:    shares(dims["gender"], v, BucketMinViewers, 0),
		Countries: shares(dims["country"], v, BucketMinViewers, TopCountries),
	}
}

// shares turns buckets into percentages of their sum, largest first, with
// buckets under min (and beyond the top limit) folded into "other", which
// comes last. Percentages are whole numbers.
func shares(bs []disclosure.Bucket, val func(disclosure.Bucket) int64, min int64, limit int) []Share {
	var sum, other int64
	var out []Share
	for _, b := range bs {
		n := val(b)
		if n <= 0 {
			continue
		}
		sum += n
		if n < min || b.Bucket == "other" {
			other += n
			continue
		}
		out = append(out, Share{Key: b.Bucket, Count: n})
	}
	slices.SortStableFunc(out, func(a, b Share) int {
		if a.Count != b.Count {
			return cmp64(b.Count, a.Count)
		}
		return strings.Compare(a.Key, b.Key)
	})
	if limit > 0 && len(out) > limit {
		for _, s := range out[limit:] {
			other += s.Count
		}
		out = out[:limit]
	}
	if other > 0 {
		out = append(out, Share{Key: "other", Count: other})
	}
	for i := range out {
		out[i].Percent = int((out[i].Count*100 + sum/2) / sum)
	}
	if out == nil {
		out = []Share{}
	}
	return out
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rising lists up to 5 videos whose views over the trend's window beat
// their average day of its 7 baseline days, by how much.
func rising(ts []disclosure.VideoTrend) []RisingVideo {
	var out []RisingVideo
	for _, t := range ts {
		avg := t.Before / 7
		if t.Today > avg && t.Today > 0 {
			out = append(out, RisingVideo{VideoID: t.VideoID, Today: t.Today, RecentAverage: avg})
		}
	}
	slices.SortFunc(out, func(a, b RisingVideo) int {
		da, db := a.Today-a.RecentAverage, b.Today-b.RecentAverage
		if da != db {
			return cmp64(db, da)
		}
		return strings.Compare(a.VideoID, b.VideoID)
	})
	if len(out) > 5 {
		out = out[:5]
	}
	if out == nil {
		out = []RisingVideo{}
	}
	return out
}

// CSVHeader is the header row of the CSV export.
var CSVHeader = []string{"date", "views", "viewers", "likes", "comments", "shares", "saves", "released"}

// CSV renders a report's daily series as CSV (RFC 4180: CRLF line ends,
// a header row): one row per day, as a person reads them — the numbers of
// Adjust(r).Daily, which are the report's daily series in exact mode and,
// in protected mode, its released estimates post-processed as Studio shows
// them (never negative, never fewer views than viewers, adding up to the
// adjusted totals). A spreadsheet is read by people; programs that want
// the released values as they are read the JSON report. viewers is empty
// where the report has none; released is the day's released flag ("true"
// or "false"): in protected mode whether the day is closed and its cells
// released, in exact mode always true (numbers are released in real time;
// today's still grow).
func CSV(r *Report) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	w.Write(CSVHeader)
	for _, d := range Adjust(r).Daily {
		viewers := ""
		if d.Viewers != nil {
			viewers = strconv.FormatInt(*d.Viewers, 10)
		}
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		w.Write([]string{d.Date, i(d.Views), viewers, i(d.Likes), i(d.Comments), i(d.Shares), i(d.Saves), strconv.FormatBool(d.Released)})
	}
	w.Flush() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}
