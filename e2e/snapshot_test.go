package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// stateLoaded is the "aggregation state loaded" log line.
type stateLoaded struct {
	Snapshot       bool `json:"snapshot"`
	JournalRows    int  `json:"journal_rows"`
	JournalEntries int  `json:"journal_entries"`
	EventIDs       int  `json:"event_ids"`
	ViewerDays     int  `json:"viewer_days"`
}

// loadedLine returns the process's "aggregation state loaded" line, and
// whether it came before "crowd ready".
func loadedLine(t *testing.T, p *Process) (stateLoaded, bool) {
	t.Helper()
	var out stateLoaded
	found := false
	for line := range strings.SplitSeq(p.Logs(), "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "aggregation state loaded":
			if err := json.Unmarshal([]byte(line), &out); err != nil {
				t.Fatal(err)
			}
			found = true
		case "crowd ready":
			if !found {
				return out, false
			}
		}
	}
	if !found {
		t.Fatalf("no state loaded line:\n%s", p.Logs())
	}
	return out, true
}

// viewBatches returns batches of views of video-0 … video-(videos-1) by
// viewer-0 … viewer-49, drawn from seed, and the views each video gets.
func viewBatches(prefix string, seed uint64, batches, perBatch, videos int) ([][]client.Event, []int64) {
	body, want, _ := viewBatchesOver(prefix, seed, batches, perBatch, videos, 1)
	return body, want
}

// viewBatchesOver is viewBatches with views spread over the last days
// days (a minute ago, less 0 to days-1 whole days): it also returns each
// video's distinct viewers.
func viewBatchesOver(prefix string, seed uint64, batches, perBatch, videos, days int) ([][]client.Event, []int64, []int64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	want := make([]int64, videos)
	viewers := make([]map[int]bool, videos)
	body := make([][]client.Event, batches)
	now := time.Now().UTC().Add(-time.Minute)
	for b := range body {
		for i := 0; i < perBatch; i++ {
			v, viewer := rng.IntN(videos), rng.IntN(50)
			ts := now
			if days > 1 {
				ts = now.AddDate(0, 0, -rng.IntN(days))
			}
			want[v]++
			if viewers[v] == nil {
				viewers[v] = map[int]bool{}
			}
			viewers[v][viewer] = true
			body[b] = append(body[b], client.Event{ID: fmt.Sprintf("%s%d-%d", prefix, b, i), Type: "view", VideoID: fmt.Sprint("video-", v),
				AccountID: fmt.Sprint("viewer-", viewer), TS: ts.Format(time.RFC3339), Source: "for_you", WatchMS: 1000})
		}
	}
	distinct := make([]int64, videos)
	for v := range distinct {
		distinct[v] = int64(len(viewers[v]))
	}
	return body, want, distinct
}

// sendAll ingests the batches through svc and waits until p counts want.
func sendAll(t *testing.T, svc *client.Client, p *Process, body [][]client.Event, want []int64) {
	t.Helper()
	for b := range body {
		if _, err := ingest(context.Background(), svc, body[b]); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, "every event counted", func() bool { return slices.Equal(viewsOf(t, p, len(want)), want) })
}

func viewsOf(t *testing.T, p *Process, videos int) []int64 {
	t.Helper()
	out := make([]int64, videos)
	for v := range out {
		got, err := p.Client().Video(context.Background(), fmt.Sprint("video-", v))
		if err != nil {
			return nil
		}
		out[v] = got.Counts.Views
	}
	return out
}

