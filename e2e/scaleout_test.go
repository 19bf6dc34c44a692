package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// TestScaleOut runs the binary against external PostgreSQL and NATS
// JetStream, restarts it, and checks that nothing was lost or counted twice
// and that aggregation resumes from its checkpoint.
func TestScaleOut(t *testing.T) {
	ctx := context.Background()
	flags := scaleOutFlags(t)
	data := t.TempDir()

	p := Start(t, data, flags...)
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia")
	leo := MustUser(t, anonC, "leo")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "scale"})
	if err != nil {
		t.Fatal(err)
	}
	leo.Like(ctx, v.ID)
	leo.Save(ctx, v.ID)
	leo.Share(ctx, v.ID, "telegram")
	for i := 0; i < 5; i++ {
		if err := leo.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 100}); err != nil {
			t.Fatal(err)
		}
	}
	want := client.Counts{Views: 5, Likes: 1, Shares: 1, Saves: 1}
	Eventually(t, "counts on PostgreSQL + NATS", func() bool {
		got, err := anonC.Video(ctx, v.ID)
		return err == nil && *got.Counts == want
	})
	p.Stop(t)

	// A second process on the same database and stream: the state is
	// there, the checkpoint holds, and new events count once.
	p2 := Start(t, data, flags...)
	c2 := p2.Client()
	leo2 := c2.WithToken(leo.Token)
	if err := leo2.RecordView(ctx, v.ID, client.View{Source: "profile"}); err != nil {
		t.Fatal(err)
	}
	want.Views = 6
	Eventually(t, "counts after restart", func() bool {
		got, err := c2.Video(ctx, v.ID)
		return err == nil && *got.Counts == want
	})
}

// scaleOutFlags returns the flags of a process on the test PostgreSQL
// database and a fresh stream of the test NATS server, removed at the end.
func scaleOutFlags(t *testing.T) []string {
	pg := testutil.PostgresURL(t)
	natsURL := testutil.NATSURL()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		if testutil.Required() {
			t.Fatalf("NATS at %s is required in CI: %v", natsURL, err)
		}
		t.Skipf("NATS not reachable: %v", err)
	}
	stream := "CROWD_TEST_" + strings.ToUpper(testutil.RandomHex(6))
	t.Cleanup(func() {
		js, _ := jetstream.New(nc)
		js.DeleteStream(context.Background(), stream)
		nc.Close()
	})
	return []string{"--disclosure", "exact", "--postgres-url", pg, "--nats-url", natsURL, "--nats-stream", stream}
}

