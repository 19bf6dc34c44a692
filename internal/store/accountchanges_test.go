package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/store"
)

func ptr(s string) *string { return &s }

// TestStore_AccountChanges: creating, syncing and deleting accounts each
// take the next change number, tell the watchers after the commit, and can
// be read back by number (the deletion as a tombstone), until tombstones
// are pruned.
func TestStore_AccountChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var mu sync.Mutex
		var seen []store.AccountsChange
		stop := s.WatchAccounts(func(c store.AccountsChange) {
			mu.Lock()
			seen = append(seen, c)
			mu.Unlock()
		})
		defer stop()

		mia := MustAccount(t, s, "mia") // 1
		if bad, err := s.UpsertAccounts(ctx, []store.AccountSync{
			{ID: "s1", Handle: ptr("sync1"), Gender: ptr("male"), Country: ptr("FR"), BirthDate: ptr("2001-02-03"), CreatedAt: t0},
			{ID: mia.ID, Gender: ptr("other")},
			{ID: "s2"}, // no handle: rejected, not a change
		}); err != nil || len(bad) != 1 {
			t.Fatalf("sync: %v, %v", bad, err)
		}
		// Fields the directory does not hold take no number.
		if _, err := s.UpdateAccount(ctx, mia.ID, store.AccountPatch{DisplayName: ptr("Mia M")}); err != nil {
			t.Fatal(err)
		}
		MustAccount(t, s, "leo") // 3
		if err := s.DeleteAccount(ctx, "id-leo", func(store.Footprint) []event.Event { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAccount(ctx, "id-leo", func(store.Footprint) []event.Event { return nil }); err == nil {
			t.Fatal("deleted twice")
		}
		mu.Lock()
		got := fmt.Sprint(seen)
		mu.Unlock()
		want := "[{1 [{id-mia 1990-05-01 female DE}] []} {2 [{s1 2001-02-03 male FR} {id-mia 1990-05-01 other DE}] []} {3 [{id-leo 1990-05-01 female DE}] []} {4 [] [id-leo]}]"
		if got != want {
			t.Fatalf("watched %s\nwant    %s", got, want)
		}
		seq, pruned, err := s.AccountSeq(ctx)
		if err != nil || seq != 4 || pruned != 0 {
			t.Fatalf("seq %d pruned %d, %v", seq, pruned, err)
		}
		all, upTo, last, err := s.AccountChanges(ctx, 0, 100)
		if err != nil || upTo != 4 || last != 4 {
			t.Fatalf("changes up to %d of %d: %v", upTo, last, err)
		}
		// Rows as they are now, by number; leo only as deleted, and only
		// on PostgreSQL: a SQLite database has one process, told by
		// WatchAccounts, and keeps no tombstone.
		slices.SortStableFunc(all, func(a, b store.AccountChange) int {
			if a.Seq != b.Seq {
				return int(a.Seq - b.Seq)
			}
			return cmp.Compare(a.Ref.ID, b.Ref.ID)
		})
		rows := "{2 {id-mia 1990-05-01 other DE} false} {2 {s1 2001-02-03 male FR} false}"
		tomb := "{4 {id-leo   } true}"
		postgres := s.Dialect() == store.Postgres
		if !postgres {
			tomb = ""
		}
		if got, want := fmt.Sprint(all), strings.TrimSpace("["+rows+" "+tomb)+"]"; got != want {
			t.Fatalf("changes %s\nwant    %s", got, want)
		}
		// A window of one number.
		if c, upTo, last, err := s.AccountChanges(ctx, 1, 1); err != nil || upTo != 2 || last != 4 || len(c) != 2 {
			t.Fatalf("changes (1, 2]: %v up to %d of %d, %v", c, upTo, last, err)
		}
		if tail, upTo, _, err := s.AccountChanges(ctx, 2, 100); err != nil || upTo != 4 || fmt.Sprint(tail) != "["+tomb+"]" {
			t.Fatalf("changes after 2: %v, %v", tail, err)
		}
		var scanned []string
		var size [2]int
		at, err := s.ScanAccounts(ctx, func(n, idBytes int) { size = [2]int{n, idBytes} }, func(id, birth, gender, country []byte) error {
			scanned = append(scanned, fmt.Sprintf("%s/%s/%s/%s", id, birth, gender, country))
			return nil
		})
		slices.Sort(scanned)
		if err != nil || at != 4 || size != [2]int{2, 8} || fmt.Sprint(scanned) != "[id-mia/1990-05-01/other/DE s1/2001-02-03/male/FR]" {
			t.Fatalf("scan at %d, size %v: %v, %v", at, size, scanned, err)
		}
		if !postgres {
			return
		}

		// Pruning drops the tombstone (and the id in it); a reader that
		// had not read past it must reload.
		if n, err := s.PruneAccountTombstones(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruned a fresh tombstone: %d, %v", n, err)
		}
		if n, err := s.PruneAccountTombstones(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		if _, pruned, err := s.AccountSeq(ctx); err != nil || pruned != 4 {
			t.Fatalf("pruned %d, %v", pruned, err)
		}
		if _, _, _, err := s.AccountChanges(ctx, 3, 100); !errors.Is(err, store.ErrChangesPruned) {
			t.Fatalf("changes across a pruned tombstone: %v", err)
		}
		if c, upTo, _, err := s.AccountChanges(ctx, 4, 100); err != nil || len(c) != 0 || upTo != 4 {
			t.Fatalf("changes after the pruned one: %v, %v", c, err)
		}
	})
}
