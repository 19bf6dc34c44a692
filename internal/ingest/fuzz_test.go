package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crowd-dev/crowd/internal/platform"
)

// fuzzOpts keeps lines and bodies small so the fuzzer reaches the limits.
var fuzzOpts = Options{Now: testNow, MaxLineBytes: 512, MaxLines: 64}

// FuzzDecode feeds arbitrary bodies to Decode and checks that it never
// panics, that what it returns is consistent (every event valid, every
// rejection in range and explained, Decode and DecodeLine agreeing), and
// that every line agrees with encoding/json:
//
//   - a line is malformed_json exactly when json.Valid says it is not one
//     JSON object;
//
//   - a line the scanner accepts decodes with encoding/json (strict, with
//     DisallowUnknownFields) to the same values;
//
//   - a line encoding/json decodes without error, whose keys are all
//     exact and distinct and whose strings are plain ASCII (where the two
//     legitimately differ: encoding/json matches keys case-insensitively,
//     keeps the last duplicate and replaces bad UTF-8 with U+FFFD), gets
//     the same verdict from the scanner as from encoding/json followed by
//     the same checks.
//
//     go test -run '^$' -fuzz FuzzDecode -fuzztime 60s ./internal/ingest/
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		viewLine, anonView, likeLine, shareLine, commentLine,
		viewLine + "\n\n" + likeLine + "\r\n" + shareLine + "\n",
		"\xEF\xBB\xBF" + commentLine,
		testBody(5, 2),
		withField(commentLine, "text", `"\ud83d\ude00\u00e9\n\"\\\/"`),
		withField(likeLine, "\\u0069d", `"x"`),
		withField(likeLine, "ts", `"2026-11-24T11:30:00.123456789+01:30"`),
		withField(anonView, "watch_ms", "1e3"),
		withField(anonView, "watch_ms", "-0"),
		withField(anonView, "source", `{"a":[1,true,null,"x"]}`),
		withField(likeLine, "id", `"a","id":"b"`),
		`[` + likeLine + `]`,
		"{\"id\":\"\x80\"}",
		"x\n{}\n{",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBody(t, body, fuzzOpts)
	})
}

// bodyLine is a line of a body, split the way Decode documents it.
type bodyLine struct {
	no    int
	text  []byte
	blank bool
}

func splitBody(body []byte, maxLineBytes int) []bodyLine {
	if len(body) == 0 {
		return nil
	}
	parts := bytes.Split(body, []byte("\n"))
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1] // a final "\n" ends the last line
	}
	var out []bodyLine
	for i, p := range parts {
		if i == 0 {
			p = bytes.TrimPrefix(p, []byte("\xEF\xBB\xBF"))
		}
		p = bytes.TrimSuffix(p, []byte("\r"))
		blank := len(p) <= maxLineBytes && len(bytes.Trim(p, " \t\r")) == 0
		out = append(out, bodyLine{no: i + 1, text: p, blank: blank})
	}
	return out
}

