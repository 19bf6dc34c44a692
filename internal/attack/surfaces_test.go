package attack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/period"
)

// report builds a business report of scope over r through the real
// analytics builder on the world's layer.
func (w *world) report(t *testing.T, scope disclosure.Scope, r analytics.Range) *analytics.Report {
	t.Helper()
	b := &analytics.Builder{Layer: w.l, Now: w.c.now}
	rep, err := b.Build(t.Context(), analytics.Request{Scope: scope, Range: r, Business: true, Handle: "mia"})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestAttack02_EquivalentQueries asks for the same numbers spelled
// differently: a preset range and the same days as from/to, the JSON report
// and its CSV export, the video and its creator's account (one video). Every
// answer must be the same function of the same cells: one noise draw per
// cell, whatever the spelling.
func TestAttack02_EquivalentQueries(t *testing.T) {
	w := newWorld(t)
	w.c.t = w.dayN(9).Add(12 * time.Hour) // days 0..7 released
	today := w.c.now()
	preset, err := analytics.ParseRange("7d", "", "", today, analytics.BusinessMaxDays)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := analytics.ParseRange("", preset.From.Format(time.DateOnly), preset.To.Format(time.DateOnly), today, analytics.BusinessMaxDays)
	if err != nil {
		t.Fatal(err)
	}
	a := w.report(t, disclosure.Scope{VideoID: "v"}, preset)
	b := w.report(t, disclosure.Scope{VideoID: "v"}, custom)
	ja, _ := json.Marshal([]any{a.Totals, a.Daily, a.TrafficSources, a.Audience})
	jb, _ := json.Marshal([]any{b.Totals, b.Daily, b.TrafficSources, b.Audience})
	if string(ja) != string(jb) {
		t.Fatalf("7d and the same from/to differ:\n%s\n%s", ja, jb)
	}
	acct := w.report(t, disclosure.Scope{AccountID: "mia"}, preset)
	if acct.Totals.Views != a.Totals.Views || acct.Totals.Shares != a.Totals.Shares || *acct.Totals.ViewerDays != *a.Totals.ViewerDays {
		t.Fatalf("account (one video) and video reports differ: %+v vs %+v", acct.Totals, a.Totals)
	}
	// The CSV is what a person reads: the report's days post-processed by
	// analytics.Adjust, a function of the same released values.
	csv := strings.Split(strings.TrimSpace(string(analytics.CSV(a))), "\r\n")[1:]
	for i, d := range analytics.Adjust(a).Daily {
		want := fmt.Sprintf("%s,%d,%d,%d,%d,%d,%d,", d.Date, d.Views, *d.Viewers, d.Likes, d.Comments, d.Shares, d.Saves)
		if !strings.HasPrefix(csv[i], want) {
			t.Fatalf("CSV row %d %q, JSON %q", i, csv[i], want)
		}
	}
	var cells int
	w.s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells`).Scan(&cells)
	var distinct int
	w.s.ReadDB().QueryRow(`SELECT COUNT(*) FROM (SELECT DISTINCT subject, granularity, period, metric, dim, bucket FROM cells) x`).Scan(&distinct)
	if cells != distinct {
		t.Fatalf("%d cells stored for %d cell keys: a cell was drawn twice", cells, distinct)
	}
	recordCheck(t, "2 equivalent queries", "7d = from/to, JSON = CSV (post-processed), account (one video) = video; one stored draw per cell key")
}

// TestAttack10_CrossSurface compares the public counter with Studio's
// numbers: both are functions of the same released daily cells (the public
// counter is their monotone running sum), and no surface releases a day
// the others do not.
func TestAttack10_CrossSurface(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	for step := 0; step < 4; step++ {
		counts, err := w.l.VideoCounts(ctx, []string{"v"})
		if err != nil {
			t.Fatal(err)
		}
		last := w.l.LastReleasedDay(w.c.now())
		days, err := w.l.Daily(ctx, disclosure.Scope{VideoID: "v"}, w.dayN(0), last)
		if err != nil {
			t.Fatal(err)
		}
		var sum, best int64
		for _, d := range days {
			if !d.Released {
				t.Fatalf("day %s inside the released range is not released", d.Day.Format(time.DateOnly))
			}
			sum += d.Views
			best = max(best, sum)
		}
		if counts["v"].Views != best {
			t.Fatalf("public counter %d, Studio's running sum %d", counts["v"].Views, best)
		}
		w.c.t = w.c.t.Add(24 * time.Hour)
	}
	recordCheck(t, "10 cross-surface", "public counter = monotone running sum of the daily cells Studio shows, at every release")
}

// TestAttack12_DerivedMetrics: rates and averages come from released cells
// only: completion rate = released completions / released views, average
// watch time = released watch time / released views.
func TestAttack12_DerivedMetrics(t *testing.T) {
	w := newWorld(t)
	w.s.DB().Exec(`UPDATE video_day SET p_completions = 120, p_watch_ms = 900000`)
	w.c.t = w.dayN(9).Add(12 * time.Hour)
	r, _ := analytics.ParseRange("7d", "", "", w.c.now(), analytics.BusinessMaxDays)
	rep := w.report(t, disclosure.Scope{VideoID: "v"}, r)
	days, err := w.l.Daily(t.Context(), disclosure.Scope{VideoID: "v"}, r.From, r.To)
	if err != nil {
		t.Fatal(err)
	}
	var views, completions, watch int64
	for _, d := range days {
		views += d.Views
		completions += d.Completions
		watch += d.WatchMS
	}
	if rep.AvgWatchMS == nil || *rep.AvgWatchMS != watch/views {
		t.Fatalf("avg watch %v, from released cells %d", rep.AvgWatchMS, watch/views)
	}
	if rep.CompletionRate == nil || *rep.CompletionRate != float64(completions*1000/views)/1000 {
		t.Fatalf("completion rate %v, from released cells %v", *rep.CompletionRate, float64(completions*1000/views)/1000)
	}
	if views == 7*450 || completions == 7*120 {
		t.Fatal("derived inputs equal the true values: not read from noisy cells")
	}
	recordCheck(t, "12 derived metrics", "average watch time and completion rate computed from released (noisy) cells only")
}

// TestAttack08_SmallAudience: a video with 1–5 viewers, the attacker knowing
// all but one. The audience panel (shown from 100 noisy viewers) must stay
// hidden with overwhelming probability, with a fresh key per trial.
func TestAttack08_SmallAudience(t *testing.T) {
	f := family(t, "viewers", "", "day")
	n := trials(20_000)
	shown := 0
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		keys := trialKeys("small-audience", i)
		trueViewers := int64(1 + i%5)
		var total int64
		// A 7-day range: the panel reads the sum of 7 daily viewer cells.
		for d := 0; d < 7; d++ {
			cell := noise.CellKey{Schema: disclosure.CellSchema, Subject: noise.SubjectVideo + "v", Metric: "viewers", Granularity: noise.Day, PeriodStart: start.AddDate(0, 0, d)}
			z, err := keys.Noise(keys.Current(), cell, f.Epsilon.Num, f.Epsilon.Den, f.Sensitivity)
			if err != nil {
				t.Fatal(err)
			}
			if d == 0 {
				total += trueViewers
			}
			total += z
		}
		if total >= disclosure.DefaultPolicy().AudienceMinViewers {
			shown++
		}
	}
	// The sum of 7 daily viewer cells at ε = 3/20 has a standard deviation
	// near 25, so it reaches 100 from 1–5 viewers about 3 times in 10,000.
	// The criterion is "hidden with probability ≥ 1 − δ", δ = 10⁻³; a panel
	// that does show is still made of noisy bucket cells, each within its ε.
	const delta = 1e-3
	if float64(shown) > delta*float64(n) {
		t.Fatalf("audience panel shown in %d of %d trials for 1–5 true viewers (δ = %g)", shown, n, delta)
	}
	recordCheck(t, "8 small audience", fmt.Sprintf("panel shown in %d of %d trials with 1–5 true viewers (7-day range, fresh key per trial)", shown, n))
}

// TestAttack04_ComplementDifferencing: the friend's viewer-day lands in the
// DE bucket. The attacker, knowing every other viewer, sees the total
// viewers cell and every country bucket, and combines them — total minus
// the other buckets isolates DE "twice over" — to decide whether the friend
// watched. There is no exact total to subtract from: the total is its own
// noisy cell, so the best the attacker can do is bounded by the ε of the
// two cells the friend is in.
func TestAttack04_ComplementDifferencing(t *testing.T) {
	fTotal := family(t, "viewers", "", "day")
	fCountry := family(t, "viewers", "country", "day")
	countries := []string{"DE", "FR", "US", "other", "unknown"}
	n := trials(20000)
	tp, fp := distinguish(n, func(i int, w1 bool) bool {
		keys := trialKeys("complement", i)
		truth := map[string]int64{"DE": 40, "FR": 30, "US": 20, "other": 6, "unknown": 4}
		total := int64(100)
		if w1 {
			truth["DE"]++
			total++
		}
		noisyTotal := release(t, keys, total, dayCell("v", "viewers", "", "", targetDay), fTotal)
		var others int64
		var de int64
		for _, c := range countries {
			v := release(t, keys, truth[c], dayCell("v", "viewers", "country", c, targetDay), fCountry)
			if c == "DE" {
				de = v
			} else {
				others += v
			}
		}
		// Both views of DE: the bucket itself and the total minus the rest,
		// each centred on 40 (W0) or 41 (W1); weigh them by their noise.
		isolated := noisyTotal - others
		score := de*8 + isolated*3 // ∝ ε of each source (1/8 and 3/20 → 0.125 : 0.15, scaled)
		return score*2 >= (40+41)*11
	})
	assertPrivate(t, newResult("4 complement differencing (total − other buckets, + the bucket)", eps(fTotal)+eps(fCountry), n, tp, fp))
}

// TestCanary_ExactModeCounterTick: in exact mode the counter-tick attack
// succeeds, as it does on the big platforms: polling the public counter
// around the moment a friend may have shared shows the share at once. The
// test asserts that it does (the baseline the protected mode is measured
// against), and that protected mode shows nothing until the day is released.
func TestCanary_ExactModeCounterTick(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t)
	if _, err := w.s.DB().Exec(`INSERT INTO video_totals (video_id, views, likes, comments, shares, saves) VALUES ('v', 1000, 10, 1, 5, 2)`); err != nil {
		t.Fatal(err)
	}
	exact := disclosure.New("exact", w.s)
	before, _ := exact.VideoCounts(ctx, []string{"v"})
	protBefore, _ := w.l.VideoCounts(ctx, []string{"v"})
	// The friend shares now: aggregation applies it.
	w.s.DB().Exec(`UPDATE video_totals SET shares = shares + 1`)
	w.s.DB().Exec(`UPDATE video_day SET shares = shares + 1, sharers = sharers + 1 WHERE day = ?`, int64(period.DayOf(w.c.now())))
	after, _ := exact.VideoCounts(ctx, []string{"v"})
	protAfter, _ := w.l.VideoCounts(ctx, []string{"v"})
	if after["v"].Shares != before["v"].Shares+1 {
		t.Fatalf("canary not caught: the exact counter did not tick (%d → %d)", before["v"].Shares, after["v"].Shares)
	}
	if protAfter["v"] != protBefore["v"] {
		t.Fatalf("protected counter moved within an open day: %+v → %+v", protBefore["v"], protAfter["v"])
	}
	recordCheck(t, "canary: exact-mode counter tick", "exact public counter ticks with the friend's share (caught); protected counter unchanged in the open day")
}
