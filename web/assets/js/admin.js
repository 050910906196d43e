// The admin page: totals, open sessions with an end button, endings by reason, recent call
// records and (for operators) every node with its load over the last hour, refreshed every 5 s.

import { api, currentUser, serverNow } from './api.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError } from './dom.js';
import { age, clock, deadlineLabel, deviceLabel, endReason, ms } from './format.js';

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
  setInterval(() => { refresh().catch((e) => showPageError(e.message)); }, REFRESH_MS);
}

main();
