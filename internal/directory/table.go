package directory

import (
	"hash/maphash"
	"math"
	"math/bits"
	"unsafe"

	"github.com/crowd-dev/crowd/internal/store"
)

// table holds accounts' directory fields (store.AccountRef) compactly and
// without pointers, so that a million accounts cost tens of megabytes and
// nothing for the garbage collector to scan:
//
//   - ids: every account's id, back to back in one byte slice;
//   - slots: an open-addressing hash table (linear probing, between 3/8
//     and 3/4 full) of 16-byte slots, one per account: 32 bits of the
//     id's hash (to skip most comparisons), where its id is in ids, and
//     its fields as small indexes into tables of the distinct values
//     (birth dates, genders, countries). A slot's home is the top bits of
//     the hash; deletion shifts the rest of the cluster back, so lookups
//     never meet tombstones.
//
// A lookup reads its slot and the id's bytes: two cache misses in a large
// table. Ids are compared byte for byte, so a hash collision never
// confuses two accounts. A deleted account's id bytes become garbage,
// compacted once they outweigh the live ones. A table is not safe for
// concurrent use (Directory locks it).
type table struct {
	seed  maphash.Seed
	slots []slot
	shift uint // 64 - log2(len(slots))
	ids   []byte
	n     int // accounts
	dead  int // bytes of ids no account holds

	births, genders, countries interner
}

// slot is one account: 16 bytes. idLen 0 marks an empty slot.
type slot struct {
	tag     uint32 // the id's hash, low 32 bits
	off     uint32 // of the id in table.ids
	birth   uint16 // index in births
	country uint16 // index in countries
	idLen   uint8
	gender  uint8 // index in genders
	_       [2]byte
}

// slotBytes is the size of a slot.
const slotBytes = int(unsafe.Sizeof(slot{}))

// compactMinDead is the garbage below which ids are never compacted.
var compactMinDead = 1 << 20

// maxIDLen is the longest id a table holds (sync ids have at most 128
// bytes); a longer one is left to the store.
const maxIDLen = math.MaxUint8

func newTable(capacity int) *table {
	t := &table{seed: maphash.MakeSeed()}
	t.births.limit, t.genders.limit, t.countries.limit = math.MaxUint16+1, math.MaxUint8+1, math.MaxUint16+1
	t.births.dates = make([]int32, 260*372)
	t.reserve(capacity, 0)
	return t
}

// reserve sizes the table for n accounts whose ids take idBytes.
func (t *table) reserve(n, idBytes int) {
	if idBytes > cap(t.ids) {
		t.ids = append(make([]byte, 0, idBytes), t.ids...)
	}
	if size := slotsFor(n); size > len(t.slots) {
		t.rehash(size)
	}
}

// slotsFor is the power of two that holds n entries at most 3/4 full.
func slotsFor(n int) int {
	size := 16
	for size*3/4 < n {
		size *= 2
	}
	return size
}

func (t *table) hash(id string) uint64 { return maphash.String(t.seed, id) }

func (t *table) id(s *slot) []byte { return t.ids[s.off : s.off+uint32(s.idLen)] }

// find returns the slot holding id, or the empty slot where it would go.
func (t *table) find(id string, h uint64) (i int, found bool) {
	mask := len(t.slots) - 1
	tag := uint32(h)
	for i = int(h >> t.shift); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.idLen == 0 {
			return i, false
		}
		if s.tag == tag && string(t.id(s)) == id {
			return i, true
		}
	}
}

// get returns the account with id.
func (t *table) get(id string) (store.AccountRef, bool) {
	if t.n == 0 {
		return store.AccountRef{}, false
	}
	i, ok := t.find(id, t.hash(id))
	if !ok {
		return store.AccountRef{}, false
	}
	s := &t.slots[i]
	return store.AccountRef{ID: id, BirthDate: t.births.vals[s.birth], Gender: t.genders.vals[s.gender], Country: t.countries.vals[s.country]}, true
}

// has reports whether the table holds id.
func (t *table) has(id string) bool {
	if t.n == 0 {
		return false
	}
	_, ok := t.find(id, t.hash(id))
	return ok
}

