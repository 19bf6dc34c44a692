package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestIngestCrash_Spilling is TestIngestCrash with the smallest state
// limit, so that aggregation's event ids and viewer-days spill to the
// database in steps all the time, while the server is killed with SIGKILL
// at random moments: every event counts exactly once, and every batch sent
// again at the end (ids long spilled) is all duplicates and changes no
// count.
func TestIngestCrash_Spilling(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	flags := []string{"--disclosure", "exact", "--state-limit", "1000"}
	p, token := StartWithToken(t, data, flags...)
	svc := p.Client().WithToken(token)
	const videos = 10
	syncCrashWorld(t, svc, videos)

	const batches, perBatch = 40, 500
	rng := rand.New(rand.NewPCG(9, 9))
	want := make([]int64, videos)
	body := make([][]client.Event, batches)
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	for b := range body {
		for i := 0; i < perBatch; i++ {
			v := rng.IntN(videos)
			want[v]++
			body[b] = append(body[b], client.Event{ID: fmt.Sprintf("sp%d-%d", b, i), Type: "view", VideoID: fmt.Sprint("video-", v),
				AccountID: fmt.Sprint("viewer-", rng.IntN(50)), TS: now, Source: "for_you", WatchMS: 1000})
		}
	}

	var kills atomic.Int32
	next := 0
	for next < batches {
		killed := make(chan struct{})
		round := kills.Load() < 3
		if round {
			go func(p *Process) {
				time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
				p.Kill(t)
				kills.Add(1)
				close(killed)
			}(p)
		}
		c := client.New(p.URL).WithToken(token)
		for next < batches {
			res, err := c.Ingest(ctx, body[next])
			if err != nil {
				break // not acknowledged: retry it after the restart
			}
			if res.Accepted+res.Duplicates != perBatch || len(res.Rejected) != 0 {
				t.Fatalf("batch %d: %+v", next, res)
			}
			next++
		}
		if round {
			<-killed
			p = Start(t, data, flags...)
		}
	}
	if kills.Load() == 0 {
		t.Fatal("the server was never killed")
	}
	anon := p.Client()
	counted := func() bool {
		for v := 0; v < videos; v++ {
			got, err := anon.Video(ctx, fmt.Sprint("video-", v))
			if err != nil || got.Counts.Views != want[v] {
				return false
			}
		}
		return true
	}
	Eventually(t, "every event counted exactly once", counted)

	// Everything again: the ids are in memory or spilled, and all count
	// as duplicates, in the answer and in aggregation.
	c := client.New(p.URL).WithToken(token)
	for b := range body {
		if _, err := c.Ingest(ctx, body[b]); err != nil {
			t.Fatalf("resend batch %d: %v", b, err)
		}
	}
	// A marker after them: once it is counted, the resent batches are
	// aggregated too (one partition per video, in order).
	for v := 0; v < videos; v++ {
		want[v]++
		if _, err := c.Ingest(ctx, []client.Event{{ID: fmt.Sprint("marker-", v), Type: "view", VideoID: fmt.Sprint("video-", v),
			AccountID: "viewer-0", TS: now, Source: "for_you", WatchMS: 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, "the markers counted", counted)
	for v := 0; v < videos; v++ {
		got, _ := anon.Video(ctx, fmt.Sprint("video-", v))
		if got.Counts.Views != want[v] {
			t.Fatalf("video-%d: %d views after resending everything, want %d", v, got.Counts.Views, want[v])
		}
	}
	t.Logf("%d kills, %d batches of %d events", kills.Load(), batches, perBatch)
}
