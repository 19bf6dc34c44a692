// Package period names the periods Crowd counts in: UTC days, UTC hours and
// UTC months, each a number. Days and hours are numbered from the Unix
// epoch (day 0 is 1970-01-01, hour 0 its first hour); months from year 0
// (year×12 + month − 1). These numbers are the keys of the daily, hourly and
// monthly rollup rows (video_day.day, video_hour.hour, account_audience_month.month),
// of released cells (cells.period) and of the viewers' day salts.
//
// Numbering floors: an instant before 1970 is in a negative day or hour
// (1969-12-31T23:00Z is day −1, hour −1), never rounded towards zero into
// day 0. Every function reads the instant in UTC, whatever its location.
package period

import "time"

// Seconds in a day and in an hour: UTC has no leap seconds in Unix time,
// so every UTC day is 86,400 seconds and every hour 3,600.
const (
	DaySeconds  = 24 * HourSeconds
	HourSeconds = 3600
)

// Day is a UTC day: the number of days since 1970-01-01.
type Day int64

// DayOf returns the UTC day holding t.
func DayOf(t time.Time) Day { return Day(floorDiv(t.Unix(), DaySeconds)) }

// Start returns the first instant of d: its midnight, in UTC.
func (d Day) Start() time.Time { return time.Unix(int64(d)*DaySeconds, 0).UTC() }

// Month returns the month holding d.
func (d Day) Month() Month { return MonthOf(d.Start()) }

// Hour is a UTC hour: the number of hours since 1970-01-01T00:00Z.
type Hour int64

// HourOf returns the UTC hour holding t.
func HourOf(t time.Time) Hour { return Hour(floorDiv(t.Unix(), HourSeconds)) }

// Start returns the first instant of h, in UTC.
func (h Hour) Start() time.Time { return time.Unix(int64(h)*HourSeconds, 0).UTC() }

// Day returns the UTC day holding h.
func (h Hour) Day() Day { return Day(floorDiv(int64(h), 24)) }

// Month is a UTC month: year×12 + month − 1 (January of year 0 is month 0).
type Month int64

// MonthOf returns the UTC month holding t.
func MonthOf(t time.Time) Month {
	t = t.UTC()
	return Month(int64(t.Year())*12 + int64(t.Month()) - 1)
}

// Start returns the first instant of m: midnight UTC of its first day.
func (m Month) Start() time.Time {
	y, mo := floorDiv(int64(m), 12), int64(m)-floorDiv(int64(m), 12)*12
	return time.Date(int(y), time.Month(mo+1), 1, 0, 0, 0, 0, time.UTC)
}

// floorDiv is a / b rounded towards minus infinity (b > 0): Go's / rounds
// towards zero, which would put the last second of 1969 in day 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