// TestScaleOut_TwoProcesses runs two processes on one database and one
// stream at the same time, both aggregating, and sends each half of a
// history and the other half again (a platform retrying against another
// instance): every event counts once, and both processes answer the same.
func TestScaleOut_TwoProcesses(t *testing.T) {
	ctx := context.Background()
	flags := scaleOutFlags(t)
	data1, data2 := t.TempDir(), t.TempDir()
	p1 := Start(t, data1, flags...)
	// Processes of one deployment share the secrets directory (the keyed
	// and daily-salted pseudonyms must agree).
	shareSecrets(t, data1, data2)
	p2 := Start(t, data2, flags...)
	tok := ServiceToken(t, data1, flags[2:4]...) // --postgres-url
	svc1, svc2 := p1.Client().WithToken(tok), p2.Client().WithToken(tok)
	syncViewers(t, svc1)
	if _, err := svc1.SyncVideos(ctx, []client.SyncVideo{{ID: "v1", Owner: "mia", Title: "one"}, {ID: "v2", Owner: "mia", Title: "two"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	batch := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, `{"id":"two-%d","type":"view","video_id":"v%d","account_id":"u%d","ts":"%s","source":"for_you","watch_ms":1000}`+"\n", i, 1+i%2, i%50, ts)
		}
		return b.String()
	}
	const n = 2000
	var wg sync.WaitGroup
	for i, c := range []*client.Client{svc1, svc2, svc2, svc1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			half := (i % 2) * n / 2 // svc1 sends the first half, then svc2 it again
			for from := half; from < half+n/2; from += 250 {
				if _, err := c.IngestNDJSON(ctx, strings.NewReader(batch(from, from+250))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// Both processes have applied the whole log (each its own batches or,
	// losing the race for a batch, the other's journal).
	time.Sleep(300 * time.Millisecond) // the lag gauge is refreshed every 250 ms
	for _, p := range []*Process{p1, p2} {
		Eventually(t, "aggregation caught up at "+p.URL, func() bool { return metric(t, p, "crowd_aggregation_lag_messages") == 0 })
	}
	for _, p := range []*Process{p1, p2} {
		for _, v := range []string{"v1", "v2"} {
			got, err := p.Client().Video(ctx, v)
			if err != nil || got.Counts.Views != n/2 {
				t.Fatalf("%s seen from %s: %+v, %v; want %d views", v, p.URL, got, err, n/2)
			}
		}
		// Each process knows every event id, its own or from the other's
		// journal.
		if ids := metric(t, p, "crowd_aggregation_event_ids"); ids != n {
			t.Fatalf("%s holds %d event ids, want %d", p.URL, ids, n)
		}
		// Losing a race is routine, not an error (nor a retried failure).
		if logs := p.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
			t.Fatalf("%s logged errors:\n%s", p.URL, logs)
		}
	}
}

// metric reads a gauge from /metrics on p's operator listener.
func metric(t *testing.T, p *Process, name string) int {
	resp, err := http.Get(p.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /metrics (%s)", name, resp.Status)
	return 0
}

// TestScaleOut_SplitPartitions runs two processes that split the event
// log's partitions between them (--aggregate-partitions 0-7 and 8-15):
// bulk events (on their videos' partition subjects), the same again through
// the other process, and single views (group-committed into messages that
// mix partitions) all count once, each process holding only its
// partitions' state. Then a process of all partitions replaces one of them
// while the other still runs (the split changed, and overlaps): still
// every event counts once.
func TestScaleOut_SplitPartitions(t *testing.T) {
	ctx := context.Background()
	flags := scaleOutFlags(t)
	data1, data2 := t.TempDir(), t.TempDir()
	p1 := Start(t, data1, append(flags, "--aggregate-partitions", "0-7")...)
	shareSecrets(t, data1, data2)
	p2 := Start(t, data2, append(flags, "--aggregate-partitions", "8-15")...)
	tok := ServiceToken(t, data1, flags[2:4]...) // --postgres-url
	svc1, svc2 := p1.Client().WithToken(tok), p2.Client().WithToken(tok)
	syncViewers(t, svc1)
	// v2, v4, v5 and v8 are in partitions 0-7, the others in 8-15.
	const videos = 8
	var sv []client.SyncVideo
	for i := 1; i <= videos; i++ {
		sv = append(sv, client.SyncVideo{ID: fmt.Sprint("v", i), Owner: "mia", Title: "split"})
	}
	if _, err := svc1.SyncVideos(ctx, sv); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	batch := func(prefix string, from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, `{"id":"%s-%d","type":"view","video_id":"v%d","account_id":"u%d","ts":"%s","source":"for_you","watch_ms":1000}`+"\n", prefix, i, 1+i%videos, i%50, ts)
		}
		return b.String()
	}
	send := func(c *client.Client, prefix string, from, to int) {
		for f := from; f < to; f += 200 {
			if _, err := c.IngestNDJSON(ctx, strings.NewReader(batch(prefix, f, min(f+200, to)))); err != nil {
				t.Error(err)
			}
		}
	}
	const n = 1600
	var wg sync.WaitGroup
	wg.Go(func() { send(svc1, "split", 0, n) })
	wg.Go(func() { send(svc2, "split", 0, n) }) // all again, through the other process
	viewer := MustUser(t, p2.Client(), "leo")
	wg.Go(func() {
		for range 3 {
			for i := 1; i <= videos; i++ {
				if err := viewer.RecordView(ctx, fmt.Sprint("v", i), client.View{Source: "search", WatchMS: 100}); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	views := func(want int64) {
		t.Helper()
		for _, p := range []*Process{p1, p2} {
			for i := 1; i <= videos; i++ {
				v := fmt.Sprint("v", i)
				Eventually(t, fmt.Sprintf("%s has %d views at %s", v, want, p.URL), func() bool {
					got, err := p.Client().Video(ctx, v)
					return err == nil && got.Counts.Views == want
				})
			}
		}
	}
	views(n/videos + 3)
	time.Sleep(300 * time.Millisecond) // the lag gauge is refreshed every 250 ms
	total := 0
	for _, p := range []*Process{p1, p2} {
		Eventually(t, "aggregation caught up at "+p.URL, func() bool { return metric(t, p, "crowd_aggregation_lag_messages") == 0 })
		// Each holds the ids of its partitions' events only: half the
		// videos each.
		ids := metric(t, p, "crowd_aggregation_event_ids")
		if want := (n + 3*videos) / 2; ids != want {
			t.Errorf("%s holds %d event ids, want %d (its partitions' events)", p.URL, ids, want)
		}
		total += ids
		if n := metric(t, p, "crowd_aggregation_stalled_partitions"); n != 0 {
			t.Errorf("%s reports %d stalled partitions", p.URL, n)
		}
		if logs := p.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
			t.Fatalf("%s logged errors:\n%s", p.URL, logs)
		}
	}
	if total != n+3*videos {
		t.Fatalf("%d event ids in all, want %d", total, n+3*videos)
	}

	// p2 gives way to a process of every partition while p1 keeps its
	// half: the new one starts from each partition's checkpoint, knows
	// every id from both journals, and races p1 for partitions 0-7.
	p2.Stop(t)
	p3 := Start(t, data2, flags...)
	svc3 := p3.Client().WithToken(tok)
	wg.Go(func() { send(svc3, "split", 0, n) })  // duplicates
	wg.Go(func() { send(svc3, "more", 0, n) })   // new
	wg.Go(func() { send(svc1, "more", n/2, n) }) // new, again
	wg.Go(func() { send(svc1, "more", 0, n/2) }) // and the rest
	wg.Wait()
	for _, p := range []*Process{p1, p3} {
		p := p
		for i := 1; i <= videos; i++ {
			v := fmt.Sprint("v", i)
			Eventually(t, fmt.Sprintf("%s has its views at %s after the change", v, p.URL), func() bool {
				got, err := p.Client().Video(ctx, v)
				return err == nil && got.Counts.Views == 2*n/videos+3
			})
		}
		if logs := p.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
			t.Fatalf("%s logged errors:\n%s", p.URL, logs)
		}
	}
}

// syncViewers syncs 50 viewers (u0 … u49) and mia, a business account.
func syncViewers(t *testing.T, svc *client.Client) {
	t.Helper()
	var accounts []client.SyncAccount
	for i := range 50 {
		accounts = append(accounts, client.SyncAccount{ID: fmt.Sprint("u", i), Handle: fmt.Sprint("user", i), BirthDate: "1990-01-01", Gender: "female", Country: "DE"})
	}
	accounts = append(accounts, client.SyncAccount{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"})
	if _, err := svc.SyncAccounts(context.Background(), accounts); err != nil {
		t.Fatal(err)
	}
}

// shareSecrets copies the secrets dir of the data dir from into the data
// dir to: processes of one deployment share it (the keyed and
// daily-salted pseudonyms must agree).
func shareSecrets(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(to, "secrets"), os.DirFS(filepath.Join(from, "secrets"))); err != nil {
		t.Fatal(err)
	}
}
