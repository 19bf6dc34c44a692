package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is one valid decoded line. Decode reuses one Event for every line:
// a callback copies what it keeps (copying the struct is enough; its strings
// are never overwritten).
type Event struct {
	Line      int       // line number in the body, from 1
	ID        string    // the client's idempotency key
	Type      string    // one of the event.View … event.Share constants
	VideoID   string    // never empty
	AccountID string    // empty only for a logged-out view
	TS        time.Time // in UTC
	Source    string    // views only: a value of platform.Sources
	WatchMS   int64     // views only: 0 when not given
	Completed bool      // views only
	Channel   string    // shares only: a value of platform.Channels
	Text      string    // comments only
}

// Rejection is a line that was not accepted. Its JSON form is what the client
// sees in the answer's "rejected" list.
type Rejection struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Rejection codes.
const (
	CodeMalformedJSON   = "malformed_json"   // the line is not one valid JSON object
	CodeUnknownField    = "unknown_field"    // a key that is no field of the format
	CodeMissingField    = "missing_field"    // a required field is absent or null
	CodeInvalidField    = "invalid_field"    // a field has the wrong JSON type or value, is given twice, or does not belong to the type
	CodeLineTooLong     = "line_too_long"    // the line is longer than Options.MaxLineBytes
	CodeFutureTimestamp = "future_timestamp" // ts is later than Options.Now + Options.MaxSkew
)

// Defaults of Options. A zero field means its default.
const (
	// DefaultMaxSkew is how far ahead of the server's clock a client's clock
	// may run: phones drift, and rejecting a view for a few seconds of drift
	// would lose real engagement; five minutes is what most token and
	// signature schemes tolerate too.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxLineBytes bounds one line. An event is ~200 bytes and a
	// 2,000-character comment at most ~8 KB of UTF-8 (24 KB if every
	// character is a \u escape), so 64 KiB is generous for any honest line
	// and still bounds the decoder's buffer.
	DefaultMaxLineBytes = 64 << 10
	// DefaultMaxLines bounds one body: batches are ~10k events, ten times
	// that keeps one request's work (and its rejection list) bounded.
	DefaultMaxLines = 100_000
)

// Options tune Decode and DecodeLine.
type Options struct {
	// Now is the time the future check compares ts with; zero means
	// time.Now() when Decode or DecodeLine starts.
	Now time.Time
	// MaxSkew is how far ts may be ahead of Now before the line is rejected
	// as future_timestamp; zero or negative means DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxLineBytes is the longest line accepted, counting neither its
	// "\r\n" nor the byte order mark that may open the body;
	// a longer line is rejected as line_too_long and decoding goes on with
	// the next one. Zero or negative means DefaultMaxLineBytes. Decode keeps
	// a buffer of about this size.
	MaxLineBytes int
	// MaxLines is the most lines (blank ones included) a body may have;
	// one more and Decode returns ErrTooManyLines. Zero or negative means
	// DefaultMaxLines.
	MaxLines int
}

func (o Options) withDefaults() Options {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultMaxLines
	}
	return o
}

// Body-level errors: Decode returns them (possibly wrapped with detail, so
// test with errors.Is) when the body must be refused whole.
var (
	// ErrTooManyLines means the body has more than Options.MaxLines lines.
	ErrTooManyLines = errors.New("too many lines in the body")
	// ErrNotNDJSON means the body is not NDJSON at all: its first non-blank
	// line does not begin with '{' and none of its lines is a JSON object.
	ErrNotNDJSON = errors.New("body is not NDJSON (one JSON object a line)")
)

// lineSlack is the room a line buffer has beyond Options.MaxLineBytes: a
// byte order mark and "\r\n". A line that does not fit is too long by
// definition.
const lineSlack = 3 + 2

// readers recycles the line buffers of the default size: a batch request
// needs 64 KiB of buffer for a few milliseconds, and allocating (and
// zeroing) it for each request would cost more than decoding small batches.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, DefaultMaxLineBytes+lineSlack) }}

// Decode reads NDJSON events from r and calls fn for each valid one, in line
// order. The *Event passed to fn is reused for the next line: fn copies what
// it keeps. Invalid lines are returned as rejections, in line order.
//
// Decode stops at the first body-level error and returns it with the
// rejections found so far: ErrNotNDJSON (only after the whole body was read;
// fn has then never been called, since no line was even a JSON object),
// ErrTooManyLines (as soon as line MaxLines+1 is seen), or an error reading r,
// wrapped. fn may have been called for earlier lines when ErrTooManyLines or
// a read error is returned, so a caller that refuses such bodies whole
// collects the events and acts on them only after Decode returns nil.
// If fn returns an error, Decode stops and returns it as is.
//
// Decode never panics, whatever r holds, and is safe for concurrent use.
func Decode(r io.Reader, opts Options, fn func(*Event) error) (rejected []Rejection, err error) {
	return decodeBody(r, opts, fn, (*decoder).decode)
}

