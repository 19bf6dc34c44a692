package store

import (
	"strconv"
	"strings"
	"time"
)

// Cursor returns the pagination cursor that continues a list after an item
// created at created with the given id.
func Cursor(created time.Time, id string) string {
	return strconv.FormatInt(micros(created), 10) + "." + id
}

func parseCursor(s string) (int64, string, bool) {
	ts, id, ok := strings.Cut(s, ".")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, id, true
}

// ValidCursor reports whether s is empty or a well-formed cursor.
func ValidCursor(s string) bool {
	if s == "" {
		return true
	}
	_, _, ok := parseCursor(s)
	return ok
}
