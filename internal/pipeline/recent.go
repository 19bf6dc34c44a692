package pipeline

import (
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Recent remembers the ids of recently accepted events, to tell a client
// that a resent event is a duplicate before aggregation (which dedupes for
// real, by id, in the same transaction as its counts) has seen it. It keeps
// two generations of at most size ids each: a cheap, bounded approximation
// of "the last size to 2×size ids".
//
// Ids are held as 64-bit xxhash digests, as aggregation holds them: 16
// bytes an id instead of the id and its string header (a million ids took
// 100 MB). Two of the 2×size ids share a digest with probability about
// (2·size)²/2⁶⁵, 10⁻⁷ at a million; the later one would be taken for a
// duplicate, as aggregation would take it.
type Recent struct {
	mu        sync.Mutex
	size      int
	cur, prev map[uint64]struct{}
}

// NewRecent returns a set remembering at least the last size ids.
func NewRecent(size int) *Recent {
	return &Recent{size: size, cur: make(map[uint64]struct{}, size), prev: map[uint64]struct{}{}}
}

// HasEach reports, for each id, whether it was added recently, under one
// lock for the whole batch.
func (r *Recent) HasEach(ids []string) []bool {
	out := make([]bool, len(ids))
	keys := digests(ids)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range keys {
		if _, ok := r.cur[k]; ok {
			out[i] = true
		} else if _, ok := r.prev[k]; ok {
			out[i] = true
		}
	}
	return out
}

// Add remembers ids.
func (r *Recent) Add(ids ...string) {
	keys := digests(ids)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if len(r.cur) >= r.size {
			r.prev, r.cur = r.cur, make(map[uint64]struct{}, r.size)
		}
		r.cur[k] = struct{}{}
	}
}

func digests(ids []string) []uint64 {
	keys := make([]uint64, len(ids))
	for i, id := range ids {
		keys[i] = xxhash.Sum64String(id)
	}
	return keys
}
