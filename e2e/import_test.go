package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestImport backfills history with crowd import while the server is
// stopped; the next start shows it, dates kept.
func TestImport(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data, "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}, {ID: "fan", Handle: "fan1", Country: "BR"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "old", Owner: "mia", Title: "from the archive"}, {ID: "a-first", Owner: "mia", Title: "sorts before old"}}); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)

	day := time.Now().UTC().AddDate(0, 0, -20).Truncate(24 * time.Hour).Add(12 * time.Hour)
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, `{"id":"h%d","type":"view","video_id":"old","account_id":"fan","ts":%q,"source":"hashtag","watch_ms":3000}`+"\n", i, day.Format(time.RFC3339))
	}
	b.WriteString(`{"id":"h0","type":"view","video_id":"old","ts":"` + day.Format(time.RFC3339) + `","source":"hashtag"}` + "\n") // duplicate
	// A duplicate of h1 on another video, whose id sorts first: the import
	// publishes in video order, and the first line of an id still counts.
	b.WriteString(`{"id":"h1","type":"view","video_id":"a-first","ts":"` + day.Format(time.RFC3339) + `","source":"hashtag"}` + "\n")
	b.WriteString(`{"id":"bad","type":"view","video_id":"missing","ts":"` + day.Format(time.RFC3339) + `","source":"hashtag"}` + "\n")
	file := filepath.Join(t.TempDir(), "history.ndjson")
	os.WriteFile(file, []byte(b.String()), 0o600)
	out, err := exec.Command(binary, "import", file, "--data", data, "--disclosure", "exact").CombinedOutput()
	if err != nil {
		t.Fatalf("crowd import: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "published 3000 events (2 duplicates, 1 rejected)") || !strings.Contains(string(out), "unknown_video") {
		t.Fatalf("import output:\n%s", out)
	}
	// Where aggregation's thread spent its time, the rows' share among it.
	if !regexp.MustCompile(`aggregation's thread: .*rows \d+%.* of \d`).Match(out) {
		t.Errorf("import output says nothing of aggregation's thread:\n%s", out)
	}

	p = Start(t, data, "--disclosure", "exact")
	mia := p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
	var rep report
	if err := mia.Do(ctx, "GET", "/v1/analytics/videos/old?range=28d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Views != 3000 {
		t.Fatalf("imported views %d", rep.Totals.Views)
	}
	for _, d := range rep.Daily {
		if d["views"].(float64) > 0 && d["date"] != day.Format(time.DateOnly) {
			t.Fatalf("imported views landed on %v, not %s", d["date"], day.Format(time.DateOnly))
		}
	}
}

// TestImportProtected: in protected mode an import publishes the closed
// days of the imported history as noisy cells, with their dates kept.
func TestImportProtected(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data)
	svc := p.Client().WithToken(tok)
	svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}, {ID: "fan", Handle: "fan1"}})
	svc.SyncVideos(ctx, []client.SyncVideo{{ID: "old", Owner: "mia", Title: "archive", CreatedAt: time.Now().UTC().AddDate(0, 0, -30).Format(time.RFC3339)}})
	p.Stop(t)
	day := time.Now().UTC().AddDate(0, 0, -10).Truncate(24 * time.Hour).Add(12 * time.Hour)
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, `{"id":"p%d","type":"share","video_id":"old","account_id":"fan","ts":%q,"channel":"sms"}`+"\n", i, day.Format(time.RFC3339))
	}
	file := filepath.Join(t.TempDir(), "history.ndjson")
	os.WriteFile(file, []byte(b.String()), 0o600)
	out, err := exec.Command(binary, "import", file, "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "released the closed days of 1 videos") {
		t.Fatalf("crowd import: %v\n%s", err, out)
	}
	p = Start(t, data)
	mia := p.Client().WithToken(mustLoginToken(t, p.Client(), "mia"))
	var rep report
	if err := mia.Do(ctx, "GET", "/v1/analytics/videos/old?range=28d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Policy.Estimates || rep.Policy.Mode != "protected" {
		t.Fatalf("policy %+v", rep.Policy)
	}
	// 2,000 shares by one account count once (one sharer), in its day.
	for _, d := range rep.Daily {
		if d["date"] == day.Format(time.DateOnly) && d["released"] != true {
			t.Fatalf("the imported day is not released: %v", d)
		}
	}
	if rep.Totals.Shares > 60 || rep.Totals.Shares < -60 {
		t.Fatalf("2,000 shares by one account released as %d sharers: the bound failed", rep.Totals.Shares)
	}
}

// TestKeysRotate: crowd keys rotate makes a new noise key current; cells
// released before keep their key id.
func TestKeysRotate(t *testing.T) {
	data := t.TempDir()
	p := Start(t, data)
	p.Stop(t)
	out, err := exec.Command(binary, "keys", "rotate", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "noise key 2 is now current") {
		t.Fatalf("crowd keys rotate: %v\n%s", err, out)
	}
	info, err := os.Stat(filepath.Join(data, "secrets", "noise.keys"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("noise.keys: %v %v", info, err)
	}
}
