package httpapi

import (
	"bytes"
	"slices"
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

// normalizeTimes rewrites the times of a marshalled answer to timeLayout.
// It scans for `":"`, the boundary between a key and a string value (a
// quote inside a string is always escaped, so the sequence cannot occur
// within one), checks that the key is a time's (…_at, since) and starts
// right after "{" or ",", and rewrites a value that parses as RFC 3339.
// One pass, no allocation when there is nothing to rewrite.
func normalizeTimes(b []byte) []byte {
	out, _ := appendNormalizedTimes(nil, b)
	return out
}

// appendNormalizedTimes is normalizeTimes writing into dst's storage: it
// returns b itself when there is nothing to rewrite, else b rewritten in
// dst[:0], grown as needed (b must not share dst's storage), and true.
func appendNormalizedTimes(dst, b []byte) (out []byte, rewritten bool) {
	last, i := 0, 0
	for {
		j := bytes.Index(b[i:], []byte(`":"`))
		if j < 0 {
			break
		}
		j += i // the key's closing quote
		val := j + 3
		i = val
		k := bytes.LastIndexByte(b[:j], '"')
		if k < 1 || (b[k-1] != '{' && b[k-1] != ',') || !isTimeKey(b[k+1:j]) {
			continue
		}
		end := bytes.IndexByte(b[val:], '"')
		if end < 0 {
			break
		}
		end += val
		t, err := time.Parse(time.RFC3339Nano, string(b[val:end]))
		if err != nil {
			continue
		}
		if !rewritten {
			// One allocation at most: the rewritten times are about as
			// long as the originals.
			out, rewritten = slices.Grow(dst[:0], len(b)+64), true
		}
		out = append(out, b[last:val]...)
		out = t.UTC().AppendFormat(out, timeLayout)
		last, i = end, end
	}
	if !rewritten {
		return b, false
	}
	return append(out, b[last:]...), true
}

// isTimeKey reports whether key names a time: lower-case letters and
// underscores, ending in "_at", or "since".
func isTimeKey(key []byte) bool {
	for _, c := range key {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return string(key) == "since" || len(key) > 3 && bytes.HasSuffix(key, []byte("_at"))
}
