package analytics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/internal/disclosure"
)

func TestProject(t *testing.T) {
	for _, c := range []struct {
		name     string
		y, lower []int64
		total    int64
		want     []int64
	}{
		{"consistent series are unchanged", []int64{3, 5, 0, 12}, nil, 20, []int64{3, 5, 0, 12}},
		{"a negative total reads zero everywhere", []int64{50, -40, 30, -45}, nil, 0, []int64{0, 0, 0, 0}},
		// τ = (10+4−11)/2 = 1.5: 8.5, 0, 2.5; the unit left goes to the
		// earlier of two equal remainders.
		{"lowered towards the total", []int64{10, -3, 4}, nil, 11, []int64{9, 0, 2}},
		{"floors are kept", []int64{1, 10}, []int64{5, 2}, 11, []int64{5, 6}},
		{"a day at its floor stays there", []int64{0, 7, 0}, []int64{0, 3, 0}, 5, []int64{0, 5, 0}},
		{"a total below the floors reads the floors", []int64{-5, -5}, []int64{2, 1}, 0, []int64{2, 1}},
		{"empty", nil, nil, 0, []int64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := project(c.y, c.lower, c.total)
			if !slices.Equal(got, c.want) {
				t.Errorf("project(%v, %v, %d) = %v, want %v", c.y, c.lower, c.total, got, c.want)
			}
		})
	}
}

// TestProject_Properties checks project against its definition on random
// series of the shapes Adjust gives it: at least the floors, adding up to
// the total, within one unit of the real least-squares projection (found
// here by bisection), and never raising a value above max(y, floor).
func TestProject_Properties(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	for trial := range 5000 {
		n := 1 + rng.IntN(40)
		y, lower := make([]int64, n), make([]int64, n)
		var sumY, sumL int64
		for i := range n {
			y[i] = int64(rng.IntN(200)) - 80
			if rng.IntN(3) == 0 {
				lower[i] = int64(rng.IntN(30))
			}
			sumY += y[i]
			sumL += lower[i]
		}
		total := max(sumL, sumY) // as Adjust calls it
		x := project(y, lower, total)
		var got int64
		for i := range n {
			got += x[i]
			if x[i] < lower[i] {
				t.Fatalf("trial %d: x[%d] = %d below its floor %d", trial, i, x[i], lower[i])
			}
			if x[i] > max(y[i], lower[i]) {
				t.Fatalf("trial %d: x[%d] = %d raised above y %d and floor %d", trial, i, x[i], y[i], lower[i])
			}
		}
		if got != total {
			t.Fatalf("trial %d: Σx = %d, want %d", trial, got, total)
		}
		// The real projection: z = max(w − τ, 0), Σz = s.
		s := float64(total - sumL)
		zsum := func(tau float64) float64 {
			var z float64
			for i := range n {
				z += math.Max(float64(y[i]-lower[i])-tau, 0)
			}
			return z
		}
		lo, hi := -1e6, 1e6
		for range 200 {
			mid := (lo + hi) / 2
			if zsum(mid) > s {
				lo = mid
			} else {
				hi = mid
			}
		}
		for i := range n {
			real := float64(lower[i]) + math.Max(float64(y[i]-lower[i])-lo, 0)
			if s > 0 && math.Abs(float64(x[i])-real) >= 1 {
				t.Fatalf("trial %d: x[%d] = %d, the projection is %.3f (y %v, floors %v, total %d)", trial, i, x[i], real, y, lower, total)
			}
		}
	}
}

func protectedReport() *Report {
	v := func(n int64) *int64 { return &n }
	return &Report{
		Detail: "business",
		Policy: disclosure.Notice{Mode: "protected", Estimates: true, Bounds: &disclosure.NoticeBounds{ViewsPerViewerDay: 5, WatchMSPerViewerDay: 600_000}},
		Daily: []DayPoint{
			{Date: "2026-03-01", Released: true, Views: -40, Viewers: v(30), Likes: -1, Shares: 2, Saves: -3},
			{Date: "2026-03-02", Released: true, Views: 12, Viewers: v(-8), Likes: 2, Shares: -1, Saves: 1},
			{Date: "2026-03-03", Released: true, Views: 75, Viewers: v(40), Likes: 0, Shares: 0, Saves: -2},
			{Date: "2026-03-04", Released: false, Viewers: v(0)},
		},
		Hourly: []HourPoint{{Views: -120}, {Views: 40}, {Views: 3}, {Views: 0}},
		Totals: Totals{Views: 47, Likes: 1, Shares: 1, Saves: -4, ViewerDays: v(62), WatchMS: v(900_000_000)},
	}
}

