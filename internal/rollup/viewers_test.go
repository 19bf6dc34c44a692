package rollup

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// distinct reads distinct viewers of video v over days a..b as the
// disclosure layer does: viewer-days less returning viewers.
func distinct(t *testing.T, s *store.Store, a, b int64) int64 {
	t.Helper()
	return distinctOf(t, s, "v", a, b)
}

func distinctOf(t *testing.T, s *store.Store, video string, a, b int64) int64 {
	t.Helper()
	var vd int64
	if err := s.ReadDB().QueryRow(s.Rebind(`SELECT COALESCE(SUM(viewers), 0) FROM video_day WHERE video_id = ? AND day BETWEEN ? AND ?`), video, a, b).Scan(&vd); err != nil {
		t.Fatal(err)
	}
	back, err := ReturningViewers(t.Context(), s, video, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return vd - back
}

func linkedView(id, account string, at time.Time) event.Event {
	ev := view(id, account+"@"+at.Format(time.DateOnly), at, "for_you") // the daily pseudonym
	ev.Actor = account
	return ev
}

// TestViewers_DistinctOverRange: in exact mode a viewer counts once over
// any range however many days they viewed, whatever the order the views
// arrive in, across a restart; ranges agree with a brute-force count.
func TestViewers_DistinctOverRange(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		d0 := unixDay(day0)
		at := func(d int64) time.Time { return time.Unix(d*86400+3600, 0).UTC() }

		// One account on days 1, 3 and 5 of a 7-day range, twice on day 3.
		var seq uint64
		send := func(a *Aggregator, evs ...event.Event) {
			t.Helper()
			seq++
			if err := a.apply(ctx, []eventlog.Delivered{msg(seq, evs...)}); err != nil {
				t.Fatal(err)
			}
		}
		send(a, linkedView("a1", "A", at(d0-5)), linkedView("a2", "A", at(d0-3)))
		send(a, linkedView("a3", "A", at(d0-3)), linkedView("a4", "A", at(d0-1)))
		if got := distinct(t, s, d0-6, d0); got != 1 {
			t.Fatalf("one account on 3 days of 7: %d viewers, want 1", got)
		}
		if got := distinct(t, s, d0-3, d0-1); got != 1 {
			t.Fatalf("a range over 2 of its days: %d viewers, want 1", got)
		}

		// Many accounts, random days over 40 days, sent out of order, in
		// several batches, with a restart in the middle.
		rng := rand.New(rand.NewPCG(1, 2))
		views := map[string]map[int64]bool{"A": {d0 - 5: true, d0 - 3: true, d0 - 1: true}}
		var evs []event.Event
		for i := range 600 {
			acct := fmt.Sprint("U", rng.IntN(40))
			d := d0 - int64(rng.IntN(40))
			if views[acct] == nil {
				views[acct] = map[int64]bool{}
			}
			views[acct][d] = true
			evs = append(evs, linkedView(fmt.Sprint("e", i), acct, at(d)))
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		for i := 0; i < len(evs); i += 50 {
			if i == 300 {
				a = reopen(s)
				if err := a.LoadState(ctx); err != nil {
					t.Fatal(err)
				}
			}
			send(a, evs[i:min(i+50, len(evs))]...)
		}
		// The same events again: nothing changes.
		send(a, evs[:100]...)
		for _, r := range [][2]int64{{d0 - 39, d0}, {d0 - 6, d0}, {d0 - 27, d0 - 10}, {d0 - 3, d0 - 3}, {d0 - 20, d0 - 19}} {
			want := int64(0)
			for _, days := range views {
				for d := range days {
					if d >= r[0] && d <= r[1] {
						want++
						break
					}
				}
			}
			if got := distinct(t, s, r[0], r[1]); got != want {
				t.Errorf("days %d..%d: %d distinct viewers, want %d", r[0]-d0, r[1]-d0, got, want)
			}
		}
	})
}

