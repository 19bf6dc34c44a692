// Crowd Studio: how a creator's account and videos perform. A single-page
// app over the JSON API. Every analytics view states the disclosure policy
// that produced its numbers and marks estimates; no view ever names who
// shared, saved or viewed — the API never says, and Studio never guesses.

import { get, post, put, patch, del, enc, currentAccount, login, logout } from "./api.js";
import { h, clear, icon, avatar, thumb, num, compact, ago, fullTime, duration, toast, loading, empty, errorBox, dialog, setWidth } from "./dom.js";
import { dailyChart, hourlyChart, destroyCharts } from "./charts.js";
import { adjust, nonneg, changePercent } from "./adjust.js";

const state = {
  me: null,
  unread: 0,
  videos: null, // my videos, loaded once per visit: id → video
};

const METRICS = [
  ["views", "Views"],
  ["viewers", "Viewers", true],
  ["likes", "Likes"],
  ["comments", "Comments"],
  ["shares", "Shares"],
  ["saves", "Saves"],
];

// Viewers are distinct accounts. A video's day has its viewers; an
// account's day the viewer-days of its videos (an account watching two of
// them counts twice), under their own name.
const VIEWER_DAYS_NOTE = "Viewer-days: each account counts once per video and day it watched, so one account watching on 3 days counts 3.";

function metricsOf(rep) {
  const account = rep.daily.length > 0 && rep.daily[0].viewer_days !== undefined;
  return METRICS.filter(([, , biz]) => !biz || rep.detail === "business")
    .map((m) => (m[0] === "viewers" && account ? ["viewer_days", "Viewer-days", true] : m));
}

// viewersKpi is distinct viewers where the report has them (a video in
// exact mode), else the range's viewer-days (as a person reads them: a),
// named for what they are.
function viewersKpi(rep, a, p) {
  if (rep.viewers !== undefined && rep.viewers !== null) {
    return kpi("Viewers", num(rep.viewers), "viewers", p, "Distinct accounts over the range", bizBadge());
  }
  const card = kpi("Viewer-days", num(a.totals.viewer_days), "viewers", p,
    p.mode === "protected"
      ? "Each day's viewers added up: an account that watched on 3 days counts 3. Distinct viewers over a range are not published in protected mode."
      : "Each day's viewers added up over your videos: an account counts once per video and day.",
    bizBadge());
  card.title = VIEWER_DAYS_NOTE;
  return card;
}

// Which numbers are privacy-protected estimates when the policy says there
// are estimates. Likes, comments and follows are public actions, counted
// exactly.
const ESTIMATED = new Set(["views", "viewers", "shares", "saves", "watch", "completion", "sources", "audience", "trend"]);

const SOURCE_NAMES = {
  for_you: "For You feed",
  following: "Following feed",
  profile: "Profile",
  search: "Search",
  hashtag: "Hashtags",
  sound: "Sounds",
  shared: "Shared links and messages",
  other: "Other",
};
const GENDER_NAMES = { female: "Female", male: "Male", other: "Other", unknown: "Not stated" };

const isBusiness = () => state.me && state.me.type === "business";

// ───────────── Range ─────────────

const PRESETS = [["7d", "7 days"], ["28d", "28 days"], ["60d", "60 days"], ["365d", "365 days"]];

function readRange() {
  const q = new URLSearchParams(location.search);
  if (q.get("from") && q.get("to")) return { from: q.get("from"), to: q.get("to") };
  return { preset: q.get("range") || "28d" };
}

function rangeQuery(r) {
  return r.from ? `from=${enc(r.from)}&to=${enc(r.to)}` : `range=${enc(r.preset)}`;
}

// ZONE is the reader's time zone. Reports are asked for in it: in exact
// mode a creator's days are the creator's days (protected numbers are
// released per UTC day, and the report says so).
const ZONE = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return "";
  }
})();

function reportQuery(r) {
  return rangeQuery(r) + (ZONE ? `&tz=${enc(ZONE)}` : "");
}

// today is the reader's date, the latest a custom range may end on (in
// protected mode the UTC date: limitRangeTo sets it once a report says).
function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

// limitRangeTo sets the latest date the custom range of the page offers to
// the report's own today: ranges of protected reports end on the UTC date.
function limitRangeTo(page, rep) {
  const max = rep.policy.mode === "protected" ? new Date().toISOString().slice(0, 10) : today();
  for (const i of page.querySelectorAll(".custom-range input[type=date]")) i.max = max;
}

