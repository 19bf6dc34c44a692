package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestCreatorRowsDeferred: a backlog larger than one batch of the log
// makes aggregation defer creators' rows (internal/rollup/deferred.go),
// which the operator's metrics show. The server is killed with SIGKILL as
// soon as rows wait deferred; after the restart, once aggregation caught
// up, the creator's exact report through HTTP counts every view once, as
// the videos' own counts do: the deferred rows were written, and once.
func TestCreatorRowsDeferred(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	flags := []string{"--disclosure", "exact", "--max-lag", "10m"}
	p, token := StartWithToken(t, data, flags...)
	svc := p.Client().WithToken(token)

	// syncCrashWorld's creator and viewers, and the creator able to log
	// in to read its report.
	const videos, viewers, requests, perRequest = 400, 50, 60, 10_000 // syncCrashWorld makes 50 viewers
	syncCrashWorld(t, svc, videos)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "creator", Type: "business", Password: "password-creator"}}); err != nil {
		t.Fatal(err)
	}

	// A backlog: aggregation is held off by a transaction that holds the
	// database's write lock while 600,000 views go into the log, about
	// 45 MB of it, more than the 32 MiB a batch takes (eventlog's
	// consumeBatchBytes). Each request's views are of one video, so its
	// messages are full ones (ingestion never writes to the database).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "crowd.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	for r := range requests {
		evs := make([]client.Event, perRequest)
		for i := range evs {
			ts := now.Add(-time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
			evs[i] = client.Event{ID: fmt.Sprintf("r%d-%d", r, i), Type: "view", VideoID: fmt.Sprint("video-", r%videos),
				AccountID: fmt.Sprint("viewer-", rng.IntN(viewers)), TS: ts.Format(time.RFC3339), Source: "for_you", WatchMS: 1000}
		}
		if res, err := ingest(ctx, svc, evs); err != nil || res.Accepted != perRequest {
			t.Fatalf("request %d: %+v, %v", r, res, err)
		}
	}
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()

	// Killed as soon as the metrics say rows wait deferred.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := scrape(t, p)
		if m["crowd_aggregation_deferred_batches"] >= 1 {
			t.Logf("%v batches deferred so far, %v waiting, %v messages behind", m["crowd_aggregation_deferred_batches_total"], m["crowd_aggregation_deferred_batches"], m["crowd_aggregation_lag_messages"])
			break
		}
		if m["crowd_aggregation_lag_messages"] == 0 && m["crowd_aggregation_applied_events_total"] >= requests*perRequest || time.Now().After(deadline) {
			t.Fatalf("no batch deferred its creators' rows: %v batches deferred in all, %v events applied, %v messages behind",
				m["crowd_aggregation_deferred_batches_total"], m["crowd_aggregation_applied_events_total"], m["crowd_aggregation_lag_messages"])
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Kill(t)

	p = Start(t, data, flags...)
	const want = requests * perRequest
	anon := p.Client()
	videoViews := func() int64 {
		var sum int64
		for v := range min(requests, videos) {
			got, err := anon.Video(ctx, fmt.Sprint("video-", v))
			if err != nil {
				t.Fatal(err)
			}
			sum += got.Counts.Views
		}
		return sum
	}
	creator := p.Client().WithToken(mustLoginToken(t, p.Client(), "creator"))
	creatorViews := func() int64 {
		var rep report
		if err := creator.Do(ctx, "GET", "/v1/analytics/account?range=28d", nil, &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Totals.Views
	}
	deadline = time.Now().Add(2 * time.Minute)
	for videoViews() != want || creatorViews() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the videos count %d views, the creator %d; want %d", videoViews(), creatorViews(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And not more, a moment later.
	time.Sleep(500 * time.Millisecond)
	if v, c := videoViews(), creatorViews(); v != want || c != want {
		t.Fatalf("the videos count %d views, the creator %d; want %d", v, c, want)
	}
}
