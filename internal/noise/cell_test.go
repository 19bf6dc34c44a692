package noise

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

var day0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// testCell returns a valid daily cell of video 42.
func testCell() CellKey {
	return CellKey{Schema: 1, Subject: "video:42", Metric: "sharers", Granularity: Day, PeriodStart: day0}
}

// decodeCanonical is Canonical's inverse; that it exists and round-trips
// is what makes the encoding injective.
func decodeCanonical(b []byte) (CellKey, error) {
	var k CellKey
	if len(b) < 1 || b[0] != cellEncoding {
		return k, errors.New("bad version")
	}
	b = b[1:]
	u64 := func() (uint64, error) {
		if len(b) < 8 {
			return 0, errors.New("short")
		}
		v := binary.BigEndian.Uint64(b)
		b = b[8:]
		return v, nil
	}
	str := func() (string, error) {
		n, err := u64()
		if err != nil || n > uint64(len(b)) {
			return "", errors.New("short")
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	schema, err := u64()
	if err != nil {
		return k, err
	}
	k.Schema = int(int64(schema))
	for _, p := range []*string{&k.Subject, &k.Metric, &k.Dim, &k.Bucket, &k.Granularity} {
		if *p, err = str(); err != nil {
			return k, err
		}
	}
	sec, err := u64()
	if err != nil {
		return k, err
	}
	if len(b) != 0 {
		return k, errors.New("trailing bytes")
	}
	k.PeriodStart = time.Unix(int64(sec), 0).UTC()
	return k, nil
}

func TestCellKey_CanonicalLayout(t *testing.T) {
	k := CellKey{Schema: 1, Subject: "video:7", Metric: "m", Dim: "d", Bucket: "b", Granularity: Hour, PeriodStart: time.Unix(3600, 0)}
	want := "01" + "0000000000000001" +
		"0000000000000007" + hex.EncodeToString([]byte("video:7")) +
		"0000000000000001" + "6d" +
		"0000000000000001" + "64" +
		"0000000000000001" + "62" +
		"0000000000000004" + hex.EncodeToString([]byte("hour")) +
		"0000000000000e10"
	if got := hex.EncodeToString(k.Canonical()); got != want {
		t.Fatalf("Canonical =\n%s, want\n%s", got, want)
	}
}

func TestCellKey_CanonicalBoundaries(t *testing.T) {
	base := testCell()
	with := func(f func(*CellKey)) CellKey { k := base; f(&k); return k }
	// Pairs whose naive concatenation would collide.
	pairs := []struct {
		name string
		a, b CellKey
	}{
		{"metric/dim", with(func(k *CellKey) { k.Metric, k.Dim, k.Bucket = "ab", "c", "x" }), with(func(k *CellKey) { k.Metric, k.Dim, k.Bucket = "a", "bc", "x" })},
		{"dim/bucket", with(func(k *CellKey) { k.Dim, k.Bucket = "country", "FR" }), with(func(k *CellKey) { k.Dim, k.Bucket = "countryF", "R" })},
		{"subject/metric", with(func(k *CellKey) { k.Subject, k.Metric = "video:4", "2sharers" }), with(func(k *CellKey) { k.Subject, k.Metric = "video:42", "sharers" })},
		{"separator in id", with(func(k *CellKey) { k.Subject, k.Metric = "video:1|views", "x" }), with(func(k *CellKey) { k.Subject, k.Metric = "video:1", "views|x" })},
		{"empty moves", with(func(k *CellKey) { k.Dim, k.Bucket = "", "x" }), with(func(k *CellKey) { k.Dim, k.Bucket = "x", "" })},
		{"length bytes in content", with(func(k *CellKey) { k.Metric = "a\x00\x00\x00\x00\x00\x00\x00\x01b" }), with(func(k *CellKey) { k.Metric, k.Dim = "a", "b" })},
		{"bucket/granularity", with(func(k *CellKey) { k.Dim, k.Bucket, k.Granularity = "d", "bday", "" }), with(func(k *CellKey) { k.Dim, k.Bucket, k.Granularity = "d", "b", "day" })},
		{"schema", with(func(k *CellKey) { k.Schema = 1 }), with(func(k *CellKey) { k.Schema = 2 })},
		{"negative schema", with(func(k *CellKey) { k.Schema = -1 }), with(func(k *CellKey) { k.Schema = 1<<63 - 1 })},
		{"period", base, with(func(k *CellKey) { k.PeriodStart = day0.Add(time.Second) })},
		{"granularity", base, with(func(k *CellKey) { k.Granularity = Hour })},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			if bytes.Equal(p.a.Canonical(), p.b.Canonical()) {
				t.Fatalf("%v and %v encode alike", p.a, p.b)
			}
		})
	}
}

