package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

// forEachStore runs the contract suite against SQLite always and PostgreSQL
// when reachable (always in CI).
func forEachStore(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, MustOpen(t, store.Options{Dir: t.TempDir()}))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, MustOpen(t, store.Options{PostgresURL: testutil.PostgresURL(t)}))
	})
}

// TestStore_RefusesUnknownMigrations: a database that records a migration
// this version does not have (one of a pre-release development version, or
// of a newer version) is refused at open, and one opened again is not
// migrated twice.
func TestStore_RefusesUnknownMigrations(t *testing.T) {
	for _, dialect := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(dialect), func(t *testing.T) {
			ctx := t.Context()
			o := store.Options{Dir: t.TempDir()}
			if dialect == store.Postgres {
				o = store.Options{PostgresURL: testutil.PostgresURL(t)}
			}
			s := MustOpen(t, o)
			s.Close()
			s = MustOpen(t, o)
			if _, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`), "0003_rollup.sql", 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if s, err := store.Open(ctx, o); err == nil || !strings.Contains(err.Error(), "0003_rollup.sql") {
				if s != nil {
					s.Close()
				}
				t.Fatalf("open with an unknown migration recorded: %v", err)
			}
		})
	}
}

func MustOpen(tb testing.TB, o store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func MustAccount(tb testing.TB, s *store.Store, handle string) *platform.Account {
	tb.Helper()
	a := &platform.Account{ID: "id-" + handle, Handle: handle, DisplayName: handle, Type: platform.TypePersonal,
		DMPolicy: platform.DMEveryone, Gender: platform.GenderFemale, Country: "DE", BirthDate: "1990-05-01", CreatedAt: t0}
	if err := s.CreateAccount(context.Background(), a); err != nil {
		tb.Fatalf("create account %s: %v", handle, err)
	}
	return a
}

func MustVideo(tb testing.TB, s *store.Store, id string, creators ...*platform.Account) *platform.Video {
	tb.Helper()
	v := &platform.Video{ID: id, OwnerID: creators[0].ID, Title: "video " + id, Hashtags: []string{"a", "b"}, CreatedAt: t0}
	for _, c := range creators {
		v.CreatorIDs = append(v.CreatorIDs, c.ID)
	}
	if err := s.CreateVideo(context.Background(), v); err != nil {
		tb.Fatalf("create video: %v", err)
	}
	return v
}

func ev(id, typ, video string) event.Event {
	return event.Event{ID: id, Type: typ, VideoID: video, TS: t0, Actor: "pseudo"}
}

func outboxLen(tb testing.TB, s *store.Store) int64 {
	tb.Helper()
	n, err := s.OutboxLen(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestStore_Accounts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		t.Run("duplicate handle is a conflict", func(t *testing.T) {
			dup := *a
			dup.ID = "other"
			err := s.CreateAccount(ctx, &dup)
			if platform.ErrorCode(err) != platform.ECONFLICT {
				t.Fatalf("got %v, want conflict", err)
			}
		})
		t.Run("by handle and id", func(t *testing.T) {
			got, err := s.AccountByHandle(ctx, "mia")
			if err != nil || got.ID != a.ID || got.BirthDate != "1990-05-01" || got.Country != "DE" || !got.CreatedAt.Equal(t0) {
				t.Fatalf("got %+v, %v", got, err)
			}
			if _, err := s.Account(ctx, "nope"); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Fatalf("missing account: %v", err)
			}
		})
		t.Run("update", func(t *testing.T) {
			typ, dm := platform.TypeBusiness, platform.DMNobody
			got, err := s.UpdateAccount(ctx, a.ID, store.AccountPatch{Type: &typ, DMPolicy: &dm})
			if err != nil || got.Type != typ || got.DMPolicy != dm || got.DisplayName != "mia" {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
		t.Run("profile counts follows", func(t *testing.T) {
			b := MustAccount(t, s, "leo")
			if _, err := s.SetFollow(ctx, b.ID, a.ID, t0, true, event.Event{ID: "f1", Type: event.Follow, CreatorID: a.ID}); err != nil {
				t.Fatal(err)
			}
			p, err := s.Profile(ctx, "mia")
			if err != nil || p.Followers != 1 || p.Following != 0 {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	})
}

func TestStore_Sessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		if err := s.CreateSession(ctx, "h1", a.ID, t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SessionAccount(ctx, "h1", t0.Add(time.Minute)); err != nil || got.ID != a.ID {
			t.Fatalf("valid session: %+v, %v", got, err)
		}
		if _, err := s.SessionAccount(ctx, "h1", t0.Add(2*time.Hour)); platform.ErrorCode(err) != platform.EUNAUTHORIZED {
			t.Fatalf("expired session: %v", err)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionAccount(ctx, "h1", t0); platform.ErrorCode(err) != platform.EUNAUTHORIZED {
			t.Fatalf("deleted session: %v", err)
		}
	})
}

func TestStore_Apps(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		b := MustAccount(t, s, "leo")
		app := &platform.App{ID: "app1", AccountID: a.ID, Name: "stats", Scopes: []string{platform.ScopeAnalyticsRead}, CreatedAt: t0}
		if err := s.CreateApp(ctx, app, "th"); err != nil {
			t.Fatal(err)
		}
		got, err := s.AppByToken(ctx, "th")
		if err != nil || got.AccountID != a.ID || len(got.Scopes) != 1 {
			t.Fatalf("got %+v, %v", got, err)
		}
		if err := s.DeleteApp(ctx, b.ID, "app1"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("another account revoked the app: %v", err)
		}
		if err := s.DeleteApp(ctx, a.ID, "app1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppByToken(ctx, "th"); platform.ErrorCode(err) != platform.EUNAUTHORIZED {
			t.Fatalf("revoked token still works: %v", err)
		}
	})
}

func TestStore_VideosAndPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		b := MustAccount(t, s, "leo")
		for i := 0; i < 5; i++ {
			v := &platform.Video{ID: string(rune('a' + i)), OwnerID: a.ID, Title: "t", CreatedAt: t0.Add(time.Duration(i) * time.Minute), CreatorIDs: []string{a.ID, b.ID}}
			if err := s.CreateVideo(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		v, err := s.Video(ctx, "a")
		if err != nil || v.Owner != "mia" || strings.Join(v.Creators, ",") != "mia,leo" || !v.IsCreator(b.ID) {
			t.Fatalf("got %+v, %v", v, err)
		}
		page1, err := s.AccountVideos(ctx, b.ID, store.Page{Limit: 3})
		if err != nil || len(page1) != 3 || page1[0].ID != "e" {
			t.Fatalf("page 1: %+v, %v", page1, err)
		}
		last := page1[2]
		page2, err := s.AccountVideos(ctx, b.ID, store.Page{Limit: 3, Before: store.Cursor(last.CreatedAt, last.ID)})
		if err != nil || len(page2) != 2 || page2[0].ID != "b" || page2[1].ID != "a" {
			t.Fatalf("page 2: %+v, %v", page2, err)
		}
	})
}

func TestStore_EngagementWritesEventsOnlyOnChange(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		b := MustAccount(t, s, "leo")
		v := MustVideo(t, s, "v1", a)
		steps := []struct {
			name    string
			do      func() (bool, error)
			changed bool
			outbox  int64
		}{
			{"like", func() (bool, error) { return s.SetLike(ctx, v.ID, b.ID, t0, true, ev("e1", event.Like, v.ID)) }, true, 1},
			{"like again", func() (bool, error) { return s.SetLike(ctx, v.ID, b.ID, t0, true, ev("e2", event.Like, v.ID)) }, false, 1},
			{"unlike", func() (bool, error) { return s.SetLike(ctx, v.ID, b.ID, t0, false, ev("e3", event.Unlike, v.ID)) }, true, 2},
			{"unlike again", func() (bool, error) { return s.SetLike(ctx, v.ID, b.ID, t0, false, ev("e4", event.Unlike, v.ID)) }, false, 2},
			{"save", func() (bool, error) { return s.SetSave(ctx, v.ID, b.ID, t0, true, ev("e5", event.Save, v.ID)) }, true, 3},
			{"save again", func() (bool, error) { return s.SetSave(ctx, v.ID, b.ID, t0, true, ev("e6", event.Save, v.ID)) }, false, 3},
		}
		for _, st := range steps {
			changed, err := st.do()
			if err != nil || changed != st.changed {
				t.Fatalf("%s: changed %v, %v; want %v", st.name, changed, err, st.changed)
			}
			if n := outboxLen(t, s); n != st.outbox {
				t.Fatalf("%s: outbox %d, want %d", st.name, n, st.outbox)
			}
		}
		saved, _, err := s.Saved(ctx, b.ID, store.Page{})
		if err != nil || len(saved) != 1 || saved[0].ID != v.ID {
			t.Fatalf("saved: %+v, %v", saved, err)
		}
		if _, err := s.SetLike(ctx, "missing", b.ID, t0, true, ev("e7", event.Like, "missing")); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("like of a missing video: %v", err)
		}
		if n := outboxLen(t, s); n != 3 {
			t.Fatalf("a failed action left an event: outbox %d", n)
		}
	})
}

func TestStore_CommentsMessagesActivity(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		leo := MustAccount(t, s, "leo")
		v := MustVideo(t, s, "v1", mia)
		c := &platform.Comment{ID: "c1", VideoID: v.ID, AuthorID: leo.ID, Text: "nice", CreatedAt: t0.Add(time.Second)}
		if err := s.CreateComment(ctx, c, ev("e1", event.Comment, v.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetLike(ctx, v.ID, leo.ID, t0.Add(2*time.Second), true, ev("e2", event.Like, v.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetSave(ctx, v.ID, leo.ID, t0.Add(3*time.Second), true, ev("e3", event.Save, v.ID)); err != nil {
			t.Fatal(err)
		}
		m := &platform.Message{ID: "m1", SenderID: leo.ID, RecipientID: mia.ID, VideoID: v.ID, Text: "look", CreatedAt: t0.Add(4 * time.Second)}
		if err := s.SendMessage(ctx, m, ev("e4", event.Share, v.ID)); err != nil {
			t.Fatal(err)
		}
		acts, err := s.Activity(ctx, mia.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		kinds := []string{}
		for _, a := range acts {
			kinds = append(kinds, a.Kind+":"+a.Actor)
		}
		if got := strings.Join(kinds, ","); got != "like:leo,comment:leo" {
			t.Fatalf("activity %q: must hold likes and comments with who, and no save or share", got)
		}
		inbox, err := s.Inbox(ctx, mia.ID, store.Page{})
		if err != nil || len(inbox) != 1 || inbox[0].From != "leo" || inbox[0].Video == nil || inbox[0].Video.ID != v.ID {
			t.Fatalf("inbox %+v, %v", inbox, err)
		}
		sent, err := s.Sent(ctx, leo.ID, store.Page{})
		if err != nil || len(sent) != 1 || sent[0].To != "mia" {
			t.Fatalf("sent %+v, %v", sent, err)
		}
		other := MustAccount(t, s, "zoe")
		if _, err := s.Message(ctx, "m1", other.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("a third account read a message: %v", err)
		}
		if err := s.DeleteComment(ctx, "c1", ev("e5", event.CommentDelete, v.ID)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteComment(ctx, "c1", ev("e6", event.CommentDelete, v.ID)); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestStore_DeleteAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mia := MustAccount(t, s, "mia")
		leo := MustAccount(t, s, "leo")
		v := MustVideo(t, s, "v1", mia)
		s.SetLike(ctx, v.ID, leo.ID, t0, true, ev("e1", event.Like, v.ID))
		s.CreateComment(ctx, &platform.Comment{ID: "c1", VideoID: v.ID, AuthorID: leo.ID, Text: "x", CreatedAt: t0}, ev("e2", event.Comment, v.ID))
		s.SetFollow(ctx, leo.ID, mia.ID, t0, true, event.Event{ID: "e3", Type: event.Follow, CreatorID: mia.ID})
		s.CreateSession(ctx, "sess", leo.ID, t0, t0.Add(time.Hour))
		before := outboxLen(t, s)
		var fp store.Footprint
		err := s.DeleteAccount(ctx, leo.ID, func(f store.Footprint) []event.Event {
			fp = f
			return []event.Event{ev("u1", event.Unlike, v.ID), ev("u2", event.CommentDelete, v.ID), {ID: "u3", Type: event.Unfollow, CreatorID: mia.ID}}
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(fp.Likes) != 1 || len(fp.Comments) != 1 || len(fp.Followees) != 1 {
			t.Fatalf("footprint %+v", fp)
		}
		if n := outboxLen(t, s); n != before+3 {
			t.Fatalf("outbox %d, want %d", n, before+3)
		}
		if _, err := s.SessionAccount(ctx, "sess", t0); platform.ErrorCode(err) != platform.EUNAUTHORIZED {
			t.Fatalf("session survived deletion: %v", err)
		}
		cs, _ := s.Comments(ctx, v.ID, store.Page{})
		if len(cs) != 0 {
			t.Fatalf("comments survived: %+v", cs)
		}
		if p, _ := s.Profile(ctx, "mia"); p.Followers != 0 {
			t.Fatalf("follow survived: %+v", p)
		}
	})
}

func TestStore_PrivacyPolicyNotifies(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		p, err := s.PrivacyPolicy(ctx)
		if err != nil || p.Version != 1 {
			t.Fatalf("initial policy: %+v, %v", p, err)
		}
		ns, _ := s.Notifications(ctx, a)
		if len(ns) != 0 {
			t.Fatalf("notified of the policy in force at sign-up: %+v", ns)
		}
		if _, err := s.PublishPrivacyPolicy(ctx, "v2 text", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ns, _ = s.Notifications(ctx, a)
		if len(ns) != 1 || ns[0].Read || ns[0].Kind != "privacy_policy" {
			t.Fatalf("notifications %+v", ns)
		}
		if err := s.MarkNotificationsSeen(ctx, a.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		a, _ = s.Account(ctx, a.ID)
		ns, _ = s.Notifications(ctx, a)
		if len(ns) != 1 || !ns[0].Read {
			t.Fatalf("after reading: %+v", ns)
		}
	})
}

func TestStore_RelayOutbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i := 0; i < 10; i++ {
			if err := s.AppendEvents(ctx, ev("e"+string(rune('0'+i)), event.View, "v")); err != nil {
				t.Fatal(err)
			}
		}
		// A failed publish keeps the entries.
		_, err := s.RelayOutbox(ctx, 4, func([]store.OutboxEntry) error { return context.DeadlineExceeded })
		if err == nil || outboxLen(t, s) != 10 {
			t.Fatalf("failed publish: err %v, outbox %d", err, outboxLen(t, s))
		}
		var got []string
		for {
			n, err := s.RelayOutbox(ctx, 4, func(es []store.OutboxEntry) error {
				for _, e := range es {
					got = append(got, e.EventID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		if strings.Join(got, "") != "e0e1e2e3e4e5e6e7e8e9" {
			t.Fatalf("relayed %v", got)
		}
	})
}

func TestStore_ConcurrentWriters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		v := MustVideo(t, s, "v1", a)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				acct := &platform.Account{ID: "acc" + string(rune('A'+i)), Handle: "user" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: t0}
				if err := s.CreateAccount(ctx, acct); err != nil {
					errs <- err
					return
				}
				if _, err := s.SetLike(ctx, v.ID, acct.ID, t0, true, ev("l"+acct.ID, event.Like, v.ID)); err != nil {
					errs <- err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := outboxLen(t, s); n != 40 {
			t.Fatalf("outbox %d, want 40", n)
		}
	})
}

func TestStore_SavedPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := MustAccount(t, s, "mia")
		for i := 0; i < 5; i++ {
			v := MustVideo(t, s, "v"+string(rune('0'+i)), a)
			// Saved in the reverse order of creation: the list follows save time.
			if _, err := s.SetSave(ctx, v.ID, a.ID, t0.Add(time.Duration(10-i)*time.Minute), true, ev("s"+v.ID, event.Save, v.ID)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		next := ""
		for page := 0; page < 5; page++ {
			vs, n, err := s.Saved(ctx, a.ID, store.Page{Limit: 2, Before: next})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				got = append(got, v.ID)
			}
			if next = n; next == "" {
				break
			}
		}
		if strings.Join(got, ",") != "v0,v1,v2,v3,v4" {
			t.Fatalf("saved pages: %v", got)
		}
	})
}

// TestStore_BeginRebuildable: the transaction commits like any other, and
// the write connection goes back to synced commits afterwards (SQLite's
// synchronous pragma is per connection; PostgreSQL's setting is LOCAL to
// the transaction).
func TestStore_BeginRebuildable(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		tx, done, err := s.BeginRebuildable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_checkpoint (name, seq) VALUES (?, ?)`), "rebuildable", 7); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		done()
		var seq int64
		if err := s.ReadDB().QueryRowContext(ctx, s.Rebind(`SELECT seq FROM rollup_checkpoint WHERE name = ?`), "rebuildable").Scan(&seq); err != nil || seq != 7 {
			t.Fatalf("committed row: %d, %v", seq, err)
		}
		q := `PRAGMA synchronous`
		want := "2" // FULL
		if s.Dialect() == store.Postgres {
			q, want = `SHOW synchronous_commit`, "on"
		}
		var got string
		if err := s.DB().QueryRowContext(ctx, q).Scan(&got); err != nil || got != want {
			t.Fatalf("%s after a rebuildable transaction: %q, %v; want %q", q, got, err, want)
		}
	})
}

