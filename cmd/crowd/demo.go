package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/demo"
)

// demoCmd implements "crowd demo": fill an empty data dir with the demo
// world and say how to log in.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	cfg.SecretsFlag(fs)
	cfg.DisclosureFlags(fs)
	fs.StringVar(&cfg.PostgresURL, "postgres-url", cfg.PostgresURL, "PostgreSQL URL (default: embedded SQLite)")
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "external NATS JetStream URL (default: embedded server)")
	fs.StringVar(&cfg.NATSStream, "nats-stream", cfg.NATSStream, "event log stream name")
	seed := fs.Uint64("seed", demo.DefaultConfig().Seed, "seed of the world: the same seed makes the same world")
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	start := time.Now()
	progress, done := terminalProgress(stderr)
	sum, err := fillDemo(ctx, cfg, nil, *seed, progress, newLogger(stderr, "warn"))
	done()
	if errors.Is(err, demo.ErrExists) || errors.Is(err, demo.ErrNotEmpty) || errors.Is(err, demo.ErrIncomplete) {
		return fmt.Errorf("demo: %s: %w", cfg.Data, err)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "Demo world ready in %s (%s):\n", cfg.Data, time.Since(start).Round(time.Second))
	printSummary(stdout, sum)
	fmt.Fprintf(stdout, "\nLog in as %s (business) or %s (personal) with the password %s:\n", demo.Business, demo.Personal, demo.Password)
	fmt.Fprintf(stdout, "  crowd serve --data %s\n", cfg.Data)
	return nil
}

// fillDemo creates the demo world in cfg's data dir with an in-process
// Crowd that logs to logger. locks are the dirs the caller holds; nil: the
// in-process Crowd takes them (and fails at once if a server has them).
func fillDemo(ctx context.Context, cfg config.Config, locks *app.Locks, seed uint64, progress func(demo.Progress), logger *slog.Logger) (demo.Summary, error) {
	dc := demo.DefaultConfig()
	dc.Seed = seed
	dc.Progress = progress
	return demo.Create(ctx, &app.Main{Config: cfg, Logger: logger, Locks: locks}, dc)
}

// terminalProgress shows the fill's progress on one line of w, redrawn;
// done clears the line.
func terminalProgress(w io.Writer) (progress func(demo.Progress), done func()) {
	var last time.Time
	shown := false
	progress = func(p demo.Progress) {
		shown = true
		switch {
		case p.Stage != "events":
			fmt.Fprintf(w, "\rdemo: %-60s", p.Stage)
		case p.Done == p.Total || time.Since(last) >= 250*time.Millisecond:
			last = time.Now()
			fmt.Fprintf(w, "\rdemo: events %s / %s%-30s", thousands(float64(p.Done)), thousands(float64(p.Total)), "")
		}
	}
	done = func() {
		if shown {
			fmt.Fprintf(w, "\r%-80s\r", "")
		}
	}
	return progress, done
}

// logProgress logs the fill's stages, and its events in quarters.
func logProgress(logger *slog.Logger) func(demo.Progress) {
	stage, quarter := "", 0
	return func(p demo.Progress) {
		if p.Stage != stage {
			stage, quarter = p.Stage, 0
			logger.Info("demo: filling", slog.String("stage", p.Stage))
		}
		if p.Stage == "events" && p.Total > 0 && 4*p.Done/p.Total > quarter {
			quarter = 4 * p.Done / p.Total
			logger.Info("demo: filling", slog.String("stage", p.Stage), slog.Int("events", p.Done), slog.Int("of", p.Total))
		}
	}
}

func printSummary(w io.Writer, s demo.Summary) {
	n := func(i int) string { return thousands(float64(i)) }
	fmt.Fprintf(w, "  %s creators, %s viewers, %s videos\n", n(s.Creators), n(s.Viewers), n(s.Videos))
	fmt.Fprintf(w, "  %s events over %d days: %s views, %s likes (%s undone), %s comments, %s saves (%s undone), %s shares, %d viral cascades\n",
		n(s.Events), s.Days, n(s.Views), n(s.Likes), n(s.Unlikes), n(s.Comments), n(s.Saves), n(s.Unsaves), n(s.Shares), s.Cascades)
	fmt.Fprintf(w, "  %d accounts logged in: %d follows, %d likes, %d comments, %d direct messages\n",
		s.Logins, s.Follows, s.APILikes, s.APIComments, s.Messages)
}
