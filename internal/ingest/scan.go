package ingest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner below reads exactly the JSON grammar of RFC 8259 (the fuzz
// test holds it to json.Valid), but only for what an event line can be: one
// flat object whose values it routes straight to the fields of an Event,
// without building any intermediate value. Strings without escapes are used
// in place; strings with escapes are unescaped into a scratch buffer sized
// to the line, so nothing is allocated before the event's one string.

// maxDepth is how deeply values may nest, the limit of encoding/json, so
// that both agree on what is valid JSON.
const maxDepth = 10000

// Fields of the format, as bit positions in fieldSet.
const (
	fID = iota
	fType
	fVideoID
	fAccountID
	fTS
	fSource
	fWatchMS
	fCompleted
	fChannel
	fText
	numFields
)

var fieldNames = [numFields]string{"id", "type", "video_id", "account_id", "ts", "source", "watch_ms", "completed", "channel", "text"}

// fieldIndex returns the field a key names, or -1.
func fieldIndex(key []byte) int {
	switch string(key) { // compiled to comparisons, no allocation
	case "id":
		return fID
	case "type":
		return fType
	case "video_id":
		return fVideoID
	case "account_id":
		return fAccountID
	case "ts":
		return fTS
	case "source":
		return fSource
	case "watch_ms":
		return fWatchMS
	case "completed":
		return fCompleted
	case "channel":
		return fChannel
	case "text":
		return fText
	}
	return -1
}

type fieldSet uint16

func (s fieldSet) has(f int) bool { return s&(1<<f) != 0 }

// fields holds one line's values while it is scanned. Byte slices point into
// the line or into decoder.scratch.
type fields struct {
	seen    fieldSet // keys met, null or not (for duplicates)
	present fieldSet // fields with a non-null value

	id, videoID, accountID []byte
	typ, source, channel   string // the canonical constant, never the line's bytes
	text                   string
	ts                     time.Time
	watchMS                int64
	completed              bool

	rej    Rejection // the first problem found with a field
	hasRej bool
}

// decoder decodes lines. Its buffers are reused from line to line.
type decoder struct {
	opts    Options
	latest  time.Time // opts.Now + opts.MaxSkew: a later ts is in the future
	line    []byte
	scratch []byte // unescaped strings of the current line; cap >= len(line)
	joined  []byte // the event's ids, joined before they become one string
	f       fields

	synPos int    // where the syntax error is
	synMsg string // what it is; "" while the line is valid JSON so far
}

// decode decodes one non-blank line into ev. It returns ok, or the line's
// rejection.
func (d *decoder) decode(line []byte, lineNo int, ev *Event) (rej Rejection, ok bool) {
	d.line = line
	d.f = fields{}
	d.synMsg = ""
	if cap(d.scratch) < len(line) {
		d.scratch = make([]byte, 0, len(line))
	}
	d.scratch = d.scratch[:0]

	if !d.object() {
		return Rejection{Line: lineNo, Code: CodeMalformedJSON, Message: d.syntaxMessage()}, false
	}
	return d.finish(lineNo, ev)
}

func (d *decoder) syntaxMessage() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", d.synPos+1, d.synMsg)
}

// fail records a syntax error at i and returns false, for `return d.fail(…)`.
func (d *decoder) fail(i int, msg string) bool {
	if d.synMsg == "" {
		d.synPos, d.synMsg = i, msg
	}
	return false
}

