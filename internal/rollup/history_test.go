package rollup

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/store"
)

// historyTables are the tables viewers' history and the counts derived
// from it live in.
var historyTables = []string{"viewer_history", "video_viewer_gaps", "video_day", "video_totals"}

// TestHistoryApart_FailedBetweenCommits: a batch that fails after
// history.db committed it and before its own transaction did (a crash
// there, on SQLite, where viewers' history has its own writer) is undone
// in history.db, then applied again from the log: the counts are those of
// every batch applied once, whether the same aggregator retries it or the
// data dir is opened again.
func TestHistoryApart_FailedBetweenCommits(t *testing.T) {
	batches, open := creatorsWorld()
	want := func() map[string]string {
		s, a := open(t)
		if !s.HistoryApart() {
			t.Fatal("viewers' history is not in a database of its own")
		}
		for _, b := range batches {
			if err := a.apply(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		return dumpTables(t, s, historyTables)
	}()

	errCrash := errors.New("crash between the commits")
	failOnce := func() {
		failed := false
		betweenCommits = func() error {
			if failed {
				return nil
			}
			failed = true
			return errCrash
		}
	}
	defer func(h func() error) { betweenCommits = h }(betweenCommits)

	t.Run("retried", func(t *testing.T) {
		s, a := open(t)
		if err := a.apply(t.Context(), batches[0]); err != nil {
			t.Fatal(err)
		}
		failOnce()
		if err := a.apply(t.Context(), batches[1]); !errors.Is(err, errCrash) {
			t.Fatalf("apply: %v, want the crash", err)
		}
		for _, b := range batches[1:] {
			if err := a.apply(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		compareTables(t, want, dumpTables(t, s, historyTables))
	})

	t.Run("reopened", func(t *testing.T) {
		s, a := open(t)
		dir := s.Dir()
		if err := a.apply(t.Context(), batches[0]); err != nil {
			t.Fatal(err)
		}
		failOnce()
		if err := a.apply(t.Context(), batches[1]); !errors.Is(err, errCrash) {
			t.Fatalf("apply: %v, want the crash", err)
		}
		s.Close()
		s, err := store.Open(t.Context(), store.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a = New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
		if err := a.LoadState(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, b := range batches[1:] {
			if err := a.apply(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		compareTables(t, want, dumpTables(t, s, historyTables))
	})
}

func dumpTables(t *testing.T, s *store.Store, tables []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		out[table] = dumpTable(t, s, table)
		if out[table] == "" {
			t.Errorf("%s: no rows", table)
		}
	}
	return out
}

func compareTables(t *testing.T, want, got map[string]string) {
	t.Helper()
	for table, w := range want {
		if got[table] != w {
			t.Errorf("%s differs:\nwant:\n%s\ngot:\n%s", table, w, got[table])
		}
	}
}
