package engage

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/cputime"
	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/store"
)

// nullLog packs like the event log and publishes nowhere, so that a
// benchmark measures the ingester's own work.
type nullLog struct{}

func (nullLog) Publish(context.Context, []eventlog.Message) error       { return nil }
func (nullLog) PublishAtomic(context.Context, []eventlog.Message) error { return nil }
func (nullLog) Partition(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % 16)
}
func (nullLog) Subject(p int) string { return fmt.Sprintf("events.%d", p) }
func (nullLog) MixedSubject() string { return "events.mixed" }

// BenchmarkIngest measures Ingester.Ingest on 1,000-event batches of the
// bulk mix (80% views, a tenth of them logged out, 8% likes, 4% saves, 4%
// shares, 4% comments) over 100 videos and 500 accounts, within one day:
// id hashing, directory (cached), pseudonyms, events and packing, without
// the log's fsync. ns/op is per batch.
func BenchmarkIngest(b *testing.B) {
	ctx := b.Context()
	s, err := store.Open(ctx, store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := created.AddDate(0, 0, 10).Add(12 * time.Hour)
	const videos, accounts = 100, 500
	for i := range accounts {
		if err := s.CreateAccount(ctx, &platform.Account{ID: fmt.Sprint("acc_", i), Handle: fmt.Sprint("h", i), Type: "personal",
			DMPolicy: "everyone", Gender: "female", Country: "DE", BirthDate: "1990-01-01", CreatedAt: created}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range videos {
		if err := s.CreateVideo(ctx, &platform.Video{ID: fmt.Sprint("vid_", i), OwnerID: "acc_0", Title: "t", CreatedAt: created, CreatorIDs: []string{"acc_0"}}); err != nil {
			b.Fatal(err)
		}
	}
	pseud, err := pseudonym.Open(b.TempDir(), func() time.Time { return now })
	if err != nil {
		b.Fatal(err)
	}
	in := &Ingester{Events: &Builder{Pseudonym: pseud, LinkViews: true}, Directory: directory.New(s, directory.Options{}), Log: nullLog{},
		Recent: pipeline.NewRecent(1000), Now: func() time.Time { return now }}

	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]ingest.Event, 1000)
	for i := range batch {
		e := ingest.Event{Line: i + 1, ID: fmt.Sprintf("evt_%022d", i), VideoID: fmt.Sprint("vid_", rng.IntN(videos)),
			AccountID: fmt.Sprint("acc_", rng.IntN(accounts)), TS: now.Add(-time.Duration(rng.IntN(12*3600)) * time.Second)}
		switch p := rng.IntN(100); {
		case p < 80:
			e.Type, e.Source, e.WatchMS = event.View, "for_you", int64(rng.IntN(60000))
			if p < 8 {
				e.AccountID = ""
			}
		case p < 88:
			e.Type = event.Like
		case p < 92:
			e.Type = event.Save
		case p < 96:
			e.Type, e.Channel = event.Share, "dm"
		default:
			e.Type, e.Text = event.Comment, "great video"
		}
		batch[i] = e
	}
	// Each round's ids are new to Recent (it remembers 2,000 at most).
	ids := make([][]string, 8)
	for r := range ids {
		ids[r] = make([]string, len(batch))
		for i := range batch {
			ids[r][i] = fmt.Sprintf("evt_%d_%018d", r, i)
		}
	}
	evs := make([]ingest.Event, len(batch))
	b.ReportAllocs()
	round := 0
	cpu := cputime.Process()
	for b.Loop() {
		copy(evs, batch)
		for i := range evs {
			evs[i].ID = ids[round%len(ids)][i]
		}
		round++
		res, err := in.Ingest(ctx, evs, nil)
		if err != nil || res.Accepted != len(batch) {
			b.Fatalf("ingest: %+v, %v", res, err)
		}
	}
	cpu = cputime.Process() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
	if cpu > 0 { // CPU time, GC included: steadier than wall time on a busy machine
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/event")
	}
}
