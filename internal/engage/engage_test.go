package engage

import (
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/pseudonym"
)

// TestPrivate_CapKeyIsAccountDay: one account's shares and saves of videos
// of different owners on one day carry one cap key, so the daily cap holds
// across owners (a co-creator of all of them reads them all); a different
// day or account has another key, and the key names neither.
func TestPrivate_CapKeyIsAccountDay(t *testing.T) {
	p, err := pseudonym.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Pseudonym: p}
	friend := &platform.Account{ID: "friend-42"}
	other := &platform.Account{ID: "friend-43"}
	day := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	keys := map[string]bool{}
	for _, owner := range []string{"ann", "bob", "cid", "dee", "eve"} {
		v := &platform.Video{ID: "v-" + owner, OwnerID: owner, CreatorIDs: []string{owner, "co"}}
		for _, typ := range []string{event.Share, event.Save} {
			ev := b.Private(typ, v, friend, day.Add(time.Duration(len(keys))*time.Hour))
			if ev.AccountDay == "" || ev.AccountDay == friend.ID {
				t.Fatalf("%s of %s: cap key %q", typ, v.ID, ev.AccountDay)
			}
			keys[ev.AccountDay] = true
		}
	}
	if len(keys) != 1 {
		t.Fatalf("one account's day has %d cap keys across owners, want 1", len(keys))
	}
	v := &platform.Video{ID: "v-ann", OwnerID: "ann"}
	if b.Private(event.Share, v, friend, day.AddDate(0, 0, 1)).AccountDay == b.Private(event.Share, v, friend, day).AccountDay {
		t.Fatal("the cap key is the same on the next day")
	}
	if b.Private(event.Share, v, other, day).AccountDay == b.Private(event.Share, v, friend, day).AccountDay {
		t.Fatal("two accounts share a cap key")
	}
}

// TestBatchCache: the per-batch cache answers what the pseudonymizer
// would, for every account and UTC day, and opens each day once.
func TestBatchCache(t *testing.T) {
	p, err := pseudonym.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &batchCache{}
	t0 := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
	ny := time.FixedZone("EST", -5*3600)
	times := []time.Time{t0, t0.Add(time.Hour), t0.In(ny), t0.Add(-24 * time.Hour), time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 2 {
		for _, acc := range []string{"a", "b"} {
			for _, at := range times {
				if got, want := c.accountDay(p, acc, at), p.AccountDay(acc, at); got != want {
					t.Errorf("accountDay(%s, %v) = %q; want %q", acc, at, got, want)
				}
			}
		}
	}
	if len(c.accountDays) != 2*5 {
		t.Errorf("cache holds %d account-days; want 10 (2 accounts, 5 UTC days)", len(c.accountDays))
	}
	for _, at := range times[:4] {
		if err := c.openDay(p, at); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.opened) != 3 { // March 9, 10 and 11
		t.Errorf("opened %d days; want 3", len(c.opened))
	}
}
