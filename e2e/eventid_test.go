package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestEventIDsNotStored: the platform's event ids may embed account ids, so
// Crowd keeps only a keyed hash of them: after an event is logged and
// aggregated, no file under the data dir (the event log, the database)
// holds its id. Deduplication still works, across a restart too.
func TestEventIDsNotStored(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data, "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"},
		{ID: "u1", Handle: "user1", Country: "DE"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "vid", Owner: "mia", Title: "hello"}}); err != nil {
		t.Fatal(err)
	}
	const secret = "acct-4417-zq9x-view"
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	ingest := func(id string) client.IngestResult {
		t.Helper()
		line := `{"id":"` + id + `","type":"view","video_id":"vid","account_id":"u1","ts":"` + ts + `","source":"for_you"}`
		res, err := svc.IngestNDJSON(ctx, strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		return *res
	}
	views := func(p *Process) int64 {
		s, err := p.Client().Login(ctx, "mia", "password-mia")
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Totals struct{ Views int64 } `json:"totals"`
		}
		if err := p.Client().WithToken(s.Token).Do(ctx, "GET", "/v1/analytics/videos/vid?range=7d", nil, &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Totals.Views
	}
	if res := ingest(secret); res.Accepted != 1 {
		t.Fatalf("first post: %+v", res)
	}
	Eventually(t, "the view is aggregated", func() bool { return views(p) == 1 })
	if res := ingest(secret); res.Accepted != 0 || res.Duplicates != 1 {
		t.Fatalf("retry: %+v, want a duplicate", res)
	}

	// After a restart the same id is still a duplicate (reported, or at
	// least not counted: a later event of the same video is counted after
	// it, in order).
	p.Stop(t)
	p = Start(t, data, "--disclosure", "exact")
	svc = p.Client().WithToken(svc.Token)
	ingest(secret)
	if res := ingest("another-event"); res.Accepted != 1 {
		t.Fatalf("another event: %+v", res)
	}
	Eventually(t, "the other view is aggregated", func() bool { return views(p) >= 2 })
	if n := views(p); n != 2 {
		t.Fatalf("views after a retry across a restart: %d, want 2", n)
	}
	p.Stop(t)

	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the platform's event id", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