const dayFmt = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });
const dayYearFmt = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });
const clockFmt = new Intl.DateTimeFormat("en", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

// fmtDate renders a date (YYYY-MM-DD) as "Mar 5".
function fmtDate(d) {
  return dayFmt.format(new Date(d + "T00:00:00Z"));
}

// fmtDates renders the dates from..to as "Mar 1 – Mar 28, 2026".
function fmtDates(from, to) {
  if (from === to) return dayYearFmt.format(new Date(from + "T00:00:00Z"));
  const sameYear = from.slice(0, 4) === to.slice(0, 4);
  return `${(sameYear ? dayFmt : dayYearFmt).format(new Date(from + "T00:00:00Z"))} – ${dayYearFmt.format(new Date(to + "T00:00:00Z"))}`;
}

// daysNote says whose days the daily numbers are (day_boundaries).
function daysNote(rep) {
  const b = rep.day_boundaries;
  if (!b || !b.spans || !b.spans.length) return "UTC days";
  const last = b.spans[b.spans.length - 1];
  if (last.time_zone === "UTC") {
    return b.time_zone !== "UTC" && rep.policy.mode === "protected"
      ? "UTC days: protected numbers are released per UTC day"
      : "UTC days";
  }
  if (b.spans.length === 1) return `days of your time zone, ${last.time_zone}`;
  return `days of your time zone, ${last.time_zone}, from ${fmtDate(last.from)} (its day starts at midnight UTC); UTC days before, as hourly numbers are kept for 3 days`;
}

// rangePicker is the 7/28/60/365-day and custom range control. 365 days is
// for business accounts.
function rangePicker(r, onchange) {
  const custom = h("form", { class: "custom-range", hidden: !r.from, "aria-label": "Custom range" });
  const from = h("input", { type: "date", name: "from", "aria-label": "From", value: r.from || "", max: today(), required: true });
  const to = h("input", { type: "date", name: "to", "aria-label": "To", value: r.to || today(), max: today(), required: true });
  append(custom, from, h("span", { class: "muted" }, "to"), to, h("button", { class: "btn btn-sm btn-violet", type: "submit" }, "Apply"));
  custom.addEventListener("submit", (e) => {
    e.preventDefault();
    if (from.value && to.value) onchange({ from: from.value, to: to.value });
  });
  const seg = h("div", { class: "seg", role: "group", "aria-label": "Date range" },
    PRESETS.map(([k, label]) => {
      const locked = k === "365d" && !isBusiness();
      return h("button", { type: "button", "aria-pressed": String(!r.from && r.preset === k), disabled: locked, title: locked ? "365 days is for business accounts" : null, onclick: () => onchange({ preset: k }) }, label);
    }),
    h("button", { type: "button", "aria-pressed": String(!!r.from), onclick: () => { custom.hidden = false; from.focus(); } }, "Custom"));
  return h("div", { class: "controls" }, seg, custom);
}

function append(el, ...c) {
  el.append(...c);
  return el;
}

// ───────────── Building blocks ─────────────

function est(key, policy) {
  return policy && policy.estimates && ESTIMATED.has(key);
}

function estMark(key, policy) {
  return est(key, policy) ? h("span", { class: "est", title: "Privacy-protected estimate" }, "≈", h("span", { class: "visually-hidden" }, " estimate")) : null;
}

// policyNotice says in plain words how the numbers were made, which days
// they cover, and, for estimates, how Studio shows them.
function policyNotice(rep) {
  const p = rep.policy;
  const range = rep.range;
  return h("div", { class: `notice policy ${p.estimates ? "notice-warn" : ""}`, role: "note" }, icon(p.estimates ? "shield" : "info"),
    h("div", { class: "grow" },
      h("p", null, h("b", null, p.estimates ? "Estimates. " : "Exact counts. "), p.summary),
      p.estimates ? h("p", { class: "small adjust-note" }, "Estimates are shown rounded to what is possible: never below zero, never fewer views than viewers, and each range's days add up to its total. On small videos the noise is large next to the true numbers. Likes and comments are exact.") : null,
      h("p", { class: "small" },
        p.estimates ? h("span", { class: "badge badge-est" }, "≈ marks an estimate") : h("span", { class: "badge badge-exact" }, "Exact"),
        ` When numbers appear: ${p.released}.`,
        range ? ` Showing ${fmtDates(range.from, range.to)} (${range.days} days; ${daysNote(rep)}).` : "",
        " ", h("a", { href: "/studio/privacy" }, "What creators see and never see"))));
}

function kpi(label, value, key, policy, foot, badge) {
  return h("div", { class: "card kpi" },
    h("div", { class: "label" }, label, estMark(key, policy), badge || null),
    h("div", { class: "value" }, value),
    foot ? h("div", { class: "foot" }, foot) : null);
}

function bizBadge() {
  return h("span", { class: "badge badge-biz", title: "Business accounts only" }, icon("lock"), "Business");
}

// locked is a business-only panel as a personal account sees it.
function locked(title, what) {
  return h("section", { class: "card panel-locked" },
    h("div", { class: "card-head" }, h("h2", null, title), bizBadge()),
    h("div", { class: "locked" },
      h("p", null, what),
      h("a", { class: "btn btn-sm", href: "/studio/account" }, "Switch to a business account")));
}

function bars(items, nameOf, policy, key) {
  if (!items || !items.length) return h("p", { class: "muted" }, "Nothing to show in this range yet.");
  return h("div", { class: "bars" }, items.map((s) => h("div", { class: "bar-row" },
    h("span", { class: "k", title: nameOf(s.key) }, nameOf(s.key)),
    h("span", { class: "bar", role: "img", "aria-label": `${nameOf(s.key)}: ${s.percent}%${est(key, policy) ? " (estimate)" : ""}` }, setWidth(h("i"), s.percent)),
    h("span", { class: "v" }, s.percent === 0 && s.count > 0 ? "<1%" : `${s.percent}%`))));
}

function countryName(code) {
  if (code === "other") return "Other countries";
  if (code === "unknown") return "Not stated";
  try {
    return new Intl.DisplayNames(["en"], { type: "region" }).of(code) || code;
  } catch (e) {
    return code;
  }
}

function ageName(k) {
  if (k === "other") return "Other";
  if (k === "unknown") return "Not stated";
  return k.replace("-", "–");
}

// trendWhen names the span a trend's figure covers: the last 24 hours
// (exact mode, to the end of the current hour, the reader's clock) or the
// newest released UTC day (protected mode).
function trendWhen(t, policy) {
  if (policy.mode === "exact") return `in the last 24 hours, to ${clockFmt.format(new Date(t.window.end))}`;
  return `on ${fmtDate(t.window.start.slice(0, 10))} (UTC), the newest released day`;
}

// trendCard compares like with like: a whole window of 24 hours (the last
// 24 hours, or the newest released day) with the average day before it.
// Estimates are shown clamped at zero, and the change computed from what
// is shown.
function trendCard(t, policy) {
  const value = nonneg(t.today, policy);
  const avg = nonneg(t.recent_average, policy);
  const pct = changePercent(value, avg);
  let change = h("span", { class: "muted" }, "No average day to compare with yet");
  if (pct === 0) {
    change = h("span", { class: "muted" }, "Level with your average day");
  } else if (pct !== null) {
    const up = pct > 0;
    change = h("span", { class: up ? "trend-up" : "trend-down" }, `${up ? "▲" : "▼"} ${Math.abs(pct)}% ${up ? "above" : "below"} your average day`);
  }
  return h("section", { class: "card trend-card" },
    h("div", { class: "card-head" }, h("h2", null, policy.mode === "exact" ? "Last 24 hours" : "Newest day"), estMark("trend", policy)),
    h("div", { class: "row" }, h("div", { class: "kpi-inline" }, h("div", { class: "value big" }, num(value)), h("div", { class: "muted small" }, `views ${trendWhen(t, policy)}`))),
    h("p", null, change),
    h("p", { class: "muted small" }, `Your average day, ${fmtDates(t.baseline.from, t.baseline.to)} (UTC days): ${num(avg)} views. Crowd sends no milestone notifications; this comparison is how you see momentum.`));
}

function followersCard(f, policy, range) {
  return h("section", { class: "card" },
    h("div", { class: "card-head" }, h("h2", null, "Follower growth"), bizBadge()),
    h("div", { class: "value big" }, `${f.net >= 0 ? "+" : "−"}${num(Math.abs(f.net))} `, estMark("followers", policy)),
    h("p", { class: "muted" }, `${num(f.gained)} gained, ${num(f.lost)} lost, ${fmtDates(range.from, range.to)}.`));
}

function sourcesCard(rep, cls = "") {
  return h("section", { class: `card ${cls}` },
    h("div", { class: "card-head" }, h("h2", null, "Traffic sources"), h("span", { class: "row" }, estMark("sources", rep.policy), bizBadge())),
    h("p", { class: "muted small" }, `Where views came from, ${fmtDates(rep.range.from, rep.range.to)}. “Shared” counts views from share links and direct messages together, on purpose: nobody learns which.`),
    bars(rep.traffic_sources, (k) => SOURCE_NAMES[k] || k, rep.policy, "sources"));
}

function audienceCard(rep) {
  const a = rep.audience || { available: false, reason: "No audience data in this range." };
  const head = h("div", { class: "card-head" }, h("h2", null, "Audience"), h("span", { class: "row" }, estMark("audience", rep.policy), bizBadge()));
  if (!a.available) {
    return h("section", { class: "card span-2" }, head, empty("users", "Not enough viewers yet", a.reason));
  }
  return h("section", { class: "card span-2" }, head,
    h("p", { class: "muted small" }, `Share of viewers by age, gender and country, ${fmtDates(rep.range.from, rep.range.to)}. Small groups are folded into “other”. Shares and saves are never broken down this way.`),
    h("div", { class: "grid-3 audience" },
      h("div", null, h("h3", null, "Age"), bars(a.age, ageName, rep.policy, "audience")),
      h("div", null, h("h3", null, "Gender"), bars(a.gender, (k) => GENDER_NAMES[k] || k, rep.policy, "audience")),
      h("div", null, h("h3", null, "Top countries"), bars(a.countries, countryName, rep.policy, "audience"))));
}

// watchCards shows the average watch time and completion rate over the
// range, from what a person reads of the report (a = adjust(rep)).
function watchCards(rep, a) {
  const p = rep.policy;
  const rate = rep.completion_rate === undefined || rep.completion_rate === null ? null : Math.round(Math.min(1, Math.max(0, rep.completion_rate)) * 100);
  const avg = a.avg_watch_ms;
  const when = fmtDates(rep.range.from, rep.range.to);
  return [
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", null, "Watch time"), h("span", { class: "row" }, estMark("watch", p), bizBadge())),
      h("div", { class: "value big" }, avg === undefined || avg === null ? "–" : duration(avg)),
      h("p", { class: "muted" }, avg === undefined || avg === null
        ? "No views in this range yet."
        : [`Average watch time per view, ${when}`, a.totals.watch_ms !== undefined && a.totals.watch_ms !== null ? `; ${duration(a.totals.watch_ms)} watched in total.` : "."])),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", null, "Completion rate"), h("span", { class: "row" }, estMark("completion", p), bizBadge())),
      h("div", { class: "value big" }, rate === null ? "–" : `${rate}%`),
      rate === null
        ? h("p", { class: "muted" }, a.totals.views > 0 ? "Too few released views to estimate a rate." : "No views in this range yet.")
        : h("div", { class: "bar big-bar", role: "img", "aria-label": `${rate}% of views watched to the end` }, setWidth(h("i"), rate)),
      h("p", { class: "muted small" }, `Share of views watched to the end, ${when}.`)),
  ];
}

