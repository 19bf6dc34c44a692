// Charts for Studio, drawn by the vendored Chart.js (assets/vendor), with
// Crowd's colours, readable axes and tooltips. Each canvas also carries a
// one-sentence description for screen readers.

import { h, num } from "./dom.js";

const live = new Set();

const COLORS = {
  views: "#6c4cff",
  viewers: "#0ea5e9",
  viewer_days: "#0ea5e9",
  likes: "#ff3d6e",
  comments: "#f59e0b",
  shares: "#10b981",
  saves: "#eab308",
  hourly: "#6c4cff",
};

export function color(metric) {
  return COLORS[metric] || "#6c4cff";
}

function ready() {
  return typeof window.Chart === "function";
}

function defaults() {
  const C = window.Chart;
  if (C.__crowd) return;
  C.__crowd = true;
  C.defaults.font.family = getComputedStyle(document.body).fontFamily;
  C.defaults.font.size = 12;
  C.defaults.color = "#626277";
  C.defaults.borderColor = "#ececf4";
  // No animation: a dashboard's numbers should be readable at once, and a
  // resize (rotating a phone, a screenshot) must never catch the points in
  // flight between two layouts.
  C.defaults.animation = false;
  const tt = C.defaults.plugins.tooltip;
  tt.backgroundColor = "#15151f";
  tt.padding = 10;
  tt.cornerRadius = 8;
  tt.titleFont = { weight: "700" };
  tt.displayColors = false;
}

// destroyCharts frees the charts of the page being left.
export function destroyCharts() {
  for (const c of live) c.destroy();
  live.clear();
}

function fallback(box, text) {
  box.replaceChildren(h("p", { class: "muted small" }, "The chart could not be drawn. ", text));
}

const shortDate = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });
const longDate = new Intl.DateTimeFormat("en", { weekday: "short", month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });
const hourFmt = new Intl.DateTimeFormat("en", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayHourFmt = new Intl.DateTimeFormat("en", { weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function utcDate(s) {
  return new Date(s + "T00:00:00Z");
}

// dailyChart draws one metric of a daily series as a line with an area.
// Days whose numbers are not released yet (protected mode) are gaps, not
// zeros.
export function dailyChart(box, daily, metric, label, opts = {}) {
  const values = daily.map((d) => (d.released === false ? null : d[metric] || 0));
  const total = values.reduce((a, b) => a + (b || 0), 0);
  let peak = 0;
  values.forEach((v, i) => { if ((v || 0) > (values[peak] || 0)) peak = i; });
  const pending = values.filter((v) => v === null).length;
  const desc = daily.length
    ? `${label} per day from ${longDate.format(utcDate(daily[0].date))} to ${longDate.format(utcDate(daily[daily.length - 1].date))}: ${num(total)} in total, at most ${num(values[peak] || 0)} on ${longDate.format(utcDate(daily[peak].date))}.` +
      (pending ? ` ${pending === 1 ? "One day is" : `${pending} days are`} not released yet.` : "")
    : `${label}: no days in this range.`;
  const canvas = h("canvas", { role: "img", "aria-label": desc });
  box.replaceChildren(canvas);
  if (!ready()) return fallback(box, desc);
  defaults();
  if (total === 0) box.append(emptyNote(`No ${label.toLowerCase()} in this range yet.`, opts.estimate));
  const c = color(metric);
  const chart = new window.Chart(canvas, {
    type: "line",
    data: {
      labels: daily.map((d) => d.date),
      datasets: [{
        label,
        data: values,
        borderColor: c,
        backgroundColor: c + "22",
        fill: true,
        cubicInterpolationMode: "monotone",
        borderWidth: 2,
        pointRadius: opts.small || daily.length > 40 ? 0 : 2.5,
        pointHoverRadius: 5,
        pointBackgroundColor: c,
      }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => longDate.format(utcDate(items[0].label)),
            label: (item) => (item.parsed.y === null ? `${label}: not released yet` : `${label}: ${num(item.parsed.y)}${opts.estimate ? " (estimate)" : ""}`),
          },
        },
      },
      scales: {
        x: {
          grid: { display: false },
          ticks: { maxTicksLimit: opts.small || box.clientWidth < 520 ? 4 : 8, maxRotation: 0, autoSkip: true, callback(v) { return shortDate.format(utcDate(this.getLabelForValue(v))); } },
        },
        y: {
          beginAtZero: true,
          ticks: { precision: 0, maxTicksLimit: opts.small ? 4 : 6, callback: (v) => compactAxis(v) },
        },
      },
    },
  });
  live.add(chart);
}

// hourlyChart draws views per hour over the last 48 hours as bars.
export function hourlyChart(box, hourly, opts = {}) {
  const values = hourly.map((p) => p.views);
  const total = values.reduce((a, b) => a + b, 0);
  const desc = `Views per hour over the last 48 hours: ${num(total)} in total.`;
  const canvas = h("canvas", { role: "img", "aria-label": desc });
  box.replaceChildren(canvas);
  if (!ready()) return fallback(box, desc);
  defaults();
  if (total === 0) box.append(emptyNote("No views in the last 48 hours yet.", opts.estimate));
  const chart = new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: hourly.map((p) => p.hour),
      datasets: [{ label: "Views", data: values, backgroundColor: COLORS.hourly + "cc", hoverBackgroundColor: COLORS.hourly, borderRadius: 3, barPercentage: 0.9, categoryPercentage: 0.9 }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => {
              const t = new Date(items[0].label);
              return `${dayHourFmt.format(t)}–${hourFmt.format(new Date(t.getTime() + 3600e3))}`;
            },
            label: (item) => `Views: ${num(item.parsed.y)}${opts.estimate ? " (estimate)" : ""}`,
          },
        },
      },
      scales: {
        x: { grid: { display: false }, ticks: { maxTicksLimit: box.clientWidth < 520 ? 4 : 8, maxRotation: 0, callback(v) { return hourFmt.format(new Date(this.getLabelForValue(v))); } } },
        y: { beginAtZero: true, ticks: { precision: 0, maxTicksLimit: 5, callback: (v) => compactAxis(v) } },
      },
    },
  });
  live.add(chart);
}

// emptyNote lies over a chart with nothing to show, and says why.
function emptyNote(text, estimate) {
  return h("p", { class: "chart-empty" }, text, estimate ? " Estimated numbers appear once each period has closed." : "");
}

function compactAxis(v) {
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "K";
  return String(v);
}
