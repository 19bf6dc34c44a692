package demo_test

import (
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/demo"
)

// BenchmarkGenerate measures generating the full demo world's engagement,
// without sending it: the share of `crowd demo` that is the generator's.
func BenchmarkGenerate(b *testing.B) {
	cfg := demo.DefaultConfig()
	cfg.Now = time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		w, err := demo.NewWorld(cfg)
		if err != nil {
			b.Fatal(err)
		}
		later, s, err := w.Events(func([]client.Event) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		_ = later
		events += s.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