// totalsRow shows the range's totals as a person reads them (a), under a
// heading naming the range.
function totalsRow(rep, a, withFollowers) {
  const t = a.totals;
  const p = rep.policy;
  const cards = [
    kpi("Views", num(t.views), "views", p),
    kpi("Likes", num(t.likes), "likes", p),
    kpi("Comments", num(t.comments), "comments", p),
    kpi("Shares", num(t.shares), "shares", p, "How many, never who"),
    kpi("Saves", num(t.saves), "saves", p, "How many, never who"),
  ];
  if (rep.detail === "business") {
    cards.splice(1, 0, viewersKpi(rep, a, p));
    if (withFollowers && rep.followers) cards.push(kpi("Followers", `${rep.followers.net >= 0 ? "+" : "−"}${num(Math.abs(rep.followers.net))}`, "followers", p, `${num(rep.followers.gained)} gained, ${num(rep.followers.lost)} lost`, bizBadge()));
  }
  return [h("h2", { class: "range-head" }, `Totals, ${fmtDates(rep.range.from, rep.range.to)}`), h("div", { class: "kpis" }, cards)];
}

async function myVideos(force) {
  if (state.videos && !force) return state.videos;
  const all = [];
  let before = "";
  for (let i = 0; i < 20; i++) {
    const res = await get(`/v1/accounts/${enc(state.me.handle)}/videos?limit=100` + (before ? `&before=${enc(before)}` : ""));
    all.push(...res.videos);
    if (!res.next) break;
    before = res.next;
  }
  state.videos = new Map(all.map((v) => [v.id, v]));
  return state.videos;
}

function head(title, sub, right, crumb) {
  return h("div", { class: "studio-head" },
    h("div", { class: "grow" }, crumb || null, h("h1", null, title), sub ? h("p", { class: "sub" }, sub) : null),
    right || null);
}

function accountLine() {
  return [`@${state.me.handle} · `, isBusiness() ? "Business account" : "Personal account"];
}

// ───────────── Pages ─────────────

