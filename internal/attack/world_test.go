package attack

import (
	"fmt"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/disclosure"
	"github.com/crowd-dev/crowd/internal/noise"
	"github.com/crowd-dev/crowd/internal/period"
	"github.com/crowd-dev/crowd/internal/platform"
	"github.com/crowd-dev/crowd/internal/store"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// world is a protected Layer over a real store: video "v" created at
// created, with 10 days of rollups (sharers 10, savers 8, viewers 200,
// p_views 450 each day), and the clock at day 5, 03:00 (days 0..3 are
// released, day 4 waits for its 6 h delay, day 5 is open).
type world struct {
	l       *disclosure.Layer
	s       *store.Store
	keys    *noise.Keyring
	c       *clock
	created time.Time
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	s, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	if err := s.CreateAccount(ctx, &platform.Account{ID: "mia", Handle: "mia", Type: "business", DMPolicy: "everyone", Gender: "undisclosed", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVideo(ctx, &platform.Video{ID: "v", OwnerID: "mia", Title: "t", CreatedAt: created, CreatorIDs: []string{"mia"}}); err != nil {
		t.Fatal(err)
	}
	for d := 0; d < 10; d++ {
		dd := int64(period.DayOf(created.AddDate(0, 0, d)))
		if _, err := s.DB().Exec(`INSERT INTO video_day (video_id, day, views, viewers, likes, comments, shares, saves, p_views, sharers, savers)
VALUES ('v', ?, 500, 200, 30, 5, 12, 9, 450, 10, 8)`, dd); err != nil {
			t.Fatal(err)
		}
		if err := s.AddAudience(ctx, store.VideoAudienceDayTable, []store.AudienceRow{{ID: "v", Period: dd, Counts: []store.AudienceCount{{Dim: store.AudienceCountry, Bucket: "DE", Views: 300, Viewers: 120}}}}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := noise.OpenKeyring(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: day(created).AddDate(0, 0, 5).Add(3 * time.Hour)}
	l := disclosure.New(config.Protected, s)
	if err := l.Protect(keys, disclosure.DefaultPolicy(), c.now); err != nil {
		t.Fatal(err)
	}
	return &world{l: l, s: s, keys: keys, c: c, created: created}
}

// dayN is the UTC start of the video's day n.
func (w *world) dayN(n int) time.Time { return day(w.created).AddDate(0, 0, n) }

// storedCell returns a stored daily total cell of video v and its kid.
func (w *world) storedCell(t *testing.T, metric string, d time.Time) (value int64, kid uint32, ok bool) {
	t.Helper()
	err := w.s.ReadDB().QueryRow(`SELECT value, kid FROM cells WHERE subject = 'video:v' AND granularity = 'day' AND period = ? AND metric = ? AND dim = '' AND bucket = ''`,
		int64(period.DayOf(d)), metric).Scan(&value, &kid)
	return value, kid, err == nil
}

// family returns the default policy's family of a metric, dimension and
// granularity.
func family(t testing.TB, metric, dim, gran string) disclosure.Family {
	for _, f := range disclosure.DefaultPolicy().Families {
		if f.Metric == metric && f.Dim == dim && f.Granularity == gran {
			return f
		}
	}
	t.Fatalf("no family %s/%s/%s", metric, dim, gran)
	return disclosure.Family{}
}

func eps(f disclosure.Family) float64 { return float64(f.Epsilon.Num) / float64(f.Epsilon.Den) }

// dayCell is the canonical key of a video's daily cell, as the Layer
// builds it.
func dayCell(video, metric, dim, bucket string, d time.Time) noise.CellKey {
	return noise.CellKey{Schema: disclosure.CellSchema, Subject: noise.SubjectVideo + video, Metric: metric, Dim: dim, Bucket: bucket, Granularity: noise.Day, PeriodStart: d}
}

// release is the released value of a cell with the given true (bounded)
// value: the computation of the Layer's release, truth plus the keyed
// noise of the cell's canonical key under the current kid, with the
// family's ε and sensitivity.
func release(t testing.TB, keys *noise.Keyring, truth int64, key noise.CellKey, f disclosure.Family) int64 {
	n, err := keys.Noise(keys.Current(), key, f.Epsilon.Num, f.Epsilon.Den, f.Sensitivity)
	if err != nil {
		t.Fatal(err)
	}
	return truth + n
}

// TestHarness_MatchesLayerRelease proves the statistical attacks use the
// real release arithmetic: every cell the Layer stores equals release()
// of its true value and key.
func TestHarness_MatchesLayerRelease(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if _, err := w.l.Daily(ctx, disclosure.Scope{VideoID: "v"}, w.dayN(0), w.dayN(9)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.l.Breakdown(ctx, disclosure.Scope{VideoID: "v"}, w.dayN(0), w.dayN(3)); err != nil {
		t.Fatal(err)
	}
	truth := map[string]int64{"sharers": 10, "savers": 8, "viewers": 200, "views": 450}
	checked := 0
	for d := 0; d <= 3; d++ {
		for m, v := range truth {
			got, kid, ok := w.storedCell(t, m, w.dayN(d))
			if !ok {
				t.Fatalf("no %s cell for released day %d", m, d)
			}
			if kid != w.keys.Current() {
				t.Fatalf("cell kid %d, keyring current %d", kid, w.keys.Current())
			}
			if want := release(t, w.keys, v, dayCell("v", m, "", "", w.dayN(d)), family(t, m, "", "day")); got != want {
				t.Fatalf("day %d %s: stored %d, harness release %d", d, m, got, want)
			}
			checked++
		}
		var de int64
		if err := w.s.ReadDB().QueryRow(`SELECT value FROM cells WHERE subject = 'video:v' AND period = ? AND dim = 'country' AND bucket = 'DE'`, int64(period.DayOf(w.dayN(d)))).Scan(&de); err != nil {
			t.Fatal(err)
		}
		if want := release(t, w.keys, 120, dayCell("v", "viewers", "country", "DE", w.dayN(d)), family(t, "viewers", "country", "day")); de != want {
			t.Fatalf("day %d viewers country=DE: stored %d, harness release %d", d, de, want)
		}
		checked++
	}
	recordCheck(t, "harness = Layer release", fmt.Sprintf("all %d stored cells checked equal truth + keys.Noise(kid, canonical key, ε, Δ)", checked))
}
