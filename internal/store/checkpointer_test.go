package store

import (
	"os"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/testutil"
)

// TestCheckpointer: a rollup commit's frames reach the database file
// without waiting for the writer's own checkpoint (its threshold, 64 MiB,
// is far above what the commit writes), and Close stops the checkpointer.
func TestCheckpointer(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size := func() int64 {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	tx, err := s.BeginRollup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]ViewerHistory, 100_000)
	for i := range rows {
		rows[i] = ViewerHistory{Key: int64(i) * 7919, VideoTag: 1, Days: AppendDays(nil, []int64{20_400})}
	}
	if err := tx.SetViewerHistories(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the commit's frames copied into the database file", func() bool {
		return size() > before+1<<20
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.ckpt.wg.Wait() // returns: the goroutine ended
}

// TestPurge_BesideCheckpoints: Purge succeeds while the checkpointer's
// checkpoints run back to back. Without the two taking turns, SQLite
// answered Purge's checkpoint with SQLITE_BUSY while another ran ("readers
// kept 0 of -1 WAL frames").
func TestPurge_BesideCheckpoints(t *testing.T) {
	s, err := Open(t.Context(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = s.ckpt.checkpoint(ctx)
		}
	}()
	defer func() { close(done); <-stopped }()
	for i := range 40 {
		tx, err := s.BeginRollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]ViewerHistory, 5_000)
		for j := range rows {
			rows[j] = ViewerHistory{Key: int64(i*len(rows)+j) * 7919, VideoTag: 1, Days: AppendDays(nil, []int64{20_400})}
		}
		if err := tx.SetViewerHistories(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(ctx); err != nil {
			t.Fatalf("purge %d: %v", i, err)
		}
	}
}
