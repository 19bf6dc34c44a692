package disclosure

import (
	"strings"
	"testing"
)

// TestLedger is the privacy budget check: the default policy's ε per
// privacy unit, derived from its families, must stay within the caps, and
// equal what docs/PRIVACY.md states. A change that adds a family or raises
// an ε fails here until the budget is re-allocated and documented.
func TestLedger(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	// An account-day's first shares (saves) count in at most 3 sharers
	// (savers) cells across all videos, whoever reads them: 3 × 1/2.
	want := map[string]Rational{UnitShare: {1, 2}, UnitSave: {1, 2}, UnitViewerDay: {1, 1}, UnitShareDay: {3, 2}, UnitSaveDay: {3, 2}}
	got := p.Ledger()
	for u, w := range want {
		if got[u] != w {
			t.Errorf("ledger %s: ε = %s, documented %s", u, got[u], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ledger has units %v, documented %v", got, want)
	}
}

func TestValidate_RejectsOverBudget(t *testing.T) {
	p := DefaultPolicy()
	p.Families = append(p.Families, Family{Metric: "viewers", Dim: "city", Granularity: "day", Sensitivity: 1, Epsilon: Rational{1, 10}, Unit: UnitViewerDay})
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "over its cap") {
		t.Fatalf("a family over budget passed: %v", err)
	}
	p = DefaultPolicy()
	p.Families[0].Epsilon = Rational{1, 1}
	if err := p.Validate(); err == nil {
		t.Fatal("shares at ε = 1 passed the 1/2 cap")
	}
	// A higher daily cap spends more per account-day than its cap allows.
	p = DefaultPolicy()
	p.Bounds.PerAccountDay = 5
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), UnitShareDay) {
		t.Fatalf("a daily cap of 5 (ε = 5/2 per account-day) passed: %v", err)
	}
	p = DefaultPolicy()
	delete(p.Caps, UnitSaveDay)
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "no cap") {
		t.Fatalf("an account-day unit without a cap passed: %v", err)
	}
	p = DefaultPolicy()
	p.Families[0].Sensitivity = 0
	if err := p.Validate(); err == nil {
		t.Fatal("zero sensitivity passed")
	}
}
