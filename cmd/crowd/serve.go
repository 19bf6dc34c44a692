package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
)

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Flags(fs)
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	logger := newLogger(stderr, cfg.LogLevel)
	m := &app.Main{Config: cfg, Logger: logger}
	if err := m.Open(ctx); err != nil {
		return err
	}
	var err error
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
