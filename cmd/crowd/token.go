package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/security"
)

// token implements "crowd token create --service": it prints a new service
// token for the platform's own servers. Only its hash is stored.
func token(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: crowd token create --service", errUsage)
	}
	cfg := config.Default()
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	fs.StringVar(&cfg.PostgresURL, "postgres-url", cfg.PostgresURL, "PostgreSQL URL (default: embedded SQLite)")
	service := fs.Bool("service", false, "create a service token (bulk ingestion, sync, operator routes)")
	name := fs.String("name", "", "a note on what the token is for")
	if err := config.Parse(fs, args[1:], getenv); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !*service {
		return fmt.Errorf("%w: only --service tokens are created here; app tokens come from POST /v1/apps", errUsage)
	}
	if cfg.PostgresURL == "" {
		// SQLite is one process's: with crowd serve running on this data
		// dir, the token is refused rather than written beside it (stop
		// the server, create the token, start it again). PostgreSQL is
		// shared by design and needs no data dir here.
		locks, err := app.LockDataDir(cfg)
		if err != nil {
			return fmt.Errorf("%w; crowd token create needs the SQLite database to itself", err)
		}
		defer locks.Release()
	}
	s, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	tok, err := security.NewToken("crv")
	if err != nil {
		return err
	}
	if err := s.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), *name, timeNow()); err != nil {
		return fmt.Errorf("create service token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
