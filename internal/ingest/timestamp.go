package ingest

import (
	"time"

	"github.com/crowd-dev/crowd/internal/period"
)

// parseTS parses an RFC 3339 timestamp, the subset time.Parse(time.RFC3339)
// takes on its fast path: "2006-01-02T15:04:05", an optional fraction of
// any length (digits after the ninth are dropped), then "Z" or "±hh:mm".
// It returns the time in UTC, or a message. Times before 1970 are refused:
// nothing Crowd counts happened then, and the bound keeps the zero
// time.Time out of the log. Unlike time.Parse it does not allocate for a
// numeric offset.
func parseTS(s []byte) (time.Time, string) {
	const bad = "is not an RFC 3339 timestamp such as 2026-11-24T10:00:00Z"
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, bad
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, bad
	}
	s = s[19:]

	nsec := 0
	if s[0] == '.' {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			if n <= 9 {
				nsec = nsec*10 + int(s[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, bad
		}
		for k := n; k <= 9; k++ {
			nsec *= 10
		}
		s = s[n:]
	}

	offset := 0
	switch {
	case len(s) == 1 && s[0] == 'Z':
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		hh, ok1 := digits(s[1:3])
		mm, ok2 := digits(s[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, bad
		}
		offset = (hh*60 + mm) * 60
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, bad
	}
	if year < 1969 { // 1969-12-31T23:00:00-01:00 is still 1970 in UTC
		return time.Time{}, "is before 1970"
	}
	unix := daysSinceEpoch(year, month, day)*period.DaySeconds + int64(hour*period.HourSeconds+minute*60+sec-offset)
	if unix < 0 {
		return time.Time{}, "is before 1970"
	}
	return time.Unix(unix, int64(nsec)).UTC(), ""
}

// daysSinceEpoch returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar, for year >= 0 (Howard Hinnant's
// days_from_civil). It is what time.Date computes, without time.Date's
// normalisation and location handling, which cost more than the rest of
// the line's checks.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := (year+400)/400 - 1 // floor(year/400) for year >= -1
	yoe := year - era*400
	mp := (month + 9) % 12 // March is 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// digits parses s, all decimal digits.
func digits(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
