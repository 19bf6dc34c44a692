package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/cputime"
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
	setup := fs.Bool("setup", true, "sync the world's accounts and videos first (false: they are there already, e.g. crowd bench --world realistic synced them)")
	bodies := fs.String("bodies", "", "send the NDJSON events of this file (crowd import's format), each once, in bulk requests of --batch lines, instead of generating events; the file is read and cut into bodies before sending starts (--duration then only limits the run)")
	asJSON := fs.Bool("json", false, "print the result as JSON (with every request's start and duration, and this process's CPU time while sending) instead of text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this load generator, while it sends, to this file")
	if err := config.Parse(fs, args, getenv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if *bodies != "" {
		data, err := os.ReadFile(*bodies)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cfg.Bodies, _ = loadgen.SplitNDJSON(data, cfg.Batch)
		if cfg.Bodies == nil {
			cfg.Bodies = [][]byte{}
		}
		cfg.Rate, cfg.Timeline = 0, *asJSON
		if !durationSet {
			cfg.Duration = 0
		}
	}
	cfg.SkipSetup = !*setup
	if cfg.Duration <= 0 && *bodies == "" {
		return fmt.Errorf("%w: duration %s: must be positive", errUsage, cfg.Duration)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Progress = stderr
	switch {
	case *bodies != "":
		fmt.Fprintf(stderr, "loadgen: sending %s, %d bodies of up to %d events, to %s\n", *bodies, len(cfg.Bodies), cfg.Batch, cfg.URL)
	case cfg.SkipSetup:
		fmt.Fprintf(stderr, "loadgen: %s mode at %s, %s of %s, over %d accounts and %d videos already there\n",
			cfg.Mode, cfg.URL, cfg.Duration, rateText(cfg.Rate), cfg.Accounts, cfg.Videos)
	default:
		fmt.Fprintf(stderr, "loadgen: %s mode at %s, %s of %s, setting up %d accounts and %d videos\n",
			cfg.Mode, cfg.URL, cfg.Duration, rateText(cfg.Rate), cfg.Accounts, cfg.Videos)
	}
	if !cfg.SkipSetup {
		// Setup is not part of what is measured.
		if err := loadgen.Setup(ctx, cfg); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		cfg.SkipSetup = true
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cpu0 := cputime.Process()
	start := time.Now()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	rep := loadgenReport{Result: res, Start: start.UnixNano(), End: time.Now().UnixNano(), CPU: cputime.Process() - cpu0}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		printResult(stdout, res)
		fmt.Fprintf(stdout, "  CPU        %s of this process while sending (%.0f%% of one core)\n", loadgen.Round(rep.CPU), 100*rep.CPU.Seconds()/res.Elapsed.Seconds())
	}
	if res.Accepted+res.Duplicates == 0 {
		return fmt.Errorf("loadgen: nothing was accepted (%d errors, %d answers 429/503)", res.Errors, res.Throttled)
	}
	return nil
}

// loadgenReport is what crowd loadgen --json prints.
type loadgenReport struct {
	Result loadgen.Result
	// Start and End bound the sending, in Unix nanoseconds.
	Start, End int64
	// CPU is this process's CPU time (user and system) while sending.
	CPU time.Duration
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
