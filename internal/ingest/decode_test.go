package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

var testOpts = Options{Now: testNow}

// Lines of each type that are valid, for building bodies.
const (
	viewLine    = `{"id":"e1","type":"view","video_id":"v1","account_id":"a1","ts":"2026-11-24T10:00:00Z","source":"for_you","watch_ms":1500,"completed":true}`
	anonView    = `{"id":"e2","type":"view","video_id":"v1","ts":"2026-11-24T10:00:00Z","source":"search"}`
	likeLine    = `{"id":"e3","type":"like","video_id":"v1","account_id":"a1","ts":"2026-11-24T10:00:00Z"}`
	shareLine   = `{"id":"e4","type":"share","video_id":"v1","account_id":"a1","ts":"2026-11-24T10:00:00Z","channel":"whatsapp"}`
	commentLine = `{"id":"e5","type":"comment","video_id":"v1","account_id":"a1","ts":"2026-11-24T10:00:00Z","text":"nice"}`
)

// line builds a like line with one field replaced, added or (with value "")
// removed, in the given order of the base fields.
func withField(base, key, value string) string {
	// Re-encode by hand to keep the field order readable in failures.
	fields := splitFields(base)
	found := false
	out := make([]string, 0, len(fields)+1)
	for _, f := range fields {
		if strings.HasPrefix(f, `"`+key+`":`) {
			found = true
			if value == "" {
				continue
			}
			f = `"` + key + `":` + value
		}
		out = append(out, f)
	}
	if !found && value != "" {
		out = append(out, `"`+key+`":`+value)
	}
	return "{" + strings.Join(out, ",") + "}"
}

// splitFields splits the flat test lines above (no commas inside values).
func splitFields(line string) []string {
	return strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "{"), "}"), ",")
}

