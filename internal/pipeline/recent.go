package pipeline

import "sync"

// Recent remembers the ids of recently accepted events, to tell a client
// that a resent event is a duplicate before aggregation (which dedupes for
// real, by id, in the same transaction as its counts) has seen it. It keeps
// two generations of at most size ids each: a cheap, bounded approximation
// of "the last size to 2×size ids".
type Recent struct {
	mu        sync.Mutex
	size      int
	cur, prev map[string]struct{}
}

// NewRecent returns a set remembering at least the last size ids.
func NewRecent(size int) *Recent {
	return &Recent{size: size, cur: make(map[string]struct{}, size), prev: map[string]struct{}{}}
}

// HasEach reports, for each id, whether it was added recently, under one
// lock for the whole batch.
func (r *Recent) HasEach(ids []string) []bool {
	out := make([]bool, len(ids))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, id := range ids {
		if _, ok := r.cur[id]; ok {
			out[i] = true
		} else if _, ok := r.prev[id]; ok {
			out[i] = true
		}
	}
	return out
}

// Add remembers ids.
func (r *Recent) Add(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if len(r.cur) >= r.size {
			r.prev, r.cur = r.cur, make(map[string]struct{}, r.size)
		}
		r.cur[id] = struct{}{}
	}
}
