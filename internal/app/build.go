package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/rollup"
	"github.com/crowd-dev/crowd/internal/store"
)

// The functions below build each component from the configuration, once
// for every command: Main (crowd serve, demo, bench) and Import (crowd
// import) both call them, so a component is wired the same way wherever
// it runs.

// logConfig is the event log of c: the embedded server in the data dir,
// or the external NATS c names.
func logConfig(c config.Config, logger *slog.Logger) eventlog.Config {
	return eventlog.Config{
		Dir:           filepath.Join(c.Data, "eventlog"),
		URL:           c.NATSURL,
		Stream:        c.NATSStream,
		SubjectPrefix: strings.ToLower(c.NATSStream),
		Replicas:      c.StreamReplicas,
		MaxAge:        c.LogRetention,
		Compression:   c.LogCompression,
		Logger:        logger,
	}
}

// openDisclosure returns the disclosure layer of c's mode, given the noise
// keys of the secrets dir and the default policy (so that it is never in
// StateProtectedNoKeys).
func openDisclosure(c config.Config, st *store.Store, now func() time.Time) (*disclosure.Layer, error) {
	layer := disclosure.New(c.Disclosure, st)
	keys, err := noise.OpenKeyring(c.Secrets())
	if err != nil {
		return nil, fmt.Errorf("open noise keys: %w", err)
	}
	if err := layer.Protect(keys, disclosure.DefaultPolicy(), now); err != nil {
		return nil, err
	}
	return layer, nil
}

// newAggregator returns aggregation into st of a log of partitions
// partitions, with c's state limit and partitions; its log is given by
// SetLog once open, and its state can load before (LoadState).
func newAggregator(c config.Config, st *store.Store, partitions int, logger *slog.Logger, now func() time.Time) (*rollup.Aggregator, error) {
	agg := rollup.NewBeforeLog(st, partitions, logger, now)
	agg.SetStateLimit(c.StateLimit)
	parts, err := config.ParsePartitions(c.AggregatePartitions, partitions)
	if err != nil {
		return nil, fmt.Errorf("aggregate-partitions %q: %w", c.AggregatePartitions, err)
	}
	if err := agg.SetPartitions(parts); err != nil {
		return nil, err
	}
	return agg, nil
}

// newDirectory returns the account directory over st. It loads the
// accounts and follows changes once Run.
func newDirectory(c config.Config, st *store.Store, logger *slog.Logger, now func() time.Time) *directory.Directory {
	return directory.New(st, directory.Options{Limit: c.DirectoryLimit, Logger: logger, Now: now})
}

// newIngestion returns the builder of events (viewers pseudonymized; views
// linked to their viewers in exact mode only) and bulk ingestion over it:
// ids resolved by dir, duplicates known to agg dropped, the late-event rule
// by layer's released days, publishing to lg. The API makes its own
// actions' events with the builder; POST /v1/events and crowd import
// ingest through the ingester.
func newIngestion(c config.Config, pseud *pseudonym.Pseudonymizer, dir *directory.Directory, agg *rollup.Aggregator, lg *eventlog.Log, layer *disclosure.Layer, now func() time.Time) (*engage.Builder, *engage.Ingester) {
	events := &engage.Builder{Pseudonym: pseud, LinkViews: c.Disclosure == config.Exact}
	return events, &engage.Ingester{
		Events:    events,
		Directory: dir,
		Seen:      agg.Seen,
		Log:       lg,
		Recent:    pipeline.NewRecent(1 << 20),
		Released:  layer.Released,
		Now:       now,
	}
}
