package store

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
)

// TestCreatorsChanges: on SQLite every change to videos' creators is read
// back with its video — a new video, a co-creator accepting and leaving, a
// deleted account's videos going by cascade — and other writes add none;
// changes pruned unread make the read incomplete. On PostgreSQL there are
// none.
func TestCreatorsChanges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		read := func(after int64) (videos []string, last int64, complete, ok bool) {
			t.Helper()
			tx, err := s.BeginRollup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			videos, last, complete, ok, err = tx.CreatorsChanges(ctx, after)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			return videos, last, complete, ok
		}
		_, last, _, ok := read(0)
		if s.Dialect() == Postgres {
			if ok {
				t.Fatal("changes on PostgreSQL")
			}
			return
		}
		if !ok {
			t.Fatal("no changes on SQLite")
		}
		step := func(what string, want []string, fn func() error) {
			t.Helper()
			if err := fn(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			got, n, complete, _ := read(last)
			if !slices.Equal(got, want) || !complete {
				t.Errorf("%s: changes %q (complete %v), want %q", what, got, complete, want)
			}
			last = n
		}
		now := time.Now().UTC()
		account := func(id string) func() error {
			return func() error {
				return s.CreateAccount(ctx, &platform.Account{ID: id, Handle: id, Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: now})
			}
		}
		video := func(id, owner string) func() error {
			return func() error {
				return s.CreateVideo(ctx, &platform.Video{ID: id, OwnerID: owner, Title: "t", CreatedAt: now, CreatorIDs: []string{owner}})
			}
		}
		step("an account", nil, account("mia"))
		step("another account", nil, account("zed"))
		step("a video", []string{"v"}, video("v", "mia"))
		step("another account's video", []string{"w"}, video("w", "zed"))
		step("an invitation", nil, func() error {
			_, err := s.InviteCoCreator(ctx, "v", "zed", 5, now)
			return err
		})
		step("a co-creator accepting", []string{"v"}, func() error {
			_, err := s.AcceptCoCreation(ctx, "v", "zed", now)
			return err
		})
		step("a co-creator leaving", []string{"v"}, func() error {
			_, err := s.RemoveCoCreator(ctx, "v", "zed")
			return err
		})
		step("the owner's account deleted, and its video with it", []string{"v"}, func() error {
			return s.DeleteAccount(ctx, "mia", func(Footprint) []event.Event { return nil })
		})

		// Pruning keeps the newest changes: a reader that read up to the
		// last one loses nothing, one behind the pruned ones is told.
		defer func(n int64) { creatorsChangesKept = n }(creatorsChangesKept)
		creatorsChangesKept = 2
		behind := last
		for i := range 5 {
			step("a video", []string{"x" + strconv.Itoa(i)}, video("x"+strconv.Itoa(i), "zed"))
		}
		if got, n, complete, _ := read(last); len(got) != 0 || n != last || !complete {
			t.Errorf("up to date after pruning: changes %q to %d (complete %v), want none to %d", got, n, complete, last)
		}
		if got, n, complete, _ := read(behind); complete || n != last || len(got) > 2 {
			t.Errorf("behind the pruned changes: changes %q to %d (complete %v), want at most the 2 kept to %d, incomplete", got, n, complete, last)
		}
	})
}
