// The viewer app: the feed, profiles, watching, likes, comments, saves, the
// share sheet, the inbox and favorites. A single-page app over the JSON API;
// the server serves this shell for every path it knows.

import { api, get, post, put, del, enc, currentAccount, login, logout, APIError } from "./api.js";
import { h, clear, icon, avatar, frameArt, hueClass, compact, num, ago, toast, loading, empty, errorBox, dialog, hash } from "./dom.js";

const state = {
  me: null,
  saved: new Set(), // ids of the videos I saved (from /v1/me/saved)
  unread: 0, // unopened messages in my inbox
};

// The API does not say whether I liked a video or follow an account, so the
// app remembers what this browser did, per account. It is a hint for the
// buttons; the API is idempotent either way.
const memory = {
  key(kind) {
    return `crowd.${kind}.${state.me ? state.me.id : "anon"}`;
  },
  has(kind, id) {
    return this.load(kind).includes(id);
  },
  load(kind) {
    try {
      return JSON.parse(localStorage.getItem(this.key(kind)) || "[]");
    } catch (e) {
      return [];
    }
  },
  set(kind, id, on) {
    const list = this.load(kind).filter((x) => x !== id);
    if (on) list.push(id);
    try {
      localStorage.setItem(this.key(kind), JSON.stringify(list.slice(-500)));
    } catch (e) {
      // Storage full or disabled: the buttons just forget.
    }
  },
};

const CHANNELS = [
  ["whatsapp", "WhatsApp", "W"],
  ["facebook", "Facebook", "f"],
  ["instagram", "Instagram", "IG"],
  ["messenger", "Messenger", "M"],
  ["telegram", "Telegram", "T"],
  ["x", "X", "X"],
  ["email", "Email", null, "mail"],
  ["sms", "SMS", null, "phone"],
  ["other", "More apps", null, "dots"],
];

// ───────────── Playback ─────────────
// There are no video files: a placeholder frame "plays" for the video's
// length (8–17 s, from its id) with a progress bar. When playback ends, is
// paused, or the viewer moves on, one view is recorded with the watch time,
// whether it completed, and the traffic source of the surface it was on.

let current = null; // the player that is playing

class Player {
  constructor(video, frame, source) {
    this.video = video;
    this.frame = frame;
    this.source = source; // null: the view was already counted (inbox)
    this.length = 8000 + (hash(video.id) % 9000);
    this.watched = 0;
    this.startedAt = 0;
    this.playing = false;
    this.recorded = false;
    this.bar = frame.querySelector(".progress > i");
    this.button = frame.querySelector(".play");
    this.status = frame.querySelector(".frame-done");
  }

  toggle() {
    if (this.playing) this.stop(false);
    else this.play();
  }

  play() {
    if (current && current !== this) current.stop(false);
    current = this;
    if (this.recorded || this.watched >= this.length) {
      this.watched = 0;
      this.recorded = false;
    }
    this.playing = true;
    this.startedAt = performance.now() - this.watched;
    this.frame.classList.add("playing");
    this.status.textContent = "";
    this.setButton("pause", `Pause “${this.video.title}”`);
    const tick = () => {
      if (!this.playing) return;
      this.watched = Math.min(this.length, performance.now() - this.startedAt);
      this.bar.style.width = `${(this.watched / this.length) * 100}%`;
      if (this.watched >= this.length) {
        this.stop(true);
        return;
      }
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  // stop ends playback and records the view once.
  stop(completed, leaving) {
    if (!this.playing) return;
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.watched = Math.min(this.length, performance.now() - this.startedAt);
    this.frame.classList.remove("playing");
    this.setButton("play", `Play “${this.video.title}”`);
    if (completed) this.status.textContent = "Watched to the end";
    if (current === this) current = null;
    this.record(completed, leaving);
  }

  record(completed, leaving) {
    if (this.recorded || this.source === null) return;
    this.recorded = true;
    const body = { source: this.source, watch_ms: Math.round(this.watched), completed: !!completed };
    post(`/v1/videos/${enc(this.video.id)}/views`, body, { keepalive: !!leaving }).catch((e) => {
      if (!leaving) toast(`The view was not recorded: ${e.message}`, "error");
    });
  }

  setButton(name, label) {
    this.button.replaceChildren(icon(name, { fill: true }));
    this.button.setAttribute("aria-label", label);
  }
}

function stopPlayback(leaving) {
  if (current) current.stop(false, leaving);
}

window.addEventListener("pagehide", () => stopPlayback(true));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") stopPlayback(true);
});

// ───────────── Video card ─────────────

