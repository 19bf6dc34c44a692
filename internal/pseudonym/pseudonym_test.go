package pseudonym

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crowd-dev/crowd/internal/secretfile"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)

// MustOpen opens a Pseudonymizer in dir or fails the test.
func MustOpen(tb testing.TB, dir string, now func() time.Time) *Pseudonymizer {
	tb.Helper()
	p, err := Open(dir, now)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return p
}

// MustViewerDay returns p.ViewerDay or fails the test.
func MustViewerDay(tb testing.TB, p *Pseudonymizer, account, video string, day time.Time) string {
	tb.Helper()
	v, err := p.ViewerDay(account, video, day)
	if err != nil {
		tb.Fatalf("ViewerDay: %v", err)
	}
	return v
}

// readSaltDays returns the days in dir's salts file.
func readSaltDays(tb testing.TB, dir string) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, SaltsFile))
	if err != nil {
		tb.Fatal(err)
	}
	var m saltsJSON
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	var days []string
	for d := range m.Days {
		days = append(days, d)
	}
	return days
}

var pseudonymRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestPseudonymizer_Deterministic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	clock := &fakeClock{t: t0}
	p := MustOpen(t, dir, clock.Now)
	actor := p.Actor("acc1", "vid1")
	accountDay := p.AccountDay("acc1", t0)
	viewerDay := MustViewerDay(t, p, "acc1", "vid1", t0)

	for name, v := range map[string]string{"Actor": actor, "AccountDay": accountDay, "ViewerDay": viewerDay} {
		if !pseudonymRE.MatchString(v) {
			t.Errorf("%s = %q; want 22 base64url characters", name, v)
		}
	}
	if p.Actor("acc1", "vid1") != actor {
		t.Error("Actor differs between calls")
	}

	t.Run("AcrossReopen", func(t *testing.T) {
		q := MustOpen(t, dir, clock.Now)
		if got := q.Actor("acc1", "vid1"); got != actor {
			t.Errorf("Actor after reopen = %q; want %q", got, actor)
		}
		if got := q.AccountDay("acc1", t0); got != accountDay {
			t.Errorf("AccountDay after reopen = %q; want %q", got, accountDay)
		}
		if got := MustViewerDay(t, q, "acc1", "vid1", t0); got != viewerDay {
			t.Errorf("ViewerDay after reopen = %q; want %q", got, viewerDay)
		}
	})
	t.Run("OtherDirectoryDiffers", func(t *testing.T) {
		q := MustOpen(t, t.TempDir(), clock.Now)
		if q.Actor("acc1", "vid1") == actor || MustViewerDay(t, q, "acc1", "vid1", t0) == viewerDay {
			t.Error("pseudonyms equal under different secrets")
		}
	})
	t.Run("DayIsUTCDate", func(t *testing.T) {
		// 23:30 in New York on March 9 is 03:30 UTC on March 10.
		ny := time.FixedZone("EST", -5*3600)
		same := time.Date(2026, 3, 9, 22, 30, 0, 0, ny)
		if got := p.AccountDay("acc1", same); got != accountDay {
			t.Error("AccountDay depends on the time zone or time of day")
		}
		if got := MustViewerDay(t, p, "acc1", "vid1", same); got != viewerDay {
			t.Error("ViewerDay depends on the time zone or time of day")
		}
		next := t0.Add(oneDay)
		if p.AccountDay("acc1", next) == accountDay {
			t.Error("AccountDay equal on different days")
		}
		if MustViewerDay(t, p, "acc1", "vid1", next) == viewerDay {
			t.Error("ViewerDay equal on different days")
		}
	})
}

