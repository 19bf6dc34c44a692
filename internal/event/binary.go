package event

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// The log's binary format.
//
// A log message is a frame: the byte frameMagic, then each event as a
// uvarint length followed by that many bytes of record. The outbox holds
// the same records, one per row.
//
// A record is, in order: its format (recordV2, or recordV1 in logs written
// before it); the type as one byte (typeCodes); a flags byte
// (flagCompleted, flagImported); the time as a zigzag varint of Unix
// nanoseconds; watch_ms as a uvarint; then the strings ID, VideoID,
// CreatorID, Source, Actor, ActorDay, AccountDay, Age, Gender and Country.
// Decoding one costs about a tenth of decoding the same event as JSON, and
// aggregation decodes every event once more.
//
// In recordV1 each string is a uvarint length and its bytes. In recordV2
// each is a uvarint head h, the string's kind in its two low bits and a
// number n in the rest:
//
//   - textKind: n bytes of text follow;
//   - pseudonymKind: the string is a prefix of n bytes, which follow, then
//     16 bytes written as 22 characters of unpadded base64url
//     (pseudonyms: internal/pseudonym), which follow raw;
//   - idKind: the string is 16 bytes written as 26 characters of unpadded
//     lowercase base32 (resource ids: security.NewID), which follow raw
//     (n is 0);
//   - wordKind: the string is words[n] (traffic sources, audience buckets).
//
// A string is written in a packed kind only when it is exactly what
// decoding gives back, so every string survives whatever it holds. Packed,
// a view's record is a third shorter (138 → 92 bytes): the log and the
// outbox hold fewer bytes an event.
const (
	frameMagic byte = 0xCE // never the first byte of UTF-8 text
	recordV1   byte = 0x01
	recordV2   byte = 0x02
)

// The kinds of a recordV2 string.
const (
	textKind = iota
	pseudonymKind
	idKind
	wordKind
)

// words are the strings wordKind names by number; numbers are never
// reused or changed (records in the log name them).
var words = []string{
	"for_you", "following", "profile", "search", "hashtag", "sound", "shared", "other",
	"13-17", "18-24", "25-34", "35-44", "45-54", "55+", "unknown",
	"female", "male",
}

var wordCodes = func() map[string]int {
	m := make(map[string]int, len(words))
	for i, w := range words {
		if _, dup := m[w]; dup {
			panic("event: word " + w + " twice")
		}
		m[w] = i
	}
	return m
}()

const (
	rawLen       = 16 // the bytes of a pseudonym or an id
	pseudonymLen = 22 // base64url characters of rawLen bytes
	idLen        = 26 // base32 characters of rawLen bytes
)

// The encodings of packed strings are the log format's own, fixed here
// (security.NewID's alphabet is the same today): records in the log must
// decode to the same text whatever later versions do with new ids.
// Strict decoding refuses a last character with bits beyond the 16 bytes,
// so a string it takes is the one encoding of its bytes.
var (
	pseudonymEncoding = base64.RawURLEncoding.Strict()
	idEncoding        = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

const (
	flagCompleted = 1 << iota
	flagImported
)

// typeCodes numbers the event types for the binary record; codes are never
// reused.
var typeCodes = []string{0: "", 1: View, 2: Like, 3: Unlike, 4: Comment, 5: Save, 6: Unsave, 7: Share, 8: CommentDelete, 9: Follow, 10: Unfollow}

func typeCode(t string) (byte, bool) {
	for i, s := range typeCodes {
		if s == t && i > 0 {
			return byte(i), true
		}
	}
	return 0, false
}

// AppendBinary appends e's binary record to b.
func (e *Event) AppendBinary(b []byte) ([]byte, error) {
	b, err := e.appendHead(b, recordV2)
	if err != nil {
		return b, err
	}
	b = appendPacked(b, e.ID)
	b = appendID(b, e.VideoID)
	b = appendID(b, e.CreatorID)
	b = appendWord(b, e.Source)
	b = appendPacked(b, e.Actor)
	b = appendPacked(b, e.ActorDay)
	b = appendPacked(b, e.AccountDay)
	b = appendWord(b, e.Age)
	b = appendWord(b, e.Gender)
	b = appendWord(b, e.Country)
	return b, nil
}

// appendHead appends what records of every format begin with: format, the
// type, the flags, the time and watch_ms.
func (e *Event) appendHead(b []byte, format byte) ([]byte, error) {
	code, ok := typeCode(e.Type)
	if !ok {
		return b, fmt.Errorf("encode event: unknown type %q", e.Type)
	}
	var flags byte
	if e.Completed {
		flags |= flagCompleted
	}
	if e.Imported {
		flags |= flagImported
	}
	b = append(b, format, code, flags)
	b = binary.AppendVarint(b, e.TS.UnixNano())
	if e.WatchMS < 0 {
		return b, fmt.Errorf("encode event: negative watch_ms %d", e.WatchMS)
	}
	return binary.AppendUvarint(b, uint64(e.WatchMS)), nil
}

// appendText appends s as textKind.
func appendText(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s))<<2) // kind textKind, 0
	return append(b, s...)
}

