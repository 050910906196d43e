// / : the account's sessions, live. The events socket says which session changed; the page
// then reads that session again. A slow poll covers figures that change without an event
// (fps) and any time the socket is down.
import { api, backoff, currentUser, serverNow, toLogin, wsUrl } from './api.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError, wireCopy } from './dom.js';
import { age, clock, deadlineLabel, deviceLabel, endReason, ms } from './format.js';

const POLL_CONNECTED_MS = 15000;
const POLL_DISCONNECTED_MS = 5000;

const sessions = new Map(); // suid -> SessionView
const rows = new Map(); // suid -> <tr>
const tbody = document.querySelector('#sessions tbody');
const hideEnded = document.getElementById('hide-ended');
const conn = document.getElementById('conn');
let panelSuid = null;
let socketOpen = false;

// ---------- data ----------

async function refreshAll() {
  try {
    const { sessions: list } = await api('/sessions?limit=200');
    const seen = new Set();
    for (const s of list) {
      sessions.set(s.suid, s);
      seen.add(s.suid);
    }
    for (const suid of [...sessions.keys()]) if (!seen.has(suid)) sessions.delete(suid);
    render();
  } catch (e) {
    if (e.status === 401) return toLogin();
    setConn(false, e.message);
  }
}

const pending = new Map(); // suid -> timer, to merge bursts of events
function refreshOne(suid) {
  if (pending.has(suid)) return;
  pending.set(suid, setTimeout(async () => {
    pending.delete(suid);
    try {
      const view = await api(`/sessions/${encodeURIComponent(suid)}`);
      const before = sessions.get(suid);
      sessions.set(suid, view);
      if (before && before.state !== view.state) announceChange(view);
      render();
    } catch (e) {
      if (e.status === 401) toLogin();
      else if (e.status === 404) {
        sessions.delete(suid);
        render();
      }
    }
  }, 100));
}

function announceChange(view) {
  const name = view.label || 'A session';
  if (view.state === 'live') announce(`${name} is live: the device connected.`);
  if (view.state === 'ended') announce(`${name} ended: ${endReason(view.end_reason)}.`);
}

// ---------- the events socket, with reconnects and a slower poll ----------

function setConn(ok, text) {
  conn.dataset.ok = String(ok);
  conn.textContent = text;
}

let attempts = 0;
function connectEvents() {
  const ws = new WebSocket(wsUrl('/api/v1/events'));
  ws.addEventListener('open', () => {
    attempts = 0;
    socketOpen = true;
    setConn(true, 'Live updates on');
    // Anything that changed while we were away.
    refreshAll();
  });
  ws.addEventListener('message', (e) => {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    if (msg.type === 'session' && msg.suid) {
      if (!sessions.has(msg.suid)) refreshAll();
      else refreshOne(msg.suid);
    } else if (msg.type === 'resync') {
      refreshAll();
    }
  });
  ws.addEventListener('close', async () => {
    socketOpen = false;
    setConn(false, `Live updates paused; refreshing every ${POLL_DISCONNECTED_MS / 1000} s`);
    // A refused upgrade looks like any other drop: if we were signed out, go sign in.
    if (attempts > 1) {
      try {
        await api('/me');
      } catch (err) {
        if (err.status === 401) return toLogin();
      }
    }
    setTimeout(connectEvents, backoff(attempts++));
  });
}

function pollLoop() {
  setTimeout(async () => {
    await refreshAll();
    pollLoop();
  }, socketOpen ? POLL_CONNECTED_MS : POLL_DISCONNECTED_MS);
}

// ---------- rendering ----------

function cell(col, label) {
  return el('td', { 'data-col': col, 'data-label': label });
}

function buildRow(suid) {
  const tr = el('tr', { 'data-suid': suid, 'data-testid': 'session-row' });
  tr.append(
    cell('label', 'Label'), cell('state', 'State'), cell('device', 'Device'),
    cell('viewers', 'Viewers'), cell('fps', 'FPS'), cell('age', 'Age'), cell('left', 'Time left'),
    cell('actions', 'Actions'),
  );
  for (const col of ['viewers', 'fps', 'age', 'left']) tr.querySelector(`[data-col=${col}]`).classList.add('num');
  tr.querySelector('[data-col=actions]').classList.add('actions-cell');
  return tr;
}

