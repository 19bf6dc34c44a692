package browser

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/crowd-dev/crowd/internal/analytics"
	"github.com/crowd-dev/crowd/internal/config"
	"github.com/crowd-dev/crowd/internal/disclosure"
)

// impossibleJS lists what a person must never read on a Studio page: a
// negative number in the text (a minus sign or a hyphen right before a
// digit, outside a word), a chart point or axis below zero, fewer views
// than viewers in the totals or on any day of the daily charts.
const impossibleJS = `(() => {
  const problems = [];
  const text = document.querySelector("main").innerText;
  for (const m of text.matchAll(/(^|[^\w.\/])([-\u2212]\s?\d[\d,.]*)/gm)) {
    problems.push("text " + m[2] + " in «" + text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, " ") + "»");
  }
  const kpi = (label) => {
    const k = [...document.querySelectorAll(".kpi")].find((k) => k.querySelector(".label").innerText.trim().toLowerCase().startsWith(label));
    return k ? Number(k.querySelector(".value").innerText.replace(/[^\d]/g, "")) : null;
  };
  const views = kpi("views"), viewers = kpi("viewer-days") ?? kpi("viewers");
  if (views !== null && viewers !== null && views < viewers) problems.push("totals: " + views + " views < " + viewers + " viewers");
  const charts = Object.values(Chart.instances);
  for (const c of charts) {
    const ds = c.data.datasets[0];
    ds.data.forEach((v, i) => { if (v !== null && v < 0) problems.push("chart " + ds.label + ": " + v + " at " + c.data.labels[i]); });
    if (c.scales.y.min < 0) problems.push("chart " + ds.label + ": axis from " + c.scales.y.min);
  }
  const line = (label) => charts.find((c) => c.config.type === "line" && c.data.datasets[0].label === label);
  const v = line("Views"), w = line("Viewers") || line("Viewer-days");
  if (v && w) v.data.datasets[0].data.forEach((x, i) => {
    const y = w.data.datasets[0].data[i];
    if (x !== null && y !== null && x < y) problems.push(v.data.labels[i] + ": " + x + " views < " + y + " viewers");
  });
  return problems;
})()`

// checkReadable fails the test for every impossible number on the page.
func (tb *tab) checkReadable(what string) {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, impossibleJS) {
		tb.t.Errorf("%s: %s", what, p)
	}
}

