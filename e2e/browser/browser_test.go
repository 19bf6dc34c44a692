package browser

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crowd-dev/crowd/client"
	"github.com/crowd-dev/crowd/internal/config"
)

// TestBrowser drives the viewer app and Studio through the flows a person
// would, in order: they share one world, so later steps see what earlier
// ones did.
func TestBrowser(t *testing.T) {
	bctx := browserCtx(t)
	w := startWorld(t)
	ctx := t.Context()
	sunset := w.videos["sunset"]

	t.Run("register and log in", func(t *testing.T) {
		tb := w.newTab(t, bctx, "kai", 1280, 900)
		tb.open("/register")
		tb.typeInto(`input[name=handle]`, "kai")
		tb.typeInto(`input[name=display_name]`, "Kai Berg")
		tb.typeInto(`input[name=password]`, password)
		tb.click(`form[aria-label="Create an account"] button[type=submit]`)
		tb.waitJS("the feed after registering", `location.pathname === "/" && !!document.querySelector("article.video")`)
		tb.waitText(".mainnav", "Profile")
		tb.click(`.mainnav a[href="/u/kai"]`)
		tb.waitText("main h1", "Kai Berg")
		tb.click(`main button.btn:not(.btn-violet)`) // Log out
		tb.waitText(".mainnav", "Log in")
		tb.loginViewer("kai")
	})

	t.Run("feed: watch, like, comment, save, follow", func(t *testing.T) {
		tb := w.newTab(t, bctx, "leo", 1280, 900)
		tb.loginViewer("leo")
		tb.settle()
		tb.shot("viewer-feed")

		before := w.counts(t, sunset)
		tb.click(card(sunset) + ` .play`)
		tb.waitJS("playback", `!!document.querySelector(".frame.playing")`)
		tb.do(chromedp.Sleep(700 * time.Millisecond))
		tb.click(card(sunset) + ` .play`) // pause: the view is recorded
		waitFor(t, "the view to count", func() (bool, error) {
			v, err := w.anon.Video(ctx, sunset.ID)
			return err == nil && v.Counts.Views == before.Views+1, err
		})

		tb.click(card(sunset) + ` .act.like`)
		tb.waitJS("liked", `document.querySelector('`+card(sunset)+` .act.like').getAttribute("aria-pressed") === "true"`)
		tb.click(card(sunset) + ` .act.save`)
		tb.waitJS("saved", `document.querySelector('`+card(sunset)+` .act.save').getAttribute("aria-pressed") === "true"`)

		tb.click(card(sunset) + ` .act.comment`)
		tb.waitText("dialog", "The colours!")
		tb.typeInto(`dialog input[name=text]`, "Stunning light, well done")
		tb.click(`dialog form.comment-form button[type=submit]`)
		tb.waitText("dialog .list", "Stunning light")
		tb.shotViewport("viewer-comments", 0)
		tb.do(chromedp.KeyEvent(kb.Escape))
		tb.waitJS("the dialog to close", `!document.querySelector("dialog")`)

		after := w.counts(t, sunset)
		if after.Likes != before.Likes+1 || after.Comments != before.Comments+1 {
			t.Errorf("counts after like and comment: %+v, before %+v", after, before)
		}

		tb.click(`.mainnav a[href="/saved"]`)
		tb.waitText("main", "Sunset over the harbour")
		tb.settle()
		tb.shot("viewer-saved")

		tb.open("/u/mia")
		tb.waitText("main h1", "Mia Sommer")
		followers := w.followers(t, "mia")
		tb.click(`main button[aria-pressed="false"]`)
		tb.waitText("main", "Following")
		waitFor(t, "the follow", func() (bool, error) {
			p, err := w.anon.Profile(ctx, "mia")
			return err == nil && p.Followers == followers+1, err
		})
		tb.settle()
		tb.shot("viewer-profile")
	})

	t.Run("keyboard", func(t *testing.T) {
		tb := w.newTab(t, bctx, "keyboard", 1280, 900)
		tb.open("/")
		tb.waitVisible("article.video")
		// Every control is a real button or link, reachable with Tab.
		if n := eval[int](tb, `document.querySelectorAll("[onclick], div[tabindex], span[tabindex]").length`); n != 0 {
			t.Errorf("%d clickable non-controls", n)
		}
		for i := 0; i < 12 && !eval[bool](tb, `document.activeElement.classList.contains("play")`); i++ {
			tb.do(chromedp.KeyEvent(kb.Tab))
		}
		if !eval[bool](tb, `document.activeElement.classList.contains("play")`) {
			t.Fatalf("Tab never reached a play button; focus is on %s", eval[string](tb, `document.activeElement.outerHTML.slice(0, 120)`))
		}
		if eval[string](tb, `getComputedStyle(document.activeElement).outlineStyle`) == "none" {
			t.Error("the focused play button shows no focus outline")
		}
		tb.do(chromedp.KeyEvent(kb.Enter))
		tb.waitJS("playback started by keyboard", `!!document.querySelector(".frame.playing")`)
		tb.do(chromedp.KeyEvent(kb.Enter))
		tb.waitJS("playback paused by keyboard", `!document.querySelector(".frame.playing")`)
	})

	t.Run("share by direct message and copy link", func(t *testing.T) {
		tb := w.newTab(t, bctx, "zoe", 1280, 900)
		tb.loginViewer("zoe")
		before := w.counts(t, sunset).Shares
		tb.click(card(sunset) + ` .act.share`)
		tb.typeInto(`dialog input[name=handle]`, "mia")
		tb.click(`dialog form.search-row button[type=submit]`)
		tb.waitText("dialog .person", "Mia Sommer")
		tb.typeInto(`dialog textarea[name=text]`, "You have to see this one")
		tb.click(`dialog .person button`)
		tb.waitText("dialog", "Sent to @mia")

		tb.click(`dialog .btn-violet`) // Copy link
		tb.waitText("dialog", "Link copied")
		copied := eval[string](tb, `navigator.clipboard.readText()`)
		if copied != w.url+"/s/"+sunset.ID {
			t.Errorf("clipboard holds %q, want the share link", copied)
		}
		tb.click(`dialog .share-app .ch-whatsapp`)
		tb.waitText("dialog", "Link ready for WhatsApp")
		tb.shotViewport("viewer-share-sheet", 0)
		waitFor(t, "three shares to count", func() (bool, error) {
			v, err := w.anon.Video(ctx, sunset.ID)
			return err == nil && v.Counts.Shares == before+3, err
		})
	})

	t.Run("inbox names the sender", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-viewer", 1280, 900)
		tb.loginViewer("mia")
		tb.waitText(".mainnav", "1") // one unread message
		tb.click(`.mainnav a[href="/inbox"]`)
		tb.waitText(".list-item.message", "@zoe sent you “Sunset over the harbour”")
		tb.waitText(".list-item.message", "You have to see this one")
		tb.settle()
		tb.shot("viewer-inbox")
		before := w.sharedViews(t, "mia", sunset)
		tb.click(`.list-item.message .btn-primary`)
		tb.waitJS("the video page", `location.pathname === "/v/`+sunset.ID+`"`)
		waitFor(t, "opening the message to count a shared view", func() (bool, error) {
			return w.sharedViews(t, "mia", sunset) == before+1, nil
		})
	})

	t.Run("share link page", func(t *testing.T) {
		tb := w.newTab(t, bctx, "anonymous", 1280, 900)
		before := w.sharedViews(t, "mia", sunset)
		tb.open("/s/" + sunset.ID)
		tb.waitText("main", "Sunset over the harbour")
		tb.waitText("main", "Shared with you")
		tb.waitJS("autoplay", `!!document.querySelector(".frame.playing")`)
		tb.settle()
		tb.shot("viewer-share-link")
		tb.click(`.frame .play`) // stop: the page records the shared view itself
		waitFor(t, "one shared view", func() (bool, error) {
			return w.sharedViews(t, "mia", sunset) == before+1, nil
		})
		// Exactly one: the page did not also open the API's /s/{id}.
		tb.do(chromedp.Sleep(300 * time.Millisecond))
		if got := w.sharedViews(t, "mia", sunset); got != before+1 {
			t.Errorf("shared views went from %d to %d; want one more", before, got)
		}
	})

	t.Run("studio shows shares as numbers, never who", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-studio", 1280, 900)
		tb.loginStudio("mia")
		tb.waitText(".kpis", "Viewer-days") // an account's overview: distinct viewers are a video's
		tb.waitText(".policy", "Exact counts")
		tb.waitText("main", "Rising videos")
		tb.waitText(".rising", "Sunset over the harbour")
		tb.settle()
		tb.noHorizontalScroll()
		tb.shot("studio-overview")
		pages := []string{tb.pageText()}

		tb.click(`.side a[href="/studio/videos"]`)
		tb.waitText("main table", "Sunset over the harbour")
		tb.click(`th:nth-child(3) .sort-btn`) // sort by views
		tb.waitJS("sorted by views", `document.querySelector("th:nth-child(3)").getAttribute("aria-sort") === "descending"`)
		tb.settle()
		tb.shot("studio-videos")
		pages = append(pages, tb.pageText())

		tb.click(`main table a[href="/studio/videos/` + sunset.ID + `"]`)
		tb.waitText("main h1", "Sunset over the harbour")
		tb.waitText(".kpis", "Shares")
		tb.waitText("main", "Traffic sources")
		tb.waitText("main", "Shared links and messages")
		tb.waitText("main", "Audience")
		tb.waitText("main", "Top countries")
		tb.settle()
		shares := eval[string](tb, `[...document.querySelectorAll(".kpi")].find(k => k.innerText.includes("SHARES") || k.innerText.includes("Shares")).querySelector(".value").innerText`)
		want := w.counts(t, sunset).Shares
		if shares != thousands(want) || want < 3 {
			t.Errorf("Studio shows %s shares; the public counter says %d", shares, want)
		}
		if n := eval[int](tb, `document.querySelectorAll(".chart-box-sm canvas, .chart-box canvas").length`); n < 7 {
			t.Errorf("%d charts on the video page, want a daily chart per metric and the hourly one", n)
		}
		tb.noHorizontalScroll()
		tb.shot("studio-video-business")
		pages = append(pages, tb.pageText())

		tb.click(`.side a[href="/studio/activity"]`)
		tb.waitText("main .list", "@leo commented on")
		tb.waitText("main .list", "started following you")
		tb.settle()
		tb.shotViewport("studio-activity", 0)
		pages = append(pages, tb.pageText())

		tb.waitText(`.side a[href="/studio/notifications"]`, "1")
		tb.click(`.side a[href="/studio/notifications"]`)
		tb.waitText("main .list", "Privacy policy updated")
		tb.settle()
		tb.shotViewport("studio-notifications", 0)
		pages = append(pages, tb.pageText())
		tb.click(`main .studio-head button`) // Mark all as read
		tb.waitJS("the unread badge to go", `!document.querySelector('.side a[href="/studio/notifications"] .count-badge')`)

		for i, text := range pages {
			if strings.Contains(strings.ToLower(text), "zoe") {
				t.Errorf("Studio page %d names the sharer:\n%s", i, text)
			}
		}
	})

	t.Run("studio in the reader's time zone", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-tokyo", 1280, 900)
		if _, err := chromedp.Call(tb.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
			t.Fatal(err)
		}
		tb.loginStudio("mia")
		// Exact mode: the recent days are Tokyo's, the older ones UTC
		// days, and the page says which.
		tb.waitText(".policy", "days of your time zone, Asia/Tokyo, from")
		tb.waitText(".trend-card", "Last 24 hours")
		if text := eval[string](tb, `document.querySelector(".trend-card").innerText`); strings.Contains(strings.ToLower(text), "today") {
			t.Errorf("the trend card says today: %q", text)
		}
		tb.open("/studio/videos/" + sunset.ID)
		tb.waitText("main h1", "Sunset over the harbour")
		if href := eval[string](tb, `document.querySelector("a[download]").getAttribute("href")`); !strings.Contains(href, "tz=Asia%2FTokyo") {
			t.Errorf("the export link %q does not ask for Tokyo's days", href)
		}
		tb.settle()
		tb.shot("studio-video-tokyo")
	})

	t.Run("csv export", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-export", 1280, 900)
		tb.loginStudio("mia")
		dir := t.TempDir()
		if _, err := chromedp.CallBrowser(tb.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior:         browser.SetDownloadBehaviorBehaviorAllowAndName,
			BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
			DownloadPath:     dir,
		}); err != nil {
			t.Fatal(err)
		}
		tb.open("/studio/videos/" + sunset.ID + "?range=7d")
		tb.waitText("main h1", "Sunset over the harbour")
		tb.click(`a[download]`)
		var csv []byte
		waitFor(t, "the downloaded CSV", func() (bool, error) {
			files, err := os.ReadDir(dir)
			if err != nil || len(files) != 1 || strings.HasSuffix(files[0].Name(), ".crdownload") {
				return false, err
			}
			csv, err = os.ReadFile(filepath.Join(dir, files[0].Name()))
			return err == nil && bytes.Count(csv, []byte("\n")) == 8, err
		})
		if !bytes.HasPrefix(csv, []byte("date,views,viewers,likes,comments,shares,saves,released\r\n")) {
			t.Errorf("export starts %q", csv[:min(len(csv), 80)])
		}
		if bytes.Contains(bytes.ToLower(csv), []byte("zoe")) {
			t.Error("the export names the sharer")
		}
	})

	t.Run("business and personal panels", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-switch", 1280, 900)
		tb.loginStudio("mia")
		tb.click(`.side a[href="/studio/account"]`)
		tb.click(`main .seg button[aria-pressed="false"]`) // Personal
		tb.waitText("main", "This is a personal account.")
		tb.waitText(".side-account", "Personal")
		tb.open("/studio/videos/" + sunset.ID)
		tb.waitText("main h1", "Sunset over the harbour")
		tb.waitText("main", "Switch to a business account")
		if eval[bool](tb, `!!document.querySelector("a[download]")`) {
			t.Error("a personal account is offered the CSV export")
		}
		if eval[int](tb, `document.querySelectorAll(".panel-locked .badge-biz").length`) < 4 {
			t.Error("business-only panels are not marked as such")
		}
		if strings.Contains(tb.pageText(), "Shared links and messages") {
			t.Error("a personal account sees traffic sources")
		}
		tb.settle()
		tb.shot("studio-video-personal")

		tb.open("/studio/account")
		tb.click(`main .seg button[aria-pressed="false"]`) // Business
		tb.waitText("main", "This is a business account.")
		if me, err := w.users["mia"].Me(ctx); err != nil || me.Type != "business" {
			t.Errorf("mia after switching back: %+v, %v", me, err)
		}

		leo := w.newTab(t, bctx, "leo-studio", 1280, 900)
		leo.loginStudio("leo")
		leo.waitText(".side-account", "Personal")
		leo.waitText("main", "Follower growth")
		if n := eval[int](leo, `document.querySelectorAll(".panel-locked").length`); n < 4 {
			t.Errorf("leo's overview has %d locked business panels, want rising videos, followers, sources, audience, watch time", n)
		}
		leo.settle()
		leo.shot("studio-overview-personal")
	})

	t.Run("app token created and revoked", func(t *testing.T) {
		tb := w.newTab(t, bctx, "mia-apps", 1280, 900)
		tb.loginStudio("mia")
		tb.click(`.side a[href="/studio/apps"]`)
		tb.waitText("main", "No app tokens")
		tb.typeInto(`input[name=name]`, "Weekly report")
		tb.click(`form[aria-label="Create an app token"] button[type=submit]`)
		tb.waitVisible(`.app-token`)
		token := eval[string](tb, `document.querySelector(".app-token").innerText`)
		tb.waitText("main .list", "Weekly report")
		tb.settle()
		tb.shot("studio-apps-token")

		app := w.anon.WithToken(token)
		if err := app.Do(ctx, "GET", "/v1/analytics/account?range=7d", nil, nil); err != nil {
			t.Fatalf("the new app token cannot read analytics: %v", err)
		}
		tb.click(`main .list button.btn-danger`)
		tb.click(`dialog .btn-danger`)
		tb.waitText("main", "No app tokens")
		if err := app.Do(ctx, "GET", "/v1/analytics/account?range=7d", nil, nil); client.StatusOf(err) != http.StatusUnauthorized {
			t.Errorf("a revoked token reads analytics: %v", err)
		}
	})

	t.Run("privacy page", func(t *testing.T) {
		tb := w.newTab(t, bctx, "privacy", 1280, 900)
		tb.open("/studio/privacy")
		tb.waitText("main", "What nobody ever sees")
		tb.waitText("main", "Who shared a video")
		tb.waitText("main", "Why some numbers are estimates, released later")
		tb.settle()
		tb.shot("studio-privacy")
	})

	t.Run("phone width", func(t *testing.T) {
		leo := w.newTab(t, bctx, "leo-phone", 390, 844)
		leo.loginViewer("leo")
		leo.settle()
		leo.noHorizontalScroll()
		leo.shotViewport("phone-feed", 0)
		leo.click(card(sunset) + ` .act.share`)
		leo.waitVisible(`dialog .share-apps`)
		leo.settle()
		leo.noHorizontalScroll()
		leo.shotViewport("phone-share-sheet", 0)
		leo.do(chromedp.KeyEvent(kb.Escape))
		for _, p := range []string{"/inbox", "/saved", "/u/mia", "/s/" + sunset.ID} {
			leo.open(p)
			leo.settle()
			leo.noHorizontalScroll()
		}
		leo.open("/inbox")
		leo.settle()
		leo.shotViewport("phone-inbox", 0)

		mia := w.newTab(t, bctx, "mia-phone", 390, 844)
		mia.loginStudio("mia")
		mia.waitText(".kpis", "Viewer-days")
		mia.settle()
		mia.noHorizontalScroll()
		mia.shotViewport("phone-studio-overview", 0)
		mia.shotViewport("phone-studio-overview-charts", 1500)
		for _, p := range []string{"/studio/videos", "/studio/videos/" + sunset.ID, "/studio/activity", "/studio/apps", "/studio/account", "/studio/privacy"} {
			mia.open(p)
			mia.settle()
			mia.noHorizontalScroll()
		}
		mia.open("/studio/videos/" + sunset.ID)
		mia.waitText("main", "Traffic sources")
		mia.settle()
		mia.shotViewport("phone-studio-video", 0)
		mia.shotViewport("phone-studio-video-charts", 900)
		mia.click(`.studio-top button[aria-controls="studio-nav"]`)
		mia.waitJS("the menu", `document.querySelector(".studio").classList.contains("menu-open")`)
		mia.do(chromedp.Sleep(300 * time.Millisecond))
		mia.shotViewport("phone-studio-menu", 0)
	})
}

