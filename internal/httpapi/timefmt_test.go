package httpapi

import (
	"strings"
	"testing"
)

func TestNormalizeTimes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"created_at":"2026-01-02T03:04:05.123456789Z"}`, `{"created_at":"2026-01-02T03:04:05.123Z"}`},
		{`{"a":1,"since":"2026-01-02T04:04:05+01:00","x":{"opened_at":"2026-01-02T03:04:05Z"}}`, `{"a":1,"since":"2026-01-02T03:04:05.000Z","x":{"opened_at":"2026-01-02T03:04:05.000Z"}}`},
		// A client's text that spells a time key stays as it is: its
		// quotes are escaped.
		{`{"text":"\",\"created_at\":\"2026-01-02T03:04:05.123456Z"}`, `{"text":"\",\"created_at\":\"2026-01-02T03:04:05.123456Z"}`},
		// Not times: other keys, values that do not parse.
		{`{"date":"2026-01-02T03:04:05.1Z","created_at":"soon"}`, `{"date":"2026-01-02T03:04:05.1Z","created_at":"soon"}`},
		{`{}`, `{}`},
	} {
		if got := string(normalizeTimes([]byte(c.in))); got != c.want {
			t.Errorf("normalizeTimes(%s) = %s; want %s", c.in, got, c.want)
		}
	}
}

// BenchmarkNormalizeTimes: a 365-day report's size of JSON, one time in it
// (the regular expression this replaced took 3.6 ms for it; the scan 0.16).
func BenchmarkNormalizeTimes(b *testing.B) {
	body := []byte(`{"generated_at":"2026-12-04T10:00:00.123456789Z","daily":[` + strings.Repeat(`{"date":"2026-01-01","views":123,"viewers":45,"likes":1,"comments":2,"shares":3,"saves":4},`, 1000) + `{}]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		normalizeTimes(body)
	}
}
