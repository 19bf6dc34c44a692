package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

// TestDeletedAccountGoneFromFiles: after DELETE /v1/me, nothing of the
// account is left in the bytes of the SQLite database or its WAL: not its
// handle, display name, video title, comment or message text (secure_delete
// zeroes freed content; the WAL is checkpointed and truncated).
func TestDeletedAccountGoneFromFiles(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := Start(t, data, "--disclosure", "exact")
	anon := p.Client()
	const handle = "qxzvanish7731"
	secrets := []string{handle, "Qxzdisplay Vanisher", "qxztitle vanishing video", "qxzcomment vanishing words", "qxzmessage vanishing secret", "qxzrenamed vanishing"}
	gone := MustUser(t, anon, handle, client.Registration{DisplayName: secrets[1], BirthDate: "1991-02-03", Gender: "female", Country: "FR"})
	leo := MustUser(t, anon, "leo")
	// A rename leaves the old name behind in the page unless zeroed.
	renamed := secrets[5]
	if _, err := gone.UpdateMe(ctx, client.AccountPatch{DisplayName: &renamed}); err != nil {
		t.Fatal(err)
	}
	own, err := gone.CreateVideo(ctx, client.NewVideo{Title: secrets[2]})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := leo.CreateVideo(ctx, client.NewVideo{Title: "leo's"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{own.ID, theirs.ID} {
		if _, err := gone.Comment(ctx, v, secrets[3]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gone.Send(ctx, "leo", theirs.ID, secrets[4]); err != nil {
		t.Fatal(err)
	}
	if err := gone.Follow(ctx, "leo"); err != nil {
		t.Fatal(err)
	}
	if err := gone.Like(ctx, theirs.ID); err != nil {
		t.Fatal(err)
	}
	if err := gone.Save(ctx, theirs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := leo.Send(ctx, handle, theirs.ID, "hello there"); err != nil {
		t.Fatal(err)
	}
	// Before the deletion the database holds them (the scan sees them).
	if !fileHolds(t, data, []byte(handle)) {
		t.Fatal("the handle is not in the database files before the deletion: the scan is broken")
	}

	if err := gone.DeleteMe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Profile(ctx, handle); err == nil {
		t.Fatal("the deleted account's profile still answers")
	}
	for _, s := range secrets {
		for _, name := range []string{"crowd.db", "crowd.db-wal"} {
			b, err := os.ReadFile(filepath.Join(data, name))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q is still in %s (%d bytes) after the account was deleted", s, name, len(b))
			}
		}
	}
}

// fileHolds reports whether the database or its WAL contains b.
func fileHolds(t *testing.T, data string, b []byte) bool {
	t.Helper()
	for _, name := range []string{"crowd.db", "crowd.db-wal"} {
		c, err := os.ReadFile(filepath.Join(data, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(c, b) {
			return true
		}
	}
	return false
}
