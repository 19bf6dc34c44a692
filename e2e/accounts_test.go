package e2e

import (
	"context"
	"testing"

	"github.com/crowd-dev/crowd/client"
)

func ptr[T any](v T) *T { return &v }

// TestAccounts covers the account lifecycle: profile privacy, updates,
// follows, direct-message policy, privacy-policy notices, log out and delete.
func TestAccounts(t *testing.T) {
	ctx := context.Background()
	p, svcToken := StartWithToken(t, t.TempDir(), "--disclosure", "exact", "--login-per-minute", "1000")
	anonC := p.Client()
	mia := MustUser(t, anonC, "mia", client.Registration{BirthDate: "1990-01-02", Gender: "female", Country: "DE", Type: "business", DisplayName: "Mia"})
	leo := MustUser(t, anonC, "leo")

	t.Run("public profile hides private fields", func(t *testing.T) {
		var raw map[string]any
		if err := leo.Do(ctx, "GET", "/v1/accounts/MIA", nil, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"birth_date", "gender", "country", "dm_policy", "password_hash"} {
			if _, ok := raw[k]; ok {
				t.Fatalf("public profile has %q: %v", k, raw)
			}
		}
		if raw["handle"] != "mia" || raw["type"] != "business" || raw["display_name"] != "Mia" {
			t.Fatalf("profile %v", raw)
		}
		me, err := mia.Me(ctx)
		if err != nil || me.BirthDate != "1990-01-02" || me.Country != "DE" || me.Gender != "female" {
			t.Fatalf("own account %+v, %v", me, err)
		}
	})

	t.Run("switch account type", func(t *testing.T) {
		a, err := mia.UpdateMe(ctx, client.AccountPatch{Type: ptr("personal")})
		if err != nil || a.Type != "personal" {
			t.Fatalf("%+v, %v", a, err)
		}
		a, err = mia.UpdateMe(ctx, client.AccountPatch{Type: ptr("business")})
		if err != nil || a.Type != "business" {
			t.Fatalf("%+v, %v", a, err)
		}
	})

	t.Run("follow and activity", func(t *testing.T) {
		if err := leo.Follow(ctx, "mia"); err != nil {
			t.Fatal(err)
		}
		if err := leo.Follow(ctx, "mia"); err != nil { // idempotent
			t.Fatal(err)
		}
		pr, _ := anonC.Profile(ctx, "mia")
		if pr.Followers != 1 {
			t.Fatalf("followers %d", pr.Followers)
		}
		acts, _ := mia.Activity(ctx)
		if len(acts) != 1 || acts[0].Kind != "follow" || acts[0].Actor != "leo" {
			t.Fatalf("activity %+v", acts)
		}
		if err := leo.Unfollow(ctx, "mia"); err != nil {
			t.Fatal(err)
		}
		if pr, _ := anonC.Profile(ctx, "mia"); pr.Followers != 0 {
			t.Fatalf("followers after unfollow %d", pr.Followers)
		}
	})

	t.Run("dm policy", func(t *testing.T) {
		v, err := leo.CreateVideo(ctx, client.NewVideo{Title: "clip"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mia.UpdateMe(ctx, client.AccountPatch{DMPolicy: ptr("nobody")}); err != nil {
			t.Fatal(err)
		}
		if _, err := leo.Send(ctx, "mia", v.ID, ""); client.StatusOf(err) != 403 {
			t.Fatalf("nobody policy: %v", err)
		}
		if _, err := mia.UpdateMe(ctx, client.AccountPatch{DMPolicy: ptr("following")}); err != nil {
			t.Fatal(err)
		}
		if _, err := leo.Send(ctx, "mia", v.ID, ""); client.StatusOf(err) != 403 {
			t.Fatalf("following policy, not followed: %v", err)
		}
		if err := mia.Follow(ctx, "leo"); err != nil {
			t.Fatal(err)
		}
		if _, err := leo.Send(ctx, "mia", v.ID, "now you follow me"); err != nil {
			t.Fatalf("following policy, followed: %v", err)
		}
		in, _ := mia.Inbox(ctx)
		if len(in.Messages) != 1 || in.Messages[0].From != "leo" {
			t.Fatalf("inbox %+v", in)
		}
	})

	t.Run("privacy policy notifies every account", func(t *testing.T) {
		svc := anonC.WithToken(svcToken)
		pp, err := svc.PublishPrivacyPolicy(ctx, "Version two of the policy.")
		if err != nil || pp.Version != 2 {
			t.Fatalf("%+v, %v", pp, err)
		}
		got, _ := anonC.PrivacyPolicy(ctx)
		if got.Version != 2 || got.Text != "Version two of the policy." {
			t.Fatalf("current policy %+v", got)
		}
		for _, c := range []*client.Client{mia, leo} {
			ns, err := c.Notifications(ctx)
			if err != nil || ns.Unread != 1 || ns.Notifications[0].Kind != "privacy_policy" {
				t.Fatalf("notifications %+v, %v", ns, err)
			}
		}
		if err := leo.Do(ctx, "POST", "/v1/notifications/read", nil, nil); err != nil {
			t.Fatal(err)
		}
		if ns, _ := leo.Notifications(ctx); ns.Unread != 0 {
			t.Fatalf("unread after reading: %+v", ns)
		}
	})

	t.Run("logout", func(t *testing.T) {
		c := MustUser(t, anonC, "tmp")
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Me(ctx); client.StatusOf(err) != 401 {
			t.Fatalf("token works after logout: %v", err)
		}
	})

	t.Run("delete account", func(t *testing.T) {
		bye := MustUser(t, anonC, "bye")
		v, _ := mia.CreateVideo(ctx, client.NewVideo{Title: "for bye"})
		if err := bye.Like(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := bye.Comment(ctx, v.ID, "hello"); err != nil {
			t.Fatal(err)
		}
		if err := bye.Save(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		Eventually(t, "like counted", func() bool {
			got, _ := anonC.Video(ctx, v.ID)
			return got.Counts != nil && got.Counts.Likes == 1 && got.Counts.Comments == 1
		})
		if err := bye.DeleteMe(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := anonC.Profile(ctx, "bye"); client.StatusOf(err) != 404 {
			t.Fatalf("profile after delete: %v", err)
		}
		if _, err := bye.Me(ctx); client.StatusOf(err) != 401 {
			t.Fatalf("session after delete: %v", err)
		}
		// Public counters follow the public actions that went; the save,
		// an anonymous contribution, stays counted.
		Eventually(t, "likes and comments gone from counters", func() bool {
			got, _ := anonC.Video(ctx, v.ID)
			return got.Counts != nil && got.Counts.Likes == 0 && got.Counts.Comments == 0 && got.Counts.Saves == 1
		})
		// The handle is free again.
		MustUser(t, anonC, "bye")
	})
}

// TestLoginRateLimit: repeated logins from one client are refused with 429
// and Retry-After once the limit is spent, even with the right password.
func TestLoginRateLimit(t *testing.T) {
	ctx := context.Background()
	p := Start(t, t.TempDir(), "--login-per-minute", "3")
	c := p.Client()
	if _, err := c.Register(ctx, client.Registration{Handle: "mia", Password: "password-mia"}); err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 5; i++ {
		_, last = c.Login(ctx, "mia", "wrong-password")
	}
	if client.StatusOf(last) != 429 {
		t.Fatalf("after 5 attempts: %v", last)
	}
	if _, err := c.Login(ctx, "mia", "password-mia"); client.StatusOf(err) != 429 {
		t.Fatalf("right password during the lockout: %v", err)
	}
}
