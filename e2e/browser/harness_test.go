// Package browser tests Studio and the viewer app in a real headless
// Chromium, driven with chromedp the way a person uses them: typing into
// forms, clicking buttons, reading what the page says. The app runs
// in-process (app.Main on port 0, exact disclosure so numbers show at once)
// with a world of accounts, videos and 28 days of engagement created through
// the public API; the protected-mode tests start a world of their own
// (startProtectedWorld: dated bulk events, released as noisy cells).
// Screenshots land in artifacts/screenshots/ (each test logs the paths).
//
// Chromium comes from scripts/install-browser.sh (Debian's chromium). The
// tests skip when it is missing, unless CI is set: then they fail.
package browser

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/app"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/security"
)

// chromiumPath finds Chromium, or skips the test (fails it under CI).
func chromiumPath(t testing.TB) string {
	if p := os.Getenv("CROWD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; run scripts/install-browser.sh")
	}
	t.Skip("chromium is not installed (scripts/install-browser.sh installs it); skipping browser tests")
	return ""
}

// clock is the app's clock: real time plus an offset the seeding moves, so
// that the world gets 28 days of history through the ordinary API.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time   { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) set(at time.Time) { c.off.Store(int64(time.Until(at))) }
func (c *clock) reset()           { c.off.Store(0) }
func (c *clock) dayStart(d int) time.Time {
	t := time.Now().UTC().AddDate(0, 0, d)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

const password = "correct-horse-battery"

// world is a running Crowd with its accounts and videos.
type world struct {
	app    *app.Main
	url    string
	clock  *clock
	anon   *client.Client
	users  map[string]*client.Client // handle → logged-in API client
	videos map[string]*client.Video  // short name → video
}

// startWorld starts the app and seeds the full world.
func startWorld(t *testing.T) *world {
	t.Helper()
	w := startApp(t, config.Exact)
	w.seed(t)
	return w
}

// startWorldNoBrowser starts the app with one creator and one video, for
// tests that need no browser and no history.
func startWorldNoBrowser(t *testing.T, disclosure config.Mode) *world {
	t.Helper()
	w := startApp(t, disclosure)
	ctx := t.Context()
	_, err := w.anon.Register(ctx, client.Registration{Handle: "mia", Password: password, Type: "business"})
	check(t, err)
	w.login(t, "mia")
	w.videos["sunset"], err = w.users["mia"].CreateVideo(ctx, client.NewVideo{Title: "Sunset over the harbour"})
	check(t, err)
	return w
}

func startApp(t *testing.T, disclosure config.Mode) *world {
	t.Helper()
	ctx := t.Context()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.AdminAddr = "" // no operator listener: tests run side by side
	cfg.Data = t.TempDir()
	cfg.Disclosure = disclosure
	cfg.LoginPerMinute = 1_000_000
	cfg.RegisterPerMinute = 1_000_000
	cfg.AnalyticsPerMinute = 1_000_000
	cfg.AnonViewsPerMinute = 1_000_000
	cfg.SessionTTL = 120 * 24 * time.Hour
	clk := &clock{}
	m := &app.Main{Config: cfg, Now: clk.Now, Passwords: security.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return &world{app: m, url: m.URL(), clock: clk, anon: client.New(m.URL()), users: map[string]*client.Client{}, videos: map[string]*client.Video{}}
}

// check fails the test on err.
func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counts returns a video's public counters.
func (w *world) counts(t testing.TB, v *client.Video) *client.Counts {
	t.Helper()
	got, err := w.anon.Video(t.Context(), v.ID)
	check(t, err)
	return got.Counts
}

// followers returns an account's follower count.
func (w *world) followers(t testing.TB, handle string) int64 {
	t.Helper()
	p, err := w.anon.Profile(t.Context(), handle)
	check(t, err)
	return p.Followers
}

// login registers nothing; it opens an API session for handle.
func (w *world) login(t testing.TB, handle string) {
	t.Helper()
	s, err := w.anon.Login(t.Context(), handle, password)
	check(t, err)
	w.users[handle] = w.anon.WithToken(s.Token)
}

// seed builds the world: mia (business) and leo (personal) are creators,
// ana and zoe are viewers, and 120 synced viewers with stated age, gender
// and country watch, like and follow over the last 28 days.
func (w *world) seed(t *testing.T) {
	ctx := t.Context()
	w.clock.set(w.clock.dayStart(-29).Add(9 * time.Hour))
	for _, r := range []client.Registration{
		{Handle: "mia", DisplayName: "Mia Sommer", Type: "business", BirthDate: "1994-02-03", Gender: "female", Country: "DE"},
		{Handle: "leo", DisplayName: "Leo Park", Type: "personal"},
		{Handle: "ana", DisplayName: "Ana Ruiz"},
		{Handle: "zoe", DisplayName: "Zoe Quinn"},
	} {
		r.Password = password
		_, err := w.anon.Register(ctx, r)
		check(t, err)
		w.login(t, r.Handle)
	}

	// Service token, as `crowd token create --service` makes one.
	tok, err := security.NewToken("crv")
	check(t, err)
	if err := w.app.Store.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), "browser tests", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	svc := w.anon.WithToken(tok)
	countries := []string{"DE", "DE", "DE", "FR", "FR", "US", "US", "GB", "ES", "IT", "NL", "BR"}
	genders := []string{"female", "female", "male", "male", "other", "undisclosed"}
	var viewers []client.SyncAccount
	for i := range 120 {
		viewers = append(viewers, client.SyncAccount{
			ID: fmt.Sprintf("viewer-%03d", i), Handle: fmt.Sprintf("viewer%03d", i), Password: password,
			BirthDate: fmt.Sprintf("%d-06-15", 1965+(i*7)%45), Gender: genders[i%len(genders)], Country: countries[i%len(countries)],
		})
	}
	res, err := svc.SyncAccounts(ctx, viewers)
	check(t, err)
	if len(res.Rejected) > 0 {
		t.Fatalf("sync accounts: %+v", res.Rejected)
	}
	crowd := make([]*client.Client, len(viewers))
	var wg sync.WaitGroup
	errs := make(chan error, len(viewers))
	for i, v := range viewers {
		wg.Go(func() {
			s, err := w.anon.Login(ctx, v.Handle, password)
			if err != nil {
				errs <- err
				return
			}
			crowd[i] = w.anon.WithToken(s.Token)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	post := func(name, owner string, day int, v client.NewVideo) {
		w.clock.set(w.clock.dayStart(day).Add(8 * time.Hour))
		var err error
		w.videos[name], err = w.users[owner].CreateVideo(ctx, v)
		check(t, err)
	}
	post("run", "mia", -28, client.NewVideo{Title: "Morning run along the river", Caption: "5 km before breakfast.", Hashtags: []string{"running", "morning"}, Sound: "Sunrise Drive — Lumen"})
	post("drummer", "leo", -20, client.NewVideo{Title: "Street drummer at the station", Hashtags: []string{"music", "city"}, Sound: "original sound — leo"})
	post("pasta", "mia", -14, client.NewVideo{Title: "Fresh pasta from scratch", Caption: "Flour, eggs, patience.", Hashtags: []string{"cooking"}, Sound: "Kitchen Jazz — Trio Nova"})
	post("sunset", "mia", -6, client.NewVideo{Title: "Sunset over the harbour", Caption: "Golden hour never gets old.", Hashtags: []string{"sunset", "sea", "travel"}, Sound: "Golden Hour — Lumen"})

	// 28 days of views, likes and follows, one request at a time so that
	// each carries its own moment. The sunset video takes off today.
	rng := rand.New(rand.NewPCG(5, 42))
	sources := []string{"for_you", "for_you", "for_you", "for_you", "for_you", "following", "profile", "profile", "search", "hashtag", "sound", "shared", "shared", "other"}
	perDay := func(name string, d int) int {
		age := d - map[string]int{"run": -28, "drummer": -20, "pasta": -14, "sunset": -6}[name]
		if age < 0 {
			return 0
		}
		switch name {
		case "sunset":
			if d == 0 {
				return 110 // over 100 distinct viewers: its audience panel shows
			}
			return 8 + age*2
		case "run":
			return 3 + rng.IntN(5)
		case "pasta":
			return max(2, 14-age) + rng.IntN(4)
		}
		return 2 + rng.IntN(3)
	}
	now := time.Now()
	for d := -28; d <= 0; d++ {
		start := w.clock.dayStart(d)
		span := 24 * time.Hour
		if d == 0 {
			span = max(time.Minute, now.Sub(start)-time.Minute)
		}
		for _, name := range []string{"run", "drummer", "pasta", "sunset"} {
			for i := range perDay(name, d) {
				w.clock.set(start.Add(time.Duration(rng.Int64N(int64(span)))))
				viewer := crowd[rng.IntN(len(crowd))]
				if name == "sunset" && d == 0 {
					viewer = crowd[i%len(crowd)] // today's burst: each a new viewer
				}
				watch := int64(2000 + rng.IntN(14000))
				if err := viewer.RecordView(ctx, w.videos[name].ID, client.View{Source: sources[rng.IntN(len(sources))], WatchMS: watch, Completed: rng.IntN(3) > 0}); err != nil {
					t.Fatal(err)
				}
				if rng.IntN(6) == 0 {
					if err := viewer.Like(ctx, w.videos[name].ID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// Followers come and (a few) go.
		for range 1 + rng.IntN(3) {
			w.clock.set(start.Add(time.Duration(rng.Int64N(int64(span)))))
			f := crowd[rng.IntN(len(crowd))]
			if err := f.Follow(ctx, "mia"); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(5) == 0 {
				if err := f.Unfollow(ctx, "mia"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	w.clock.set(w.clock.dayStart(-3).Add(15 * time.Hour))
	for _, c := range []struct{ video, text string }{{"sunset", "The colours! Where was this?"}, {"pasta", "Making this tonight."}} {
		_, err := w.users["ana"].Comment(ctx, w.videos[c.video].ID, c.text)
		check(t, err)
	}
	if err := w.users["ana"].Like(ctx, w.videos["sunset"].ID); err != nil {
		t.Fatal(err)
	}
	if err := w.users["ana"].Follow(ctx, "mia"); err != nil {
		t.Fatal(err)
	}
	w.clock.reset()
	// A new privacy policy notifies every account.
	_, err = svc.PublishPrivacyPolicy(ctx, "Crowd shows creators how many people shared, saved or watched, never who.")
	check(t, err)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ───────────── The browser ─────────────

// browserCtx starts one headless Chromium for the test.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab is one person's browser: its own cookies (a browser context of its
// own), and a record of every console error the pages wrote.
type tab struct {
	t    *testing.T
	w    *world
	ctx  context.Context
	name string

	mu     sync.Mutex
	errors []string
}

func (w *world) newTab(t *testing.T, bctx context.Context, name string, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, w: w, ctx: ctx, name: name}
	vp := []chromedp.EmulateViewportOption{}
	if width < 600 {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, vp...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if len(tb.errors) > 0 {
			t.Errorf("%s: the pages wrote errors to the console:\n%s", name, strings.Join(tb.errors, "\n"))
		}
	})
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				tb.mu.Lock()
				tb.errors = append(tb.errors, fmt.Sprintf("[%s] %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				tb.mu.Unlock()
			}
		}
	}()
	// The share sheet copies links; let the page use the clipboard.
	id := chromedp.FromContext(ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission:       &browser.PermissionDescriptor{Name: name},
			Setting:          browser.PermissionSettingGranted,
			Origin:           w.url,
			BrowserContextID: id,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.w.url + path))
}

// eval runs JavaScript and returns its value.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, js, err)
	}
	return v
}

// waitJS waits until a JavaScript predicate holds.
func (tb *tab) waitJS(what, js string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		tb.shot("failed-" + sanitize(what))
		tb.t.Fatalf("%s: waiting for %s: %v\npage text:\n%s", tb.name, what, err, tb.pageText())
	}
}

// waitText waits until the element sel shows text.
func (tb *tab) waitText(sel, text string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("%q in %s", text, sel), fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.innerText.toLowerCase().includes(%q))`, sel, strings.ToLower(text)))
}

func (tb *tab) waitVisible(sel string) {
	tb.t.Helper()
	tb.waitJS(sel+" visible", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"; })()`, sel))
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.waitVisible(sel)
	tb.do(chromedp.Click(chromedp.CSS(sel)))
}

func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.waitVisible(sel)
	tb.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (tb *tab) pageText() string {
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return err.Error()
	}
	return v
}

// noHorizontalScroll checks the page fits its viewport's width.
func (tb *tab) noHorizontalScroll() {
	tb.t.Helper()
	over := eval[int](tb, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
	if over > 0 {
		wide := eval[string](tb, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className).join(", ")`)
		tb.t.Errorf("%s: %s scrolls sideways by %d px (too wide: %s)", tb.name, eval[string](tb, `location.pathname`), over, wide)
	}
}

// settle waits for charts and fonts to finish drawing before a screenshot.
func (tb *tab) settle() {
	tb.t.Helper()
	tb.waitJS("no spinner", `!document.querySelector(".loading, .boot")`)
	tb.do(chromedp.Sleep(450 * time.Millisecond))
}

// shot saves a PNG of the whole page into artifacts/screenshots.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.save(name, buf)
}

// shotViewport saves a PNG of what the viewport shows, scrolled to y.
func (tb *tab) shotViewport(name string, y int) {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.scrollTo(0, %d)`, y)), chromedp.Sleep(150*time.Millisecond))
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	tb.save(name, buf)
}

func (tb *tab) save(name string, png []byte) {
	tb.t.Helper()
	dir := filepath.Join(repoRoot(tb.t), "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot %s", file)
}

func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
	return s[:min(len(s), 48)]
}

