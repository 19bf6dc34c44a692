package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// TestScaleOut_DocumentedLayout runs the layout of docs/OPERATIONS.md
// ("Scale-out"): three processes with the documented environment (one
// PostgreSQL database, a real 3-node NATS cluster with three replicas, one
// shared secrets directory) and the documented flags (their own data dirs,
// partitions 0-5, 6-10 and 11-15), the service token made the documented
// way. Only what one machine needs differs: loopback addresses, temporary
// dirs, a stream of the test's own, exact mode. A world's events are spread
// over the three (every batch sent to two of them, and one viewer's views of
// a day through different processes, which must share that day's salt),
// and every process's reports must equal those of one `crowd serve` on
// SQLite that received the same events once.
func TestScaleOut_DocumentedLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and four servers")
	}
	ctx := context.Background()
	natsURL := strings.Join(testutil.StartNATSCluster(t, 3), ",")
	env := []string{
		"CROWD_POSTGRES_URL=" + testutil.PostgresURL(t),
		"CROWD_NATS_URL=" + natsURL,
		"CROWD_SECRETS_DIR=" + t.TempDir(),
		"CROWD_STREAM_REPLICAS=3",
		// Not in the documented layout: this test's own stream on the
		// cluster, and exact numbers to compare.
		"CROWD_NATS_STREAM=CROWD_LAYOUT_" + strings.ToUpper(testutil.RandomHex(4)),
		"CROWD_DISCLOSURE=exact",
	}
	// crowd token create --service --name platform
	cmd := exec.Command(binary, "token", "create", "--service", "--name", "platform", "--data", t.TempDir())
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	var procs []*Process
	for _, parts := range []string{"0-5", "6-10", "11-15"} {
		procs = append(procs, StartEnv(t, t.TempDir(), env, "--aggregate-partitions", parts))
	}
	single, singleTok := StartWithToken(t, t.TempDir(), "--disclosure", "exact")

	// The world, synced through one process of the fleet and to the single
	// process.
	w := layoutWorld()
	for _, c := range []*client.Client{procs[0].Client().WithToken(tok), single.Client().WithToken(singleTok)} {
		if res, err := c.SyncAccounts(ctx, w.accounts); err != nil || len(res.Rejected) > 0 {
			t.Fatalf("sync accounts: %+v %v", res, err)
		}
		if res, err := c.SyncVideos(ctx, w.videos); err != nil || len(res.Rejected) > 0 {
			t.Fatalf("sync videos: %+v %v", res, err)
		}
	}
	// The events: batch i goes to process i and i+1 (a platform retrying
	// against another instance); the single process gets each batch once.
	var wg sync.WaitGroup
	for i, b := range w.batches {
		for _, p := range []*Process{procs[i%3], procs[(i+1)%3]} {
			wg.Go(func() {
				res, err := ingest(ctx, p.Client().WithToken(tok), b)
				if err != nil || res.Accepted+res.Duplicates != len(b) {
					t.Errorf("batch %d: %+v %v\n%s", i, res, err, p.Logs())
				}
			})
		}
		if res, err := ingest(ctx, single.Client().WithToken(singleTok), b); err != nil || res.Accepted != len(b) {
			t.Fatalf("single, batch %d: %+v %v", i, res, err)
		}
	}
	wg.Wait()

	// Every process answers what the single one answers, once aggregation
	// everywhere has caught up.
	read := func(p *Process, tok, path string) (map[string]any, error) {
		var m map[string]any
		if err := p.Client().WithToken(tok).Do(ctx, "GET", path, nil, &m); err != nil {
			return nil, err
		}
		delete(m, "generated_at")
		return m, nil
	}
	paths := []string{"/v1/analytics/account?range=7d"}
	for _, v := range w.videos {
		paths = append(paths, "/v1/analytics/videos/"+v.ID+"?range=7d")
	}
	miaSingle := mustLoginToken(t, single.Client(), "mia")
	var mias []string
	for _, p := range procs {
		mias = append(mias, mustLoginToken(t, p.Client(), "mia"))
	}
	var diff string
	deadline := time.Now().Add(60 * time.Second)
	for {
		diff = ""
		for _, path := range paths {
			want, err := read(single, miaSingle, path)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range procs {
				got, err := read(p, mias[i], path)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					g, _ := json.Marshal(got["totals"])
					w, _ := json.Marshal(want["totals"])
					diff += fmt.Sprintf("process %d, %s: totals %s, single process %s\n", i, path, g, w)
				}
			}
		}
		if diff == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if diff != "" {
		t.Fatalf("the fleet's reports differ from the single process's:\n%s", diff)
	}
	// The numbers are the world's, not an agreement on nothing.
	var rep client.AnalyticsReport
	if err := procs[2].Client().WithToken(mias[2]).Do(ctx, "GET", "/v1/analytics/videos/lay0?range=7d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Views != w.views["lay0"] || rep.Viewers == nil || *rep.Viewers != w.viewers["lay0"] {
		t.Fatalf("lay0: views %d viewers %v, want %d and %d", rep.Totals.Views, rep.Viewers, w.views["lay0"], w.viewers["lay0"])
	}
}

