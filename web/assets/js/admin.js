// The admin page: totals, open sessions with an end button, endings by reason, recent call
// records, an account's limits with what it uses (operators change them; account admins read
// their own), the audit trail (who watched a session, what a user did, any filter), the
// node's object detector and, for operators, every node with its load over the last hour, refreshed every 5 s.

import { api, currentUser, serverNow } from './api.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError } from './dom.js';
import { age, clock, deadlineLabel, deviceLabel, endReason, ms, span } from './format.js';

const REFRESH_MS = 5000;
const SVG = 'http://www.w3.org/2000/svg';

function kpi(label, value, id) {
  return el('div', { class: 'kpi', 'data-testid': id },
    el('div', { class: 'value', text: String(value) }),
    el('div', { class: 'label', text: label }));
}

function renderTotals(t) {
  document.getElementById('totals').replaceChildren(
    kpi('Open sessions', t.open_sessions, 'kpi-open'),
    kpi('Live', t.live, 'kpi-live'),
    kpi('Waiting for a device', t.waiting, 'kpi-waiting'),
    kpi('Viewers', t.viewers, 'kpi-viewers'),
    kpi('Devices streaming', t.devices, 'kpi-devices'),
    kpi('Clinicians signed in', t.signed_in_users, 'kpi-users'),
    kpi('Average video rate', `${t.average_fps} fps`, 'kpi-fps'),
  );
}

