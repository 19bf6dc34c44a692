// Package directory answers, fast, the questions ingestion asks of every
// event: does this video exist and who owns it, does this account exist and
// what are its audience buckets. It caches what the store says; a miss asks
// the store for the whole batch at once. Only existing ids are cached, so a
// video or account created a moment ago is found on its first event.
package directory

import (
	"context"
	"sync"

	"github.com/crowd-dev/crowd/internal/store"
)

// MaxEntries bounds each cache; past it the cache starts over (a cheap,
// safe eviction: entries are reloaded from the store on demand).
const MaxEntries = 1_000_000

// Directory caches video and account references.
type Directory struct {
	store *store.Store

	mu       sync.RWMutex
	videos   map[string]store.VideoRef
	accounts map[string]store.AccountRef
}

// New returns a directory over s.
func New(s *store.Store) *Directory {
	return &Directory{store: s, videos: map[string]store.VideoRef{}, accounts: map[string]store.AccountRef{}}
}

// Videos returns the existing videos among ids.
func (d *Directory) Videos(ctx context.Context, ids []string) (map[string]store.VideoRef, error) {
	out := make(map[string]store.VideoRef, len(ids))
	var missing []string
	d.mu.RLock()
	for _, id := range ids {
		if r, ok := d.videos[id]; ok {
			out[id] = r
		} else if _, dup := out[id]; !dup {
			missing = append(missing, id)
		}
	}
	d.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	refs, err := d.store.VideoRefs(ctx, dedupe(missing))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.videos)+len(refs) > MaxEntries {
		clear(d.videos)
	}
	for _, r := range refs {
		d.videos[r.ID] = r
		out[r.ID] = r
	}
	d.mu.Unlock()
	return out, nil
}

// Accounts returns the existing accounts among ids.
func (d *Directory) Accounts(ctx context.Context, ids []string) (map[string]store.AccountRef, error) {
	out := make(map[string]store.AccountRef, len(ids))
	var missing []string
	d.mu.RLock()
	for _, id := range ids {
		if r, ok := d.accounts[id]; ok {
			out[id] = r
		} else {
			missing = append(missing, id)
		}
	}
	d.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	refs, err := d.store.AccountRefs(ctx, dedupe(missing))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.accounts)+len(refs) > MaxEntries {
		clear(d.accounts)
	}
	for _, r := range refs {
		d.accounts[r.ID] = r
		out[r.ID] = r
	}
	d.mu.Unlock()
	return out, nil
}

// Forget drops cached entries, after an account or video changed or went.
func (d *Directory) Forget(videoIDs, accountIDs []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range videoIDs {
		delete(d.videos, id)
	}
	for _, id := range accountIDs {
		delete(d.accounts, id)
	}
}

func dedupe(ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
