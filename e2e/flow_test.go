package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestShareFlow walks the share sheet end to end in exact mode: a video is
// shared to another app, by copied link and by direct message; every sharer
// gets the same URL; the recipient's inbox names the sender; the creator sees
// the shares counted and nobody's name.
func TestShareFlow(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--disclosure", "exact")
	anon := p.Client()
	mia := MustUser(t, anon, "mia")
	leo := MustUser(t, anon, "leo")
	ana := MustUser(t, anon, "ana")
	zed := MustUser(t, anon, "zed")

	v, err := mia.CreateVideo(ctx, client.NewVideo{Title: "Sunset", Caption: "golden hour", Hashtags: []string{"#Sun", "sky"}, Collaborators: []string{"zed"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Creators, ",") != "mia" || strings.Join(v.Invited, ",") != "zed" || strings.Join(v.Hashtags, ",") != "sun,sky" {
		t.Fatalf("video %+v", v)
	}
	// zed is invited; accepting makes zed a creator.
	if v, err := zed.AcceptCoCreation(ctx, v.ID); err != nil || strings.Join(v.Creators, ",") != "mia,zed" {
		t.Fatalf("accept co-creation: %+v, %v", v, err)
	}

	s1, err := leo.Share(ctx, v.ID, "whatsapp")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ana.Share(ctx, v.ID, "copy_link")
	if err != nil {
		t.Fatal(err)
	}
	if s1.URL == "" || s1.URL != s2.URL {
		t.Fatalf("share URLs differ between sharers: %q vs %q", s1.URL, s2.URL)
	}
	for _, name := range []string{"leo", "ana"} {
		if strings.Contains(s1.URL, name) {
			t.Fatalf("share URL %q names a sharer", s1.URL)
		}
	}

	// Opening the link shows the video and counts a shared view.
	resp, err := http.Get(s1.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sunset") {
		t.Fatalf("open share link: %d %s", resp.StatusCode, body)
	}

	// Leo sends it to Ana by direct message.
	m, err := leo.Send(ctx, "ana", v.ID, "you'll love this")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := ana.Inbox(ctx)
	if err != nil || len(inbox.Messages) != 1 || inbox.Messages[0].From != "leo" || inbox.Messages[0].Text != "you'll love this" || inbox.Messages[0].Video.ID != v.ID {
		t.Fatalf("inbox %+v, %v", inbox, err)
	}
	sent, err := leo.SentMessages(ctx)
	if err != nil || len(sent.Messages) != 1 || sent.Messages[0].To != "ana" {
		t.Fatalf("sent %+v, %v", sent, err)
	}
	if _, err := ana.OpenMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := mia.OpenMessage(ctx, m.ID); client.StatusOf(err) != 404 {
		t.Fatalf("a third account opened the message: %v", err)
	}

	// Likes, a comment and a save.
	for _, c := range []*client.Client{leo, ana} {
		if err := c.Like(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.Like(ctx, v.ID); err != nil { // idempotent
			t.Fatal(err)
		}
	}
	if _, err := ana.Comment(ctx, v.ID, "wow"); err != nil {
		t.Fatal(err)
	}
	if err := leo.Save(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := leo.RecordView(ctx, v.ID, client.View{Source: "for_you", WatchMS: 5000, Completed: true}); err != nil {
		t.Fatal(err)
	}

	// The public counters catch up (exact mode): 3 shares (2 external, 1 DM),
	// 3 views (link, DM open, for_you), 2 likes, 1 comment, 1 save.
	want := client.Counts{Views: 3, Likes: 2, Comments: 1, Shares: 3, Saves: 1}
	Eventually(t, "counters reach "+fmtCounts(want), func() bool {
		got, err := anon.Video(ctx, v.ID)
		return err == nil && got.Counts != nil && *got.Counts == want
	})

	// The creator's activity names likers and commenters, never sharers or savers.
	acts, err := mia.Activity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if a.Kind != "like" && a.Kind != "comment" && a.Kind != "follow" {
			t.Fatalf("activity has a %q entry", a.Kind)
		}
	}
	// The co-creator sees the same.
	if _, err := zed.Activity(ctx); err != nil {
		t.Fatal(err)
	}

	// Nothing the creator can read names who shared or saved: no response
	// of hers mentions leo next to a share or save.
	var raw strings.Builder
	for _, path := range []string{"/v1/videos/" + v.ID, "/v1/activity", "/v1/notifications", "/v1/accounts/mia/videos", "/v1/me"} {
		var m map[string]any
		if err := mia.Do(ctx, "GET", path, nil, &m); err != nil {
			t.Fatal(err)
		}
		raw.WriteString(strings.ToLower(fmtAny(m)))
	}
	if strings.Contains(raw.String(), "share") && strings.Contains(raw.String(), "\"leo\"") && strings.Contains(raw.String(), "whatsapp") {
		t.Fatalf("creator-visible responses reveal the share channel or sharer")
	}

	leoAcct, _ := leo.Me(ctx)
	anaAcct, _ := ana.Me(ctx)
	p.Stop(t)

	// The event log holds no account id of a viewer, sharer or saver.
	logDir := filepath.Join(p.Data, "eventlog")
	found := 0
	filepath.Walk(logDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		found++
		b, _ := os.ReadFile(path)
		for _, id := range []string{leoAcct.ID, anaAcct.ID} {
			if strings.Contains(string(b), id) {
				t.Errorf("event log file %s holds account id %s", path, id)
			}
		}
		return nil
	})
	if found == 0 {
		t.Fatalf("no event log files under %s", logDir)
	}

	// No password or token in clear text in the data dir or the logs.
	secrets := []string{"password-leo", "password-ana", leo.Token, ana.Token, mia.Token}
	filepath.Walk(p.Data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds a secret in clear text", path)
			}
		}
		return nil
	})
	for _, s := range secrets {
		if strings.Contains(p.Logs(), s) {
			t.Errorf("logs hold a secret in clear text")
		}
	}
}
