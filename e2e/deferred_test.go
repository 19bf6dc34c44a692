package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/eventlog"
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

	// A backlog: the views go into the log while the server aggregates
	// partition 0 alone, which none of the videos they are of falls in;
	// the server started next, on every partition, finds 600,000 views
	// waiting, about 45 MB of log, more than the 32 MiB a batch takes
	// (eventlog's consumeBatchBytes), so its first batch has more behind
	// it. Each request's views are of one video, so its messages are full
	// ones. (Holding aggregation off by a transaction on the database's
	// write lock instead left it to chance: a batch fetched before the
	// lock could take most of the backlog, and the server's own writers
	// timed out behind the lock.)
	const videos, viewers, requests, perRequest = 400, 50, 60, 10_000 // syncCrashWorld makes 50 viewers
	var backlogVideos []string
	for v := range videos {
		if id := fmt.Sprint("video-", v); eventlog.PartitionOf(id, eventlog.DefaultPartitions) != 0 {
			backlogVideos = append(backlogVideos, id)
		}
	}
	p, token := StartWithToken(t, data, append(slices.Clone(flags), "--aggregate-partitions", "0")...)
	svc := p.Client().WithToken(token)
	// syncCrashWorld's creator and viewers, and the creator able to log
	// in to read its report.
	syncCrashWorld(t, svc, videos)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "creator", Type: "business", Password: "password-creator"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	viewed := map[string]bool{}
	for r := range requests {
		video := backlogVideos[r%len(backlogVideos)]
		viewed[video] = true
		evs := make([]client.Event, perRequest)
		for i := range evs {
			ts := now.Add(-time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
			evs[i] = client.Event{ID: fmt.Sprintf("r%d-%d", r, i), Type: "view", VideoID: video,
				AccountID: fmt.Sprint("viewer-", rng.IntN(viewers)), TS: ts.Format(time.RFC3339), Source: "for_you", WatchMS: 1000}
		}
		if res, err := ingest(ctx, svc, evs); err != nil || res.Accepted != perRequest {
			t.Fatalf("request %d: %+v, %v", r, res, err)
		}
	}
	if m := scrape(t, p); m["crowd_aggregation_applied_events_total"] != 0 {
		t.Fatalf("partition 0's aggregator applied %v of the views: the backlog is not one", m["crowd_aggregation_applied_events_total"])
	}
	p.Stop(t)
	// Watched from the moment it listens: it is ready only once it caught
	// up, and by then nothing waits deferred.
	p = StartListening(t, data, flags...)

	// Killed as soon as the metrics say rows wait deferred. The operator's
	// listener answers 503 until the data dir is open.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, _ := get(t, p.AdminURL+"/metrics"); resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
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
		for v := range viewed {
			got, err := anon.Video(ctx, v)
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
