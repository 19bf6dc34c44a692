package ingest

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// maxIDBytes bounds id, video_id and account_id: ids are Crowd's (22
// characters) or a platform's own, synced with the same 128-byte limit.
const maxIDBytes = 128

// types are the event types of the ingestion format.
var types = []string{event.View, event.Like, event.Unlike, event.Comment, event.Save, event.Unsave, event.Share}

// allowed returns the type-specific fields an event of type typ may have.
func allowed(typ string) fieldSet {
	switch typ {
	case event.View:
		return 1<<fSource | 1<<fWatchMS | 1<<fCompleted
	case event.Share:
		return 1 << fChannel
	case event.Comment:
		return 1 << fText
	}
	return 0
}

// typeSpecific are the fields that belong to some types only.
const typeSpecific fieldSet = 1<<fSource | 1<<fWatchMS | 1<<fCompleted | 1<<fChannel | 1<<fText

// oneOf returns the element of list equal to v, so the event holds the
// canonical constant and not a copy of the line's bytes.
func oneOf(list []string, v []byte) (string, bool) {
	for _, s := range list {
		if s == string(v) {
			return s, true
		}
	}
	return "", false
}

func joinList(list []string) string {
	s := ""
	for i, x := range list {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

var (
	typeList    = joinList(types)
	sourceList  = joinList(platform.Sources)
	channelList = joinList(platform.Channels)
)

// setString checks and stores a string value of field f. valid is false when
// the JSON string had an unpaired surrogate escape.
func (d *decoder) setString(f int, v []byte, valid bool) {
	name := fieldNames[f]
	if !valid {
		d.reject(CodeInvalidField, name+" has a \\u escape of an unpaired UTF-16 surrogate")
		return
	}
	switch f {
	case fID:
		if msg := checkID(v); msg != "" {
			d.reject(CodeInvalidField, name+msg)
			return
		}
		d.f.id = v
	case fVideoID, fAccountID:
		if f == fAccountID && len(v) == 0 {
			return // "" is a logged-out view, like null
		}
		if msg := checkRef(v); msg != "" {
			d.reject(CodeInvalidField, name+msg)
			return
		}
		if f == fVideoID {
			d.f.videoID = v
		} else {
			d.f.accountID = v
		}
	case fType:
		s, ok := oneOf(types, v)
		if !ok {
			d.reject(CodeInvalidField, "type "+quote(v)+" is not one of "+typeList)
			return
		}
		d.f.typ = s
	case fSource:
		s, ok := oneOf(platform.Sources, v)
		if !ok {
			d.reject(CodeInvalidField, "source "+quote(v)+" is not one of "+sourceList)
			return
		}
		d.f.source = s
	case fChannel:
		s, ok := oneOf(platform.Channels, v)
		if !ok {
			d.reject(CodeInvalidField, "channel "+quote(v)+" is not one of "+channelList)
			return
		}
		d.f.channel = s
	case fTS:
		t, msg := parseTS(v)
		if msg != "" {
			d.reject(CodeInvalidField, "ts "+quote(v)+" "+msg)
			return
		}
		d.f.ts = t
	case fText:
		// The text is checked by the rule of the comment API, so a comment
		// is valid through both doors or through neither.
		text := string(v)
		if err := platform.ValidateCommentText(text); err != nil {
			d.reject(CodeInvalidField, platform.ErrorMessage(err))
			return
		}
		d.f.text = text
	}
	d.f.present |= 1 << f
}

// checkID checks an idempotency key; it returns "" or the end of a message.
func checkID(v []byte) string {
	if len(v) == 0 {
		return " must not be empty"
	}
	if len(v) > maxIDBytes {
		return " is longer than " + strconv.Itoa(maxIDBytes) + " bytes"
	}
	for _, c := range v {
		if c <= ' ' || c > '~' {
			return " must be printable ASCII without spaces"
		}
	}
	return ""
}

// checkRef checks a video or account id. Their format is the platform's
// choice, so only what no id can hold is refused: invalid UTF-8 (PostgreSQL
// would refuse it later) and control characters.
func checkRef(v []byte) string {
	if len(v) == 0 {
		return " must not be empty"
	}
	if len(v) > maxIDBytes {
		return " is longer than " + strconv.Itoa(maxIDBytes) + " bytes"
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return " must not contain control characters"
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && n <= 1 {
			return " must be valid UTF-8"
		}
		if r >= 0x80 && r < 0xa0 { // C1 controls
			return " must not contain control characters"
		}
		i += n
	}
	return ""
}

func (d *decoder) setWatchMS(v numberVal) {
	switch {
	case v.notInt:
		d.reject(CodeInvalidField, "watch_ms must be a whole number of milliseconds")
	case v.overflow || (v.neg && v.n != 0) || v.n > platform.MaxWatchMS:
		d.reject(CodeInvalidField, "watch_ms must be between 0 and "+strconv.Itoa(platform.MaxWatchMS))
	default:
		d.f.watchMS = v.n
		d.f.present |= 1 << fWatchMS
	}
}

// finish applies the rules that involve more than one field and fills ev.
func (d *decoder) finish(lineNo int, ev *Event) (Rejection, bool) {
	f := &d.f
	if f.hasRej {
		f.rej.Line = lineNo
		return f.rej, false
	}
	reject := func(code, msg string) (Rejection, bool) {
		return Rejection{Line: lineNo, Code: code, Message: msg}, false
	}
	if !f.present.has(fType) {
		return reject(CodeMissingField, "type is required")
	}
	if extra := f.present & typeSpecific &^ allowed(f.typ); extra != 0 {
		for k := 0; k < numFields; k++ {
			if extra.has(k) {
				return reject(CodeInvalidField, fieldNames[k]+" is not allowed for type "+f.typ)
			}
		}
	}
	required := fieldSet(1<<fID | 1<<fVideoID | 1<<fTS)
	switch f.typ {
	case event.View:
		required |= 1 << fSource
	case event.Share:
		required |= 1<<fAccountID | 1<<fChannel
	case event.Comment:
		required |= 1<<fAccountID | 1<<fText
	default:
		required |= 1 << fAccountID
	}
	if missing := required &^ f.present; missing != 0 {
		for k := 0; k < numFields; k++ {
			if missing.has(k) {
				msg := fieldNames[k] + " is required"
				if k != fID && k != fVideoID && k != fTS {
					msg += " for type " + f.typ
				}
				return reject(CodeMissingField, msg)
			}
		}
	}
	ts := f.ts
	if ts.After(d.latest) {
		return reject(CodeFutureTimestamp, "ts "+ts.Format(time.RFC3339Nano)+" is in the future (later than "+d.latest.UTC().Format(time.RFC3339)+")")
	}

	// All ids of the event in one string: one allocation instead of three.
	d.joined = append(append(append(d.joined[:0], f.id...), f.videoID...), f.accountID...)
	ids := string(d.joined)
	a, b := len(f.id), len(f.id)+len(f.videoID)
	*ev = Event{
		Line:      lineNo,
		ID:        ids[:a],
		Type:      f.typ,
		VideoID:   ids[a:b],
		AccountID: ids[b:],
		TS:        ts,
		Source:    f.source,
		WatchMS:   f.watchMS,
		Completed: f.completed,
		Channel:   f.channel,
		Text:      f.text,
	}
	return Rejection{}, true
}
