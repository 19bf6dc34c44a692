package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/noise"
)

// keys implements "crowd keys rotate": it adds a new noise key and makes it
// current. Cells released from then on use it; cells already released keep
// their values and their key id (re-deriving them would be a fresh draw an
// attacker could average). It refuses a data or secrets dir a running
// process uses: stop crowd serve, rotate, start it again.
func keys(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return fmt.Errorf("%w: crowd keys rotate [--data DIR] [--secrets-dir DIR]", errUsage)
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	cfg.SecretsFlag(fs)
	if err := config.Parse(fs, args[1:], getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	// A running server holds the keys it read at start; rotating beside
	// it is refused.
	locks, err := app.LockDirsToRotate(cfg)
	if err != nil {
		return err
	}
	defer locks.Release()
	k, err := noise.OpenKeyring(cfg.Secrets())
	if err != nil {
		return err
	}
	kid, err := k.Rotate()
	if err != nil {
		return fmt.Errorf("rotate noise key: %w", err)
	}
	fmt.Fprintf(stdout, "noise key %d is now current; crowd serve uses it for new cells from its next start\n", kid)
	return nil
}