// put inserts or updates an account. It reports false when the table
// cannot hold it (an id too long, a field with more distinct values than
// its index holds, ids past 4 GiB); the account is then not in the table,
// even if it was before.
func put[T string | []byte](t *table, id string, birth, gender, country T) bool {
	b, ok1 := index(&t.births, birth)
	g, ok2 := index(&t.genders, gender)
	c, ok3 := index(&t.countries, country)
	if !ok1 || !ok2 || !ok3 || len(id) == 0 || len(id) > maxIDLen {
		t.remove(id)
		return false
	}
	h := t.hash(id)
	i, found := t.find(id, h)
	if found {
		s := &t.slots[i]
		s.birth, s.gender, s.country = uint16(b), uint8(g), uint16(c)
		return true
	}
	if len(t.ids)+len(id) > math.MaxUint32 {
		return false
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.rehash(len(t.slots) * 2)
		i, _ = t.find(id, h)
	}
	t.slots[i] = slot{tag: uint32(h), off: uint32(len(t.ids)), idLen: uint8(len(id)), birth: uint16(b), gender: uint8(g), country: uint16(c)}
	t.ids = append(t.ids, id...)
	t.n++
	return true
}

// putBytes is put of an id given as bytes (a load's scan), without
// allocating a string for it: put keeps no reference to the string it is
// given (it copies the id into t.ids).
func (t *table) putBytes(id, birth, gender, country []byte) bool {
	return put(t, unsafe.String(unsafe.SliceData(id), len(id)), birth, gender, country)
}

// remove deletes id, reporting whether it was there.
func (t *table) remove(id string) bool {
	if t.n == 0 {
		return false
	}
	i, found := t.find(id, t.hash(id))
	if !found {
		return false
	}
	t.dead += int(t.slots[i].idLen)
	t.n--
	// Backward-shift deletion: move later entries of the cluster into the
	// hole when their home is not between the hole and them.
	mask := len(t.slots) - 1
	hole := i
	for j := (i + 1) & mask; t.slots[j].idLen != 0; j = (j + 1) & mask {
		home := int(maphash.Bytes(t.seed, t.id(&t.slots[j])) >> t.shift)
		if (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = slot{}
	if t.dead > compactMinDead && t.dead > len(t.ids)/2 {
		t.compact()
	}
	return true
}

// rehash moves the accounts into size slots (a power of two).
func (t *table) rehash(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	for _, s := range old {
		if s.idLen == 0 {
			continue
		}
		i := int(maphash.Bytes(t.seed, t.id(&s)) >> t.shift)
		for t.slots[i].idLen != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// compact rewrites ids without the deleted accounts'.
func (t *table) compact() {
	ids := make([]byte, 0, len(t.ids)-t.dead)
	for i := range t.slots {
		s := &t.slots[i]
		if s.idLen == 0 {
			continue
		}
		off := len(ids)
		ids = append(ids, t.id(s)...)
		s.off = uint32(off)
	}
	t.ids, t.dead = ids, 0
}

// clear empties the table, keeping its memory and value indexes.
func (t *table) clear() {
	clear(t.slots)
	t.ids, t.n, t.dead = t.ids[:0], 0, 0
}

// bytes is the memory the table holds.
func (t *table) bytes() int {
	return cap(t.slots)*slotBytes + cap(t.ids) + t.births.bytes() + t.genders.bytes() + t.countries.bytes()
}

// interner numbers the distinct values of a field.
type interner struct {
	vals  []string
	idx   map[string]int
	limit int
	// dates, for birth dates: the number+1 of each date written
	// YYYY-MM-DD, by dateKey (a million accounts have tens of thousands of
	// birth dates, and a map lookup among them was a quarter of a load).
	dates []int32
}

// dateKey maps a date written YYYY-MM-DD of the years 1870–2129 to a
// distinct small number (372 a year), or -1.
func dateKey[T string | []byte](v T) int {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return -1
	}
	n := 0
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		c := v[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	y, m, d := n/10000, n/100%100, n%100
	if y < 1870 || y >= 2130 || m < 1 || m > 12 || d < 1 || d > 31 {
		return -1
	}
	return (y-1870)*372 + (m-1)*31 + d - 1
}

// index returns v's number in in, adding it if there is room.
func index[T string | []byte](in *interner, v T) (int, bool) {
	k := -1
	if in.dates != nil {
		if k = dateKey(v); k >= 0 && in.dates[k] > 0 {
			return int(in.dates[k]) - 1, true
		}
	}
	i, ok := in.idx[string(v)]
	if !ok {
		if len(in.vals) >= in.limit {
			return 0, false
		}
		if in.idx == nil {
			in.idx = map[string]int{}
		}
		i = len(in.vals)
		s := string(v)
		in.idx[s] = i
		in.vals = append(in.vals, s)
	}
	if k >= 0 {
		in.dates[k] = int32(i + 1)
	}
	return i, true
}

// bytes estimates the memory of the values and their map.
func (in *interner) bytes() int {
	n := cap(in.vals)*16 + cap(in.dates)*4
	for _, v := range in.vals {
		n += len(v) + 40 // the string's bytes, the map's key, value and overhead
	}
	return n
}
