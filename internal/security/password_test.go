package security

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// cheapParams keep tests fast; only TestHashPassword_Defaults pays for the
// production parameters.
var cheapParams = PasswordParams{Memory: 64, Time: 1, Threads: 1}

// MustHash hashes password with p or fails the test.
func MustHash(tb testing.TB, p PasswordParams, password string) string {
	tb.Helper()
	h, err := HashPasswordWith(p, password)
	if err != nil {
		tb.Fatalf("HashPasswordWith: %v", err)
	}
	return h
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashPassword_Defaults(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") || !phcRE.MatchString(h) {
		t.Fatalf("not a default PHC string: %q", h)
	}
	ok, err := VerifyPassword(h, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
	if NeedsRehash(h) {
		t.Error("NeedsRehash(default hash) = true")
	}
}

func TestHashPasswordWith(t *testing.T) {
	t.Run("PHCFormat", func(t *testing.T) {
		h := MustHash(t, PasswordParams{Memory: 128, Time: 3, Threads: 2}, "pw")
		m := phcRE.FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("not a PHC string: %q", h)
		}
		if got := fmt.Sprint(m[1:4]); got != "[128 3 2]" {
			t.Errorf("params = %s; want [128 3 2]", got)
		}
	})
	t.Run("FreshSalt", func(t *testing.T) {
		if a, b := MustHash(t, cheapParams, "pw"), MustHash(t, cheapParams, "pw"); a == b {
			t.Error("two hashes of the same password are equal")
		}
	})
	t.Run("InvalidParams", func(t *testing.T) {
		for _, p := range []PasswordParams{
			{Memory: 64, Time: 1, Threads: 0},
			{Memory: 64, Time: 0, Threads: 1},
			{Memory: 7, Time: 1, Threads: 1},
			{Memory: 1<<20 + 1, Time: 1, Threads: 1},
		} {
			if _, err := HashPasswordWith(p, "pw"); err == nil {
				t.Errorf("HashPasswordWith(%+v) succeeded", p)
			}
		}
	})
}

func TestVerifyPassword(t *testing.T) {
	h := MustHash(t, cheapParams, "s3cret")
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"Right", "s3cret", true},
		{"Wrong", "s3cret!", false},
		{"Empty", "", false},
		{"Case", "S3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyPassword(h, tt.password)
			if err != nil || got != tt.want {
				t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", tt.password, got, err, tt.want)
			}
		})
	}
}

