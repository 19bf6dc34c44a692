package rollup

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/store"
)

func videoDay(t *testing.T, s *store.Store) (views, viewers, pViews int64) {
	t.Helper()
	err := s.ReadDB().QueryRow(s.Rebind(`SELECT views, viewers, p_views FROM video_day WHERE video_id = ? AND day = ?`), "v", day0.Unix()/86400).Scan(&views, &viewers, &pViews)
	if err != nil {
		t.Fatal(err)
	}
	return views, viewers, pViews
}

func reopen(s *store.Store) *Aggregator {
	return New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
}

// TestState_SurvivesRestart: the event ids and viewer-days held in memory
// are rebuilt from the journal by a new process, so a re-sent event stays a
// duplicate and a returning viewer stays one viewer, with views capped
// across the restart.
func TestState_SurvivesRestart(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		var first []event.Event
		for i := range 4 {
			first = append(first, view("r"+string(rune('0'+i)), "A", day0, "for_you"))
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, first...)}); err != nil {
			t.Fatal(err)
		}
		b := reopen(s)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		if seen := b.Seen([]string{"r0", "r3", "nope"}); !seen[0] || !seen[1] || seen[2] {
			t.Fatalf("Seen after restart: %v", seen)
		}
		// r0 again (a duplicate), and three new views by A: 7 views, 1
		// viewer, 5 bounded views.
		second := []event.Event{view("r0", "A", day0, "for_you")}
		for i := range 3 {
			second = append(second, view("n"+string(rune('0'+i)), "A", day0, "for_you"))
		}
		if err := b.apply(ctx, []eventlog.Delivered{msg(2, second...)}); err != nil {
			t.Fatal(err)
		}
		if views, viewers, pViews := videoDay(t, s); views != 7 || viewers != 1 || pViews != 5 {
			t.Fatalf("after restart: views %d viewers %d p_views %d, want 7 1 5", views, viewers, pViews)
		}
	})
}

// TestState_AggregatorsRace: two aggregators over one database (several
// processes on PostgreSQL) both handed overlapping batches: the one that
// finds the checkpoint moved catches up from the other's journal and
// applies only what is new, so everything counts once and the other's
// event ids are known to it.
func TestState_AggregatorsRace(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		b := reopen(s)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		m1 := msg(1, view("x1", "A", day0, "for_you"), view("x2", "B", day0, "for_you"))
		m2 := msg(2, view("x3", "A", day0, "search"))
		// m3 re-sends x1 (published twice) and adds a view by B.
		m3 := msg(3, view("x1", "A", day0, "for_you"), view("x4", "B", day0, "search"))
		if err := a.apply(ctx, []eventlog.Delivered{m1, m2}); err != nil {
			t.Fatal(err)
		}
		if err := b.apply(ctx, []eventlog.Delivered{m1, m2, m3}); err != nil {
			t.Fatal(err)
		}
		if views, viewers, _ := videoDay(t, s); views != 4 || viewers != 2 {
			t.Fatalf("views %d viewers %d, want 4 and 2", views, viewers)
		}
		if cp, _ := b.Checkpoint(ctx); cp != 3 || b.Applied() != 3 {
			t.Fatalf("checkpoint %d, applied %d", cp, b.Applied())
		}
		// a is behind now; it catches up in turn.
		if err := a.apply(ctx, []eventlog.Delivered{m3}); err != nil {
			t.Fatal(err)
		}
		if views, _, _ := videoDay(t, s); views != 4 {
			t.Fatalf("views %d after the second race, want 4", views)
		}
	})
}

// TestState_Expiry: event ids are forgotten after the dedupe window, and
// viewer-days once their day is closed and its events applied, never by
// age; in memory and in the journal.
func TestState_Expiry(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		now := day0
		a.now = func() time.Time { return now }
		m := msg(1, view("e1", "A", day0, "for_you"))
		m.Time = day0
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		if ids, vds, _ := a.StateStats(); ids != 1 || vds != 1 {
			t.Fatalf("state holds %d ids and %d viewer-days", ids, vds)
		}
		now = day0.Add(DedupeWindow + 2*time.Hour)
		if err := a.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if ids, vds, _ := a.StateStats(); ids != 0 || vds != 1 {
			t.Fatalf("after the dedupe window: %d ids and %d viewer-days, want 0 and 1", ids, vds)
		}
		// The same id arriving now counts again.
		m = msg(2, view("e1", "B", day0, "for_you"))
		m.Time = now
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		if views, _, _ := videoDay(t, s); views != 2 {
			t.Fatalf("views %d: an id re-sent after the window counts again", views)
		}
		// However old its day, a viewer-day lives while its day is open.
		now = day0.Add(40 * 24 * time.Hour)
		if err := a.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if _, vds, _ := a.StateStats(); vds != 2 {
			t.Fatalf("%d viewer-days, want 2: an open day's viewer-days are never dropped by age", vds)
		}
		// Closed at sequence 3, which aggregation has not reached: kept.
		if err := a.CloseDays(ctx, []int64{unixDay(day0)}, 3); err != nil {
			t.Fatal(err)
		}
		if err := a.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if _, vds, _ := a.StateStats(); vds != 2 {
			t.Fatalf("a day closed after unapplied events was dropped: %d viewer-days", vds)
		}
		m = msg(3, view("e3", "C", now, "for_you"))
		m.Time = now
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		if err := a.CloseDays(ctx, []int64{unixDay(now)}, 3); err != nil {
			t.Fatal(err)
		}
		now = now.Add(DedupeWindow + time.Hour)
		if err := a.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if ids, vds, _ := a.StateStats(); ids != 0 || vds != 0 {
			t.Fatalf("after its day closed: %d ids and %d viewer-days", ids, vds)
		}
		var rows int
		s.ReadDB().QueryRow(`SELECT COUNT(*) FROM rollup_journal`).Scan(&rows)
		if rows != 0 {
			t.Fatalf("%d journal rows outlived what they hold", rows)
		}
	})
}