function requireLogin(what) {
  toast(`Log in to ${what}.`, "error");
  navigate(`/login?next=${enc(location.pathname)}`);
}

// videoCard draws a video: its placeholder frame with creator, title,
// caption, tags and sound, and the action rail with the public counters.
function videoCard(v, source, opts = {}) {
  const counts = v.counts || { views: 0, likes: 0, comments: 0, shares: 0, saves: 0 };
  const titleId = `t-${v.id}`;
  const frame = h("div", { class: `frame ${hueClass(v.id)}` },
    frameArt(v.id),
    h("div", { class: "frame-shade" }),
    h("div", { class: "frame-top" },
      h("span", { class: "chip", title: "Views" }, icon("eye"), h("span", { class: "views-count" }, compact(counts.views)), h("span", { class: "visually-hidden" }, " views")),
      opts.badge ? h("span", { class: "chip" }, opts.badge) : null),
    h("button", { class: "play", type: "button", "aria-label": `Play “${v.title}”` }, icon("play", { fill: true })),
    h("p", { class: "frame-done", "aria-live": "polite" }),
    h("div", { class: "frame-info" },
      h("div", { class: "frame-creator" }, v.creators.map((c, i) => [i ? h("span", null, "·") : null, h("a", { href: `/u/${enc(c)}` }, `@${c}`)])),
      h("h2", { class: "frame-title", id: titleId }, v.title),
      v.caption ? h("p", { class: "frame-caption" }, v.caption) : null,
      v.hashtags && v.hashtags.length ? h("div", { class: "frame-tags" }, v.hashtags.map((t) => h("span", null, `#${t}`))) : null,
      v.sound ? h("div", { class: "frame-sound" }, icon("music"), h("span", null, v.sound)) : null),
    h("div", { class: "progress", "aria-hidden": "true" }, h("i")));

  const player = new Player(v, frame, source);
  frame.querySelector(".play").addEventListener("click", () => player.toggle());

  const liked = memory.has("liked", v.id);
  const saved = state.saved.has(v.id);
  const likeBtn = actButton("heart", "Like", counts.likes, liked, "like");
  const saveBtn = actButton("bookmark", "Save", counts.saves, saved, "save");
  const commentBtn = actButton("comment", "Comments", counts.comments, null, "comment");
  const shareBtn = actButton("share", "Share", counts.shares, null, "share");

  likeBtn.addEventListener("click", () => toggleState(v, likeBtn, "like", "liked"));
  saveBtn.addEventListener("click", () => toggleState(v, saveBtn, "save", "saved"));
  commentBtn.addEventListener("click", () => openComments(v, commentBtn));
  shareBtn.addEventListener("click", () => openShareSheet(v, shareBtn));

  const card = h("article", { class: "video", "aria-labelledby": titleId },
    frame,
    h("div", { class: "rail" }, likeBtn, commentBtn, saveBtn, shareBtn));
  card.player = player;
  return card;
}

function actButton(iconName, label, count, pressed, cls) {
  const b = h("button", { class: `act ${cls}`, type: "button", "aria-label": `${label} (${num(count)})` },
    h("span", { class: "act-icon" }, icon(iconName, { fill: pressed === true })),
    h("span", { class: "act-count" }, compact(count)));
  if (pressed !== null) b.setAttribute("aria-pressed", String(!!pressed));
  b.count = count;
  b.label = label;
  return b;
}

function setCount(btn, n) {
  btn.count = Math.max(0, n);
  btn.querySelector(".act-count").textContent = compact(btn.count);
  btn.setAttribute("aria-label", `${btn.label} (${num(btn.count)})`);
}

function setPressed(btn, on, iconName) {
  btn.setAttribute("aria-pressed", String(on));
  btn.querySelector(".act-icon").replaceChildren(icon(iconName, { fill: on }));
}

// toggleState likes/unlikes or saves/unsaves.
async function toggleState(v, btn, what, field) {
  if (!state.me) return requireLogin(what === "like" ? "like videos" : "save videos");
  const on = btn.getAttribute("aria-pressed") !== "true";
  btn.disabled = true;
  try {
    await (on ? put : del)(`/v1/videos/${enc(v.id)}/${what}`);
    setPressed(btn, on, what === "like" ? "heart" : "bookmark");
    setCount(btn, btn.count + (on ? 1 : -1));
    if (what === "like") memory.set("liked", v.id, on);
    else if (on) state.saved.add(v.id);
    else state.saved.delete(v.id);
    if (what === "save") toast(on ? "Saved to your favorites" : "Removed from your favorites");
  } catch (e) {
    toast(e.message, "error");
  } finally {
    btn.disabled = false;
  }
}

