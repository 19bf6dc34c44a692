package store

import (
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// TestCreatorsGeneration: on SQLite every change to videos' creators moves
// the generation aggregation reads — a new video, a co-creator accepting
// and leaving, a deleted account's videos going by cascade — and other
// writes leave it; on PostgreSQL there is none.
func TestCreatorsGeneration(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		gen := func() (int64, bool) {
			t.Helper()
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			n, ok, err := tx.CreatorsGeneration(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n, ok
		}
		last, ok := gen()
		if s.Dialect() == Postgres {
			if ok {
				t.Fatal("a generation on PostgreSQL")
			}
			return
		}
		if !ok {
			t.Fatal("no generation on SQLite")
		}
		step := func(what string, moves bool, fn func() error) {
			t.Helper()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			n, _ := gen()
			if moved := n != last; moved != moves {
				t.Errorf("%s: generation %d → %d, want moved %v", what, last, n, moves)
			}
			last = n
		}
		now := time.Now().UTC()
		account := func(id string) func() error {
			return func() error {
				return s.CreateAccount(ctx, &platform.Account{ID: id, Handle: id, Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: now})
			}
		}
		step("an account", false, account("mia"))
		step("another account", false, account("zed"))
		step("a video", true, func() error {
			return s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: now, CreatorIDs: []string{"mia"}})
		})
		step("an invitation", false, func() error {
			_, err := s.InviteCoCreator(ctx, "v", "zed", 5, now)
			return err
		})
		step("a co-creator accepting", true, func() error {
			_, err := s.AcceptCoCreation(ctx, "v", "zed", now)
			return err
		})
		step("a co-creator leaving", true, func() error {
			_, err := s.RemoveCoCreator(ctx, "v", "zed")
			return err
		})
		step("the owner's account deleted, and its video with it", true, func() error {
			return s.DeleteAccount(ctx, "mia", func(Footprint) []event.Event { return nil })
		})
	})
}