type layout struct {
	accounts []client.SyncAccount
	videos   []client.SyncVideo
	batches  [][]client.Event
	views    map[string]int64 // by video
	viewers  map[string]int64 // distinct, by video
}

// layoutWorld is 40 viewers with demographics, six videos of mia, and
// views on two days, likes, shares and saves, in batches of mixed videos
// (so every partition owner gets some of each batch).
func layoutWorld() layout {
	w := layout{views: map[string]int64{}, viewers: map[string]int64{}}
	w.accounts = append(w.accounts, client.SyncAccount{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"})
	countries := []string{"DE", "FR", "US", "BR"}
	for i := range 40 {
		w.accounts = append(w.accounts, client.SyncAccount{ID: fmt.Sprint("lv", i), Handle: fmt.Sprint("viewer", i),
			BirthDate: fmt.Sprintf("%d-05-06", 1970+i), Gender: []string{"female", "male", "other"}[i%3], Country: countries[i%4]})
	}
	for v := range 6 {
		w.videos = append(w.videos, client.SyncVideo{ID: fmt.Sprint("lay", v), Owner: "mia", Title: fmt.Sprint("layout ", v)})
	}
	now := time.Now().UTC()
	days := []time.Time{now.Add(-26 * time.Hour), now.Add(-time.Hour)}
	var evs []client.Event
	seen := map[string]bool{}
	for i := range 40 {
		for v := range 6 {
			if (i+v)%3 == 0 {
				continue
			}
			video := fmt.Sprint("lay", v)
			for d, day := range days {
				if (i+d)%4 == 0 {
					continue
				}
				for k := range 1 + (i+v)%3 {
					evs = append(evs, client.Event{ID: fmt.Sprintf("l-%d-%d-%d-%d", i, v, d, k), Type: "view", VideoID: video,
						AccountID: fmt.Sprint("lv", i), TS: day.Add(time.Duration(k) * time.Minute).Format(time.RFC3339),
						Source: []string{"for_you", "search", "profile"}[k%3], WatchMS: 1000 * int64(1+k)})
					w.views[video]++
				}
				if !seen[video+fmt.Sprint(i)] {
					seen[video+fmt.Sprint(i)] = true
					w.viewers[video]++
				}
			}
			if (i+v)%5 == 0 {
				for _, typ := range []string{"like", "share", "save"} {
					ev := client.Event{ID: fmt.Sprintf("l-%s-%d-%d", typ, i, v), Type: typ, VideoID: video,
						AccountID: fmt.Sprint("lv", i), TS: days[1].Format(time.RFC3339)}
					if typ == "share" {
						ev.Channel = "sms"
					}
					evs = append(evs, ev)
				}
			}
		}
	}
	// Batches of 97 interleave videos, days and viewers, so one viewer's
	// views of one day land in batches sent to different processes.
	for i := 0; i < len(evs); i += 97 {
		w.batches = append(w.batches, evs[i:min(i+97, len(evs))])
	}
	return w
}
