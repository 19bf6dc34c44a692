package disclosure

import (
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// protectedWorld is a video with 10 days of rollups, a protected layer on a
// fresh keyring and a clock the test moves.
func protectedWorld(t *testing.T) (*Layer, *store.Store, *clock, time.Time) {
	t.Helper()
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	s.CreateAccount(ctx, &platform.Account{ID: "mia", Handle: "mia", Type: "business", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: created})
	s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: created, CreatorIDs: []string{"mia"}})
	for d := 0; d < 10; d++ {
		day := created.AddDate(0, 0, d).Unix() / 86400
		if _, err := s.DB().Exec(`INSERT INTO video_day (video_id, day, views, viewers, likes, comments, shares, saves, p_views, sharers, savers)
VALUES ('v', ?, 500, 200, 30, 5, 12, 9, 450, 10, 8)`, day); err != nil {
			t.Fatal(err)
		}
		if err := s.AddAudience(ctx, store.VideoAudienceDayTable, []store.AudienceRow{{ID: "v", Period: day, Counts: []store.AudienceCount{
			{Dim: store.AudienceCountry, Bucket: "DE", Views: 300, Viewers: 120}, {Dim: store.AudienceCountry, Bucket: "XK", Views: 10, Viewers: 5}}}}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := noise.OpenKeyring(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: truncDay(created).AddDate(0, 0, 5).Add(3 * time.Hour)} // day 5, 03:00
	l := New("protected", s)
	if err := l.Protect(keys, DefaultPolicy(), c.now); err != nil {
		t.Fatal(err)
	}
	return l, s, c, created
}

func TestProtected_CellsReleasedOnceAndNeverChange(t *testing.T) {
	ctx := t.Context()
	l, s, c, created := protectedWorld(t)
	from, to := truncDay(created), truncDay(created.AddDate(0, 0, 9))
	days, err := l.Daily(ctx, Scope{VideoID: "v"}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// At day 5 03:00 with a 6 h delay, days 0..3 are released; day 4
	// closed 3 h ago and waits; later days are open.
	for i, d := range days {
		want := i <= 3
		if d.Released != want {
			t.Fatalf("day %d released %v, want %v", i, d.Released, want)
		}
		if !want && (d.Views != 0 || d.Shares != 0 || d.Saves != 0 || d.Viewers != 0) {
			t.Fatalf("unreleased day %d shows private numbers: %+v", i, d.Counters)
		}
		if d.Likes != 30 || d.Comments != 5 {
			t.Fatalf("day %d: likes and comments are public and exact: %+v", i, d.Counters)
		}
	}
	noisy := days[0].Views != 450 || days[1].Views != 450 || days[2].Views != 450 || days[3].Views != 450
	if !noisy {
		t.Fatal("four released days all equal the true value: no noise")
	}
	// The same question again, and after the rollups change (a late event
	// reaching a released day must not move its cell): identical answers.
	s.DB().Exec(`UPDATE video_day SET p_views = p_views + 1000, sharers = sharers + 50`)
	again, _ := l.Daily(ctx, Scope{VideoID: "v"}, from, to)
	for i := 0; i <= 3; i++ {
		if again[i].Counters != days[i].Counters {
			t.Fatalf("day %d changed after release: %+v then %+v", i, days[i].Counters, again[i].Counters)
		}
	}
	// Cells carry what produced them.
	var mech string
	var epsNum, epsDen, sens, kid, schema int64
	if err := s.ReadDB().QueryRow(`SELECT mechanism, eps_num, eps_den, sensitivity, kid, schema_version FROM cells WHERE metric = 'sharers' LIMIT 1`).
		Scan(&mech, &epsNum, &epsDen, &sens, &kid, &schema); err != nil {
		t.Fatal(err)
	}
	if mech != "discrete-laplace" || epsNum != 1 || epsDen != 2 || sens != 1 || kid != 1 || schema != CellSchema {
		t.Fatalf("cell metadata %s %d/%d Δ%d kid %d v%d", mech, epsNum, epsDen, sens, kid, schema)
	}
	// A day later, day 4 is released (computed from today's rollups) and
	// days 0..3 are untouched.
	c.t = c.t.Add(24 * time.Hour)
	later, _ := l.Daily(ctx, Scope{VideoID: "v"}, from, to)
	if !later[4].Released || later[5].Released {
		t.Fatalf("release moved wrongly: %v %v", later[4].Released, later[5].Released)
	}
	for i := 0; i <= 3; i++ {
		if later[i].Counters != days[i].Counters {
			t.Fatalf("day %d changed: %+v then %+v", i, days[i].Counters, later[i].Counters)
		}
	}
}

func TestProtected_NoCellsBeforeCreationAndKnownDomains(t *testing.T) {
	ctx := t.Context()
	l, s, _, created := protectedWorld(t)
	// A range starting long before the video existed.
	if _, err := l.Daily(ctx, Scope{VideoID: "v"}, truncDay(created.AddDate(0, 0, -30)), truncDay(created.AddDate(0, 0, 3))); err != nil {
		t.Fatal(err)
	}
	var before int
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells WHERE period < ?`, created.Unix()/86400).Scan(&before)
	if before != 0 {
		t.Fatalf("%d cells before the video was created", before)
	}
	got, err := l.Breakdown(ctx, Scope{VideoID: "v"}, truncDay(created), truncDay(created.AddDate(0, 0, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got["country"]) != len(domains["country"]) || len(got["source"]) != len(domains["source"]) {
		t.Fatalf("known domains must be complete: %d countries, %d sources", len(got["country"]), len(got["source"]))
	}
	var xk int
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells WHERE bucket = 'XK'`).Scan(&xk)
	if xk != 0 {
		t.Fatal("a country outside the domain got its own cell")
	}
}

func TestProtected_PublicCountersMonotone(t *testing.T) {
	ctx := t.Context()
	l, _, c, _ := protectedWorld(t)
	var last int64
	for i := 0; i < 8; i++ {
		got, err := l.VideoCounts(ctx, []string{"v"})
		if err != nil {
			t.Fatal(err)
		}
		v := got["v"]
		if v.Views < last {
			t.Fatalf("public views went down: %d then %d", last, v.Views)
		}
		if v.Likes != 0 { // video_totals is empty in this world: likes read from it
			t.Fatalf("likes %d", v.Likes)
		}
		last = v.Views
		c.t = c.t.Add(24 * time.Hour)
	}
	if last < 1000 {
		t.Fatalf("after 8 released days of ~450 views, the counter shows %d", last)
	}
}

func TestProtected_KeyRotationKeepsOldCells(t *testing.T) {
	ctx := t.Context()
	l, s, c, created := protectedWorld(t)
	from, to := truncDay(created), truncDay(created.AddDate(0, 0, 9))
	first, _ := l.Daily(ctx, Scope{VideoID: "v"}, from, to)
	if _, err := l.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(48 * time.Hour)
	second, _ := l.Daily(ctx, Scope{VideoID: "v"}, from, to)
	for i := 0; i <= 3; i++ {
		if first[i].Counters != second[i].Counters {
			t.Fatalf("day %d re-released after rotation", i)
		}
	}
	var kids int
	s.ReadDB().QueryRow(`SELECT COUNT(DISTINCT kid) FROM cells`).Scan(&kids)
	if kids != 2 {
		t.Fatalf("new cells should use the new key: %d key ids", kids)
	}
}

func TestProtected_ReleaseDue(t *testing.T) {
	ctx := t.Context()
	l, s, c, _ := protectedWorld(t)
	n, err := l.ReleaseDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ReleaseDue: %d videos, %v", n, err)
	}
	var cells int
	day := l.LastReleasedDay(c.t).Unix() / 86400
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells WHERE granularity = 'day' AND period = ?`, day).Scan(&cells)
	if cells != len(l.families("day", false)) {
		t.Fatalf("%d daily cells released for the newest day, want %d", cells, len(l.families("day", false)))
	}
	// Running it again releases nothing new and changes nothing.
	var before int
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells`).Scan(&before)
	if n, err := l.ReleaseDue(ctx); n != 0 || err != nil {
		t.Fatalf("a second pass in the same hour went over %d videos, %v", n, err)
	}
	var after int
	s.ReadDB().QueryRow(`SELECT COUNT(*) FROM cells`).Scan(&after)
	if before != after {
		t.Fatalf("cells %d then %d", before, after)
	}
	// The next hour is due: a pass runs again.
	c.t = c.t.Add(time.Hour)
	if n, err := l.ReleaseDue(ctx); n != 1 || err != nil {
		t.Fatalf("the pass of the next hour went over %d videos, %v", n, err)
	}
}

