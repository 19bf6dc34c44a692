package disclosure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// CellSchema is the version of the cell definitions; it is part of every
// cell's key and stored with it.
const CellSchema = 1

// Known domains of the breakdowns. Every bucket is released for every
// period, zeros included, so a bucket's presence reveals nothing.
// Countries outside the list fold into "other" before noise.
var domains = map[string][]string{
	"source":  platform.Sources,
	"age":     {"13-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"},
	"gender":  {"female", "male", "other", "unknown"},
	"country": {"US", "BR", "IN", "ID", "MX", "DE", "GB", "FR", "JP", "PH", "VN", "TR", "IT", "ES", "CA", "KR", "PL", "NL", "AU", "AR", "other", "unknown"},
}

func countryBucket(c string) string {
	if c == "unknown" || slices.Contains(domains["country"], c) {
		return c
	}
	return "other"
}

// Protect turns on the release of noisy cells in protected mode, with the
// noise keys, the policy and the clock. Without it protected mode withholds
// every private number.
func (l *Layer) Protect(keys *noise.Keyring, p Policy, now func() time.Time) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("disclosure policy: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	l.keys, l.policy, l.now = keys, p, now
	return nil
}

// LastReleasedDay returns the newest UTC day whose cells are released: a
// day is released DailyDelay after it closes. In exact mode, today; in
// StateProtectedNoKeys, which has no policy and releases no cell, today
// as well (Daily marks no day released there all the same).
func (l *Layer) LastReleasedDay(now time.Time) time.Time {
	return l.lastReleasedDay(now).Start()
}

// lastReleasedDay is LastReleasedDay's day: the day before the one holding
// now less the delay.
func (l *Layer) lastReleasedDay(now time.Time) period.Day {
	if l.State() != StateProtected {
		return period.DayOf(now)
	}
	return period.DayOf(now.Add(-l.policy.DailyDelay)) - 1
}

// lastReleasedHour returns the newest UTC hour whose cells are released: an
// hour is released HourlyDelay after it closes.
func (l *Layer) lastReleasedHour(now time.Time) period.Hour {
	return period.HourOf(now.Add(-l.policy.HourlyDelay)) - 1
}

// Granularities of cells: a cell's period is a period.Day or a period.Hour
// number, by its granularity.
const (
	granDay  = "day"
	granHour = "hour"
)

// periodOf returns the number of the period of granularity gran holding t.
func periodOf(gran string, t time.Time) int64 {
	if gran == granHour {
		return int64(period.HourOf(t))
	}
	return int64(period.DayOf(t))
}

// periodStart returns the first instant of period p of granularity gran.
func periodStart(gran string, p int64) time.Time {
	if gran == granHour {
		return period.Hour(p).Start()
	}
	return period.Day(p).Start()
}

type cellID struct {
	video               string
	period              int64
	metric, dim, bucket string
}

