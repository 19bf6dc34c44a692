package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// fileStates records size and modification time of the files under dir
// that a second process could change: the database, its WAL and the
// secrets (not SQLite's shared-memory index, which readers write).
func fileStates(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == "eventlog" {
				return filepath.SkipDir // the running server's own log
			}
			out[rel] = "dir"
			return nil
		}
		if strings.HasSuffix(rel, "-shm") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%d bytes, modified %s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// settledStates returns fileStates of dir once the running server has
// finished writing it: two looks two seconds apart agree. The server's own
// work goes on after what a test waited for (aggregation's commit of a
// counted view, the checkpointer copying it into the database within a
// second), and a snapshot taken during it is no baseline for "nothing
// changed".
func settledStates(t *testing.T, dir string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	prev := fileStates(t, dir)
	for {
		time.Sleep(2 * time.Second)
		cur := fileStates(t, dir)
		if maps.Equal(cur, prev) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("the data dir kept changing for 30 s:\n%v\n%v", prev, cur)
		}
		prev = cur
	}
}

// runRefused runs the crowd binary and checks it exits non-zero, on its
// own, saying which process holds the dir.
func runRefused(t *testing.T, pid int, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("crowd %s: %v (want it to exit non-zero by itself)\n%s", strings.Join(args, " "), err, out)
	}
	if want := fmt.Sprintf("in use by process %d", pid); !strings.Contains(string(out), want) {
		t.Fatalf("crowd %s: exit %d without %q:\n%s", strings.Join(args, " "), exit.ExitCode(), want, out)
	}
}

// TestDataDirLock: while crowd serve runs on a data dir, a second serve,
// an import, a demo fill, a key rotation and a token creation on the same
// data dir all exit non-zero at once naming the server's pid, and change
// nothing: the database, its WAL and the secrets are as they were, a
// secrets dir they were pointed to is not created, and the event the
// server acknowledged before still counts.
func TestDataDirLock(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := Start(t, data, "--disclosure", "exact")
	pid := p.cmd.Process.Pid
	anon := p.Client()
	mia := MustUser(t, anon, "mia")
	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "locked"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mia.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 100}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the view counted", func() bool {
		got, err := anon.Video(ctx, v.ID)
		return err == nil && got.Counts.Views == 1
	})

	file := filepath.Join(t.TempDir(), "history.ndjson")
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	if err := os.WriteFile(file, []byte(`{"id":"imp-1","type":"view","video_id":"`+v.ID+`","ts":"`+ts+`","source":"search"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "secrets")
	before := settledStates(t, data)
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data", data, "--disclosure", "exact"},
		{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data", data, "--secrets-dir", fresh, "--demo"},
		{"import", file, "--data", data, "--disclosure", "exact"},
		{"import", file, "--data", data, "--secrets-dir", fresh},
		{"demo", "--data", data},
		{"keys", "rotate", "--data", data},
		{"keys", "rotate", "--data", data, "--secrets-dir", fresh},
		{"token", "create", "--service", "--data", data},
	} {
		runRefused(t, pid, args...)
	}
	if after := fileStates(t, data); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the data dir changed:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused command created its secrets dir: %v", err)
	}

	// The server goes on: the acknowledged view is there, a new one counts.
	if err := mia.RecordView(ctx, v.ID, client.View{Source: "search", WatchMS: 100}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "both views counted", func() bool {
		got, err := anon.Video(ctx, v.ID)
		return err == nil && got.Counts.Views == 2
	})

	// Once the server has stopped, the dir is free again (the kernel lets
	// go of the lock however the holder ended).
	p.Kill(t)
	out, err := exec.Command(binary, "keys", "rotate", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "noise key 2 is now current") {
		t.Fatalf("keys rotate after the server was killed: %v\n%s", err, out)
	}
	p = Start(t, data, "--disclosure", "exact")
	got, err := p.Client().Video(ctx, v.ID)
	if err != nil || got.Counts.Views != 2 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}

// TestSecretsDir: with --secrets-dir outside the data dir, the pseudonym
// key, the daily salts and the noise keys live there (dir 0700, files
// 0600) and nowhere in the data dir; the server works, and import and
// keys rotate (through CROWD_SECRETS_DIR and the flag) use the same dir.
func TestSecretsDir(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	secrets := filepath.Join(t.TempDir(), "etc", "crowd-secrets")
	// A dir made too open beforehand is tightened.
	if err := os.MkdirAll(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	tok := ServiceToken(t, data)
	p := Start(t, data, "--secrets-dir", secrets)
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"}, {ID: "fan", Handle: "fan1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "v1", Owner: "mia", Title: "kept apart"}}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	// A viewer's view takes a daily salt; a share a keyed pseudonym.
	res, err := svc.IngestNDJSON(ctx, strings.NewReader(
		`{"id":"s1","type":"view","video_id":"v1","account_id":"fan","ts":"`+ts+`","source":"search"}`+"\n"+
			`{"id":"s2","type":"share","video_id":"v1","account_id":"fan","ts":"`+ts+`","channel":"sms"}`+"\n"))
	if err != nil || res.Accepted != 2 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	if _, err := p.Client().Video(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	// A secrets dir outside the data dir is shared by the servers of a
	// deployment (another data dir, the same secrets: it starts), and
	// refused to a key rotation while any of them runs.
	other := Start(t, t.TempDir(), "--secrets-dir", secrets)
	out, err := exec.Command(binary, "keys", "rotate", "--data", t.TempDir(), "--secrets-dir", secrets).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "secrets dir "+secrets+" is in use") {
		t.Fatalf("keys rotate beside running servers: %v\n%s", err, out)
	}
	other.Stop(t)
	p.Stop(t)

	file := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(file, []byte(`{"id":"s3","type":"view","video_id":"v1","account_id":"fan","ts":"`+ts+`","source":"search"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	imp := exec.Command(binary, "import", file, "--data", data)
	imp.Env = append(os.Environ(), "CROWD_SECRETS_DIR="+secrets)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import with CROWD_SECRETS_DIR: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "keys", "rotate", "--data", data, "--secrets-dir", secrets).CombinedOutput(); err != nil || !strings.Contains(string(out), "noise key 2") {
		t.Fatalf("keys rotate --secrets-dir: %v\n%s", err, out)
	}

	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "secrets", "pseudonym.key", "salts.json", "noise.keys":
			t.Errorf("%s in the data dir", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(secrets); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("secrets dir: %v %v", fi, err)
	}
	for _, name := range []string{"pseudonym.key", "salts.json", "noise.keys", "crowd.lock"} {
		fi, err := os.Stat(filepath.Join(secrets, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	// The server starts again on the same secrets, and reads what it wrote.
	p = Start(t, data, "--secrets-dir", secrets)
	if _, err := p.Client().Video(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
}
