// DOM helpers shared by the viewer app and Studio: element building,
// icons, number and time formatting, toasts, and the placeholder frames
// that stand in for video. Nothing here sets a style attribute or injects
// markup as HTML: the CSP forbids inline styles, and text is always text.

const SVG_NS = "http://www.w3.org/2000/svg";

// h builds an element: h("a", {href: "/", class: "x", onclick: fn}, "text", child, [more]).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k === "value") {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear empties an element and fills it with children.
export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Icons: 24×24 stroke paths, drawn with currentColor.
const ICONS = {
  heart: "M12 20.5s-7.5-4.6-9.3-9.2C1.4 7.9 3.6 4.5 7 4.5c2 0 3.5 1.1 5 3 1.5-1.9 3-3 5-3 3.4 0 5.6 3.4 4.3 6.8C19.5 15.9 12 20.5 12 20.5z",
  comment: "M21 12a8.5 8.5 0 0 1-12.6 7.4L3 21l1.6-5.2A8.5 8.5 0 1 1 21 12z",
  bookmark: "M6 3.5h12a1 1 0 0 1 1 1V21l-7-4.5L5 21V4.5a1 1 0 0 1 1-1z",
  share: "M14 5l7 7-7 7M21 12H10a7 7 0 0 0-7 7",
  eye: "M1.5 12S5.5 4.5 12 4.5 22.5 12 22.5 12 18.5 19.5 12 19.5 1.5 12 1.5 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  play: "M7 4.5v15l13-7.5z",
  pause: "M7 4.5h3.5v15H7zM13.5 4.5H17v15h-3.5z",
  send: "M21.5 2.5L10.5 13.5M21.5 2.5l-7 19-4-8-8-4z",
  link: "M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1",
  check: "M4 12.5l5 5L20 6.5",
  close: "M6 6l12 12M18 6L6 18",
  inbox: "M3 13h5l2 3h4l2-3h5M5.5 5h13L21 13v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-6z",
  home: "M3 11l9-7.5 9 7.5M5.5 9.5V20h13V9.5",
  user: "M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zM3.5 21a8.5 8.5 0 0 1 17 0",
  chart: "M3.5 20.5h17M6.5 17v-6M11 17V6.5M15.5 17v-8M20 17V4",
  list: "M8 6h13M8 12h13M8 18h13M3.5 6h.01M3.5 12h.01M3.5 18h.01",
  bell: "M18 16v-5a6 6 0 0 0-12 0v5l-2 2.5h16zM10 21.5h4",
  key: "M15 9.5a5.5 5.5 0 1 1-10.9 1 5.5 5.5 0 0 1 10.9-1zM14 12.5l7.5 7.5M18.5 17l2-2",
  shield: "M12 2.5l8 3v6c0 5-3.5 8.6-8 10-4.5-1.4-8-5-8-10v-6z",
  activity: "M2.5 12h4l3-8 5 16 3-8h4",
  menu: "M3.5 6h17M3.5 12h17M3.5 18h17",
  logout: "M15 4h4a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-4M10 17l5-5-5-5M15 12H3.5",
  music: "M9 18V5.5l11-2V16M9 18a3 3 0 1 1-6 0 3 3 0 0 1 6 0zM20 16a3 3 0 1 1-6 0 3 3 0 0 1 6 0z",
  info: "M12 21.5a9.5 9.5 0 1 0 0-19 9.5 9.5 0 0 0 0 19zM12 16.5v-5M12 7.5h.01",
  lock: "M6 10.5h12a1 1 0 0 1 1 1V20a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8.5a1 1 0 0 1 1-1zM8 10.5V7a4 4 0 0 1 8 0v3.5",
  download: "M12 3.5v12M7 11l5 5 5-5M4 20.5h16",
  search: "M10.5 18a7.5 7.5 0 1 0 0-15 7.5 7.5 0 0 0 0 15zM21 21l-5.2-5.2",
  trash: "M4 6.5h16M9.5 6.5V4h5v2.5M6.5 6.5l1 14h9l1-14",
  trend: "M2.5 17.5l6.5-6.5 4 4 8.5-8.5M15 6.5h6.5V13",
  film: "M4 3.5h16a1 1 0 0 1 1 1v15a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-15a1 1 0 0 1 1-1zM7.5 3.5v17M16.5 3.5v17M3 8h4.5M3 16h4.5M16.5 8H21M16.5 16H21",
  clock: "M12 21.5a9.5 9.5 0 1 0 0-19 9.5 9.5 0 0 0 0 19zM12 7v5l3.5 2",
  users: "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM1.5 20.5a7.5 7.5 0 0 1 15 0M16 3.3a4 4 0 0 1 0 7.5M19 14.2a7.5 7.5 0 0 1 3.5 6.3",
  globe: "M12 21.5a9.5 9.5 0 1 0 0-19 9.5 9.5 0 0 0 0 19zM2.5 12h19M12 2.5c2.5 2.6 3.8 5.8 3.8 9.5s-1.3 6.9-3.8 9.5c-2.5-2.6-3.8-5.8-3.8-9.5S9.5 5.1 12 2.5z",
  mail: "M3.5 5.5h17a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1h-17a1 1 0 0 1-1-1v-11a1 1 0 0 1 1-1zM2.5 7l9.5 6.5L21.5 7",
  phone: "M7 2.5h10a1 1 0 0 1 1 1v17a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1v-17a1 1 0 0 1 1-1zM11 18.5h2",
  dots: "M5 12h.01M12 12h.01M19 12h.01",
  plus: "M12 5v14M5 12h14",
  studio: "M3.5 4.5h17v12h-17zM8 20.5h8M12 16.5v4",
};

