package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// TestDisclosureSwitch: a data dir that released protected (noisy)
// numbers is refused in exact mode, at start and with a non-zero exit,
// unless the operator passes --allow-exact-after-protected; the allowed
// switch is logged once, at warn level, and recorded, so the next start in
// exact mode needs no flag. A data dir that released nothing switches
// freely.
func TestDisclosureSwitch(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, tok := StartWithToken(t, data)
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}, {ID: "fan", Handle: "fan1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "old", Owner: "mia", Title: "archive", CreatedAt: time.Now().UTC().AddDate(0, 0, -30).Format(time.RFC3339)}}); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
	// A protected import releases the closed days of its history.
	day := time.Now().UTC().AddDate(0, 0, -10).Format(time.RFC3339)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"id":"d%d","type":"view","video_id":"old","ts":%q,"source":"search"}`+"\n", i, day)
	}
	file := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "import", file, "--data", data).CombinedOutput(); err != nil || !strings.Contains(string(out), "released the closed days of 1 videos") {
		t.Fatalf("crowd import: %v\n%s", err, out)
	}

	// Exact mode is refused, by serve and by an exact import alike.
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data", data, "--disclosure", "exact"},
		{"import", file, "--data", data, "--disclosure", "exact"},
	} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, binary, args...).CombinedOutput()
		timedOut := cctx.Err() != nil
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || timedOut || !strings.Contains(string(out), "--allow-exact-after-protected") {
			t.Fatalf("crowd %s: %v, want a non-zero exit naming --allow-exact-after-protected:\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Still protected as it was: the refused starts changed nothing.
	p = Start(t, data)
	p.Stop(t)

	const warning = "switching to exact after protected numbers were released"
	p = Start(t, data, "--disclosure", "exact", "--allow-exact-after-protected")
	if n := strings.Count(p.Logs(), warning); n != 1 || !strings.Contains(p.Logs(), `"level":"WARN","msg":"disclosure: `+warning) {
		t.Fatalf("the forced switch was logged %d times, want once at warn level:\n%s", n, p.Logs())
	}
	got, err := p.Client().Video(ctx, "old")
	if err != nil || got.Counts == nil || got.Counts.Views != 50 {
		t.Fatalf("exact counts after the switch: %+v %v", got, err)
	}
	p.Stop(t)
	// Recorded: exact again needs no flag, and says nothing more.
	p = Start(t, data, "--disclosure", "exact")
	if strings.Contains(p.Logs(), warning) {
		t.Fatalf("the switch was logged again:\n%s", p.Logs())
	}
	p.Stop(t)

	t.Run("nothing released", func(t *testing.T) {
		data := t.TempDir()
		p := Start(t, data)
		p.Stop(t)
		p = Start(t, data, "--disclosure", "exact")
		if strings.Contains(p.Logs(), warning) {
			t.Fatalf("a switch with nothing released warned:\n%s", p.Logs())
		}
	})
}
