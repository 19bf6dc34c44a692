package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// TestStore_DeleteAccountPurges: a deleted account's handle is in neither
// the SQLite database file nor its WAL afterwards; on PostgreSQL Purge is
// a no-op (VACUUM is the operator's).
func TestStore_DeleteAccountPurges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := MustOpen(t, store.Options{Dir: dir})
	const handle = "purgeme4417"
	a := MustAccount(t, s, handle)
	MustAccount(t, s, "stays")
	if err := s.DeleteAccount(ctx, a.ID, func(store.Footprint) []event.Event { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"crowd.db", "crowd.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(handle)) {
			t.Errorf("%s still holds the deleted handle", name)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "crowd.db-wal")); err == nil && fi.Size() != 0 {
		t.Errorf("WAL of %d bytes after the purge", fi.Size())
	}
	if err := s.Purge(ctx); err != nil {
		t.Errorf("Purge: %v", err)
	}

	t.Run("postgres", func(t *testing.T) {
		pg := MustOpen(t, store.Options{PostgresURL: testutil.PostgresURL(t)})
		if err := pg.Purge(ctx); err != nil {
			t.Errorf("Purge on PostgreSQL: %v", err)
		}
	})
}