// TestViewers_KeyCollisions: viewers whose history keys collide never
// drive a count below zero. Of one video, they share a history (so a day
// may look like a repeat of the other's); of another video, the viewer is
// not linked across days (each day counts as a viewer).
func TestViewers_KeyCollisions(t *testing.T) {
	defer func(f func(string, string) int64) { historyKey = f }(historyKey)
	historyKey = func(string, string) int64 { return 42 } // every viewer of every video
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		if err := s.CreateVideo(ctx, &platform.Video{ID: "w", OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia"}}); err != nil {
			t.Fatal(err)
		}
		d0 := unixDay(day0)
		at := func(d int64) time.Time { return time.Unix((d0-d)*86400+3600, 0).UTC() } // d days ago
		on := func(video string, ev event.Event) event.Event { ev.VideoID = video; return ev }
		var seq uint64
		send := func(evs ...event.Event) {
			t.Helper()
			seq++
			if err := a.apply(ctx, []eventlog.Delivered{msg(seq, evs...)}); err != nil {
				t.Fatal(err)
			}
		}
		// v's viewer A makes the key's history, a pair of days 20 and 10 ago.
		send(linkedView("e1", "A", at(20)), linkedView("e2", "A", at(10)))
		// w's viewer C, between them and around them: not linked to A's
		// days (linking would split A's pair, counted for v, for w).
		send(on("w", linkedView("e3", "C", at(15))), on("w", linkedView("e4", "C", at(12))))
		send(on("w", linkedView("e5", "C", at(25))), on("w", linkedView("e6", "C", at(5))))
		// v's viewer B shares A's history: its day between A's splits A's
		// pair, in the same batch as a day of w's C.
		send(linkedView("e7", "B", at(15)), on("w", linkedView("e8", "C", at(14))), linkedView("e9", "B", at(3)))
		for _, r := range [][3]int64{{30, 0, 2}, {20, 10, 2}, {16, 14, 1}, {12, 0, 2}} { // ago from, ago to, true distinct of v
			got := distinct(t, s, d0-r[0], d0-r[1])
			if got < 1 || got > r[2] {
				t.Errorf("v, %d..%d days ago: %d distinct viewers, want 1..%d", r[0], r[1], got, r[2])
			}
			// Each of C's days counts.
			want := int64(0)
			for _, d := range []int64{25, 15, 14, 12, 5} {
				if d <= r[0] && d >= r[1] {
					want++
				}
			}
			if got := distinctOf(t, s, "w", d0-r[0], d0-r[1]); got != want {
				t.Errorf("w, %d..%d days ago: %d distinct viewers, want %d (C's days)", r[0], r[1], got, want)
			}
		}
	})
}

// TestViewers_LateViewOfOldDay: a second view by the same viewer of a day
// far older than 72 h (a history import), arriving after the state was
// compacted and rebuilt, is not a new viewer-day: the day is open until it
// is closed, whatever its age.
func TestViewers_LateViewOfOldDay(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		old := day0.Add(-20 * 24 * time.Hour)
		oldDay := func() int64 {
			var n int64
			s.ReadDB().QueryRow(s.Rebind(`SELECT viewers FROM video_day WHERE video_id = 'v' AND day = ?`), unixDay(old)).Scan(&n)
			return n
		}
		m := msg(1, view("o1", "X", old, "for_you"), view("o2", "Y", old, "for_you"))
		m.Time = day0
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		later := day0.Add(30 * time.Hour)
		a.now = func() time.Time { return later }
		if err := a.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		m = msg(2, view("o3", "X", old, "for_you"), view("o4", "Z", old, "for_you"))
		m.Time = later
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		b := reopen(s)
		b.now = a.now
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		m = msg(3, view("o5", "Y", old, "for_you"), view("o6", "Z", old, "for_you"))
		m.Time = later.Add(time.Hour)
		if err := b.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		if got := oldDay(); got != 3 {
			t.Fatalf("the old day has %d viewers, want 3 (X, Y, Z)", got)
		}
	})
}

func TestGaps_Encoding(t *testing.T) {
	c := map[int64]int64{1: 3, 7: 0, 30: 2, 364: 1}
	b := encodeGaps(c)
	for _, tc := range []struct{ max, want int64 }{{0, 0}, {1, 3}, {6, 3}, {7, 3}, {29, 3}, {30, 5}, {363, 5}, {364, 6}, {1000, 6}} {
		if got := RepeatsUpTo(b, tc.max); got != tc.want {
			t.Errorf("RepeatsUpTo(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
	back := decodeGaps(b)
	if len(back) != 3 || back[1] != 3 || back[30] != 2 || back[364] != 1 {
		t.Errorf("decodeGaps = %v", back)
	}
}