async function overviewPage(main) {
  setTitle("Overview");
  const r = readRange();
  const body = h("div", null, loading("Loading your analytics…"));
  clear(main, head("Overview", accountLine(), rangePicker(r, (nr) => go(`/studio?${rangeQuery(nr)}`))), body);
  let rep, videos;
  try {
    [rep, videos] = await Promise.all([get(`/v1/analytics/account?${reportQuery(r)}`), myVideos().catch(() => new Map())]);
  } catch (e) {
    clear(body, errorBox(e, () => overviewPage(main)));
    return;
  }
  limitRangeTo(main, rep);
  const p = rep.policy;
  const a = adjust(rep);
  const metricBox = h("div", { class: "chart-box" });
  let metric = "views";
  const tabs = h("div", { class: "seg", role: "tablist", "aria-label": "Metric" });
  const drawMetric = () => {
    const metrics = metricsOf(rep);
    clear(tabs, metrics.map(([k, label]) =>
      h("button", { type: "button", role: "tab", "aria-selected": String(k === metric), title: k === "viewer_days" ? VIEWER_DAYS_NOTE : null, onclick: () => { metric = k; drawMetric(); } }, label)));
    const label = metrics.find(([k]) => k === metric)[1];
    dailyChart(metricBox, a.daily, metric, label, { estimate: est(metric === "viewer_days" ? "viewers" : metric, p) });
  };
  const hourlyBox = h("div", { class: "chart-box" });

  const rising = rep.detail === "business"
    ? h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", null, "Rising videos"), h("span", { class: "row" }, estMark("trend", p), bizBadge())),
      rep.rising_videos && rep.rising_videos.length
        ? h("div", { class: "rising" }, rep.rising_videos.map((rv) => {
          const v = videos.get(rv.video_id);
          const value = nonneg(rv.today, p);
          const avg = nonneg(rv.recent_average, p);
          const pct = changePercent(value, avg);
          return h("a", { href: `/studio/videos/${enc(rv.video_id)}` }, thumb(rv.video_id),
            h("div", { class: "grow" }, h("b", null, v ? v.title : "A video you co-created"), h("div", { class: "muted small" }, `${num(value)} views ${trendWhen(rep.trend, p)}; ${num(avg)} on an average day before`)),
            h("span", { class: "trend-up nowrap" }, pct === null ? "new" : `▲ ${pct}%`));
        }))
        : empty("trend", "Nothing rising", `Videos whose views ${trendWhen(rep.trend, p)} beat their average day of ${fmtDates(rep.trend.baseline.from, rep.trend.baseline.to)} show up here.`))
    : locked("Rising videos", "See which videos are picking up today, compared with their own recent average.");

  const followers = rep.detail === "business" && rep.followers ? followersCard(rep.followers, p, rep.range) : locked("Follower growth", "See how many followers you gained and lost in each range.");

  clear(body,
    policyNotice(rep),
    totalsRow(rep, a, true),
    h("div", { class: "grid-3" }, trendCard(rep.trend, p), rising, followers),
    h("div", { class: "wide-2" },
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", null, "Daily", h("span", { class: "muted small h-sub" }, fmtDates(rep.range.from, rep.range.to))), tabs),
        metricBox),
      hourlyCard(hourlyBox, rep)),
    rep.detail === "business"
      ? h("div", { class: "grid-2" }, sourcesCard(rep), h("div", { class: "col-stack" }, watchCards(rep, a)), audienceCard(rep))
      : h("div", { class: "grid-3" },
        locked("Traffic sources", "Where your views come from: For You, following, profile, search, hashtags, sounds, shared links and messages."),
        locked("Audience", "Viewers by age, gender and country, once a range has at least 100 viewers."),
        locked("Watch time and completion", "Average watch time and how many views were watched to the end.")));
  drawMetric();
  hourlyChart(hourlyBox, a.hourly, { estimate: est("views", p) });
}

// hourlyCard frames the chart of the last 48 hours' views, in the reader's
// clock.
function hourlyCard(box, rep) {
  const last = rep.hourly.length ? new Date(new Date(rep.hourly[rep.hourly.length - 1].hour).getTime() + 3600e3) : null;
  return h("section", { class: "card hourly-card" },
    h("div", { class: "card-head" }, h("h2", null, "Views in the last 48 hours"), estMark("views", rep.policy),
      h("span", { class: "muted small" }, last ? `per hour, to ${clockFmt.format(last)} your time` : "per hour, your time")),
    box);
}