// thousands formats n as the pages do: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestShareLinkNegotiation: /s/{id} is the share page for a browser and the
// API's JSON (which records the shared view) for an API client.
func TestShareLinkNegotiation(t *testing.T) {
	w := startWorldNoBrowser(t, config.Exact)
	v := w.videos["sunset"]
	get := func(accept string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", w.url+"/s/"+v.ID, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct{ accept, want string }{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"},
		{"application/json", "application/json"},
		{"*/*", "application/json"},
		{"", "application/json"},
	} {
		resp := get(c.accept)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, c.want) {
			t.Errorf("Accept %q: %d %s, want 200 %s", c.accept, resp.StatusCode, ct, c.want)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept") {
			t.Errorf("Accept %q: no Vary: Accept", c.accept)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("Accept %q: CSP %q", c.accept, csp)
		}
	}
	for _, p := range []string{"/", "/studio", "/studio/videos/x", "/inbox"} {
		resp, err := http.Get(w.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if err := w.anon.Do(t.Context(), "GET", "/v1/nope", nil, nil); client.StatusOf(err) != 404 {
		t.Errorf("unknown API route: %v", err)
	}
}

// TestStudioProtectedMode: under the default protected disclosure, Studio
// says the numbers are estimates, released after their period closes, and
// marks each estimated number.
func TestStudioProtectedMode(t *testing.T) {
	bctx := browserCtx(t)
	w := startWorldNoBrowser(t, config.Protected)
	tb := w.newTab(t, bctx, "mia-protected", 1280, 900)
	tb.loginStudio("mia")
	tb.waitText(".policy", "Estimates.")
	tb.waitText(".policy", "after each period closes")
	tb.waitText(".kpis", "Viewer-days")
	if n := eval[int](tb, `[...document.querySelectorAll(".kpi")].filter(k => k.querySelector(".est")).length`); n < 4 {
		t.Errorf("%d KPIs marked as estimates, want views, viewers, shares and saves", n)
	}
	for _, exact := range []string{"Likes", "Comments"} {
		if eval[bool](tb, `[...document.querySelectorAll(".kpi")].some(k => k.querySelector(".label").innerText.toLowerCase().startsWith("`+strings.ToLower(exact)+`") && k.querySelector(".est"))`) {
			t.Errorf("%s are public and exact, but marked as an estimate", exact)
		}
	}
	tb.settle()
	tb.shot("studio-overview-protected")
	tb.open("/studio/videos/" + w.videos["sunset"].ID)
	tb.waitText(".policy", "Estimates.")
	tb.waitText("main", "Not enough viewers yet")
	tb.settle()
	tb.shot("studio-video-protected")
}
