// The JSON API, from the browser. Requests go to the same origin with the
// cookie session; every unsafe request echoes the crowd_csrf cookie in the
// X-CSRF-Token header (double submit), as the API requires.

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

// hasSession tells whether this browser may hold a session: the readable
// CSRF cookie is set with the HttpOnly session cookie and cleared with it.
// Asking /v1/me without it would only earn a 401.
export function hasSession() {
  return cookie("crowd_csrf") !== "";
}

// api sends one request and returns the decoded JSON answer (null for 204).
// An error answer becomes an APIError with the API's code and message.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const token = cookie("crowd_csrf");
    if (token) headers["X-CSRF-Token"] = token;
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      keepalive: !!opts.keepalive,
    });
  } catch (e) {
    throw new APIError(0, "network", "Crowd could not be reached. Check your connection and try again.");
  }
  if (res.status === 204 || res.status === 202) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error;
    throw new APIError(res.status, err ? err.code : "http_" + res.status, err ? err.message : `The server answered ${res.status}.`);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body, opts) => api("POST", path, body, opts);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export const enc = encodeURIComponent;

// currentAccount returns the logged-in account, or null.
export async function currentAccount() {
  if (!hasSession()) return null;
  try {
    return await get("/v1/me");
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

// login opens a cookie session.
export function login(handle, password) {
  return post("/v1/sessions", { handle, password, cookie: true });
}

// logout ends it; the API clears both cookies.
export async function logout() {
  try {
    await del("/v1/sessions/current");
  } catch (e) {
    if (e.status !== 401) throw e;
  }
}
