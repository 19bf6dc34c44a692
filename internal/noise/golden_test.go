package noise

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current code")

const goldenPath = "testdata/golden.json"

// goldenFile pins the noise of fixed cells under fixed keys, so that no
// refactor or Go release can silently change a published cell's noise
// (docs/PRIVACY.md, "The attack suite", attack 15). Canonical pins the cell encoding, Stream the
// keystream, Noise and More the sampler.
type goldenFile struct {
	Comment string            `json:"comment"`
	Keys    map[string]string `json:"keys"` // kid → hex
	Vectors []goldenVector    `json:"vectors"`
}

type goldenVector struct {
	Kid         uint32     `json:"kid"`
	Cell        goldenCell `json:"cell"`
	EpsNum      uint64     `json:"eps_num"`
	EpsDen      uint64     `json:"eps_den"`
	Sensitivity uint64     `json:"sensitivity"`
	Canonical   string     `json:"canonical"` // hex
	Stream      string     `json:"stream"`    // first 16 bytes, hex
	Noise       int64      `json:"noise"`     // Keyring.Noise
	More        []int64    `json:"more"`      // the next draws of DiscreteLaplace from the same stream
}

type goldenCell struct {
	Schema      int    `json:"schema"`
	Subject     string `json:"subject"`
	Metric      string `json:"metric"`
	Dim         string `json:"dim,omitempty"`
	Bucket      string `json:"bucket,omitempty"`
	Granularity string `json:"granularity"`
	PeriodStart string `json:"period_start"` // RFC 3339
}

func (c goldenCell) key(tb testing.TB) CellKey {
	tb.Helper()
	ts, err := time.Parse(time.RFC3339, c.PeriodStart)
	if err != nil {
		tb.Fatal(err)
	}
	return CellKey{Schema: c.Schema, Subject: c.Subject, Metric: c.Metric, Dim: c.Dim, Bucket: c.Bucket, Granularity: c.Granularity, PeriodStart: ts}
}

// goldenInputs are the cases -update writes: Crowd's default families, a
// second key, and the edges of the parameter range.
func goldenInputs() goldenFile {
	key2 := make([]byte, 32)
	for i := range key2 {
		key2[i] = byte(0xa5 ^ i*7)
	}
	day := "2026-03-10T00:00:00Z"
	cell := func(subject, metric, dim, bucket, gran, start string) goldenCell {
		return goldenCell{Schema: 1, Subject: subject, Metric: metric, Dim: dim, Bucket: bucket, Granularity: gran, PeriodStart: start}
	}
	v := func(kid uint32, c goldenCell, epsNum, epsDen, sens uint64) goldenVector {
		return goldenVector{Kid: kid, Cell: c, EpsNum: epsNum, EpsDen: epsDen, Sensitivity: sens}
	}
	return goldenFile{
		Comment: "Pinned noise: regenerate only for a deliberate, versioned change of the scheme (go test ./internal/noise/ -run Golden -update).",
		Keys:    map[string]string{"1": hex.EncodeToString(testKey), "2": hex.EncodeToString(key2)},
		Vectors: []goldenVector{
			v(1, cell("video:42", "sharers", "", "", Day, day), 1, 2, 1),
			v(2, cell("video:42", "sharers", "", "", Day, day), 1, 2, 1),
			v(1, cell("video:42", "savers", "", "", Day, day), 1, 2, 1),
			v(1, cell("video:42", "viewers", "", "", Day, day), 3, 20, 1),
			v(1, cell("video:42", "views", "", "", Day, day), 3, 20, 5),
			v(1, cell("video:42", "views", "", "", Hour, "2026-03-10T15:00:00Z"), 1, 10, 5),
			v(1, cell("video:42", "completions", "", "", Day, day), 1, 20, 1),
			v(1, cell("video:42", "watch_s", "", "", Day, day), 1, 20, 14400),
			v(1, cell("video:42", "viewers", "source", "for_you", Day, day), 1, 8, 1),
			v(1, cell("video:42", "viewers", "age", "25-34", Day, day), 1, 8, 1),
			v(1, cell("video:42", "viewers", "country", "FR", Day, day), 1, 8, 1),
			v(1, cell("video:42", "viewers", "country", "São Paulo", Day, day), 1, 8, 1),
			v(1, cell("account:7", "sharers", "", "", Day, day), 1, 2, 1),
			v(1, cell("video:42", "sharers", "", "", Day, "2026-03-11T00:00:00Z"), 1, 2, 1),
			v(1, cell("video:42", "sharers", "", "", Day, "1969-12-31T00:00:00Z"), 1, 2, 1),
			v(1, cell("video:01HZX3Q9K2", "sharers", "", "", Day, day), 1, 1, 1),
			v(1, cell("video:01HZX3Q9K2", "sharers", "", "", Day, day), 2, 1, 1),
			v(1, cell("video:01HZX3Q9K2", "sharers", "", "", Day, day), 1000, 1, 1),
			v(1, cell("video:01HZX3Q9K2", "sharers", "", "", Day, day), 1, 1, MaxScale),
			v(2, cell("video:01HZX3Q9K2", "sharers", "", "", Day, day), 7, 3, 2),
			{Kid: 1, Cell: goldenCell{Schema: 2, Subject: "video:42", Metric: "sharers", Granularity: Day, PeriodStart: day}, EpsNum: 1, EpsDen: 2, Sensitivity: 1},
		},
	}
}

// compute fills in the outputs of v under keys.
func (v *goldenVector) compute(tb testing.TB, k *Keyring) {
	tb.Helper()
	cell := v.Cell.key(tb)
	v.Canonical = hex.EncodeToString(cell.Canonical())
	var head [16]byte
	MustStream(tb, k, v.Kid, cell).Read(head[:])
	v.Stream = hex.EncodeToString(head[:])
	v.Noise = MustNoise(tb, k, v.Kid, cell, v.EpsNum, v.EpsDen, v.Sensitivity)
	num, den, err := Scale(v.EpsNum, v.EpsDen, v.Sensitivity)
	if err != nil {
		tb.Fatal(err)
	}
	s := MustStream(tb, k, v.Kid, cell)
	v.More = make([]int64, 8)
	for i := range v.More {
		v.More[i] = DiscreteLaplace(s, num, den)
	}
	if v.More[0] != v.Noise {
		tb.Fatalf("%v: Noise %d is not the first draw %d", cell, v.Noise, v.More[0])
	}
	v.More = v.More[1:]
}

func goldenKeyring(tb testing.TB, g goldenFile) *Keyring {
	tb.Helper()
	keys := map[uint32][]byte{}
	for kid, h := range g.Keys {
		n, err := strconv.ParseUint(kid, 10, 32)
		if err != nil {
			tb.Fatal(err)
		}
		if keys[uint32(n)], err = hex.DecodeString(h); err != nil {
			tb.Fatal(err)
		}
	}
	return memKeyring(keys)
}

func TestGolden(t *testing.T) {
	if *update {
		g := goldenInputs()
		k := goldenKeyring(t, g)
		for i := range g.Vectors {
			g.Vectors[i].compute(t, k)
		}
		b, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
	}

	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		t.Fatal(err)
	}
	if len(g.Vectors) < 20 {
		t.Fatalf("%s holds %d vectors", goldenPath, len(g.Vectors))
	}
	k := goldenKeyring(t, g)
	for i, want := range g.Vectors {
		got := want
		got.compute(t, k)
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(wantJSON, gotJSON) {
			t.Errorf("vector %d (%v):\n got %s\nwant %s", i, want.Cell.key(t), gotJSON, wantJSON)
		}
	}
}
