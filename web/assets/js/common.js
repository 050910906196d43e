// What every page shares: the API client, sign-in checks, the top bar, formatting, dialogs.

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
 * Calls the JSON API under /api/v1. The session cookie goes along by itself.
 * Resolves with the parsed body (null for 204); rejects with an ApiError.
 */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers }, credentials: 'same-origin', signal };
  if (body !== undefined) {
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

/** The signed-in user; redirects to /login (and never resolves) when signed out. */
export async function currentUser() {
  try {
    return await api('/me');
  } catch (e) {
    if (e.status === 401) return toLogin();
    throw e;
  }
}

/** Fills in the top bar (who is signed in) and wires its sign-out button. */
export function setupTopbar(user) {
  const who = document.getElementById('whoami');
  if (who) {
    who.textContent = user.account_name ? `${user.username} · ${user.account_name}` : user.username;
  }
  document.getElementById('signout')?.addEventListener('click', signOut);
  // Admins and operators get the admin view in the menu.
  const nav = document.querySelector('.topbar nav');
  if (nav && (user.role === 'admin' || user.role === 'operator') && !nav.querySelector('a[href="/admin"]')) {
    const link = document.createElement('a');
    link.href = '/admin';
    link.textContent = 'Admin';
    nav.append(link);
  }
}

export async function signOut() {
  try {
    await api('/auth/logout', { method: 'POST' });
  } catch {
    // Signed out already, or the server is away: the cookie is gone either way for us.
  }
  location.assign('/login');
}

/** Reveals the page once it knows who is signed in (avoids a flash of empty content). */
export function showMain() {
  document.getElementById('main')?.removeAttribute('hidden');
}

/** Says something to screen-reader users without moving focus. */
export function announce(text) {
  const region = document.getElementById('live-status');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick makes repeated messages be read again.
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A page-wide failure worth showing (e.g. the first load failed). */
export function showPageError(message) {
  let box = document.getElementById('page-error');
  if (!box) {
    box = document.createElement('p');
    box.id = 'page-error';
    box.className = 'card error';
    box.setAttribute('role', 'alert');
    document.querySelector('main')?.prepend(box);
  }
  box.textContent = message;
  showMain();
}

// ---------- formatting ----------

/** "1:05:09", "4:59", "0:07" for a duration in ms (negative counts as zero). */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** "just now", "12 s", "5 min", "3 h 10 min", "2 d" for an age in ms. */
export function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/** A duration in words for long spans ("24 h", "5 min"), exact enough for a limit. */
export function span(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.round(m / 60)} h`;
}

const REASONS = {
  ended_by_user: 'a user ended it',
  ticket_expired: 'the ticket expired unused',
  max_lifetime: 'it reached its maximum duration',
  no_viewers: 'nobody was watching',
  device_idle: 'the device stopped sending',
};

/** Why a session ended, in words. */
export function endReason(reason) {
  return REASONS[reason] ?? (reason ? reason.replaceAll('_', ' ') : 'ended');
}

const DEADLINES = {
  ticket_expired: 'ticket expires',
  max_lifetime: 'maximum duration',
  no_viewers: 'ends without viewers',
  device_idle: 'ends if device stays idle',
};

/** What the next timeout will do, in words. */
export function deadlineLabel(reason) {
  return DEADLINES[reason] ?? reason.replaceAll('_', ' ');
}

/** "Pixel 9 · Android 16", or a dash. */
export function deviceLabel(device) {
  if (!device) return '—';
  const parts = [device.model, device.os].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'unnamed device';
}

export function ms(ts) {
  return ts ? Date.parse(ts) : NaN;
}

// ---------- sockets ----------

/** ws:// or wss:// URL of a path on this server. */
export function wsUrl(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/** Delay before reconnect attempt `n` (0-based): exponential with jitter, 0.5 s to 10 s. */
export function backoff(n) {
  const base = Math.min(10000, 500 * 2 ** n);
  return base / 2 + Math.random() * (base / 2);
}

// ---------- small widgets ----------

/** Copies text to the clipboard; falls back to selecting it in `input`. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    return false;
  }
}

/** Wires a copy button to an input; the button says what happened for a moment. */
export function wireCopy(button, input) {
  const label = button.textContent;
  button.addEventListener('click', async () => {
    const ok = await copyText(input.value, input);
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    announce(ok ? 'Link copied' : 'Link selected; press Control C to copy');
    setTimeout(() => { button.textContent = label; }, 1800);
  });
}

/**
 * Asks for confirmation in a modal <dialog>. Resolves true when confirmed.
 * `confirmLabel` names the action ("End session"); `danger` paints it red.
 */
export function confirmDialog({ title, body, confirmLabel = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.setAttribute('aria-labelledby', 'dialog-title');
    dialog.innerHTML = `
      <h2 id="dialog-title"></h2>
      <p class="dialog-body"></p>
      <form method="dialog" class="actions">
        <button class="btn" value="cancel">Cancel</button>
        <button class="btn ${danger ? 'btn-danger' : 'btn-primary'}" value="confirm" data-testid="confirm"></button>
      </form>`;
    dialog.querySelector('h2').textContent = title;
    dialog.querySelector('.dialog-body').textContent = body;
    dialog.querySelector('[value=confirm]').textContent = confirmLabel;
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('[value=cancel]').focus();
  });
}

/** `el(tag, {attrs}, ...children)`: a small DOM builder that never parses HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