// ───────────── Comments ─────────────

function openComments(v, btn) {
  const list = h("div", { class: "list comments-list" }, loading("Loading comments…"));
  const input = h("input", { type: "text", name: "text", maxlength: 2000, placeholder: "Add a comment…", "aria-label": "Your comment", autocomplete: "off" });
  const form = state.me
    ? h("form", { class: "comment-form" }, input, h("button", { class: "btn btn-primary", type: "submit" }, "Post"))
    : h("p", { class: "muted" }, h("a", { href: `/login?next=${enc(location.pathname)}` }, "Log in"), " to comment.");
  const d = dialog(`Comments on “${v.title}”`, [list, form]);

  const row = (c) => h("div", { class: "list-item" }, avatar(c.author, "avatar-sm"),
    h("div", { class: "body" },
      h("div", { class: "row-between" }, h("a", { href: `/u/${enc(c.author)}`, onclick: () => d.close() }, h("b", null, `@${c.author}`)), h("span", { class: "meta" }, ago(c.created_at))),
      h("div", null, c.text)),
    state.me && c.author === state.me.handle
      ? h("button", { class: "icon-btn", type: "button", "aria-label": "Delete your comment", onclick: async (e) => {
        try {
          await del(`/v1/comments/${enc(c.id)}`);
          e.currentTarget.closest(".list-item").remove();
          setCount(btn, btn.count - 1);
          toast("Comment deleted");
        } catch (err) {
          toast(err.message, "error");
        }
      } }, icon("trash"))
      : null);

  const load = async () => {
    try {
      const res = await get(`/v1/videos/${enc(v.id)}/comments?limit=100`);
      if (!res.comments || !res.comments.length) {
        clear(list, empty("comment", "No comments yet", "Be the first to say something."));
      } else {
        clear(list, res.comments.map(row));
      }
    } catch (e) {
      clear(list, errorBox(e, load));
    }
  };
  load();
  if (state.me) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      form.querySelector("button").disabled = true;
      try {
        const c = await post(`/v1/videos/${enc(v.id)}/comments`, { text });
        input.value = "";
        if (list.querySelector(".empty")) list.replaceChildren();
        list.prepend(row(c));
        setCount(btn, btn.count + 1);
      } catch (err) {
        toast(err.message, "error");
      } finally {
        form.querySelector("button").disabled = false;
        input.focus();
      }
    });
    input.focus();
  }
}

// ───────────── Share sheet ─────────────

