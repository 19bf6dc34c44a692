package engage

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/directory"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/ingest"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/pipeline"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/pseudonym"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestIngest_LateEventsCountToday: an event dated in a day whose cells are
// released counts in the current period; one dated in a day not released
// yet keeps its date. The log never holds the account id.
func TestIngest_LateEventsCountToday(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := created.AddDate(0, 0, 10).Add(12 * time.Hour)
	clock := func() time.Time { return now }
	s.CreateAccount(ctx, &platform.Account{ID: "mia", Handle: "mia", Type: "business", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: created})
	s.CreateAccount(ctx, &platform.Account{ID: "friend-42", Handle: "friend", Type: "personal", DMPolicy: "everyone", Gender: "female", Country: "DE", BirthDate: "1990-01-01", CreatedAt: created})
	s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: created, CreatorIDs: []string{"mia"}})
	lg, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	pseud, _ := pseudonym.Open(t.TempDir(), clock)
	keys, _ := noise.OpenKeyring(t.TempDir())
	layer := disclosure.New("protected", s)
	if err := layer.Protect(keys, disclosure.DefaultPolicy(), clock); err != nil {
		t.Fatal(err)
	}
	// Release day 2 by reading it.
	day2 := created.AddDate(0, 0, 2)
	if _, err := layer.Daily(ctx, disclosure.Scope{VideoID: "v"}, day2, day2); err != nil {
		t.Fatal(err)
	}
	in := &Ingester{Events: &Builder{Pseudonym: pseud}, Directory: directory.New(s, directory.Options{}), Log: lg,
		Recent: pipeline.NewRecent(100), Released: layer.Released, Now: clock}
	late := ingest.Event{Line: 1, ID: "late", Type: event.Share, VideoID: "v", AccountID: "friend-42", TS: day2.Add(5 * time.Hour), Channel: "dm"}
	open := ingest.Event{Line: 2, ID: "open", Type: event.Share, VideoID: "v", AccountID: "friend-42", TS: created.AddDate(0, 0, 9).Add(time.Hour), Channel: "dm"}
	res, err := in.Ingest(ctx, []ingest.Event{late, open}, nil)
	if err != nil || res.Accepted != 2 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	got := map[string]time.Time{}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lg.Consume(cctx, 0, func(_ context.Context, batch []eventlog.Delivered) error {
		for _, m := range batch {
			for line, err := range event.Records(m.Data) {
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range []string{"friend-42"} {
					if bytes.Contains(line, []byte(id)) {
						t.Fatalf("the log holds account id %s: %s", id, line)
					}
				}
				ev, err := event.Decode(line)
				if err != nil {
					t.Fatal(err)
				}
				got[ev.ID] = ev.TS
			}
		}
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if id := in.Events.EventID("late"); !got[id].Equal(now) {
		t.Fatalf("late event dated %v, want now %v", got[id], now)
	}
	if id := in.Events.EventID("open"); !got[id].Equal(open.TS) {
		t.Fatalf("event in an open day re-dated to %v", got[id])
	}
}
