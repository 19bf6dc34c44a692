package rollup

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/event"
	"github.com/crowd-dev/crowd/internal/eventlog"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
	"github.com/crowd-dev/crowd/internal/testutil"
)

var day0 = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)

func stores(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := store.Open(t.Context(), store.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := store.Open(t.Context(), store.Options{PostgresURL: testutil.PostgresURL(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func msg(seq uint64, evs ...event.Event) eventlog.Delivered {
	var b []byte
	for i := range evs {
		rec, err := evs[i].Encode()
		if err != nil {
			panic(err)
		}
		b = event.AppendFrame(b, rec)
	}
	return eventlog.Delivered{Seq: seq, Data: b, Time: time.Now()}
}

func setup(t *testing.T, s *store.Store) *Aggregator {
	ctx := t.Context()
	for _, h := range []string{"mia", "zed"} {
		if err := s.CreateAccount(ctx, &platform.Account{ID: h, Handle: h, Type: "personal", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: day0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia", "zed"}}); err != nil {
		t.Fatal(err)
	}
	return New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return day0 })
}

func view(id, viewer string, at time.Time, source string) event.Event {
	return event.Event{ID: id, Type: event.View, VideoID: "v", TS: at, Source: source, ActorDay: viewer, WatchMS: 1000, Age: "18-24", Gender: "female", Country: "DE"}
}

type row struct{ views, viewers, likes, shares, saves, comments int64 }

// dayRow returns the day's row of table for id; a creator's
// (account_day) as the creators' reads give it, with what batches
// deferred (deferred.go).
func dayRow(t *testing.T, s *store.Store, table, id string, day time.Time) row {
	t.Helper()
	d := day.Unix() / 86400
	if table == "account_day" {
		var r *row
		err := s.DailyRollups(t.Context(), store.RollupScope{AccountID: id}, d, d, func(_ int64, c store.RollupCounters) {
			r = &row{c.Views, c.Viewers, c.Likes, c.Shares, c.Saves, c.Comments}
		})
		if err == nil && r == nil {
			err = sql.ErrNoRows
		}
		if err != nil {
			t.Fatalf("%s %s: %v", table, id, err)
		}
		return *r
	}
	var r row
	err := s.ReadDB().QueryRow(s.Rebind(`SELECT views, viewers, likes, shares, saves, comments FROM `+table+` WHERE video_id = ? AND day = ?`), id, d).
		Scan(&r.views, &r.viewers, &r.likes, &r.shares, &r.saves, &r.comments)
	if err != nil {
		t.Fatalf("%s %s: %v", table, id, err)
	}
	return r
}

func TestApply_ExactlyOnceAndState(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		batches := [][]eventlog.Delivered{
			{msg(1, view("e1", "A", day0, "for_you"), view("e2", "A", day0.Add(time.Minute), "search"), view("e3", "B", day0, "for_you"))},
			// e2 again (a republished message), e4 twice in one batch.
			{msg(2, view("e2", "A", day0.Add(time.Minute), "search")), msg(3, view("e4", "C", day0, "profile"), view("e4", "C", day0, "profile"))},
			{msg(4,
				event.Event{ID: "l1", Type: event.Like, VideoID: "v", TS: day0, Actor: "X"},
				event.Event{ID: "l2", Type: event.Like, VideoID: "v", TS: day0, Actor: "X"}, // liked already: no change
				event.Event{ID: "l3", Type: event.Like, VideoID: "v", TS: day0, Actor: "Y"},
				event.Event{ID: "l4", Type: event.Unlike, VideoID: "v", TS: day0, Actor: "Y"},
				event.Event{ID: "l5", Type: event.Unlike, VideoID: "v", TS: day0, Actor: "Z"}, // never liked
				event.Event{ID: "s1", Type: event.Share, VideoID: "v", TS: day0, Actor: "X"},
				event.Event{ID: "s2", Type: event.Share, VideoID: "v", TS: day0, Actor: "X"},
				event.Event{ID: "sv1", Type: event.Save, VideoID: "v", TS: day0, Actor: "X"},
				event.Event{ID: "c1", Type: event.Comment, VideoID: "v", TS: day0, Actor: "X"},
				event.Event{ID: "f1", Type: event.Follow, CreatorID: "mia", TS: day0, Actor: "F"},
			)},
		}
		for _, b := range batches {
			if err := a.apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		want := row{views: 4, viewers: 3, likes: 1, shares: 2, saves: 1, comments: 1}
		if got := dayRow(t, s, "video_day", "v", day0); got != want {
			t.Fatalf("video_day %+v, want %+v", got, want)
		}
		for _, acct := range []string{"mia", "zed"} {
			if got := dayRow(t, s, "account_day", acct, day0); got != want {
				t.Fatalf("account_day %s %+v, want %+v (every creator gets the video's numbers)", acct, got, want)
			}
		}
		var gained int64
		d := day0.Unix() / 86400
		if err := s.DailyRollups(ctx, store.RollupScope{AccountID: "mia"}, d, d, func(_ int64, c store.RollupCounters) { gained = c.FollowersGained }); err != nil {
			t.Fatal(err)
		}
		if gained != 1 {
			t.Fatalf("followers gained %d", gained)
		}
		cp, err := a.Checkpoint(ctx)
		if err != nil || cp != 4 {
			t.Fatalf("checkpoint %d, %v", cp, err)
		}
		var srcViews, srcViewers int64
		if err := s.AudienceSums(ctx, store.RollupScope{VideoID: "v"}, false, 0, 1<<40, func(dim, bucket string, views, viewers int64) {
			if dim == "source" && bucket == "for_you" {
				srcViews, srcViewers = views, viewers
			}
		}); err != nil {
			t.Fatal(err)
		}
		if srcViews != 2 || srcViewers != 2 {
			t.Fatalf("for_you views %d viewers %d", srcViews, srcViewers)
		}
		// Nothing in analytics state is an account id.
		for _, q := range []string{`SELECT COUNT(*) FROM actor_state WHERE actor IN ('mia','zed')`} {
			var n int
			if err := s.ReadDB().QueryRow(q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("%s: %d", q, n)
			}
		}
	})
}

func TestRun_CheckpointAheadOfLog(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := s.DB().Exec(`INSERT INTO rollup_checkpoint (name, seq) VALUES ('p0', 50)`); err != nil {
		t.Fatal(err)
	}
	a := New(s, l, slog.New(slog.DiscardHandler), nil)
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Run(ctx2); !errors.Is(err, ErrCheckpointAhead) {
		t.Fatalf("Run with a checkpoint ahead of the log: %v", err)
	}
}

func TestApply_BoundedContributions(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := setup(t, s)
		for i := 2; i <= 5; i++ {
			id := "v" + string(rune('0'+i))
			if err := s.CreateVideo(ctx, &platform.Video{ID: id, OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia"}}); err != nil {
				t.Fatal(err)
			}
		}
		var evs []event.Event
		// Viewer A: 7 views of v in one day (cap 5), 2 completed, 20 minutes watched (cap 10).
		for i := 0; i < 7; i++ {
			e := view("a"+string(rune('0'+i)), "A", day0, "for_you")
			e.WatchMS = 200_000
			e.Completed = i < 2
			evs = append(evs, e)
		}
		// A logged-out view counts in exact views only.
		evs = append(evs, event.Event{ID: "anon", Type: event.View, VideoID: "v", TS: day0, Source: "other"})
		// Friend F shares v twice (counts once) and v2..v5 the same day:
		// only 3 firsts per (account, day) count.
		evs = append(evs,
			event.Event{ID: "s1", Type: event.Share, VideoID: "v", TS: day0, Actor: "F-v", AccountDay: "F-day0"},
			event.Event{ID: "s2", Type: event.Share, VideoID: "v", TS: day0, Actor: "F-v", AccountDay: "F-day0"})
		for i := 2; i <= 5; i++ {
			id := "v" + string(rune('0'+i))
			evs = append(evs, event.Event{ID: "s" + id, Type: event.Share, VideoID: id, TS: day0, Actor: "F-" + id, AccountDay: "F-day0"})
		}
		// Saves: save, unsave, save again: one saver.
		evs = append(evs,
			event.Event{ID: "sv1", Type: event.Save, VideoID: "v", TS: day0, Actor: "G"},
			event.Event{ID: "sv2", Type: event.Unsave, VideoID: "v", TS: day0, Actor: "G"},
			event.Event{ID: "sv3", Type: event.Save, VideoID: "v", TS: day0, Actor: "G"})
		// Split over two batches so the caps hold across batches.
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, evs[:4]...)}); err != nil {
			t.Fatal(err)
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(2, evs[4:]...)}); err != nil {
			t.Fatal(err)
		}
		var views, pViews, pCompl, pWatch, shares, sharers, saves, savers int64
		err := s.ReadDB().QueryRow(s.Rebind(`SELECT views, p_views, p_completions, p_watch_ms, shares, sharers, saves, savers FROM video_day WHERE video_id = ? AND day = ?`), "v", day0.Unix()/86400).
			Scan(&views, &pViews, &pCompl, &pWatch, &shares, &sharers, &saves, &savers)
		if err != nil {
			t.Fatal(err)
		}
		if views != 8 || pViews != 5 || pCompl != 1 || pWatch != 600_000 || shares != 2 || sharers != 1 || saves != 1 || savers != 1 {
			t.Fatalf("views %d p_views %d p_completions %d p_watch %d shares %d sharers %d saves %d savers %d",
				views, pViews, pCompl, pWatch, shares, sharers, saves, savers)
		}
		if err := a.FlushDeferred(ctx); err != nil { // the creators' rows in their table
			t.Fatal(err)
		}
		var acctSharers int64
		s.ReadDB().QueryRow(s.Rebind(`SELECT sharers FROM account_day WHERE account_id = ? AND day = ?`), "mia", day0.Unix()/86400).Scan(&acctSharers)
		if acctSharers != 3 {
			t.Fatalf("account-day cap: %d counted first shares for mia, want 3", acctSharers)
		}
	})
}

