package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/loadgen"
)

// loadgenCmd implements "crowd loadgen": realistic traffic at a running
// instance, with a live progress line on stderr and a summary on stdout.
func loadgenCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := loadgen.DefaultConfig()
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", cfg.URL, "the Crowd instance to load (nothing else is contacted)")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "service token (crowd token create --service)")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "target events per second (0: as fast as the service takes them)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "events per bulk request")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "bulk (NDJSON batches to POST /v1/events) or single (POST /v1/videos/{id}/views)")
	fs.IntVar(&cfg.Workers, "workers", 0, "concurrent requests (default 4 in bulk mode, 256 in single mode)")
	fs.IntVar(&cfg.Videos, "videos", cfg.Videos, "videos of the load generator's world (ids lg-vid-…)")
	fs.IntVar(&cfg.Accounts, "accounts", cfg.Accounts, "accounts of the load generator's world (ids lg-acct-…)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if cfg.Duration <= 0 {
		return fmt.Errorf("%w: duration %s: must be positive", errUsage, cfg.Duration)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Progress = stderr
	fmt.Fprintf(stderr, "loadgen: %s mode at %s, %s of %s, setting up %d accounts and %d videos\n",
		cfg.Mode, cfg.URL, cfg.Duration, rateText(cfg.Rate), cfg.Accounts, cfg.Videos)
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	printResult(stdout, res)
	if res.Accepted+res.Duplicates == 0 {
		return fmt.Errorf("loadgen: nothing was accepted (%d errors, %d answers 429/503)", res.Errors, res.Throttled)
	}
	return nil
}

func rateText(rate int) string {
	if rate == 0 {
		return "as many events as it takes"
	}
	return fmt.Sprintf("%d events/s", rate)
}

func printResult(w io.Writer, r loadgen.Result) {
	n := func(i int64) string { return thousands(float64(i)) }
	fmt.Fprintf(w, "%s mode, %s:\n", r.Mode, loadgen.Round(r.Elapsed))
	fmt.Fprintf(w, "  sent       %s events in %s requests\n", n(r.Sent), n(r.Requests))
	fmt.Fprintf(w, "  accepted   %s (duplicates %s, rejected %s)\n", n(r.Accepted), n(r.Duplicates), n(r.Rejected))
	fmt.Fprintf(w, "  achieved   %s events/s\n", thousands(r.Rate()))
	fmt.Fprintf(w, "  latency    %s (per request)\n", r.Latency)
	fmt.Fprintf(w, "  errors     %s; 429/503 answers %s (retried after Retry-After)\n", n(r.Errors), n(r.Throttled))
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first      %s\n", r.FirstError)
	}
}
