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

// TestDecodeRejectsDamage: every truncation of a record and of a frame, a
// message that is not a frame and a record that is not one, is an error,
// never a panic or a wrong event.
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
	for _, msg := range [][]byte{nil, []byte(`{"id":"e1","type":"view"}` + "\n"), rec} {
		var failed bool
		for _, err := range Records(msg) {
			failed = failed || err != nil
		}
		if !failed {
			t.Fatalf("%q, not a frame, read without error", msg)
		}
	}
	if _, err := Decode([]byte(`{"id":"e1","type":"view"}`)); err == nil {
		t.Fatal("a JSON object decoded as a record")
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
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for rec, err := range Records(b) {
			if err != nil {
				break
			}
			e, err := Decode(rec)
			if err != nil {
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
