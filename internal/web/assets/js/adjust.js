// What a person reads of a report. In protected mode the API returns the
// released noisy values as they are (window totals are their sums), and a
// small video's values can be negative or show fewer views than viewers.
// Studio shows them post-processed by adjust(), the same algorithm as
// internal/analytics/adjust.go (which the CSV export uses; a browser test
// holds the two to the same answers). It is a function of released values
// only, so it costs no privacy budget, and it adds no noise.
//
// The rules, only when policy.estimates (exact numbers are shown as they
// are):
// - a range's viewers are max(0, Σ), its views max(viewers, Σ), shares and
//   saves max(0, Σ);
// - each daily series is the integer series closest to the released one
//   with every day ≥ 0 (views ≥ that day's viewers) adding up to its total;
//   days that obey the rules already are unchanged;
// - the hourly views likewise, adding up to max(0, Σ);
// - the watch time is clamped to 0..(bound × viewer-days), the average
//   watch time is over the adjusted views.
// Likes and comments are exact and never adjusted.

// project returns the integer vector closest to y (least squares) with
// x[i] ≥ lower[i] (0 without lower) and Σx = total (see project in
// adjust.go: the simplex projection, fractions rounded down and the units
// left over to the largest remainders, the earlier index first).
export function project(y, lower, total) {
  const n = y.length;
  const x = new Array(n).fill(0);
  const w = new Array(n);
  let floor = 0;
  for (let i = 0; i < n; i++) {
    if (lower) x[i] = lower[i];
    w[i] = y[i] - x[i];
    floor += x[i];
  }
  const s = total - floor;
  if (s <= 0) return x;
  const idx = [...Array(n).keys()].sort((a, b) => (w[b] - w[a]) || (a - b));
  let c = 0;
  let ck = 0;
  let k = 0;
  for (let m = 1; m <= n; m++) {
    c += w[idx[m - 1]];
    if (w[idx[m - 1]] * m > c - s) {
      k = m;
      ck = c;
    }
  }
  const rem = new Array(k);
  let given = 0;
  for (let m = 0; m < k; m++) {
    const i = idx[m];
    const v = k * w[i] - ck + s; // > 0
    const q = Math.floor(v / k);
    x[i] += q;
    given += q;
    rem[m] = v - q * k;
  }
  const order = [...Array(k).keys()].sort((a, b) => (rem[b] - rem[a]) || (idx[a] - idx[b]));
  for (let t = 0; t < s - given; t++) x[idx[order[t]]]++;
  return x;
}

const sum = (v) => v.reduce((a, b) => a + b, 0);

// adjust returns a copy of the report's daily and hourly series, totals and
// average watch time as a person reads them. The report is not changed.
export function adjust(rep) {
  const out = {
    daily: rep.daily.map((d) => ({ ...d })),
    hourly: rep.hourly.map((h) => ({ ...h })),
    totals: { ...rep.totals },
    avg_watch_ms: rep.avg_watch_ms,
  };
  if (!rep.policy || !rep.policy.estimates) return out;
  const col = (k) => rep.daily.map((d) => d[k] || 0);
  let tViewers = 0;
  let viewers = null;
  for (const k of ["viewers", "viewer_days"]) {
    if (rep.daily.length && rep.daily[0][k] !== undefined && rep.daily[0][k] !== null) {
      tViewers = Math.max(0, sum(col(k)));
      viewers = project(col(k), null, tViewers);
      out.daily.forEach((d, i) => { d[k] = viewers[i]; });
      break;
    }
  }
  if (rep.totals.viewer_days !== undefined && rep.totals.viewer_days !== null) out.totals.viewer_days = tViewers;
  if (rep.totals.viewers !== undefined && rep.totals.viewers !== null) out.totals.viewers = Math.max(0, rep.totals.viewers);

  out.totals.views = Math.max(tViewers, sum(col("views")));
  project(col("views"), viewers, out.totals.views).forEach((v, i) => { out.daily[i].views = v; });
  for (const k of ["shares", "saves"]) {
    out.totals[k] = Math.max(0, sum(col(k)));
    project(col(k), null, out.totals[k]).forEach((v, i) => { out.daily[i][k] = v; });
  }
  const hours = rep.hourly.map((h) => h.views);
  project(hours, null, Math.max(0, sum(hours))).forEach((v, i) => { out.hourly[i].views = v; });

  if (rep.totals.watch_ms !== undefined && rep.totals.watch_ms !== null) {
    let w = Math.max(0, rep.totals.watch_ms);
    const b = rep.policy.bounds;
    if (b) w = Math.min(w, b.watch_ms_per_viewer_day * tViewers);
    out.totals.watch_ms = w;
    out.avg_watch_ms = out.totals.views > 0 ? Math.floor(w / out.totals.views) : null;
  }
  return out;
}

// nonneg is a single estimate as a person reads it: never below 0. (The
// trend's noisy day, a rising video's numbers.)
export function nonneg(n, policy) {
  return policy && policy.estimates ? Math.max(0, n || 0) : n || 0;
}

// changePercent is the change of value over base in whole percent, rounded
// towards zero as the API rounds it; null without a base.
export function changePercent(value, base) {
  if (!(base > 0)) return null;
  return Math.trunc(((value - base) * 100) / base);
}
