package httpapi

import (
	"bytes"
	"regexp"
	"time"
)

// Timestamps. Every time in a JSON answer is RFC 3339 in UTC with exactly
// millisecond precision ("2026-01-02T03:04:05.123Z"), whatever precision
// the value had: a resource's created_at in the answer that creates it
// (the clock's nanoseconds) and in a later read (the store's microseconds)
// are the same string. writeJSON applies it to every answer, in one place:
// the values of the keys that are times by the API's naming (…_at, since),
// which a client's string in a JSON value cannot forge, since the pattern
// starts at an unescaped quote after "{" or ",".
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

var timeField = regexp.MustCompile(`([{,]"(?:[a-z_]+_at|since)":")([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))"`)

// normalizeTimes rewrites the times of a marshalled answer to timeLayout.
func normalizeTimes(b []byte) []byte {
	if !bytes.Contains(b, []byte(`_at":"`)) && !bytes.Contains(b, []byte(`"since":"`)) {
		return b
	}
	return timeField.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := timeField.FindSubmatch(m)
		t, err := time.Parse(time.RFC3339Nano, string(sub[2]))
		if err != nil {
			return m
		}
		out := append([]byte{}, sub[1]...)
		out = t.UTC().AppendFormat(out, timeLayout)
		return append(out, '"')
	})
}
