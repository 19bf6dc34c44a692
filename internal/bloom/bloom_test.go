package bloom

import (
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func key(i int) uint64 {
	var b [8]byte
	for j := range b {
		b[j] = byte(i >> (8 * j))
	}
	return xxhash.Sum64(b[:])
}

// TestFilter: no false negatives, and about 1% false positives at the
// sized load; full past it.
func TestFilter(t *testing.T) {
	const n = 200_000
	b := New(n)
	for i := range n {
		b.Add(key(i))
	}
	for i := range n {
		if !b.MayContain(key(i)) {
			t.Fatalf("key %d added but not found", i)
		}
	}
	fp := 0
	for i := n; i < 2*n; i++ {
		if b.MayContain(key(i)) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.03 {
		t.Fatalf("false-positive rate %.3f at the sized load", rate)
	}
	if b.Full() {
		t.Fatal("full at its sized load")
	}
	b.Add(key(-1))
	for range n / 5 {
		b.Add(0)
	}
	if !b.Full() {
		t.Fatal("not full past its sized load")
	}
	var none *Filter
	if none.MayContain(key(0)) || none.Bytes() != 0 {
		t.Fatal("a nil filter holds something")
	}
}

// TestDecode: a filter encoded and decoded answers as before; malformed
// encodings fail.
func TestDecode(t *testing.T) {
	b := New(1000)
	for i := range 1000 {
		b.Add(key(i))
	}
	enc := b.AppendBinary(nil)
	if len(enc) != b.Bytes() {
		t.Fatalf("encoding of %d bytes, filter of %d", len(enc), b.Bytes())
	}
	c, err := Decode(enc, b.Keys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Blocks, b.Blocks) || c.Keys != b.Keys {
		t.Fatal("decoded filter differs")
	}
	for _, bad := range [][]byte{nil, enc[:63], enc[:len(enc)-1]} {
		if _, err := Decode(bad, 1); err == nil {
			t.Errorf("decoded %d bytes", len(bad))
		}
	}
}