async function videosPage(main) {
  setTitle("Videos");
  const body = h("div", { class: "card" }, loading("Loading your videos…"));
  const filter = h("input", { type: "search", placeholder: "Filter by title", "aria-label": "Filter videos by title" });
  const invites = h("div");
  clear(main, head("Videos", "Lifetime public counters of each video, as everyone sees them. Open a video for its full analytics.", filter), invites, body);
  invitationsCard(invites, () => videosPage(main));
  let videos;
  try {
    videos = [...(await myVideos(true)).values()];
  } catch (e) {
    clear(body, errorBox(e, () => videosPage(main)));
    return;
  }
  if (!videos.length) {
    clear(body, empty("film", "No videos yet", "Videos you post, or co-create, show up here with their numbers."));
    return;
  }
  const cols = [
    ["title", "Video", false],
    ["created_at", "Posted", false],
    ["views", "Views", true],
    ["likes", "Likes", true],
    ["comments", "Comments", true],
    ["shares", "Shares", true],
    ["saves", "Saves", true],
  ];
  let sortKey = "created_at";
  let dir = -1;
  const val = (v, k) => (cols.find((c) => c[0] === k)[2] ? (v.counts ? v.counts[k] : 0) : v[k]);
  const table = h("table", { class: "videos-table" });
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = videos.filter((v) => !q || v.title.toLowerCase().includes(q)).sort((a, b) => {
      const x = val(a, sortKey), y = val(b, sortKey);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    clear(table,
      h("caption", { class: "visually-hidden" }, "Your videos; column headers sort the table"),
      h("thead", null, h("tr", null, cols.map(([k, label, n]) =>
        h("th", { class: n ? "num" : "", scope: "col", "aria-sort": k === sortKey ? (dir > 0 ? "ascending" : "descending") : null },
          h("button", { class: "sort-btn", type: "button", onclick: () => { if (sortKey === k) dir = -dir; else { sortKey = k; dir = n || k === "created_at" ? -1 : 1; } render(); } }, label))))),
      h("tbody", null, rows.length ? rows.map((v) => h("tr", null,
        h("td", null, h("a", { class: "row nowrap-row", href: `/studio/videos/${enc(v.id)}` }, thumb(v.id), h("span", { class: "truncate" }, v.title))),
        h("td", { class: "nowrap" }, new Date(v.created_at).toLocaleDateString("en", { day: "numeric", month: "short", year: "numeric" })),
        ["views", "likes", "comments", "shares", "saves"].map((k) => h("td", { class: "num" }, num(v.counts ? v.counts[k] : 0)))))
        : h("tr", null, h("td", { colspan: 7, class: "muted" }, "No video matches that filter."))));
  };
  filter.addEventListener("input", render);
  render();
  clear(body, h("div", { class: "table-wrap" }, table));
}

// invitationsCard shows the caller's pending co-creator invitations, to
// accept or decline. Until accepted, nothing of the video's analytics is
// visible to the invitee.
async function invitationsCard(box, reload) {
  let list;
  try {
    list = (await get("/v1/me/invitations")).invitations;
  } catch (e) {
    return; // the videos table says more if the API is down
  }
  if (!list.length) return clear(box);
  const answer = async (id, accept) => {
    try {
      if (accept) await put(`/v1/me/cocreations/${enc(id)}`);
      else await del(`/v1/me/cocreations/${enc(id)}`);
      toast(accept ? "You are now a co-creator" : "Invitation declined");
      state.videos = null;
      reload();
    } catch (e) {
      toast(e.message, "error");
    }
  };
  clear(box, h("section", { class: "card section" },
    h("h2", null, "Co-creator invitations"),
    h("p", { class: "muted small" }, "Accept to see a video's analytics as its co-creator and to be listed among its creators. Until you accept, you see nothing of them and nobody sees you listed."),
    h("div", { class: "list" }, list.map((inv) => h("div", { class: "list-item" },
      thumb(inv.video.id),
      h("div", { class: "body" }, h("div", null, h("b", null, `@${inv.video.owner}`), " invited you to co-create ", h("b", null, `“${inv.video.title}”`)),
        h("div", { class: "meta" }, ago(inv.invited_at))),
      h("div", { class: "row" },
        h("button", { class: "btn btn-sm btn-primary", type: "button", onclick: () => answer(inv.video.id, true) }, "Accept"),
        h("button", { class: "btn btn-sm", type: "button", onclick: () => answer(inv.video.id, false) }, "Decline")))))));
}

// coCreatorsCard shows a video's co-creators: the owner manages them, a
// co-creator may leave.
async function coCreatorsCard(v) {
  const box = h("section", { class: "card section" }, h("h2", null, "Co-creators"));
  const mine = v.owner === state.me.handle;
  if (!mine) {
    const leave = h("button", { class: "btn btn-sm", type: "button" }, "Leave this video");
    leave.addEventListener("click", async () => {
      try {
        await del(`/v1/me/cocreations/${enc(v.id)}`);
        state.videos = null;
        toast("You left the video");
        go("/studio/videos");
      } catch (e) {
        toast(e.message, "error");
      }
    });
    box.append(h("p", { class: "muted small" }, "You co-create this video with its owner. Leaving closes its analytics to you at once."), leave);
    return box;
  }
  const list = h("div", { class: "list" }, loading());
  box.append(h("p", { class: "muted small" }, "Co-creators see the same analytics as you once they accept your invitation; invited ones see nothing until then."), list);
  const load = async () => {
    try {
      const res = await get(`/v1/videos/${enc(v.id)}/cocreators`);
      clear(list, res.cocreators.length ? res.cocreators.map((c) => h("div", { class: "list-item" },
        avatar(c.handle),
        h("div", { class: "body" }, h("b", null, `@${c.handle}`), " ", h("span", { class: "badge" }, c.status === "accepted" ? "Co-creator" : "Invited")),
        h("button", { class: "btn btn-sm", type: "button", onclick: async () => {
          try {
            await del(`/v1/videos/${enc(v.id)}/cocreators/${enc(c.handle)}`);
            toast(c.status === "accepted" ? "Co-creator removed" : "Invitation withdrawn");
            load();
          } catch (e) {
            toast(e.message, "error");
          }
        } }, c.status === "accepted" ? "Remove" : "Withdraw")))
        : h("p", { class: "muted" }, "No co-creators."));
    } catch (e) {
      clear(list, errorBox(e, load));
    }
  };
  load();
  return box;
}

async function videoPage(main, id) {
  const r = readRange();
  const body = h("div", null, loading("Loading the video's analytics…"));
  const crumb = h("a", { class: "crumb", href: "/studio/videos" }, "← All videos");
  const exportBtn = isBusiness()
    ? h("a", { class: "btn btn-violet", href: `/v1/analytics/videos/${enc(id)}/export.csv?${reportQuery(r)}`, download: "" }, icon("download"), "Export CSV")
    : h("span", { class: "row" }, h("button", { class: "btn", type: "button", disabled: true, title: "CSV export is for business accounts" }, icon("download"), "Export CSV"), bizBadge());
  const titleEl = h("h1", null, "Video");
  const sub = h("p", { class: "sub" });
  clear(main, h("div", { class: "studio-head" }, h("div", { class: "grow" }, crumb, titleEl, sub),
    h("div", { class: "controls" }, rangePicker(r, (nr) => go(`/studio/videos/${enc(id)}?${rangeQuery(nr)}`)), exportBtn)), body);
  let rep, v;
  try {
    [rep, v] = await Promise.all([get(`/v1/analytics/videos/${enc(id)}?${reportQuery(r)}`), get(`/v1/videos/${enc(id)}`)]);
  } catch (e) {
    clear(body, e.status === 404 ? empty("film", "No such video", "It may have been deleted.") : errorBox(e, () => videoPage(main, id)));
    return;
  }
  limitRangeTo(main, rep);
  setTitle(v.title);
  titleEl.textContent = v.title;
  clear(sub, `Posted ${fullTime(v.created_at)} by `, v.creators.map((c, i) => (i ? `, @${c}` : `@${c}`)).join(""),
    " · ", h("a", { href: `/v/${enc(v.id)}` }, "Watch it"));
  const p = rep.policy;
  const a = adjust(rep);
  const metrics = metricsOf(rep);
  const charts = metrics.map(([k, label]) => {
    const box = h("div", { class: "chart-box-sm" });
    // The daily chart shows each day's distinct viewers; over the range
    // they are distinct accounts (exact mode) or viewer-days (protected).
    let total = num(a.totals[k]);
    let title = null;
    if (k === "viewers") {
      const distinct = rep.viewers !== undefined && rep.viewers !== null;
      total = distinct ? num(rep.viewers) : `${num(a.totals.viewer_days)} viewer-days`;
      title = distinct ? "Distinct accounts over the range" : VIEWER_DAYS_NOTE;
    }
    return { k, label, box, card: h("section", { class: "card metric-card" },
      h("div", { class: "card-head" }, h("h3", null, label, " ", estMark(k, p)), h("span", { class: "total", title }, total)),
      box) };
  });
  const hourlyBox = h("div", { class: "chart-box" });
  // Desktop: the charts take the main column, two or three abreast, and the
  // business panels a side column; a phone stacks everything (crowd.css,
  // "Video page").
  const side = rep.detail === "business"
    ? [sourcesCard(rep), watchCards(rep, a)]
    : [locked("Traffic sources", "Where this video's views come from: For You, following, profile, search, hashtags, sounds, shared links and messages."),
      locked("Audience", "Viewers by age, gender and country, once a range has at least 100 viewers."),
      locked("Watch time", "Average watch time per view."),
      locked("Completion rate", "How many views were watched to the end.")];
  clear(body,
    policyNotice(rep),
    totalsRow(rep, a, false),
    h("div", { class: "video-grid" },
      h("div", { class: "video-charts" },
        h("h2", null, `Daily, ${fmtDates(rep.range.from, rep.range.to)}`),
        h("div", { class: "chart-grid" }, charts.map((c) => c.card)),
        hourlyCard(hourlyBox, rep),
        rep.detail === "business" ? audienceCard(rep) : null),
      h("div", { class: "video-side" }, side, await coCreatorsCard(v))));
  for (const c of charts) dailyChart(c.box, a.daily, c.k, c.label, { small: true, estimate: est(c.k, p) });
  hourlyChart(hourlyBox, a.hourly, { estimate: est("views", p) });
}

async function activityPage(main) {
  setTitle("Activity");
  const body = h("div", { class: "card" }, loading());
  clear(main, head("Activity", "Likes, comments and new followers, with who did them. These are public actions."), body,
    h("p", { class: "muted small section" }, icon("shield"), " Shares, saves and views never appear here: Crowd does not tell anyone who made them."));
  try {
    const [res, videos] = await Promise.all([get("/v1/activity?limit=100"), myVideos().catch(() => new Map())]);
    if (!res.activity.length) {
      clear(body, empty("activity", "No activity yet", "When people like or comment on your videos, or follow you, it shows up here."));
      return;
    }
    const items = res.activity.map((a) => {
      const v = a.video_id ? videos.get(a.video_id) : null;
      const vt = v ? h("a", { href: `/studio/videos/${enc(v.id)}` }, `“${v.title}”`) : "your video";
      let what;
      let ic;
      if (a.kind === "like") { what = [" liked ", vt]; ic = "heart"; }
      else if (a.kind === "comment") { what = [" commented on ", vt]; ic = "comment"; }
      else if (a.kind === "follow") { what = [" started following you"]; ic = "user"; }
      else { what = [` ${a.kind}`]; ic = "activity"; }
      return h("div", { class: "list-item" }, avatar(a.actor),
        h("div", { class: "body" },
          h("div", null, h("a", { href: `/u/${enc(a.actor)}` }, h("b", null, `@${a.actor}`)), what),
          a.text ? h("p", { class: "quote" }, a.text) : null,
          h("div", { class: "meta" }, icon(ic), " ", ago(a.created_at))));
    });
    const list = h("div", { class: "list" });
    const more = h("div", { class: "more" });
    let shown = 0;
    const showMore = () => {
      list.append(...items.slice(shown, shown + 25));
      shown += 25;
      more.replaceChildren(shown < items.length ? h("button", { class: "btn", type: "button", onclick: showMore }, "Show more") : "");
    };
    showMore();
    clear(body, list, more);
  } catch (e) {
    clear(body, errorBox(e, () => activityPage(main)));
  }
}

async function notificationsPage(main) {
  setTitle("Notifications");
  const body = h("div", { class: "card" }, loading());
  const markBtn = h("button", { class: "btn", type: "button" }, icon("check"), "Mark all as read");
  clear(main, head("Notifications", "News about Crowd itself, such as a new version of the privacy policy. There are no milestone notifications: the overview shows your trend instead.", markBtn), body);
  const load = async () => {
    try {
      const res = await get("/v1/notifications");
      state.unread = res.unread;
      renderSide();
      markBtn.disabled = !res.unread;
      clear(body, res.notifications.length ? h("div", { class: "list" }, res.notifications.map((n) => h("div", { class: "list-item" },
        n.read ? h("span", { class: "thumb-spacer" }) : h("span", { class: "unread-dot" }, h("span", { class: "visually-hidden" }, "Unread")),
        h("div", { class: "body" }, h("div", { class: "row-between" }, h("b", null, n.title), h("span", { class: "meta" }, ago(n.created_at))), h("p", null, n.body)))))
        : empty("bell", "No notifications", "You are all caught up."));
    } catch (e) {
      clear(body, errorBox(e, load));
    }
  };
  markBtn.addEventListener("click", async () => {
    markBtn.disabled = true;
    try {
      await post("/v1/notifications/read");
      toast("All notifications marked as read");
      await load();
    } catch (e) {
      markBtn.disabled = false;
      toast(e.message, "error");
    }
  });
  await load();
}

async function appsPage(main) {
  setTitle("Apps");
  const list = h("div", { class: "card" }, loading());
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 64, placeholder: "My reporting tool", autocomplete: "off" });
  const scope = h("input", { type: "checkbox", name: "scope", value: "analytics:read", checked: true });
  const created = h("div", { "aria-live": "polite" });
  const submit = h("button", { class: "btn btn-violet", type: "submit" }, icon("plus"), "Create token");
  const form = h("form", { class: "form", "aria-label": "Create an app token" },
    h("label", { class: "field" }, h("span", null, "App name"), name),
    h("fieldset", { class: "field" }, h("legend", null, "Scopes"),
      h("label", { class: "check" }, scope, h("span", null, h("code", { class: "mono" }, "analytics:read"), " — read this account's analytics, and nothing else"))),
    h("div", null, submit), created);
  clear(main, head("Apps", "Tokens that let an app read your analytics through the API. Each token is shown once; revoke it when the app no longer needs it."),
    isBusiness() ? null : h("div", { class: "notice notice-warn section" }, icon("lock"), h("p", null, h("b", null, "Business accounts only. "), "App tokens read analytics only while this is a business account. ", h("a", { href: "/studio/account" }, "Switch to business"))),
    h("div", { class: "grid-2" }, h("section", { class: "card" }, h("h2", null, "New app token"), form), list));
  const load = async () => {
    try {
      const res = await get("/v1/apps");
      clear(list, h("h2", null, "Your apps"), res.apps.length ? h("div", { class: "list" }, res.apps.map((a) => {
        const revoke = h("button", { class: "btn btn-sm btn-danger", type: "button", "aria-label": `Revoke ${a.name}` }, "Revoke");
        revoke.addEventListener("click", () => confirmRevoke(a, load));
        return h("div", { class: "list-item app-row" }, h("span", { class: "avatar avatar-sm hue-4", "aria-hidden": "true" }, icon("key")),
          h("div", { class: "body" }, h("b", null, a.name), h("div", { class: "meta" }, a.scopes.join(", "), " · created ", ago(a.created_at))), revoke);
      })) : empty("key", "No app tokens", "Create one to let a tool read your analytics."));
    } catch (e) {
      clear(list, errorBox(e, load));
    }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!scope.checked) {
      clear(created, h("div", { class: "notice notice-error", role: "alert" }, icon("info"), h("p", null, "Pick at least one scope.")));
      return;
    }
    submit.disabled = true;
    try {
      const a = await post("/v1/apps", { name: name.value.trim(), scopes: ["analytics:read"] });
      name.value = "";
      const copy = h("button", { class: "btn btn-sm", type: "button" }, icon("link"), "Copy token");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(a.token);
          toast("Token copied");
        } catch (err) {
          toast("Select the token and copy it by hand", "error");
        }
      });
      clear(created, h("div", { class: "token-box", role: "status" },
        h("b", null, `Token for “${a.name}”`),
        h("code", { class: "app-token" }, a.token),
        h("span", { class: "small" }, "Copy it now: it is shown only this once. Send it as Authorization: Bearer TOKEN."),
        copy));
      await load();
    } catch (err) {
      clear(created, h("div", { class: "notice notice-error", role: "alert" }, icon("info"), h("p", null, err.message)));
    } finally {
      submit.disabled = false;
    }
  });
  await load();
}

