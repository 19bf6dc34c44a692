package period

import (
	"testing"
	"time"
)

func TestDayOf(t *testing.T) {
	tests := []struct {
		at   string
		want Day
	}{
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T23:59:59Z", 0},
		{"1970-01-02T00:00:00Z", 1},
		{"1969-12-31T23:59:59Z", -1},
		{"1969-12-31T00:00:00Z", -1},
		{"1969-12-30T23:59:59Z", -2},
		{"1900-01-01T00:00:00Z", -25567},
		{"2026-03-05T00:00:00Z", 20517},
		{"2026-03-05T23:59:59.999999999Z", 20517},
		// Read in UTC: 08:59 in Tokyo on March 6 is March 5 in UTC.
		{"2026-03-06T08:59:59+09:00", 20517},
		{"2026-03-06T09:00:00+09:00", 20518},
		// Before 1970 with an offset: still floored in UTC.
		{"1969-12-31T20:00:00-05:00", 0},
		{"1969-12-31T18:59:59-05:00", -1},
	}
	for _, tt := range tests {
		at, err := time.Parse(time.RFC3339Nano, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := DayOf(at); got != tt.want {
			t.Errorf("DayOf(%s) = %d, want %d", tt.at, got, tt.want)
		}
		start := tt.want.Start()
		if start.Location() != time.UTC || start.Hour() != 0 || start.Minute() != 0 || start.Second() != 0 || start.Nanosecond() != 0 {
			t.Errorf("Day(%d).Start() = %s, not a UTC midnight", tt.want, start)
		}
		if at.Before(start) || !at.Before(start.Add(24*time.Hour)) {
			t.Errorf("%s is not in day %d, [%s, +24h)", tt.at, tt.want, start)
		}
	}
}

func TestHourOf(t *testing.T) {
	tests := []struct {
		at   string
		want Hour
		day  Day
	}{
		{"1970-01-01T00:00:00Z", 0, 0},
		{"1970-01-01T00:59:59Z", 0, 0},
		{"1970-01-01T01:00:00Z", 1, 0},
		{"1970-01-01T23:00:00Z", 23, 0},
		{"1970-01-02T00:00:00Z", 24, 1},
		{"1969-12-31T23:59:59Z", -1, -1},
		{"1969-12-31T23:00:00Z", -1, -1},
		{"1969-12-31T22:59:59Z", -2, -1},
		{"1969-12-31T00:00:00Z", -24, -1},
		{"1969-12-30T23:59:59Z", -25, -2},
		// Half-hour zones: 05:29 in Kolkata is 23:59 UTC the day before.
		{"2026-03-06T05:29:59+05:30", 492431, 20517},
		{"2026-03-06T05:30:00+05:30", 492432, 20518},
	}
	for _, tt := range tests {
		at, err := time.Parse(time.RFC3339, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		h := HourOf(at)
		if h != tt.want || h.Day() != tt.day {
			t.Errorf("HourOf(%s) = %d in day %d, want %d in day %d", tt.at, h, h.Day(), tt.want, tt.day)
		}
		if h.Day() != DayOf(at) {
			t.Errorf("HourOf(%s).Day() = %d, DayOf = %d", tt.at, h.Day(), DayOf(at))
		}
		start := tt.want.Start()
		if start.Location() != time.UTC || at.Before(start) || !at.Before(start.Add(time.Hour)) {
			t.Errorf("%s is not in hour %d, [%s, +1h)", tt.at, tt.want, start)
		}
	}
}

// TestPeriods_AgreeWithTheCalendar: over four centuries either side of
// 1970, a period's start is the calendar's (time.Date), and the last
// second before it is in the period before.
func TestPeriods_AgreeWithTheCalendar(t *testing.T) {
	for at := time.Date(1570, 1, 1, 0, 0, 0, 0, time.UTC); at.Before(time.Date(2370, 1, 1, 0, 0, 0, 0, time.UTC)); at = at.AddDate(0, 0, 997) {
		d := DayOf(at)
		if !d.Start().Equal(at) {
			t.Fatalf("DayOf(%s).Start() = %s", at, d.Start())
		}
		if DayOf(at.Add(-time.Second)) != d-1 || DayOf(at.Add(-time.Nanosecond)) != d-1 {
			t.Fatalf("the instant before %s is not in day %d", at, d-1)
		}
		h := HourOf(at.Add(7 * time.Hour))
		if !h.Start().Equal(at.Add(7*time.Hour)) || h.Day() != d || HourOf(at.Add(7*time.Hour-time.Nanosecond)) != h-1 {
			t.Fatalf("hour 7 of %s: %d starting %s in day %d", at, h, h.Start(), h.Day())
		}
		m := MonthOf(at)
		if want := Month(int64(at.Year())*12 + int64(at.Month()) - 1); m != want || d.Month() != want {
			t.Fatalf("MonthOf(%s) = %d, Day.Month %d, want %d", at, m, d.Month(), want)
		}
		first := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
		if !m.Start().Equal(first) || MonthOf(first.Add(-time.Nanosecond)) != m-1 {
			t.Fatalf("month %d starts %s, want %s", m, m.Start(), first)
		}
	}
}

func TestMonth(t *testing.T) {
	tests := []struct {
		at   string
		want Month
	}{
		{"0000-01-01T00:00:00Z", 0},
		{"0000-12-31T23:59:59Z", 11},
		{"1969-12-31T23:59:59Z", 1969*12 + 11},
		{"1970-01-01T00:00:00Z", 1970 * 12},
		{"2026-03-31T23:59:59Z", 2026*12 + 2},
		{"2026-04-01T08:00:00+09:00", 2026*12 + 2}, // still March in UTC
	}
	for _, tt := range tests {
		at, err := time.Parse(time.RFC3339, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := MonthOf(at); got != tt.want {
			t.Errorf("MonthOf(%s) = %d, want %d", tt.at, got, tt.want)
		}
	}
	if got := Month(-1).Start(); !got.Equal(time.Date(-1, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Month(-1).Start() = %s", got)
	}
}
