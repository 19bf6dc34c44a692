package app

import (
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/ingest"
)

// TestImport_Open: OpenImport opens the components crowd import runs on, a
// second import on the same data dir is refused before it opens anything,
// ingestion resolves ids through the directory, and AggregateAll returns
// once the log is applied.
func TestImport_Open(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Disclosure = config.Exact
	ctx := t.Context()
	im, err := OpenImport(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if _, err := OpenImport(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("a second import on the data dir: %v, want it refused", err)
	}
	res, err := im.Ingest.Ingest(ctx, []ingest.Event{{Line: 1, ID: "e1", Type: "view", VideoID: "nowhere", TS: time.Now().UTC(), Source: "search"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || len(res.Rejected) != 1 || res.Rejected[0].Code != "unknown_video" {
		t.Errorf("an event of an unknown video: %+v", res)
	}
	var last bool
	if err := im.AggregateAll(ctx, func(_, _ uint64, l bool) { last = last || l }); err != nil {
		t.Fatal(err)
	}
	if !last {
		t.Error("AggregateAll did not report its end")
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
}
