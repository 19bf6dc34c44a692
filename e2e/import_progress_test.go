package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestImport_Progress: crowd import, its stderr not a terminal, prints
// plain progress lines (events read, accepted, duplicate, rejected, rate),
// and the ends of reading and of aggregating, while its stdout keeps the
// summary.
func TestImport_Progress(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data, "--disclosure", "exact")
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business"}, {ID: "fan", Handle: "fan1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "old", Owner: "mia", Title: "from the archive"}}); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)

	ts := time.Now().UTC().AddDate(0, 0, -3).Format(time.RFC3339)
	var b strings.Builder
	for i := 0; i < 25000; i++ {
		fmt.Fprintf(&b, `{"id":"g%d","type":"view","video_id":"old","account_id":"fan","ts":%q,"source":"search"}`+"\n", i, ts)
	}
	fmt.Fprintf(&b, `{"id":"g0","type":"view","video_id":"old","ts":%q,"source":"search"}`+"\n", ts)     // duplicate
	fmt.Fprintf(&b, `{"id":"x1","type":"view","video_id":"missing","ts":%q,"source":"search"}`+"\n", ts) // unknown video
	b.WriteString("not json\n")
	file := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, "import", file, "--data", data, "--disclosure", "exact")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("crowd import: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	errOut := stderr.String()
	if strings.Contains(errOut, "\r") {
		t.Errorf("a bar redrawn on a pipe:\n%q", errOut)
	}
	// A line at every tenth of the file at least: 25,000 events are several
	// batches and reads.
	if n := strings.Count(errOut, "% of the file read,"); n < 3 {
		t.Errorf("%d progress lines of reading:\n%s", n, errOut)
	}
	if strings.Count(errOut, "import: 100% of the file read, 25,002 events, 25,000 accepted, 1 duplicates, 2 rejected, ") != 1 ||
		!strings.Contains(errOut, "events/s\n") {
		t.Errorf("no final reading line:\n%s", errOut)
	}
	if !strings.Contains(errOut, "import: 100% aggregated, ") || !strings.Contains(errOut, " log messages applied, ") {
		t.Errorf("no final aggregation line:\n%s", errOut)
	}
	if !strings.Contains(stdout.String(), "published 25000 events (1 duplicates, 2 rejected)") || strings.Contains(stdout.String(), "% of the file") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}