function openShareSheet(v, btn) {
  if (!state.me) return requireLogin("share videos");
  const counted = () => setCount(btn, btn.count + 1);

  // Send to a friend.
  const handleInput = h("input", { type: "search", name: "handle", placeholder: "Their handle, like mia", "aria-label": "Friend's handle", autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
  const result = h("div", { "aria-live": "polite" });
  const quick = h("div", { class: "quick-people" });
  const note = h("textarea", { name: "text", maxlength: 1000, placeholder: "Add a message (optional)", "aria-label": "Message", rows: 2 });
  const find = async (handle) => {
    handle = handle.trim().replace(/^@/, "").toLowerCase();
    if (!handle) return;
    clear(result, loading("Looking…"));
    try {
      const p = await get(`/v1/accounts/${enc(handle)}`);
      if (state.me && p.handle === state.me.handle) {
        clear(result, h("p", { class: "muted" }, "That's you. Pick someone else."));
        return;
      }
      const send = h("button", { class: "btn btn-primary btn-sm", type: "button" }, icon("send"), "Send");
      send.addEventListener("click", async () => {
        send.disabled = true;
        try {
          await post("/v1/messages", { to: p.handle, video_id: v.id, text: note.value.trim() });
          clear(result, h("p", { class: "confirm", role: "status" }, icon("check"), `Sent to @${p.handle}`));
          note.value = "";
          counted();
        } catch (e) {
          send.disabled = false;
          clear(result, errorBox(e));
        }
      });
      clear(result, h("div", { class: "person" }, avatar(p.handle),
        h("div", { class: "who grow" }, h("b", null, p.display_name || p.handle), h("span", { class: "muted small" }, `@${p.handle}`)),
        send));
    } catch (e) {
      clear(result, h("p", { class: "muted", role: "alert" }, e.status === 404 ? `Nobody is called @${handle}.` : e.message));
    }
  };
  const searchForm = h("form", { class: "search-row" }, handleInput, h("button", { class: "btn", type: "submit" }, icon("search"), "Find"));
  searchForm.addEventListener("submit", (e) => {
    e.preventDefault();
    find(handleInput.value);
  });
  get("/v1/messages/sent?limit=30").then((res) => {
    const seen = [];
    for (const m of res.messages || []) if (!seen.includes(m.to)) seen.push(m.to);
    clear(quick, seen.slice(0, 6).map((hd) => h("button", { class: "person-chip", type: "button", onclick: () => { handleInput.value = hd; find(hd); } }, avatar(hd), `@${hd}`)));
  }).catch(() => {});

  // Share to other apps.
  const outcome = h("div", { "aria-live": "polite" });
  const shareTo = async (channel, label) => {
    clear(outcome, loading("Getting the link…"));
    try {
      const res = await post(`/v1/videos/${enc(v.id)}/shares`, { channel });
      counted();
      const open = appLink(channel, res.url, v.title);
      clear(outcome, h("div", { class: "stack" },
        h("p", { class: "confirm", role: "status" }, icon("check"), `Link ready for ${label}`),
        linkBox(res.url),
        open ? h("a", { class: "btn btn-sm", href: open, target: "_blank", rel: "noopener noreferrer" }, `Open ${label}`) : null));
      if (channel === "other" && navigator.share) navigator.share({ title: v.title, url: res.url }).catch(() => {});
    } catch (e) {
      clear(outcome, errorBox(e));
    }
  };
  const apps = h("div", { class: "share-apps" }, CHANNELS.map(([ch, label, mark, ic]) =>
    h("button", { class: "share-app", type: "button", onclick: () => shareTo(ch, label) },
      h("span", { class: `dot ch-${ch}`, "aria-hidden": "true" }, ic ? icon(ic) : mark), label)));

  // Copy link.
  const copied = h("div", { "aria-live": "polite" });
  const copyBtn = h("button", { class: "btn btn-violet btn-block", type: "button" }, icon("link"), "Copy link");
  copyBtn.addEventListener("click", async () => {
    copyBtn.disabled = true;
    try {
      const res = await post(`/v1/videos/${enc(v.id)}/shares`, { channel: "copy_link" });
      counted();
      const ok = await copyText(res.url);
      clear(copied, ok
        ? h("p", { class: "confirm", role: "status" }, icon("check"), "Link copied")
        : h("div", { class: "stack" }, h("p", { class: "muted" }, "Copy this link:"), linkBox(res.url)));
    } catch (e) {
      clear(copied, errorBox(e));
    } finally {
      copyBtn.disabled = false;
    }
  });

  dialog("Share", [
    h("section", { class: "sheet-section" }, h("h3", null, "Send to a friend"), searchForm, quick, h("div", { class: "stack" }, result, note)),
    h("section", { class: "sheet-section" }, h("h3", null, "Share to"), apps, outcome),
    h("section", { class: "sheet-section" }, copyBtn, copied,
      h("p", { class: "muted small" }, "Everyone who shares this video gets the same link: it never says who shared it. The creator sees how many shares there were, never who made them.")),
  ]);
  handleInput.focus();
}

function linkBox(url) {
  const input = h("input", { type: "text", readonly: true, value: url, "aria-label": "Share link" });
  input.addEventListener("focus", () => input.select());
  return h("div", { class: "linkbox" }, input);
}

// appLink is where a share to an external app continues.
function appLink(channel, url, title) {
  const u = enc(url);
  switch (channel) {
    case "whatsapp": return `https://wa.me/?text=${u}`;
    case "facebook": return `https://www.facebook.com/sharer/sharer.php?u=${u}`;
    case "messenger": return `fb-messenger://share/?link=${u}`;
    case "telegram": return `https://t.me/share/url?url=${u}&text=${enc(title)}`;
    case "x": return `https://x.com/intent/post?url=${u}&text=${enc(title)}`;
    case "email": return `mailto:?subject=${enc(title)}&body=${u}`;
    case "sms": return `sms:?&body=${u}`;
  }
  return null;
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) {
    // Fall through to the selection-based copy.
  }
  const ta = h("textarea", { readonly: true, class: "visually-hidden" }, text);
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (e) {
    ok = false;
  }
  ta.remove();
  return ok;
}

// ───────────── Pages ─────────────

function title(t) {
  document.title = t ? `${t} · Crowd` : "Crowd";
}

async function feedPage(main) {
  title("For you");
  const list = h("div", { class: "feed" });
  const more = h("div", { class: "more" });
  clear(main, h("h1", { class: "visually-hidden" }, "For you"), list, more);
  const load = async (before) => {
    const spinner = loading("Loading videos…");
    more.replaceChildren(spinner);
    try {
      const res = await get("/v1/videos?limit=10" + (before ? `&before=${enc(before)}` : ""));
      if (!before && !res.videos.length) {
        clear(list, empty("film", "No videos yet", "When creators post, their videos appear here."));
      }
      list.append(...res.videos.map((v) => videoCard(v, "for_you")));
      more.replaceChildren(res.next ? h("button", { class: "btn", type: "button", onclick: () => load(res.next) }, "Show more videos") : "");
    } catch (e) {
      more.replaceChildren(errorBox(e, () => load(before)));
    }
  };
  await load("");
}

async function videoPage(main, id, source) {
  clear(main, loading());
  try {
    const v = await get(`/v1/videos/${enc(id)}`);
    title(v.title);
    clear(main, h("div", { class: "watch-page" }, h("h1", { class: "visually-hidden" }, v.title), videoCard(v, source)));
  } catch (e) {
    clear(main, e.status === 404 ? empty("film", "This video is gone", "It may have been deleted by its creator.", h("a", { class: "btn", href: "/" }, "Go to the feed")) : errorBox(e, () => videoPage(main, id, source)));
  }
}

// sharedPage is where a share link leads. It plays the video at once and
// records the view with source "shared"; the link names no sharer.
async function sharedPage(main, id) {
  clear(main, loading());
  try {
    const v = await get(`/v1/videos/${enc(id)}`);
    title(v.title);
    const card = videoCard(v, "shared", { badge: "Shared with you" });
    clear(main, h("div", { class: "watch-page" },
      h("h1", { class: "visually-hidden" }, v.title),
      card,
      h("p", { class: "muted" }, "Someone shared this video with you. ", h("a", { href: "/" }, "See more on Crowd"))));
    card.player.play();
  } catch (e) {
    clear(main, e.status === 404 ? empty("film", "This video is gone", "The link is right, but the video was deleted.", h("a", { class: "btn", href: "/" }, "Go to the feed")) : errorBox(e, () => sharedPage(main, id)));
  }
}

function tile(v, source) {
  const c = v.counts || {};
  return h("a", { class: "tile", href: `/v/${enc(v.id)}`, dataset: { source } },
    h("div", { class: `frame ${hueClass(v.id)}` }, frameArt(v.id), h("div", { class: "frame-shade" }),
      h("div", { class: "frame-info" }, h("p", { class: "frame-title" }, v.title))),
    h("div", { class: "tile-stats" },
      h("span", null, icon("eye"), compact(c.views), h("span", { class: "visually-hidden" }, " views")),
      h("span", null, icon("heart"), compact(c.likes), h("span", { class: "visually-hidden" }, " likes")),
      h("span", { class: "truncate" }, `@${v.owner}`)));
}

async function profilePage(main, handle) {
  clear(main, loading());
  let p;
  try {
    p = await get(`/v1/accounts/${enc(handle)}`);
  } catch (e) {
    clear(main, e.status === 404 ? empty("user", "No such account", `Nobody is called @${handle}.`, h("a", { class: "btn", href: "/" }, "Go to the feed")) : errorBox(e, () => profilePage(main, handle)));
    return;
  }
  title(`${p.display_name} (@${p.handle})`);
  const mine = state.me && state.me.handle === p.handle;
  const followers = h("b", null, num(p.followers));
  let actions;
  if (mine) {
    actions = h("div", { class: "row" },
      h("a", { class: "btn btn-violet", href: "/studio" }, icon("chart"), "Open Studio"),
      h("button", { class: "btn", type: "button", onclick: doLogout }, icon("logout"), "Log out"));
  } else {
    const following = memory.has("following", p.handle);
    const fb = h("button", { class: following ? "btn" : "btn btn-primary", type: "button", "aria-pressed": String(following) }, following ? "Following" : "Follow");
    fb.addEventListener("click", async () => {
      if (!state.me) return requireLogin("follow people");
      const on = fb.getAttribute("aria-pressed") !== "true";
      fb.disabled = true;
      try {
        await (on ? put : del)(`/v1/accounts/${enc(p.handle)}/follow`);
        memory.set("following", p.handle, on);
        fb.setAttribute("aria-pressed", String(on));
        fb.textContent = on ? "Following" : "Follow";
        fb.className = on ? "btn" : "btn btn-primary";
        p.followers += on ? 1 : -1;
        followers.textContent = num(p.followers);
        toast(on ? `You follow @${p.handle}` : `You unfollowed @${p.handle}`);
      } catch (e) {
        toast(e.message, "error");
      } finally {
        fb.disabled = false;
      }
    });
    actions = fb;
  }
  const grid = h("div", { class: "grid-videos" });
  const more = h("div", { class: "more" });
  clear(main, h("div", { class: "profile-head" }, avatar(p.handle, "avatar-lg"),
    h("div", { class: "grow" },
      h("h1", null, p.display_name, " ", p.type === "business" ? h("span", { class: "badge badge-biz" }, "Business") : null),
      h("p", { class: "muted" }, `@${p.handle}`),
      h("div", { class: "stats" }, h("span", null, followers, " followers"), h("span", null, h("b", null, num(p.following)), " following"))),
    actions), h("h2", null, "Videos"), grid, more);
  const load = async (before) => {
    more.replaceChildren(loading());
    try {
      const res = await get(`/v1/accounts/${enc(p.handle)}/videos?limit=24` + (before ? `&before=${enc(before)}` : ""));
      if (!before && !res.videos.length) grid.replaceWith(empty("film", "No videos yet", mine ? "Videos you post appear here." : `@${p.handle} has not posted yet.`));
      grid.append(...res.videos.map((v) => tile(v, "profile")));
      more.replaceChildren(res.next ? h("button", { class: "btn", type: "button", onclick: () => load(res.next) }, "Show more") : "");
    } catch (e) {
      more.replaceChildren(errorBox(e, () => load(before)));
    }
  };
  await load("");
}

async function savedPage(main) {
  title("Saved");
  if (!state.me) return loginWall(main, "see your saved videos");
  clear(main, h("div", { class: "page-title" }, h("h1", null, "Saved"), h("span", { class: "badge" }, icon("lock"), "Only you see this")), loading());
  try {
    const res = await get("/v1/me/saved");
    state.saved = new Set(res.videos.map((v) => v.id));
    main.lastChild.replaceWith(res.videos.length
      ? h("div", { class: "grid-videos" }, res.videos.map((v) => tile(v, "other")))
      : empty("bookmark", "Nothing saved yet", "Tap the bookmark on a video to keep it here. Nobody else sees this list, and creators never learn who saved their videos.", h("a", { class: "btn", href: "/" }, "Browse the feed")));
  } catch (e) {
    main.lastChild.replaceWith(errorBox(e, () => savedPage(main)));
  }
}

async function inboxPage(main, tab) {
  title("Inbox");
  if (!state.me) return loginWall(main, "see videos friends sent you");
  tab = tab || "received";
  const tabs = h("div", { class: "seg", role: "tablist", "aria-label": "Messages" },
    [["received", "Received"], ["sent", "Sent"]].map(([k, label]) =>
      h("button", { type: "button", role: "tab", "aria-selected": String(k === tab), onclick: () => inboxPage(main, k) }, label)));
  const box = h("div", { class: "card" }, loading());
  clear(main, h("div", { class: "page-narrow" }, h("div", { class: "page-title" }, h("h1", null, "Inbox"), tabs), box));
  try {
    if (tab === "received") {
      const res = await get("/v1/inbox?limit=100");
      state.unread = res.messages.filter((m) => !m.opened_at).length;
      renderNav();
      clear(box, res.messages.length ? h("div", { class: "list" }, res.messages.map(received)) : empty("inbox", "No messages yet", "When a friend sends you a video, it shows up here with their name."));
    } else {
      const res = await get("/v1/messages/sent?limit=100");
      clear(box, res.messages.length ? h("div", { class: "list" }, res.messages.map(sentItem)) : empty("send", "You have not sent anything yet", "Use Share on a video and pick “Send to a friend”."));
    }
  } catch (e) {
    clear(box, errorBox(e, () => inboxPage(main, tab)));
  }
}

function received(m) {
  const v = m.video;
  const open = h("button", { class: "btn btn-sm btn-primary", type: "button" }, icon("play", { fill: true }), "Watch");
  open.addEventListener("click", async () => {
    open.disabled = true;
    try {
      // Opening the message counts the view (source "shared") on the
      // server, so the player records none of its own.
      await post(`/v1/messages/${enc(m.id)}/open`);
      navigate(`/v/${enc(m.video_id)}`, { source: null });
    } catch (e) {
      open.disabled = false;
      toast(e.message, "error");
    }
  });
  return h("div", { class: "list-item message" },
    m.opened_at ? h("span", { class: "thumb-spacer" }) : h("span", { class: "unread-dot", title: "New" }, h("span", { class: "visually-hidden" }, "New")),
    v ? h("span", { class: `thumb ${hueClass(v.id)}`, "aria-hidden": "true" }, frameArt(v.id)) : null,
    h("div", { class: "body" },
      h("div", null, h("a", { href: `/u/${enc(m.from)}`, class: "sender" }, h("b", null, `@${m.from}`)), " sent you ", v ? h("b", null, `“${v.title}”`) : "a video that was deleted"),
      m.text ? h("p", { class: "quote" }, m.text) : null,
      h("div", { class: "meta" }, ago(m.created_at))),
    v ? open : null);
}

function sentItem(m) {
  const v = m.video;
  return h("div", { class: "list-item" },
    v ? h("span", { class: `thumb ${hueClass(v.id)}`, "aria-hidden": "true" }, frameArt(v.id)) : null,
    h("div", { class: "body" },
      h("div", null, "You sent ", v ? h("a", { href: `/v/${enc(v.id)}`, dataset: { source: "other" } }, h("b", null, `“${v.title}”`)) : "a deleted video", " to ", h("a", { href: `/u/${enc(m.to)}` }, h("b", null, `@${m.to}`))),
      m.text ? h("p", { class: "quote" }, m.text) : null,
      // opened_at reaches a sender only as a read receipt the recipient
      // turned on; without one, nothing here changes when they open it.
      h("div", { class: "meta" }, ago(m.created_at), m.opened_at ? ` · Seen ${ago(m.opened_at)}` : null)));
}

function loginWall(main, what) {
  clear(main, h("div", { class: "page-narrow card" }, empty("lock", "Log in first", `Log in to ${what}.`,
    h("div", { class: "row" }, h("a", { class: "btn btn-primary", href: `/login?next=${enc(location.pathname)}` }, "Log in"), h("a", { class: "btn", href: "/register" }, "Create an account")))));
}

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", null, label, hint ? h("span", { class: "hint" }, ` ${hint}`) : null), input);
}