function confirmRevoke(a, reload) {
  const yes = h("button", { class: "btn btn-danger", type: "button" }, "Revoke token");
  const no = h("button", { class: "btn", type: "button" }, "Cancel");
  const d = dialog(`Revoke “${a.name}”?`, [h("p", null, "The app loses access at once. This cannot be undone; you can create a new token later."), h("div", { class: "row" }, yes, no)]);
  no.addEventListener("click", () => d.close());
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await del(`/v1/apps/${enc(a.id)}`);
      d.close();
      toast(`Revoked “${a.name}”`);
      await reload();
    } catch (e) {
      yes.disabled = false;
      toast(e.message, "error");
    }
  });
  yes.focus();
}

function accountPage(main) {
  setTitle("Account");
  const typeBox = h("div", { class: "type-switch" });
  const render = () => clear(typeBox,
    h("div", { class: "seg", role: "group", "aria-label": "Account type" },
      [["personal", "Personal"], ["business", "Business"]].map(([k, label]) =>
        h("button", { type: "button", "aria-pressed": String(state.me.type === k), onclick: () => setType(k) }, label))),
    h("span", { class: "muted" }, `This is a ${state.me.type} account.`));
  const setType = async (t) => {
    if (t === state.me.type) return;
    try {
      state.me = await patch("/v1/me", { type: t });
      renderSide();
      render();
      toast(t === "business" ? "Switched to a business account" : "Switched to a personal account");
    } catch (e) {
      toast(e.message, "error");
    }
  };
  const dm = h("select", { name: "dm_policy", "aria-label": "Who may send you videos" },
    [["everyone", "Everyone"], ["following", "Only accounts I follow"], ["nobody", "Nobody"]].map(([v, l]) => h("option", { value: v, selected: state.me.dm_policy === v }, l)));
  dm.addEventListener("change", async () => {
    try {
      state.me = await patch("/v1/me", { dm_policy: dm.value });
      toast("Saved");
    } catch (e) {
      toast(e.message, "error");
    }
  });
  const receipts = h("input", { type: "checkbox", name: "read_receipts", checked: !!state.me.read_receipts });
  receipts.addEventListener("change", async () => {
    try {
      state.me = await patch("/v1/me", { read_receipts: receipts.checked });
      toast(receipts.checked ? "Read receipts on" : "Read receipts off");
    } catch (e) {
      receipts.checked = !receipts.checked;
      toast(e.message, "error");
    }
  });
  render();
  clear(main, head("Account", accountLine()),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", null, "Personal or business"), typeBox,
        h("p", { class: "muted section" }, "Business accounts get more detail — never more individual data:"),
        h("ul", { class: "muted" },
          h("li", null, "viewers, traffic sources, audience by age, gender and country"),
          h("li", null, "average watch time and completion rate"),
          h("li", null, "follower growth and rising videos"),
          h("li", null, "the 365-day range, CSV export and API access with app tokens")),
        h("p", { class: "muted small" }, "You can switch back at any time.")),
      h("section", { class: "card" }, h("h2", null, "Direct messages"),
        h("label", { class: "field" }, h("span", null, "Who may send you videos"), dm),
        h("p", { class: "muted small section" }, "People you allow can send you videos; your inbox in the viewer app shows who sent each one."),
        h("label", { class: "row" }, receipts, h("span", null, "Read receipts")),
        h("p", { class: "muted small" }, "Off by default. When on, people who send you a video see when you opened it. Turning them on does not reveal videos you opened before; turning them off hides every open again."))));
}

