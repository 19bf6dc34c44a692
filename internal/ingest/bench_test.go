package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
)

// testBody returns n event lines of ~200 bytes as a realistic batch: mostly
// views (a tenth of them logged out), then likes, saves, shares, comments.
func testBody(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	const alnum = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghijkmnopqrstuvwxyz"
	id := func(prefix string, n int) string {
		b := []byte(prefix)
		for range n {
			b = append(b, alnum[rng.IntN(len(alnum))])
		}
		return string(b)
	}
	sources := []string{"for_you", "following", "profile", "search", "hashtag", "sound", "shared", "other"}
	channels := []string{"dm", "whatsapp", "copy_link", "x"}
	var b strings.Builder
	for i := range n {
		ts := testNow.Add(-time.Duration(rng.IntN(86400000)) * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		common := fmt.Sprintf(`{"id":"%s","type":"%%s","video_id":"%s"`, id("evt_", 22), id("vid_", 12))
		acct := `,"account_id":"` + id("acc_", 12) + `"`
		switch p := rng.IntN(100); {
		case p < 80:
			if p < 8 {
				acct = ""
			}
			fmt.Fprintf(&b, common+acct+`,"ts":"%s","source":"%s","watch_ms":%d,"completed":%t}`, "view", ts,
				sources[rng.IntN(len(sources))], rng.IntN(60000), rng.IntN(3) == 0)
		case p < 88:
			fmt.Fprintf(&b, common+acct+`,"ts":"%s"}`, "like", ts)
		case p < 92:
			fmt.Fprintf(&b, common+acct+`,"ts":"%s"}`, "save", ts)
		case p < 96:
			fmt.Fprintf(&b, common+acct+`,"ts":"%s","channel":"%s"}`, "share", ts, channels[rng.IntN(len(channels))])
		default:
			fmt.Fprintf(&b, common+acct+`,"ts":"%s","text":"great video \u00e9 #%d"}`, "comment", ts, i)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// stdEvent is the line as encoding/json sees it; pointers tell absent and
// null apart from zero values.
type stdEvent struct {
	ID        *string `json:"id"`
	Type      *string `json:"type"`
	VideoID   *string `json:"video_id"`
	AccountID *string `json:"account_id"`
	TS        *string `json:"ts"`
	Source    *string `json:"source"`
	WatchMS   *int64  `json:"watch_ms"`
	Completed *bool   `json:"completed"`
	Channel   *string `json:"channel"`
	Text      *string `json:"text"`
}

// stdDecodeLine is the encoding/json baseline: a json.Decoder per line with
// DisallowUnknownFields (what a strict decoder needs), then the same checks
// as the scanner. It does not detect duplicate keys; it is only as strict as
// encoding/json lets it be cheaply.
func stdDecodeLine(d *decoder, line []byte, lineNo int, ev *Event) (Rejection, bool) {
	var s stdEvent
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	err := dec.Decode(&s)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("data after the object")
		}
	}
	return stdFinish(d, &s, err, lineNo, ev)
}

// stdUnmarshalLine is the cheapest encoding/json can do: json.Unmarshal,
// which cannot reject unknown fields.
func stdUnmarshalLine(d *decoder, line []byte, lineNo int, ev *Event) (Rejection, bool) {
	var s stdEvent
	err := json.Unmarshal(line, &s)
	return stdFinish(d, &s, err, lineNo, ev)
}

func stdFinish(d *decoder, s *stdEvent, err error, lineNo int, ev *Event) (Rejection, bool) {
	if err != nil {
		code := CodeMalformedJSON
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			code = CodeInvalidField
		case strings.Contains(err.Error(), "unknown field"):
			code = CodeUnknownField
		}
		return Rejection{Line: lineNo, Code: code, Message: err.Error()}, false
	}
	d.f = fields{}
	for f, p := range [...]*string{fID: s.ID, fType: s.Type, fVideoID: s.VideoID, fAccountID: s.AccountID, fTS: s.TS, fSource: s.Source, fChannel: s.Channel, fText: s.Text} {
		if p != nil {
			d.setString(f, []byte(*p), true)
		}
	}
	if s.WatchMS != nil {
		n := *s.WatchMS
		d.setWatchMS(numberVal{n: max(n, -n), neg: n < 0})
	}
	if s.Completed != nil {
		d.f.completed = *s.Completed
		d.f.present |= 1 << fCompleted
	}
	return d.finish(lineNo, ev)
}

// rawEvent is the line for the lower-bound baselines: plain values, so no
// pointer allocations, and no way to tell absent from zero.
type rawEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	VideoID   string `json:"video_id"`
	AccountID string `json:"account_id"`
	TS        string `json:"ts"`
	Source    string `json:"source"`
	WatchMS   int64  `json:"watch_ms"`
	Completed bool   `json:"completed"`
	Channel   string `json:"channel"`
	Text      string `json:"text"`
}