func TestVerifyPassword_OldParams(t *testing.T) {
	// A hash made with other parameters than today's defaults still
	// verifies, because the parameters travel with the hash.
	old := MustHash(t, PasswordParams{Memory: 32, Time: 2, Threads: 4}, "pw")
	ok, err := VerifyPassword(old, "pw")
	if err != nil || !ok {
		t.Fatalf("VerifyPassword(old) = %v, %v; want true, nil", ok, err)
	}
	if !NeedsRehash(old) {
		t.Error("NeedsRehash(old) = false")
	}
	// A hash with a longer key and salt than ours (e.g. imported from
	// another system) verifies too: lengths come from the hash.
	salt := []byte("a longer salt of 32 bytes ......")
	key := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, 64)
	foreign := "$argon2id$v=19$m=64,t=1,p=1$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	if ok, err := VerifyPassword(foreign, "pw"); err != nil || !ok {
		t.Errorf("VerifyPassword(64-byte key) = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyPassword_Malformed(t *testing.T) {
	good := MustHash(t, cheapParams, "pw")
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := map[string]string{
		"Empty":         "",
		"Garbage":       "not a hash",
		"Bcrypt":        "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"Argon2i":       with(1, "argon2i"),
		"Version16":     with(2, "v=16"),
		"MissingParam":  with(3, "m=64,t=1"),
		"ParamOrder":    with(3, "t=1,m=64,p=1"),
		"LeadingZero":   with(3, "m=064,t=1,p=1"),
		"Signed":        with(3, "m=+64,t=1,p=1"),
		"ZeroThreads":   with(3, "m=64,t=1,p=0"),
		"HugeMemory":    with(3, "m=4294967295,t=1,p=1"),
		"HugeTime":      with(3, "m=64,t=100000,p=1"),
		"ThreadsByte":   with(3, "m=4096,t=1,p=256"),
		"BadSalt":       with(4, "!!!"),
		"PaddedSalt":    with(4, parts[4]+"=="),
		"ShortSalt":     with(4, "YWJj"),
		"BadKey":        with(5, "***"),
		"ShortKey":      with(5, "YWJjZA"),
		"ExtraField":    good + "$x",
		"MissingDollar": strings.TrimPrefix(good, "$"),
	}
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := VerifyPassword(encoded, "pw")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrMalformedHash", encoded, ok, err)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	// DummyVerify must cost about as much as a real verification with the
	// defaults; comparing durations would be flaky, so check that it runs
	// and takes the hashing semaphore like a real verification.
	SetMaxConcurrentHashes(1)
	defer SetMaxConcurrentHashes(DefaultMaxConcurrentHashes)
	release := hashSlots.Load().acquire(hashVerify)
	done := make(chan struct{})
	go func() { DummyVerify("pw"); close(done) }()
	select {
	case <-done:
		t.Fatal("DummyVerify ran while all hashing slots were taken")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	<-done
}

func TestSetMaxConcurrentHashes(t *testing.T) {
	SetMaxConcurrentHashes(2)
	defer SetMaxConcurrentHashes(DefaultMaxConcurrentHashes)

	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			release := hashSlots.Load().acquire(i%2 == 0)
			defer release()
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond) // hold the slot so others contend
			running.Add(-1)
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrent hashes = %d; want at most 2", p)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hang is the failure being tested for, not a slow machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHashGate_LoginAdmittedWhileRegistrationsBusy: with every slot new
// hashes may use taken and more of them queued, a verification still gets a
// slot at once.
func TestHashGate_LoginAdmittedWhileRegistrationsBusy(t *testing.T) {
	g := newHashGate(2)
	held := g.acquire(hashNew) // the registrations' share of the slots
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { g.acquire(hashNew)() })
	}
	waitFor(t, "five queued registrations", func() bool { _, _, _, wn := g.state(); return wn == 5 })
	got := make(chan func(), 1)
	go func() { got <- g.acquire(hashVerify) }()
	var releaseLogin func()
	select {
	case releaseLogin = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a login waited behind queued registrations")
	}
	if busy, busyNew, wv, wn := g.state(); busy != 2 || busyNew != 1 || wv != 0 || wn != 5 {
		t.Fatalf("state = busy %d (new %d), waiting %d logins, %d registrations; want 2 (1), 0, 5", busy, busyNew, wv, wn)
	}
	releaseLogin()
	held()
	wg.Wait()
	if busy, busyNew, wv, wn := g.state(); busy+busyNew+wv+wn != 0 {
		t.Fatalf("after all released: busy %d (new %d), waiting %d, %d", busy, busyNew, wv, wn)
	}
}

// TestHashGate_LoginsFirst: a freed slot goes to a waiting login before a
// registration that queued earlier.
func TestHashGate_LoginsFirst(t *testing.T) {
	g := newHashGate(1)
	held := g.acquire(hashVerify)
	regDone := make(chan struct{})
	go func() { g.acquire(hashNew)(); close(regDone) }()
	waitFor(t, "a queued registration", func() bool { _, _, _, wn := g.state(); return wn == 1 })
	got := make(chan func(), 1)
	go func() { got <- g.acquire(hashVerify) }()
	waitFor(t, "a queued login", func() bool { _, _, wv, _ := g.state(); return wv == 1 })
	held()
	releaseLogin := <-got
	if busy, busyNew, wv, wn := g.state(); busy != 1 || busyNew != 0 || wv != 0 || wn != 1 {
		t.Fatalf("state = busy %d (new %d), waiting %d logins, %d registrations; want the login running, the registration waiting", busy, busyNew, wv, wn)
	}
	releaseLogin()
	<-regDone
}

// TestVerifyPassword_NotBehindNewHashes runs the real functions: while
// registrations' hashes hold their slots and more queue, VerifyPassword
// completes.
func TestVerifyPassword_NotBehindNewHashes(t *testing.T) {
	SetMaxConcurrentHashes(2)
	defer SetMaxConcurrentHashes(DefaultMaxConcurrentHashes)
	h := MustHash(t, cheapParams, "pw")
	g := hashSlots.Load()
	held := g.acquire(hashNew)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { MustHash(t, cheapParams, "queued") })
	}
	waitFor(t, "queued new hashes", func() bool { _, _, _, wn := g.state(); return wn == 3 })
	done := make(chan bool, 1)
	go func() { ok, _ := VerifyPassword(h, "pw"); done <- ok }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("VerifyPassword = false")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("VerifyPassword waited behind new hashes")
	}
	held()
	wg.Wait()
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
