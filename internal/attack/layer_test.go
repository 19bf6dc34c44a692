package attack

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/period"
)

// snapshot is everything the analytics surfaces of the Layer answer for
// video v over days 0..9.
type snapshot struct {
	Daily     []disclosure.Day
	Breakdown map[string][]disclosure.Bucket
	Hourly    []disclosure.Hour
	Counts    any
}

func (w *world) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := t.Context()
	sc := disclosure.Scope{VideoID: "v"}
	var s snapshot
	var err error
	// Breakdown first: see TestFinding_DailyViewersIncludeBreakdownCells.
	if s.Breakdown, err = w.l.Breakdown(ctx, sc, w.dayN(0), w.dayN(9)); err != nil {
		t.Fatal(err)
	}
	if s.Daily, err = w.l.Daily(ctx, sc, w.dayN(0), w.dayN(9)); err != nil {
		t.Fatal(err)
	}
	if s.Hourly, err = w.l.Hourly(ctx, sc, w.dayN(2), w.dayN(2).Add(23*time.Hour)); err != nil {
		t.Fatal(err)
	}
	counts, err := w.l.VideoCounts(ctx, []string{"v"})
	if err != nil {
		t.Fatal(err)
	}
	s.Counts = counts["v"]
	return s
}

// Attack 1: averaging. The same cells asked again and again, through every
// Layer surface, give byte-identical answers: averaging them is averaging
// one draw.
func TestAttack01_AveragingThroughLayer(t *testing.T) {
	w := newWorld(t)
	n := trials(300)
	if testing.Short() {
		n = 30
	}
	first := w.snapshot(t)
	if !first.Daily[0].Released || first.Daily[0].Shares == 10 && first.Daily[1].Shares == 10 && first.Daily[2].Shares == 10 && first.Daily[3].Shares == 10 {
		t.Fatalf("world not noisy: %+v", first.Daily[:4])
	}
	for i := range n {
		if got := w.snapshot(t); !reflect.DeepEqual(got, first) {
			t.Fatalf("query %d differs from the first answer:\n%+v\n%+v", i, got, first)
		}
	}
	// One stored draw per cell.
	var dup int
	w.s.ReadDB().QueryRow(`SELECT COUNT(*) FROM (SELECT 1 FROM cells GROUP BY subject, granularity, period, metric, dim, bucket HAVING COUNT(*) > 1)`).Scan(&dup)
	if dup != 0 {
		t.Fatalf("%d cells stored more than once", dup)
	}
	recordCheck(t, "1 averaging (Layer: Daily, Breakdown, Hourly, VideoCounts)", fmt.Sprintf("%d repeats byte-identical; 1 draw per cell", n+1))
}

