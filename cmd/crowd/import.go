package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/ingest"
)

// importBatch is how many events one publish carries.
const importBatch = 10_000

// importRun is how many events the import holds to publish them in video
// order: aggregation then finds a video's events together in the log, so
// a batch writes the rows of fewer videos, each once, and its writes land
// in fewer pages (BenchmarkApplyWorld: about 1.45 times the events a
// second, docs/PERFORMANCE.md "History import in video order"). About 250
// bytes an event, so a run is about 250 MiB at most.
const importRun = 1_000_000

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
	cfg.CompressionFlag(fs)
	cfg.DisclosureFlags(fs)
	cfg.DirectoryFlag(fs)
	cfg.MemoryFlag(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole import to this file")
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
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	// The import holds aggregation's state as the server does, and a run
	// of events besides: the same soft limit keeps its heap in bounds.
	setMemoryLimit(cfg, getenv)
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	file := pos[0]
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	im, err := app.OpenImport(ctx, cfg, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer im.Close()

	var total engage.Result
	var run []ingest.Event
	add := func(res engage.Result) {
		total.Accepted += res.Accepted
		total.Duplicates += res.Duplicates
		total.Rejected = append(total.Rejected, res.Rejected...)
	}
	start := time.Now()
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	// The run is made at its full size at once: grown by appends, its
	// events were copied at every doubling, 2.8 of the 15.4 CPU-s of
	// publishing a realistic import of 2M events (docs/PERFORMANCE.md,
	// "History import: its publishing profiled"). An event's line is over
	// 100 bytes; a file of unknown size starts at a batch and grows.
	run = make([]ingest.Event, 0, max(importBatch, min(importRun, size/100)))
	prog := newImportProgress(stderr, isTerminal(stderr), size, time.Now)
	prog.width = terminalWidth(stderr)
	counted := &countingReader{r: f}
	// An import file has no line limit: it is decoded in one stream, held
	// in runs of importRun events, and each run published in video order,
	// importBatch events at a time, importWorkers batches prepared at once.
	flushRun := func() error {
		order := videoOrder(run)
		batches := func(yield func([]ingest.Event) bool) {
			for c := range slices.Chunk(order, importBatch) {
				batch := make([]ingest.Event, len(c))
				for i, k := range c {
					batch[i] = run[k]
				}
				if !yield(batch) {
					return
				}
			}
		}
		err := publishInOrder(ctx, im.Ingest, batches, func(res engage.Result) {
			add(res)
			prog.published(total.Accepted, total.Duplicates, len(total.Rejected))
		})
		if err != nil {
			return err
		}
		clear(run) // what the events refer to is garbage now
		run = run[:0]
		return nil
	}
	lineRejects, err := ingest.Decode(counted, ingest.Options{Now: time.Now(), MaxLines: 1 << 40}, func(e *ingest.Event) error {
		run = append(run, *e)
		prog.read(counted.n)
		if len(run) >= importRun {
			return flushRun()
		}
		return nil
	})
	if err != nil {
		prog.stop()
		return fmt.Errorf("import %s: %w", file, err)
	}
	if err := flushRun(); err != nil {
		prog.stop()
		return err
	}
	run = nil // aggregation needs the memory
	res, err := im.Ingest.Ingest(ctx, nil, lineRejects)
	if err != nil {
		prog.stop()
		return err
	}
	add(res)
	slices.SortFunc(total.Rejected, func(x, y ingest.Rejection) int { return cmp.Compare(x.Line, y.Line) })
	prog.readDone(counted.n, total.Accepted, total.Duplicates, len(total.Rejected))
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
	if err := im.AggregateAll(ctx, prog.aggregated); err != nil {
		prog.stop()
		return err
	}
	// Publish the periods that have closed (protected mode).
	videos, err := im.Layer.ReleaseHistory(ctx)
	if err != nil {
		return fmt.Errorf("release cells: %w", err)
	}
	if cfg.Disclosure == config.Protected {
		fmt.Fprintf(stdout, "released the closed days of %d videos\n", videos)
	}
	// Where aggregation's one thread spent its time: what stops an
	// import (docs/PERFORMANCE.md).
	fmt.Fprintf(stdout, "aggregation's thread: %s\n", im.Aggregate.StageTimes())
	fmt.Fprintf(stdout, "aggregated; total time %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// importWorkers is how many batches of an import are prepared at once
// (pseudonyms, the directory, the events' frames: Ingester.Prepare), while
// the batch before them is published: on one goroutine, preparing was
// three quarters of the publishing's time (docs/PERFORMANCE.md, "History
// import: batches prepared at once").
const importWorkers = 2

// publishInOrder prepares the batches, up to importWorkers of them (and
// one more waiting) at once, and commits them on the calling goroutine
// in their order, calling committed with each one's result; the log gets
// them in the order one Ingest after the other would have given it, and
// the duplicates counted are the same. It returns the first error once
// every batch started is done with.
func publishInOrder(ctx context.Context, in *engage.Ingester, batches iter.Seq[[]ingest.Event], committed func(engage.Result)) error {
	type job struct {
		p    *engage.Prepared
		err  error
		done chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan *job, importWorkers)
	go func() {
		defer close(ready)
		for b := range batches {
			j := &job{done: make(chan struct{})}
			select {
			case ready <- j:
			case <-ctx.Done():
				return
			}
			go func() {
				defer close(j.done)
				prepareHook(b)
				j.p, j.err = in.Prepare(ctx, b, nil)
			}()
		}
	}()
	var err error
	for j := range ready {
		<-j.done
		if err != nil {
			continue // the rest are let go
		}
		if j.err != nil {
			err = j.err
			cancel()
			continue
		}
		res, cerr := in.Commit(ctx, j.p)
		if cerr != nil {
			err = cerr
			cancel()
			continue
		}
		committed(res)
	}
	return err
}

// prepareHook runs as a batch's preparing begins: tests make later
// batches ready first with it.
var prepareHook = func([]ingest.Event) {}

// videoOrder returns the order to publish run in: a video's events
// together, in the file's order, videos by id; and an id's later lines
// (duplicates of it) right after its first, whatever their video, so that
// the line of an id that counts is the first in the file, as it would be
// in the file's order. A line is sorted by the video of its id's first
// line, then by its place in the run: the order of a stable sort, from
// the unstable one, which takes half the time.
func videoOrder(run []ingest.Event) []int {
	type key struct {
		video string
		i     int
	}
	first := make(map[string]int32, len(run)) // id → its first line
	keys := make([]key, len(run))
	for i := range run {
		f, ok := first[run[i].ID]
		if !ok {
			f = int32(i)
			first[run[i].ID] = f
		}
		keys[i] = key{run[f].VideoID, i}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := strings.Compare(x.video, y.video); c != 0 {
			return c
		}
		return cmp.Compare(x.i, y.i)
	})
	order := make([]int, len(keys))
	for i, k := range keys {
		order[i] = k.i
	}
	return order
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth returns the width of the terminal w is, or 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// Progress lines of a plain (non-terminal) output come every
// progressEvery and at every tenth of the file or of the aggregation; a
// terminal's bar is redrawn at most every progressRedraw.
const (
	progressEvery  = 5 * time.Second
	progressRedraw = 200 * time.Millisecond
	progressWidth  = 24 // the bar's cells
)

// importProgress shows how an import goes, on stderr: a bar redrawn in
// place on a terminal; on anything else (a log file, a pipe), a plain line
// every progressEvery and at every tenth, and a last line when a phase
// ends. Reading: the events decoded, with the share of the file read (when
// its size is known), the events accepted, duplicate and rejected so far,
// and the rate. Aggregating: the log messages applied, of those to apply.
type importProgress struct {
	w     io.Writer
	tty   bool
	width int   // of the terminal; 0 if unknown. The bar's line is cut to fit.
	size  int64 // of the file; 0 if unknown
	now   func() time.Time
	start time.Time

	events                         int
	bytes                          int64
	accepted, duplicates, rejected int

	shown time.Time // of the last line or redraw
	tenth int       // the last tenth shown as a plain line
	phase string    // "read" or "aggregate"
	drawn bool      // a bar is on the terminal's current line
}

func newImportProgress(w io.Writer, tty bool, size int64, now func() time.Time) *importProgress {
	t := now()
	return &importProgress{w: w, tty: tty, size: size, now: now, start: t, shown: t, phase: "read"}
}

// read counts one decoded event; n is the bytes of the file read so far.
func (p *importProgress) read(n int64) {
	p.events++
	p.bytes = n
	if p.events%1024 == 0 {
		p.show(false)
	}
}

// published sets the totals of the batches published so far.
func (p *importProgress) published(accepted, duplicates, rejected int) {
	p.accepted, p.duplicates, p.rejected = accepted, duplicates, rejected
	p.show(false)
}

// readDone shows the end of reading: n bytes, and the totals of every
// batch, rejections of lines that were no events included.
func (p *importProgress) readDone(n int64, accepted, duplicates, rejected int) {
	p.bytes = n
	p.accepted, p.duplicates, p.rejected = accepted, duplicates, rejected
	if p.size < n {
		p.size = n
	}
	p.show(true)
}

// aggregated shows the aggregation having applied done of total log
// messages; last marks its end.
func (p *importProgress) aggregated(done, total uint64, last bool) {
	if total == 0 {
		return
	}
	if p.phase != "aggregate" {
		p.phase, p.tenth, p.start = "aggregate", 0, p.now()
	}
	p.events, p.bytes, p.size = int(done), int64(done), int64(total)
	p.show(last)
}

// stop ends the bar's line on a terminal, so that what follows starts on
// a line of its own.
func (p *importProgress) stop() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *importProgress) show(last bool) {
	now := p.now()
	tenth := -1
	if p.size > 0 {
		tenth = int(min(10*p.bytes/p.size, 10))
	}
	if p.tty {
		if !last && now.Sub(p.shown) < progressRedraw {
			return
		}
		p.shown = now
		line := p.line(now, true)
		if p.width > 1 && len(line) >= p.width {
			line = line[:p.width-1] // a wrapped line would not be redrawn in place
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		if last {
			p.stop()
		}
		return
	}
	if !last && now.Sub(p.shown) < progressEvery && tenth <= p.tenth {
		return
	}
	p.shown = now
	p.tenth = max(tenth, p.tenth)
	fmt.Fprintln(p.w, p.line(now, false))
}

// line is the progress in one line, with a bar for a terminal.
func (p *importProgress) line(now time.Time, bar bool) string {
	var b strings.Builder
	b.WriteString("import: ")
	pct := ""
	if p.size > 0 {
		f := min(float64(p.bytes)/float64(p.size), 1)
		pct = fmt.Sprintf("%3.0f%%", 100*f)
		if bar {
			cells := int(f * progressWidth)
			b.WriteString("[" + strings.Repeat("#", cells) + strings.Repeat(".", progressWidth-cells) + "] ")
		}
	}
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.events) / secs
	}
	if p.phase == "aggregate" {
		if pct != "" {
			b.WriteString(pct + " aggregated, ")
		} else {
			b.WriteString("aggregating, ")
		}
		fmt.Fprintf(&b, "%s of %s log messages applied, %s/s", thousands(float64(p.events)), thousands(float64(p.size)), thousands(rate))
		return b.String()
	}
	switch {
	case pct != "" && bar:
		b.WriteString(pct + " read, ")
	case pct != "":
		b.WriteString(pct + " of the file read, ")
	}
	fmt.Fprintf(&b, "%s events, %s accepted, %s duplicates, %s rejected, %s events/s",
		thousands(float64(p.events)), thousands(float64(p.accepted)), thousands(float64(p.duplicates)), thousands(float64(p.rejected)), thousands(rate))
	return b.String()
}
