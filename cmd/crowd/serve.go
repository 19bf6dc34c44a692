package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/demo"
)

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Flags(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// From here on the process is a server: what stops it is logged as a
	// JSON record like everything else it logs.
	logger := newLogger(stderr, cfg.LogLevel)
	if err := runServer(ctx, cfg, logger, stderr, getenv); err != nil {
		logger.Error("crowd stopped", slog.Any("err", err))
		return loggedError{err}
	}
	return nil
}

// runServer serves until ctx is done or a component fails.
func runServer(ctx context.Context, cfg config.Config, logger *slog.Logger, stderr io.Writer, getenv func(string) string) error {
	// The data dir (and the secrets dir) are this process's before the
	// demo fill or the server open anything in them.
	locks, err := app.LockDirs(cfg)
	if err != nil {
		return err
	}
	defer locks.Release()
	setMemoryLimit(cfg, getenv)
	if cfg.Demo {
		if err := serveDemo(ctx, cfg, locks, stderr, logger); err != nil {
			return err
		}
	}
	m := &app.Main{Config: cfg, Logger: logger, Locks: locks}
	if err := openServer(ctx, m, logger); err != nil {
		if ctx.Err() != nil && !errors.Is(err, errStartupHung) {
			logger.Info("stopped during start-up")
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-m.Err():
		logger.Error("shutting down after a component failed", slog.Any("err", err))
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		logger.Info("stopped cleanly")
	}
	return err
}

// serveDemo fills an empty data dir with the demo world before serving; a
// data dir with the world, or with data of its own, is left as it is. The
// filling instance logs only warnings, so the one "crowd serving" line is
// the real server's.
func serveDemo(ctx context.Context, cfg config.Config, locks *app.Locks, stderr io.Writer, logger *slog.Logger) error {
	level := "warn"
	if cfg.LogLevel == "error" {
		level = "error"
	}
	logger.Info("demo: looking for the demo world", slog.String("data", cfg.Data))
	sum, err := fillDemo(ctx, cfg, locks, demo.DefaultConfig().Seed, logProgress(logger), newLogger(stderr, level))
	switch {
	case errors.Is(err, demo.ErrExists):
		logger.Info("demo world already there")
		return nil
	case errors.Is(err, demo.ErrNotEmpty):
		logger.Warn("data dir has data of its own; not adding the demo world")
		return nil
	case errors.Is(err, demo.ErrIncomplete):
		logger.Warn("an earlier demo fill of this data dir was interrupted; serving it as it is (remove the data dir for a complete world)")
		return nil
	case err != nil:
		return fmt.Errorf("demo: %w", err)
	}
	logger.Info("demo world created", slog.Int("creators", sum.Creators), slog.Int("viewers", sum.Viewers),
		slog.Int("videos", sum.Videos), slog.Int("events", sum.Events),
		slog.String("login", demo.Business+" or "+demo.Personal+" with the password "+demo.Password))
	return nil
}

// setMemoryLimit applies the configured soft memory limit unless GOMEMLIMIT
// sets one.
func setMemoryLimit(cfg config.Config, getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimitMiB << 20)
	}
}

// startupStopGrace bounds how long a start-up that was told to stop may
// take to notice: every step of Open honours its context, and one that
// does not (a hung disk) must not keep the process from exiting. Nothing
// has been acknowledged to anyone before Open returns, so exiting then is
// as safe as the crash every component is built to survive.
const startupStopGrace = 4 * time.Second

var errStartupHung = errors.New("start-up did not stop")

// openServer opens m, giving up startupStopGrace after ctx is done.
func openServer(ctx context.Context, m *app.Main, logger *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- m.Open(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(startupStopGrace):
		logger.Error("start-up did not stop in time; exiting", slog.Duration("grace", startupStopGrace))
		return fmt.Errorf("%w within %v", errStartupHung, startupStopGrace)
	}
}
