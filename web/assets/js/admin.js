// The admin page: totals, open sessions with an end button, endings by reason, recent call
// records, an account's limits with what it uses (operators change them; account admins read
// their own) and, for operators, every node with its load over the last hour, refreshed every 5 s.

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

async function refresh() {
  const o = await api('/admin/overview');
  document.getElementById('scope').textContent = o.scope === 'all' ? '· all accounts' : '· your account';
  renderTotals(o.totals);
  renderSessions(o.sessions);
  renderEnds(o.last_hour, o.last_day);
  renderCdrs(o.recent_cdrs);
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
  await setupLimits(user);
  setInterval(() => {
    refresh().catch((e) => showPageError(e.message));
    refreshLimits();
  }, REFRESH_MS);
}

main();