func checkBody(t *testing.T, body []byte, opts Options) {
	var events []Event
	rejected, err := Decode(bytes.NewReader(body), opts, func(ev *Event) error {
		checkEvent(t, ev, opts)
		events = append(events, *ev)
		return nil
	})
	lines := splitBody(body, opts.MaxLineBytes)
	switch {
	case err == nil:
	case errors.Is(err, ErrTooManyLines):
		if len(lines) <= opts.MaxLines {
			t.Fatalf("ErrTooManyLines for %d lines", len(lines))
		}
	case errors.Is(err, ErrNotNDJSON):
		if len(events) > 0 {
			t.Fatalf("ErrNotNDJSON after %d events", len(events))
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}
	if err == nil && len(lines) > opts.MaxLines {
		t.Fatalf("%d lines accepted, limit %d", len(lines), opts.MaxLines)
	}

	// Every line up to where Decode stopped has exactly one outcome, the
	// one DecodeLine gives it.
	results := map[int]string{}
	for _, ev := range events {
		results[ev.Line] = "event"
	}
	for i, r := range rejected {
		if r.Line < 1 || r.Line > len(lines) || r.Message == "" {
			t.Fatalf("rejection %+v out of range or without a message (%d lines)", r, len(lines))
		}
		if i > 0 && r.Line <= rejected[i-1].Line {
			t.Fatalf("rejections out of order: %+v", rejected)
		}
		if _, dup := results[r.Line]; dup {
			t.Fatalf("line %d both accepted and rejected", r.Line)
		}
		results[r.Line] = r.Code
	}
	for i := 1; i < len(events); i++ {
		if events[i].Line <= events[i-1].Line {
			t.Fatalf("events out of order")
		}
	}
	sawObject, first := false, -1
	for _, l := range lines {
		if l.no > opts.MaxLines {
			break
		}
		got, decoded := results[l.no]
		if l.blank {
			if decoded {
				t.Fatalf("blank line %d got %s", l.no, got)
			}
			continue
		}
		if first < 0 {
			first = firstNonSpace(l.text[:min(len(l.text), opts.MaxLineBytes)])
		}
		if !decoded {
			t.Fatalf("line %d (%q) has no outcome", l.no, l.text)
		}
		if got != CodeMalformedJSON && got != CodeLineTooLong {
			sawObject = true
		}
		var ev Event
		rej := DecodeLine(l.text, l.no, opts, &ev)
		want := "event"
		if rej != nil {
			want = rej.Code
		}
		if got != want {
			t.Fatalf("line %d (%q): Decode says %s, DecodeLine %s", l.no, l.text, got, want)
		}
		if len(l.text) <= opts.MaxLineBytes {
			checkAgainstStd(t, l.text, &ev, rej, opts)
		}
	}
	if err == nil && first >= 0 && first != '{' && !sawObject {
		t.Fatalf("body starting with %q and without any JSON object was not refused", rune(first))
	}
	if errors.Is(err, ErrNotNDJSON) && (first == '{' || sawObject) {
		t.Fatalf("refused as not NDJSON, but first byte %q, some object: %v", rune(first), sawObject)
	}
}

// checkEvent checks the invariants of a valid event.
func checkEvent(t *testing.T, ev *Event, opts Options) {
	t.Helper()
	fail := func(what string) { t.Helper(); t.Fatalf("line %d: %s: %+v", ev.Line, what, *ev) }
	if !slices.Contains(types, ev.Type) {
		fail("unknown type")
	}
	if checkID([]byte(ev.ID)) != "" || checkRef([]byte(ev.VideoID)) != "" {
		fail("bad id or video_id")
	}
	if (ev.AccountID == "" && ev.Type != "view") || (ev.AccountID != "" && checkRef([]byte(ev.AccountID)) != "") {
		fail("bad account_id")
	}
	if ev.TS.IsZero() || ev.TS.Location() != time.UTC || ev.TS.Before(time.Unix(0, 0)) || ev.TS.After(opts.Now.Add(DefaultMaxSkew)) {
		fail("bad ts")
	}
	isView, isShare, isComment := ev.Type == "view", ev.Type == "share", ev.Type == "comment"
	if isView != platform.ValidSource(ev.Source) || (!isView && (ev.WatchMS != 0 || ev.Completed)) ||
		ev.WatchMS < 0 || ev.WatchMS > platform.MaxWatchMS {
		fail("bad view fields")
	}
	if isShare != platform.ValidChannel(ev.Channel) {
		fail("bad channel")
	}
	if isComment != (ev.Text != "") || (isComment && platform.ValidateCommentText(ev.Text) != nil) {
		fail("bad text")
	}
}

// diffEvent is the line as encoding/json decodes it for the differential
// check: ts through time.Time's own RFC 3339 parser.
type diffEvent struct {
	ID        *string    `json:"id"`
	Type      *string    `json:"type"`
	VideoID   *string    `json:"video_id"`
	AccountID *string    `json:"account_id"`
	TS        *time.Time `json:"ts"`
	Source    *string    `json:"source"`
	WatchMS   *int64     `json:"watch_ms"`
	Completed *bool      `json:"completed"`
	Channel   *string    `json:"channel"`
	Text      *string    `json:"text"`
}

func strictUnmarshal(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

func checkAgainstStd(t *testing.T, line []byte, ev *Event, rej *Rejection, opts Options) {
	t.Helper()
	// Syntax: the same lines are JSON objects for both.
	i := skipSpace(line, 0)
	isObject := json.Valid(line) && i < len(line) && line[i] == '{'
	if malformed := rej != nil && rej.Code == CodeMalformedJSON; malformed == isObject {
		t.Fatalf("%q: json.Valid object %v, scanner %+v", line, isObject, rej)
	}

	// Accepted by the scanner: encoding/json reads the same values.
	if rej == nil {
		var s diffEvent
		if err := strictUnmarshal(line, &s); err != nil {
			t.Fatalf("%q accepted as %+v, but encoding/json: %v", line, *ev, err)
		}
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		var watch int64
		if s.WatchMS != nil {
			watch = *s.WatchMS
		}
		if str(s.ID) != ev.ID || str(s.Type) != ev.Type || str(s.VideoID) != ev.VideoID || str(s.AccountID) != ev.AccountID ||
			s.TS == nil || !s.TS.Equal(ev.TS) || str(s.Source) != ev.Source || watch != ev.WatchMS ||
			(s.Completed != nil && *s.Completed) != ev.Completed || str(s.Channel) != ev.Channel || str(s.Text) != ev.Text {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", line, *ev, s)
		}
	}

	// Accepted by encoding/json, with nothing where the two differ on
	// purpose: the scanner agrees with encoding/json plus the same checks.
	if !isObject || !stdComparable(line) {
		return
	}
	var s stdEvent
	if strictUnmarshal(line, &s) != nil {
		return
	}
	d := newDecoder(opts.withDefaults())
	var stdEv Event
	stdRej, stdOK := stdFinish(&d, &s, nil, 1, &stdEv)
	if ok := rej == nil; ok != stdOK || (!ok && rej.Code != stdRej.Code) {
		t.Fatalf("%q: scanner %+v, encoding/json %+v", line, rej, stdRej)
	}
	if stdOK {
		stdEv.Line = ev.Line
		if stdEv != *ev {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", line, *ev, stdEv)
		}
	}
}

// stdComparable reports whether line is free of what the scanner and
// encoding/json treat differently on purpose: non-ASCII bytes and \u
// escapes of surrogates (U+FFFD replacement), and keys that are not
// exactly one of the format's or appear twice.
func stdComparable(line []byte) bool {
	for _, c := range line {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	lower := bytes.ToLower(line)
	if bytes.Contains(lower, []byte(`\ud`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		if seen[key] || !slices.Contains(fieldNames[:], key) {
			return false
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return true
}

func TestFuzzSeedsHold(t *testing.T) {
	// The checks of FuzzDecode on the table tests' lines, in a normal run.
	for _, body := range []string{
		viewLine, anonView, likeLine, shareLine, commentLine, testBody(200, 3),
		withField(anonView, "source", `"tv"`) + "\n" + withField(likeLine, "ID", `"x"`) + "\n\n" + withField(likeLine, "id", `5`),
		strings.Repeat(" \n", 70),
	} {
		checkBody(t, []byte(body), Options{Now: testNow, MaxLineBytes: 512, MaxLines: 1000})
	}
}