// appendPacked appends s as pseudonymKind if it ends in one, else as text.
func appendPacked(b []byte, s string) []byte {
	if len(s) < pseudonymLen {
		return appendText(b, s)
	}
	prefix, tail := s[:len(s)-pseudonymLen], s[len(s)-pseudonymLen:]
	// Strict decoding takes only the one encoding of 16 bytes. (It skips
	// newlines, but 22 characters with one are not 16 bytes.)
	var raw [rawLen]byte
	if n, err := pseudonymEncoding.Decode(raw[:], []byte(tail)); err != nil || n != rawLen {
		return appendText(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(prefix))<<2|pseudonymKind)
	b = append(b, prefix...)
	return append(b, raw[:]...)
}

// appendID appends s as idKind if it is one, else as text.
func appendID(b []byte, s string) []byte {
	if len(s) != idLen {
		return appendText(b, s)
	}
	// base32 has no strict decoding: the id is checked by encoding it
	// again.
	var raw [rawLen]byte
	var again [idLen]byte
	if n, err := idEncoding.Decode(raw[:], []byte(s)); err != nil || n != rawLen {
		return appendText(b, s)
	}
	if idEncoding.Encode(again[:], raw[:]); string(again[:]) != s {
		return appendText(b, s)
	}
	b = append(b, idKind)
	return append(b, raw[:]...)
}

// appendWord appends s as wordKind if it is one of words, else as text.
func appendWord(b []byte, s string) []byte {
	if i, ok := wordCodes[s]; ok {
		return binary.AppendUvarint(b, uint64(i)<<2|wordKind)
	}
	return appendText(b, s)
}

// Encode returns e's binary record.
func (e *Event) Encode() ([]byte, error) { return e.AppendBinary(make([]byte, 0, 96)) }

var errShort = errors.New("truncated event record")

// Decode decodes one record.
func Decode(rec []byte) (Event, error) {
	var e Event
	err := DecodeInto(&e, rec)
	return e, err
}

// DecodeInto decodes one record into *e, which it overwrites whole; on
// error *e is the zero Event.
func DecodeInto(e *Event, rec []byte) error {
	*e = Event{}
	err := decode(e, rec)
	if err != nil {
		*e = Event{}
	}
	return err
}

