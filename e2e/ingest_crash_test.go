package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestIngestCrash ingests batches while the server is killed with SIGKILL
// at random moments, several times. The client retries every batch that was
// not acknowledged, as a platform would. In the end every event must be
// counted exactly once: nothing acknowledged lost, nothing counted twice.
func TestIngestCrash(t *testing.T) {
	ingestCrash(t, crashRun{flags: []string{"--disclosure", "exact"}, batches: 60, perBatch: 1000, seed: 7, kills: 4, killAfter: 100 * time.Millisecond})
}

// TestIngestCrash_Spilling is TestIngestCrash with the smallest state
// limit, so that aggregation's event ids and viewer-days spill to the
// database in steps all the time, while the server is killed with SIGKILL
// at random moments: every event counts exactly once, and every batch sent
// again at the end (ids long spilled) is all duplicates and changes no
// count.
func TestIngestCrash_Spilling(t *testing.T) {
	ingestCrash(t, crashRun{flags: []string{"--disclosure", "exact", "--state-limit", "1000"}, batches: 40, perBatch: 500, seed: 9, kills: 3, killAfter: 200 * time.Millisecond, resend: true})
}

// TestIngestCrash_History is TestIngestCrash with views spread over ten
// days, so that exact mode's viewers' history (on SQLite in history.db,
// written beside the batch and committed before it) links each viewer's
// days: after the kills every video's distinct viewers, read from a
// business creator's report, are exact. (A kill between a batch's two
// commits, undone at the start, is caught for sure by the rollup
// package's TestHistoryApart_FailedBetweenCommits; here it is one of the
// moments a kill may land.)
func TestIngestCrash_History(t *testing.T) {
	ingestCrash(t, crashRun{flags: []string{"--disclosure", "exact"}, batches: 40, perBatch: 500, seed: 13, kills: 4, killAfter: 100 * time.Millisecond, days: 10})
}

// crashRun is one ingest crash test: a server started with flags gets
// batches of perBatch views while it is killed kills times, each at
// killAfter plus up to four times that; resend sends every batch again at
// the end. Views are of today, or spread over the last days days, and
// then each video's distinct viewers are checked too.
type crashRun struct {
	flags             []string
	batches, perBatch int
	seed              uint64
	kills             int32
	killAfter         time.Duration
	resend            bool
	days              int
}