func TestDecodeLine_Valid(t *testing.T) {
	long := strings.Repeat("x", 128)
	tests := []struct {
		name string
		line string
		want Event
	}{
		{"view with every field", viewLine, Event{ID: "e1", Type: "view", VideoID: "v1", AccountID: "a1",
			TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "for_you", WatchMS: 1500, Completed: true}},
		{"logged-out view takes the defaults", anonView, Event{ID: "e2", Type: "view", VideoID: "v1",
			TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"account_id null is a logged-out view", withField(anonView, "account_id", "null"), Event{ID: "e2", Type: "view", VideoID: "v1",
			TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"account_id empty is a logged-out view", withField(anonView, "account_id", `""`), Event{ID: "e2", Type: "view", VideoID: "v1",
			TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"null optional fields take the defaults", withField(withField(withField(anonView, "watch_ms", "null"), "completed", "null"), "channel", "null"),
			Event{ID: "e2", Type: "view", VideoID: "v1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"like", likeLine, Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"unlike", withField(likeLine, "type", `"unlike"`), Event{ID: "e3", Type: "unlike", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"save", withField(likeLine, "type", `"save"`), Event{ID: "e3", Type: "save", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"unsave", withField(likeLine, "type", `"unsave"`), Event{ID: "e3", Type: "unsave", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"share", shareLine, Event{ID: "e4", Type: "share", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Channel: "whatsapp"}},
		{"comment", commentLine, Event{ID: "e5", Type: "comment", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Text: "nice"}},
		{"every escape in text", withField(commentLine, "text", `"q\"b\\s\/n\nt\té\u00e9\u20AC\ud83d\ude00"`),
			Event{ID: "e5", Type: "comment", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Text: "q\"b\\s/n\nt\téé€😀"}},
		{"raw UTF-8 in text and ids", withField(withField(commentLine, "text", `"日本語 😀"`), "video_id", `"vidéo"`),
			Event{ID: "e5", Type: "comment", VideoID: "vidéo", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Text: "日本語 😀"}},
		{"escaped keys and ids", `{"\u0069d":"e\u0031","type":"lik\u0065","video_id":"v\/1","account_id":"a1","ts":"2026-11-24T10:00:00Z"}`,
			Event{ID: "e1", Type: "like", VideoID: "v/1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"whitespace everywhere and any key order", " \t{ \"ts\" : \"2026-11-24T10:00:00Z\" ,\r\"account_id\":\"a1\", \"video_id\" :\"v1\",\"type\":\"like\",\"id\":\"e3\" } \t",
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"ts with an offset is converted to UTC", withField(likeLine, "ts", `"2026-11-24T11:30:00+01:30"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"ts with a negative offset", withField(likeLine, "ts", `"2026-11-23T23:00:00-11:00"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"ts with a fraction", withField(likeLine, "ts", `"2026-11-24T10:00:00.5Z"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 5e8, time.UTC)}},
		{"ts fraction beyond nanoseconds is cut", withField(likeLine, "ts", `"2026-11-24T10:00:00.1234567891234Z"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)}},
		{"ts on a leap day", withField(likeLine, "ts", `"2024-02-29T00:00:00Z"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}},
		{"ts within the clock skew", withField(likeLine, "ts", `"2026-11-24T12:04:59Z"`),
			Event{ID: "e3", Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 12, 4, 59, 0, time.UTC)}},
		{"watch_ms at its maximum", withField(anonView, "watch_ms", "86400000"),
			Event{ID: "e2", Type: "view", VideoID: "v1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search", WatchMS: 86400000}},
		{"watch_ms minus zero is zero", withField(anonView, "watch_ms", "-0"),
			Event{ID: "e2", Type: "view", VideoID: "v1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"completed false", withField(anonView, "completed", "false"),
			Event{ID: "e2", Type: "view", VideoID: "v1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Source: "search"}},
		{"ids of 128 bytes", withField(withField(withField(likeLine, "id", `"`+long+`"`), "video_id", `"`+long+`"`), "account_id", `"`+long+`"`),
			Event{ID: long, Type: "like", VideoID: long, AccountID: long, TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"id of printable punctuation", withField(likeLine, "id", `"!~{}[]\"\\"`),
			Event{ID: `!~{}[]"\`, Type: "like", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}},
		{"text of 2000 characters", withField(commentLine, "text", `"`+strings.Repeat("é", 2000)+`"`),
			Event{ID: "e5", Type: "comment", VideoID: "v1", AccountID: "a1", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Text: strings.Repeat("é", 2000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event{Text: "stale", Channel: "stale"} // DecodeLine overwrites all of it
			if rej := DecodeLine([]byte(tt.line), 7, testOpts, &ev); rej != nil {
				t.Fatalf("DecodeLine(%s) rejected: %+v", tt.line, *rej)
			}
			tt.want.Line = 7
			if ev != tt.want {
				t.Errorf("DecodeLine(%s)\n got %+v\nwant %+v", tt.line, ev, tt.want)
			}
			if ev.TS.Location() != time.UTC {
				t.Errorf("TS location = %v, want UTC", ev.TS.Location())
			}
		})
	}
}

func TestDecodeLine_Rejected(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		line string
		code string
		msg  string // a part of the message, when it matters
	}{
		// malformed_json: anything that is not one valid JSON object.
		{"empty line", "", CodeMalformedJSON, "empty line"},
		{"only an opening brace", "{", CodeMalformedJSON, "end of line"},
		{"array", `[` + likeLine + `]`, CodeMalformedJSON, "must be a JSON object"},
		{"string", `"view"`, CodeMalformedJSON, "must be a JSON object"},
		{"number", `42`, CodeMalformedJSON, "must be a JSON object"},
		{"missing value", `{"id":}`, CodeMalformedJSON, "byte 7"},
		{"missing colon", `{"id" "e1"}`, CodeMalformedJSON, "':'"},
		{"trailing comma", `{"id":"e1",}`, CodeMalformedJSON, "field name"},
		{"single quotes", `{'id':'e1'}`, CodeMalformedJSON, "field name"},
		{"bare key", `{id:"e1"}`, CodeMalformedJSON, "field name"},
		{"unterminated string", `{"id":"e1}`, CodeMalformedJSON, "unterminated"},
		{"unterminated key", `{"id`, CodeMalformedJSON, "unterminated"},
		{"raw control character in a string", "{\"text\":\"a\tb\"}", CodeMalformedJSON, "control character"},
		{"invalid escape", `{"id":"\x41"}`, CodeMalformedJSON, "invalid escape"},
		{"short unicode escape", `{"id":"\u12"}`, CodeMalformedJSON, "hex digits"},
		{"bad hex in unicode escape", `{"id":"\u12G4"}`, CodeMalformedJSON, "hex digits"},
		{"backslash at the end", `{"id":"\`, CodeMalformedJSON, "unterminated"},
		{"leading zero", `{"watch_ms":01}`, CodeMalformedJSON, ""},
		{"dot without digits", `{"watch_ms":1.}`, CodeMalformedJSON, "after '.'"},
		{"leading dot", `{"watch_ms":.5}`, CodeMalformedJSON, ""},
		{"plus sign", `{"watch_ms":+1}`, CodeMalformedJSON, ""},
		{"lone minus", `{"watch_ms":-}`, CodeMalformedJSON, "digit"},
		{"empty exponent", `{"watch_ms":1e}`, CodeMalformedJSON, "exponent"},
		{"bad literal", `{"completed":tru}`, CodeMalformedJSON, "literal true"},
		{"literal with junk", `{"completed":truex}`, CodeMalformedJSON, ""},
		{"NaN", `{"watch_ms":NaN}`, CodeMalformedJSON, ""},
		{"two objects on one line", likeLine + likeLine, CodeMalformedJSON, "one object a line"},
		{"junk after the object", likeLine + " x", CodeMalformedJSON, "after the object"},
		{"invalid UTF-8 outside strings", likeLine + "\xff", CodeMalformedJSON, "0xff"},
		{"NUL outside strings", "{\x00}", CodeMalformedJSON, "0x00"},
		{"broken nested value", `{"foo":{"a":[1,}}`, CodeMalformedJSON, ""},
		{"nested key without quotes", `{"foo":{a:1}}`, CodeMalformedJSON, ""},
		{"nesting deeper than encoding/json allows", `{"foo":` + deep(10000) + `}`, CodeMalformedJSON, "nested"},
		{"syntax beats an earlier field error", `{"id":5,"foo":1,"x":}`, CodeMalformedJSON, ""},

		// unknown_field
		{"unknown field", withField(likeLine, "foo", "1"), CodeUnknownField, `"foo"`},
		{"keys are case-sensitive", withField(likeLine, "ID", `"e1"`), CodeUnknownField, `"ID"`},
		{"unknown field with a nested value", withField(likeLine, "meta", `{"a":[1,2,{"b":null}]}`), CodeUnknownField, `"meta"`},
		{"unknown field with null", withField(likeLine, "foo", "null"), CodeUnknownField, `"foo"`},
		{"unknown field comes first when first", `{"foo":1,"id":""}`, CodeUnknownField, ""},
		{"long unknown key is cut in the message", withField(likeLine, strings.Repeat("k", 500), "1"), CodeUnknownField, "…"},

		// missing_field
		{"empty object", `{}`, CodeMissingField, "type"},
		{"no type", withField(likeLine, "type", ""), CodeMissingField, "type is required"},
		{"type null", withField(likeLine, "type", "null"), CodeMissingField, "type is required"},
		{"no id", withField(likeLine, "id", ""), CodeMissingField, "id is required"},
		{"id null", withField(likeLine, "id", "null"), CodeMissingField, "id is required"},
		{"no video_id", withField(likeLine, "video_id", ""), CodeMissingField, "video_id"},
		{"no ts", withField(likeLine, "ts", ""), CodeMissingField, "ts"},
		{"no account_id on a like", withField(likeLine, "account_id", ""), CodeMissingField, "account_id is required for type like"},
		{"account_id empty on a like", withField(likeLine, "account_id", `""`), CodeMissingField, "account_id"},
		{"account_id null on a share", withField(shareLine, "account_id", "null"), CodeMissingField, "account_id"},
		{"no account_id on a comment", withField(commentLine, "account_id", ""), CodeMissingField, "account_id"},
		{"no source on a view", withField(anonView, "source", ""), CodeMissingField, "source"},
		{"no channel on a share", withField(shareLine, "channel", ""), CodeMissingField, "channel"},
		{"no text on a comment", withField(commentLine, "text", ""), CodeMissingField, "text"},
		{"text null on a comment", withField(commentLine, "text", "null"), CodeMissingField, "text"},

		// invalid_field: wrong JSON type.
		{"id a number", withField(likeLine, "id", "5"), CodeInvalidField, "id must be a string, not a number"},
		{"video_id an object", withField(likeLine, "video_id", `{"id":"v1"}`), CodeInvalidField, "not an object"},
		{"source an array", withField(anonView, "source", `["for_you"]`), CodeInvalidField, "not an array"},
		{"type a boolean", withField(likeLine, "type", "true"), CodeInvalidField, "not a boolean"},
		{"ts a unix number", withField(likeLine, "ts", "1764000000"), CodeInvalidField, "ts must be a string"},
		{"watch_ms a string", withField(anonView, "watch_ms", `"100"`), CodeInvalidField, "watch_ms must be an integer, not a string"},
		{"completed a string", withField(anonView, "completed", `"true"`), CodeInvalidField, "completed must be true or false"},
		{"completed a number", withField(anonView, "completed", "1"), CodeInvalidField, "completed must be true or false"},
		{"deep nesting within the limit", withField(likeLine, "video_id", deep(100)), CodeInvalidField, "array"},

		// invalid_field: wrong value.
		{"duplicate key", withField(likeLine, "id", `"e1","id":"e1"`), CodeInvalidField, `duplicate field "id"`},
		{"duplicate key after null", withField(likeLine, "id", `null,"id":"e1"`), CodeInvalidField, "duplicate"},
		{"duplicate escaped key", withField(likeLine, "id", `"e1","\u0069d":"e2"`), CodeInvalidField, "duplicate"},
		{"id empty", withField(likeLine, "id", `""`), CodeInvalidField, "id must not be empty"},
		{"id too long", withField(likeLine, "id", `"`+strings.Repeat("x", 129)+`"`), CodeInvalidField, "longer than 128"},
		{"id with a space", withField(likeLine, "id", `"e 1"`), CodeInvalidField, "printable ASCII"},
		{"id with an escaped control character", withField(likeLine, "id", `"e\n1"`), CodeInvalidField, "printable ASCII"},
		{"id not ASCII", withField(likeLine, "id", `"é"`), CodeInvalidField, "printable ASCII"},
		{"type unknown", withField(likeLine, "type", `"click"`), CodeInvalidField, `type "click" is not one of view, like`},
		{"type in capitals", withField(likeLine, "type", `"LIKE"`), CodeInvalidField, "not one of"},
		{"video_id empty", withField(likeLine, "video_id", `""`), CodeInvalidField, "video_id must not be empty"},
		{"video_id with NUL", withField(likeLine, "video_id", `"v\u00001"`), CodeInvalidField, "control characters"},
		{"video_id invalid UTF-8", withField(likeLine, "video_id", "\"v\xff1\""), CodeInvalidField, "valid UTF-8"},
		{"account_id too long", withField(likeLine, "account_id", `"`+strings.Repeat("a", 129)+`"`), CodeInvalidField, "account_id is longer"},
		{"ts with a space", withField(likeLine, "ts", `"2026-11-24 10:00:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts without seconds", withField(likeLine, "ts", `"2026-11-24T10:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts without zone", withField(likeLine, "ts", `"2026-11-24T10:00:00"`), CodeInvalidField, "RFC 3339"},
		{"ts date only", withField(likeLine, "ts", `"2026-11-24"`), CodeInvalidField, "RFC 3339"},
		{"ts in another format", withField(likeLine, "ts", `"24/11/2026 10:00"`), CodeInvalidField, "RFC 3339"},
		{"ts lowercase t", withField(likeLine, "ts", `"2026-11-24t10:00:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts 30 February", withField(likeLine, "ts", `"2026-02-30T10:00:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts 29 February of a common year", withField(likeLine, "ts", `"2026-02-29T10:00:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts hour 24", withField(likeLine, "ts", `"2026-11-24T24:00:00Z"`), CodeInvalidField, "RFC 3339"},
		{"ts leap second", withField(likeLine, "ts", `"2026-12-31T23:59:60Z"`), CodeInvalidField, "RFC 3339"},
		{"ts offset hour 24", withField(likeLine, "ts", `"2026-11-24T10:00:00+24:00"`), CodeInvalidField, "RFC 3339"},
		{"ts offset without colon", withField(likeLine, "ts", `"2026-11-24T10:00:00+0100"`), CodeInvalidField, "RFC 3339"},
		{"ts fraction without digits", withField(likeLine, "ts", `"2026-11-24T10:00:00.Z"`), CodeInvalidField, "RFC 3339"},
		{"ts before 1970", withField(likeLine, "ts", `"1969-12-31T23:59:59Z"`), CodeInvalidField, "before 1970"},
		{"ts year zero", withField(likeLine, "ts", `"0000-01-01T00:00:00Z"`), CodeInvalidField, "before 1970"},
		{"source unknown", withField(anonView, "source", `"tv"`), CodeInvalidField, `source "tv" is not one of for_you`},
		{"channel unknown", withField(shareLine, "channel", `"fax"`), CodeInvalidField, `channel "fax" is not one of dm`},
		{"watch_ms negative", withField(anonView, "watch_ms", "-1"), CodeInvalidField, "between 0 and 86400000"},
		{"watch_ms over a day", withField(anonView, "watch_ms", "86400001"), CodeInvalidField, "between 0 and 86400000"},
		{"watch_ms huge", withField(anonView, "watch_ms", "99999999999999999999999999999"), CodeInvalidField, "between 0 and 86400000"},
		{"watch_ms huge negative", withField(anonView, "watch_ms", "-99999999999999999999999999999"), CodeInvalidField, "between"},
		{"watch_ms fractional", withField(anonView, "watch_ms", "1.5"), CodeInvalidField, "whole number"},
		{"watch_ms with .0", withField(anonView, "watch_ms", "1000.0"), CodeInvalidField, "whole number"},
		{"watch_ms with an exponent", withField(anonView, "watch_ms", "1e3"), CodeInvalidField, "whole number"},
		{"text empty", withField(commentLine, "text", `""`), CodeInvalidField, "text is required"},
		{"text only whitespace", withField(commentLine, "text", `" \n\t "`), CodeInvalidField, "text is required"},
		{"text too long", withField(commentLine, "text", `"`+strings.Repeat("é", 2001)+`"`), CodeInvalidField, "at most 2000"},
		{"text with a control character", withField(commentLine, "text", `"a\u0007b"`), CodeInvalidField, "control characters"},
		{"text invalid UTF-8", withField(commentLine, "text", "\"a\xc3(b\""), CodeInvalidField, "valid UTF-8"},
		{"text lone high surrogate", withField(commentLine, "text", `"a\ud83db"`), CodeInvalidField, "surrogate"},
		{"text lone low surrogate", withField(commentLine, "text", `"a\ude00b"`), CodeInvalidField, "surrogate"},
		{"text surrogates reversed", withField(commentLine, "text", `"\ude00\ud83d"`), CodeInvalidField, "surrogate"},
		{"text high surrogate then a non-surrogate escape", withField(commentLine, "text", `"\ud83d\u0041"`), CodeInvalidField, "surrogate"},

		// invalid_field: a field of another type.
		{"channel on a view", withField(anonView, "channel", `"dm"`), CodeInvalidField, "channel is not allowed for type view"},
		{"text on a view", withField(anonView, "text", `"hi"`), CodeInvalidField, "text is not allowed for type view"},
		{"source on a like", withField(likeLine, "source", `"for_you"`), CodeInvalidField, "source is not allowed for type like"},
		{"watch_ms on a like", withField(likeLine, "watch_ms", "0"), CodeInvalidField, "watch_ms is not allowed"},
		{"completed on a share", withField(shareLine, "completed", "false"), CodeInvalidField, "completed is not allowed"},
		{"source on a share", withField(shareLine, "source", `"shared"`), CodeInvalidField, "source is not allowed for type share"},
		{"channel on a comment", withField(commentLine, "channel", `"dm"`), CodeInvalidField, "channel is not allowed"},
		{"not-allowed comes before missing", withField(withField(shareLine, "channel", ""), "source", `"shared"`), CodeInvalidField, "source is not allowed"},

		// future_timestamp
		{"ts beyond the skew", withField(likeLine, "ts", `"2026-11-24T12:05:01Z"`), CodeFutureTimestamp, "future"},
		{"ts in the future through its offset", withField(likeLine, "ts", `"2026-11-24T12:00:00-01:00"`), CodeFutureTimestamp, "2026-11-24T13:00:00Z"},
		{"ts far in the future", withField(likeLine, "ts", `"9999-12-31T23:59:59Z"`), CodeFutureTimestamp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			rej := DecodeLine([]byte(tt.line), 3, testOpts, &ev)
			if rej == nil {
				t.Fatalf("DecodeLine(%.200s) accepted %+v, want %s", tt.line, ev, tt.code)
			}
			if rej.Code != tt.code || rej.Line != 3 || !strings.Contains(rej.Message, tt.msg) || rej.Message == "" {
				t.Errorf("DecodeLine(%.200s) = %+v, want line 3, code %s, message containing %q", tt.line, *rej, tt.code, tt.msg)
			}
		})
	}
}

func TestDecodeLine_Options(t *testing.T) {
	future := []byte(withField(likeLine, "ts", `"2026-11-24T12:30:00Z"`))
	var ev Event
	if rej := DecodeLine(future, 1, Options{Now: testNow, MaxSkew: time.Hour}, &ev); rej != nil {
		t.Errorf("with MaxSkew 1h: %+v", *rej)
	}
	if rej := DecodeLine(future, 1, Options{Now: testNow}, &ev); rej == nil || rej.Code != CodeFutureTimestamp {
		t.Errorf("with the default MaxSkew: %v, want future_timestamp", rej)
	}
	// A zero Now is the real clock.
	now := time.Now().UTC()
	recent := []byte(withField(likeLine, "ts", `"`+now.Add(-time.Minute).Format(time.RFC3339)+`"`))
	if rej := DecodeLine(recent, 1, Options{}, &ev); rej != nil {
		t.Errorf("a minute ago, zero Options: %+v", *rej)
	}
	soon := []byte(withField(likeLine, "ts", `"`+now.Add(time.Hour).Format(time.RFC3339)+`"`))
	if rej := DecodeLine(soon, 1, Options{}, &ev); rej == nil || rej.Code != CodeFutureTimestamp {
		t.Errorf("an hour ahead, zero Options: %v, want future_timestamp", rej)
	}
	if rej := DecodeLine([]byte(likeLine), 1, Options{Now: testNow, MaxLineBytes: 10}, &ev); rej == nil || rej.Code != CodeLineTooLong {
		t.Errorf("MaxLineBytes 10: %v, want line_too_long", rej)
	}
}

// decodeAll runs Decode and copies out the events.
func decodeAll(t testing.TB, r io.Reader, opts Options) ([]Event, []Rejection, error) {
	t.Helper()
	var events []Event
	rejected, err := Decode(r, opts, func(ev *Event) error {
		events = append(events, *ev)
		return nil
	})
	return events, rejected, err
}

func lines(events []Event) []int {
	var out []int
	for _, ev := range events {
		out = append(out, ev.Line)
	}
	return out
}

func TestDecode_LineNumbers(t *testing.T) {
	body := strings.Join([]string{
		"\xEF\xBB\xBF" + viewLine,       // 1: a byte order mark is ignored
		"",                              // 2: blank
		likeLine,                        // 3
		"   \t",                         // 4: blank
		`{"id":`,                        // 5: malformed
		"\r",                            // 6: blank (CRLF)
		shareLine + "\r",                // 7: CRLF line
		withField(likeLine, "foo", "1"), // 8: unknown field
		commentLine,                     // 9, no final newline
	}, "\n")
	events, rejected, err := decodeAll(t, strings.NewReader(body), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(lines(events)), "[1 3 7 9]"; got != want {
		t.Errorf("event lines = %s, want %s", got, want)
	}
	want := []Rejection{{Line: 5, Code: CodeMalformedJSON}, {Line: 8, Code: CodeUnknownField}}
	if len(rejected) != len(want) {
		t.Fatalf("rejected = %+v, want lines 5 and 8", rejected)
	}
	for i := range want {
		if rejected[i].Line != want[i].Line || rejected[i].Code != want[i].Code || rejected[i].Message == "" {
			t.Errorf("rejected[%d] = %+v, want line %d %s", i, rejected[i], want[i].Line, want[i].Code)
		}
	}
	if events[0].ID != "e1" || events[2].Channel != "whatsapp" || events[3].Text != "nice" {
		t.Errorf("events = %+v", events)
	}

	// The same body read a byte at a time, or with the error on the last
	// read, gives the same result.
	for name, r := range map[string]io.Reader{
		"one byte":  iotest.OneByteReader(strings.NewReader(body)),
		"data+EOF":  iotest.DataErrReader(strings.NewReader(body)),
		"half read": iotest.HalfReader(strings.NewReader(body)),
	} {
		events2, rejected2, err := decodeAll(t, r, testOpts)
		if err != nil || fmt.Sprint(events2) != fmt.Sprint(events) || fmt.Sprint(rejected2) != fmt.Sprint(rejected) {
			t.Errorf("%s reader: %v, %+v, %+v", name, err, events2, rejected2)
		}
	}
}

func TestDecode_TrailingNewlines(t *testing.T) {
	// A final "\n" ends the last line; it does not start another.
	for body, wantLines := range map[string]string{
		likeLine + "\n":          "[1]",
		likeLine + "\n\n":        "[1]",
		"\n" + likeLine:          "[2]",
		"\n\n" + likeLine + "\n": "[3]",
	} {
		events, rejected, err := decodeAll(t, strings.NewReader(body), testOpts)
		if err != nil || len(rejected) != 0 || fmt.Sprint(lines(events)) != wantLines {
			t.Errorf("%q: %v %v %v, want lines %s", body, lines(events), rejected, err, wantLines)
		}
	}
}

func TestDecode_LineTooLong(t *testing.T) {
	pad := func(line string, n int) string { // pad line with spaces to n bytes
		return line[:len(line)-1] + strings.Repeat(" ", n-len(line)) + "}"
	}
	t.Run("small limit", func(t *testing.T) {
		opts := Options{Now: testNow, MaxLineBytes: 300}
		body := strings.Join([]string{
			pad(likeLine, 300),                     // 1: exactly the limit
			pad(likeLine, 301),                     // 2: one byte over
			pad(likeLine, 300) + "\r",              // 3: the limit plus CR
			likeLine + strings.Repeat(" ", 100000), // 4: far over
			likeLine,                               // 5
		}, "\n")
		events, rejected, err := decodeAll(t, strings.NewReader(body), opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(lines(events)); got != "[1 3 5]" {
			t.Errorf("event lines = %s, want [1 3 5]", got)
		}
		if len(rejected) != 2 || rejected[0].Line != 2 || rejected[1].Line != 4 ||
			rejected[0].Code != CodeLineTooLong || rejected[1].Code != CodeLineTooLong ||
			rejected[0].Message != "line is longer than 300 bytes" {
			t.Errorf("rejected = %+v, want lines 2 and 4 too long", rejected)
		}
	})
	t.Run("default limit", func(t *testing.T) {
		huge := withField(commentLine, "text", `"`+strings.Repeat("a", DefaultMaxLineBytes)+`"`)
		body := likeLine + "\n" + huge + "\n" + likeLine + "\n" + huge // the last one without "\n"
		events, rejected, err := decodeAll(t, strings.NewReader(body), testOpts)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(lines(events)); got != "[1 3]" {
			t.Errorf("event lines = %s, want [1 3]", got)
		}
		if len(rejected) != 2 || rejected[0].Line != 2 || rejected[1].Line != 4 || rejected[0].Code != CodeLineTooLong {
			t.Errorf("rejected = %+v, want lines 2 and 4 too long", rejected)
		}
	})
}

func TestDecode_TooManyLines(t *testing.T) {
	opts := Options{Now: testNow, MaxLines: 3}
	for body, wantErr := range map[string]bool{
		likeLine + "\n" + likeLine + "\n" + likeLine:              false,
		likeLine + "\n" + likeLine + "\n" + likeLine + "\n":       false,
		likeLine + "\n\n" + likeLine + "\n\n":                     true, // blank lines count
		likeLine + "\n" + likeLine + "\n" + likeLine + "\n" + "x": true,
	} {
		_, _, err := decodeAll(t, strings.NewReader(body), opts)
		if got := errors.Is(err, ErrTooManyLines); got != wantErr {
			t.Errorf("%q: err = %v, want ErrTooManyLines %v", body, err, wantErr)
		}
	}
}

func TestDecode_NotNDJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		refused bool
		events  int
	}{
		{"JSON array", "[" + likeLine + "," + likeLine + "]", true, 0},
		{"JSON array over lines", "[\n" + likeLine + ",\n" + likeLine + ",\n]", true, 0},
		// The rule is "no line parses": an array whose last element stands
		// alone on its line has that element accepted, the others rejected.
		{"JSON array over lines, last element alone", "[\n" + likeLine + ",\n" + likeLine + "\n]", false, 1},
		{"form post", "id=e1&type=like", true, 0},
		{"HTML", "<html><body>hi</body></html>\n", true, 0},
		{"gzip bytes", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", true, 0},
		{"binary with invalid UTF-8", "\xff\xfe\x00\x01\n\xc3\x28\n", true, 0},
		{"one huge array line", "[" + strings.Repeat(likeLine+",", 1000) + likeLine + "]", true, 0},
		{"blank lines then garbage", "\n\n  \nnot json\n", true, 0},
		{"garbled first line, good lines after", "x" + likeLine + "\n" + likeLine, false, 1},
		{"garbled first line, an invalid object after", "x\n{}", false, 0},
		{"starts with '{', nothing parses", "{x\n{y", false, 0},
		{"empty body", "", false, 0},
		{"only blank lines", "\n \n\t\r\n", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := 0
			rejected, err := Decode(strings.NewReader(tt.body), testOpts, func(*Event) error { called++; return nil })
			if got := errors.Is(err, ErrNotNDJSON); got != tt.refused {
				t.Fatalf("err = %v, want ErrNotNDJSON %v", err, tt.refused)
			}
			if !tt.refused && err != nil {
				t.Fatalf("err = %v", err)
			}
			if called != tt.events {
				t.Errorf("fn called %d times, want %d", called, tt.events)
			}
			if !tt.refused && strings.TrimSpace(tt.body) != "" && len(rejected)+called == 0 {
				t.Errorf("no event and no rejection for a non-blank body")
			}
		})
	}
	_, err := Decode(strings.NewReader("\n[1,2]"), testOpts, func(*Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `line 2 starts with '['`) {
		t.Errorf("err = %v, want it to name line 2 and '['", err)
	}
}

func TestDecode_Stops(t *testing.T) {
	t.Run("fn error is returned as is", func(t *testing.T) {
		stop := errors.New("stop")
		body := likeLine + "\n{}\n" + likeLine + "\n" + likeLine
		calls := 0
		rejected, err := Decode(strings.NewReader(body), testOpts, func(ev *Event) error {
			calls++
			if ev.Line == 3 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 2 || len(rejected) != 1 || rejected[0].Line != 2 {
			t.Errorf("err = %v, calls = %d, rejected = %+v; want stop after 2 calls and 1 rejection", err, calls, rejected)
		}
	})
	t.Run("read error is wrapped", func(t *testing.T) {
		broken := errors.New("connection reset")
		r := io.MultiReader(strings.NewReader(likeLine+"\n"+likeLine[:20]), iotest.ErrReader(broken))
		events, _, err := decodeAll(t, r, testOpts)
		if !errors.Is(err, broken) || len(events) != 1 {
			t.Errorf("err = %v, events = %d; want the reader's error after 1 event", err, len(events))
		}
	})
	t.Run("read error inside a long line", func(t *testing.T) {
		broken := errors.New("too large")
		r := io.MultiReader(strings.NewReader(strings.Repeat("x", 2*DefaultMaxLineBytes)), iotest.ErrReader(broken))
		_, _, err := decodeAll(t, r, testOpts)
		if !errors.Is(err, broken) {
			t.Errorf("err = %v, want the reader's error", err)
		}
	})
}

func TestDecode_EventsAreStable(t *testing.T) {
	// fn copies the Event; the strings in the copy must survive the
	// decoding of later lines, which reuses every buffer.
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"id":"e\u00%02x%d","type":"comment","video_id":"v%d","account_id":"a%d","ts":"2026-11-24T10:00:00Z","text":"t\u00e9%d"}`+"\n", 0x41+i%20, i, i, i, i)
	}
	events, rejected, err := decodeAll(t, strings.NewReader(b.String()), testOpts)
	if err != nil || len(rejected) != 0 || len(events) != 50 {
		t.Fatalf("err %v, rejected %v, %d events", err, rejected, len(events))
	}
	for i, ev := range events {
		want := Event{Line: i + 1, ID: fmt.Sprintf("e%c%d", 0x41+i%20, i), Type: "comment", VideoID: fmt.Sprintf("v%d", i),
			AccountID: fmt.Sprintf("a%d", i), TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Text: fmt.Sprintf("té%d", i)}
		if ev != want {
			t.Errorf("event %d = %+v, want %+v", i, ev, want)
		}
	}
}

func TestDecode_Allocations(t *testing.T) {
	body := []byte(testBody(1000, 1))
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(body)
		if _, err := Decode(r, testOpts, func(*Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	// One string per event (two for comments) plus a few per body.
	if perEvent := allocs / 1000; perEvent > 1.2 {
		t.Errorf("%.2f allocations per event, want at most 1.2", perEvent)
	}
}

func TestParseTS_MatchesTimeParse(t *testing.T) {
	// Every day from 1969 to 2401 (leap years and centuries included), at
	// a time and offset that vary with the day.
	offsets := []string{"Z", "+00:00", "+01:00", "-01:00", "+05:45", "-11:59", "+23:59"}
	for day := time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2402; day = day.AddDate(0, 0, 1) {
		n := int(day.Unix()/86400) + 1000 // positive from 1969 on
		s := day.Add(time.Duration(n%86400)*time.Second).Format("2006-01-02T15:04:05") + fmt.Sprintf(".%03d", n%1000) + offsets[n%len(offsets)]
		want, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		got, msg := parseTS([]byte(s))
		if want.Before(time.Unix(0, 0)) {
			if msg == "" {
				t.Errorf("parseTS(%s) = %v, want before 1970", s, got)
			}
			continue
		}
		if msg != "" || !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("parseTS(%s) = %v %q, want %v", s, got, msg, want.UTC())
		}
	}
}

func TestDecode_Defaults(t *testing.T) {
	// DefaultMaxLines counts blank lines too.
	_, _, err := decodeAll(t, strings.NewReader(strings.Repeat("\n", DefaultMaxLines)), Options{})
	if err != nil {
		t.Errorf("%d blank lines: %v", DefaultMaxLines, err)
	}
	_, _, err = decodeAll(t, strings.NewReader(strings.Repeat("\n", DefaultMaxLines+1)), Options{})
	if !errors.Is(err, ErrTooManyLines) {
		t.Errorf("%d blank lines: %v, want ErrTooManyLines", DefaultMaxLines+1, err)
	}
}

func TestRejection_JSON(t *testing.T) {
	b, err := json.Marshal(Rejection{Line: 3, Code: CodeUnknownField, Message: `unknown field "foo"`})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"line":3,"code":"unknown_field","message":"unknown field \"foo\""}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestDecode_Concurrent(t *testing.T) {
	body := testBody(500, 4)
	want, _, err := decodeAll(t, strings.NewReader(body), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, rejected, err := decodeAll(t, strings.NewReader(body), testOpts)
			if err != nil || len(rejected) != 0 || !slices.Equal(got, want) {
				t.Errorf("concurrent Decode: %v, %d rejected, equal %v", err, len(rejected), slices.Equal(got, want))
			}
		})
	}
	wg.Wait()
}