// TestApply_CreatorsChangedElsewhere: a co-creator who leaves without this
// aggregator being told (ForgetCreators) — through another process on
// PostgreSQL, through any write on SQLite — stops being credited without a
// restart: on SQLite at the next batch (the change to its creators is
// recorded), on PostgreSQL once CreatorsTTL has passed.
func TestApply_CreatorsChangedElsewhere(t *testing.T) {
	stores(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		setup(t, s)
		now := day0
		a := New(s, nil, slog.New(slog.DiscardHandler), func() time.Time { return now })
		if err := a.apply(ctx, []eventlog.Delivered{msg(1, view("e1", "A", day0, "for_you"))}); err != nil {
			t.Fatal(err)
		}
		if got := dayRow(t, s, "account_day", "zed", day0).views; got != 1 {
			t.Fatalf("zed credited %d views before leaving, want 1", got)
		}
		// zed leaves through another process: only the database knows.
		if _, err := s.RemoveCoCreator(ctx, "v", "zed"); err != nil {
			t.Fatal(err)
		}
		if s.Dialect() == store.Postgres {
			now = now.Add(CreatorsTTL)
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(2, view("e2", "B", day0, "for_you"))}); err != nil {
			t.Fatal(err)
		}
		if got := dayRow(t, s, "account_day", "zed", day0).views; got != 1 {
			t.Errorf("zed credited %d views after leaving elsewhere, want still 1", got)
		}
		if got := dayRow(t, s, "account_day", "mia", day0).views; got != 2 {
			t.Errorf("mia credited %d views, want 2", got)
		}
	})
}

