package noise

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/period"
)

// Granularities of a cell's period.
const (
	Day  = "day"
	Hour = "hour"
)

// Subject prefixes: a cell is about one video or one account.
const (
	SubjectVideo   = "video:"
	SubjectAccount = "account:"
)

// cellEncoding is the version of Canonical's encoding, its first byte.
// Changing the encoding changes every cell's noise: bump it, never reuse
// a number.
const cellEncoding = 1

// CellKey identifies one released cell. Its canonical encoding, not its
// Go value, is what the noise is keyed by: two CellKeys with the same
// fields and the same period start to the second are the same cell.
type CellKey struct {
	// Schema is the release schema version, part of the key so that cells
	// of different schemas never share noise. A new schema is a new
	// release: its ε counts anew in the privacy ledger.
	Schema int
	// Subject is "video:<id>" or "account:<id>".
	Subject string
	// Metric is what is counted, e.g. "sharers".
	Metric string
	// Dim and Bucket are the breakdown, e.g. "country" and "FR"; both are
	// empty for a total.
	Dim    string
	Bucket string
	// Granularity is Day or Hour.
	Granularity string
	// PeriodStart is the start of the cell's period. Only its instant
	// counts, in whole seconds (UTC Unix time); Validate requires it to be
	// aligned to the granularity in UTC.
	PeriodStart time.Time
}

// Canonical returns the cell's canonical encoding: an unambiguous byte
// string that identifies the cell and nothing else.
//
// Layout (all integers big-endian):
//
//	1 byte    encoding version (1)
//	8 bytes   Schema, as a two's-complement int64
//	5 fields  Subject, Metric, Dim, Bucket, Granularity:
//	          each its length in bytes (8 bytes) then its bytes
//	8 bytes   PeriodStart as Unix seconds, a two's-complement int64
//
// Every variable-length field carries its length, so no choice of field
// contents can make two different cells encode alike ("ab"+"c" versus
// "a"+"bc", or an id containing a separator).
func (k CellKey) Canonical() []byte {
	fields := [...]string{k.Subject, k.Metric, k.Dim, k.Bucket, k.Granularity}
	n := 1 + 8 + 8
	for _, f := range fields {
		n += 8 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, cellEncoding)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(k.Schema)))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return binary.BigEndian.AppendUint64(b, uint64(k.PeriodStart.Unix()))
}

// Validate reports whether k names a cell Crowd can release: a positive
// schema, a video or account subject with an id, a metric, a breakdown
// given in full or not at all, a known granularity, and a period start
// on a whole UTC day or hour.
func (k CellKey) Validate() error {
	var errs []error
	if k.Schema < 1 {
		errs = append(errs, fmt.Errorf("schema %d must be positive", k.Schema))
	}
	id, ok := strings.CutPrefix(k.Subject, SubjectVideo)
	if !ok {
		id, ok = strings.CutPrefix(k.Subject, SubjectAccount)
	}
	if !ok || id == "" {
		errs = append(errs, fmt.Errorf("subject %q must be %q or %q followed by an id", k.Subject, SubjectVideo, SubjectAccount))
	}
	if k.Metric == "" {
		errs = append(errs, errors.New("metric is empty"))
	}
	if (k.Dim == "") != (k.Bucket == "") {
		errs = append(errs, fmt.Errorf("dimension %q and bucket %q must both be set or both empty", k.Dim, k.Bucket))
	}
	var seconds int64 // in one period
	switch k.Granularity {
	case Day:
		seconds = period.DaySeconds
	case Hour:
		seconds = period.HourSeconds
	default:
		errs = append(errs, fmt.Errorf("granularity %q must be %q or %q", k.Granularity, Day, Hour))
	}
	switch {
	case k.PeriodStart.IsZero():
		errs = append(errs, errors.New("period start is not set"))
	case k.PeriodStart.Nanosecond() != 0 || seconds != 0 && k.PeriodStart.Unix()%seconds != 0:
		errs = append(errs, fmt.Errorf("period start %s is not the start of a UTC %s", k.PeriodStart.UTC().Format(time.RFC3339Nano), k.Granularity))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cell %s: %w", k, err)
	}
	return nil
}

// String renders k for logs and errors, e.g.
// "v1 video:42 sharers country=FR day 2026-03-10T00:00:00Z". It is for
// people, not a key: use Canonical for that.
func (k CellKey) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d %s %s", k.Schema, k.Subject, k.Metric)
	if k.Dim != "" || k.Bucket != "" {
		fmt.Fprintf(&b, " %s=%s", k.Dim, k.Bucket)
	}
	fmt.Fprintf(&b, " %s %s", k.Granularity, k.PeriodStart.UTC().Format(time.RFC3339))
	return b.String()
}