// rawFinish fills ev from a rawEvent without any check but parsing ts: the
// least any decoder must do, so the baselines that use it are lower bounds.
func rawFinish(s *rawEvent, err error, lineNo int, ev *Event) (Rejection, bool) {
	if err != nil {
		return Rejection{Line: lineNo, Code: CodeMalformedJSON, Message: err.Error()}, false
	}
	ts, msg := parseTS([]byte(s.TS))
	if msg != "" {
		return Rejection{Line: lineNo, Code: CodeInvalidField, Message: msg}, false
	}
	*ev = Event{Line: lineNo, ID: s.ID, Type: s.Type, VideoID: s.VideoID, AccountID: s.AccountID, TS: ts,
		Source: s.Source, WatchMS: s.WatchMS, Completed: s.Completed, Channel: s.Channel, Text: s.Text}
	return Rejection{}, true
}

// stdRawLine is json.Unmarshal into plain values, with no checks.
func stdRawLine(_ *decoder, line []byte, lineNo int, ev *Event) (Rejection, bool) {
	var s rawEvent
	err := json.Unmarshal(line, &s)
	return rawFinish(&s, err, lineNo, ev)
}

// BenchmarkDecode decodes batches of 10,000 events of ~190 bytes with each
// JSON approach and reports ns, allocations and bytes per event:
//
//   - scanner: Decode itself.
//   - encoding_json_decoder: a json.Decoder per line with
//     DisallowUnknownFields, then the same checks (what a strict
//     encoding/json implementation would be).
//   - encoding_json_unmarshal: json.Unmarshal (unknown fields go unnoticed),
//     then the same checks.
//   - encoding_json_raw: json.Unmarshal into plain values and no checks at
//     all, a lower bound for any encoding/json design.
//
// The checked baselines pay a few allocations of their own (pointer fields
// to see absent fields, a []byte copy of each string for the shared
// checks); the raw one shows what is left without them.
//
//	go test -run '^$' -bench BenchmarkDecode -benchmem ./internal/ingest/
func BenchmarkDecode(b *testing.B) {
	const n = 10_000
	body := []byte(testBody(n, 1))
	for _, bm := range []struct {
		name string
		line lineDecoder
	}{
		{"scanner", (*decoder).decode},
		{"encoding_json_decoder", stdDecodeLine},
		{"encoding_json_unmarshal", stdUnmarshalLine},
		{"encoding_json_raw", stdRawLine},
	} {
		b.Run(bm.name, func(b *testing.B) {
			benchmarkBody(b, body, n, bm.line)
		})
	}
}

func benchmarkBody(b *testing.B, body []byte, n int, line lineDecoder) {
	b.SetBytes(int64(len(body)))
	r := bytes.NewReader(body)
	var keep Event
	fn := func(ev *Event) error { keep = *ev; return nil }
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := cputime.Process()
	for b.Loop() {
		r.Reset(body)
		rejected, err := decodeBody(r, testOpts, fn, line)
		if err != nil || len(rejected) != 0 {
			b.Fatalf("err %v, rejected %v", err, rejected[:min(len(rejected), 3)])
		}
	}
	cpu = cputime.Process() - cpu
	runtime.ReadMemStats(&after)
	events := float64(b.N) * float64(n)
	if cpu > 0 { // CPU time, GC included: steadier than wall time on a busy machine
		b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/events, "B/event")
	b.ReportMetric(float64(len(body))/float64(n), "bytes/line")
	_ = keep
}

// BenchmarkDecodeLine is one view line through DecodeLine, the cost of a
// single-event request.
func BenchmarkDecodeLine(b *testing.B) {
	line := []byte(viewLine)
	var ev Event
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if rej := DecodeLine(line, 1, testOpts, &ev); rej != nil {
			b.Fatal(rej)
		}
	}
}