func TestPseudonymizer_Distinct(t *testing.T) {
	p := MustOpen(t, t.TempDir(), nil)
	seen := map[string]string{}
	add := func(what, v string) {
		t.Helper()
		if prev, dup := seen[v]; dup {
			t.Errorf("%s and %s share pseudonym %q", prev, what, v)
		}
		seen[v] = what
	}
	for _, acc := range []string{"acc1", "acc2", ""} {
		for _, vid := range []string{"vid1", "vid2"} {
			add(fmt.Sprintf("Actor(%s,%s)", acc, vid), p.Actor(acc, vid))
			add(fmt.Sprintf("ViewerDay(%s,%s)", acc, vid), MustViewerDay(t, p, acc, vid, t0))
		}
		// An event id equal to an account id is not its actor pseudonym.
		add(fmt.Sprintf("EventID(%s)", acc), p.EventID(acc))
		add(fmt.Sprintf("AccountDay(%s)", acc), p.AccountDay(acc, t0))
	}
	// The account-day pseudonym of (account, day) is not the actor
	// pseudonym of (account, video) for a video id that happens to spell
	// the day: the domain label keeps them apart.
	if p.AccountDay("acc1", t0) == p.Actor("acc1", t0.Format(dayLayout)) {
		t.Error("AccountDay(acc1, day) == Actor(acc1, day string)")
	}
	t.Run("Unambiguous", func(t *testing.T) {
		if bytes.Equal(encode("ab", "c"), encode("a", "bc")) {
			t.Error(`encode("ab", "c") == encode("a", "bc")`)
		}
		if bytes.Equal(encode("a", ""), encode("", "a")) || bytes.Equal(encode("a"), encode("a", "")) {
			t.Error("encode is ambiguous with empty fields")
		}
		if p.Actor("ab", "c") == p.Actor("a", "bc") {
			t.Error(`Actor("ab", "c") == Actor("a", "bc")`)
		}
		if MustViewerDay(t, p, "ab", "c", t0) == MustViewerDay(t, p, "a", "bc", t0) {
			t.Error(`ViewerDay("ab", "c") == ViewerDay("a", "bc")`)
		}
	})
	t.Run("Encoding", func(t *testing.T) {
		want := "0000000000000002" + hex.EncodeToString([]byte("ab")) + "0000000000000000"
		if got := hex.EncodeToString(encode("ab", "")); got != want {
			t.Errorf("encode(ab, \"\") = %s; want %s", got, want)
		}
	})
}

func TestOpen_FileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "secrets")
	p := MustOpen(t, dir, nil)
	MustViewerDay(t, p, "acc", "vid", t0) // rewrites the salts file

	wantModes := func(t *testing.T) {
		t.Helper()
		for path, want := range map[string]os.FileMode{
			dir:                           0o700,
			filepath.Join(dir, KeyFile):   0o600,
			filepath.Join(dir, SaltsFile): 0o600,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s: mode %o; want %o", filepath.Base(path), got, want)
			}
		}
	}
	wantModes(t)

	t.Run("Tightened", func(t *testing.T) {
		for _, path := range []string{filepath.Join(dir, KeyFile), filepath.Join(dir, SaltsFile)} {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		MustOpen(t, dir, nil)
		wantModes(t)
	})
	t.Run("KeyFile", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != keyLen {
			t.Errorf("key file holds %d bytes; want %d", len(b), keyLen)
		}
	})
	t.Run("NoTempFilesLeft", func(t *testing.T) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{KeyFile, SaltsFile, LockFile}; !slices.Equal(names, slices.Sorted(slices.Values(want))) {
			t.Errorf("directory holds %v; want only %v", names, want)
		}
	})
}

func TestPseudonymizer_Redacted(t *testing.T) {
	dir := t.TempDir()
	p := MustOpen(t, dir, nil)
	MustViewerDay(t, p, "acc", "vid", t0)

	key, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	salt := *p.salts[t0.Format(dayLayout)].salt
	var leaks []string
	for _, s := range [][]byte{key, salt} {
		leaks = append(leaks, string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s),
			base64.RawURLEncoding.EncodeToString(s), fmt.Sprint([]byte(s)))
	}

	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("opened", "pseudonymizer", p, "key", p.key)
	log.Info("text", slog.Any("p", p))
	slog.New(slog.NewTextHandler(&logged, nil)).Info("opened", "pseudonymizer", p, "salt", p.salts)

	outputs := map[string]string{
		"Sprint":  fmt.Sprint(p),
		"Sprintf": fmt.Sprintf("%v %+v %#v %s %q %x %X %d", p, p, p, p, p, p, p, p),
		"key":     fmt.Sprintf("%v %+v %#v %s %x %d", p.key, *p.key, *p.key, p.key, *p.key, *p.key),
		"salts":   fmt.Sprintf("%v %+v %#v", p.salts, p.salts, p.salts),
		"error":   fmt.Errorf("wrap: %v", p).Error(),
		"slog":    logged.String(),
	}
	for name, out := range outputs {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("%s output contains secret bytes: %s", name, out)
			}
		}
	}
	if got := fmt.Sprint(p); got != "[redacted]" {
		t.Errorf("fmt.Sprint = %q; want [redacted]", got)
	}
	if !strings.Contains(logged.String(), `"pseudonymizer":"[redacted]"`) {
		t.Errorf("slog output lacks redacted value: %s", logged.String())
	}
}

