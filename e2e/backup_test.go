package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
)

// getBody returns the body of an authenticated GET, failing on any status
// but 200.
func getBody(t *testing.T, base, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	// When the report was made is not part of what it reports.
	return generatedAt.ReplaceAllString(string(b), `"generated_at":"…"`)
}

var generatedAt = regexp.MustCompile(`"generated_at":"[^"]*"`)

// TestBackup_WhileServing backs a server up with crowd backup while it
// serves and ingests, restores the backup into a new data dir with crowd
// restore, starts a server there with the same secrets dir, and compares
// every report (video reports, account reports, CSV exports, public
// counts) with the original's for the events the backup covers: those of
// the videos no longer written to are identical; the video ingested into
// during the backup has, in the copy, a part of its views.
func TestBackup_WhileServing(t *testing.T) {
	ctx := context.Background()
	data, secrets := t.TempDir(), t.TempDir()
	flags := []string{"--disclosure", "exact", "--secrets-dir", secrets, "--login-per-minute", "1000"}
	tok := ServiceToken(t, data)
	p := Start(t, data, flags...)
	svc := p.Client().WithToken(tok)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{
		{ID: "mia", Handle: "mia", Type: "business", Password: "password-mia"},
		{ID: "bob", Handle: "bob", Type: "business", Password: "password-bob"},
		{ID: "u1", Handle: "user1", BirthDate: "1999-01-01", Gender: "female", Country: "DE"},
		{ID: "u2", Handle: "user2", BirthDate: "1970-01-01", Gender: "male", Country: "US"},
		{ID: "u3", Handle: "user3", BirthDate: "1985-06-01", Gender: "female", Country: "FR"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{
		{ID: "va", Owner: "mia", Title: "a"}, {ID: "vb", Owner: "mia", Title: "b"}, {ID: "vc", Owner: "bob", Title: "c"},
	}); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-2 * time.Hour).Format(time.RFC3339)
	var lines []string
	for i := range 300 {
		v := []string{"va", "vb"}[i%2]
		u := []string{"u1", "u2", "u3"}[i%3]
		lines = append(lines, fmt.Sprintf(`{"id":"v%d","type":"view","video_id":"%s","account_id":"%s","ts":"%s","source":"for_you","watch_ms":%d,"completed":%t}`, i, v, u, ts, 1000+i, i%4 == 0))
	}
	for i, u := range []string{"u1", "u2", "u3"} {
		lines = append(lines,
			fmt.Sprintf(`{"id":"l%d","type":"like","video_id":"va","account_id":"%s","ts":"%s"}`, i, u, ts),
			fmt.Sprintf(`{"id":"s%d","type":"share","video_id":"va","account_id":"%s","ts":"%s","channel":"dm"}`, i, u, ts),
			fmt.Sprintf(`{"id":"k%d","type":"save","video_id":"vb","account_id":"%s","ts":"%s"}`, i, u, ts),
			fmt.Sprintf(`{"id":"c%d","type":"comment","video_id":"vb","account_id":"%s","ts":"%s","text":"nice"}`, i, u, ts))
	}
	if res, err := svc.IngestNDJSON(ctx, strings.NewReader(strings.Join(lines, "\n"))); err != nil || len(res.Rejected) > 0 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	// Crowd's own actions too, through the outbox: a creator, a video, a
	// like, a share and a save by a fan.
	sam := MustUser(t, p.Client(), "sam")
	vs, err := sam.CreateVideo(ctx, client.NewVideo{Title: "sam's"})
	if err != nil {
		t.Fatal(err)
	}
	fan := MustUser(t, p.Client(), "fan")
	if err := fan.Like(ctx, vs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := fan.Share(ctx, vs.ID, "copy_link"); err != nil {
		t.Fatal(err)
	}
	if err := fan.Save(ctx, vs.ID); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "aggregated", func() bool {
		a, errA := p.Client().Video(ctx, "va")
		b, errB := p.Client().Video(ctx, "vb")
		s, errS := p.Client().Video(ctx, vs.ID)
		return errA == nil && errB == nil && errS == nil && a.Counts.Views == 150 && b.Counts.Views == 150 && s.Counts.Likes == 1 && s.Counts.Shares == 1
	})

	miaTok := mustLoginToken(t, p.Client(), "mia") // a session the backup holds

	// Ingestion continues into vc while the backup runs.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			var b strings.Builder
			for j := range 200 {
				fmt.Fprintf(&b, `{"id":"c-%d-%d","type":"view","video_id":"vc","ts":"%s","source":"search"}`+"\n", i, j, ts)
			}
			if res, err := svc.IngestNDJSON(ctx, strings.NewReader(b.String())); err == nil {
				sent.Add(int64(res.Accepted))
			}
		}
	}()
	Eventually(t, "ingestion under way", func() bool { return sent.Load() >= 1000 })
	backup := filepath.Join(t.TempDir(), "backup")
	out, err := exec.Command(binary, "backup", "--admin-url", p.AdminURL, backup).CombinedOutput()
	if err != nil {
		t.Fatalf("crowd backup: %v\n%s\n%s", err, out, p.Logs())
	}
	if !strings.Contains(string(out), "secrets are not included; back up --secrets-dir separately") {
		t.Fatalf("crowd backup says nothing of the secrets:\n%s", out)
	}
	for _, f := range []string{"README.txt", "manifest.json"} {
		b, err := os.ReadFile(filepath.Join(backup, f))
		if err != nil || !strings.Contains(strings.ToLower(string(b)), "secrets are not included") {
			t.Fatalf("%s says nothing of the secrets: %v\n%s", f, err, b)
		}
	}
	if ents, _ := os.ReadDir(backup); len(ents) == 0 {
		t.Fatal("empty backup")
	}
	// A second backup into the same, now full, directory is refused.
	if out, err := exec.Command(binary, "backup", "--admin-url", p.AdminURL, backup).CombinedOutput(); err == nil {
		t.Fatalf("backup into a non-empty dir: %s", out)
	}
	stop.Store(true)
	wg.Wait()
	Eventually(t, "vc aggregated", func() bool {
		v, err := p.Client().Video(ctx, "vc")
		return err == nil && v.Counts.Views == sent.Load()
	})

	// Restore: refused into a non-empty data dir, done into a new one.
	if out, err := exec.Command(binary, "restore", backup, data).CombinedOutput(); err == nil {
		t.Fatalf("restore into the server's own data dir: %s", out)
	}
	data2 := filepath.Join(t.TempDir(), "restored")
	out, err = exec.Command(binary, "restore", backup, data2).CombinedOutput()
	if err != nil {
		t.Fatalf("crowd restore: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "secrets are not included") {
		t.Fatalf("crowd restore says nothing of the secrets:\n%s", out)
	}
	q := Start(t, data2, flags...)

	// A viewer of va views it again a day earlier, on both servers: the
	// restored viewers' history (history.db) links the day to theirs, so
	// va's distinct viewers stay as they are on both.
	late := fmt.Sprintf(`{"id":"late","type":"view","video_id":"va","account_id":"u1","ts":"%s","source":"for_you","watch_ms":1000}`, time.Now().UTC().Add(-26*time.Hour).Format(time.RFC3339))
	for _, s := range []*Process{p, q} {
		if res, err := s.Client().WithToken(tok).IngestNDJSON(ctx, strings.NewReader(late)); err != nil || res.Accepted != 1 {
			t.Fatalf("late view: %+v, %v", res, err)
		}
		Eventually(t, "the late view aggregated", func() bool {
			v, err := s.Client().Video(ctx, "va")
			return err == nil && v.Counts.Views == 151
		})
	}

	samTok := sam.Token
	type report struct{ token, path string }
	reports := []report{
		{miaTok, "/v1/analytics/videos/va"},
		{miaTok, "/v1/analytics/videos/vb"},
		{miaTok, "/v1/analytics/videos/va/export.csv"},
		{miaTok, "/v1/analytics/videos/vb/export.csv"},
		{miaTok, "/v1/analytics/account"},
		{samTok, "/v1/analytics/videos/" + vs.ID},
		{samTok, "/v1/analytics/account"},
		{"", "/v1/videos/va"},
		{"", "/v1/videos/vb"},
		{"", "/v1/videos/" + vs.ID},
	}
	for _, r := range reports {
		want := getBody(t, p.URL, r.token, r.path)
		// The restored server's sessions are the copy's: the same tokens.
		got := getBody(t, q.URL, r.token, r.path)
		if got != want {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s differs after restore at byte %d:\n got  …%s\n want …%s", r.path, i, got[max(0, i-200):min(len(got), i+200)], want[max(0, i-200):min(len(want), i+200)])
		}
	}
	// vc: the copy has the views logged before the snapshot, no more.
	var man struct {
		LogLastSeq uint64 `json:"log_last_seq"`
	}
	b, _ := os.ReadFile(filepath.Join(backup, "manifest.json"))
	json.Unmarshal(b, &man)
	orig, err := p.Client().Video(ctx, "vc")
	if err != nil {
		t.Fatal(err)
	}
	restored, err := q.Client().Video(ctx, "vc")
	if err != nil {
		t.Fatal(err)
	}
	if restored.Counts.Views < 1000 || restored.Counts.Views > orig.Counts.Views || man.LogLastSeq == 0 {
		t.Fatalf("vc: restored %d views, original %d (backup to log sequence %d)", restored.Counts.Views, orig.Counts.Views, man.LogLastSeq)
	}
	t.Logf("vc: %d of %d views in the backup (log to sequence %d)", restored.Counts.Views, orig.Counts.Views, man.LogLastSeq)
}
