package rollup

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

// TestApply_ChunksAndHalves: a batch applied in many chunks, each credited
// in the background while the writer runs the chunk's statements and the
// next chunk is decoded (into the buffer the chunk before was credited
// from), with its videos' rows put in order in two halves at once, writes
// exactly the rows the same batch writes in one chunk, in order, on one
// goroutine.
func TestApply_ChunksAndHalves(t *testing.T) {
	batches, open := creatorsWorld()
	apply := func(t *testing.T) *store.Store {
		s, a := open(t)
		for _, b := range batches {
			if err := a.apply(t.Context(), b); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.FlushDeferred(t.Context()); err != nil { // the creators' rows in their tables
			t.Fatal(err)
		}
		return s
	}
	one := apply(t)
	defer func(c, f int, h func()) { chunkBytes, finishParallel, creditHook = c, f, h }(chunkBytes, finishParallel, creditHook)
	chunkBytes, finishParallel = 6000, 2 // three messages a chunk
	// Each credit slowed, so that it runs beside the next chunk's
	// statements and the decoding of the chunk after.
	creditHook = func() { time.Sleep(2 * time.Millisecond) }
	many := apply(t)

	for _, table := range []string{"video_totals", "video_hour", "video_day",
		"account_hour", "account_day", "account_audience_month",
		"viewer_history", "video_viewer_gaps", "actor_state", "actor_firsts", "creator_day_counts"} {
		a, b := dumpTable(t, one, table), dumpTable(t, many, table)
		if a == "" {
			t.Errorf("%s: no rows", table)
		}
		if a != b {
			t.Errorf("%s differs:\none chunk:\n%s\nmany chunks:\n%s", table, a, b)
		}
	}
}

// dumpTable returns every row of table, ordered by every column.
func dumpTable(t *testing.T, s *store.Store, table string) string {
	t.Helper()
	if table == "viewer_history" { // runs in history.db, rows on PostgreSQL
		hs, err := s.HistoryEntries(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, fmt.Sprintf("[%d %d %x]", h.Key, h.VideoTag, h.Days))
		}
		return strings.Join(out, "\n")
	}
	rows, err := s.ReadDB().Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestApply_ReleasesIdleBuffers: the decode buffers are kept while the log
// holds more messages, and let go once a batch leaves none waiting.
func TestApply_ReleasesIdleBuffers(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := setup(t, s)
	batch := func(seq, pending uint64) []eventlog.Delivered {
		m := msg(seq, view(fmt.Sprint("e", seq), "vd", day0, "search"))
		m.Time, m.Pending = day0, pending
		return []eventlog.Delivered{m}
	}
	held := func() int { return cap(a.evs[0]) + cap(a.evs[1]) }
	if err := a.apply(ctx, batch(1, 5)); err != nil {
		t.Fatal(err)
	}
	if held() == 0 {
		t.Fatal("decode buffers let go with 5 messages waiting")
	}
	if err := a.apply(ctx, batch(2, 0)); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 0 {
		t.Fatalf("decode buffers hold %d events with nothing waiting, want none", n)
	}
	if err := a.apply(ctx, batch(3, 0)); err != nil {
		t.Fatal(err)
	}
	var views int64
	if err := s.ReadDB().QueryRow(`SELECT views FROM video_totals WHERE video_id = 'v'`).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 3 {
		t.Fatalf("views of v = %d, want 3", views)
	}
}

// creatorsWorld returns three batches of 30 messages of 20 events each
// (views, likes, saves, shares with their cap keys, and follows; some ids
// repeated) over 40 videos of creator c1, a third of them co-created with
// c2, and open, which makes a store of that world and its aggregator.
func creatorsWorld() ([][]eventlog.Delivered, func(t *testing.T) (*store.Store, *Aggregator)) {
	r := rand.New(rand.NewPCG(11, 12))
	var videos []string
	for i := range 40 {
		videos = append(videos, fmt.Sprintf("v%02d", i))
	}
	sources := []string{"for_you", "search", "profile", "share"}
	var batches [][]eventlog.Delivered
	seq := uint64(0)
	for range 3 {
		var batch []eventlog.Delivered
		for range 30 {
			var evs []event.Event
			for range 20 {
				v := videos[r.IntN(len(videos))]
				at := day0.Add(-time.Duration(r.IntN(20*24)) * time.Hour)
				actor := fmt.Sprintf("a%d", r.IntN(60))
				id := fmt.Sprintf("e%d", r.IntN(3000)) // some ids repeat: duplicates
				ev := event.Event{ID: id, VideoID: v, TS: at, Actor: actor}
				switch k := r.IntN(10); {
				case k < 6:
					ev.Type, ev.ActorDay, ev.Source, ev.WatchMS = event.View, actor+at.Format("0102"), sources[r.IntN(len(sources))], 900
					ev.Age, ev.Gender, ev.Country = "25-34", "female", []string{"DE", "FR", "US"}[r.IntN(3)]
				case k == 6:
					ev.Type = []string{event.Like, event.Unlike}[r.IntN(2)]
				case k == 7:
					ev.Type, ev.AccountDay = []string{event.Save, event.Unsave}[r.IntN(2)], actor+at.Format("0102")
				case k == 8:
					ev.Type, ev.AccountDay = event.Share, actor+at.Format("0102")
				default:
					ev.Type, ev.VideoID, ev.CreatorID = event.Follow, "", "c1"
				}
				evs = append(evs, ev)
			}
			seq++
			m := msg(seq, evs...)
			m.Time = day0 // the batch's time: hourly rows for the last hours
			batch = append(batch, m)
		}
		batches = append(batches, batch)
	}
	open := func(t *testing.T) (*store.Store, *Aggregator) {
		ctx := t.Context()
		s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for _, h := range []string{"c1", "c2"} {
			if err := s.CreateAccount(ctx, &platform.Account{ID: h, Handle: h, Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: day0}); err != nil {
				t.Fatal(err)
			}
		}
		for i, v := range videos {
			cs := []string{"c1"}
			if i%3 == 0 {
				cs = []string{"c1", "c2"}
			}
			if err := s.CreateVideo(ctx, &platform.Video{ID: v, OwnerID: "c1", Title: "t", CreatedAt: day0.AddDate(0, 0, -30), CreatorIDs: cs}); err != nil {
				t.Fatal(err)
			}
		}
		return s, New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
	}
	return batches, open
}
