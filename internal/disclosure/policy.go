package disclosure

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/crowd-dev/crowd/internal/rollup"
)

// Rational is an exact fraction: ε is configured as a rational so that the
// noise path never needs floating point.
type Rational struct {
	Num, Den uint64
}

func (r Rational) rat() *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(r.Num), new(big.Int).SetUint64(r.Den))
}

// String renders r as "num/den".
func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// Privacy units: who a released number must not reveal.
const (
	UnitShare     = "share of (account, video)"
	UnitSave      = "save of (account, video)"
	UnitViewerDay = "viewer-day of (account, video)"
	// UnitShareDay and UnitSaveDay are one account's counted first shares
	// (saves) of one day, across all videos: what any reader — an owner,
	// or a co-creator of many owners' videos — can learn about that
	// account's day from every cell they see. The per-(account, day) cap
	// (rollup.Bounds.PerAccountDay) makes their ε the cap times the ε of
	// one share (save). Views have no such unit: a viewer-day is per
	// (account, video) and nothing bounds how many videos one account
	// views in a day (docs/PRIVACY.md, "Not a guarantee").
	UnitShareDay = "first shares of an account-day, all videos"
	UnitSaveDay  = "first saves of an account-day, all videos"
)

// groupUnits are the units Ledger derives from a per-video unit and the
// per-(account, day) cap.
var groupUnits = []struct{ group, per string }{{UnitShareDay, UnitShare}, {UnitSaveDay, UnitSave}}

// Family is one family of released cells: a metric, optionally broken down
// by a dimension, at a granularity, with the sensitivity the contribution
// bounds give it and the ε it spends per privacy unit.
type Family struct {
	Metric      string
	Dim         string // "" for a total; else source, age, gender or country
	Granularity string // day or hour
	// Sensitivity is how much one privacy unit can change the family's
	// cells in total (L1): the contribution bound.
	Sensitivity uint64
	Epsilon     Rational
	Unit        string
}

// Policy is the protected-mode disclosure policy: what is released, when,
// with how much noise, and what is shown. It is configuration validated at
// start; the privacy ledger is derived from it.
type Policy struct {
	// DailyDelay is how long after a day closes its cells are released.
	DailyDelay time.Duration
	// HourlyDelay is how long after an hour closes its cells are released.
	HourlyDelay time.Duration
	// AudienceMinViewers is the noisy viewer count a range needs before its
	// audience panel is shown.
	AudienceMinViewers int64
	// BucketMin folds breakdown buckets with smaller noisy values into "other".
	BucketMin int64
	// Bounds are the contribution bounds applied before aggregation.
	Bounds rollup.Bounds
	// Families are the released cell families.
	Families []Family
	// Caps bound the total ε per privacy unit; Validate fails beyond them.
	Caps map[string]Rational
}

// DefaultPolicy is the default protected policy (docs/PRIVACY.md,
// "Contribution bounds", "The ledger" and "Release"):
// shares and saves in daily cells released 6 h after the day closes with
// ε = 1/2 each; a viewer-day spends ε = 1 in total over views, viewers,
// completions, watch time and the four audience breakdowns.
func DefaultPolicy() Policy {
	b := rollup.DefaultBounds
	return Policy{
		DailyDelay:         6 * time.Hour,
		HourlyDelay:        time.Hour,
		AudienceMinViewers: 100,
		BucketMin:          10,
		Bounds:             b,
		Families: []Family{
			{Metric: "sharers", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 2}, Unit: UnitShare},
			{Metric: "savers", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 2}, Unit: UnitSave},
			{Metric: "viewers", Granularity: "day", Sensitivity: 1, Epsilon: Rational{3, 20}, Unit: UnitViewerDay},
			{Metric: "views", Granularity: "day", Sensitivity: uint64(b.ViewsPerViewerDay), Epsilon: Rational{3, 20}, Unit: UnitViewerDay},
			// A viewer-day's capped views fall into the hours of that day:
			// L1 over the day's hourly cells is the same cap.
			{Metric: "views", Granularity: "hour", Sensitivity: uint64(b.ViewsPerViewerDay), Epsilon: Rational{1, 10}, Unit: UnitViewerDay},
			{Metric: "completions", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 20}, Unit: UnitViewerDay},
			// Watch time in whole seconds, capped per viewer-day.
			{Metric: "watch_s", Granularity: "day", Sensitivity: uint64(b.WatchMSPerViewerDay / 1000), Epsilon: Rational{1, 20}, Unit: UnitViewerDay},
			{Metric: "viewers", Dim: "source", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 8}, Unit: UnitViewerDay},
			{Metric: "viewers", Dim: "age", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 8}, Unit: UnitViewerDay},
			{Metric: "viewers", Dim: "gender", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 8}, Unit: UnitViewerDay},
			{Metric: "viewers", Dim: "country", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 8}, Unit: UnitViewerDay},
		},
		Caps: map[string]Rational{
			UnitShare:     {1, 2},
			UnitSave:      {1, 2},
			UnitViewerDay: {1, 1},
			// 3 counted first shares (saves) a day × 1/2.
			UnitShareDay: {3, 2},
			UnitSaveDay:  {3, 2},
		},
	}
}

