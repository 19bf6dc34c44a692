package ingest

import "time"

// minTS is the earliest ts accepted. Nothing Crowd counts happened before
// it, and the bound keeps the zero time.Time (and year 0) out of the log.
var minTS = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// parseTS parses an RFC 3339 timestamp, the subset time.Parse(time.RFC3339)
// takes on its fast path: "2006-01-02T15:04:05", an optional fraction of
// any length (digits after the ninth are dropped), then "Z" or "±hh:mm".
// It returns the time in UTC, or "" and a message. Unlike time.Parse it does
// not allocate for a numeric offset.
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
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if t.Before(minTS) {
		return time.Time{}, "is before 1970"
	}
	return t, ""
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