func TestCellKey_CanonicalInstant(t *testing.T) {
	// The period is an instant: its zone and monotonic reading do not
	// matter, nor do sub-second parts (Unix seconds).
	k := testCell()
	paris := time.FixedZone("CET", 3600)
	for _, ts := range []time.Time{day0.In(paris), day0.Local(), time.Unix(day0.Unix(), 0), day0.Add(999 * time.Millisecond)} {
		k2 := k
		k2.PeriodStart = ts
		if !bytes.Equal(k.Canonical(), k2.Canonical()) {
			t.Errorf("period %v encodes differently from %v", ts, day0)
		}
	}
}

func FuzzCellKey_Canonical(f *testing.F) {
	f.Add(1, "video:42", "sharers", "", "", "day", int64(1773100800))
	f.Add(-3, "account:\x00", "a\x00b", "country", "FR", "hour", int64(-1))
	f.Fuzz(func(t *testing.T, schema int, subject, metric, dim, bucket, gran string, sec int64) {
		k := CellKey{Schema: schema, Subject: subject, Metric: metric, Dim: dim, Bucket: bucket, Granularity: gran, PeriodStart: time.Unix(sec, 0).UTC()}
		got, err := decodeCanonical(k.Canonical())
		if err != nil {
			t.Fatal(err)
		}
		if got != k {
			t.Fatalf("round trip: %#v, want %#v", got, k)
		}
	})
}

func TestCellKey_Validate(t *testing.T) {
	with := func(f func(*CellKey)) CellKey { k := testCell(); f(&k); return k }
	tests := []struct {
		name string
		cell CellKey
		want string // substring of the error; "" for valid
	}{
		{"daily total", testCell(), ""},
		{"hourly breakdown", with(func(k *CellKey) {
			k.Subject, k.Dim, k.Bucket, k.Granularity, k.PeriodStart = "account:9", "country", "FR", Hour, day0.Add(15*time.Hour)
		}), ""},
		{"other zone, same instant", with(func(k *CellKey) { k.PeriodStart = day0.In(time.FixedZone("X", -5*3600)) }), ""},
		{"before 1970", with(func(k *CellKey) { k.PeriodStart = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }), ""},
		{"schema 0", with(func(k *CellKey) { k.Schema = 0 }), "schema 0"},
		{"bad subject", with(func(k *CellKey) { k.Subject = "42" }), "subject"},
		{"subject without id", with(func(k *CellKey) { k.Subject = "video:" }), "subject"},
		{"no metric", with(func(k *CellKey) { k.Metric = "" }), "metric"},
		{"bucket without dim", with(func(k *CellKey) { k.Bucket = "FR" }), "both"},
		{"dim without bucket", with(func(k *CellKey) { k.Dim = "country" }), "both"},
		{"bad granularity", with(func(k *CellKey) { k.Granularity = "week" }), "granularity"},
		{"zero period", with(func(k *CellKey) { k.PeriodStart = time.Time{} }), "not set"},
		{"mid-day", with(func(k *CellKey) { k.PeriodStart = day0.Add(time.Hour) }), "not the start"},
		{"mid-hour", with(func(k *CellKey) { k.Granularity, k.PeriodStart = Hour, day0.Add(time.Minute) }), "not the start"},
		{"sub-second", with(func(k *CellKey) { k.PeriodStart = day0.Add(time.Nanosecond) }), "not the start"},
		{"local midnight", with(func(k *CellKey) {
			k.PeriodStart = time.Date(2026, 3, 10, 0, 0, 0, 0, time.FixedZone("X", 3600))
		}), "not the start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cell.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate accepted %v", tt.cell)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestCellKey_String(t *testing.T) {
	k := testCell()
	k.Dim, k.Bucket = "country", "FR"
	if got, want := k.String(), "v1 video:42 sharers country=FR day 2026-03-10T00:00:00Z"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
