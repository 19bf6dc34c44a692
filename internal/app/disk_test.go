package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/security"
)

// openTest opens a Main on a temporary data dir, exact mode, with fault
// as its WriteFault, and returns it with a service-token client.
func openTest(t *testing.T, fault func() error) (*Main, *client.Client) {
	t.Helper()
	return openTestWith(t, func(m *Main) { m.WriteFault = fault })
}

// openTestWith is openTest with the Main set up by setup.
func openTestWith(t *testing.T, setup func(*Main)) (*Main, *client.Client) {
	t.Helper()
	cfg := config.Default()
	cfg.Addr, cfg.AdminAddr, cfg.Data = "127.0.0.1:0", "off", t.TempDir()
	cfg.Disclosure = config.Exact
	cfg.DiskReserveMiB = 0
	m := &Main{Config: cfg, Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	setup(m)
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := security.NewToken("crv")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Store.CreateServiceToken(t.Context(), security.NewID(), security.HashToken(tok), "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitReady(t, m.URL())
	return m, client.New(m.URL()).WithToken(tok)
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func views(n, from int, video string) string {
	var b strings.Builder
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"id":"e%d","type":"view","video_id":"%s","ts":"%s","source":"for_you"}`+"\n", i, video, ts)
	}
	return b.String()
}

// TestDiskFull_Injected makes every write of the store and the event log
// fail with ENOSPC (as a full disk does) and checks, through the HTTP
// API: bulk events and actions answer 503 disk_full with Retry-After in
// the JSON error shape and apply nothing; /readyz reports the full disk;
// once writes succeed again everything resumes by itself, without a
// restart.
func TestDiskFull_Injected(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	m, svc := openTest(t, func() error {
		if full.Load() {
			return fmt.Errorf("write: %w", syscall.ENOSPC)
		}
		return nil
	})
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "mia", Title: "hello"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IngestNDJSON(ctx, strings.NewReader(views(100, 0, "vid"))); err != nil {
		t.Fatal(err)
	}
	anon := client.New(m.URL())
	count := func() int64 {
		v, err := anon.Video(ctx, "vid")
		if err != nil {
			t.Fatal(err)
		}
		return v.Counts.Views
	}
	eventually(t, "100 views", func() bool { return count() == 100 })

	full.Store(true)
	// The first write meets the full disk; it and every later one are
	// refused whole.
	for i := range 3 {
		_, err := svc.IngestNDJSON(ctx, strings.NewReader(views(50, 1000+100*i, "vid")))
		e, ok := err.(*client.Error)
		if !ok || e.Status != 503 || e.Code != "disk_full" || e.RetryAfter == 0 {
			t.Fatalf("bulk events on a full disk (%d): %v", i, err)
		}
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid2", Owner: "mia", Title: "second"}}); client.StatusOf(err) != 503 {
		t.Fatalf("sync on a full disk: %v", err)
	}
	if err := anon.RecordView(ctx, "vid", client.View{Source: "for_you"}); client.StatusOf(err) != 503 {
		t.Fatalf("a view on a full disk: %v", err)
	}
	eventually(t, "/readyz reports the full disk", func() bool {
		err := anon.Do(ctx, "GET", "/readyz", nil, nil)
		e, ok := err.(*client.Error)
		return ok && e.Status == 503 && strings.Contains(e.Message, "disk full")
	})

	full.Store(false)
	waitReady(t, m.URL())
	// Nothing of the refused requests was applied.
	if n := count(); n != 100 {
		t.Fatalf("views after the full disk: %d, want 100", n)
	}
	if err := anon.Do(ctx, "GET", "/v1/videos/vid2", nil, nil); client.StatusOf(err) != 404 {
		t.Fatalf("video of a refused sync: %v", err)
	}
	// Ingestion resumes: the refused batches sent again count once.
	for i := range 3 {
		res, err := svc.IngestNDJSON(ctx, strings.NewReader(views(50, 1000+100*i, "vid")))
		if err != nil || res.Accepted != 50 {
			t.Fatalf("bulk events after the full disk: %+v, %v", res, err)
		}
	}
	if err := anon.RecordView(ctx, "vid", client.View{Source: "for_you"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "views counted after the full disk", func() bool { return count() == 251 })
}

// TestDiskFull_BatchFailsPartWay fails the event log's writes from the
// third message of a bulk batch on (ENOSPC injected; the batch spans
// messages of all 16 partitions), as a disk filling while the batch is
// stored would: the request answers 503 disk_full, and once writes
// succeed again nothing of the batch is counted until it is sent again;
// sent again (twice) each event counts once.
func TestDiskFull_BatchFailsPartWay(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	var armed atomic.Bool
	m, svc := openTestWith(t, func(m *Main) {
		m.LogWriteFault = func() error {
			if armed.Load() && calls.Add(1) >= 3 {
				return fmt.Errorf("write: %w", syscall.ENOSPC)
			}
			return nil
		}
	})
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}}); err != nil {
		t.Fatal(err)
	}
	const nvideos, perVideo = 40, 50
	var videos []client.SyncVideo
	var batch strings.Builder
	for v := range nvideos {
		id := fmt.Sprint("vid", v)
		videos = append(videos, client.SyncVideo{ID: id, Owner: "mia", Title: id})
		batch.WriteString(views(perVideo, 1000*v, id))
	}
	videos = append(videos, client.SyncVideo{ID: "marker", Owner: "mia", Title: "marker"})
	if _, err := svc.SyncVideos(ctx, videos); err != nil {
		t.Fatal(err)
	}
	anon := client.New(m.URL())
	viewsOf := func(id string) int64 {
		v, err := anon.Video(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v.Counts.Views
	}
	total := func() (n int64) {
		for _, v := range videos[:nvideos] {
			n += viewsOf(v.ID)
		}
		return n
	}
	// markerSeen sends one view of the marker video and waits until it
	// is counted: aggregation reads the log in order, so everything
	// logged before it is counted by then.
	marker := 0
	markerSeen := func() {
		t.Helper()
		marker++
		if _, err := svc.IngestNDJSON(ctx, strings.NewReader(views(1, 900000+marker, "marker"))); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the marker view counted", func() bool { return viewsOf("marker") == int64(marker) })
	}

	armed.Store(true)
	_, err := svc.IngestNDJSON(ctx, strings.NewReader(batch.String()))
	if e, ok := err.(*client.Error); !ok || e.Status != 503 || e.Code != "disk_full" || e.RetryAfter == 0 {
		t.Fatalf("a batch the log fails part-way: %v", err)
	}
	if calls.Load() < 3 {
		t.Fatalf("the log sent %d messages of the batch; the test needs it to fail at the third", calls.Load())
	}
	armed.Store(false)
	waitReady(t, m.URL())
	markerSeen()
	if n := total(); n != 0 {
		t.Fatalf("%d views of the refused batch counted before it was sent again", n)
	}
	for i := range 2 {
		res, err := svc.IngestNDJSON(ctx, strings.NewReader(batch.String()))
		if err != nil {
			t.Fatalf("the batch sent again (%d): %v", i, err)
		}
		if res.Accepted+res.Duplicates != nvideos*perVideo {
			t.Fatalf("the batch sent again (%d): %+v", i, res)
		}
	}
	markerSeen()
	if n := total(); n != nvideos*perVideo {
		t.Fatalf("%d views counted after the batch was sent again twice, want %d", n, nvideos*perVideo)
	}
}

func eventually(t *testing.T, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