function fill(td, main, sub) {
  td.replaceChildren(main);
  if (sub) td.append(el('span', { class: 'sub', text: sub }));
}

function updateRow(tr, s) {
  tr.dataset.state = s.state;
  const q = (col) => tr.querySelector(`[data-col=${col}]`);
  const name = s.label || 'Untitled session';
  fill(q('label'), el('a', { href: `/s/${s.suid}`, text: name }), s.state === 'waiting' && s.ticket ? `ticket ${s.ticket}` : null);
  fill(
    q('state'),
    el('span', { class: 'badge', 'data-state': s.state, 'data-testid': 'state', text: s.state }),
    s.state === 'ended' ? endReason(s.end_reason) : null,
  );
  q('device').textContent = s.state === 'waiting' ? '—' : deviceLabel(s.device);
  fill(q('viewers'), String(s.viewers), s.viewer_names?.length ? s.viewer_names.join(', ') : null);
  q('fps').textContent = s.state === 'live' ? s.fps.toFixed(1) : '—';

  const actions = q('actions');
  const wanted = `${s.state}`;
  if (actions.dataset.for !== wanted) {
    actions.dataset.for = wanted;
    const open = el('a', { class: 'btn btn-sm', href: `/s/${s.suid}`, 'data-testid': 'open', text: 'Open' });
    open.append(el('span', { class: 'sr-only', text: ` ${name}` }));
    actions.replaceChildren(open);
    if (s.state === 'waiting') {
      actions.append(el('button', {
        type: 'button', class: 'btn btn-sm', text: 'Ticket', onclick: () => showTicket(sessions.get(s.suid), true),
      }));
    }
    if (s.state !== 'ended') {
      actions.append(el('button', {
        type: 'button', class: 'btn btn-sm btn-danger', 'data-testid': 'end', text: 'End', onclick: () => endSession(s.suid),
      }));
    }
  }
  tick(tr, s);
}

/** The per-second figures: age and the time left before the next timeout. */
function tick(tr, s) {
  const now = serverNow();
  tr.querySelector('[data-col=age]').textContent = age(now - ms(s.created_at));
  const left = tr.querySelector('[data-col=left]');
  if (s.state === 'ended' || !s.deadline) {
    left.textContent = '—';
    return;
  }
  const at = ms(s.deadline.at);
  let text;
  let sub = deadlineLabel(s.deadline.reason);
  if (s.deadline.reason === 'device_idle' && s.fps > 0 && s.last_frame_at) {
    // Frames are flowing, so the idle clock restarts with each one: show its full length.
    text = clock(at - ms(s.last_frame_at));
    sub = 'if the device stops sending';
  } else {
    text = clock(at - now);
  }
  fill(left, text, sub);
  left.title = `${deadlineLabel(s.deadline.reason)} at ${new Date(at).toLocaleTimeString()}`;
}

function render() {
  const list = [...sessions.values()].sort((a, b) => ms(b.created_at) - ms(a.created_at));
  const shown = list.filter((s) => !(hideEnded.checked && s.state === 'ended'));
  for (const [suid, tr] of rows) {
    if (!sessions.has(suid)) {
      tr.remove();
      rows.delete(suid);
    }
  }
  let prev = null;
  for (const s of shown) {
    let tr = rows.get(s.suid);
    if (!tr) {
      tr = buildRow(s.suid);
      rows.set(s.suid, tr);
    }
    updateRow(tr, s);
    // Keep DOM order = sort order without re-inserting rows that are already in place
    // (moving a focused row would lose the user's focus).
    const expected = prev ? prev.nextSibling : tbody.firstChild;
    if (expected !== tr) tbody.insertBefore(tr, expected);
    prev = tr;
  }
  for (const s of list) if (!shown.includes(s)) rows.get(s.suid)?.remove();
  document.getElementById('empty').hidden = shown.length > 0;
  updatePanel();
}

// ---------- new session and its ticket ----------

const panel = document.getElementById('ticket-panel');
const qr = document.getElementById('ticket-qr');

function showTicket(view, focus) {
  panelSuid = view.suid;
  panel.hidden = false;
  document.getElementById('ticket-label').textContent = view.label || 'Untitled session';
  document.getElementById('ticket-code').textContent = view.ticket ?? '';
  document.getElementById('device-url').value = view.device_url ?? '';
  document.getElementById('ticket-open').href = `/s/${view.suid}`;
  qr.src = `/api/v1/sessions/${encodeURIComponent(view.suid)}/qr.svg`;
  updatePanel();
  if (focus) {
    panel.scrollIntoView({ block: 'nearest' });
    document.getElementById('copy-url').focus();
  }
}