function loginPage(main) {
  title("Log in");
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  const err = h("div", { "aria-live": "assertive" });
  const handle = h("input", { type: "text", name: "handle", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, "Log in");
  const form = h("form", { class: "form", "aria-label": "Log in" }, err, field("Handle", handle), field("Password", password), submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(err);
    try {
      const res = await login(handle.value.trim(), password.value);
      await setAccount(res.account);
      navigate(next);
    } catch (ex) {
      clear(err, h("div", { class: "notice notice-error", role: "alert" }, icon("info"), h("p", null, ex.message)));
      submit.disabled = false;
      password.select();
    }
  });
  clear(main, h("div", { class: "auth" }, h("div", { class: "card" },
    h("h1", null, "Welcome back"), h("p", { class: "muted" }, "Log in to like, comment, save and share."), form,
    h("p", { class: "auth-alt" }, "New here? ", h("a", { href: "/register" }, "Create an account")))));
  handle.focus();
}

function registerPage(main) {
  title("Create an account");
  const err = h("div", { "aria-live": "assertive" });
  const f = {
    handle: h("input", { type: "text", name: "handle", autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true, minlength: 3, maxlength: 30, pattern: "[a-zA-Z0-9][a-zA-Z0-9_.]{2,29}" }),
    display: h("input", { type: "text", name: "display_name", autocomplete: "name", maxlength: 64 }),
    password: h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 8 }),
    birth: h("input", { type: "date", name: "birth_date" }),
    gender: h("select", { name: "gender" }, [["undisclosed", "Prefer not to say"], ["female", "Female"], ["male", "Male"], ["other", "Other"]].map(([v, l]) => h("option", { value: v }, l))),
    country: h("input", { type: "text", name: "country", maxlength: 2, placeholder: "DE", autocomplete: "country", pattern: "[A-Za-z]{2}" }),
    type: h("select", { name: "type" }, h("option", { value: "personal" }, "Personal"), h("option", { value: "business" }, "Business (more detailed analytics)")),
  };
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, "Create account");
  const form = h("form", { class: "form", "aria-label": "Create an account" }, err,
    field("Handle", f.handle, "3–30 letters, digits, _ or ."),
    field("Display name", f.display, "optional"),
    field("Password", f.password, "at least 8 characters"),
    h("div", { class: "form-2" }, field("Birth date", f.birth, "optional"), field("Country", f.country, "two letters, optional")),
    h("div", { class: "form-2" }, field("Gender", f.gender), field("Account type", f.type)),
    h("p", { class: "muted small" }, "Your birth date, gender and country are never shown to anyone. They only feed audience totals that creators see once a video has at least 100 viewers."),
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(err);
    const body = { handle: f.handle.value.trim(), password: f.password.value, display_name: f.display.value.trim(), gender: f.gender.value, type: f.type.value };
    if (f.birth.value) body.birth_date = f.birth.value;
    if (f.country.value.trim()) body.country = f.country.value.trim().toUpperCase();
    try {
      await post("/v1/accounts", body);
      const res = await login(body.handle, body.password);
      await setAccount(res.account);
      toast(`Welcome to Crowd, @${res.account.handle}`);
      navigate("/");
    } catch (ex) {
      clear(err, h("div", { class: "notice notice-error", role: "alert" }, icon("info"), h("p", null, ex.message)));
      submit.disabled = false;
    }
  });
  clear(main, h("div", { class: "auth" }, h("div", { class: "card" },
    h("h1", null, "Create your account"), h("p", { class: "muted" }, "Watch, share and keep your favorites."), form,
    h("p", { class: "auth-alt" }, "Already have one? ", h("a", { href: "/login" }, "Log in")))));
  f.handle.focus();
}