async function endSession(s) {
  const ok = await confirmDialog({
    title: 'End this session?',
    body: `${s.label || s.suid} ends for everyone watching it, and its call record is written.`,
    confirmLabel: 'End session',
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/admin/sessions/${s.suid}/end`, { method: 'POST' });
    announce('Session ended.');
    await refresh();
  } catch (e) {
    showPageError(e.message);
  }
}

function renderSessions(sessions) {
  const body = document.querySelector('#active tbody');
  body.replaceChildren(...sessions.map((s) => {
    const left = s.deadline ? `${clock(ms(s.deadline.at) - serverNow())} · ${deadlineLabel(s.deadline.reason)}` : '—';
    return el('tr', { 'data-suid': s.suid },
      el('td', {}, el('a', { href: `/s/${s.suid}`, text: s.label || s.suid.slice(0, 8) })),
      el('td', { text: s.account_name || '' }),
      el('td', {}, el('span', { class: 'badge', 'data-state': s.state, text: s.state })),
      el('td', { text: deviceLabel(s.device) }),
      el('td', { text: String(s.viewers) }),
      el('td', { text: s.state === 'live' ? String(s.fps) : '—' }),
      el('td', { text: age(serverNow() - ms(s.created_at)) }),
      el('td', { text: left }),
      el('td', {}, el('button', { type: 'button', class: 'btn btn-sm btn-danger', onclick: () => endSession(s), text: 'End' })));
  }));
  document.getElementById('active-empty').hidden = sessions.length > 0;
}

function renderEnds(hour, day) {
  const reasons = new Set([...hour.by_reason, ...day.by_reason].map((r) => r.reason));
  const count = (ends, reason) => ends.by_reason.find((r) => r.reason === reason)?.count ?? 0;
  const rows = [...reasons].sort().map((reason) => el('tr', {},
    el('th', { scope: 'row', text: endReason(reason) }),
    el('td', { text: String(count(hour, reason)) }),
    el('td', { text: String(count(day, reason)) })));
  rows.push(el('tr', {},
    el('th', { scope: 'row', text: 'Timeouts' }),
    el('td', { text: String(hour.timeouts) }), el('td', { text: String(day.timeouts) })));
  rows.push(el('tr', {},
    el('th', { scope: 'row', text: 'Incomplete attempts' }),
    el('td', { text: String(hour.incomplete_attempts) }), el('td', { text: String(day.incomplete_attempts) })));
  document.querySelector('#ends tbody').replaceChildren(...rows);
}

function renderCdrs(cdrs) {
  document.querySelector('#cdrs tbody').replaceChildren(...cdrs.map((c) => el('tr', {},
    el('td', { text: new Date(c.ended_at).toLocaleString() }),
    el('td', { text: endReason(c.end_reason) }),
    el('td', { text: clock(c.duration_seconds * 1000) }),
    el('td', { text: String(c.frames) }),
    el('td', { text: String(c.peak_viewers) }))));
  document.getElementById('cdrs-empty').hidden = cdrs.length > 0;
}

/** A small line chart of CPU % and memory % over the samples, drawn as SVG. */
function chart(samples) {
  const w = 300;
  const h = 80;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const last = samples.at(-1);
  svg.setAttribute('aria-label', last
    ? `Load over the last hour; now CPU ${last.cpu_percent.toFixed(1)} %, memory ${last.memory_percent.toFixed(1)} %`
    : 'No load samples yet');
  const axis = document.createElementNS(SVG, 'line');
  for (const [k, v] of Object.entries({ x1: 0, y1: h - 1, x2: w, y2: h - 1, class: 'axis' })) axis.setAttribute(k, v);
  svg.append(axis);
  if (samples.length < 2) return svg;
  const t0 = ms(samples[0].at);
  const span = Math.max(1, ms(last.at) - t0);
  const max = Math.max(100, ...samples.map((s) => s.cpu_percent));
  for (const [field, cls] of [['cpu_percent', 'line-cpu'], ['memory_percent', 'line-mem']]) {
    const points = samples.map((s) => {
      const x = ((ms(s.at) - t0) / span) * w;
      const y = h - 2 - (Math.min(s[field], max) / max) * (h - 4);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke-width', '1.5');
    line.setAttribute('class', cls);
    svg.append(line);
  }
  return svg;
}

async function renderNodes(nodes) {
  const card = document.getElementById('nodes-card');
  card.hidden = nodes.length === 0;
  const boxes = await Promise.all(nodes.map(async ({ service, status }) => {
    let samples = [];
    if (service.running) {
      try {
        const q = new URLSearchParams({ service: service.id, minutes: '60' });
        samples = (await api(`/admin/history?${q}`)).samples;
      } catch {
        samples = [];
      }
    }
    const facts = status ? [
      ['CPU', `${status.cpu_percent.toFixed(1)} %`],
      ['Memory', `${(status.resident_bytes / 1048576).toFixed(1)} MiB (${status.memory_percent.toFixed(1)} %)`],
      ['Load', status.load.toFixed(2)],
      ['Sessions · viewers', `${status.sessions} · ${status.viewers}`],
      ['Up', clock(status.wall_seconds * 1000)],
    ] : [['Status', 'no samples']];
    return el('article', { class: 'node', 'data-testid': 'node' },
      el('h3', { text: `${service.node} · ${service.kind}` }),
      el('span', { class: 'badge', 'data-state': service.running ? 'live' : 'ended', text: service.running ? 'running' : 'stopped' }),
      el('dl', {}, ...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
      service.running ? chart(samples) : null,
      service.running ? el('p', { class: 'legend' },
        el('span', { class: 'cpu', text: '— CPU %' }), ' ', el('span', { class: 'mem', text: '— memory %' }), ' · last hour') : null);
  }));
  document.getElementById('nodes').replaceChildren(...boxes);
}

// ---------- limits ----------

// A bar turns to a warning past this share of its maximum.
const WARN_SHARE = 0.8;
const BINARY = [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
// The units a size may be typed in, as `bytesize` (and so the config and the CLI) reads them.
const SIZE_UNITS = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, ki: 2 ** 10, kib: 2 ** 10,
  m: 1e6, mb: 1e6, mi: 2 ** 20, mib: 2 ** 20,
  g: 1e9, gb: 1e9, gi: 2 ** 30, gib: 2 ** 30,
  t: 1e12, tb: 1e12, ti: 2 ** 40, tib: 2 ** 40,
};

const limits = {
  canEdit: false,
  accountId: null,
  view: null,
  // Whether the maximums on the form differ from the saved ones; a refresh then keeps them.
  dirty: false,
  // Requests are numbered so that an answer overtaken by a newer one (a save) is dropped.
  asked: 0,
  shown: 0,
  // The message of the last refresh, when it failed.
  refreshFailed: null,
};

const isSize = (l) => l.unit === 'bytes' || l.unit === 'bytes/s';

/** "512 B", "1.5 GiB": a size for reading, to one decimal. */
function bytes(n) {
  for (const [unit, size] of BINARY) {
    if (n >= size) return `${(n / size).toFixed(1).replace(/\.0$/, '')} ${unit}`;
  }
  return `${n} B`;
}

/** A value of limit `l` for reading: "3", "1.5 GiB", "2 MiB/s", "5 min". */
function amount(l, n) {
  if (l.unit === 'bytes') return bytes(n);
  if (l.unit === 'bytes/s') return `${bytes(n)}/s`;
  if (l.unit === 'seconds') return span(n * 1000);
  return String(n);
}

/** A value of limit `l` as typed in its field, exact so that saving it unchanged keeps it. */
function exact(l, n) {
  if (isSize(l)) {
    const found = BINARY.find(([, size]) => n >= size && n % size === 0);
    if (found) return `${n / found[1]} ${found[0]}`;
  }
  return String(n);
}

/** What was typed for limit `l`, as a whole number; throws a message to show when it is not. */
function parseAmount(l, text) {
  const name = capitalized(l.description);
  if (isSize(l)) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
    const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
    const value = unit === undefined ? NaN : Math.round(Number(m[1]) * unit);
    if (!Number.isSafeInteger(value)) {
      throw new Error(`${name}: "${text}" is not a size; write it like 512 MiB, 5 GiB or 1048576.`);
    }
    return value;
  }
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new Error(`${name}: "${text}" is not a whole number.`);
  }
  return value;
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** How full a limit is: "ok", "warn" (past 80 %) or "full" (at or past its maximum). */
function level(l) {
  if (l.value >= l.max) return 'full';
  return l.value > l.max * WARN_SHARE ? 'warn' : 'ok';
}

/** The bar and figures of what the account uses against one limit. */
function useCell(l) {
  const state = level(l);
  const over = l.value > l.max ? ' (over the limit)' : '';
  const text = `${amount(l, l.value)} of ${amount(l, l.max)}${over}`;
  const fill = el('div', { class: 'fill' });
  fill.style.setProperty('--fill', String(l.max > 0 ? Math.min(1, l.value / l.max) : 1));
  const bar = el('div', {
    class: 'bar',
    role: 'meter',
    'aria-labelledby': `limit-${l.limit}`,
    'aria-valuemin': '0',
    'aria-valuemax': String(l.max),
    'aria-valuenow': String(Math.min(l.value, l.max)),
    'aria-valuetext': text,
    'data-level': state,
    'data-testid': 'limit-bar',
  }, fill);
  return el('td', { class: 'use', 'data-col': 'use' },
    bar,
    el('span', { class: 'figures', 'data-level': state, 'data-testid': 'limit-figures', text }));
}

/** The row header: what the limit counts, its name, and whether it slows or refuses. */
function nameCell(l) {
  return el('th', { scope: 'row', id: `limit-${l.limit}` },
    capitalized(l.description),
    el('span', { class: 'sub mono', text: l.limit }),
    l.shaped ? el('span', { class: 'shaped', text: 'slowed, not refused' }) : null);
}

/** How a maximum of `l` is typed, when that is not just a count. */
function typingHint(l) {
  if (isSize(l)) return ' · e.g. 512 MiB, 5 GiB';
  return l.unit === 'seconds' ? ' · in seconds' : '';
}

/** The maximum: a field and "use default" for operators, the figure for everyone else. */
function maxCells(l) {
  if (!limits.canEdit) {
    return [el('td', { 'data-col': 'max' },
      amount(l, l.max),
      el('span', { class: 'sub', text: l.overridden ? `this account's own; default ${amount(l, l.default)}` : 'the default' }))];
  }
  const input = el('input', {
    id: `max-${l.limit}`,
    name: l.limit,
    autocomplete: 'off',
    inputmode: isSize(l) ? 'text' : 'numeric',
    placeholder: exact(l, l.default),
    value: l.overridden ? exact(l, l.max) : '',
    'aria-describedby': `default-${l.limit}`,
    'data-testid': 'limit-max',
  });
  const useDefault = el('input', { type: 'checkbox', id: `use-default-${l.limit}`, checked: !l.overridden, 'data-testid': 'use-default' });
  input.addEventListener('input', () => {
    useDefault.checked = input.value.trim() === '';
    limits.dirty = true;
  });
  useDefault.addEventListener('change', () => {
    if (useDefault.checked) input.value = '';
    else input.focus();
    limits.dirty = true;
  });
  return [
    el('td', { 'data-col': 'max' },
      el('label', { class: 'sr-only', for: input.id, text: `Maximum of ${l.description}` }),
      input,
      el('span', { class: 'sub', id: `default-${l.limit}`, text: `default ${amount(l, l.default)}${typingHint(l)}` })),
    el('td', { 'data-col': 'default' },
      el('label', { class: 'check', for: useDefault.id }, useDefault, 'Use default')),
  ];
}

/**
 * Shows an account's limits. Fields an operator is editing are kept across refreshes unless
 * `reset` (another account, or just saved); the bars always show the newest use.
 */
function renderLimits(view, { reset = false } = {}) {
  const body = document.querySelector('#limits tbody');
  const form = document.getElementById('limits-form');
  const keepFields = !reset && body.dataset.account === view.account_id
    && (limits.dirty || form.contains(document.activeElement));
  limits.view = view;
  document.getElementById('limits-off').hidden = view.enforced;
  if (keepFields) {
    for (const l of view.limits) body.querySelector(`tr[data-limit="${l.limit}"] td.use`)?.replaceWith(useCell(l));
    return;
  }
  limits.dirty = false;
  body.dataset.account = view.account_id;
  body.replaceChildren(...view.limits.map((l) => el('tr', { 'data-limit': l.limit, 'data-overridden': String(l.overridden) },
    nameCell(l), useCell(l), ...maxCells(l))));
}

/** Shows `view`, the answer to request number `seq`, unless a newer answer is shown already. */
function showLimits(seq, view, options) {
  // The operator may have picked another account while this was on its way.
  if (seq < limits.shown || view.account_id !== limits.accountId) return false;
  limits.shown = seq;
  renderLimits(view, options);
  return true;
}

async function loadLimits(options) {
  if (!limits.accountId) return;
  const seq = ++limits.asked;
  const view = await api(`/admin/accounts/${encodeURIComponent(limits.accountId)}/limits`);
  showLimits(seq, view, options);
}

async function refreshLimits() {
  const error = document.getElementById('limits-error');
  try {
    await loadLimits();
    // A failed refresh said so; the next good one takes that back (and only that).
    if (limits.refreshFailed && error.textContent === limits.refreshFailed) error.textContent = '';
    limits.refreshFailed = null;
  } catch (e) {
    error.textContent = e.message;
    limits.refreshFailed = e.message;
  }
}

async function pickAccount(id) {
  limits.accountId = id;
  document.getElementById('limits-error').textContent = '';
  document.getElementById('limits-saved').textContent = '';
  try {
    await loadLimits({ reset: true });
  } catch (e) {
    document.getElementById('limits-error').textContent = e.message;
  }
}

function accountOption(a) {
  return el('option', { value: a.id, text: a.own_limits ? `${a.name} · own limits` : a.name });
}

async function saveLimits(e) {
  e.preventDefault();
  const error = document.getElementById('limits-error');
  const saved = document.getElementById('limits-saved');
  error.textContent = '';
  saved.textContent = '';
  const own = {};
  try {
    for (const l of limits.view.limits) {
      const text = document.getElementById(`max-${l.limit}`).value.trim();
      const useDefault = document.getElementById(`use-default-${l.limit}`).checked;
      if (useDefault) continue;
      if (text === '') throw new Error(`${capitalized(l.description)}: give a maximum, or use the default.`);
      own[l.limit] = parseAmount(l, text);
    }
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  const button = e.target.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const id = limits.accountId;
    const view = await api(`/admin/accounts/${encodeURIComponent(id)}/limits`, { method: 'PUT', body: { limits: own } });
    // The saved limits are newer than any answer still on its way.
    if (!showLimits(++limits.asked, view, { reset: true })) return;
    const option = document.querySelector(`#limits-account option[value="${id}"]`);
    option?.replaceWith(accountOption({ id, name: view.account_name, own_limits: view.limits.some((l) => l.overridden) }));
    document.getElementById('limits-account').value = id;
    saved.textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
    announce(`Limits of ${view.account_name} saved.`);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

/** Sets the limits card up for `user`: operators pick any account and edit; admins read theirs. */
async function setupLimits(user) {
  limits.canEdit = user.role === 'operator';
  document.getElementById('limits-default-col').hidden = !limits.canEdit;
  document.getElementById('limits-actions').hidden = !limits.canEdit;
  document.getElementById('limits-lead').textContent = limits.canEdit
    ? 'Each account has the defaults of the server\'s [admission] settings unless it has its own maximum. A maximum below what is in use stops nothing that runs; new requests wait until use drops below it.'
    : 'Only operators change limits; ask yours to raise one your account keeps reaching.';
  let accounts;
  try {
    ({ accounts } = await api('/admin/accounts'));
  } catch (e) {
    document.getElementById('limits-error').textContent = e.message;
    return;
  }
  if (accounts.length === 0) return;
  if (limits.canEdit) {
    const select = document.getElementById('limits-account');
    select.replaceChildren(...accounts.map(accountOption));
    const own = accounts.find((a) => a.id === user.account_id) ?? accounts[0];
    select.value = own.id;
    select.addEventListener('change', () => pickAccount(select.value));
    document.getElementById('limits-picker').hidden = false;
    document.getElementById('limits-form').addEventListener('submit', saveLimits);
    document.getElementById('limits-undo').addEventListener('click', () => {
      document.getElementById('limits-error').textContent = '';
      if (limits.view) renderLimits(limits.view, { reset: true });
    });
    await pickAccount(own.id);
  } else {
    document.getElementById('limits-account-name').textContent = accounts[0].name;
    await pickAccount(accounts[0].id);
  }
}

// ---------- audit trail ----------

// Records asked for at a time; "Older records" asks for as many again.
const AUDIT_PAGE = 50;
// The span "what a user did" starts with, in days up to and including today.
const WEEK_DAYS = 7;
// A record's detail in its row is cut to this many characters; the whole shows on opening it.
const SUMMARY_CHARS = 90;
// Every audited action, in PROTOCOL.md's order ("Audit trail").
const AUDIT_ACTIONS = [
  'auth.sign_in', 'auth.second_factor', 'auth.sign_out', 'auth.sign_in_ended',
  'auth.password_changed', 'auth.password_reset', 'auth.username_changed',
  'auth.second_factor_enrolled', 'auth.second_factor_disabled', 'auth.security_rule_changed',
  'account.sign_up', 'account.deleted', 'user.created', 'user.deleted', 'invite.created',
  'session.created', 'session.ticket_redeemed', 'session.watch_started', 'session.watched',
  'session.frame_viewed', 'session.control_sent', 'session.ended',
  'camera.created', 'camera.changed', 'camera.live', 'camera.snapshot_viewed',
  'camera.thumbnail_viewed', 'camera.snapshot_read', 'camera.searched',
  'kernel.started', 'kernel.stopped', 'cell.run', 'cell.file_downloaded', 'cell.link_opened',
  'admin.limits_changed', 'audit.read', 'audit.exported', 'audit.pruned', 'keys.rotated',
];
const WATCHED = 'session.watched';

const audit = {
  // Usernames of the caller's account by user id, and ids by lower-cased username.
  names: new Map(),
  ids: new Map(),
  // Settles once the usernames are known (or could not be read), so rows name people.
  namesLoaded: Promise.resolve(),
  // The query of the records shown (without a cursor) and the `next` of their last page.
  query: null,
  next: null,
  // Whether the records shown are one session's viewings, in the viewings table.
  viewings: false,
  shown: 0,
  // Requests are numbered so that an answer overtaken by a newer question is dropped.
  asked: 0,
  // Opened records are numbered, for the rows their buttons control.
  opened: 0,
};

const two = (n) => String(n).padStart(2, '0');

/** A local date as a date field holds it: `2026-12-05`. */
function dateField(d) {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

/** A local time as a datetime-local field holds it: `2026-12-05T14:00`. */
function timeField(d) {
  return `${dateField(d)}T${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** Local midnight of the day a date field names, moved by `days`. */
function dayStart(value, days = 0) {
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + days);
}

/** The session ID in what was pasted: the ID itself, or the session's address. */
function suidOf(text) {
  const t = text.trim();
  return /\/s\/([^/?#\s]+)/.exec(t)?.[1] ?? t;
}

/** The id to ask for when `text` names an actor: a username of the account becomes its id. */
function actorId(text) {
  const t = text.trim();
  return audit.ids.get(t.toLowerCase()) ?? t;
}

/** Who acted, for reading: the username when the account has it, else the id. */
function actorLabel(actor) {
  if (!actor.id) return actor.kind === 'system' ? 'the server' : 'anonymous';
  return actor.kind === 'user' ? audit.names.get(actor.id) ?? actor.id : actor.id;
}

function when(ts) {
  const t = ms(ts);
  return Number.isNaN(t) ? '—' : new Date(t).toLocaleString();
}

/** How long a viewing lasted: "12.5 s", "4:05". */
function lasted(seconds) {
  if (typeof seconds !== 'number') return '—';
  if (seconds < 0.1) return '< 0.1 s';
  return seconds < 60 ? `${seconds.toFixed(1)} s` : clock(seconds * 1000);
}

function clip(text) {
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}

/** A record's detail in one short line: its plain fields, "reason: wrong_password · …". */
function detailSummary(r) {
  const d = r.detail;
  if (d === null || d === undefined) return '';
  if (typeof d !== 'object') return clip(String(d));
  if (r.action === WATCHED) return [lasted(d.seconds), d.route].filter(Boolean).join(' · ');
  return clip(Object.entries(d)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k.replaceAll('_', ' ')}: ${v}`)
    .join(' · '));
}

/** The button that opens a record in full, and the row it opens (hidden until then). */
function recordDetail(r, columns) {
  const id = `audit-record-${++audit.opened}`;
  const facts = [
    ['Node · number', `${r.node} · ${r.seq}`],
    ['Account', r.account ?? '—'],
    ['Request', r.request_id ?? '—'],
    ['Client', r.client ?? '—'],
    ['Hash', r.hash],
  ];
  const more = el('tr', { id, class: 'audit-more', hidden: true },
    el('td', { colspan: String(columns) },
      el('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { class: 'mono', text: v })])),
      el('pre', { class: 'audit-json', 'data-testid': 'audit-json', text: JSON.stringify(r.detail, null, 2) })));
  const button = el('button', {
    type: 'button', class: 'btn btn-sm btn-ghost', 'aria-expanded': 'false', 'aria-controls': id, text: 'Details',
  });
  button.addEventListener('click', () => {
    const open = more.hidden;
    more.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    button.textContent = open ? 'Hide' : 'Details';
  });
  return [el('td', { class: 'more-cell' }, button), more];
}

/** What was acted on: its kind, and its id (a user's name when the account has it). */
function targetCell(target) {
  if (!target) return el('td', { 'data-col': 'target', text: '—' });
  const name = target.kind === 'user' ? audit.names.get(target.id) : undefined;
  return el('td', { 'data-col': 'target' },
    el('span', { class: name ? 'id' : 'id mono', title: target.id, text: name ?? target.id }),
    el('span', { class: 'sub', text: target.kind }));
}

/** A record as a row of the records table, with its hidden full row. */
function recordRows(r) {
  const [button, more] = recordDetail(r, 7);
  const actor = actorLabel(r.actor);
  const row = el('tr', { 'data-testid': 'audit-row', 'data-action': r.action, 'data-outcome': r.outcome },
    el('td', { 'data-col': 'time' }, el('time', { datetime: r.at, text: when(r.at) })),
    el('td', { 'data-col': 'actor' },
      el('span', { class: actor === r.actor.id ? 'who id mono' : 'who', title: r.actor.id, text: actor }),
      r.actor.id ? el('span', { class: 'sub', text: r.actor.kind }) : null),
    el('td', { 'data-col': 'action', class: 'mono', text: r.action }),
    targetCell(r.target),
    el('td', { 'data-col': 'outcome' }, el('span', { class: 'outcome', 'data-outcome': r.outcome, text: r.outcome })),
    el('td', { 'data-col': 'detail', class: 'summary', text: detailSummary(r) }),
    button);
  return [row, more];
}

/** A `session.watched` record as a row of the viewings table, with its hidden full row. */
function viewingRows(r) {
  const d = r.detail && typeof r.detail === 'object' ? r.detail : {};
  const [button, more] = recordDetail(r, 7);
  const id = r.actor.kind === 'user' ? r.actor.id : undefined;
  const viewer = id
    ? el('button', {
      type: 'button', class: 'link who', title: `What this user did in the last ${WEEK_DAYS} days`,
      text: actorLabel(r.actor), onclick: () => askAboutUser(id),
    })
    : el('span', { class: 'who', text: actorLabel(r.actor) });
  const row = el('tr', { 'data-testid': 'viewing-row', 'data-viewer': r.actor.id ?? '' },
    el('td', { 'data-col': 'viewer' }, viewer),
    el('td', { 'data-col': 'started', text: when(d.started_at) }),
    el('td', { 'data-col': 'ended', text: when(d.ended_at ?? r.at) }),
    el('td', { 'data-col': 'seconds', text: lasted(d.seconds) }),
    el('td', { 'data-col': 'route', text: d.route ?? '—' }),
    el('td', { 'data-col': 'node', class: 'mono', text: r.node }),
    button);
  return [row, more];
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** What the records shown are, in a sentence. */
function auditStatus() {
  const more = audit.next ? '; older ones follow' : '';
  if (audit.viewings) {
    const of = audit.query.get('target') ? ` of session ${audit.query.get('target')}` : '';
    if (audit.shown === 0) {
      return `No ended viewings${of} on record. Someone watching now shows here once they stop.`;
    }
    return `${plural(audit.shown, 'viewing', 'viewings')}${of}, newest first${more}.`;
  }
  if (audit.shown === 0) return 'No records match these filters.';
  return `${plural(audit.shown, 'record', 'records')}, newest first${more}.`;
}

function renderAudit(page, fresh) {
  const viewings = document.querySelector('#audit-viewings tbody');
  const records = document.querySelector('#audit-records tbody');
  const rows = page.records.flatMap((r) => (audit.viewings ? viewingRows(r) : recordRows(r)));
  const body = audit.viewings ? viewings : records;
  if (fresh) {
    viewings.replaceChildren();
    records.replaceChildren();
    audit.shown = 0;
  }
  body.append(...rows);
  audit.shown += page.records.length;
  audit.next = page.next ?? null;
  document.getElementById('audit-viewings-wrap').hidden = !audit.viewings || audit.shown === 0;
  document.getElementById('audit-records-wrap').hidden = audit.viewings || audit.shown === 0;
  const older = document.getElementById('audit-older');
  older.hidden = !audit.next;
  older.disabled = false;
  const status = auditStatus();
  document.getElementById('audit-status').textContent = status;
  announce(status);
}

/** Asks for the first page of `audit.query` (`fresh`), or the page after the records shown. */
async function loadAudit(fresh) {
  const error = document.getElementById('audit-error');
  const status = document.getElementById('audit-status');
  const older = document.getElementById('audit-older');
  const q = new URLSearchParams(audit.query);
  if (!fresh) q.set('cursor', audit.next);
  const seq = ++audit.asked;
  error.textContent = '';
  older.disabled = true;
  if (fresh) status.textContent = 'Searching…';
  try {
    await audit.namesLoaded;
    const page = await api(`/audit?${q}`);
    if (seq === audit.asked) renderAudit(page, fresh);
  } catch (e) {
    if (seq !== audit.asked) return;
    error.textContent = e.message;
    older.disabled = false;
    if (fresh) {
      // Records of an earlier question would pass for answers to this one.
      document.querySelector('#audit-viewings tbody').replaceChildren();
      document.querySelector('#audit-records tbody').replaceChildren();
      document.getElementById('audit-viewings-wrap').hidden = true;
      document.getElementById('audit-records-wrap').hidden = true;
      older.hidden = true;
      audit.next = null;
      status.textContent = '';
    }
  }
}

/** The query of the filter form; times typed in local time go as UTC instants. */
function filterQuery() {
  const value = (id) => document.getElementById(id).value.trim();
  const q = new URLSearchParams();
  const set = (key, v) => { if (v) q.set(key, v); };
  set('account', value('audit-account'));
  set('action', value('audit-action'));
  set('actor', actorId(value('audit-actor')));
  set('target', value('audit-target'));
  for (const key of ['from', 'to']) {
    const v = value(`audit-${key}`);
    if (v) q.set(key, new Date(v).toISOString());
  }
  q.set('limit', String(AUDIT_PAGE));
  return q;
}

function searchAudit() {
  audit.query = filterQuery();
  audit.viewings = audit.query.get('action') === WATCHED;
  audit.next = null;
  return loadAudit(true);
}

/** Puts a question's filters on the form (the account picked stays), so they show and can be changed. */
function setFilters({ action = '', actor = '', target = '', from = '', to = '' }) {
  document.getElementById('audit-action').value = action;
  document.getElementById('audit-actor').value = actor;
  document.getElementById('audit-target').value = target;
  document.getElementById('audit-from').value = from;
  document.getElementById('audit-to').value = to;
}

function auditRefusal(message) {
  document.getElementById('audit-error').textContent = message;
}

function askWhoWatched(e) {
  e.preventDefault();
  const suid = suidOf(document.getElementById('audit-watched-suid').value);
  if (!suid) {
    auditRefusal('Paste the ID of a session first.');
    return;
  }
  setFilters({ action: WATCHED, target: suid });
  searchAudit();
}

function askWhatUserDid(e) {
  e?.preventDefault();
  const who = document.getElementById('audit-user').value.trim();
  if (!who) {
    auditRefusal('Give a username or a user ID first.');
    return;
  }
  const from = document.getElementById('audit-user-from').value;
  const to = document.getElementById('audit-user-to').value;
  setFilters({
    actor: who,
    from: from ? timeField(dayStart(from)) : '',
    // The day the range ends on is included: it runs until the next midnight.
    to: to ? timeField(dayStart(to, 1)) : '',
  });
  searchAudit();
}

/** Sets the user question's range to the last week, today included. */
function presetWeek() {
  const today = new Date();
  document.getElementById('audit-user-from').value = dateField(new Date(today.getFullYear(), today.getMonth(), today.getDate() - (WEEK_DAYS - 1)));
  document.getElementById('audit-user-to').value = dateField(today);
}

/** "What did this user do this week", asked from a viewer's name. */
function askAboutUser(id) {
  document.getElementById('audit-user').value = audit.names.get(id) ?? id;
  presetWeek();
  askWhatUserDid();
  document.getElementById('audit-user').focus();
}

function actionOptions() {
  const areas = new Map();
  for (const name of AUDIT_ACTIONS) {
    const area = name.split('.')[0];
    if (!areas.has(area)) areas.set(area, []);
    areas.get(area).push(el('option', { value: name, text: name }));
  }
  return [
    el('option', { value: '', text: 'Any action' }),
    ...[...areas].map(([area, options]) => el('optgroup', { label: area }, ...options)),
  ];
}

/** Learns the usernames of the caller's account, to name people instead of showing ids. */
async function loadUsernames(user) {
  const users = [user];
  try {
    users.push(...(await api('/account/users')).users);
  } catch {
    // Ids stand in for names; the records are still right.
  }
  for (const u of users) {
    audit.names.set(u.id, u.username);
    audit.ids.set(u.username.toLowerCase(), u.id);
  }
  document.getElementById('audit-usernames').replaceChildren(
    ...[...new Set(audit.names.values())].sort().map((name) => el('option', { value: name })));
}

/** Operators read every account's records, or one account's. */
async function loadAuditAccounts() {
  const select = document.getElementById('audit-account');
  select.replaceChildren(el('option', { value: '', text: 'Every account' }));
  document.getElementById('audit-account-field').hidden = false;
  try {
    const { accounts } = await api('/admin/accounts');
    select.append(...accounts.map((a) => el('option', { value: a.id, text: a.name })));
  } catch (e) {
    auditRefusal(e.message);
  }
}

/** Shows the audit trail's section to account admins and operators and wires its forms. */
function setupAudit(user) {
  if (user.role !== 'admin' && user.role !== 'operator') return;
  const operator = user.role === 'operator';
  document.getElementById('audit-scope').textContent = operator ? '· every account' : '· your account';
  document.getElementById('audit-action').replaceChildren(...actionOptions());
  presetWeek();
  document.getElementById('audit-watched-form').addEventListener('submit', askWhoWatched);
  document.getElementById('audit-user-form').addEventListener('submit', askWhatUserDid);
  document.getElementById('audit-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    searchAudit();
  });
  document.getElementById('audit-clear').addEventListener('click', () => {
    setFilters({});
    document.getElementById('audit-account').value = '';
    document.getElementById('audit-error').textContent = '';
  });
  document.getElementById('audit-older').addEventListener('click', () => loadAudit(false));
  audit.namesLoaded = loadUsernames(user);
  if (operator) loadAuditAccounts();
  document.getElementById('audit-card').hidden = false;
}

// The answering node's detector: what detects (model, backend, ONNX Runtime's library and
// how it was found) or why nothing does.
function renderDetector(d) {
  const rows = d.off_because
    ? [['Detection', 'off'], ['Why', d.off_because]]
    : [['Model', d.model], ['Backend', d.backend === 'onnxruntime' ? 'ONNX Runtime' : 'tract (pure Rust)'],
      ['Library', d.library || '—']];
  document.getElementById('detector').replaceChildren(...rows.flatMap(([k, v]) => [
    el('dt', { text: k }), el('dd', { text: v || '—', 'data-testid': `detector-${k.toLowerCase()}` }),
  ]));
}

async function refresh() {
  const o = await api('/admin/overview');
  document.getElementById('scope').textContent = o.scope === 'all' ? '· all accounts' : '· your account';
  renderTotals(o.totals);
  renderSessions(o.sessions);
  renderEnds(o.last_hour, o.last_day);
  renderCdrs(o.recent_cdrs);
  renderDetector(o.detector);
  await renderNodes(o.nodes);
  document.getElementById('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function main() {
  const user = await currentUser();
  setupTopbar(user);
  if (user.role !== 'admin' && user.role !== 'operator') {
    showPageError('The admin views are for account admins and operators.');
    return;
  }
  try {
    await refresh();
  } catch (e) {
    showPageError(e.message);
    return;
  }
  showMain();
  setupAudit(user);
  await setupLimits(user);
  setInterval(() => {
    refresh().catch((e) => showPageError(e.message));
    refreshLimits();
  }, REFRESH_MS);
}

main();
