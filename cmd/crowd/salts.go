package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/pseudonym"
)

// salts implements "crowd salts prune": it destroys the viewer salts of
// days that ended at least --keep ago and were not used for --idle, and
// closes those days, as crowd serve does every hour. A closed day's events
// are refused from then on. After a history import is complete, "crowd
// salts prune --idle 0" closes the imported days at once rather than a day
// later. It refuses to run beside crowd serve on the same data or secrets
// dir: a running server holds the salts in memory and would write them
// back; it learns of the closed days when it starts.
func salts(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "prune" {
		return fmt.Errorf("%w: crowd salts prune [--data DIR] [--secrets-dir DIR] [--keep 72h] [--idle 24h]", errUsage)
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("salts prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	cfg.SecretsFlag(fs)
	keep := fs.Duration("keep", pseudonym.DefaultSaltRetention, "keep the salts of days that ended less than this long ago")
	idle := fs.Duration("idle", pseudonym.DefaultSaltIdle, "keep the salts used less than this long ago (0: however recently)")
	if err := config.Parse(fs, args[1:], getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *keep < 0 || *idle < 0 {
		return fmt.Errorf("%w: --keep and --idle must not be negative", errUsage)
	}
	// A running server holds the salts in memory and would write them
	// back: pruning beside it is refused, like rotating keys.
	locks, err := app.LockDirsToRotate(cfg)
	if err != nil {
		return err
	}
	defer locks.Release()
	p, err := pseudonym.Open(cfg.Secrets(), nil)
	if err != nil {
		return err
	}
	closed, err := p.PruneSalts(*keep, *idle)
	if err != nil {
		return err
	}
	if len(closed) == 0 {
		fmt.Fprintln(stdout, "no day to close")
		return nil
	}
	days := make([]string, len(closed))
	for i, d := range closed {
		days[i] = period.Day(d).Start().Format(time.DateOnly)
	}
	fmt.Fprintf(stdout, "closed %d days: %s\n", len(closed), strings.Join(days, ", "))
	return nil
}
