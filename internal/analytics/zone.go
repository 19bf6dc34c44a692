package analytics

import (
	"sync"
	"time"
	_ "time/tzdata" // time zone names work on hosts without a zoneinfo database

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/rollup"
)

// Time zones: a creator's days are the creator's days.
//
// Rollups are stored per UTC day, and per UTC hour for the last
// rollup.HourlyRetention (72 h). A report asked for with tz (an IANA name
// such as Asia/Tokyo) is cut into the zone's days where it can be:
//
//   - Exact mode: the range's dates are the zone's ("range=7d" ends on the
//     zone's today). Days whose hours are all still kept are built from
//     hourly rows, from the zone's midnight to the next; earlier days are
//     UTC days of the same date. Where the two meet, the first zone day
//     starts at the UTC midnight that ended the last UTC day, so no hour is
//     counted twice or left out (that day is shorter or longer than 24 h).
//     day_boundaries lists both spans with their exact instants.
//   - Protected mode: cells are released per UTC day, and a zone's day
//     would need cells of its own (more noise, more budget): the days stay
//     UTC days, and day_boundaries says so (its span's time_zone is UTC
//     whatever tz asked for).
//
// In zones whose offset is not a whole number of hours (Asia/Kolkata,
// +05:30) hourly rows cannot be split: a day starts at the beginning of the
// UTC hour holding the zone's midnight (23:30 in Kolkata), as the span's
// instants show. A zone day's viewers are the viewer-days (of UTC days)
// that began in its hours: a viewer who watched on both sides of UTC
// midnight within one zone day counts twice there. Range-wide figures —
// distinct viewers, watch time, completion rate, traffic sources, audience,
// followers — have no hourly rows and are those of the UTC days of the
// range's dates. The trend does not depend on the zone (see Trend).

// DayBoundaries say where a report's days begin and end.
type DayBoundaries struct {
	// TimeZone is the zone the report was asked for (tz), "UTC" when none.
	TimeZone string `json:"time_zone"`
	// Spans cover the range's dates, oldest first.
	Spans []DaySpan `json:"spans"`
}

// DaySpan is a run of the range's days cut the same way: the dates
// From..To cover the instants [Start, End); inside, each day ends at the
// next midnight of TimeZone (the start of the UTC hour holding it).
type DaySpan struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"time_zone"`
}

// zones caches the locations of valid names: LoadLocation reads and
// parses the zone's file on every call.
var zones sync.Map // name → *time.Location

// ParseTimeZone reads the tz parameter: an IANA time zone name such as
// Asia/Tokyo or America/New_York. "" is UTC (nil). "Local" (the server's
// zone, which means nothing to a reader) and unknown names are refused.
func ParseTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, nil
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	bad := platform.Errorf(platform.EINVALID, "tz must be an IANA time zone name such as Europe/Paris or Asia/Tokyo")
	if len(name) > 64 || name == "Local" {
		return nil, bad
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, bad
	}
	zones.Store(name, l)
	return l, nil
}

// Today returns the date ranges end at for a reader in zone (nil: UTC):
// the zone's today in exact mode; in protected mode, whose days are UTC
// days, the UTC date. Like a Range's dates it is midnight UTC of the date.
func (b *Builder) Today(zone *time.Location) time.Time {
	now := b.Now()
	if zone != nil && b.Layer.Mode() == config.Exact {
		now = now.In(zone)
	} else {
		now = now.UTC()
	}
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// dayPlan is how a report's range is cut into days: days before local are
// UTC days; day local+i runs from start[i] to start[i+1], built from
// hourly rows.
type dayPlan struct {
	local      int
	start      []time.Time
	boundaries DayBoundaries
}

// planDays cuts r into days for a reader in zone at now (see above).
func planDays(r Range, zone *time.Location, now time.Time, exact bool) dayPlan {
	n := r.Days()
	date := func(i int) time.Time { return r.From.AddDate(0, 0, i) }
	p := dayPlan{local: n, boundaries: DayBoundaries{TimeZone: "UTC"}}
	if zone != nil {
		p.boundaries.TimeZone = zone.String()
	}
	if exact && zone != nil && !sameAsUTC(zone, date(0), date(n)) {
		// The zone's midnight of date i, floored to its UTC hour.
		midnight := func(i int) time.Time {
			d := date(i)
			return period.HourOf(time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, zone)).Start()
		}
		// Hours from here on are all kept: rollup.Compact deletes hours
		// older than HourlyRetention, and aggregation writes none older.
		kept := period.HourOf(now).Start().Add(-rollup.HourlyRetention + time.Hour)
		for i := range n {
			start := midnight(i)
			if i > 0 {
				start = date(i) // the end of UTC day i-1
			}
			if !start.Before(kept) {
				p.local = i
				p.start = append(p.start, start)
				for j := i + 1; j <= n; j++ {
					p.start = append(p.start, midnight(j))
				}
				break
			}
		}
	}
	if p.local > 0 {
		p.boundaries.Spans = append(p.boundaries.Spans, DaySpan{
			From: date(0).Format(time.DateOnly), To: date(p.local - 1).Format(time.DateOnly),
			Start: date(0).Format(time.RFC3339), End: date(p.local).Format(time.RFC3339), TimeZone: "UTC",
		})
	}
	if p.local < n {
		p.boundaries.Spans = append(p.boundaries.Spans, DaySpan{
			From: date(p.local).Format(time.DateOnly), To: date(n - 1).Format(time.DateOnly),
			Start: p.start[0].Format(time.RFC3339), End: p.start[len(p.start)-1].Format(time.RFC3339), TimeZone: zone.String(),
		})
	}
	return p
}

// sameAsUTC reports whether zone's midnights are UTC's from from to to
// (UTC itself, Etc/UTC, or Europe/London in winter): its days are UTC days.
func sameAsUTC(zone *time.Location, from, to time.Time) bool {
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if !time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, zone).Equal(d) {
			return false
		}
	}
	return true
}