// TestRestartFromSnapshot: a server that wrote a snapshot of its
// aggregation state is killed with SIGKILL; the next start loads the
// snapshot and replays only the journal after it (far fewer entries than
// the events sent), is not ready before the state is loaded, and every
// event sent again is a duplicate.
func TestRestartFromSnapshot(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	// A small state limit makes snapshots due every few hundred entries
	// (a quarter of the limit), and spills.
	flags := []string{"--disclosure", "exact", "--state-limit", "1000"}
	p, token := StartWithToken(t, data, flags...)
	svc := p.Client().WithToken(token)
	const videos, batches, perBatch = 10, 20, 500
	syncCrashWorld(t, svc, videos)
	body, want := viewBatches("r", 5, batches, perBatch, videos)
	sendAll(t, svc, p, body, want)
	Eventually(t, "a snapshot written", func() bool { return strings.Contains(p.Logs(), "aggregation state snapshot written") })
	p.Kill(t)

	p = Start(t, data, flags...)
	loaded, beforeReady := loadedLine(t, p)
	if !loaded.Snapshot {
		t.Fatalf("restart did not load a snapshot: %+v", loaded)
	}
	if !beforeReady {
		t.Fatal("ready before the state was loaded")
	}
	if loaded.JournalEntries >= batches*perBatch {
		t.Fatalf("replayed %d journal entries after the snapshot; %d events were sent in all", loaded.JournalEntries, batches*perBatch)
	}
	svc = p.Client().WithToken(token)
	for b := range body {
		res, err := ingest(ctx, svc, body[b])
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted+res.Duplicates != perBatch {
			t.Fatalf("resent batch %d: %+v", b, res)
		}
	}
	// A marker after them: once it counts, the resent batches are
	// aggregated too (one partition per video, in order).
	for v := range videos {
		want[v]++
		if _, err := svc.Ingest(ctx, []client.Event{{ID: fmt.Sprint("marker-", v), Type: "view", VideoID: fmt.Sprint("video-", v),
			AccountID: "viewer-0", TS: time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), Source: "for_you", WatchMS: 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, "the markers counted", func() bool { return slices.Equal(viewsOf(t, p, videos), want) })
	t.Logf("restart: %+v", loaded)
}

// TestRestartFromSnapshot_SplitPartitions: two processes on PostgreSQL
// and NATS that split the log's partitions (0-7, 8-15) each write a
// snapshot of their own partitions; both are killed with SIGKILL and
// restarted, each loads its own snapshot, and every event sent again
// through either is a duplicate.
func TestRestartFromSnapshot_SplitPartitions(t *testing.T) {
	ctx := context.Background()
	base := append(scaleOutFlags(t), "--state-limit", "1000")
	data := []string{t.TempDir(), t.TempDir()}
	flags := [][]string{append(slices.Clone(base), "--aggregate-partitions", "0-7"), append(slices.Clone(base), "--aggregate-partitions", "8-15")}
	procs := []*Process{Start(t, data[0], flags[0]...)}
	shareSecrets(t, data[0], data[1])
	procs = append(procs, Start(t, data[1], flags[1]...))
	token := ServiceToken(t, data[0], base[2:4]...) // --postgres-url
	const videos, batches, perBatch = 10, 20, 500
	syncCrashWorld(t, procs[0].Client().WithToken(token), videos)
	body, want := viewBatches("p", 5, batches, perBatch, videos)
	for b := range body {
		if _, err := ingest(ctx, procs[b%2].Client().WithToken(token), body[b]); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		Eventually(t, "every event counted", func() bool { return slices.Equal(viewsOf(t, p, videos), want) })
		Eventually(t, "a snapshot written", func() bool { return strings.Contains(p.Logs(), "aggregation state snapshot written") })
	}
	for i := range procs {
		procs[i].Kill(t)
	}
	for i := range procs {
		procs[i] = Start(t, data[i], flags[i]...)
		if loaded, _ := loadedLine(t, procs[i]); !loaded.Snapshot || loaded.JournalEntries >= batches*perBatch {
			t.Fatalf("partitions %s: restart %+v", flags[i][len(flags[i])-1], loaded)
		}
	}
	for b := range body {
		res, err := ingest(ctx, procs[(b+1)%2].Client().WithToken(token), body[b])
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted+res.Duplicates != perBatch {
			t.Fatalf("resent batch %d: %+v", b, res)
		}
	}
	for v := range videos {
		want[v]++
		if _, err := procs[v%2].Client().WithToken(token).Ingest(ctx, []client.Event{{ID: fmt.Sprint("marker-", v), Type: "view", VideoID: fmt.Sprint("video-", v),
			AccountID: "viewer-0", TS: time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), Source: "for_you", WatchMS: 1000}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		Eventually(t, "the markers counted at "+p.URL, func() bool { return slices.Equal(viewsOf(t, p, videos), want) })
	}
}

// TestRestartAfterStop: a process stopped with SIGTERM writes a snapshot
// of its aggregation state on the way out, though none was due, so the
// next start loads it and replays no journal row; every event sent again
// is a duplicate.
func TestRestartAfterStop(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	flags := []string{"--disclosure", "exact"}
	p, token := StartWithToken(t, data, flags...)
	svc := p.Client().WithToken(token)
	const videos, batches, perBatch = 4, 4, 250
	syncCrashWorld(t, svc, videos)
	body, want := viewBatches("s", 5, batches, perBatch, videos)
	sendAll(t, svc, p, body, want)
	if strings.Contains(p.Logs(), "aggregation state snapshot written") {
		t.Fatal("a snapshot was due before the stop; the test needs one that is not")
	}
	p.Stop(t)
	if !strings.Contains(p.Logs(), "aggregation state snapshot written at shutdown") {
		t.Fatalf("no snapshot at shutdown:\n%s", p.Logs())
	}

	p = Start(t, data, flags...)
	loaded, _ := loadedLine(t, p)
	if !loaded.Snapshot || loaded.JournalRows != 0 || loaded.EventIDs != batches*perBatch {
		t.Fatalf("after a stop: %+v; want the snapshot, no journal row and %d event ids", loaded, batches*perBatch)
	}
	svc = p.Client().WithToken(token)
	for b := range body {
		res, err := ingest(ctx, svc, body[b])
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicates != perBatch {
			t.Fatalf("resent batch %d: %+v, want every event a duplicate", b, res)
		}
	}
}
