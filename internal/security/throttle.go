package security

import (
	"container/list"
	"sync"
	"time"
)

// Login throttling tuning. A few failures cost nothing; after them each
// attempt from the same address on the same handle must wait twice as long
// as the one before, up to MaxLoginDelay.
const (
	// FreeLoginFailures is how many attempts in a row one address may make
	// on one handle before delays start.
	FreeLoginFailures = 3
	// BaseLoginDelay is the first delay; each further attempt doubles it.
	BaseLoginDelay = time.Second
	// MaxLoginDelay caps the delay between two attempts of one address on
	// one handle.
	MaxLoginDelay = 15 * time.Minute
	// LoginQuietReset is how long an address must leave a handle alone for
	// its failures to be forgotten.
	LoginQuietReset = time.Hour
	// KnownAddressFor is how long an address that logged in to a handle
	// stays exempt from the handle's shared budget.
	KnownAddressFor = 30 * 24 * time.Hour
	// handleBurstMinutes sizes the per-handle budget: that many minutes'
	// worth of attempts may come at once.
	handleBurstMinutes = 5
)

// LoginThrottle decides whether a login attempt may go ahead, without ever
// letting a stranger lock an account's owner out. Three limits apply:
//
//   - per client address, every attempt, perMinute a minute: one source
//     cannot guess many accounts' passwords;
//   - per (handle, address) pair, growing delays: after FreeLoginFailures
//     attempts without a success, each attempt must wait BaseLoginDelay,
//     then twice that, and so on up to MaxLoginDelay. A success resets the
//     pair. Only the address doing the guessing is slowed;
//   - per handle, attempts from addresses that have not logged in to it
//     (within KnownAddressFor) share a budget of perMinute a minute with
//     bursts of handleBurstMinutes times that: many sources guessing one
//     account are slowed together. An address the owner has logged in from
//     is exempt, so the owner is never locked out by others' failures, and
//     a new address is told when to retry (Retry-After), never refused for
//     good.
//
// Every admitted attempt counts as a failure until Succeeded says
// otherwise, so concurrent guesses are throttled as well as sequential
// ones. State is in memory and bounded (DefaultLimiterCapacity pairs and
// known addresses, least recently used evicted first); a restart forgets it.
//
// A LoginThrottle is safe for concurrent use.
type LoginThrottle struct {
	perAddr   *LoginLimiter
	perHandle *LoginLimiter
	now       func() time.Time

	mu    sync.Mutex
	pairs *lruMap[pairState]
	known *lruMap[struct{}]
}

// pairState is what the throttle remembers of one address on one handle.
type pairState struct {
	attempts int       // admitted attempts since the last success
	until    time.Time // no attempt before this time
}

// NewLoginThrottle returns a throttle allowing perMinute attempts a minute
// per address (and, shared, per handle from unknown addresses). now is the
// clock (nil means time.Now). It panics if perMinute is less than 1.
func NewLoginThrottle(perMinute int, now func() time.Time) *LoginThrottle {
	if now == nil {
		now = time.Now
	}
	return &LoginThrottle{
		perAddr:   NewLoginLimiter(perMinute, perMinute, now),
		perHandle: NewLoginLimiter(perMinute, handleBurstMinutes*perMinute, now),
		now:       now,
		pairs:     newLRUMap[pairState](DefaultLimiterCapacity, LoginQuietReset+MaxLoginDelay),
		known:     newLRUMap[struct{}](DefaultLimiterCapacity, KnownAddressFor),
	}
}

// Admit records an attempt of addr to log in to handle and reports whether
// it may proceed; if not, retryAfter says when it may. An admitted attempt
// is a failure unless Succeeded is called for it.
func (l *LoginThrottle) Admit(handle, addr string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	key := handle + "\x00" + addr
	l.mu.Lock()
	defer l.mu.Unlock()
	if st, found := l.pairs.get(key, now); found && now.Before(st.until) {
		return false, st.until.Sub(now)
	}
	if ok, wait := l.perAddr.Allow(addr); !ok {
		return false, wait
	}
	if _, known := l.known.get(key, now); !known {
		if ok, wait := l.perHandle.Allow(handle); !ok {
			return false, wait
		}
	}
	st := l.pairs.put(key, now)
	st.attempts++
	if n := st.attempts - FreeLoginFailures; n > 0 {
		st.until = now.Add(loginDelay(n))
	}
	return true, 0
}

// Succeeded records that addr logged in to handle: the pair's failures are
// forgotten and the address becomes known for the handle.
func (l *LoginThrottle) Succeeded(handle, addr string) {
	now := l.now()
	key := handle + "\x00" + addr
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pairs.del(key)
	l.known.put(key, now)
}

// loginDelay is the wait after the n-th attempt beyond the free ones.
func loginDelay(n int) time.Duration {
	if n > 30 {
		return MaxLoginDelay
	}
	return min(BaseLoginDelay<<(n-1), MaxLoginDelay)
}

// lruMap is a map with a bounded number of entries that forgets entries
// unused for ttl and, when full, the least recently used one. It is not
// safe for concurrent use.
type lruMap[V any] struct {
	capacity int
	ttl      time.Duration
	m        map[string]*list.Element // values are *lruEntry[V]
	l        list.List                // front: most recently used
}

type lruEntry[V any] struct {
	key  string
	seen time.Time
	v    V
}

func newLRUMap[V any](capacity int, ttl time.Duration) *lruMap[V] {
	return &lruMap[V]{capacity: capacity, ttl: ttl, m: make(map[string]*list.Element)}
}

// get returns key's value if it has one used within ttl, and marks it used.
func (c *lruMap[V]) get(key string, now time.Time) (*V, bool) {
	c.expire(now)
	el, ok := c.m[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*lruEntry[V])
	e.seen = now
	c.l.MoveToFront(el)
	return &e.v, true
}

// put returns key's value, creating a zero one if needed, marked used.
func (c *lruMap[V]) put(key string, now time.Time) *V {
	if v, ok := c.get(key, now); ok {
		return v
	}
	for len(c.m) >= c.capacity {
		c.remove(c.l.Back())
	}
	e := &lruEntry[V]{key: key, seen: now}
	c.m[key] = c.l.PushFront(e)
	return &e.v
}

func (c *lruMap[V]) del(key string) {
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
}

func (c *lruMap[V]) len() int { return len(c.m) }

// expire drops entries unused for ttl, oldest first; the cost is paid by
// the entries dropped.
func (c *lruMap[V]) expire(now time.Time) {
	for el := c.l.Back(); el != nil && now.Sub(el.Value.(*lruEntry[V]).seen) >= c.ttl; el = c.l.Back() {
		c.remove(el)
	}
}

func (c *lruMap[V]) remove(el *list.Element) {
	delete(c.m, el.Value.(*lruEntry[V]).key)
	c.l.Remove(el)
}