// icon returns an SVG icon by name.
export function icon(name, opts = {}) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("fill", opts.fill ? "currentColor" : "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", opts.weight || "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", ICONS[name] || ICONS.info);
  svg.append(p);
  return svg;
}

// hash is a small stable string hash (FNV-1a), for picking colours.
export function hash(s) {
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

export function hueClass(s) {
  return "hue-" + (hash(String(s)) % 8);
}

// avatar draws an initial on a colour picked from the handle.
export function avatar(handle, size = "") {
  return h("span", { class: `avatar ${size} ${hueClass(handle)}`, "aria-hidden": "true" }, (handle || "?").slice(0, 1));
}

// frameArt draws the abstract shapes of a placeholder frame: circles and a
// wave placed by the video id's hash, so each video has its own picture.
export function frameArt(id) {
  const seed = hash(String(id));
  const r = (n, k) => ((seed >>> (n * 3)) % k);
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 90 160");
  svg.setAttribute("preserveAspectRatio", "xMidYMid slice");
  svg.setAttribute("class", "frame-art");
  svg.setAttribute("aria-hidden", "true");
  const add = (tag, attrs) => {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
    return el;
  };
  add("circle", { cx: 14 + r(0, 60), cy: 24 + r(1, 50), r: 16 + r(2, 18), fill: "#fff", "fill-opacity": 0.16, class: "pulse" });
  add("circle", { cx: 20 + r(3, 55), cy: 80 + r(4, 40), r: 8 + r(5, 12), fill: "#fff", "fill-opacity": 0.22 });
  add("circle", { cx: 70 - r(6, 30), cy: 60 + r(7, 30), r: 4 + r(8, 6), fill: "#fff", "fill-opacity": 0.35, class: "pulse" });
  const y = 112 + r(9, 20);
  add("path", { d: `M-5 ${y} C 20 ${y - 18}, 40 ${y + 18}, 95 ${y - 6} L 95 170 L -5 170 Z`, fill: "#000", "fill-opacity": 0.16 });
  add("path", { d: `M-5 ${y + 14} C 25 ${y}, 55 ${y + 28}, 95 ${y + 8}`, stroke: "#fff", "stroke-opacity": 0.3, "stroke-width": 1.5, fill: "none" });
  return svg;
}

// thumb is a small placeholder frame.
export function thumb(id) {
  return h("span", { class: `thumb ${hueClass(id)}`, "aria-hidden": "true" }, frameArt(id));
}

const numberFmt = new Intl.NumberFormat("en");
const compactFmt = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

// num formats a whole number with separators: 12,345.
export function num(n) {
  return numberFmt.format(n || 0);
}

// compact formats a counter short: 12.3K.
export function compact(n) {
  return compactFmt.format(n || 0);
}

// ago says how long ago a time was, in words.
export function ago(iso) {
  const t = new Date(iso).getTime();
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} h ago`;
  const d = Math.round(hr / 24);
  if (d < 30) return d === 1 ? "yesterday" : `${d} days ago`;
  return new Date(iso).toLocaleDateString("en", { day: "numeric", month: "short", year: "numeric" });
}

export function fullTime(iso) {
  return new Date(iso).toLocaleString("en", { dateStyle: "medium", timeStyle: "short" });
}

// duration formats milliseconds for people: "12.4 s" under a minute,
// "4 min 05 s" under an hour, then hours and minutes: "3 h 12 min",
// "234 h 1 min", "1,204 h" (never "14041 min 03 s"). Each form is rounded
// to its last unit.
export function duration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return "–";
  ms = Math.max(0, ms);
  if (ms < 59950) return `${(ms / 1000).toFixed(1)} s`;
  const secs = Math.round(ms / 1000);
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${String(secs % 60).padStart(2, "0")} s`;
  const mins = Math.round(ms / 60000);
  const hours = Math.floor(mins / 60);
  return mins % 60 ? `${num(hours)} h ${mins % 60} min` : `${num(hours)} h`;
}