// loginViewer logs in through the viewer app's form.
func (tb *tab) loginViewer(handle string) {
	tb.t.Helper()
	tb.open("/login")
	tb.typeInto(`input[name=handle]`, handle)
	tb.typeInto(`input[name=password]`, password)
	tb.click(`form[aria-label="Log in"] button[type=submit]`)
	tb.waitJS("the feed after login", `location.pathname === "/" && !!document.querySelector("article.video")`)
}

// loginStudio logs in through Studio's form.
func (tb *tab) loginStudio(handle string) {
	tb.t.Helper()
	tb.open("/studio")
	tb.typeInto(`input[name=handle]`, handle)
	tb.typeInto(`input[name=password]`, password)
	tb.click(`form[aria-label="Log in to Studio"] button[type=submit]`)
	tb.waitVisible(`main.studio-main`)
	tb.settle()
}

// card is the selector of a video's card in the viewer app.
func card(v *client.Video) string {
	return fmt.Sprintf(`article[aria-labelledby="t-%s"]`, v.ID)
}

// sharedViews reads how many views of a video came from shared links and
// messages, from its creator's analytics.
func (w *world) sharedViews(t testing.TB, creator string, v *client.Video) int64 {
	t.Helper()
	var rep struct {
		TrafficSources []struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		} `json:"traffic_sources"`
	}
	if err := w.users[creator].Do(t.Context(), "GET", "/v1/analytics/videos/"+v.ID+"?range=7d", nil, &rep); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.TrafficSources, func(s struct {
		Key   string `json:"key"`
		Count int64  `json:"count"`
	}) bool {
		return s.Key == "shared"
	})
	if i < 0 {
		return 0
	}
	return rep.TrafficSources[i].Count
}

