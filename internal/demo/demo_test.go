package demo_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/demo"
	"github.com/crowd-dev/crowd/internal/security"
)

// small is a world that fills in a few seconds.
func small(now time.Time) demo.Config {
	return demo.Config{Seed: 3, Creators: 5, Viewers: 200, Videos: 20, Days: 7, Events: 6000, Batch: 1000, Now: now}
}

// MustStart runs Crowd in-process on a fresh data dir in exact mode.
func MustStart(tb testing.TB) *app.Main {
	tb.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminAddr = "" // no operator listener: tests run side by side
	cfg.Data = filepath.Join(tb.TempDir(), "data")
	cfg.Disclosure = config.Exact
	cfg.LoginPerMinute = 1000
	m := &app.Main{Config: cfg, Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}} // cheap: tests, not security
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return m
}

// MustServiceClient returns a client of m with a new service token.
func MustServiceClient(tb testing.TB, m *app.Main) *client.Client {
	tb.Helper()
	tok, err := demo.ServiceToken(tb.Context(), m, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return client.New(m.URL()).WithToken(tok)
}

type report struct {
	Totals struct {
		Views, Likes, Comments, Shares, Saves int64
	} `json:"totals"`
}

func TestWorld_Deterministic(t *testing.T) {
	now := time.Date(2026, 11, 24, 18, 30, 0, 0, time.UTC)
	run := func(cfg demo.Config) (demo.Summary, []client.Event) {
		w, err := demo.NewWorld(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var all []client.Event
		later, s, err := w.Events(func(b []client.Event) error { all = append(all, b...); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return s, append(all, later...)
	}
	a, evsA := run(small(now))
	b, _ := run(small(now.Add(5 * time.Hour)))
	if a != b {
		t.Fatalf("same seed, different worlds:\n%+v\n%+v", a, b)
	}
	c, _ := run(demo.Config{Seed: 4, Creators: 5, Viewers: 200, Videos: 20, Days: 7, Events: 6000, Now: now})
	if a == c {
		t.Errorf("different seeds made the same world: %+v", a)
	}
	if a.Events != len(evsA) || a.Views+a.Likes+a.Unlikes+a.Comments+a.Saves+a.Unsaves+a.Shares != a.Events {
		t.Errorf("counts do not add up: %+v, %d events", a, len(evsA))
	}
	if a.Events < 6000 || a.Events > 7000 {
		t.Errorf("events = %d, want about 6000", a.Events)
	}
	ids := map[string]bool{}
	start := now.AddDate(0, 0, -7)
	for _, ev := range evsA {
		if ids[ev.ID] {
			t.Fatalf("event id %s twice", ev.ID)
		}
		ids[ev.ID] = true
		ts, err := time.Parse(time.RFC3339, ev.TS)
		if err != nil || ts.After(now) || ts.Before(start) {
			t.Fatalf("event %s at %s, outside [%s, %s]", ev.ID, ev.TS, start, now)
		}
	}
}

func TestNewWorld_Invalid(t *testing.T) {
	for _, cfg := range []demo.Config{{Creators: 1}, {Viewers: 3}, {Videos: 5}, {Days: 400}} {
		if _, err := demo.NewWorld(cfg); err == nil {
			t.Errorf("NewWorld(%+v) = nil error", cfg)
		}
	}
}

func TestFill(t *testing.T) {
	ctx := t.Context()
	m := MustStart(t)
	svc := MustServiceClient(t, m)
	if err := demo.Check(ctx, svc); err != nil {
		t.Fatalf("Check on an empty instance: %v", err)
	}
	sum, err := demo.Fill(ctx, svc, small(time.Time{}))
	if err != nil {
		t.Fatalf("Fill: %v", err)
	}
	if err := demo.WaitAggregated(ctx, m); err != nil {
		t.Fatal(err)
	}
	if sum.Creators != 5 || sum.Viewers != 200 || sum.Videos != 20 || sum.Messages == 0 || sum.Follows == 0 {
		t.Errorf("summary = %+v", sum)
	}
	if err := demo.Check(ctx, svc); !errors.Is(err, demo.ErrNotEmpty) {
		t.Errorf("Check after Fill = %v, want ErrNotEmpty", err)
	}

	t.Run("SameSeedSameSummary", func(t *testing.T) {
		m2 := MustStart(t)
		sum2, err := demo.Fill(ctx, MustServiceClient(t, m2), small(time.Time{}))
		if err != nil {
			t.Fatalf("Fill: %v", err)
		}
		if sum2 != sum {
			t.Errorf("same seed, different summaries:\n%+v\n%+v", sum, sum2)
		}
	})

	anon := client.New(m.URL())
	for _, h := range []string{demo.Business, demo.Personal} {
		t.Run("Login_"+h, func(t *testing.T) {
			s, err := anon.Login(ctx, h, demo.Password)
			if err != nil {
				t.Fatalf("log in as %s: %v", h, err)
			}
			c := anon.WithToken(s.Token)
			var rep report
			if err := c.Do(ctx, "GET", "/v1/analytics/account?range=7d", nil, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Totals.Views == 0 {
				t.Errorf("%s's totals = %+v, want views", h, rep.Totals)
			}
			if h == demo.Business && (rep.Totals.Shares == 0 || rep.Totals.Saves == 0) {
				t.Errorf("mia's totals = %+v, want shares and saves", rep.Totals)
			}
			inbox, err := c.Inbox(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(inbox.Messages) == 0 || inbox.Messages[0].From == "" {
				t.Errorf("%s's inbox = %+v, want messages naming their senders", h, inbox.Messages)
			}
			if h == demo.Business {
				act, err := c.Activity(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(act) == 0 || act[0].Actor == "" {
					t.Errorf("mia's activity = %+v, want likes, comments and follows with names", act)
				}
			}
		})
	}
}

func TestCreate_Refuses(t *testing.T) {
	m := MustStart(t)
	ctx := t.Context()
	svc := MustServiceClient(t, m)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "p-1", Handle: "someone"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncVideos(ctx, []client.SyncVideo{{ID: "p-v1", Owner: "p-1", Title: "mine"}}); err != nil {
		t.Fatal(err)
	}
	data := m.Config.Data
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Data = data
	_, err := demo.Create(ctx, &app.Main{Config: cfg}, small(time.Time{}))
	if !errors.Is(err, demo.ErrNotEmpty) {
		t.Fatalf("Create on a data dir with videos = %v, want ErrNotEmpty", err)
	}
}

func TestCheck_Errors(t *testing.T) {
	c := client.New("http://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := demo.Check(ctx, c); err == nil || errors.Is(err, demo.ErrExists) || errors.Is(err, demo.ErrNotEmpty) {
		t.Errorf("Check with nothing listening = %v, want a connection error", err)
	}
}

func TestCreate(t *testing.T) {
	ctx := t.Context()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Disclosure = config.Exact
	cheap := security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}
	sum, err := demo.Create(ctx, &app.Main{Config: cfg, Passwords: cheap}, small(time.Time{}))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if sum.Events == 0 || sum.Messages == 0 {
		t.Errorf("summary = %+v", sum)
	}
	if _, err := demo.Create(ctx, &app.Main{Config: cfg, Passwords: cheap}, small(time.Time{})); !errors.Is(err, demo.ErrExists) {
		t.Errorf("Create again = %v, want ErrExists", err)
	}
}

// TestCreate_Interrupted: a fill stopped half way leaves the marker at
// "filling", and the next Create says so instead of mixing a second world
// into the first.
func TestCreate_Interrupted(t *testing.T) {
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Disclosure = config.Exact
	cheap := security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dc := small(time.Time{})
	dc.Progress = func(p demo.Progress) {
		if p.Stage == "videos" { // the accounts are in
			cancel()
		}
	}
	if _, err := demo.Create(ctx, &app.Main{Config: cfg, Passwords: cheap}, dc); err == nil {
		t.Fatal("Create with its context canceled half way succeeded")
	}
	if _, err := demo.Create(t.Context(), &app.Main{Config: cfg, Passwords: cheap}, small(time.Time{})); !errors.Is(err, demo.ErrIncomplete) {
		t.Errorf("Create after an interrupted fill = %v, want ErrIncomplete", err)
	}
}

// TestCreate_PlatformAccountNamedMia: a platform's own account named mia,
// with no videos, is data of its own, not the demo world: only the marker
// says the world is there.
func TestCreate_PlatformAccountNamedMia(t *testing.T) {
	m := MustStart(t)
	ctx := t.Context()
	svc := MustServiceClient(t, m)
	if _, err := svc.SyncAccounts(ctx, []client.SyncAccount{{ID: "p-1", Handle: demo.Business}}); err != nil {
		t.Fatal(err)
	}
	data := m.Config.Data
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Data = data
	if _, err := demo.Create(ctx, &app.Main{Config: cfg}, small(time.Time{})); !errors.Is(err, demo.ErrNotEmpty) {
		t.Fatalf("Create on a data dir with a platform account named %s = %v, want ErrNotEmpty", demo.Business, err)
	}
}
