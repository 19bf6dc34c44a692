package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/engage"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/platform"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestImportProgress_Lines(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	p := newImportProgress(&out, false, 10240, clock.now)
	// 10,240 events of 1 byte each: a line at every tenth of the file.
	for i := 1; i <= 10240; i++ {
		p.read(int64(i))
		if i%2048 == 0 {
			p.published(i-4, 3, 1)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines at tenths, want 10:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[0], "import:  10% of the file read, 1,024 events") {
		t.Errorf("first line %q", lines[0])
	}
	// Time alone brings a line: every 5 s.
	out.Reset()
	p = newImportProgress(&out, false, 0, clock.now) // size unknown: no tenths
	for i := 1; i <= 4096; i++ {
		p.read(int64(i))
	}
	if out.Len() != 0 {
		t.Fatalf("a line before 5 s passed: %q", out.String())
	}
	clock.t = clock.t.Add(5 * time.Second)
	for i := 4097; i <= 5120; i++ {
		p.read(int64(i))
	}
	if got := out.String(); got != "import: 5,120 events, 0 accepted, 0 duplicates, 0 rejected, 1,024 events/s\n" {
		t.Errorf("after 5 s: %q", got)
	}
	// The end of reading always shows, with every rejection.
	out.Reset()
	p.readDone(5120, 5000, 100, 20)
	if got := out.String(); got != "import: 100% of the file read, 5,120 events, 5,000 accepted, 100 duplicates, 20 rejected, 1,024 events/s\n" {
		t.Errorf("end of reading: %q", got)
	}
	// Aggregation: tenths and its end.
	out.Reset()
	p.aggregated(0, 0, true) // nothing to aggregate: nothing to show
	p.aggregated(5, 10, false)
	p.aggregated(5, 10, false)
	clock.t = clock.t.Add(2 * time.Second)
	p.aggregated(10, 10, true)
	want := "import:  50% aggregated, 5 of 10 log messages applied, 0/s\nimport: 100% aggregated, 10 of 10 log messages applied, 5/s\n"
	if got := out.String(); got != want {
		t.Errorf("aggregation:\n%q\nwant\n%q", got, want)
	}
}

func TestImportProgress_Bar(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	p := newImportProgress(&out, true, 4096, clock.now)
	for i := 1; i <= 2048; i++ {
		p.read(int64(i))
	}
	if out.Len() != 0 {
		t.Fatalf("redrawn within %s: %q", progressRedraw, out.String())
	}
	clock.t = clock.t.Add(time.Second)
	for i := 2049; i <= 3072; i++ {
		p.read(int64(i))
	}
	want := "\rimport: [##################......]  75% read, 3,072 events, 0 accepted, 0 duplicates, 0 rejected, 3,072 events/s\x1b[K"
	if got := out.String(); got != want {
		t.Fatalf("bar:\n%q\nwant\n%q", got, want)
	}
	// On a narrow terminal the line is cut to fit, so that it is redrawn
	// in place rather than wrapped.
	out.Reset()
	p.width = 40
	clock.t = clock.t.Add(time.Second)
	p.size = 8192
	for i := 3073; i <= 4096; i++ {
		p.read(int64(i))
	}
	if got := out.String(); got != "\rimport: [############............]  50%\x1b[K" {
		t.Fatalf("on 40 columns: %q", got)
	}
	p.width, p.size = 0, 4096
	// The end of reading redraws at once and ends the line.
	out.Reset()
	p.readDone(4096, 4000, 0, 0)
	if got := out.String(); !strings.HasPrefix(got, "\rimport: [########################] 100%") || !strings.HasSuffix(got, "\x1b[K\n") {
		t.Errorf("end: %q", got)
	}
	// stop after a drawn bar ends its line; with none drawn it writes nothing.
	out.Reset()
	p.stop()
	if out.Len() != 0 {
		t.Errorf("stop with no bar drawn wrote %q", out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}

// TestVideoOrder: an import run is published a video at a time, in the
// file's order within a video, and an id's duplicates follow its first
// line, whatever their video, so that the first line is the one counted.
func TestVideoOrder(t *testing.T) {
	run := []ingest.Event{
		{ID: "1", VideoID: "c"}, {ID: "2", VideoID: "a"}, {ID: "3", VideoID: "c"},
		{ID: "4", VideoID: "b"}, {ID: "2", VideoID: "a"}, {ID: "1", VideoID: "a"},
		{ID: "5", VideoID: "a"}, {ID: "6", VideoID: "b"},
	}
	var got []string
	for _, i := range videoOrder(run) {
		got = append(got, run[i].VideoID+run[i].ID)
	}
	want := []string{"a2", "a2", "a5", "b4", "b6", "c1", "c3", "a1"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestImportCmd_MemoryLimit: crowd import applies the soft memory limit as
// crowd serve does (it holds aggregation's state too), before it reads the
// file.
func TestImportCmd_MemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	var stdout, stderr bytes.Buffer
	err := importCmd(t.Context(), []string{filepath.Join(t.TempDir(), "missing.ndjson"), "--data", t.TempDir(), "--memory-limit-mib", "1234"},
		&stdout, &stderr, func(string) string { return "" })
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("import of a missing file: %v", err)
	}
	if got := debug.SetMemoryLimit(-1); got != 1234<<20 {
		t.Fatalf("memory limit %d, want %d", got, 1234<<20)
	}
}

// BenchmarkVideoOrder orders a run of importRun events over 100,000
// videos, ids all distinct, as the realistic world's history is.
func BenchmarkVideoOrder(b *testing.B) {
	run := make([]ingest.Event, importRun)
	for i := range run {
		run[i] = ingest.Event{ID: fmt.Sprintf("imp-%d", i), VideoID: fmt.Sprintf("v%d", (i*7919)%100_000)}
	}
	b.ResetTimer()
	for b.Loop() {
		videoOrder(run)
	}
}

// TestPublishInOrder: batches prepared at once, the later ones ready
// first, reach the log in their order (one account likes a video in the
// first batch, unlikes it in every other, and likes it again in the last:
// the like stays), and an id of the batch before, prepared at the same
// time, is counted a duplicate as one batch after the other would count
// it.
func TestPublishInOrder(t *testing.T) {
	ctx := t.Context()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Disclosure = config.Exact
	im, err := app.OpenImport(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	created := time.Now().UTC().AddDate(0, 0, -10)
	for _, a := range []*platform.Account{{ID: "mia", Handle: "mia", Type: "business"}, {ID: "fan", Handle: "fan"}} {
		a.DMPolicy, a.Gender, a.CreatedAt = "everyone", "undisclosed", created
		if a.Type == "" {
			a.Type = "personal"
		}
		if err := im.Store.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Store.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: created, CreatorIDs: []string{"mia"}}); err != nil {
		t.Fatal(err)
	}
	defer func(h func([]ingest.Event)) { prepareHook = h }(prepareHook)
	const n = 9
	prepareHook = func(b []ingest.Event) {
		// Batch i waits (n-i) * 3 ms: the last is ready first.
		i := b[0].Line / 100
		time.Sleep(time.Duration(n-i) * 3 * time.Millisecond)
	}
	ts := time.Now().UTC().Add(-time.Hour)
	batches := func(yield func([]ingest.Event) bool) {
		for i := range n {
			b := make([]ingest.Event, 3)
			for j := range b {
				b[j] = ingest.Event{Line: 100*i + j, ID: fmt.Sprintf("e%d-%d", i, j), Type: "view", VideoID: "v", TS: ts, Source: "search"}
			}
			typ := "unlike"
			if i == 0 || i == n-1 {
				typ = "like"
			}
			b[1] = ingest.Event{Line: 100*i + 1, ID: fmt.Sprint("t", i), Type: typ, VideoID: "v", AccountID: "fan", TS: ts.Add(time.Duration(i) * time.Second)}
			if i == 2 {
				// The batch before's, prepared at once with it: the
				// commit finds it.
				b[2].ID = "e1-0"
			}
			if !yield(b) {
				return
			}
		}
	}
	var got []engage.Result
	if err := publishInOrder(ctx, im.Ingest, batches, func(r engage.Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	accepted, dups := 0, 0
	for _, r := range got {
		accepted += r.Accepted
		dups += r.Duplicates
	}
	if len(got) != n || accepted != 3*n-1 || dups != 1 {
		t.Errorf("%d batches committed, %d accepted, %d duplicates; want %d, %d, 1", len(got), accepted, dups, n, 3*n-1)
	}
	if err := im.AggregateAll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var likes int64
	if err := im.Store.ReadDB().QueryRowContext(ctx, `SELECT likes FROM video_totals WHERE video_id = 'v'`).Scan(&likes); err != nil {
		t.Fatal(err)
	}
	if likes != 1 {
		t.Fatalf("likes of v after like, unlike, …, like: %d, want 1 (the batches logged out of order)", likes)
	}
}
