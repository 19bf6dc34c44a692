package security

import (
	"container/list"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultLimiterCapacity is how many keys a LoginLimiter tracks at most.
// An entry costs a few hundred bytes, so the default bounds a limiter's
// memory to a few tens of megabytes however many addresses or handles an
// attacker cycles through, while being far more keys than are legitimately
// active within one refill period.
const DefaultLimiterCapacity = 100_000

// LoginLimiter rate-limits login attempts per key with a token bucket per
// key. Crowd keys one limiter by client IP and another by handle: the first
// slows a single source guessing many handles, the second slows many
// sources guessing one handle.
//
// Memory is bounded. An entry whose bucket has refilled completely is
// indistinguishable from a new one, so it is dropped first (lossless). Only
// if the limiter is still at capacity is the least recently used entry
// evicted, which gives that key a fresh bucket; an attacker able to do that
// must already be making DefaultLimiterCapacity distinct attempts within one
// refill period.
//
// A LoginLimiter is safe for concurrent use.
type LoginLimiter struct {
	limit  rate.Limit
	burst  int
	refill time.Duration // time for an empty bucket to become full
	now    func() time.Time

	mu       sync.Mutex
	capacity int
	entries  map[string]*list.Element // values are *limiterEntry
	lru      list.List                // front: most recently used
}

type limiterEntry struct {
	key      string
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewLoginLimiter returns a limiter that allows perMinute attempts per
// minute per key on average, with bursts of up to burst attempts. now is
// the clock (nil means time.Now); tests inject their own. It panics if
// perMinute or burst is less than 1, which is a configuration error.
func NewLoginLimiter(perMinute int, burst int, now func() time.Time) *LoginLimiter {
	if perMinute < 1 || burst < 1 {
		panic(fmt.Sprintf("security: NewLoginLimiter(%d, %d): rate and burst must be positive", perMinute, burst))
	}
	if now == nil {
		now = time.Now
	}
	limit := rate.Limit(float64(perMinute) / 60)
	return &LoginLimiter{
		limit: limit,
		burst: burst,
		// Rounded up so that an entry considered idle really is full.
		refill:   time.Duration(burst)*time.Minute/time.Duration(perMinute) + time.Second,
		now:      now,
		capacity: DefaultLimiterCapacity,
		entries:  make(map[string]*list.Element),
	}
}

// Allow records an attempt for key and reports whether it may proceed. If
// not, retryAfter says when the next attempt would be allowed, for a
// Retry-After header; a denied attempt does not consume a token, so
// retrying exactly then succeeds.
func (l *LoginLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()

	e := l.entry(key, now)
	r := e.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len returns the number of keys currently tracked, for metrics and tests.
func (l *LoginLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// entry returns key's entry, marked as used at now, creating it and making
// room for it if needed. l.mu must be held.
func (l *LoginLimiter) entry(key string, now time.Time) *limiterEntry {
	if el, ok := l.entries[key]; ok {
		e := el.Value.(*limiterEntry)
		e.lastSeen = now
		l.lru.MoveToFront(el)
		return e
	}
	l.evictIdle(now)
	for len(l.entries) >= l.capacity {
		oldest := l.lru.Back()
		delete(l.entries, oldest.Value.(*limiterEntry).key)
		l.lru.Remove(oldest)
	}
	e := &limiterEntry{key: key, limiter: rate.NewLimiter(l.limit, l.burst), lastSeen: now}
	l.entries[key] = l.lru.PushFront(e)
	return e
}

// evictIdle drops entries unused for a full refill period. The list is in
// order of use, so it stops at the first entry still in use, and the cost
// is paid by the evictions themselves.
func (l *LoginLimiter) evictIdle(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		e := el.Value.(*limiterEntry)
		if now.Sub(e.lastSeen) < l.refill {
			return
		}
		delete(l.entries, e.key)
		l.lru.Remove(el)
	}
}
