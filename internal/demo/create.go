package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/security"
)

var (
	// ErrExists means the instance already has the demo world.
	ErrExists = errors.New("the demo world is already there (an account named mia exists)")
	// ErrNotEmpty means the instance has data of its own, which the demo
	// world would mix with.
	ErrNotEmpty = errors.New("the data dir already has videos; the demo needs an empty one")
	// ErrIncomplete means an earlier Create of the data dir did not finish.
	ErrIncomplete = errors.New("an earlier demo fill of this data dir was interrupted; remove it and start again")
)

// MarkerFile is the file in the data dir where Create notes, last, the
// world it made. Without it a world is incomplete.
const MarkerFile = "demo-world.json"

// Check tells whether the instance c talks to can take the demo world: nil
// when it is empty, ErrExists when the world is already there, ErrNotEmpty
// when it holds other data.
func Check(ctx context.Context, c *client.Client) error {
	_, err := c.Profile(ctx, Business)
	switch {
	case err == nil:
		return ErrExists
	case client.StatusOf(err) != http.StatusNotFound:
		return fmt.Errorf("look for the demo world: %w", err)
	}
	feed, err := c.Feed(ctx, "")
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
// as given), refuses with ErrExists, ErrIncomplete or ErrNotEmpty unless the
// instance is empty, creates a service token for itself, runs Fill, waits
// until aggregation has applied everything, writes MarkerFile and closes m
// again.
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
	c := client.New(m.URL())
	marker := filepath.Join(m.Config.Data, MarkerFile)
	if err := Check(ctx, c); err != nil {
		if _, serr := os.Stat(marker); errors.Is(err, ErrExists) && errors.Is(serr, fs.ErrNotExist) {
			return Summary{}, ErrIncomplete
		}
		return Summary{}, err
	}
	tok, err := ServiceToken(ctx, m, "crowd demo")
	if err != nil {
		return Summary{}, err
	}
	if cfg.Now.IsZero() && m.Now != nil {
		cfg.Now = m.Now()
	}
	sum, err = Fill(ctx, c.WithToken(tok), cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := WaitAggregated(ctx, m); err != nil {
		return Summary{}, err
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	if err := os.WriteFile(marker, append(b, '\n'), 0o600); err != nil {
		return Summary{}, fmt.Errorf("note the demo world: %w", err)
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
