package rollup

import "math/bits"

// bloom is a blocked Bloom filter over 64-bit keys (which are hashes
// already): each key sets bloomK bits in one 512-bit block, so a lookup
// touches one cache line. At 10 bits per key it answers "maybe" for about
// 1% of the keys it never saw. It keeps lookups that miss in memory from
// asking the spill tables about keys that were never spilled.
type bloom struct {
	blocks [][8]uint64
	n      int // keys added
}

const (
	bloomK          = 7
	bloomBitsPerKey = 10
	// bloomMaxBlocks caps a filter at 2²¹ blocks (128 MiB); beyond that
	// the false-positive rate rises instead of the memory.
	bloomMaxBlocks = 1 << 21
)

// newBloom returns a filter sized for n keys.
func newBloom(n int) *bloom {
	blocks := max(1, min(bloomMaxBlocks, (n*bloomBitsPerKey+511)/512))
	return &bloom{blocks: make([][8]uint64, blocks)}
}

// full reports whether the filter holds more keys than it was sized for.
func (b *bloom) full() bool {
	return b.n*bloomBitsPerKey > len(b.blocks)*512 && len(b.blocks) < bloomMaxBlocks
}

func (b *bloom) probe(k uint64, set bool) bool {
	// The key's low bits pick the block (by multiply-shift, fair for any
	// block count), its high bits the positions inside it.
	hi, _ := bits.Mul64(k, uint64(len(b.blocks)))
	blk := &b.blocks[hi]
	h := k*0x9E3779B97F4A7C15 | 1
	for range bloomK {
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

func (b *bloom) add(k uint64) {
	b.probe(k, true)
	b.n++
}

// mayContain reports whether k may have been added; a nil filter holds
// nothing.
func (b *bloom) mayContain(k uint64) bool { return b != nil && b.probe(k, false) }

func (b *bloom) bytes() int {
	if b == nil {
		return 0
	}
	return len(b.blocks) * 64
}
