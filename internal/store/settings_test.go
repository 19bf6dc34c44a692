package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/store"
)

func TestStore_DisclosureMode(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if mode, ok, err := s.DisclosureMode(ctx); err != nil || ok || mode != "" {
			t.Fatalf("new store: %q %v %v", mode, ok, err)
		}
		if released, err := s.HasReleasedCells(ctx); err != nil || released {
			t.Fatalf("released cells in a new store: %v %v", released, err)
		}
		if err := s.SetDisclosureMode(ctx, "", "protected", false, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisclosureMode(ctx, "protected", "exact", true, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if mode, ok, err := s.DisclosureMode(ctx); err != nil || !ok || mode != "exact" {
			t.Fatalf("mode %q %v %v", mode, ok, err)
		}
		changes, err := s.DisclosureChanges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint([]store.DisclosureChange{{At: t0, From: "", To: "protected"}, {At: t0.Add(time.Second), From: "protected", To: "exact", Forced: true}})
		if got := fmt.Sprint(changes); got != want {
			t.Fatalf("changes %s, want %s", got, want)
		}
	})
}

func TestStore_Setting(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if v, ok, err := s.Setting(ctx, "demo_world"); err != nil || ok || v != "" {
			t.Fatalf("new store: %q %v %v", v, ok, err)
		}
		for _, want := range []string{`{"state":"filling"}`, `{"state":"complete"}`} {
			if err := s.SetSetting(ctx, "demo_world", want, t0); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Setting(ctx, "demo_world"); err != nil || !ok || v != want {
				t.Fatalf("setting %q %v %v, want %q", v, ok, err, want)
			}
		}
		// The disclosure mode is a setting of its own, untouched.
		if _, ok, err := s.DisclosureMode(ctx); err != nil || ok {
			t.Fatalf("disclosure mode set by another setting: %v %v", ok, err)
		}
	})
}