function privacyPage(main) {
  setTitle("Privacy");
  const item = (t) => h("li", null, t);
  clear(main, h("div", { class: "prose" },
    head("What you see, and what nobody sees", "Crowd's promise: creators see the crowd, never the faces."),
    h("div", { class: "cols-2" },
      h("section", { class: "card see" }, h("h3", null, icon("check"), "What creators see"), h("ul", null,
        item("How many views, likes, comments, shares and saves each video got, per day, and views per hour for the last two days."),
        item("Business accounts: how many different accounts watched, where views came from, average watch time, completion rate, and the audience by age band, gender and country."),
        item("Who liked, who commented and who followed: these are public actions, so they are shown as every platform shows them."))),
      h("section", { class: "card never" }, h("h3", null, icon("close"), "What nobody ever sees"), h("ul", null,
        item("Who shared a video, to whom, through which app, or whether it was sent as a message."),
        item("Who saved a video to their favorites."),
        item("Who watched a video, or how long any one person watched."),
        item("Anyone's birth date, gender or country.")))),
    h("h2", null, "Not in any corner of Crowd"),
    h("p", null, "No page, export, app token, notification, public counter or log names the people behind a share, a save or a view. Every sharer of a video gets the same link, so the link cannot tell either. Views from shared links and from direct messages are counted together as “shared”, so even the kind of share stays private."),
    h("h2", null, "Why some numbers are estimates, released later"),
    h("p", null, "If Studio showed exact numbers the moment they changed, a creator could watch a counter tick when one friend is online, or compare two ranges that differ by one day, and work out what that one person did. To rule that out, Crowd can run in protected mode:"),
    h("ul", null,
      item("Views, viewers, shares and saves are counted per day (views per hour) and published only after that period has closed, plus a short delay."),
      item("Each published number gets a little random noise, computed once and never changed, so asking again or asking differently reveals nothing new."),
      item("Each person counts at most once per video for shares and saves, and views are capped per person and day, so no single person can move a number much."),
      item("Small groups are folded into “other”, and the audience panel appears only from 100 viewers."),
      item("On small videos the noise can be larger than the numbers themselves. Studio and the CSV export show estimates rounded to what is possible — never below zero, never fewer views than viewers, and a range's days adding up to its total — which reveals nothing more.")),
    h("p", null, "Those numbers are marked with ≈ in Studio. Likes and comments are public, so they are always exact. Every analytics view says which rules produced its numbers. Some platforms run Crowd in exact mode instead, as the big platforms do: then Studio says so, and the numbers are exact and immediate, still without any names."),
    h("h2", null, "Your own data"),
    h("p", null, "Your birth date, gender and country are never shown to anyone but you. They only feed the audience totals above. Your saved videos are visible only to you. Deleting your account deletes your private data; your anonymous contribution to numbers already published stays, because it cannot be traced back to you.")));
}