async function doLogout() {
  try {
    await logout();
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  await setAccount(null);
  toast("You are logged out");
  navigate("/");
}

// safeNext keeps a post-login redirect on this site.
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

// ───────────── Shell and router ─────────────

let nav, main;

function renderNav() {
  const path = location.pathname;
  const link = (href, iconName, label, extra) => h("a", { href, "aria-current": path === href ? "page" : null }, icon(iconName), h("span", null, label), extra || null);
  const items = state.me
    ? [
      link("/", "home", "Feed"),
      link("/inbox", "inbox", "Inbox", state.unread ? h("span", { class: "count-badge", "aria-label": `${state.unread} new` }, String(state.unread)) : null),
      link("/saved", "bookmark", "Saved"),
      link(`/u/${enc(state.me.handle)}`, "user", "Profile"),
      h("a", { href: "/studio" }, icon("chart"), h("span", null, "Studio")),
    ]
    : [
      link("/", "home", "Feed"),
      h("a", { href: "/studio/privacy" }, icon("shield"), h("span", null, "Privacy")),
      link("/login", "user", "Log in"),
      link("/register", "plus", "Sign up"),
    ];
  clear(nav, items);
}

async function setAccount(a) {
  state.me = a;
  state.saved = new Set();
  state.unread = 0;
  if (a) {
    const [saved, inbox] = await Promise.allSettled([get("/v1/me/saved"), get("/v1/inbox?limit=100")]);
    if (saved.status === "fulfilled") state.saved = new Set(saved.value.videos.map((v) => v.id));
    if (inbox.status === "fulfilled") state.unread = inbox.value.messages.filter((m) => !m.opened_at).length;
  }
  renderNav();
}

function navigate(url, st) {
  history.pushState(st || {}, "", url);
  route();
}

async function route() {
  stopPlayback(false);
  renderNav();
  const path = location.pathname;
  const st = history.state || {};
  window.scrollTo(0, 0);
  let m;
  if (path === "/") return feedPage(main);
  if (path === "/login") return loginPage(main);
  if (path === "/register") return registerPage(main);
  if (path === "/inbox") return inboxPage(main);
  if (path === "/saved") return savedPage(main);
  if ((m = path.match(/^\/u\/([^/]+)$/))) return profilePage(main, decodeURIComponent(m[1]));
  if ((m = path.match(/^\/v\/([^/]+)$/))) return videoPage(main, decodeURIComponent(m[1]), st.source === undefined ? "other" : st.source);
  if ((m = path.match(/^\/s\/([^/]+)$/))) return sharedPage(main, decodeURIComponent(m[1]));
  title("Not found");
  clear(main, empty("info", "This page does not exist", "The link may be mistyped.", h("a", { class: "btn", href: "/" }, "Go to the feed")));
}

// Links inside the app navigate without reloading; Studio is another app.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || a.target || a.hasAttribute("download")) return;
  if (href.startsWith("/studio") || href.startsWith("/v1/") || href.startsWith("/assets/")) return;
  e.preventDefault();
  const d = a.closest("dialog");
  if (d) d.close();
  navigate(href, a.dataset.source ? { source: a.dataset.source } : {});
});
window.addEventListener("popstate", route);

async function start() {
  const app = document.getElementById("app");
  nav = h("nav", { class: "mainnav", "aria-label": "Main" });
  main = h("main", { id: "main", class: "viewer-main", tabindex: "-1" });
  clear(app, h("header", { class: "topbar" }, h("div", { class: "topbar-inner" },
    h("a", { class: "brand", href: "/" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "crowd"), nav)), main);
  try {
    await setAccount(await currentAccount());
  } catch (e) {
    renderNav();
    if (!(e instanceof APIError && e.status === 401)) toast(e.message, "error");
  }
  await route();
}

start();