// toast shows a short confirmation at the bottom of the screen.
export function toast(text, kind = "ok") {
  const box = document.getElementById("toasts");
  if (!box) return;
  // A modal dialog sits in the top layer, above everything else: the toasts
  // move into it while it is open, so they are not hidden behind it.
  const host = document.querySelector("dialog[open]") || document.body;
  if (box.parentNode !== host) host.append(box);
  const t = h("div", { class: `toast toast-${kind}` }, icon(kind === "ok" ? "check" : "info"), h("span", null, text));
  box.append(t);
  setTimeout(() => t.remove(), 3500);
}

// loading is a spinner with words.
export function loading(text = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", null, text));
}

// empty is an empty state: an icon, a title and a sentence, maybe an action.
export function empty(iconName, title, text, action) {
  return h("div", { class: "empty" }, icon(iconName), h("h3", null, title), text ? h("p", null, text) : null, action || null);
}

// errorBox shows a failure in words, with a retry button when one is given.
export function errorBox(err, retry) {
  return h("div", { class: "notice notice-error", role: "alert" }, icon("info"),
    h("div", { class: "grow" }, h("p", null, h("b", null, "Something went wrong. "), err && err.message ? err.message : String(err)),
      retry ? h("p", null, h("button", { class: "btn btn-sm", type: "button", onclick: retry }, "Try again")) : null));
}

// dialog opens a modal <dialog> with a title and body; it is removed from
// the page when closed. Escape and the close button close it.
export function dialog(title, body, opts = {}) {
  const id = "dlg-" + Math.random().toString(36).slice(2);
  const d = h("dialog", { "aria-labelledby": id, class: opts.class || "" },
    h("div", { class: "dialog-head" }, h("h2", { id }, title),
      h("button", { class: "icon-btn", type: "button", "aria-label": "Close", onclick: () => d.close() }, icon("close"))),
    h("div", { class: "dialog-body" }, body));
  d.addEventListener("close", () => {
    const box = d.querySelector("#toasts");
    if (box) document.body.append(box);
    d.remove();
    if (opts.onclose) opts.onclose();
  });
  d.addEventListener("click", (e) => { if (e.target === d) d.close(); });
  document.body.append(d);
  d.showModal();
  return d;
}

// setWidth sets a bar's width in percent through the CSSOM (allowed by the
// CSP, unlike a style attribute).
export function setWidth(el, pct) {
  el.style.width = `${Math.max(0, Math.min(100, pct))}%`;
  return el;
}