// TestTable: put and get, rebuilds that drop expired entries, growth and
// shrinking, on many keys.
func TestTable(t *testing.T) {
	tb := newTable(false)
	live := func(s uint16) bool { return s >= 10 }
	const n = 100_000
	for i := uint64(1); i <= n; i++ {
		tb.put(i*0x9E3779B97F4A7C15|1, uint32(i), uint16(i%20), live)
	}
	// Rebuilds while growing dropped some expired (stamp < 10) entries.
	for i := uint64(1); i <= n; i++ {
		v, st, ok := tb.get(i*0x9E3779B97F4A7C15 | 1)
		if st >= 10 && (!ok || v != uint32(i) || st != uint16(i%20)) {
			t.Fatalf("key %d: %d %d %v", i, v, st, ok)
		}
	}
	tb.rebuild(live, false)
	if tb.n != n/2 {
		t.Fatalf("%d entries live, want %d", tb.n, n/2)
	}
	tb.rebuild(func(uint16) bool { return false }, false)
	if tb.n != 0 || len(tb.keys) != minTableSlots {
		t.Fatalf("emptied table: %d entries, %d slots", tb.n, len(tb.keys))
	}
	set := newTable(true)
	set.put(42, 0, 1, nil)
	if _, _, ok := set.get(42); !ok || set.vals != nil {
		t.Fatal("set")
	}
}

// TestState_Spill: with a tiny memory limit the oldest event ids and
// viewer-days move to the database, and everything still counts exactly as
// without a limit: duplicates of spilled ids are dropped, returning viewers
// of spilled viewer-days stay one viewer, across batches and a restart.
func TestState_Spill(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		a.SetStateLimit(8)
		sn := &sender{t: t}
		send := sn.send
		// 30 viewers, one view each, arriving over three hours.
		for i := range 30 {
			send(a, day0.Add(time.Duration(i)*6*time.Minute), view(fmt.Sprint("s", i), fmt.Sprint("V", i), day0, "for_you"))
		}
		if ids, vds, _ := a.StateStats(); ids > 8 || vds > 8 {
			t.Fatalf("state holds %d ids and %d viewer-days over a limit of 8", ids, vds)
		}
		// The first ids again (spilled long ago) and new views by the
		// first viewers (spilled viewer-days): no new views counted for the
		// duplicates, no new viewers for the returning ones.
		send(a, day0.Add(3*time.Hour), view("s0", "V0", day0, "for_you"), view("s1", "V1", day0, "for_you"), view("r0", "V0", day0, "for_you"))
		if views, viewers, pViews := videoDay(t, s); views != 31 || viewers != 30 || pViews != 31 {
			t.Fatalf("views %d viewers %d p_views %d, want 31 30 31", views, viewers, pViews)
		}
		if seen := a.Seen([]string{"s0", "s29", "never"}); !seen[0] || !seen[1] || seen[2] {
			t.Fatalf("Seen with spilled ids: %v", seen)
		}
		// A restart with the same limit.
		b := reopen(s)
		b.SetStateLimit(8)
		if err := b.LoadState(ctx); err != nil {
			t.Fatal(err)
		}
		send(b, day0.Add(4*time.Hour), view("s2", "V2", day0, "for_you"), view("r1", "V1", day0, "for_you"))
		if views, viewers, _ := videoDay(t, s); views != 32 || viewers != 30 {
			t.Fatalf("after restart: views %d viewers %d, want 32 30", views, viewers)
		}
		// Compaction forgets spilled entries with their windows.
		b.now = func() time.Time { return day0.Add(DedupeWindow + 5*24*time.Hour) }
		if err := b.CloseDays(ctx, []int64{unixDay(day0)}, sn.seq); err != nil {
			t.Fatal(err)
		}
		if err := b.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		s.ReadDB().QueryRow(`SELECT COUNT(*) FROM rollup_spill_runs`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d spilled entries outlived their windows", n)
		}
	})
}

// TestApply_NoHourlyRowsForOldHours: views of hours past HourlyRetention
// (a history import) count in their days but get no hourly rows; recent
// hours do.
func TestApply_NoHourlyRowsForOldHours(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		old := day0.Add(-10 * 24 * time.Hour)
		m := msg(1, view("old", "A", old, "for_you"), view("new", "B", day0, "for_you"))
		m.Time = day0.Add(time.Hour)
		if err := a.apply(ctx, []eventlog.Delivered{m}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			at   time.Time
			want int
		}{{old, 0}, {day0, 1}} {
			var n int
			s.ReadDB().QueryRow(s.Rebind(`SELECT COUNT(*) FROM video_hour WHERE video_id = 'v' AND hour = ?`), c.at.Unix()/3600).Scan(&n)
			if n != c.want {
				t.Fatalf("hourly rows of %s: %d, want %d", c.at, n, c.want)
			}
		}
		var views int64
		s.ReadDB().QueryRow(s.Rebind(`SELECT views FROM video_day WHERE video_id = 'v' AND day = ?`), old.Unix()/86400).Scan(&views)
		if views != 1 {
			t.Fatalf("the old view's day has %d views", views)
		}
	})
}