// cells returns the released cells of the videos for periods from..to of
// one granularity, for the families given, releasing (computing, noising
// and storing) those not released yet. Periods not yet closed plus the
// delay, and periods before a video was created, have no cells.
//
// A cell is computed once: its true value comes from the rollups of a
// closed period, its noise from the keyed generator of its canonical key,
// and it is stored with INSERT … ON CONFLICT DO NOTHING, so concurrent
// releases agree on one stored value, which every later read returns.
func (l *Layer) cells(ctx context.Context, videos []store.VideoCreation, gran string, from, to int64, fams []Family) (map[cellID]int64, error) {
	now := l.now()
	last := int64(l.lastReleasedHour(now))
	if gran == granDay {
		last = int64(l.lastReleasedDay(now))
	}
	to = min(to, last)
	out := map[cellID]int64{}
	if from > to || len(videos) == 0 {
		return out, nil
	}
	subjects := make([]string, len(videos))
	for i, v := range videos {
		subjects[i] = noise.SubjectVideo + v.ID
	}
	if err := l.readCells(ctx, subjects, gran, from, to, out); err != nil {
		return nil, err
	}
	// What is missing?
	var missing []cellID
	for _, v := range videos {
		for p := max(from, periodOf(gran, v.Created)); p <= to; p++ {
			for _, f := range fams {
				buckets := []string{""}
				if f.Dim != "" {
					buckets = domains[f.Dim]
				}
				for _, b := range buckets {
					id := cellID{v.ID, p, f.Metric, f.Dim, b}
					if _, ok := out[id]; !ok {
						missing = append(missing, id)
					}
				}
			}
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if err := l.release(ctx, gran, missing, fams); err != nil {
		return nil, err
	}
	if err := l.readCells(ctx, subjects, gran, from, to, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (l *Layer) readCells(ctx context.Context, subjects []string, gran string, from, to int64, out map[cellID]int64) error {
	return l.store.ReadCells(ctx, gran, from, to, subjects, func(c store.CellValue) {
		out[cellID{strings.TrimPrefix(c.Subject, noise.SubjectVideo), c.Period, c.Metric, c.Dim, c.Bucket}] = c.Value
	})
}

// release computes and stores the missing cells.
func (l *Layer) release(ctx context.Context, gran string, missing []cellID, fams []Family) error {
	truth, err := l.truth(ctx, gran, missing)
	if err != nil {
		return fmt.Errorf("release cells: %w", err)
	}
	famOf := map[[2]string]Family{}
	for _, f := range fams {
		famOf[[2]string{f.Metric, f.Dim}] = f
	}
	kid := l.keys.Current()
	now := l.now().UnixMicro()
	// Stored as they are made, 200 to a statement.
	batch := make([]store.Cell, 0, min(len(missing), 200))
	for _, id := range missing {
		f := famOf[[2]string{id.metric, id.dim}]
		key := noise.CellKey{Schema: CellSchema, Subject: noise.SubjectVideo + id.video, Metric: id.metric, Dim: id.dim, Bucket: id.bucket, Granularity: gran, PeriodStart: periodStart(gran, id.period)}
		n, err := l.keys.Noise(kid, key, f.Epsilon.Num, f.Epsilon.Den, f.Sensitivity)
		if err != nil {
			return fmt.Errorf("release cell %s: %w", key, err)
		}
		batch = append(batch, store.Cell{Subject: noise.SubjectVideo + id.video, Granularity: gran, Period: id.period, Metric: id.metric, Dim: id.dim, Bucket: id.bucket,
			Value: truth[id] + n, Mechanism: "discrete-laplace", EpsNum: f.Epsilon.Num, EpsDen: f.Epsilon.Den, Sensitivity: f.Sensitivity, KID: kid, Schema: CellSchema, ReleasedAt: now})
		if len(batch) == cap(batch) {
			if err := l.store.InsertCells(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return l.store.InsertCells(ctx, batch)
}

// truth reads the true (bounded) values of the cells from the rollups of
// their closed periods, in chunks of videos over the span of periods.
func (l *Layer) truth(ctx context.Context, gran string, ids []cellID) (map[cellID]int64, error) {
	out := map[cellID]int64{}
	seen := map[string]bool{}
	var videos []string
	from, to := int64(1<<62), int64(-1<<62)
	for _, id := range ids {
		if !seen[id.video] {
			seen[id.video] = true
			videos = append(videos, id.video)
		}
		from, to = min(from, id.period), max(to, id.period)
	}
	if gran == granHour {
		err := l.store.BoundedHours(ctx, from, to, videos, func(video string, hour, views int64) {
			out[cellID{video, hour, "views", "", ""}] = views
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	err := l.store.BoundedDays(ctx, from, to, videos, func(d store.BoundedDay) {
		for m, v := range map[string]int64{"viewers": d.Viewers, "views": d.Views, "completions": d.Completions, "watch_s": d.WatchMS / 1000, "sharers": d.Sharers, "savers": d.Savers} {
			out[cellID{d.VideoID, d.Day, m, "", ""}] = v
		}
	})
	if err != nil {
		return nil, err
	}
	err = l.store.AudienceDays(ctx, from, to, videos, func(video string, day int64, dim, bucket string, viewers int64) {
		if dim == "country" {
			bucket = countryBucket(bucket)
		}
		out[cellID{video, day, "viewers", dim, bucket}] += viewers
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// videosOf returns the videos of a scope: the video, or every video the
// account created or co-created.
func (l *Layer) videosOf(ctx context.Context, s Scope) ([]store.VideoCreation, error) {
	if s.VideoID != "" {
		return l.store.VideoCreated(ctx, s.VideoID)
	}
	return l.store.CreatorVideosCreated(ctx, s.AccountID)
}

// families returns the policy's families of a granularity, totals (dim "")
// or breakdowns.
func (l *Layer) families(gran string, breakdowns bool) []Family {
	var out []Family
	for _, f := range l.policy.Families {
		if f.Granularity == gran && (f.Dim != "") == breakdowns {
			out = append(out, f)
		}
	}
	return out
}

// ReleaseDue releases the cells whose time has come: the daily totals of
// the newest released day and the hourly views of the newest released hour,
// for every video that existed then. Breakdowns are released on first read
// (with the same keyed noise, so when does not matter). Run it every minute
// so a cell is published within a minute of its release time. It returns
// how many videos it looked at: none while the newest due day and hour are
// released already.
func (l *Layer) ReleaseDue(ctx context.Context) (n int, err error) {
	if l.State() != StateProtected {
		return 0, nil
	}
	defer func() { l.metrics.observe(err) }()
	now := l.now()
	due := [2]int64{int64(l.lastReleasedDay(now)), int64(l.lastReleasedHour(now))}
	// Released cells never change, and a video created since the last
	// pass has no closed period before the next one moves, so while the
	// newest due day and hour stay the same a pass would only re-read
	// every video's cells (at a million videos, minutes of work a minute).
	// Videos synced with an older creation date get their older cells
	// when first read, as every cell can be.
	l.dueMu.Lock()
	defer l.dueMu.Unlock()
	if l.dueDone == due {
		return 0, nil
	}
	n, err = l.releaseDays(ctx, period.Day(due[0]), period.Day(due[0]))
	if err == nil {
		l.dueDone = due
	}
	return n, err
}

// ReleaseHistory releases the daily totals of every closed day of every
// video, from its creation on: what crowd import runs after a backfill, so
// the imported periods that have closed are published.
func (l *Layer) ReleaseHistory(ctx context.Context) (int, error) {
	if l.State() != StateProtected {
		return 0, nil
	}
	return l.releaseDays(ctx, 0, l.lastReleasedDay(l.now()))
}

// releaseDays releases the daily totals of days from..day (each video from
// its creation) and the hourly views of the newest released hour.
func (l *Layer) releaseDays(ctx context.Context, from, day period.Day) (int, error) {
	hour := int64(l.lastReleasedHour(l.now()))
	n := 0
	after := ""
	for {
		batch, err := l.store.VideosCreatedBefore(ctx, after, (day + 1).Start(), 500)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		if _, err := l.cells(ctx, batch, granDay, int64(from), int64(day), l.families(granDay, false)); err != nil {
			return n, err
		}
		if _, err := l.cells(ctx, batch, granHour, hour, hour, l.families(granHour, false)); err != nil {
			return n, err
		}
		n += len(batch)
		after = batch[len(batch)-1].ID
	}
}

// VideoDay names a video's UTC day.
type VideoDay struct {
	VideoID string
	Day     int64 // a period.Day, as a number
}

// Released reports which of the video-days already have released cells. An
// event dated in such a day is counted in the current period instead, so a
// released cell never needs to change (and never leaks a late event).
func (l *Layer) Released(ctx context.Context, vds []VideoDay) (map[VideoDay]bool, error) {
	out := map[VideoDay]bool{}
	if l.State() != StateProtected || len(vds) == 0 {
		return out, nil
	}
	last := int64(l.lastReleasedDay(l.now()))
	// One query per chunk of videos over the span of days asked about,
	// not one per video-day: this runs on the bulk ingestion path.
	want := map[VideoDay]bool{}
	seenVideo := map[string]bool{}
	var videos []string
	minDay, maxDay := int64(1<<62), int64(-1<<62)
	for _, vd := range vds {
		if vd.Day > last || want[vd] {
			continue // not due yet: no cell can exist
		}
		if !seenVideo[vd.VideoID] {
			seenVideo[vd.VideoID] = true
			videos = append(videos, vd.VideoID)
		}
		want[vd] = true
		minDay, maxDay = min(minDay, vd.Day), max(maxDay, vd.Day)
	}
	subjects := make([]string, len(videos))
	for i, v := range videos {
		subjects[i] = noise.SubjectVideo + v
	}
	err := l.store.ReleasedDays(ctx, minDay, maxDay, subjects, func(subject string, day int64) {
		vd := VideoDay{VideoID: strings.TrimPrefix(subject, noise.SubjectVideo), Day: day}
		if want[vd] {
			out[vd] = true
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
