// The JSON API client and what talks to the server: errors, the server's clock, sign-in
// redirects, WebSocket URLs and reconnect delays.

/** An error answered by the API: `{error, message}` with an HTTP status (0 = no answer). */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

// How far the server's clock is ahead of this one, in ms, from the `Date` header. Deadlines
// come from the server; counting down against a skewed local clock would mislead.
let clockOffset = 0;

/** The server's idea of now, in ms since the epoch. */
export function serverNow() {
  return Date.now() + clockOffset;
}

function learnClock(resp) {
  const date = Date.parse(resp.headers.get('date') ?? '');
  if (Number.isNaN(date)) return;
  // `Date` has one-second resolution: only correct skews it can actually show.
  const skew = date + 500 - Date.now();
  clockOffset = Math.abs(skew) > 1500 ? skew : 0;
}

/**
 * Calls the JSON API under /api/v1. The session cookie goes along by itself. A Blob body
 * (a recording) is sent as it is, with its own type; anything else as JSON.
 * Resolves with the parsed body (null for 204); rejects with an ApiError.
 */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers }, credentials: 'same-origin', signal };
  if (body instanceof Blob) {
    init.headers['content-type'] = body.type;
    init.body = body;
  } else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  learnClock(resp);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ApiError(
      resp.status,
      data?.error ?? `http_${resp.status}`,
      data?.message ?? `The server answered ${resp.status}.`,
      data,
    );
  }
  return data;
}

/** Sends the browser to the sign-in page, coming back here afterwards. */
export function toLogin() {
  const next = location.pathname + location.search;
  location.replace(`/login?next=${encodeURIComponent(next)}`);
  return new Promise(() => {});
}

/** Whether the user must change a reset password or enrol a second factor first. */
export function heldBack(user) {
  return Boolean(user.security?.password_change_required || user.security?.second_factor_enrolment_required);
}

/**
 * The signed-in user; redirects to /login (and never resolves) when signed out, and to
 * /account, where it can be done, when the user must first change a password or enrol.
 */
export async function currentUser() {
  let user;
  try {
    user = await api('/me');
  } catch (e) {
    if (e.status === 401) return toLogin();
    throw e;
  }
  if (heldBack(user) && location.pathname !== '/account') {
    location.replace('/account');
    return new Promise(() => {});
  }
  return user;
}

export async function signOut() {
  try {
    await api('/auth/logout', { method: 'POST' });
  } catch {
    // Signed out already, or the server is away: the cookie is gone either way for us.
  }
  location.assign('/login');
}

/** ws:// or wss:// URL of a path on this server. */
export function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** Delay before reconnect attempt `n` (0-based): exponential with jitter, 0.5 s to 10 s. */
export function backoff(n) {
  const base = Math.min(10000, 500 * 2 ** n);
  return base / 2 + Math.random() * (base / 2);
}