// TestStore_BeginScratch: the transaction commits like any other, and the
// write connection goes back to synced commits and to zeroing freed pages
// afterwards, whether the transaction committed or not.
func TestStore_BeginScratch(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, commit := range []bool{true, false} {
			tx, done, err := s.BeginScratch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO rollup_checkpoint (name, seq) VALUES (?, ?)`), fmt.Sprint("scratch", commit), 7); err != nil {
				t.Fatal(err)
			}
			if s.Dialect() == store.SQLite {
				var on string
				if err := tx.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil || on != "0" {
					t.Fatalf("secure_delete in a scratch transaction: %q, %v", on, err)
				}
			}
			if commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			done()
			var n int
			if err := s.ReadDB().QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM rollup_checkpoint WHERE name = ?`), fmt.Sprint("scratch", commit)).Scan(&n); err != nil || (n == 1) != commit {
				t.Fatalf("committed %v: %d rows, %v", commit, n, err)
			}
			if s.Dialect() == store.Postgres {
				continue
			}
			for q, want := range map[string]string{`PRAGMA synchronous`: "2", `PRAGMA secure_delete`: "1"} {
				var got string
				if err := s.DB().QueryRowContext(ctx, q).Scan(&got); err != nil || got != want {
					t.Fatalf("%s after a scratch transaction: %q, %v; want %q", q, got, err, want)
				}
			}
		}
	})
}