function loginPage(app) {
  setTitle("Log in");
  const err = h("div", { "aria-live": "assertive" });
  const handle = h("input", { type: "text", name: "handle", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, "Log in to Studio");
  const form = h("form", { class: "form", "aria-label": "Log in to Studio" }, err,
    h("label", { class: "field" }, h("span", null, "Handle"), handle),
    h("label", { class: "field" }, h("span", null, "Password"), password), submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(err);
    try {
      const res = await login(handle.value.trim(), password.value);
      state.me = res.account;
      const next = new URLSearchParams(location.search).get("next");
      history.replaceState({}, "", next && next.startsWith("/studio") ? next : "/studio");
      await start();
    } catch (ex) {
      clear(err, h("div", { class: "notice notice-error", role: "alert" }, icon("info"), h("p", null, ex.message)));
      submit.disabled = false;
      password.select();
    }
  });
  clear(app, h("main", { id: "main", class: "login-wrap" }, h("div", { class: "card login-card" },
    h("span", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "crowd ", h("small", null, "Studio")),
    h("h1", null, "Log in"),
    h("p", { class: "muted" }, "See how your videos do — the crowd, never the faces."), form,
    h("p", { class: "auth-alt" }, "No account yet? ", h("a", { href: "/register" }, "Create one"), " · ", h("a", { href: "/studio/privacy" }, "Privacy")))));
  handle.focus();
}

// ───────────── Shell and router ─────────────

let side, main, layout;

const NAV = [
  ["/studio", "chart", "Overview"],
  ["/studio/videos", "film", "Videos"],
  ["/studio/activity", "activity", "Activity"],
  ["/studio/notifications", "bell", "Notifications"],
  ["/studio/apps", "key", "Apps"],
  ["/studio/account", "user", "Account"],
  ["/studio/privacy", "shield", "Privacy"],
];

function setTitle(t) {
  document.title = `${t} · Crowd Studio`;
}

function renderSide() {
  const path = location.pathname;
  const current = (href) => (href === "/studio" ? path === "/studio" || path === "/studio/" : path.startsWith(href));
  clear(side,
    h("a", { class: "brand", href: "/studio" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "crowd ", h("small", null, "Studio")),
    h("nav", { "aria-label": "Studio" }, NAV.map(([href, ic, label]) => h("a", { href, "aria-current": current(href) ? "page" : null }, icon(ic), label,
      href === "/studio/notifications" && state.unread ? h("span", { class: "count-badge", "aria-label": `${state.unread} unread` }, String(state.unread)) : null))),
    h("div", { class: "side-foot" },
      h("div", { class: "side-account" }, avatar(state.me.handle),
        h("div", { class: "who" }, h("b", null, state.me.display_name || state.me.handle), h("span", null, `@${state.me.handle}`),
          isBusiness() ? h("span", { class: "badge badge-biz" }, "Business") : h("span", { class: "badge" }, "Personal"))),
      h("a", { href: "/" }, "← Viewer app"),
      h("button", { class: "btn btn-sm", type: "button", onclick: doLogout }, icon("logout"), "Log out")));
}

async function doLogout() {
  try {
    await logout();
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  state.me = null;
  state.videos = null;
  history.pushState({}, "", "/studio/login");
  await start();
}

function go(url) {
  history.pushState({}, "", url);
  route();
}

async function route() {
  destroyCharts();
  layout.classList.remove("menu-open");
  renderSide();
  window.scrollTo(0, 0);
  const path = location.pathname.replace(/\/+$/, "") || "/studio";
  let m;
  if (path === "/studio") return overviewPage(main);
  if (path === "/studio/videos") return videosPage(main);
  if ((m = path.match(/^\/studio\/videos\/([^/]+)$/))) return videoPage(main, decodeURIComponent(m[1]));
  if (path === "/studio/activity") return activityPage(main);
  if (path === "/studio/notifications") return notificationsPage(main);
  if (path === "/studio/apps") return appsPage(main);
  if (path === "/studio/account") return accountPage(main);
  if (path === "/studio/privacy") return privacyPage(main);
  if (path === "/studio/login") return go("/studio");
  setTitle("Not found");
  clear(main, empty("info", "This page does not exist", "The link may be mistyped.", h("a", { class: "btn", href: "/studio" }, "Go to the overview")));
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/studio") || a.target || a.hasAttribute("download") || !state.me) return;
  e.preventDefault();
  go(href);
});
window.addEventListener("popstate", () => {
  if (state.me) route();
  else start();
});

// refreshUnread keeps the notification badge current.
async function refreshUnread() {
  try {
    const res = await get("/v1/notifications");
    state.unread = res.unread;
    renderSide();
  } catch (e) {
    // The badge is a nicety; the page says more if the API is down.
  }
}

// publicPrivacy shows the privacy page to someone who is not logged in.
function publicPrivacy(app) {
  main = h("main", { id: "main", class: "studio-main page-public" });
  clear(app, h("header", { class: "topbar" }, h("div", { class: "topbar-inner" },
    h("a", { class: "brand", href: "/" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "crowd"),
    h("nav", { class: "row" }, h("a", { class: "btn btn-sm", href: "/studio/login" }, "Log in to Studio")))),
  h("div", { class: "public-wrap" }, main));
  privacyPage(main);
}

async function start() {
  const app = document.getElementById("app");
  if (!state.me) {
    try {
      state.me = await currentAccount();
    } catch (e) {
      clear(app, h("main", { id: "main", class: "login-wrap" }, h("div", { class: "card login-card" }, errorBox(e, () => start()))));
      return;
    }
  }
  if (!state.me) {
    if (location.pathname.replace(/\/+$/, "") === "/studio/privacy") return publicPrivacy(app);
    if (location.pathname !== "/studio/login") {
      const next = location.pathname + location.search;
      history.replaceState({}, "", "/studio/login" + (next !== "/studio" ? `?next=${enc(next)}` : ""));
    }
    return loginPage(app);
  }
  side = h("aside", { class: "side", id: "studio-nav" });
  main = h("main", { id: "main", class: "studio-main", tabindex: "-1" });
  const menu = h("button", { class: "icon-btn", type: "button", "aria-label": "Menu", "aria-controls": "studio-nav", "aria-expanded": "false" }, icon("menu"));
  const scrim = h("div", { class: "scrim", hidden: true });
  layout = h("div", { class: "studio" },
    h("header", { class: "studio-top" }, menu, h("a", { class: "brand", href: "/studio" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "Studio"), h("span", { class: "spacer" }), avatar(state.me.handle, "avatar-sm")),
    side, main, scrim);
  const setMenu = (open) => {
    layout.classList.toggle("menu-open", open);
    menu.setAttribute("aria-expanded", String(open));
    scrim.hidden = !open;
    if (open) side.querySelector("a").focus();
  };
  menu.addEventListener("click", () => setMenu(!layout.classList.contains("menu-open")));
  scrim.addEventListener("click", () => setMenu(false));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && layout.classList.contains("menu-open")) setMenu(false); });
  side.addEventListener("click", (e) => { if (e.target.closest("a")) { scrim.hidden = true; menu.setAttribute("aria-expanded", "false"); } });
  clear(app, layout);
  await route();
  refreshUnread();
}

start();
