package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/security"
)

var (
	// ErrExists means the instance already has the demo world: its marker
	// says a fill completed.
	ErrExists = errors.New("the demo world is already there (its marker says a fill completed)")
	// ErrNotEmpty means the instance has data of its own, which the demo
	// world would mix with.
	ErrNotEmpty = errors.New("the data dir already has data of its own (videos, or an account with a demo handle); the demo needs an empty one")
	// ErrIncomplete means an earlier Create of the data dir did not finish.
	ErrIncomplete = errors.New("an earlier demo fill of this data dir was interrupted; remove it and start again")
)

// MarkerSetting is the instance setting (in the store, with the data it
// describes) where Create notes the demo world: "filling" before it sends
// anything, "complete" with the world's summary once aggregation has
// applied it all. The marker, not any account or video, tells a filled
// instance: a platform's own account named mia is not the demo world.
const MarkerSetting = "demo_world"

// Marker states.
const (
	stateFilling  = "filling"
	stateComplete = "complete"
)

// marker is the value of MarkerSetting.
type marker struct {
	State       string    `json:"state"`
	Seed        uint64    `json:"seed"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	Summary     *Summary  `json:"summary,omitempty"`
}

// State returns the demo marker's state in m's store: "" (no demo world),
// "filling" (a fill started and did not complete) or "complete". m must
// be open.
func State(ctx context.Context, m *app.Main) (string, error) {
	v, ok, err := m.Store.Setting(ctx, MarkerSetting)
	if err != nil {
		return "", fmt.Errorf("read the demo marker: %w", err)
	}
	if ok {
		var mk marker
		if err := json.Unmarshal([]byte(v), &mk); err != nil {
			return "", fmt.Errorf("read the demo marker: %w", err)
		}
		return mk.State, nil
	}
	return "", nil
}

func setMarker(ctx context.Context, m *app.Main, mk marker) error {
	b, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	if err := m.Store.SetSetting(ctx, MarkerSetting, string(b), time.Now().UTC()); err != nil {
		return fmt.Errorf("note the demo world (%s): %w", mk.State, err)
	}
	return nil
}

// Check tells whether the instance c talks to can take the demo world:
// nil when it is empty, ErrNotEmpty when it holds videos or an account
// with one of the demo's fixed handles (mia, leo). Whether the demo world
// itself is there is the marker's to tell (State).
func Check(ctx context.Context, c *client.Client) error {
	for _, h := range []string{Business, Personal} {
		_, err := c.Profile(ctx, h)
		switch {
		case err == nil:
			return ErrNotEmpty
		case client.StatusOf(err) != http.StatusNotFound:
			return fmt.Errorf("look for the demo accounts: %w", err)
		}
	}
	feed, err := c.Feed(ctx, "", client.Limit(1))
	if err != nil {
		return fmt.Errorf("look for existing videos: %w", err)
	}
	if len(feed.Videos) > 0 {
		return ErrNotEmpty
	}
	return nil
}

// loginPerMinute lifts the login, registration and anonymous view rate
// limits of the instance Create runs: its friendly viewers register, log in
// and watch one after another from one address.
const loginPerMinute = 1_000_000

// Create fills the data dir of m with cfg's world. It opens m (listening on
// a free loopback port, with the login limit lifted; the rest of m.Config
// as given) and refuses with ErrExists when the demo marker says a fill
// completed, ErrIncomplete when it says one started and did not complete,
// and ErrNotEmpty when the instance holds data (Check). Then it notes
// "filling", creates a service token for itself, runs Fill, waits until
// aggregation has applied everything, notes "complete" with the summary,
// and closes m again.
func Create(ctx context.Context, m *app.Main, cfg Config) (sum Summary, err error) {
	m.Config.Addr = "127.0.0.1:0"
	m.Config.AdminAddr = "" // the filling instance serves no metrics
	m.Config.LoginPerMinute = loginPerMinute
	m.Config.RegisterPerMinute = loginPerMinute
	m.Config.AnonViewsPerMinute = loginPerMinute
	if err := m.Open(ctx); err != nil {
		return Summary{}, err
	}
	defer func() {
		if cerr := m.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	switch state, err := State(ctx, m); {
	case err != nil:
		return Summary{}, err
	case state == stateComplete:
		return Summary{}, ErrExists
	case state != "":
		return Summary{}, ErrIncomplete
	}
	c := client.New(m.URL())
	if err := Check(ctx, c); err != nil {
		return Summary{}, err
	}
	if cfg.Now.IsZero() && m.Now != nil {
		cfg.Now = m.Now()
	}
	mk := marker{State: stateFilling, Seed: cfg.Seed, StartedAt: time.Now().UTC()}
	if err := setMarker(ctx, m, mk); err != nil {
		return Summary{}, err
	}
	tok, err := ServiceToken(ctx, m, "crowd demo")
	if err != nil {
		return Summary{}, err
	}
	sum, err = Fill(ctx, c.WithToken(tok), cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := WaitAggregated(ctx, m); err != nil {
		return Summary{}, err
	}
	mk.State, mk.CompletedAt, mk.Summary = stateComplete, time.Now().UTC(), &sum
	if err := setMarker(ctx, m, mk); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// ServiceToken creates a service token in m's store, as
// `crowd token create --service` does, and returns it.
func ServiceToken(ctx context.Context, m *app.Main, name string) (string, error) {
	tok, err := security.NewToken("crv")
	if err != nil {
		return "", err
	}
	if err := m.Store.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), name, time.Now().UTC()); err != nil {
		return "", fmt.Errorf("create service token: %w", err)
	}
	return tok, nil
}

// settle is how long the event log must stay unchanged, with everything in
// it applied, before aggregation counts as caught up. It covers the outbox
// relay's 250 ms polling interval with room to spare.
const settle = time.Second

// WaitAggregated waits until m's aggregation has applied every event in the
// log and the log has stopped growing, or ctx is done.
func WaitAggregated(ctx context.Context, m *app.Main) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var last uint64
	var since, failing time.Time
	for {
		// A busy event log may time out answering; only a minute of
		// failures in a row is an error.
		info, err := m.Log.Info(ctx)
		if err != nil {
			if failing.IsZero() {
				failing = time.Now()
			} else if time.Since(failing) > time.Minute || ctx.Err() != nil {
				return fmt.Errorf("wait for aggregation: %w", err)
			}
			since = time.Time{}
			if err := sleep(ctx, t); err != nil {
				return err
			}
			continue
		}
		failing = time.Time{}
		applied := m.Aggregate.Applied()
		if applied == 0 {
			// Nothing applied by this process yet: the checkpoint says
			// what earlier ones did.
			if applied, err = m.Aggregate.Checkpoint(ctx); err != nil {
				return fmt.Errorf("wait for aggregation: %w", err)
			}
		}
		switch {
		case applied < info.LastSeq || info.LastSeq != last || since.IsZero():
			last, since = info.LastSeq, time.Now()
		case time.Since(since) >= settle:
			return nil
		}
		if err := sleep(ctx, t); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, t *time.Ticker) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait for aggregation: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
