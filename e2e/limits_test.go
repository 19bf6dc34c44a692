package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// clientFrom returns an anonymous client of p whose connections come from
// the loopback address ip (all of 127.0.0.0/8 is local on Linux): a test
// can be several clients at once, each with its own address, as the
// server sees it from the TCP connection — no forwarded header involved.
func clientFrom(p *Process, ip string) *client.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := p.Client()
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	return c
}

// apiError returns err as an API error answer, failing the test if it is
// not one with the wanted status.
func apiError(t *testing.T, err error, status int, what string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("%s: got %v, want %d", what, err, status)
	}
	return e
}

// TestRegisterRateLimit: registrations are limited per client address,
// with 429, Retry-After and the JSON error shape beyond the limit; another
// address is not affected.
func TestRegisterRateLimit(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--register-per-minute", "3")
	reg := func(c *client.Client, handle string) error {
		_, err := c.Register(ctx, client.Registration{Handle: handle, Password: "password-" + handle})
		return err
	}
	a := clientFrom(p, "127.0.0.2")
	for i := range 3 {
		if err := reg(a, fmt.Sprint("first", i)); err != nil {
			t.Fatalf("registration %d within the limit: %v", i, err)
		}
	}
	e := apiError(t, reg(a, "fourth"), 429, "fourth registration from one address")
	if e.Code != "rate_limited" || e.RetryAfter <= 0 {
		t.Fatalf("refusal %+v: want code rate_limited and a Retry-After", e)
	}
	if err := reg(clientFrom(p, "127.0.0.3"), "elsewhere"); err != nil {
		t.Fatalf("registration from another address: %v", err)
	}

	// A concurrent flood from one address: exactly the limit gets through.
	flood := clientFrom(p, "127.0.0.4")
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := reg(flood, fmt.Sprint("flood", i))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				statuses[201]++
			} else {
				statuses[client.StatusOf(err)]++
			}
		})
	}
	wg.Wait()
	if statuses[201] != 3 || statuses[429] != 17 {
		t.Fatalf("flood of 20 from one address: %v, want 3 created and 17 refused", statuses)
	}
}

// TestLoginStrangerCannotLockOutOwner: a stranger failing twenty times on
// an account from one address meets growing Retry-After; meanwhile the
// owner logs in from their own address, and from a new one.
func TestLoginStrangerCannotLockOutOwner(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir()) // the default login limit
	if _, err := p.Client().Register(ctx, client.Registration{Handle: "mia", Password: "password-mia"}); err != nil {
		t.Fatal(err)
	}
	owner := clientFrom(p, "127.0.0.3")
	if _, err := owner.Login(ctx, "mia", "password-mia"); err != nil {
		t.Fatalf("owner's first login: %v", err)
	}

	stranger := clientFrom(p, "127.0.0.2")
	var last *client.Error
	refused := 0
	for i := range 20 {
		_, err := stranger.Login(ctx, "mia", fmt.Sprint("guess-", i))
		e := apiError(t, err, client.StatusOf(err), "stranger's guess")
		switch e.Status {
		case 401:
		case 429:
			refused++
			if e.RetryAfter <= 0 {
				t.Fatalf("guess %d refused without a Retry-After: %+v", i, e)
			}
			last = e
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if refused < 10 || last == nil {
		t.Fatalf("only %d of 20 quick guesses refused", refused)
	}
	if _, err := owner.Login(ctx, "mia", "password-mia"); err != nil {
		t.Fatalf("owner locked out by a stranger's failures: %v", err)
	}
	if _, err := clientFrom(p, "127.0.0.4").Login(ctx, "mia", "password-mia"); err != nil {
		t.Fatalf("owner on a new address locked out by a stranger's failures: %v", err)
	}

	// Each guess the stranger is allowed after waiting makes the next wait
	// longer.
	wait := last.RetryAfter
	for round := range 2 {
		time.Sleep(wait) // as told
		_, err := stranger.Login(ctx, "mia", "another-guess")
		apiError(t, err, 401, fmt.Sprintf("round %d: the guess after waiting", round))
		_, err = stranger.Login(ctx, "mia", "and-another")
		e := apiError(t, err, 429, fmt.Sprintf("round %d: the guess right after", round))
		if e.RetryAfter <= wait {
			t.Fatalf("round %d: Retry-After %v after %v; want it to grow", round, e.RetryAfter, wait)
		}
		wait = e.RetryAfter
	}
}

// TestAnonymousViewLimit: anonymous views are limited per client address;
// beyond the limit they are refused with 429 and Retry-After and not
// counted. Logged-in views and other addresses are not affected.
func TestAnonymousViewLimit(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact", "--anon-views-per-minute", "5")
	mia := MustUser(t, p.Client(), "mia", client.Registration{Type: "business"})
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "limited"})
	if err != nil {
		t.Fatal(err)
	}
	view := client.View{Source: "for_you", WatchMS: 100}
	anon := clientFrom(p, "127.0.0.2")
	for i := range 5 {
		if err := anon.RecordView(ctx, v.ID, view); err != nil {
			t.Fatalf("anonymous view %d within the limit: %v", i, err)
		}
	}
	for i := range 3 {
		e := apiError(t, anon.RecordView(ctx, v.ID, view), 429, "anonymous view beyond the limit")
		if e.Code != "rate_limited" || e.RetryAfter <= 0 {
			t.Fatalf("refusal %d: %+v", i, e)
		}
	}
	e := apiError(t, anon.Do(ctx, "GET", "/s/"+v.ID, nil, nil), 429, "share link beyond the limit")
	if e.RetryAfter <= 0 {
		t.Fatalf("share link refusal without Retry-After: %+v", e)
	}
	// Logged in, from the same address: not limited by it.
	s, err := clientFrom(p, "127.0.0.2").Login(ctx, "mia", "password-mia")
	if err != nil {
		t.Fatal(err)
	}
	if err := clientFrom(p, "127.0.0.2").WithToken(s.Token).RecordView(ctx, v.ID, view); err != nil {
		t.Fatalf("logged-in view from the limited address: %v", err)
	}
	// Another address, last: views of one video are applied in order, so
	// once it is counted every refused view before it would have been too.
	if err := clientFrom(p, "127.0.0.3").RecordView(ctx, v.ID, view); err != nil {
		t.Fatalf("anonymous view from another address: %v", err)
	}
	var rep struct {
		Totals struct{ Views int64 } `json:"totals"`
	}
	Eventually(t, "views counted", func() bool {
		return mia.Do(ctx, "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &rep) == nil && rep.Totals.Views >= 7
	})
	if rep.Totals.Views != 7 {
		t.Fatalf("views %d, want 7: refused views were counted", rep.Totals.Views)
	}
}