// failAt is fail with the usual message for the byte at i.
func (d *decoder) failAt(i int, want string) bool {
	if i >= len(d.line) {
		return d.fail(i, "unexpected end of line, expected "+want)
	}
	return d.fail(i, "unexpected "+describeByte(d.line[i])+", expected "+want)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// object scans the line as one JSON object and routes its fields. It
// returns false on a syntax error (recorded in d.synPos, d.synMsg).
func (d *decoder) object() bool {
	b := d.line
	i := skipSpace(b, 0)
	if i >= len(b) {
		return d.fail(i, "empty line, expected a JSON object")
	}
	if b[i] != '{' {
		return d.fail(i, "unexpected "+describeByte(b[i])+", each line must be a JSON object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return d.failAt(i, "a field name in double quotes")
			}
			// Keys are short lower-case words: try that before the
			// general string scan.
			j := i + 1
			for j < len(b) && (b[j]-'a' < 26 || b[j] == '_') {
				j++
			}
			var key []byte
			end := j + 1
			if j < len(b) && b[j] == '"' {
				key = b[i+1 : j]
			} else {
				var esc, ok bool
				if end, esc, ok = d.scanString(i); !ok {
					return false
				}
				key = b[i+1 : end-1]
				if esc {
					key, _ = d.unescape(key)
				}
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return d.failAt(i, "':' after a field name")
			}
			i = skipSpace(b, i+1)
			var ok bool
			if i, ok = d.field(key, i); !ok {
				return false
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return d.failAt(i, "',' or '}' after a value")
		}
	}
	if i = skipSpace(b, i); i < len(b) {
		return d.fail(i, "unexpected "+describeByte(b[i])+" after the object; one object a line")
	}
	return true
}

// reject records the first problem with a field; later ones are ignored
// (the line is scanned to its end all the same, since a syntax error
// anywhere takes precedence).
func (d *decoder) reject(code, msg string) {
	if !d.f.hasRej {
		d.f.rej = Rejection{Code: code, Message: msg}
		d.f.hasRej = true
	}
}

// field scans the value at b[i] for key and stores it. It returns the index
// after the value.
func (d *decoder) field(key []byte, i int) (int, bool) {
	b := d.line
	f := fieldIndex(key)
	if f < 0 {
		d.reject(CodeUnknownField, "unknown field "+quote(key))
		return d.skipValue(i, 1)
	}
	if d.f.seen.has(f) {
		d.reject(CodeInvalidField, "duplicate field "+quote(key))
	}
	d.f.seen |= 1 << f
	if i >= len(b) {
		return i, d.failAt(i, "a value")
	}
	switch c := b[i]; {
	case c == '"' && f != fWatchMS && f != fCompleted:
		end, esc, ok := d.scanString(i)
		if !ok {
			return end, false
		}
		if !d.f.hasRej {
			v, valid := b[i+1:end-1], true
			if esc {
				v, valid = d.unescape(v)
			}
			d.setString(f, v, valid)
		}
		return end, true
	case c == 'n':
		return d.literal(i, "null") // null is an absent field
	case f == fWatchMS && (c == '-' || isDigit(c)):
		end, n, ok := d.scanNumber(i)
		if ok && !d.f.hasRej {
			d.setWatchMS(n)
		}
		return end, ok
	case f == fCompleted && (c == 't' || c == 'f'):
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		end, ok := d.literal(i, lit)
		if ok {
			d.f.present |= 1 << fCompleted
			d.f.completed = c == 't'
		}
		return end, ok
	}
	// The wrong kind of value: check its syntax, then say what was wanted.
	end, ok := d.skipValue(i, 1)
	if ok {
		d.reject(CodeInvalidField, fieldNames[f]+" must be "+wantKind(f)+", not "+kindOf(b[i]))
	}
	return end, ok
}

func wantKind(f int) string {
	switch f {
	case fWatchMS:
		return "an integer"
	case fCompleted:
		return "true or false"
	}
	return "a string"
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal checks that b[i:] starts with lit (true, false or null).
func (d *decoder) literal(i int, lit string) (int, bool) {
	b := d.line
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) || b[i+k] != lit[k] {
			return i + k, d.failAt(i+k, "the literal "+lit)
		}
	}
	return i + len(lit), true
}

// numberVal is an integer read by scanNumber, or why it is not one.
type numberVal struct {
	n        int64
	neg      bool
	notInt   bool // has a fraction or an exponent
	overflow bool // more digits than any valid value has
}

// scanNumber scans the JSON number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) scanNumber(i int) (int, numberVal, bool) {
	b := d.line
	var v numberVal
	if i < len(b) && b[i] == '-' {
		v.neg = true
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && isDigit(b[i]); i++ {
			if v.n > 1e15 {
				v.overflow = true // keep scanning, stop counting
				continue
			}
			v.n = v.n*10 + int64(b[i]-'0')
		}
	default:
		return i, v, d.failAt(i, "a digit")
	}
	if i < len(b) && b[i] == '.' {
		v.notInt = true
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, v, d.failAt(i, "a digit after '.'")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		v.notInt = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, v, d.failAt(i, "a digit in the exponent")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, v, true
}

