package event

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func sample() []Event {
	at := time.Date(2026, 11, 3, 14, 5, 6, 789_000_000, time.UTC)
	return []Event{
		{V: SchemaVersion, ID: "c:e1", Type: View, VideoID: "v1", TS: at, Source: "for_you", WatchMS: 12_345, Completed: true,
			ActorDay: "ad", Age: "18-24", Gender: "female", Country: "DE"},
		{V: SchemaVersion, ID: "e2", Type: Share, VideoID: "v1", TS: at.Add(-time.Hour), Source: "dm", Actor: "a", AccountDay: "cd", Imported: true},
		{V: SchemaVersion, ID: "e3", Type: Follow, CreatorID: "acct", TS: time.Unix(0, 0).UTC(), Actor: "f"},
		{V: SchemaVersion, ID: "e4", Type: View, VideoID: "v2", TS: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)},
	}
}

// TestBinaryRoundTrip: every field survives the binary record and the frame.
func TestBinaryRoundTrip(t *testing.T) {
	var msg []byte
	for _, e := range sample() {
		rec, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
		msg = AppendFrame(msg, rec)
	}
	if got := decodeAll(t, msg); !reflect.DeepEqual(got, sample()) {
		t.Fatalf("frame: got %+v", got)
	}
	if _, err := (&Event{Type: "poke"}).Encode(); err == nil {
		t.Fatal("an unknown type encoded")
	}
}

// TestOldFormats: messages written as NDJSON, and JSON records inside a
// frame (outbox rows from before the binary format), still decode.
func TestOldFormats(t *testing.T) {
	var ndjson, frame []byte
	for _, e := range sample() {
		j, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ndjson = append(append(ndjson, j...), '\n', '\n')
		frame = AppendFrame(frame, j)
	}
	for name, msg := range map[string][]byte{"ndjson": ndjson, "frame of json": frame} {
		if got := decodeAll(t, msg); !reflect.DeepEqual(got, sample()) {
			t.Fatalf("%s: got %+v", name, got)
		}
	}
}

// TestOldCapKey: a JSON event logged before the account-day cap carries its
// cap key as "creator_day"; it decodes into AccountDay, so aggregation still
// caps it (under its old key).
func TestOldCapKey(t *testing.T) {
	old := []byte(`{"v":1,"id":"e1","type":"share","video_id":"v1","ts":"2026-03-10T12:00:00Z","actor":"a","creator_day":"cd-old"}`)
	for name, msg := range map[string][]byte{"ndjson": append(old, '\n'), "frame of json": AppendFrame(nil, old)} {
		got := decodeAll(t, msg)
		if len(got) != 1 || got[0].AccountDay != "cd-old" || got[0].Type != Share {
			t.Fatalf("%s: got %+v", name, got)
		}
	}
	e, err := Unmarshal([]byte(`{"v":1,"id":"e2","type":"save","ts":"2026-03-10T12:00:00Z","account_day":"new","creator_day":"old"}`))
	if err != nil || e.AccountDay != "new" {
		t.Fatalf("account_day and creator_day: %+v, %v", e, err)
	}
}

// decodeAll decodes every record of msg.
func decodeAll(t *testing.T, msg []byte) []Event {
	t.Helper()
	var got []Event
	for rec, err := range Records(msg) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	return got
}

// TestDecodeRejectsDamage: every truncation of a record and of a frame is
// an error, never a panic or a wrong event.
func TestDecodeRejectsDamage(t *testing.T) {
	rec, _ := sample()[0].Encode()
	for i := 1; i < len(rec); i++ {
		if _, err := Decode(rec[:i]); err == nil {
			t.Fatalf("a record cut at %d of %d decoded", i, len(rec))
		}
	}
	if _, err := Decode(append(bytes.Clone(rec), 'x')); err == nil {
		t.Fatal("a record with trailing bytes decoded")
	}
	frame := AppendFrame(nil, rec)
	for i := 2; i < len(frame); i++ {
		var failed bool
		for _, err := range Records(frame[:i]) {
			failed = failed || err != nil
		}
		if !failed {
			t.Fatalf("a frame cut at %d of %d read without error", i, len(frame))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range sample() {
		rec, _ := e.Encode()
		f.Add(rec)
		f.Add(AppendFrame(nil, rec))
		j, _ := e.Marshal()
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for rec, err := range Records(b) {
			if err != nil {
				break
			}
			e, err := Decode(rec)
			if err != nil || rec[0] != recordV1 {
				continue
			}
			// A binary record that decodes encodes to a record of the
			// same event.
			again, err := e.Encode()
			if err != nil {
				t.Fatalf("decoded %+v but cannot encode it: %v", e, err)
			}
			if e2, err := Decode(again); err != nil || !reflect.DeepEqual(e2, e) {
				t.Fatalf("re-encoding %+v gave %+v, %v", e, e2, err)
			}
		}
	})
}

func BenchmarkDecodeBinary(b *testing.B) {
	rec, _ := sample()[0].Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	e := sample()[0]
	rec, _ := e.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
