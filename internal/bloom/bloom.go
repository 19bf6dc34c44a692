// Package bloom is a blocked Bloom filter over 64-bit keys that are hashes
// already. Aggregation's state keeps one over the keys it spilled
// (internal/rollup), and viewers' history one per sorted run
// (internal/store/history_runs.go): both so that a lookup that would miss
// does not ask the database.
package bloom

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Filter is a blocked Bloom filter: each key sets K bits in one 512-bit
// block, so a lookup touches one cache line. At BitsPerKey bits per key it
// answers "maybe" for about 1% of the keys it never saw.
type Filter struct {
	// Blocks are the filter's bits, exported for its snapshots.
	Blocks [][8]uint64
	// Keys counts the keys added.
	Keys int
}

const (
	K          = 7
	BitsPerKey = 10
	// MaxBlocks caps a filter at 2²¹ blocks (128 MiB); beyond that the
	// false-positive rate rises instead of the memory.
	MaxBlocks = 1 << 21
)

// New returns a filter sized for n keys.
func New(n int) *Filter {
	blocks := max(1, min(MaxBlocks, (n*BitsPerKey+511)/512))
	return &Filter{Blocks: make([][8]uint64, blocks)}
}

// Full reports whether the filter holds more keys than it was sized for.
func (b *Filter) Full() bool {
	return b.Keys*BitsPerKey > len(b.Blocks)*512 && len(b.Blocks) < MaxBlocks
}

func (b *Filter) probe(k uint64, set bool) bool {
	// The key's low bits pick the block (by multiply-shift, fair for any
	// block count), its high bits the positions inside it.
	hi, _ := bits.Mul64(k, uint64(len(b.Blocks)))
	blk := &b.Blocks[hi]
	h := k*0x9E3779B97F4A7C15 | 1
	for range K {
		bit := h >> 55 // 9 bits: 0..511
		w, m := bit>>6, uint64(1)<<(bit&63)
		if set {
			blk[w] |= m
		} else if blk[w]&m == 0 {
			return false
		}
		h *= 0xBF58476D1CE4E5B9
		h ^= h >> 31
	}
	return true
}

// Add adds k.
func (b *Filter) Add(k uint64) {
	b.probe(k, true)
	b.Keys++
}

// MayContain reports whether k may have been added; a nil filter holds
// nothing.
func (b *Filter) MayContain(k uint64) bool { return b != nil && b.probe(k, false) }

// Bytes returns the memory the filter's bits take.
func (b *Filter) Bytes() int {
	if b == nil {
		return 0
	}
	return len(b.Blocks) * 64
}

// AppendBinary appends the filter's bits to dst, 64 bytes a block.
func (b *Filter) AppendBinary(dst []byte) []byte {
	for i := range b.Blocks {
		for _, w := range b.Blocks[i] {
			dst = binary.LittleEndian.AppendUint64(dst, w)
		}
	}
	return dst
}

var errEncoding = errors.New("bloom: malformed filter")

// Decode returns the filter whose bits AppendBinary encoded in src, with
// keys keys added.
func Decode(src []byte, keys int) (*Filter, error) {
	if len(src) == 0 || len(src)%64 != 0 || len(src)/64 > MaxBlocks {
		return nil, errEncoding
	}
	b := &Filter{Blocks: make([][8]uint64, len(src)/64), Keys: keys}
	for i := range b.Blocks {
		for w := range 8 {
			b.Blocks[i][w] = binary.LittleEndian.Uint64(src[64*i+8*w:])
		}
	}
	return b, nil
}