// TestApply_CreatorsCachedAcrossUploads: on SQLite a new video (a change
// to video_creators) drops only its own creators from aggregation's cache,
// and a co-creator accepting drops only that video's: the other videos'
// creators stay cached and are not read again. With a single counter of
// changes, every upload emptied the whole cache.
func TestApply_CreatorsCachedAcrossUploads(t *testing.T) {
	s, err := store.Open(t.Context(), store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	a := setup(t, s)
	other := &platform.Video{ID: "o", OwnerID: "zed", Title: "t", CreatedAt: day0, CreatorIDs: []string{"zed"}}
	if err := s.CreateVideo(ctx, other); err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	apply := func(videos ...string) {
		t.Helper()
		var evs []event.Event
		for _, v := range videos {
			seq++
			ev := view("e"+strconv.FormatUint(seq, 10), "A", day0, "for_you")
			ev.VideoID = v
			evs = append(evs, ev)
		}
		if err := a.apply(ctx, []eventlog.Delivered{msg(seq, evs...)}); err != nil {
			t.Fatal(err)
		}
	}
	cached := func() []string {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.Sorted(maps.Keys(a.creators))
	}
	apply("v", "o")
	if got := cached(); !slices.Equal(got, []string{"o", "v"}) {
		t.Fatalf("cached %q after the first batch, want o and v", got)
	}
	// An upload elsewhere: its video is dropped (it was not cached), the
	// others stay.
	if err := s.CreateVideo(ctx, &platform.Video{ID: "new", OwnerID: "mia", Title: "t", CreatedAt: day0, CreatorIDs: []string{"mia"}}); err != nil {
		t.Fatal(err)
	}
	apply("new")
	if got := cached(); !slices.Equal(got, []string{"new", "o", "v"}) {
		t.Errorf("cached %q after an upload, want new, o and v", got)
	}
	// mia becomes a co-creator of o: only o is dropped, and read again.
	if _, err := s.InviteCoCreator(ctx, "o", "mia", 5, day0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptCoCreation(ctx, "o", "mia", day0); err != nil {
		t.Fatal(err)
	}
	apply("v")
	if got := cached(); !slices.Equal(got, []string{"new", "v"}) {
		t.Errorf("cached %q after o's creators changed, want new and v", got)
	}
	apply("o")
	if got := dayRow(t, s, "account_day", "mia", day0).views; got != 4 {
		t.Errorf("mia credited %d views, want 4 (v twice, new, then o as its co-creator)", got)
	}
}

// TestCreatorsCacheBounded: past creatorsCacheLimit videos, aggregation
// drops part of its cache of creators rather than all of it.
func TestCreatorsCacheBounded(t *testing.T) {
	s, err := store.Open(t.Context(), store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	defer func(n int) { creatorsCacheLimit = n }(creatorsCacheLimit)
	creatorsCacheLimit = 8
	a := setup(t, s)
	var evs []event.Event
	for i := range 10 {
		ev := view("e"+strconv.Itoa(i), "A", day0, "for_you")
		ev.VideoID = "u" + strconv.Itoa(i) // not videos: their creators are none, cached too
		evs = append(evs, ev)
	}
	if err := a.apply(t.Context(), []eventlog.Delivered{msg(1, evs...)}); err != nil {
		t.Fatal(err)
	}
	if n := len(a.creators); n != 6 {
		t.Errorf("%d videos' creators cached after 10 in a batch, want 6 (the limit of 8 less a quarter)", n)
	}
}

// TestRun_StateLoadedBeforeItsLog: an aggregator made before its log is
// open loads its state from the store alone (a server does so while the
// event log recovers), and Run then reuses that state: it catches up with
// what another aggregator applied since the load, so an id that one
// accepted stays a duplicate and its viewer stays one viewer. Without
// that catch-up, the re-sent id and the returning viewer count twice.
func TestRun_StateLoadedBeforeItsLog(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	setup(t, s)
	l, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	publish := func(id string, evs ...event.Event) {
		t.Helper()
		m := eventlog.Message{Subject: l.Subject(l.Partition("v")), ID: id, Data: msg(0, evs...).Data}
		if err := l.Publish(ctx, []eventlog.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	// aggregate runs a until its checkpoint reaches seq.
	aggregate := func(a *Aggregator, seq uint64) {
		t.Helper()
		if err := a.SetLog(l); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		deadline := time.Now().Add(30 * time.Second)
		for cp, _ := a.Checkpoint(ctx); cp < seq; cp, _ = a.Checkpoint(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint %d, want %d", cp, seq)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	newAgg := func() *Aggregator {
		return NewBeforeLog(s, l.Partitions(), slog.New(slog.DiscardHandler), func() time.Time { return day0 })
	}

	publish("m1", view("e1", "A", day0, "for_you"))
	aggregate(newAgg(), 1)

	// b loads its state with no log at all.
	b := newAgg()
	if err := b.LoadState(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.StateLoaded() || !b.Seen([]string{"e1"})[0] {
		t.Fatal("the state loaded before the log does not hold e1")
	}
	// Another aggregator applies m2 meanwhile.
	publish("m2", view("e2", "B", day0, "for_you"))
	aggregate(newAgg(), 2)
	// m3 re-sends e2 and brings B back the same day.
	publish("m3", view("e2", "B", day0, "for_you"), view("e3", "B", day0, "for_you"))
	aggregate(b, 3)
	if views, viewers, _ := videoDay(t, s); views != 3 || viewers != 2 {
		t.Fatalf("views %d viewers %d, want 3 and 2", views, viewers)
	}

	other, err := eventlog.Open(ctx, eventlog.Config{Dir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := newAgg().SetLog(other); err == nil {
		t.Fatal("SetLog took a log of other partitions")
	}
}