// lineDecoder decodes one non-blank line that fits the limit. Decode uses
// decoder.decode; the benchmarks plug in other JSON decoders to compare.
type lineDecoder func(d *decoder, line []byte, lineNo int, ev *Event) (Rejection, bool)

func decodeBody(r io.Reader, opts Options, fn func(*Event) error, decodeLine lineDecoder) (rejected []Rejection, err error) {
	opts = opts.withDefaults()
	var br *bufio.Reader
	if opts.MaxLineBytes == DefaultMaxLineBytes {
		br = readers.Get().(*bufio.Reader)
		br.Reset(r)
		defer func() {
			br.Reset(nil)
			readers.Put(br)
		}()
	} else {
		br = bufio.NewReaderSize(r, opts.MaxLineBytes+lineSlack)
	}

	d := newDecoder(opts)
	var (
		ev         Event
		lineNo     int
		firstByte  = -1 // first byte of the first non-blank line, -1 before it
		firstLine  int  // that line's number
		anyObject  bool // some line was a syntactically valid JSON object
		tooLongMsg = fmt.Sprintf("line is longer than %d bytes", opts.MaxLineBytes)
	)
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr != nil && rerr != io.EOF && rerr != bufio.ErrBufferFull {
			return rejected, fmt.Errorf("read body: %w", rerr)
		}
		if len(line) == 0 && rerr == io.EOF {
			break
		}
		lineNo++
		if lineNo > opts.MaxLines {
			return rejected, fmt.Errorf("%w: more than %d", ErrTooManyLines, opts.MaxLines)
		}
		if lineNo == 1 && len(line) >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF {
			line = line[3:]
		}

		if rerr == bufio.ErrBufferFull || len(trimEOL(line)) > opts.MaxLineBytes {
			// A line over the limit is rejected whatever it holds; if it
			// does not fit in the buffer, skip to its end without keeping
			// it.
			if firstByte < 0 {
				firstByte, firstLine = firstNonSpace(line[:min(len(line), opts.MaxLineBytes)]), lineNo
			}
			for rerr == bufio.ErrBufferFull {
				_, rerr = br.ReadSlice('\n')
			}
			if rerr != nil && rerr != io.EOF {
				return rejected, fmt.Errorf("read body: %w", rerr)
			}
			rejected = append(rejected, Rejection{Line: lineNo, Code: CodeLineTooLong, Message: tooLongMsg})
			continue
		}

		line = trimEOL(line)
		i := skipSpace(line, 0)
		if i == len(line) {
			continue // blank
		}
		if firstByte < 0 {
			firstByte, firstLine = int(line[i]), lineNo
		}
		rej, ok := decodeLine(&d, line, lineNo, &ev)
		if rej.Code != CodeMalformedJSON {
			anyObject = true
		}
		if !ok {
			rejected = append(rejected, rej)
			continue
		}
		if err := fn(&ev); err != nil {
			return rejected, err
		}
	}
	if firstByte >= 0 && firstByte != '{' && !anyObject {
		return rejected, fmt.Errorf("%w: line %d starts with %s", ErrNotNDJSON, firstLine, describeByte(byte(firstByte)))
	}
	return rejected, nil
}

// DecodeLine decodes one line (without its "\n") into ev, overwriting all of
// ev, and returns nil, or the reason the line is rejected. Unlike Decode it
// does not skip blank lines: it rejects them as malformed_json.
func DecodeLine(line []byte, lineNo int, opts Options, ev *Event) *Rejection {
	opts = opts.withDefaults()
	if len(line) > opts.MaxLineBytes {
		return &Rejection{Line: lineNo, Code: CodeLineTooLong, Message: fmt.Sprintf("line is longer than %d bytes", opts.MaxLineBytes)}
	}
	d := newDecoder(opts)
	rej, ok := d.decode(line, lineNo, ev)
	if ok {
		return nil
	}
	return &rej
}

func newDecoder(opts Options) decoder {
	return decoder{opts: opts, latest: opts.Now.Add(opts.MaxSkew)}
}

// firstNonSpace returns the first byte of b that is not JSON whitespace,
// or ' ' if there is none.
func firstNonSpace(b []byte) int {
	if i := skipSpace(b, 0); i < len(b) {
		return int(b[i])
	}
	return ' '
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// describeByte names b for a message: printable ASCII quoted, the rest in hex.
func describeByte(b byte) string {
	if b > ' ' && b < 0x7f {
		return fmt.Sprintf("%q", rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}