func decode(e *Event, rec []byte) error {
	if len(rec) == 0 {
		return errShort
	}
	if rec[0] != recordV1 && rec[0] != recordV2 {
		return fmt.Errorf("decode event: unknown record format %#x", rec[0])
	}
	if len(rec) < 3 {
		return errShort
	}
	if int(rec[1]) >= len(typeCodes) || rec[1] == 0 {
		return fmt.Errorf("decode event: unknown type code %d", rec[1])
	}
	if rec[2]&^(flagCompleted|flagImported) != 0 {
		return fmt.Errorf("decode event: unknown flags %#x", rec[2])
	}
	e.V, e.Type, e.Completed, e.Imported = SchemaVersion, typeCodes[rec[1]], rec[2]&flagCompleted != 0, rec[2]&flagImported != 0
	rest := rec[3:]
	ns, n := binary.Varint(rest)
	if n <= 0 {
		return errShort
	}
	e.TS = time.Unix(0, ns).UTC()
	rest = rest[n:]
	w, n := binary.Uvarint(rest)
	if n <= 0 || w > 1<<62 {
		return errShort
	}
	e.WatchMS = int64(w)
	rest = rest[n:]
	fields := [...]*string{&e.ID, &e.VideoID, &e.CreatorID, &e.Source, &e.Actor, &e.ActorDay, &e.AccountDay, &e.Age, &e.Gender, &e.Country}
	if rec[0] == recordV1 {
		// One string holds every text field; the fields are slices of
		// it, so an event costs one allocation however many fields it
		// has.
		s := string(rest)
		off := 0
		for _, f := range fields {
			l, n := binary.Uvarint(rest[off:])
			if n <= 0 || l > uint64(len(s)-off-n) {
				return errShort
			}
			off += n
			*f = s[off : off+int(l)]
			off += int(l)
		}
		if off != len(s) {
			return fmt.Errorf("decode event: %d trailing bytes", len(s)-off)
		}
		return nil
	}
	// recordV2: a first pass checks the strings and sums their lengths,
	// a second writes them into one string, the fields slices of it.
	total, err := packedLen(rest, len(fields))
	if err != nil {
		return err
	}
	var sb strings.Builder
	sb.Grow(total)
	var ends [len(fields)]int
	var enc [idLen]byte
	for i := range fields {
		h, n := binary.Uvarint(rest) // packedLen checked every head and length
		rest = rest[n:]
		l := h >> 2
		switch h & 3 {
		case textKind:
			sb.Write(rest[:l])
			rest = rest[l:]
		case pseudonymKind:
			sb.Write(rest[:l])
			pseudonymEncoding.Encode(enc[:pseudonymLen], rest[l:l+rawLen])
			sb.Write(enc[:pseudonymLen])
			rest = rest[l+rawLen:]
		case idKind:
			idEncoding.Encode(enc[:], rest[:rawLen])
			sb.Write(enc[:])
			rest = rest[rawLen:]
		default: // wordKind
			sb.WriteString(words[l])
		}
		ends[i] = sb.Len()
	}
	s := sb.String()
	at := 0
	for i, f := range fields {
		*f = s[at:ends[i]]
		at = ends[i]
	}
	return nil
}

// packedLen checks the n recordV2 strings of b and returns the length of
// the text they stand for.
func packedLen(b []byte, n int) (int, error) {
	total := 0
	for range n {
		h, m := binary.Uvarint(b)
		if m <= 0 {
			return 0, errShort
		}
		b = b[m:]
		l := h >> 2
		switch h & 3 {
		case textKind, pseudonymKind:
			raw, size := uint64(0), l
			if h&3 == pseudonymKind {
				raw, size = rawLen, l+pseudonymLen
			}
			if l > uint64(len(b)) || raw > uint64(len(b))-l {
				return 0, errShort
			}
			b = b[l+raw:]
			total += int(size)
		case idKind:
			if l != 0 {
				return 0, fmt.Errorf("decode event: id of head %d", h)
			}
			if len(b) < rawLen {
				return 0, errShort
			}
			b = b[rawLen:]
			total += idLen
		default: // wordKind
			if l >= uint64(len(words)) {
				return 0, fmt.Errorf("decode event: unknown word %d", l)
			}
			total += len(words[l])
		}
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("decode event: %d trailing bytes", len(b))
	}
	return total, nil
}

// AppendFrame appends one record to the frame msg, starting the frame if
// msg is empty.
func AppendFrame(msg, rec []byte) []byte {
	if len(msg) == 0 {
		msg = append(msg, frameMagic)
	}
	msg = binary.AppendUvarint(msg, uint64(len(rec)))
	return append(msg, rec...)
}

// FrameOverhead is the most bytes AppendFrame adds besides the record.
const FrameOverhead = 1 + binary.MaxVarintLen64

// Records yields the records of one log message, a frame; a message that
// is not a frame, or a malformed one, yields an error and stops.
func Records(msg []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		if len(msg) == 0 || msg[0] != frameMagic {
			yield(nil, errors.New("not an event frame"))
			return
		}
		rest := msg[1:]
		for len(rest) > 0 {
			l, n := binary.Uvarint(rest)
			if n <= 0 || l > uint64(len(rest)-n) {
				yield(nil, errors.New("malformed event frame"))
				return
			}
			if !yield(rest[n:n+int(l)], nil) {
				return
			}
			rest = rest[n+int(l):]
		}
	}
}
