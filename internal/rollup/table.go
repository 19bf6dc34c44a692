package rollup

import "math/bits"

// table is an open-addressing hash table (linear probing) from 64-bit keys
// to 32-bit values, with a 16-bit stamp per entry that decides when the
// entry expires. Key 0 marks an empty slot, so keys are never 0 (see
// nonzero). A set leaves vals nil.
//
// It holds aggregation's per-event state: event ids seen within the dedupe
// window, and viewer-days. A Go map of the same content costs two to three
// times the memory: here a set costs 10 bytes a slot and a map 14, with
// the table between 3/8 and 3/4 full.
type table struct {
	keys   []uint64
	vals   []uint32
	stamps []uint16
	n      int
	set    bool
	shift  uint // 64 - log2(slots): a key's home slot is its mixed hash's top bits
}

const minTableSlots = 1 << 10

func newTable(set bool) *table {
	t := &table{set: set}
	t.alloc(minTableSlots)
	return t
}

func (t *table) alloc(slots int) {
	t.shift = uint(64 - bits.TrailingZeros(uint(slots)))
	t.keys = make([]uint64, slots)
	t.stamps = make([]uint16, slots)
	if !t.set {
		t.vals = make([]uint32, slots)
	}
	t.n = 0
}

// nonzero maps a hash to a key: 0 is the empty slot.
func nonzero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// home returns the slot where k's probe run starts: the top bits of k
// times a constant (Fibonacci hashing). The keys are hashes already; the
// multiplication spreads them even if a caller's hash were weak in some
// bits. Taking the top bits keeps keys of one range of mixed hashes in one
// range of slots whatever the table's size, so that a snapshot reads and
// loads a table range by range, in slot order (snapshot.go).
func (t *table) home(k uint64) uint64 { return mix(k) >> t.shift }

func mix(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 }

// slot returns k's slot, or the empty slot where it would go.
func (t *table) slot(k uint64) int {
	mask := uint64(len(t.keys) - 1)
	i := t.home(k)
	for {
		if t.keys[i] == k || t.keys[i] == 0 {
			return int(i)
		}
		i = (i + 1) & mask
	}
}

// get returns k's value and stamp.
func (t *table) get(k uint64) (val uint32, stamp uint16, ok bool) {
	i := t.slot(k)
	if t.keys[i] == 0 {
		return 0, 0, false
	}
	if !t.set {
		val = t.vals[i]
	}
	return val, t.stamps[i], true
}

// put sets k's value and stamp. When the table fills up it is rebuilt,
// without the entries live reports expired, at twice the size if still
// needed.
func (t *table) put(k uint64, val uint32, stamp uint16, live func(uint16) bool) {
	i := t.slot(k)
	if t.keys[i] == 0 {
		if 4*(t.n+1) > 3*len(t.keys) {
			t.rebuild(live, true)
			i = t.slot(k)
		}
		t.keys[i] = k
		t.n++
	}
	if !t.set {
		t.vals[i] = val
	}
	t.stamps[i] = stamp
}

// del removes k, if present, by backward-shift deletion: the entries
// after it in its probe run move back into the gap, so lookups never need
// tombstones.
func (t *table) del(k uint64) {
	i := t.slot(k)
	if t.keys[i] == 0 {
		return
	}
	mask := len(t.keys) - 1
	t.keys[i] = 0
	t.n--
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		home := int(t.home(t.keys[j]))
		kj := t.keys[j]
		// kj stays if its home lies cyclically in (i, j]: the gap at i
		// is not on its probe path.
		if (i < j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		t.keys[i], t.stamps[i] = kj, t.stamps[j]
		if !t.set {
			t.vals[i] = t.vals[j]
		}
		t.keys[j] = 0
		i = j
	}
}

// rebuild drops the entries live reports expired and rehashes the rest,
// into a table twice the size if grow is set and the survivors would fill
// more than 3/8 of the current one, or half the size if they fill less
// than 1/16 of it.
func (t *table) rebuild(live func(uint16) bool, grow bool) {
	keys, vals, stamps := t.keys, t.vals, t.stamps
	survivors := 0
	for i, k := range keys {
		if k != 0 && (live == nil || live(stamps[i])) {
			survivors++
		}
	}
	slots := len(keys)
	switch {
	case grow && 8*survivors > 3*slots:
		slots *= 2
	case 16*survivors < slots && slots > minTableSlots:
		for 16*survivors < slots && slots > minTableSlots {
			slots /= 2
		}
	}
	t.rehash(slots, keys, vals, stamps, live)
}

// rehash puts the entries of keys, vals and stamps (former arrays of the
// table) for which live is true (all, if it is nil) into new arrays of
// slots.
func (t *table) rehash(slots int, keys []uint64, vals []uint32, stamps []uint16, live func(uint16) bool) {
	t.alloc(slots)
	for i, k := range keys {
		if k == 0 || (live != nil && !live(stamps[i])) {
			continue
		}
		j := t.slot(k)
		t.keys[j] = k
		t.stamps[j] = stamps[i]
		if !t.set {
			t.vals[j] = vals[i]
		}
		t.n++
	}
}

// shrink rehashes the table into the fewest slots that hold n entries
// without growing (3/4 full), if it has more and its entries fit them.
func (t *table) shrink(n int) {
	slots := minTableSlots
	for 4*max(n, t.n) > 3*slots {
		slots *= 2
	}
	if slots >= len(t.keys) {
		return
	}
	t.rehash(slots, t.keys, t.vals, t.stamps, nil)
}

// count returns how many entries have a stamp for which match is true.
func (t *table) count(match func(uint16) bool) int {
	n := 0
	for i, k := range t.keys {
		if k != 0 && match(t.stamps[i]) {
			n++
		}
	}
	return n
}

// bytes returns the memory the table holds.
func (t *table) bytes() int {
	return len(t.keys)*8 + len(t.stamps)*2 + len(t.vals)*4
}