func TestPseudonymizer_PruneSalts(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: t0}
	p := MustOpen(t, dir, clock.Now)
	march9 := t0.Add(-oneDay)
	before := MustViewerDay(t, p, "acc", "vid", march9)
	MustViewerDay(t, p, "acc", "vid", t0)

	// March 9 ends at March 10 00:00; with 72h retention its salt lives
	// until March 13 00:00 (it was last used long before).
	end := time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)

	clock.Set(end.Add(-time.Nanosecond))
	if _, err := p.PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil {
		t.Fatal(err)
	}
	if got := MustViewerDay(t, p, "acc", "vid", march9); got != before {
		t.Fatal("salt pruned before its retention ended")
	}
	// That use (March 12, 23:00) keeps it another day past its hour.
	clock.Set(end)
	if closed, err := p.PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil || len(closed) != 0 {
		t.Fatalf("PruneSalts closed %v, %v: a salt used within the idle time was destroyed", closed, err)
	}
	MustViewerDay(t, p, "acc", "vid", t0) // March 10 stays in use
	clock.Set(end.Add(DefaultSaltIdle))
	doomed := p.salts["2026-03-09"]
	closed, err := p.PruneSalts(DefaultSaltRetention, DefaultSaltIdle)
	if err != nil {
		t.Fatal(err)
	}
	// The salt and the HMAC states derived from it are wiped in memory.
	for name, s := range map[string]*secret{"salt": doomed.salt, "inner state": doomed.mac.inner, "outer state": doomed.mac.outer} {
		if !bytes.Equal(*s, make([]byte, len(*s))) {
			t.Errorf("the pruned day's %s was not wiped", name)
		}
	}
	if want := march9.Unix() / 86400; len(closed) != 1 || closed[0] != want {
		t.Fatalf("PruneSalts closed %v; want [%d]", closed, want)
	}
	if days := readSaltDays(t, dir); len(days) != 1 || days[0] != "2026-03-10" {
		t.Errorf("salts file holds %v after prune; want [2026-03-10]", days)
	}
	// Reopening does not bring the salt back, and keeps the day closed.
	q := MustOpen(t, dir, clock.Now)
	if _, ok := q.salts["2026-03-09"]; ok {
		t.Error("pruned salt loaded after reopen")
	}
	if got := q.ClosedDays(); len(got) != 1 || got[0] != closed[0] || !q.Closed(march9) {
		t.Errorf("reopened: closed days %v", got)
	}

	// A late event for the closed day is refused, never counted under a
	// fresh salt.
	for _, p := range []*Pseudonymizer{p, q} {
		if _, err := p.ViewerDay("acc", "vid", march9); !errors.Is(err, ErrDayClosed) {
			t.Errorf("ViewerDay of a closed day: %v; want ErrDayClosed", err)
		}
		if err := p.OpenDay(march9.Add(5 * time.Hour)); !errors.Is(err, ErrDayClosed) {
			t.Errorf("OpenDay of a closed day: %v; want ErrDayClosed", err)
		}
	}
	if days := readSaltDays(t, dir); len(days) != 1 {
		t.Errorf("salts file holds %v; want no new salt", days)
	}

	t.Run("HistoryImport", func(t *testing.T) {
		// An import of old days keeps their salts while it runs and for
		// the idle time after, across restarts.
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		v := MustViewerDay(t, p, "acc", "vid", old)
		clock.Set(clock.Now().Add(20 * time.Hour))
		if _, err := p.PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil {
			t.Fatal(err)
		}
		r := MustOpen(t, dir, clock.Now)
		if got := MustViewerDay(t, r, "acc", "vid", old); got != v {
			t.Error("salt of an imported day not kept while the import runs")
		}
		clock.Set(clock.Now().Add(DefaultSaltIdle + time.Hour))
		if _, err := r.PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.salts["2020-01-01"]; ok || !r.Closed(old) {
			t.Error("old day's salt survived prune after the idle time")
		}
	})
	t.Run("NoIdle", func(t *testing.T) {
		// Idle 0 (crowd salts prune --idle 0, after an import) ignores
		// the last use.
		p := MustOpen(t, t.TempDir(), clock.Now)
		old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
		MustViewerDay(t, p, "acc", "vid", old)
		MustViewerDay(t, p, "acc", "vid", clock.Now())
		closed, err := p.PruneSalts(DefaultSaltRetention, 0)
		if err != nil || len(closed) != 1 || !p.Closed(old) {
			t.Fatalf("PruneSalts(72h, 0) closed %v, %v", closed, err)
		}
	})
	t.Run("NegativeRetention", func(t *testing.T) {
		if _, err := p.PruneSalts(-time.Hour, 0); err == nil {
			t.Error("PruneSalts(-1h) succeeded")
		}
		if _, err := p.PruneSalts(0, -time.Hour); err == nil {
			t.Error("PruneSalts(0, -1h) succeeded")
		}
	})
	t.Run("ZeroRetention", func(t *testing.T) {
		clock.Set(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC))
		p := MustOpen(t, t.TempDir(), clock.Now)
		MustViewerDay(t, p, "acc", "vid", t0)
		if _, err := p.PruneSalts(0, 0); err != nil {
			t.Fatal(err)
		}
		if len(p.salts) != 0 {
			t.Error("salt of a finished day survived PruneSalts(0, 0)")
		}
	})
}

