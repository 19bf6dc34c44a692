package event

import (
	"bytes"
	"encoding/binary"
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

// Strings shaped like Crowd's: pseudonyms (with and without a prefix), ids,
// and ones that look like them but are not their encodings' canonical form.
const (
	pseudo      = "kX3-_aZ09qLmNoPqRsTuVw"     // 22 base64url characters of 16 bytes
	pseudoLoose = "kX3-_aZ09qLmNoPqRsTuVx"     // the same with a pad bit set: not canonical
	resource    = "abcdefghijklmnopqrstuvwx2q" // 26 base32 characters of 16 bytes
	resourceUp  = "ABCDEFGHIJKLMNOPQRSTUVWX2Q" // upper case: not an id
)

func packed() []Event {
	at := time.Date(2026, 11, 3, 14, 5, 6, 789_000_000, time.UTC)
	return []Event{
		{V: SchemaVersion, ID: "c:" + pseudo, Type: View, VideoID: resource, TS: at, Source: "for_you", WatchMS: 12_345,
			Actor: pseudo, ActorDay: pseudo, Age: "18-24", Gender: "female", Country: "DE"},
		{V: SchemaVersion, ID: pseudoLoose, Type: Save, VideoID: resourceUp, TS: at, Source: "dm", Actor: "x" + pseudoLoose,
			AccountDay: pseudo[:21], Age: "unknown", Gender: "other", Country: "unknown"},
		{V: SchemaVersion, ID: pseudo, Type: Follow, CreatorID: resource, TS: at, Actor: pseudo + pseudo, Age: "55+", Gender: "male"},
		{V: SchemaVersion, ID: "for_you", Type: View, VideoID: "13-17", TS: at, Source: resource, ActorDay: "", Country: pseudo},
	}
}

// appendV1 appends e's record in recordV1, the format before recordV2.
func appendV1(b []byte, e *Event) []byte {
	b, _ = e.appendHead(b, recordV1)
	for _, s := range [...]string{e.ID, e.VideoID, e.CreatorID, e.Source, e.Actor, e.ActorDay, e.AccountDay, e.Age, e.Gender, e.Country} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// TestBinaryPacked: pseudonyms, ids and the common words survive recordV2
// packed, strings that only look like them survive as text, records of
// the earlier format still decode, and a view's record is a third shorter
// than in it.
func TestBinaryPacked(t *testing.T) {
	for _, e := range append(packed(), sample()...) {
		rec, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if rec[0] != recordV2 {
			t.Fatalf("record format %#x, want recordV2", rec[0])
		}
		got, err := Decode(rec)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v, %v\nwant %+v", got, err, e)
		}
		v1 := appendV1(nil, &e)
		if got, err := Decode(v1); err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("recordV1:\n got %+v, %v\nwant %+v", got, err, e)
		}
	}
	view := packed()[0]
	rec, _ := view.Encode()
	v1 := appendV1(nil, &view)
	t.Logf("a view's record: %d bytes, %d in format 1", len(rec), len(v1))
	if len(rec) > len(v1)-40 {
		t.Errorf("a view's record is %d bytes, %d in recordV1: want at least 40 fewer", len(rec), len(v1))
	}
	// The look-alikes went as text: their records are longer.
	loose := packed()[1]
	canonical := loose
	canonical.ID, canonical.VideoID = pseudo, resource
	a, _ := loose.Encode()
	b, _ := canonical.Encode()
	if len(a) != len(b)+6+10 {
		t.Errorf("look-alikes took %d bytes, canonical ones %d: want 16 more (6 for the pseudonym, 10 for the id)", len(a), len(b))
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
	for _, r := range [][]byte{rec, func() []byte { r, _ := packed()[0].Encode(); return r }(), appendV1(nil, &sample()[0])} {
		for i := 1; i < len(r); i++ {
			if _, err := Decode(r[:i]); err == nil {
				t.Fatalf("a record cut at %d of %d decoded", i, len(r))
			}
		}
		if _, err := Decode(append(bytes.Clone(r), 'x')); err == nil {
			t.Fatal("a record with trailing bytes decoded")
		}
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
	for _, e := range append(sample(), packed()...) {
		rec, _ := e.Encode()
		f.Add(rec)
		f.Add(AppendFrame(nil, rec))
		f.Add(appendV1(nil, &e))
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

// BenchmarkDecodeBinary decodes a view's record as Crowd writes it
// (pseudonyms, ids and words packed), and the same in recordV1.
func BenchmarkDecodeBinary(b *testing.B) {
	view := packed()[0]
	v2, _ := view.Encode()
	for _, c := range []struct {
		name string
		rec  []byte
	}{{"v2", v2}, {"v1", appendV1(nil, &view)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(float64(len(c.rec)), "bytes/record")
			for b.Loop() {
				if _, err := Decode(c.rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeBinary encodes a view's record as Crowd writes it.
func BenchmarkEncodeBinary(b *testing.B) {
	view := packed()[0]
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = view.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
