package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/rollup"
)

// importBatch is how many events one publish carries.
const importBatch = 10_000

// importCmd implements "crowd import FILE": it backfills history from NDJSON
// events (the format of POST /v1/events), then aggregates them, so the
// history is in every report when crowd serve starts. Run it while crowd
// serve is stopped: it takes the data dir for itself, and refuses one a
// server holds.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := config.Default()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.DataFlag(fs)
	cfg.SecretsFlag(fs)
	fs.StringVar(&cfg.PostgresURL, "postgres-url", cfg.PostgresURL, "PostgreSQL URL (default: embedded SQLite)")
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "external NATS JetStream URL (default: embedded)")
	fs.StringVar(&cfg.NATSStream, "nats-stream", cfg.NATSStream, "event log stream name")
	cfg.ReplicasFlag(fs)
	cfg.DisclosureFlags(fs)
	// The file comes first (crowd import FILE --data DIR), or after the flags.
	pos, err := config.ParseArgs(fs, args, getenv)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case len(pos) == 0:
		return fmt.Errorf("%w: crowd import FILE [--data DIR]", errUsage)
	case len(pos) > 1:
		return fmt.Errorf("%w: unexpected argument %q: crowd import takes one FILE", errUsage, pos[1])
	}
	file := pos[0]
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	// Nothing of the data dir is opened before it is this process's.
	locks, err := app.LockDirs(cfg)
	if err != nil {
		return err
	}
	defer locks.Release()

	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := app.CheckDisclosure(ctx, st, cfg, newLogger(stderr, "warn"), time.Now()); err != nil {
		return err
	}
	pseud, err := pseudonym.Open(cfg.Secrets(), nil)
	if err != nil {
		return err
	}
	lg, err := eventlog.Open(ctx, eventlog.Config{Dir: filepath.Join(cfg.Data, "eventlog"), URL: cfg.NATSURL, Stream: cfg.NATSStream,
		SubjectPrefix: strings.ToLower(cfg.NATSStream), MaxAge: cfg.LogRetention, Replicas: cfg.StreamReplicas, Logger: newLogger(stderr, "warn")})
	if err != nil {
		return err
	}
	defer lg.Close()
	keys, err := noise.OpenKeyring(cfg.Secrets())
	if err != nil {
		return err
	}
	layer := disclosure.New(cfg.Disclosure, st)
	if err := layer.Protect(keys, disclosure.DefaultPolicy(), nil); err != nil {
		return err
	}
	// Events dated in days whose cells are released count today; the rest
	// keep their dates, and their days are released from the imported
	// history when first read (or by the server's release job).
	// The aggregation state (read from its journal) tells ids already
	// counted, so a re-run import reports them as duplicates.
	agg := rollup.New(st, lg, nil, nil)
	agg.SetStateLimit(cfg.StateLimit)
	if err := agg.LoadState(ctx); err != nil {
		return err
	}
	in := &engage.Ingester{Events: &engage.Builder{Pseudonym: pseud, LinkViews: cfg.Disclosure == config.Exact}, Directory: directory.New(st), Seen: agg.Seen, Log: lg,
		Recent: pipeline.NewRecent(1 << 20), Released: layer.Released}

	var total engage.Result
	var batch []ingest.Event
	var rejected []ingest.Rejection
	flush := func() error {
		res, err := in.Ingest(ctx, batch, rejected)
		if err != nil {
			return err
		}
		total.Accepted += res.Accepted
		total.Duplicates += res.Duplicates
		total.Rejected = append(total.Rejected, res.Rejected...)
		batch, rejected = batch[:0], nil
		return nil
	}
	start := time.Now()
	// An import file has no line limit: it is decoded in one stream and
	// published in batches.
	lineRejects, err := ingest.Decode(f, ingest.Options{Now: time.Now(), MaxLines: 1 << 40}, func(e *ingest.Event) error {
		batch = append(batch, *e)
		if len(batch) >= importBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	rejected = lineRejects
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %d events (%d duplicates, %d rejected) in %s\n", total.Accepted, total.Duplicates, len(total.Rejected), time.Since(start).Round(time.Millisecond))
	if n := countCode(total.Rejected, engage.CodeDayClosed); n > 0 {
		fmt.Fprintf(stdout, "refused %d events of closed days (%s): their viewer salts are destroyed, and counting them again would count viewers twice\n", n, engage.CodeDayClosed)
	}
	for i, r := range total.Rejected {
		if i == 20 {
			fmt.Fprintf(stdout, "… and %d more rejected lines\n", len(total.Rejected)-20)
			break
		}
		fmt.Fprintf(stdout, "line %d: %s: %s\n", r.Line, r.Code, r.Message)
	}

	// Aggregate until the log is applied up to its end.
	info, err := lg.Info(ctx)
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agg.Run(actx) }()
	for {
		cp, err := agg.Checkpoint(ctx)
		if err == nil && cp >= info.LastSeq {
			break
		}
		select {
		case err := <-done:
			cancel()
			return fmt.Errorf("aggregate: %w", err)
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
	// Publish the periods that have closed (protected mode).
	videos, err := layer.ReleaseHistory(ctx)
	if err != nil {
		return fmt.Errorf("release cells: %w", err)
	}
	if cfg.Disclosure == config.Protected {
		fmt.Fprintf(stdout, "released the closed days of %d videos\n", videos)
	}
	fmt.Fprintf(stdout, "aggregated; total time %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// countCode returns how many of rs have code.
func countCode(rs []ingest.Rejection, code string) int {
	n := 0
	for _, r := range rs {
		if r.Code == code {
			n++
		}
	}
	return n
}
