package security

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLoginLimiter_Allow(t *testing.T) {
	clock := newFakeClock()
	l := NewLoginLimiter(6, 3, clock.Now) // one token every 10s, bursts of 3

	t.Run("BurstThenDeny", func(t *testing.T) {
		for i := range 3 {
			if ok, _ := l.Allow("1.2.3.4"); !ok {
				t.Fatalf("attempt %d denied within burst", i+1)
			}
		}
		ok, retry := l.Allow("1.2.3.4")
		if ok {
			t.Fatal("attempt beyond burst allowed")
		}
		if retry != 10*time.Second {
			t.Errorf("retryAfter = %v; want 10s", retry)
		}
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		if ok, _ := l.Allow("5.6.7.8"); !ok {
			t.Error("other key denied")
		}
	})
	t.Run("DeniedAttemptsDoNotConsume", func(t *testing.T) {
		for range 5 {
			l.Allow("1.2.3.4")
		}
		clock.Advance(10 * time.Second)
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Error("denied after waiting retryAfter")
		}
		if ok, _ := l.Allow("1.2.3.4"); ok {
			t.Error("second attempt allowed after one token refilled")
		}
	})
	t.Run("RecoversFully", func(t *testing.T) {
		clock.Advance(time.Minute)
		for i := range 3 {
			if ok, _ := l.Allow("1.2.3.4"); !ok {
				t.Fatalf("attempt %d denied after full refill", i+1)
			}
		}
	})
}

func TestLoginLimiter_Eviction(t *testing.T) {
	t.Run("IdleEntriesDropped", func(t *testing.T) {
		clock := newFakeClock()
		l := NewLoginLimiter(60, 5, clock.Now)
		for i := range 100 {
			l.Allow(fmt.Sprint("k", i))
		}
		if n := l.Len(); n != 100 {
			t.Fatalf("Len = %d; want 100", n)
		}
		clock.Advance(10 * time.Second) // refill takes 5s (+1s margin)
		l.Allow("new")
		if n := l.Len(); n != 1 {
			t.Errorf("Len after idle period = %d; want 1", n)
		}
	})
	t.Run("CapacityBound", func(t *testing.T) {
		clock := newFakeClock()
		l := NewLoginLimiter(1, 1, clock.Now)
		l.capacity = 50
		for i := range 1000 {
			l.Allow(fmt.Sprint("k", i))
			if n := l.Len(); n > 50 {
				t.Fatalf("Len = %d after %d keys; want at most 50", n, i+1)
			}
		}
		// The most recently used keys survive and are still limited.
		if ok, _ := l.Allow("k999"); ok {
			t.Error("recent key lost its state")
		}
	})
	t.Run("BusyKeysKeepState", func(t *testing.T) {
		clock := newFakeClock()
		l := NewLoginLimiter(1, 1, clock.Now)
		l.capacity = 10
		l.Allow("victim")
		for i := range 100 {
			l.Allow("victim") // keeps it most recently used
			l.Allow(fmt.Sprint("k", i))
		}
		if ok, _ := l.Allow("victim"); ok {
			t.Error("busy key was evicted and reset")
		}
	})
}

func TestLoginLimiter_Concurrent(t *testing.T) {
	clock := newFakeClock()
	l := NewLoginLimiter(60, 10, clock.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				l.Allow(fmt.Sprint(g, "-", i))
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("allowed %d attempts on a shared key with a frozen clock; want burst 10", allowed)
	}
}

func TestNewLoginLimiter_Panics(t *testing.T) {
	for _, args := range [][2]int{{0, 1}, {1, 0}, {-1, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLoginLimiter(%d, %d) did not panic", args[0], args[1])
				}
			}()
			NewLoginLimiter(args[0], args[1], nil)
		}()
	}
}