// TestState_ProtectedNoKeysReleasesNothing: a protected layer that Protect
// has not given its noise keys releases no private number and no cell;
// likes and comments stay exact. The same data behind a protected layer
// with keys does release cells.
func TestState_ProtectedNoKeysReleasesNothing(t *testing.T) {
	ctx := t.Context()
	l, s, c, created := protectedWorld(t)
	if got := New(config.Exact, s).State(); got != StateExact {
		t.Errorf("exact layer: %v", got)
	}
	if got := New("", s).State(); got != StateProtectedNoKeys {
		t.Errorf("a layer of no valid mode must fail towards protected: %v", got)
	}
	cells := func() int {
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM cells`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	bare := New(config.Protected, s)
	if got := bare.State(); got != StateProtectedNoKeys || got.String() != "protected, not yet releasing" {
		t.Fatalf("protected layer without keys: %v", got)
	}
	from, to := truncDay(created), truncDay(created.AddDate(0, 0, 9))
	days, err := bare.Daily(ctx, Scope{VideoID: "v"}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range days {
		want := Counters{Likes: 30, Comments: 5}
		if d.Released || d.Counters != want {
			t.Fatalf("day %d: released %v, %+v; want nothing released but likes and comments", i, d.Released, d.Counters)
		}
	}
	hours, err := bare.Hourly(ctx, Scope{VideoID: "v"}, c.t.Add(-48*time.Hour), c.t)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hours {
		if h.Counters != (Counters{}) {
			t.Fatalf("hour %s: %+v", h.Hour, h.Counters)
		}
	}
	if b, err := bare.Breakdown(ctx, Scope{VideoID: "v"}, from, to); err != nil || len(b) != 0 {
		t.Fatalf("breakdown: %v, %v", b, err)
	}
	if n, err := bare.ReleaseDue(ctx); err != nil || n != 0 {
		t.Fatalf("ReleaseDue: %d, %v", n, err)
	}
	if n, err := bare.ReleaseHistory(ctx); err != nil || n != 0 {
		t.Fatalf("ReleaseHistory: %d, %v", n, err)
	}
	if n := bare.Notice(); n.Mode != config.Protected || n.Bounds != nil {
		t.Fatalf("notice: %+v", n)
	}
	if n := cells(); n != 0 {
		t.Fatalf("%d cells released without noise keys", n)
	}

	if got := l.State(); got != StateProtected {
		t.Fatalf("protected layer with keys: %v", got)
	}
	if n := l.Notice(); n.Bounds == nil {
		t.Fatalf("notice of a releasing layer has no bounds: %+v", n)
	}
	if _, err := l.Daily(ctx, Scope{VideoID: "v"}, from, to); err != nil {
		t.Fatal(err)
	}
	if cells() == 0 {
		t.Fatal("the layer with keys released no cell: the test proves nothing")
	}
}
