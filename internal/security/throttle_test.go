package security

import (
	"fmt"
	"testing"
	"time"
)

func admitted(ok bool, _ time.Duration) bool { return ok }

// TestLoginThrottle_StrangerCannotLockOutOwner: a stranger failing twenty
// times on one address meets growing delays, while the owner, on an address
// they logged in from before, logs in at every point.
func TestLoginThrottle_StrangerCannotLockOutOwner(t *testing.T) {
	clk := newFakeClock()
	l := NewLoginThrottle(10, clk.Now)
	if !admitted(l.Admit("mia", "owner-addr")) {
		t.Fatal("owner's first attempt refused")
	}
	l.Succeeded("mia", "owner-addr")

	var last time.Duration
	for i := 1; i <= 20; i++ {
		ok, wait := l.Admit("mia", "stranger")
		if !ok {
			// Told to wait: the wait is the delay for this many failures,
			// and it never shrinks from one failure to the next.
			if wait < last {
				t.Fatalf("failure %d: retry after %v, shorter than the previous %v", i, wait, last)
			}
			last = wait
			clk.Advance(wait)
			if ok, _ := l.Admit("mia", "stranger"); !ok {
				t.Fatalf("failure %d: refused again after waiting the Retry-After", i)
			}
		} else if i > FreeLoginFailures+1 {
			t.Fatalf("failure %d admitted without a wait", i)
		}
		if ok, wait := l.Admit("mia", "owner-addr"); !ok {
			t.Fatalf("after %d stranger failures the owner is refused for %v", i, wait)
		}
		l.Succeeded("mia", "owner-addr")
	}
	if last != MaxLoginDelay {
		t.Fatalf("after 20 failures the delay is %v, want the cap %v", last, MaxLoginDelay)
	}
}

func TestLoginThrottle_Schedule(t *testing.T) {
	clk := newFakeClock()
	l := NewLoginThrottle(1000, clk.Now)
	var got []string
	for range FreeLoginFailures + 5 {
		if ok, wait := l.Admit("leo", "a"); !ok {
			t.Fatalf("refused for %v", wait)
		}
		st, _ := l.pairs.get("leo\x00a", clk.Now())
		wait := max(st.until.Sub(clk.Now()), 0)
		got = append(got, wait.String())
		if wait > 0 {
			if ok, w := l.Admit("leo", "a"); ok || w != wait {
				t.Fatalf("next attempt: admitted %v, retry after %v; want refused for %v", ok, w, wait)
			}
		}
		clk.Advance(wait)
	}
	if s := fmt.Sprint(got); s != "[0s 0s 0s 1s 2s 4s 8s 16s]" {
		t.Fatalf("waits %s", s)
	}
	// A success resets the pair.
	l.Succeeded("leo", "a")
	for i := range 2 {
		if !admitted(l.Admit("leo", "a")) {
			t.Fatalf("attempt %d refused after a success", i+1)
		}
	}
	// So does leaving the handle alone for a while.
	for admitted(l.Admit("leo", "b")) {
	}
	clk.Advance(LoginQuietReset + MaxLoginDelay)
	for i := range FreeLoginFailures {
		if !admitted(l.Admit("leo", "b")) {
			t.Fatalf("attempt %d refused after a quiet hour", i)
		}
	}
}

// TestLoginThrottle_ManyAddressesOneHandle: a guess from each of many
// addresses exhausts the handle's shared budget; new addresses are told to
// retry shortly, the owner's known address is not affected.
func TestLoginThrottle_ManyAddressesOneHandle(t *testing.T) {
	clk := newFakeClock()
	l := NewLoginThrottle(2, clk.Now)
	l.Admit("mia", "home")
	l.Succeeded("mia", "home")
	refused := 0
	for i := range 50 {
		if ok, wait := l.Admit("mia", fmt.Sprint("bot-", i)); !ok {
			refused++
			if wait <= 0 || wait > time.Minute {
				t.Fatalf("retry after %v", wait)
			}
		}
	}
	// The owner's first login, from an address not yet known, used one.
	if want := 50 - (handleBurstMinutes*2 - 1); refused != want {
		t.Fatalf("%d of 50 addresses refused, want %d", refused, want)
	}
	if ok, wait := l.Admit("mia", "home"); !ok {
		t.Fatalf("owner's known address refused for %v", wait)
	}
	// The per-address limit still holds for the known address.
	l.Succeeded("mia", "home")
	if ok, _ := l.Admit("mia", "home"); ok {
		t.Fatal("third attempt a minute from one address admitted with --login-per-minute 2")
	}
}

func TestLoginThrottle_Bounded(t *testing.T) {
	clk := newFakeClock()
	l := NewLoginThrottle(1_000_000, clk.Now)
	l.pairs.capacity, l.known.capacity = 100, 100
	for i := range 1000 {
		l.Admit(fmt.Sprint("h", i), "a")
		l.Succeeded(fmt.Sprint("k", i), "a")
	}
	if l.pairs.len() > 100 || l.known.len() > 100 {
		t.Fatalf("pairs %d, known %d; want at most 100", l.pairs.len(), l.known.len())
	}
}