// TestAdjust: what a person reads of a noisy report of a small video has
// no negative count, never fewer views than viewers, days that add up to
// the totals, and a watch time no viewer-day could exceed.
func TestAdjust(t *testing.T) {
	r := protectedReport()
	before := CSV(&Report{Daily: r.Daily, Policy: disclosure.Notice{}}) // the released values, unadjusted
	a := Adjust(r)
	var views, viewers, shares, saves int64
	for i, d := range a.Daily {
		if d.Views < 0 || *d.Viewers < 0 || d.Shares < 0 || d.Saves < 0 {
			t.Errorf("day %d reads a negative count: %+v viewers %d", i, d, *d.Viewers)
		}
		if d.Views < *d.Viewers {
			t.Errorf("day %d: %d views < %d viewers", i, d.Views, *d.Viewers)
		}
		if d.Likes != r.Daily[i].Likes || d.Comments != r.Daily[i].Comments || d.Date != r.Daily[i].Date || d.Released != r.Daily[i].Released {
			t.Errorf("day %d: exact columns changed: %+v, released %+v", i, d, r.Daily[i])
		}
		views, viewers, shares, saves = views+d.Views, viewers+*d.Viewers, shares+d.Shares, saves+d.Saves
	}
	if last := a.Daily[3]; last.Views != 0 || *last.Viewers != 0 {
		t.Errorf("a day not released yet reads %+v", last)
	}
	// Viewers: 30 − 8 + 40 = 62; views: max(62, 47) = 62.
	if a.Totals.Views != 62 || *a.Totals.ViewerDays != 62 || a.Totals.Shares != 1 || a.Totals.Saves != 0 {
		t.Errorf("totals %+v viewer-days %d", a.Totals, *a.Totals.ViewerDays)
	}
	if views != a.Totals.Views || viewers != *a.Totals.ViewerDays || shares != a.Totals.Shares || saves != a.Totals.Saves {
		t.Errorf("days add up to %d/%d/%d/%d, totals are %+v", views, viewers, shares, saves, a.Totals)
	}
	if *a.Totals.WatchMS != 62*600_000 || *a.AvgWatchMS != 600_000 {
		t.Errorf("watch %d ms, average %d ms: want the bound of 62 viewer-days", *a.Totals.WatchMS, *a.AvgWatchMS)
	}
	var hours int64
	for _, h := range a.Hourly {
		if h.Views < 0 {
			t.Errorf("hourly %+v", a.Hourly)
		}
		hours += h.Views
	}
	if hours != 0 {
		t.Errorf("hours add up to %d; the released hours add up to −77, so 0", hours)
	}
	// The report itself keeps the released values: the API returns them.
	if r.Daily[0].Views != -40 || *r.Daily[1].Viewers != -8 || r.Totals.Saves != -4 {
		t.Errorf("Adjust changed the report: %+v", r.Daily)
	}
	// The CSV is what a person reads.
	csv := string(CSV(r))
	for _, line := range strings.Split(strings.TrimSpace(csv), "\r\n")[1:] {
		f := strings.Split(line, ",")
		for _, col := range []int{1, 2, 5, 6} { // views, viewers, shares, saves
			if strings.HasPrefix(f[col], "-") {
				t.Errorf("the CSV shows a negative estimate: %q", line)
			}
		}
	}
	if !strings.Contains(string(before), "-40") || csv == string(before) {
		t.Errorf("the unadjusted CSV should show -40 and differ from the adjusted one:\n%s\n%s", before, csv)
	}
}

// TestAdjust_ExactUnchanged: exact numbers are shown as they are, a day's
// net unlikes included.
func TestAdjust_ExactUnchanged(t *testing.T) {
	r := protectedReport()
	r.Policy = disclosure.Notice{Mode: "exact"}
	a := Adjust(r)
	if !slices.Equal(a.Daily, r.Daily) || a.Totals != r.Totals || !slices.Equal(a.Hourly, r.Hourly) {
		t.Errorf("exact report adjusted:\n%+v\n%+v", a.Daily, r.Daily)
	}
}

// TestAdjust_LargeUnchanged: a large video's released numbers obey the
// rules already and are shown exactly as released.
func TestAdjust_LargeUnchanged(t *testing.T) {
	r := protectedReport()
	v := func(n int64) *int64 { return &n }
	r.Daily = []DayPoint{
		{Date: "2026-03-01", Released: true, Views: 52_013, Viewers: v(20_400), Shares: 310, Saves: 95},
		{Date: "2026-03-02", Released: true, Views: 61_877, Viewers: v(23_001), Shares: 402, Saves: 120},
	}
	r.Hourly = []HourPoint{{Views: 2210}, {Views: 1988}}
	r.Totals = Totals{Views: 113_890, Shares: 712, Saves: 215, ViewerDays: v(43_401), WatchMS: v(43_401 * 9_000)}
	a := Adjust(r)
	for i := range r.Daily {
		if a.Daily[i].Views != r.Daily[i].Views || *a.Daily[i].Viewers != *r.Daily[i].Viewers || a.Daily[i].Shares != r.Daily[i].Shares || a.Daily[i].Saves != r.Daily[i].Saves {
			t.Errorf("day %d: %+v, released %+v", i, a.Daily[i], r.Daily[i])
		}
	}
	if a.Totals.Views != r.Totals.Views || *a.Totals.WatchMS != *r.Totals.WatchMS || *a.AvgWatchMS != 43_401*9_000/113_890 || !slices.Equal(a.Hourly, r.Hourly) {
		t.Errorf("totals %+v, avg %d", a.Totals, *a.AvgWatchMS)
	}
}
