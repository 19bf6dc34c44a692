package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/security"
)

const tokenUsage = "crowd token create --service [--name NOTE] | crowd token list | crowd token revoke ID  [--data DIR] [--postgres-url URL]"

// token implements "crowd token": create prints a new service token for
// the platform's own servers (only its hash is stored), list shows the
// service tokens with when each was created and last used, and revoke
// deletes one by id. While a server runs, the same is done through the API
// (GET, POST /v1/service-tokens, DELETE /v1/service-tokens/{id}).
func token(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, tokenUsage)
	}
	sub := args[0]
	cfg := config.Default()
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	fs.StringVar(&cfg.PostgresURL, "postgres-url", cfg.PostgresURL, "PostgreSQL URL (default: embedded SQLite)")
	var service *bool
	var name *string
	switch sub {
	case "create":
		service = fs.Bool("service", false, "create a service token (bulk ingestion, sync, operator routes)")
		name = fs.String("name", "", "a note on what the token is for")
	case "list", "revoke":
	default:
		return fmt.Errorf("%w: %s", errUsage, tokenUsage)
	}
	pos, err := config.ParseArgs(fs, args[1:], getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var id string
	if sub == "revoke" && len(pos) > 0 {
		id, pos = pos[0], pos[1:]
	}
	switch {
	case sub == "create" && !*service:
		return fmt.Errorf("%w: only --service tokens are created here; app tokens come from POST /v1/apps", errUsage)
	case sub == "revoke" && id == "":
		return fmt.Errorf("%w: crowd token revoke ID (the id from crowd token list)", errUsage)
	case len(pos) != 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
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
	switch sub {
	case "list":
		toks, err := s.ServiceTokens(ctx)
		if err != nil {
			return fmt.Errorf("list service tokens: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tLAST USED\tNAME")
		for _, t := range toks {
			used := "never"
			if !t.LastUsedAt.IsZero() {
				used = t.LastUsedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.CreatedAt.Format(time.RFC3339), used, t.Name)
		}
		return tw.Flush()
	case "revoke":
		if err := s.DeleteServiceToken(ctx, id); err != nil {
			return fmt.Errorf("revoke service token %s: %w", id, err)
		}
		fmt.Fprintln(stdout, "revoked", id)
		return nil
	}
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