function updatePanel() {
  if (!panelSuid || panel.hidden) return;
  const s = sessions.get(panelSuid);
  if (!s || s.state === 'ended') {
    panel.hidden = true;
    panelSuid = null;
    return;
  }
  const live = s.state === 'live';
  panel.dataset.state = s.state;
  document.getElementById('ticket-title').textContent = live ? 'The phone is connected' : 'Waiting for the phone';
  document.getElementById('ticket-waiting').hidden = live;
  document.getElementById('ticket-qr-box').hidden = live;
  document.getElementById('ticket-live').hidden = !live;
  document.getElementById('ticket-expiry').textContent = clock(ms(s.ticket_expires_at) - serverNow());
}

qr.addEventListener('error', () => {
  // The ticket was used or expired between rendering and loading: the panel updates itself.
  document.getElementById('ticket-qr-box').hidden = true;
});

document.getElementById('ticket-close').addEventListener('click', () => {
  panel.hidden = true;
  panelSuid = null;
  document.getElementById('new-label').focus();
});

wireCopy(document.getElementById('copy-url'), document.getElementById('device-url'));
document.getElementById('device-base').textContent = `${location.host}/d`;

document.getElementById('new-session-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const errorBox = document.getElementById('new-error');
  const button = e.target.querySelector('button[type=submit]');
  const label = document.getElementById('new-label');
  errorBox.textContent = '';
  button.disabled = true;
  try {
    const view = await api('/sessions', { method: 'POST', body: { kind: 'video', label: label.value.trim() || undefined } });
    sessions.set(view.suid, view);
    label.value = '';
    render();
    showTicket(view, true);
    announce(`Session created. Ticket ${view.ticket}.`);
  } catch (err) {
    if (err.status === 401) return toLogin();
    errorBox.textContent = refusal(err);
  } finally {
    button.disabled = false;
  }
});

/** Why a new session was refused, in words that say what to do about it. */
function refusal(err) {
  const body = err.body ?? {};
  if (err.status === 503 && err.code === 'busy') {
    return 'This server is busy right now; try again in a moment.';
  }
  if (err.status !== 429 || err.code !== 'limit_reached') return err.message;
  if (body.limit !== 'sessions') {
    const reason = err.message.charAt(0).toUpperCase() + err.message.slice(1);
    return `${reason.replace(/\.?$/, '.')} Ask your operator to raise the limit.`;
  }
  const sessionsOf = (n) => `${n} ${n === 1 ? 'session' : 'sessions'}`;
  const reached = body.value > body.max
    ? `Your account has ${sessionsOf(body.value)} open, more than its limit of ${body.max}.`
    : `Your account has reached its limit of ${sessionsOf(body.max)} open at once.`;
  return `${reached} End a session, or ask your operator to raise the limit.`;
}

async function endSession(suid) {
  const s = sessions.get(suid);
  const ok = await confirmDialog({
    title: 'End this session?',
    body: `${s?.label || 'This session'} ends for everyone: the phone stops streaming and its ticket stops working.`,
    confirmLabel: 'End session',
    danger: true,
  });
  if (!ok) return;
  try {
    const view = await api(`/sessions/${encodeURIComponent(suid)}`, { method: 'DELETE' });
    sessions.set(suid, view);
    render();
    announce('Session ended.');
  } catch (err) {
    if (err.status === 401) return toLogin();
    showPageError(err.message);
  }
}

hideEnded.addEventListener('change', () => {
  localStorage.setItem('sb.hideEnded', hideEnded.checked ? '1' : '');
  render();
});
hideEnded.checked = localStorage.getItem('sb.hideEnded') === '1';

// ---------- start ----------

async function main() {
  const user = await currentUser();
  setupTopbar(user);
  await refreshAll();
  showMain();
  connectEvents();
  pollLoop();
  setInterval(() => {
    for (const [suid, tr] of rows) {
      const s = sessions.get(suid);
      if (s) tick(tr, s);
    }
    updatePanel();
  }, 1000);
}

main().catch((e) => showPageError(e.message));
