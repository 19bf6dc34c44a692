package analytics

import (
	"cmp"
	"slices"
)

// Post-processing: what a person reads of a report.
//
// In protected mode every released view, viewer, share and save count is a
// noisy cell, and a cell of a small video is often negative: a day of 2
// true views can read −40, and a range's views can read fewer than its
// viewers. The API returns the released values unchanged (window totals
// are their sums, and a program may want them as they are); what a person
// reads — Studio's cards, charts and tables, and the CSV export — is
// Adjust's result instead. Adjust is a function of released values only,
// so it costs no privacy budget (post-processing of a differentially
// private release is as private as the release), and it recomputes no
// noise. docs/PRIVACY.md, "What a person reads", states it in words;
// internal/web/assets/js/adjust.js is the same algorithm for Studio, and a
// browser test holds the two to the same answers.
//
// The rules, applied only when the report's policy says its numbers are
// estimates (exact numbers are left as they are):
//
//   - A range's viewers (viewer-days) are max(0, Σ daily viewers); its views
//     max(viewers, Σ daily views): every counted viewer-day has a view.
//     Shares and saves are max(0, Σ).
//   - Each daily series is the integer series closest to the released one
//     (least squares) with every day at least 0 — views at least that day's
//     adjusted viewers — that adds up to the adjusted total. Days that
//     already obey the rules and add up are unchanged, so large videos read
//     exactly what was released; a day not released yet (0) stays 0.
//   - The 48 hourly views likewise, adding up to max(0, Σ hours).
//   - Watch time is clamped to 0..(watch-time bound × viewer-days): no
//     viewer-day counts more than the bound (policy.bounds). The average
//     watch time is that over the adjusted views.
//
// Likes and comments are exact public counts and are never adjusted.

// Adjusted is a report's numbers as a person reads them.
type Adjusted struct {
	Daily      []DayPoint
	Hourly     []HourPoint
	Totals     Totals
	AvgWatchMS *int64
}

// Adjust returns r's numbers as a person reads them (see above). r is not
// changed.
func Adjust(r *Report) Adjusted {
	a := Adjusted{Daily: slices.Clone(r.Daily), Hourly: slices.Clone(r.Hourly), Totals: r.Totals, AvgWatchMS: r.AvgWatchMS}
	if !r.Policy.Estimates {
		return a
	}
	col := func(get func(*DayPoint) int64) []int64 {
		out := make([]int64, len(r.Daily))
		for i := range r.Daily {
			out[i] = get(&r.Daily[i])
		}
		return out
	}
	var tViewers int64
	var viewers []int64 // the adjusted daily viewers: the floor of each day's views
	switch {
	case len(r.Daily) > 0 && r.Daily[0].Viewers != nil:
		tViewers = max(0, sum(col(func(d *DayPoint) int64 { return deref(d.Viewers) })))
		viewers = project(col(func(d *DayPoint) int64 { return deref(d.Viewers) }), nil, tViewers)
		for i := range a.Daily {
			a.Daily[i].Viewers = ptr(viewers[i])
		}
	case len(r.Daily) > 0 && r.Daily[0].ViewerDays != nil:
		tViewers = max(0, sum(col(func(d *DayPoint) int64 { return deref(d.ViewerDays) })))
		viewers = project(col(func(d *DayPoint) int64 { return deref(d.ViewerDays) }), nil, tViewers)
		for i := range a.Daily {
			a.Daily[i].ViewerDays = ptr(viewers[i])
		}
	}
	if r.Totals.ViewerDays != nil {
		a.Totals.ViewerDays = ptr(tViewers)
	}
	if r.Totals.Viewers != nil {
		a.Totals.Viewers = ptr(max(0, *r.Totals.Viewers))
	}

	views := col(func(d *DayPoint) int64 { return d.Views })
	a.Totals.Views = max(tViewers, sum(views))
	for i, v := range project(views, viewers, a.Totals.Views) {
		a.Daily[i].Views = v
	}
	shares := col(func(d *DayPoint) int64 { return d.Shares })
	a.Totals.Shares = max(0, sum(shares))
	for i, v := range project(shares, nil, a.Totals.Shares) {
		a.Daily[i].Shares = v
	}
	saves := col(func(d *DayPoint) int64 { return d.Saves })
	a.Totals.Saves = max(0, sum(saves))
	for i, v := range project(saves, nil, a.Totals.Saves) {
		a.Daily[i].Saves = v
	}

	hours := make([]int64, len(r.Hourly))
	for i, h := range r.Hourly {
		hours[i] = h.Views
	}
	for i, v := range project(hours, nil, max(0, sum(hours))) {
		a.Hourly[i].Views = v
	}

	if r.Totals.WatchMS != nil {
		w := max(0, *r.Totals.WatchMS)
		if b := r.Policy.Bounds; b != nil {
			w = min(w, b.WatchMSPerViewerDay*tViewers)
		}
		a.Totals.WatchMS = ptr(w)
		a.AvgWatchMS = nil
		if a.Totals.Views > 0 {
			a.AvgWatchMS = ptr(w / a.Totals.Views)
		}
	}
	return a
}

// project returns the integer vector x closest to y in the least-squares
// sense with x[i] ≥ lower[i] (0 when lower is nil) and Σx = total, which
// must be at least Σlower (a smaller total is read as Σlower).
//
// With z = x − lower and w = y − lower it is the projection of w onto the
// simplex {z ≥ 0, Σz = s}, s = total − Σlower: z[i] = max(w[i] − τ, 0),
// with τ found from the k largest w (Duchi et al., "Efficient projections
// onto the l1-ball", 2008), in integers: z[i] = (k·w[i] − C + s)/k for the
// k largest, C their sum. The fractions are rounded down and the units
// left over go to the largest remainders, the earlier index first on a
// tie. When total ≤ Σ max(y, lower), which is how Adjust calls it, τ ≥ 0:
// values are only ever lowered towards their floor, never raised, so a
// day that reads its floor keeps it.
func project(y, lower []int64, total int64) []int64 {
	n := len(y)
	x := make([]int64, n)
	w := make([]int64, n)
	var floor int64
	for i := range y {
		if lower != nil {
			x[i] = lower[i]
		}
		w[i] = y[i] - x[i]
		floor += x[i]
	}
	s := total - floor
	if s <= 0 {
		return x
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(w[b], w[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	// k is the largest m with w_(m) − (C_m − s)/m > 0.
	var c, ck int64
	k := 0
	for m := 1; m <= n; m++ {
		c += w[idx[m-1]]
		if w[idx[m-1]]*int64(m) > c-s {
			k, ck = m, c
		}
	}
	rem := make([]int64, k)
	var given int64
	for m := range k {
		i := idx[m]
		v := int64(k)*w[i] - ck + s // > 0 for the k largest
		x[i] += v / int64(k)
		given += v / int64(k)
		rem[m] = v % int64(k)
	}
	top := idx[:k:k]
	order := make([]int, k)
	for m := range order {
		order[m] = m
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(rem[b], rem[a]); c != 0 {
			return c
		}
		return cmp.Compare(top[a], top[b])
	})
	for _, m := range order[:s-given] {
		x[top[m]]++
	}
	return x
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