// kpiValue reads a totals card's number.
func (tb *tab) kpiValue(label string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(() => { const k = [...document.querySelectorAll(".kpi")].find((k) => k.querySelector(".label").innerText.trim().toLowerCase().startsWith(%q)); return k ? k.querySelector(".value").innerText : "missing"; })()`, label))
}

// rawReport reads a video's report through the API as mia: the released
// values, as they are.
func (w *world) rawReport(t *testing.T, video, query string) *analytics.Report {
	t.Helper()
	var rep analytics.Report
	check(t, w.users["mia"].Do(t.Context(), "GET", "/v1/analytics/videos/"+video+"?"+query, nil, &rep))
	return &rep
}

// impossible reports whether a report's released values hold a number a
// person must not read: a negative estimate, or fewer views than viewers.
func impossible(rep *analytics.Report) bool {
	for _, d := range rep.Daily {
		if d.Views < 0 || *d.Viewers < 0 || d.Shares < 0 || d.Saves < 0 || d.Views < *d.Viewers {
			return true
		}
	}
	return rep.Totals.Views < 0 || rep.Totals.Views < *rep.Totals.ViewerDays
}

var durationRE = regexp.MustCompile(`^(–|\d+\.\d s|\d{1,2} min \d\d s|[\d,]+ h( \d{1,2} min)?)$`)

// TestStudioProtectedVideos loads Studio in protected mode for a small, a
// medium and a large video, on a desktop and a phone, and checks that
// nothing a person reads is impossible: no negative number and never fewer
// views than viewers, in the text, the cards or the charts. The numbers
// shown are analytics.Adjust of the released values (the Go algorithm the
// CSV export uses), so Studio and the export agree; for the small video the
// released values themselves are impossible, so the check proves the
// post-processing. Screenshots of every page are saved (their paths are
// logged).
func TestStudioProtectedVideos(t *testing.T) {
	bctx := browserCtx(t)
	w := startProtectedWorld(t)
	desk := w.newTab(t, bctx, "mia-desktop", 1440, 900)
	desk.loginStudio("mia")
	phone := w.newTab(t, bctx, "mia-phone", 390, 844)
	phone.loginStudio("mia")

	for _, sz := range protectedSizes {
		t.Run(sz.name, func(t *testing.T) {
			raw := w.rawReport(t, sz.name, "range=28d")
			if raw.Policy.Mode != config.Protected {
				t.Fatalf("policy %+v", raw.Policy)
			}
			if sz.name == "small" && !impossible(raw) {
				t.Fatalf("the small video's released values are all possible; the test would prove nothing: %+v", raw.Daily)
			}
			a := analytics.Adjust(raw)
			for _, tb := range []*tab{desk, phone} {
				tb.t = t
				tb.open("/studio/videos/" + sz.name + "?range=28d")
				tb.waitText("main h1", "The "+sz.name+" video")
				tb.waitText(".policy", "Estimates.")
				tb.waitText(".policy", "never below zero")
				tb.waitVisible(".chart-grid canvas")
				tb.settle()
				tb.checkReadable(sz.name + " at " + tb.name)
				tb.noHorizontalScroll()
				tb.shot(fmt.Sprintf("studio-protected-%s-%s", sz.name, strings.TrimPrefix(tb.name, "mia-")))
			}
			// Studio shows what analytics.Adjust makes of the released values.
			for label, want := range map[string]int64{"views": a.Totals.Views, "viewer-days": *a.Totals.ViewerDays, "shares": a.Totals.Shares, "saves": a.Totals.Saves} {
				if got := desk.kpiValue(label); got != thousands(want) {
					t.Errorf("%s card reads %s; analytics.Adjust gives %d (released total %+v)", label, got, want, raw.Totals)
				}
			}
			var want []any
			for _, d := range a.Daily {
				if d.Released {
					want = append(want, float64(d.Views))
				} else {
					want = append(want, nil)
				}
			}
			got := eval[[]any](desk, `Object.values(Chart.instances).find((c) => c.config.type === "line" && c.data.datasets[0].label === "Views").data.datasets[0].data`)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("daily views chart %v, analytics.Adjust gives %v", got, want)
			}
			if watch := eval[string](desk, `[...document.querySelectorAll("section.card")].find((c) => c.querySelector("h2") && c.querySelector("h2").innerText === "Watch time").querySelector(".value").innerText`); !durationRE.MatchString(watch) {
				t.Errorf("watch time reads %q", watch)
			}
		})
	}
	desk.t, phone.t = t, t

	t.Run("layout", func(t *testing.T) {
		desk.t, phone.t = t, t
		rect := func(tb *tab, sel string, i int) [4]float64 {
			return eval[[4]float64](tb, fmt.Sprintf(`(() => { const r = document.querySelectorAll(%q)[%d].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })()`, sel, i))
		}
		for _, tb := range []*tab{desk, phone} {
			tb.open("/studio/videos/large?range=28d")
			tb.waitVisible(".chart-grid canvas")
			tb.settle()
		}
		// 1440 px: charts two abreast in the main column, the side
		// panels beside it.
		c0, c1 := rect(desk, ".chart-grid .metric-card", 0), rect(desk, ".chart-grid .metric-card", 1)
		if c0[1] != c1[1] || c1[0] < c0[2] {
			t.Errorf("at 1440 px the first two charts are not side by side: %v %v", c0, c1)
		}
		main, side := rect(desk, ".video-charts", 0), rect(desk, ".video-side", 0)
		if side[0] < main[2] || side[1] != main[1] {
			t.Errorf("at 1440 px the side panels are not beside the charts: charts %v, side %v", main, side)
		}
		if page := rect(desk, "main", 0); main[2]-main[0] < 0.5*(page[2]-page[0]) {
			t.Errorf("at 1440 px the charts take %v of %v", main, page)
		}
		// 390 px: everything stacked, nothing wider than the screen.
		p0, p1 := rect(phone, ".chart-grid .metric-card", 0), rect(phone, ".chart-grid .metric-card", 1)
		if p1[1] < p0[3] || p1[0] != p0[0] {
			t.Errorf("at 390 px the charts are not stacked: %v %v", p0, p1)
		}
		if pm, ps := rect(phone, ".video-charts", 0), rect(phone, ".video-side", 0); ps[1] < pm[3] {
			t.Errorf("at 390 px the side panels are not below the charts: %v %v", pm, ps)
		}
		phone.noHorizontalScroll()
		desk.shotViewport("studio-protected-large-desktop-viewport", 0)
		phone.shotViewport("studio-protected-large-phone-viewport", 0)
	})

	t.Run("overview", func(t *testing.T) {
		desk.t, phone.t = t, t
		for _, tb := range []*tab{desk, phone} {
			tb.open("/studio?range=28d")
			tb.waitText(".policy", "Estimates.")
			tb.waitText(".trend-card", "the newest released day")
			tb.waitVisible(".chart-box canvas")
			tb.settle()
			tb.checkReadable("overview at " + tb.name)
			tb.noHorizontalScroll()
			tb.shot("studio-protected-overview-" + strings.TrimPrefix(tb.name, "mia-"))
		}
		if strings.Contains(strings.ToLower(eval[string](desk, `document.querySelector(".trend-card").innerText`)), "today") {
			t.Error("the trend card calls the newest released day today")
		}
	})
}

// TestStudioScripts holds Studio's scripts to their Go counterparts and to
// their contracts: adjust.js gives exactly analytics.Adjust's answers on
// random protected reports (small, medium and large numbers, negative
// ones, unreleased days), and durations read as people write them.
func TestStudioScripts(t *testing.T) {
	bctx := browserCtx(t)
	w := startApp(t, config.Exact)
	tb := w.newTab(t, bctx, "scripts", 1280, 900)
	tb.open("/studio/privacy")
	tb.waitText("main", "What nobody ever sees")
	// The modules under their plain names (neither imports another).
	adjustJS, domJS := w.url+"/assets/js/adjust.js", w.url+"/assets/js/dom.js"

	t.Run("adjust", func(t *testing.T) {
		tb.t = t
		rng := rand.New(rand.NewPCG(6, 14))
		for trial := range 300 {
			rep := randomReport(rng, trial)
			in, err := json.Marshal(rep)
			check(t, err)
			got := eval[string](tb, fmt.Sprintf(`import(%q).then(({ adjust }) => { const a = adjust(%s); return JSON.stringify({ ...a, avg_watch_ms: a.avg_watch_ms ?? null }); })`, adjustJS, in))
			a := analytics.Adjust(rep)
			want, err := json.Marshal(map[string]any{"daily": a.Daily, "hourly": a.Hourly, "totals": a.Totals, "avg_watch_ms": a.AvgWatchMS})
			check(t, err)
			var g, wnt any
			check(t, json.Unmarshal([]byte(got), &g))
			check(t, json.Unmarshal(want, &wnt))
			if !reflect.DeepEqual(g, wnt) {
				t.Fatalf("trial %d: adjust.js and analytics.Adjust differ on\n%s\njs: %s\ngo: %s", trial, in, got, want)
			}
		}
	})

	t.Run("durations", func(t *testing.T) {
		tb.t = t
		for ms, want := range map[float64]string{
			0: "0.0 s", 12_400: "12.4 s", 59_949: "59.9 s", 59_950: "1 min 00 s", 65_000: "1 min 05 s",
			3_599_000: "59 min 59 s", 3_599_600: "1 h", 3_720_000: "1 h 2 min",
			842_463_000:   "234 h 1 min", // "14041 min 03 s" before
			4_334_400_000: "1,204 h", -5: "0.0 s",
		} {
			got := eval[string](tb, fmt.Sprintf(`import(%q).then(({ duration }) => duration(%v))`, domJS, ms))
			if got != want || !durationRE.MatchString(got) {
				t.Errorf("duration(%v) = %q, want %q", ms, got, want)
			}
		}
	})
}

// randomReport is a protected report of a random video: a video report or
// an account report, personal or business, with released values from tiny
// (noise dominates: negative days, fewer views than viewers) to large.
func randomReport(rng *rand.Rand, trial int) *analytics.Report {
	scale := []int64{0, 3, 40, 5000}[trial%4]
	noise := func(b int64) int64 { return int64(rng.NormFloat64() * float64(b)) }
	n := 1 + rng.IntN(40)
	rep := &analytics.Report{
		Detail: "business",
		Policy: disclosure.Notice{Mode: config.Protected, Estimates: true, Bounds: &disclosure.NoticeBounds{ViewsPerViewerDay: 5, WatchMSPerViewerDay: 600_000}},
	}
	business, account := rng.IntN(3) > 0, rng.IntN(2) == 0
	if !business {
		rep.Detail = "personal"
	}
	var total analytics.Totals
	var viewers, watch int64
	for i := range n {
		d := analytics.DayPoint{Date: fmt.Sprintf("2026-01-%02d", i%28+1), Released: i < n-1 || rng.IntN(2) == 0, Likes: int64(rng.IntN(5)) - 1}
		if d.Released {
			v := scale + noise(7)
			d.Views, d.Shares, d.Saves = scale*2+noise(47), scale/10+noise(3), scale/20+noise(3)
			if business && account {
				d.ViewerDays = &v
			} else if business {
				d.Viewers = &v
			}
			viewers += v
			watch += scale*2*8000 + noise(17_000_000)
		} else if business && account {
			d.ViewerDays = new(int64)
		} else if business {
			d.Viewers = new(int64)
		}
		total.Views, total.Likes, total.Shares, total.Saves = total.Views+d.Views, total.Likes+d.Likes, total.Shares+d.Shares, total.Saves+d.Saves
		rep.Daily = append(rep.Daily, d)
	}
	for range 48 {
		rep.Hourly = append(rep.Hourly, analytics.HourPoint{Hour: "2026-01-01T00:00:00Z", Views: scale/12 + noise(70)})
	}
	if business {
		total.ViewerDays, total.WatchMS = &viewers, &watch
		if total.Views > 0 {
			avg := watch / total.Views
			rep.AvgWatchMS = &avg
		}
	}
	rep.Totals = total
	return rep
}
