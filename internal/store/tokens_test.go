package store_test

import (
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

func TestStore_ServiceTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		if err := s.CreateServiceToken(ctx, "tok-a", "hash-a", "platform", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateServiceToken(ctx, "tok-b", "hash-b", "", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		toks, err := s.ServiceTokens(ctx)
		if err != nil || len(toks) != 2 || toks[0].ID != "tok-a" || toks[0].Name != "platform" || !toks[0].CreatedAt.Equal(t0) || !toks[0].LastUsedAt.IsZero() {
			t.Fatalf("list: %+v, %v", toks, err)
		}
		// Use is recorded at most once per TokenUseGranularity.
		lastUse := func() time.Time {
			toks, err := s.ServiceTokens(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return toks[0].LastUsedAt
		}
		for _, c := range []struct {
			at, want time.Time
		}{
			{t0.Add(time.Hour), t0.Add(time.Hour)},
			{t0.Add(time.Hour + 30*time.Second), t0.Add(time.Hour)},
			{t0.Add(time.Hour + 59*time.Second), t0.Add(time.Hour)},
			{t0.Add(time.Hour + 61*time.Second), t0.Add(time.Hour + 61*time.Second)},
		} {
			tok, err := s.ServiceToken(ctx, "hash-a", c.at)
			if err != nil || tok.ID != "tok-a" {
				t.Fatalf("lookup: %+v, %v", tok, err)
			}
			if got := lastUse(); !got.Equal(c.want) {
				t.Fatalf("used at %v: stored last use %v, want %v", c.at, got, c.want)
			}
		}
		if err := s.DeleteServiceToken(ctx, "tok-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ServiceToken(ctx, "hash-a", t0); platform.ErrorCode(err) != platform.EUNAUTHORIZED {
			t.Fatalf("revoked token: %v", err)
		}
		if err := s.DeleteServiceToken(ctx, "tok-a"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("revoke twice: %v", err)
		}
	})
}