func TestViewerDay_YearOutOfRange(t *testing.T) {
	p := MustOpen(t, t.TempDir(), nil)
	if _, err := p.ViewerDay("acc", "vid", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("ViewerDay in year 10000 succeeded")
	}
}

func TestOpen_Errors(t *testing.T) {
	t.Run("KeyLostAfterUse", func(t *testing.T) {
		dir := t.TempDir()
		MustOpen(t, dir, nil)
		if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, nil); err == nil {
			t.Fatal("Open created a new key in a used directory")
		}
		if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
			t.Error("Open wrote a key file")
		}
	})
	t.Run("SaltsLost", func(t *testing.T) {
		dir := t.TempDir()
		actor := MustOpen(t, dir, nil).Actor("a", "v")
		if err := os.Remove(filepath.Join(dir, SaltsFile)); err != nil {
			t.Fatal(err)
		}
		if got := MustOpen(t, dir, nil).Actor("a", "v"); got != actor {
			t.Error("key changed after salts were lost")
		}
	})
	corrupt := map[string]struct{ file, content string }{
		"ShortKey":   {KeyFile, "too short"},
		"BadJSON":    {SaltsFile, "{"},
		"BadDay":     {SaltsFile, `{"days": {"2026-3-1": {"salt": "` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `", "used": "2026-03-02T00:00:00Z"}}, "closed": []}`},
		"BadSalt":    {SaltsFile, `{"days": {"2026-03-01": {"salt": "not base64!", "used": "2026-03-02T00:00:00Z"}}, "closed": []}`},
		"ShortSalt":  {SaltsFile, `{"days": {"2026-03-01": {"salt": "YWJj", "used": "2026-03-02T00:00:00Z"}}, "closed": []}`},
		"SaltsArray": {SaltsFile, `[]`},
		"DayToSalt":  {SaltsFile, `{"2026-03-01": "` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`},
		"Trailing":   {SaltsFile, `{"days": {}, "closed": []} {}`},
		"BadClosed":  {SaltsFile, `{"days": {}, "closed": ["2026-3-1"]}`},
		"OpenClosed": {SaltsFile, `{"days": {"2026-03-01": {"salt": "` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `", "used": "2026-03-02T00:00:00Z"}}, "closed": ["2026-03-01"]}`},
	}
	for name, c := range corrupt {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			MustOpen(t, dir, nil)
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, nil); err == nil {
				t.Errorf("Open succeeded with corrupt %s", c.file)
			}
		})
	}
	t.Run("StaleTempRemoved", func(t *testing.T) {
		dir := t.TempDir()
		MustOpen(t, dir, nil)
		stale := filepath.Join(dir, SaltsFile+secretfile.TempSuffix+"123")
		if err := os.WriteFile(stale, []byte(`{"2020-01-01":"..."}`), 0o600); err != nil {
			t.Fatal(err)
		}
		MustOpen(t, dir, nil)
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Error("stale temporary file survived Open")
		}
	})
}

func TestPseudonymizer_Concurrent(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: t0}
	p := MustOpen(t, dir, clock.Now)
	want := MustViewerDay(t, p, "acc", "vid", t0)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				day := t0.Add(-time.Duration(i%10) * oneDay)
				p.Actor(fmt.Sprint("acc", g), "vid")
				p.AccountDay(fmt.Sprint("acc", g), day)
				if _, err := p.ViewerDay(fmt.Sprint("acc", g), "vid", day); err != nil {
					t.Error(err)
					return
				}
				if got, err := p.ViewerDay("acc", "vid", t0); err != nil || got != want {
					t.Errorf("ViewerDay(today) = %q, %v; want %q", got, err, want)
					return
				}
				if i%10 == 0 {
					if _, err := p.PruneSalts(DefaultSaltRetention, DefaultSaltIdle); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()

	// Whatever interleaving happened, file and memory agree.
	q := MustOpen(t, dir, clock.Now)
	if len(q.salts) != len(p.salts) {
		t.Errorf("reopened with %d salts; in memory %d", len(q.salts), len(p.salts))
	}
}

func BenchmarkActor(b *testing.B) {
	p := MustOpen(b, b.TempDir(), nil)
	for b.Loop() {
		p.Actor("k3v7wqz2m4n5p6r7s8t9u2v3w4", "a2b3c4d5e6f7g2h3i4j5k6l7m2")
	}
}

func BenchmarkViewerDay(b *testing.B) {
	p := MustOpen(b, b.TempDir(), nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.ViewerDay("k3v7wqz2m4n5p6r7s8t9u2v3w4", "a2b3c4d5e6f7g2h3i4j5k6l7m2", t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