// ───────────── Protected mode: videos of three sizes ─────────────

// protectedSize is a video of the protected-mode world: how many viewers
// watch it on each of its 27 released days (each 1 to views times), and
// how many accounts first share and first save it each day.
type protectedSize struct {
	name          string
	viewers       int
	views         int
	shares, saves int
	everyOtherDay bool
}

// protectedSizes: a small video whose noise dwarfs its numbers (a view
// every other day: the released cells are often negative), a medium one
// and a large one (about 2,700 views a day, whose cells the noise barely
// moves).
var protectedSizes = []protectedSize{
	{name: "small", viewers: 1, views: 2, everyOtherDay: true},
	{name: "medium", viewers: 25, views: 3, shares: 2, saves: 1},
	{name: "large", viewers: 900, views: 5, shares: 40, saves: 25},
}

// startProtectedWorld starts the app in protected mode (the default) with
// the business creator mia, 1,200 synced viewers with stated age, gender
// and country, and mia's three videos of protectedSizes, created 30 days
// ago, with views, shares and saves on each of the 27 days before
// yesterday (bulk events, dated). It waits until aggregation has applied
// every event, before anything reads a report: a cell is released once,
// from what has been counted when it is first read.
func startProtectedWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	w := startApp(t, config.Protected)
	tok, err := security.NewToken("crv")
	check(t, err)
	check(t, w.app.Store.CreateServiceToken(ctx, security.NewID(), security.HashToken(tok), "browser tests", w.clock.Now()))
	svc := w.anon.WithToken(tok)

	countries := []string{"DE", "DE", "FR", "US", "US", "US", "GB", "BR", "JP", "ES"}
	genders := []string{"female", "female", "male", "male", "other", "undisclosed"}
	accounts := []client.SyncAccount{{ID: "mia", Handle: "mia", DisplayName: "Mia Sommer", Type: "business", Password: password}}
	const crowd = 1200
	for i := range crowd {
		accounts = append(accounts, client.SyncAccount{ID: fmt.Sprintf("p%04d", i), Handle: fmt.Sprintf("p%04d", i),
			BirthDate: fmt.Sprintf("%d-03-10", 1962+(i*7)%48), Gender: genders[i%len(genders)], Country: countries[i%len(countries)]})
	}
	res, err := svc.SyncAccounts(ctx, accounts)
	check(t, err)
	if len(res.Rejected) > 0 {
		t.Fatalf("sync accounts: %+v", res.Rejected)
	}
	created := w.clock.dayStart(-30).Add(9 * time.Hour)
	var videos []client.SyncVideo
	for _, sz := range protectedSizes {
		videos = append(videos, client.SyncVideo{ID: sz.name, Owner: "mia", Title: "The " + sz.name + " video", CreatedAt: created.Format(time.RFC3339)})
	}
	vres, err := svc.SyncVideos(ctx, videos)
	check(t, err)
	if len(vres.Rejected) > 0 {
		t.Fatalf("sync videos: %+v", vres.Rejected)
	}
	w.login(t, "mia")

	rng := rand.New(rand.NewPCG(14, 6))
	sources := []string{"for_you", "for_you", "for_you", "following", "profile", "search", "hashtag", "shared"}
	var evs []client.Event
	var views, firsts int64
	send := func(force bool) {
		if len(evs) == 0 || !force && len(evs) < 5000 {
			return
		}
		r, err := svc.Ingest(ctx, evs)
		check(t, err)
		if r.Accepted != len(evs) {
			t.Fatalf("ingest: %+v", r)
		}
		evs = evs[:0]
	}
	for si, sz := range protectedSizes {
		shared := 0
		for d := -27; d <= -1; d++ {
			if sz.everyOtherDay && d%2 == 0 {
				continue
			}
			start := w.clock.dayStart(d)
			at := func() string {
				return start.Add(time.Duration(rng.Int64N(int64(24*time.Hour - time.Minute)))).Format(time.RFC3339)
			}
			n := sz.viewers - sz.viewers/5 + rng.IntN(sz.viewers/5*2+1)
			for i := range n {
				viewer := fmt.Sprintf("p%04d", (i+(d+27)*37+si*101)%crowd)
				for k := range 1 + rng.IntN(sz.views) {
					evs = append(evs, client.Event{ID: fmt.Sprintf("%s-%d-%d-%d", sz.name, d, i, k), Type: "view", VideoID: sz.name, AccountID: viewer, TS: at(),
						Source: sources[rng.IntN(len(sources))], WatchMS: int64(2000 + rng.IntN(14000)), Completed: rng.IntN(3) > 0})
					views++
				}
			}
			// Every sharer and saver is new to the video (a share or a save
			// counts once per account and video).
			for range sz.shares {
				evs = append(evs, client.Event{ID: fmt.Sprintf("%s-share-%d", sz.name, shared), Type: "share", VideoID: sz.name, AccountID: fmt.Sprintf("p%04d", shared%crowd), TS: at(), Channel: "copy_link"})
				shared++
				firsts++
			}
			for j := range sz.saves {
				evs = append(evs, client.Event{ID: fmt.Sprintf("%s-save-%d-%d", sz.name, d, j), Type: "save", VideoID: sz.name, AccountID: fmt.Sprintf("p%04d", ((d+27)*sz.saves+j+600)%crowd), TS: at()})
				firsts++
			}
			send(false)
		}
	}
	send(true)
	waitAggregated(t, w, views, firsts)
	return w
}

// waitAggregated waits until the rollups hold every view and every share
// and save sent, read from the database (a report would release cells).
func waitAggregated(t *testing.T, w *world, views, firsts int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var v, f int64
		err := w.app.Store.ReadDB().QueryRowContext(t.Context(), `SELECT COALESCE(SUM(views), 0), COALESCE(SUM(shares + saves), 0) FROM video_day`).Scan(&v, &f)
		if err == nil && v == views && f == firsts {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("aggregation: %d of %d views, %d of %d shares and saves (%v)", v, views, f, firsts, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
