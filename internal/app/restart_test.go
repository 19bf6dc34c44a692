package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/ingest"
)

// TestRestart_FromShutdownSnapshot: a clean shutdown writes a snapshot of
// aggregation's state, so the next start loads it and replays no journal
// row, and what was counted before the restart still counts once.
func TestRestart_FromShutdownSnapshot(t *testing.T) {
	ctx := context.Background()
	open := reopener(t)
	m, svc := open()
	syncVideo(t, svc)
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

// TestRestart_AfterImport: crowd import leaves a snapshot of the state it
// aggregated, so the server's next start replays none of its journal, and
// what it imported counts once.
func TestRestart_AfterImport(t *testing.T) {
	ctx := context.Background()
	open := reopener(t)
	m, svc := open()
	syncVideo(t, svc)
	cfg := m.Config
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	im, err := OpenImport(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]ingest.Event, 300)
	for i := range evs {
		evs[i] = ingest.Event{Line: i + 1, ID: fmt.Sprint("imp", i), Type: "view", VideoID: "vid", TS: time.Now().UTC().Add(-time.Hour), Source: "search"}
	}
	if res, err := im.Ingest.Ingest(ctx, evs, nil); err != nil || res.Accepted != len(evs) {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if err := im.AggregateAll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}

	m, _ = open()
	if snap, rows, _ := m.Aggregate.LoadedFrom(); !snap || rows != 0 {
		t.Fatalf("after an import: loaded from a snapshot %v, %d journal rows replayed; want the import's snapshot and none", snap, rows)
	}
	v, err := client.New(m.URL()).Video(ctx, "vid")
	if err != nil || v.Counts.Views != int64(len(evs)) {
		t.Fatalf("views after the import: %+v, %v", v, err)
	}
}

// syncVideo syncs the account mia and her video vid.
func syncVideo(t *testing.T, svc *client.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "mia", Title: "hello"}}); err != nil {
		t.Fatal(err)
	}
}

// reopener returns a function that opens a Main (openTestWith) on the same
// data dir each time.
func reopener(t *testing.T) func() (*Main, *client.Client) {
	dir := t.TempDir()
	return func() (*Main, *client.Client) {
		return openTestWith(t, func(m *Main) { m.Config.Data = dir })
	}
}

// TestOpen_LogFailsWhileStateLoads: the state starts loading as soon as
// the store is open, before the event log opens. A start whose event log
// cannot open fails, stops that load and releases the data dir, and the
// next start finds everything counted before it, once.
func TestOpen_LogFailsWhileStateLoads(t *testing.T) {
	ctx := context.Background()
	open := reopener(t)
	m, svc := open()
	syncVideo(t, svc)
	if _, err := svc.IngestNDJSON(ctx, strings.NewReader(views(300, 0, "vid"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "300 views", func() bool {
		v, err := client.New(m.URL()).Video(ctx, "vid")
		return err == nil && v.Counts.Views == 300
	})
	cfg := m.Config
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	failing := &Main{Config: cfg, Passwords: m.Passwords}
	failing.Config.NATSURL = "nats://127.0.0.1:1" // nothing listens there
	err := failing.Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "open event log") {
		t.Fatalf("Open with an event log it cannot reach: %v", err)
	}
	if failing.Aggregate == nil {
		t.Fatal("the aggregator was not made before the event log opened")
	}

	m, svc = open()
	if _, err := svc.IngestNDJSON(ctx, strings.NewReader(views(301, 0, "vid"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the one new view", func() bool {
		v, err := client.New(m.URL()).Video(ctx, "vid")
		return err == nil && v.Counts.Views == 301
	})
	// The batch is applied whole: had the 300 sent before counted again,
	// the views would have gone from 300 to 601 at once.
	if v, err := client.New(m.URL()).Video(ctx, "vid"); err != nil || v.Counts.Views != 301 {
		t.Fatalf("views after resending: %+v, %v", v, err)
	}
}