// stringEnd marks the bytes that end the fast path of scanString.
var stringEnd = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// hasStringEnd reports whether one of the eight bytes in x is a quote, a
// backslash or a control character (the classic "has zero byte" bit trick:
// (v-0x01…01) &^ v & 0x80…80 is non-zero exactly when a byte of v is 0, and
// with 0x20…20 for 0x01…01 when a byte is below 0x20).
func hasStringEnd(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lo * '"')
	bs := x ^ (lo * '\\')
	return ((q-lo)&^q|(bs-lo)&^bs|(x-lo*0x20)&^x)&hi != 0
}

// scanString scans the JSON string whose opening quote is at b[i]. It
// returns the index after the closing quote and whether the string has
// escapes. Bytes of 0x80 and above are taken as they are: whether they are
// valid UTF-8 is a question for the field, not for the syntax.
func (d *decoder) scanString(i int) (end int, esc bool, ok bool) {
	b := d.line
	j := i + 1
	for {
		// Eight bytes at a time while none of them ends the fast path.
		for j+8 <= len(b) && !hasStringEnd(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && !stringEnd[b[j]] {
			j++
		}
		if j >= len(b) {
			return j, esc, d.fail(i, "unterminated string")
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, esc, true
		case c == '\\':
			esc = true
			if j+1 >= len(b) {
				return j, esc, d.fail(j, "unterminated string")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(b) || unhex(b[k]) < 0 {
						return k, esc, d.failAt(k, "4 hex digits in a \\u escape")
					}
				}
				j += 6
			default:
				return j, esc, d.fail(j, "invalid escape "+quote(b[j:j+2])+" in a string")
			}
		default:
			return j, esc, d.fail(j, "control character "+describeByte(c)+" in a string; escape it")
		}
	}
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func hex4(s []byte) rune {
	return unhex(s[0])<<12 | unhex(s[1])<<8 | unhex(s[2])<<4 | unhex(s[3])
}

// unescape decodes the escapes of s, the inside of a string scanString
// accepted, into d.scratch. valid is false when a \u escape is an unpaired
// UTF-16 surrogate (written as U+FFFD, as encoding/json does). The result
// stays valid for the whole line: unescaping never lengthens a string and
// scratch has room for the whole line, so appending never moves it.
func (d *decoder) unescape(s []byte) (out []byte, valid bool) {
	start := len(d.scratch)
	dst := d.scratch
	valid = true
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2 : i+6])
				}
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r, valid = utf8.RuneError, false
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	d.scratch = dst
	return dst[start:len(dst):len(dst)], valid
}

// skipValue checks the syntax of the value at b[i], of any kind, nested
// depth levels deep, and returns the index after it.
func (d *decoder) skipValue(i, depth int) (int, bool) {
	b := d.line
	if i >= len(b) {
		return i, d.failAt(i, "a value")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := d.scanString(i)
		return end, ok
	case c == '-' || isDigit(c):
		end, _, ok := d.scanNumber(i)
		return end, ok
	case c == 't':
		return d.literal(i, "true")
	case c == 'f':
		return d.literal(i, "false")
	case c == 'n':
		return d.literal(i, "null")
	case c == '{' || c == '[':
		if depth++; depth > maxDepth {
			return i, d.fail(i, fmt.Sprintf("values nested more than %d deep", maxDepth))
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, d.failAt(i, "a field name in double quotes")
				}
				end, _, ok := d.scanString(i)
				if !ok {
					return end, false
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return i, d.failAt(i, "':' after a field name")
				}
				i = skipSpace(b, i+1)
			}
			end, ok := d.skipValue(i, depth)
			if !ok {
				return end, false
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == closing {
				return i + 1, true
			}
			return i, d.failAt(i, "',' or '"+string(closing)+"'")
		}
	}
	return i, d.failAt(i, "a value")
}

// quote returns b as a Go-quoted string for a message, cut to 64 bytes so a
// hostile key cannot make the answer large.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}