// Ledger returns the total ε each privacy unit spends: the sum over the
// families it lands in. Every answer is post-processing of released cells,
// so this static sum is the whole budget. The account-day units
// (UnitShareDay, UnitSaveDay) are the per-video unit's ε times the
// per-(account, day) cap, by group privacy: a reader who sees every video
// an account shared that day sees at most the cap of them move.
func (p Policy) Ledger() map[string]Rational {
	sums := map[string]*big.Rat{}
	for _, f := range p.Families {
		if sums[f.Unit] == nil {
			sums[f.Unit] = new(big.Rat)
		}
		sums[f.Unit].Add(sums[f.Unit], f.Epsilon.rat())
	}
	for _, g := range groupUnits {
		if per := sums[g.per]; per != nil && p.Bounds.PerAccountDay > 0 {
			sums[g.group] = new(big.Rat).Mul(per, new(big.Rat).SetInt64(p.Bounds.PerAccountDay))
		}
	}
	out := map[string]Rational{}
	for u, r := range sums {
		out[u] = Rational{r.Num().Uint64(), r.Denom().Uint64()}
	}
	return out
}

// Validate checks the policy, including that no privacy unit spends more
// than its cap.
func (p Policy) Validate() error {
	var errs []error
	if p.DailyDelay < 0 || p.HourlyDelay < 0 {
		errs = append(errs, fmt.Errorf("release delays must not be negative"))
	}
	if p.AudienceMinViewers < 1 || p.BucketMin < 1 {
		errs = append(errs, fmt.Errorf("thresholds must be at least 1"))
	}
	if p.Bounds.ViewsPerViewerDay < 1 || p.Bounds.WatchMSPerViewerDay < 1000 || p.Bounds.PerAccountDay < 1 {
		errs = append(errs, fmt.Errorf("contribution bounds must be positive (watch time at least 1 s)"))
	}
	seen := map[string]bool{}
	for _, f := range p.Families {
		key := f.Metric + "/" + f.Dim + "/" + f.Granularity
		switch {
		case seen[key]:
			errs = append(errs, fmt.Errorf("family %s appears twice", key))
		case f.Epsilon.Num == 0 || f.Epsilon.Den == 0:
			errs = append(errs, fmt.Errorf("family %s: epsilon %s must be positive", key, f.Epsilon))
		case f.Sensitivity == 0:
			errs = append(errs, fmt.Errorf("family %s: sensitivity must be positive", key))
		case f.Granularity != "day" && f.Granularity != "hour":
			errs = append(errs, fmt.Errorf("family %s: granularity must be day or hour", key))
		case p.Caps[f.Unit] == (Rational{}):
			errs = append(errs, fmt.Errorf("family %s: unit %q has no cap", key, f.Unit))
		}
		seen[key] = true
	}
	// The families every report reads must be there.
	for _, need := range [][3]string{{"views", "", "day"}, {"viewers", "", "day"}, {"sharers", "", "day"}, {"savers", "", "day"}, {"views", "", "hour"}} {
		if !seen[need[0]+"/"+need[1]+"/"+need[2]] {
			errs = append(errs, fmt.Errorf("family %s/%s/%s is required", need[0], need[1], need[2]))
		}
	}
	for unit, spent := range p.Ledger() {
		cap, ok := p.Caps[unit]
		if !ok {
			errs = append(errs, fmt.Errorf("privacy ledger: unit %q has no cap", unit))
			continue
		}
		if spent.rat().Cmp(cap.rat()) > 0 {
			errs = append(errs, fmt.Errorf("privacy ledger: a %s spends ε = %s, over its cap %s", unit, spent, cap))
		}
	}
	return errors.Join(errs...)
}
