package pseudonym

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShared_SameSalts: processes sharing a secrets directory (two
// Pseudonymizers on one directory stand for them: each has its own
// descriptor, so the file lock excludes them as it does processes) compute
// the same viewer-day pseudonyms, however they race to create a day's salt,
// and a day one of them closes is closed for the other.
func TestShared_SameSalts(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(t0.Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	// Both open at once: one key for both, though neither existed.
	var p [2]*Pseudonymizer
	var wg sync.WaitGroup
	for i := range p {
		wg.Go(func() { p[i] = MustOpen(t, dir, clock) })
	}
	wg.Wait()
	if p[0].Actor("a", "v") != p[1].Actor("a", "v") {
		t.Fatal("two processes opening a new directory at once made two keys")
	}

	// Both race to create the salts of ten new days.
	got := make([][]string, 2)
	for i := range p {
		got[i] = make([]string, 10)
	}
	for i := range p {
		for d := range 10 {
			wg.Go(func() {
				got[i][d] = MustViewerDay(t, p[i], "acct", "vid", t0.AddDate(0, 0, d))
			})
		}
	}
	wg.Wait()
	for d := range 10 {
		if got[0][d] != got[1][d] {
			t.Errorf("day %d: the two processes disagree on the viewer-day pseudonym", d)
		}
	}

	// One process uses day 0 late; the other, pruning after the day ended
	// 72 h ago, sees that use and keeps the day open.
	day := t0.AddDate(0, 0, -10)
	want := MustViewerDay(t, p[0], "acct", "vid", day)
	now.Add(int64(2 * time.Hour / time.Second))
	if _, err := p[0].ViewerDay("acct", "vid", day); err != nil { // a use in a new hour is recorded
		t.Fatal(err)
	}
	if closed, err := p[1].PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil || len(closed) != 0 {
		t.Fatalf("prune closed %v (%v) although the other process used the day an hour ago", closed, err)
	}
	if got := MustViewerDay(t, p[1], "acct", "vid", day); got != want {
		t.Fatal("the second process made its own salt for a day the first opened")
	}
	// A day later, unused, the second process closes it; the first
	// refuses it from its next hour on.
	now.Add(int64(30 * time.Hour / time.Second))
	closed, err := p[1].PruneSalts(DefaultSaltRetention, DefaultSaltIdle)
	if err != nil || len(closed) == 0 {
		t.Fatalf("prune: %v %v", closed, err)
	}
	if _, err := p[0].ViewerDay("acct", "vid", day); !errors.Is(err, ErrDayClosed) {
		t.Fatalf("the other process still counts a day closed elsewhere: %v", err)
	}
	if !p[0].Closed(day) {
		t.Error("Closed is false for a day another process closed")
	}
}

// TestShared_ManyOpeners: many descriptors opening and creating salts in
// one directory at once end with one salt per day in the file.
func TestShared_ManyOpeners(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return t0 }
	var wg sync.WaitGroup
	res := make([]string, 8)
	for i := range res {
		wg.Go(func() {
			p := MustOpen(t, dir, clock)
			res[i] = MustViewerDay(t, p, "acct", "vid", t0)
		})
	}
	wg.Wait()
	for i := range res {
		if res[i] != res[0] {
			t.Fatalf("opener %d got another pseudonym", i)
		}
	}
}