func ingestCrash(t *testing.T, run crashRun) {
	ctx := context.Background()
	data := t.TempDir()
	flags := run.flags
	p, token := StartWithToken(t, data, flags...)
	svc := p.Client().WithToken(token)
	const videos = 10
	syncCrashWorld(t, svc, videos)
	if run.days > 1 { // distinct viewers are in a business creator's reports
		if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "creator", Type: "business", Password: "password-creator"}}); err != nil {
			t.Fatal(err)
		}
	}

	batches, perBatch := run.batches, run.perBatch
	body, want, viewers := viewBatchesOver("b", run.seed, batches, perBatch, videos, max(run.days, 1))

	var kills atomic.Int32
	retried, fromSnapshot := 0, 0
	next := 0
	for next < batches {
		// Kill the server at a random moment while batches flow.
		killed := make(chan struct{})
		round := kills.Load() < run.kills
		if round {
			go func(p *Process) {
				time.Sleep(run.killAfter + rand.N(4*run.killAfter))
				p.Kill(t)
				kills.Add(1)
				close(killed)
			}(p)
		}
		c := client.New(p.URL).WithToken(token)
		for next < batches {
			res, err := ingest(ctx, c, body[next])
			if err != nil {
				retried++
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
			if loaded, _ := loadedLine(t, p); loaded.Snapshot {
				fromSnapshot++
			}
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
	if run.resend {
		// Everything again: the ids are in memory or spilled, and all
		// count as duplicates, in the answer and in aggregation.
		c := client.New(p.URL).WithToken(token)
		for b := range body {
			if _, err := ingest(ctx, c, body[b]); err != nil {
				t.Fatalf("resend batch %d: %v", b, err)
			}
		}
		// A marker after them: once it is counted, the resent batches
		// are aggregated too (one partition per video, in order).
		for v := 0; v < videos; v++ {
			want[v]++
			if _, err := c.Ingest(ctx, []client.Event{{ID: fmt.Sprint("marker-", v), Type: "view", VideoID: fmt.Sprint("video-", v),
				AccountID: "viewer-0", TS: time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), Source: "for_you", WatchMS: 1000}}); err != nil {
				t.Fatal(err)
			}
		}
		Eventually(t, "the markers counted", counted)
	}
	// And not more, a moment later.
	time.Sleep(500 * time.Millisecond)
	for v := 0; v < videos; v++ {
		got, _ := anon.Video(ctx, fmt.Sprint("video-", v))
		if got.Counts.Views != want[v] {
			t.Fatalf("video-%d: %d views, want %d", v, got.Counts.Views, want[v])
		}
	}
	if run.days > 1 {
		creator := p.Client().WithToken(mustLoginToken(t, p.Client(), "creator"))
		for v := 0; v < videos; v++ {
			rep, err := creator.VideoAnalytics(ctx, fmt.Sprint("video-", v), client.Range{Last: "28d"})
			if err != nil || rep.Viewers == nil {
				t.Fatalf("video-%d: no viewers (%v)", v, err)
			}
			if *rep.Viewers != viewers[v] {
				t.Fatalf("video-%d: %d viewers, want %d", v, *rep.Viewers, viewers[v])
			}
		}
	}
	t.Logf("%d kills, %d batches of %d events, %d batches retried, %d restarts from a snapshot of the aggregation state", kills.Load(), batches, perBatch, retried, fromSnapshot)
}

// TestIngestCrash_SplitPartitions is TestIngestCrash for two processes on
// PostgreSQL and NATS that split the event log's partitions (0-7 and
// 8-15): batches go to both in turn while one or the other is killed with
// SIGKILL at random moments; unacknowledged batches are retried; every
// event counts exactly once, read through either process.
func TestIngestCrash_SplitPartitions(t *testing.T) {
	ctx := context.Background()
	base := scaleOutFlags(t)
	data := []string{t.TempDir(), t.TempDir()}
	flags := [][]string{append(slices.Clone(base), "--aggregate-partitions", "0-7"), append(slices.Clone(base), "--aggregate-partitions", "8-15")}
	procs := []*Process{Start(t, data[0], flags[0]...)}
	shareSecrets(t, data[0], data[1])
	procs = append(procs, Start(t, data[1], flags[1]...))
	token := ServiceToken(t, data[0], base[2:4]...) // --postgres-url
	svc := procs[0].Client().WithToken(token)
	const videos = 10 // video-0 … video-9 fall in both halves of the 16 partitions
	syncCrashWorld(t, svc, videos)
	const batches, perBatch = 160, 400
	body, want := viewBatches("s", 8, batches, perBatch, videos)
	kills, next := 0, 0
	// Four kills, alternating, whether or not batches are left to send (a
	// kill after the last batch hits aggregation catching up).
	for next < batches || kills < 4 {
		victim := kills % 2
		killed := make(chan struct{})
		round := kills < 4
		if round {
			go func(p *Process) {
				time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
				p.Kill(t)
				close(killed)
			}(procs[victim])
		}
		for next < batches {
			c := client.New(procs[next%2].URL).WithToken(token)
			c.HTTP.Timeout = 5 * time.Second
			res, err := ingest(ctx, c, body[next])
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
			kills++
			procs[victim] = Start(t, data[victim], flags[victim]...)
		}
	}
	for _, p := range procs {
		Eventually(t, "every event counted exactly once at "+p.URL, func() bool {
			for v := 0; v < videos; v++ {
				got, err := p.Client().Video(ctx, fmt.Sprint("video-", v))
				if err != nil || got.Counts.Views != want[v] {
					return false
				}
			}
			return true
		})
	}
	time.Sleep(500 * time.Millisecond)
	for v := 0; v < videos; v++ {
		got, _ := procs[0].Client().Video(ctx, fmt.Sprint("video-", v))
		if got.Counts.Views != want[v] {
			t.Fatalf("video-%d: %d views, want %d", v, got.Counts.Views, want[v])
		}
	}
	t.Logf("%d kills, %d batches of %d events", kills, batches, perBatch)
}

// syncCrashWorld syncs a creator, 50 viewers (viewer-0 …) and the creator's
// videos video-0 … video-(videos-1).
func syncCrashWorld(t *testing.T, svc *client.Client, videos int) {
	t.Helper()
	ctx := context.Background()
	accounts := []client.SyncAccount{{ID: "creator", Handle: "creator"}}
	for i := 0; i < 50; i++ {
		accounts = append(accounts, client.SyncAccount{ID: fmt.Sprint("viewer-", i), Handle: fmt.Sprint("viewer", i), Country: "DE"})
	}
	if _, err := svc.SyncAccounts(ctx, accounts); err != nil {
		t.Fatal(err)
	}
	var vs []client.SyncVideo
	for i := 0; i < videos; i++ {
		vs = append(vs, client.SyncVideo{ID: fmt.Sprint("video-", i), Owner: "creator", Title: "v"})
	}
	if _, err := svc.SyncVideos(ctx, vs); err != nil {
		t.Fatal(err)
	}
}
