package app

import (
	"context"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestRestart_FromShutdownSnapshot: a clean shutdown writes a snapshot of
// aggregation's state, so the next start loads it and replays no journal
// row, and what was counted before the restart still counts once.
func TestRestart_FromShutdownSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*Main, *client.Client) {
		return openTestWith(t, func(m *Main) { m.Config.Data = dir })
	}
	m, svc := open()
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "mia", Title: "hello"}}); err != nil {
		t.Fatal(err)
	}
	batch := views(500, 0, "vid")
	if _, err := svc.IngestNDJSON(ctx, strings.NewReader(batch)); err != nil {
		t.Fatal(err)
	}
	count := func(url string) int64 {
		v, err := client.New(url).Video(ctx, "vid")
		if err != nil {
			t.Fatal(err)
		}
		return v.Counts.Views
	}
	eventually(t, "500 views", func() bool { return count(m.URL()) == 500 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, svc = open()
	snap, rows, entries := m.Aggregate.LoadedFrom()
	if !snap || rows != 0 || entries != 0 {
		t.Fatalf("after a clean shutdown: loaded from a snapshot %v, %d journal rows (%d entries) replayed; want a snapshot and none", snap, rows, entries)
	}
	if ids, _, _ := m.Aggregate.StateStats(); ids < 500 {
		t.Fatalf("%d event ids loaded, want the 500 sent", ids)
	}
	// The same events again: duplicates, known from the snapshot.
	if _, err := svc.IngestNDJSON(ctx, strings.NewReader(batch+views(1, 500, "vid"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new view counted", func() bool { return count(m.URL()) == 501 })
	if n := count(m.URL()); n != 501 {
		t.Fatalf("views after resending: %d, want 501", n)
	}
}