// Attack 3: window differencing. Sum(a..b) − Sum(a..b−1) and
// Sum(a..b) − Sum(a+1..b) isolate a day, and the isolated value is exactly
// the stored noisy cell: no information beyond it (its ε̂ is the single-cell
// share attack's).
func TestAttack03_WindowDifferencing(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	sum := func(a, b int) (shares, views int64) {
		days, err := w.l.Daily(ctx, disclosure.Scope{VideoID: "v"}, w.dayN(a), w.dayN(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			shares += d.Shares
			views += d.Views
		}
		return
	}
	pairs := 0
	for a := 0; a <= 3; a++ {
		for b := a + 1; b <= 3; b++ {
			s1, v1 := sum(a, b)
			s0, v0 := sum(a, b-1)
			cs, _, _ := w.storedCell(t, "sharers", w.dayN(b))
			cv, _, _ := w.storedCell(t, "views", w.dayN(b))
			if s1-s0 != cs || v1-v0 != cv {
				t.Fatalf("[%d,%d]−[%d,%d] = shares %d views %d; stored cells %d %d", a, b, a, b-1, s1-s0, v1-v0, cs, cv)
			}
			s2, v2 := sum(a+1, b)
			ca, _, _ := w.storedCell(t, "sharers", w.dayN(a))
			cva, _, _ := w.storedCell(t, "views", w.dayN(a))
			if s1-s2 != ca || v1-v2 != cva {
				t.Fatalf("[%d,%d]−[%d,%d] = shares %d views %d; stored cells %d %d", a, b, a+1, b, s1-s2, v1-v2, ca, cva)
			}
			pairs += 2
		}
	}
	// Windows reaching past the released days add nothing for them.
	s1, _ := sum(0, 9)
	s0, _ := sum(0, 3)
	if s1 != s0 {
		t.Fatalf("unreleased days add %d shares", s1-s0)
	}
	recordCheck(t, "3 window differencing", fmt.Sprintf("%d differences each equal the stored noisy cell exactly; ε̂ as the single-cell share attack", pairs))
}

// Attack 5: real-time tick. The attacker polls every 10 minutes from before
// the friend's share until after the day's release. Nothing released moves
// before the day closes plus DailyDelay; then the day appears once, from
// the cell.
func TestAttack05_RealTimeTick(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	start := w.c.t // day 5, 03:00
	d5 := w.dayN(5)
	shareAt := d5.Add(23*time.Hour + 59*time.Minute)
	releaseAt := d5.Add(24*time.Hour + disclosure.DefaultPolicy().DailyDelay)
	prev := w.snapshot(t)
	shared := false
	polls := 0
	for w.c.t = start; w.c.t.Before(releaseAt.Add(time.Hour)); w.c.t = w.c.t.Add(10 * time.Minute) {
		if !shared && !w.c.t.Before(shareAt) {
			if _, err := w.s.DB().ExecContext(ctx, `UPDATE video_day SET sharers = sharers + 1 WHERE video_id = 'v' AND day = ?`, int64(period.DayOf(d5))); err != nil {
				t.Fatal(err)
			}
			shared = true
		}
		cur := w.snapshot(t)
		polls++
		for i := range cur.Daily {
			c, p := cur.Daily[i], prev.Daily[i]
			if p.Released && c.Counters != p.Counters {
				t.Fatalf("%s: released day %d moved: %+v then %+v", w.c.t, i, p.Counters, c.Counters)
			}
			if !c.Released && (c.Shares != 0 || c.Views != 0 || c.Viewers != 0 || c.Saves != 0) {
				t.Fatalf("%s: unreleased day %d shows private numbers %+v", w.c.t, i, c.Counters)
			}
		}
		if got := cur.Daily[5].Released; got != !w.c.t.Before(releaseAt) {
			t.Fatalf("%s: day 5 released = %v, release time %s", w.c.t, got, releaseAt)
		}
		prev = cur
	}
	got, _, ok := w.storedCell(t, "sharers", d5)
	if !ok || got != release(t, w.keys, 11, dayCell("v", "sharers", "", "", d5), family(t, "sharers", "", "day")) {
		t.Fatalf("day 5's released sharers %d (stored %v) is not truth 11 + its noise", got, ok)
	}
	recordCheck(t, "5 real-time tick", fmt.Sprintf("%d polls every 10 min: share at 23:59 invisible until day close + %s; released days constant", polls, disclosure.DefaultPolicy().DailyDelay))
}

// Attack 6: update differencing. A late share reaching a released day, and
// a key rotation, change no released cell; the difference of two releases
// is 0, never the true delta.
func TestAttack06_UpdateDifferencing(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	before := w.snapshot(t)
	vds := []disclosure.VideoDay{}
	for d := 0; d <= 3; d++ {
		vds = append(vds, disclosure.VideoDay{VideoID: "v", Day: int64(period.DayOf(w.dayN(d)))})
	}
	rel, err := w.l.Released(ctx, vds)
	if err != nil {
		t.Fatal(err)
	}
	for _, vd := range vds {
		if !rel[vd] {
			t.Fatalf("released day %d not reported released: a late event would be dated into it", vd.Day)
		}
	}
	// Late events and a backfill rewriting the rollups of released days.
	if _, err := w.s.DB().ExecContext(ctx, `UPDATE video_day SET sharers = sharers + 1, savers = savers - 1, p_views = p_views + 5, viewers = viewers + 1 WHERE day <= ?`, int64(period.DayOf(w.dayN(3)))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.l.ReleaseDue(ctx); err != nil {
		t.Fatal(err)
	}
	after := w.snapshot(t)
	for i := 0; i <= 3; i++ {
		if after.Daily[i].Counters != before.Daily[i].Counters {
			t.Fatalf("late event moved released day %d: %+v then %+v", i, before.Daily[i].Counters, after.Daily[i].Counters)
		}
	}
	// Key rotation, then days later: old cells keep their values and kid.
	if _, err := w.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	w.c.t = w.c.t.Add(72 * time.Hour)
	rotated := w.snapshot(t)
	for i := 0; i <= 3; i++ {
		if rotated.Daily[i].Counters != before.Daily[i].Counters {
			t.Fatalf("rotation moved released day %d", i)
		}
		if _, kid, _ := w.storedCell(t, "sharers", w.dayN(i)); kid != 1 {
			t.Fatalf("day %d re-keyed to kid %d", i, kid)
		}
	}
	if _, kid, ok := w.storedCell(t, "sharers", w.dayN(6)); !ok || kid != 2 {
		t.Fatalf("new day released with kid %d (%v), want the rotated key 2", kid, ok)
	}
	recordCheck(t, "6 update differencing (late events, backfill, key rotation)", "released cells unchanged; difference of releases is 0, never the true delta")
}

// TestFinding_DailyViewersIncludeBreakdownCells: a daily answer must not
// depend on which other surfaces were read before it. At the time of
// writing, Layer.Daily adds every stored "viewers" cell of a day to the
// day's viewers, breakdown cells (country, age, …) included, so Daily's
// viewers change once Breakdown has released the day's breakdown cells.
// Not a privacy leak (a deterministic function of released cells), but the
// answer changes between identical queries and viewers are inflated. The
// test skips with the finding while the bug is there and enforces the
// property once it is fixed.
func TestFinding_DailyViewersIncludeBreakdownCells(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	sc := disclosure.Scope{VideoID: "v"}
	first, err := w.l.Daily(ctx, sc, w.dayN(0), w.dayN(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.l.Breakdown(ctx, sc, w.dayN(0), w.dayN(3)); err != nil {
		t.Fatal(err)
	}
	again, err := w.l.Daily(ctx, sc, w.dayN(0), w.dayN(3))
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Counters != again[i].Counters {
			msg := fmt.Sprintf("FINDING: Daily day %d changed after a Breakdown read: viewers %d then %d (Layer.Daily sums breakdown cells into viewers)",
				i, first[i].Viewers, again[i].Viewers)
			recordCheck(t, "1b averaging: Daily after Breakdown", msg)
			t.Fatal(msg)
		}
	}
	recordCheck(t, "1b averaging: Daily after Breakdown", "Daily unchanged by Breakdown reads")
}
