// Taught objects on the cameras page: the list (where each was last seen, renaming,
// deleting, looking through the kept history) and teaching a new one from a picture.
import { api, serverNow } from './api.js';
import { announce, confirmDialog, el } from './dom.js';
import { age, ms } from './format.js';

const list = document.getElementById('taught-list');
const errorBox = document.getElementById('taught-error');
/** Taught objects by id, as last listed. */
const objects = new Map();
/** Items being renamed, so a refresh does not throw the typed name away. */
const renaming = new Set();
let onFailure = () => null;

function pct(score) {
  return `${Math.round(score * 100)}%`;
}

function ago(ts) {
  const text = age(serverNow() - ms(ts));
  return text === 'just now' ? text : `${text} ago`;
}

/** What the last look through the history says, or ''. */
function scanText(scan) {
  if (!scan) return '';
  const found = `found in ${scan.found} ${scan.found === 1 ? 'picture' : 'pictures'}`;
  if (scan.state === 'running') return `Looking through the history: ${scan.scanned} of ${scan.total} pictures, ${found}.`;
  if (scan.state === 'interrupted') return `The look through the history stopped after ${scan.scanned} of ${scan.total} pictures; ${found}.`;
  return `Looked through ${scan.scanned} older ${scan.scanned === 1 ? 'picture' : 'pictures'}: ${found}.`;
}

function seenText(o) {
  const m = o.latest_match;
  if (!m) return 'Not seen in any picture yet.';
  return `Last seen ${ago(m.taken_at)} by ${m.camera.name} · ${pct(m.score)} alike`;
}

function item(o) {
  const li = el('li', { class: 'taught', 'data-testid': 'taught-object', 'data-id': o.id });
  const m = o.latest_match;
  const picture = m
    ? el('img', { src: m.thumb_url, alt: `${o.name}, last seen by ${m.camera.name}`, loading: 'lazy' })
    : el('span', { class: 'taught-nopic', text: 'Not seen yet' });
  const name = renaming.has(o.id)
    ? renameForm(o)
    : el('h3', { class: 'taught-name', 'data-field': 'name', text: o.name });
  const scanning = o.scan?.state === 'running';
  li.append(
    el('div', { class: 'taught-picture' }, picture),
    el('div', { class: 'taught-body' },
      name,
      el('p', { class: 'taught-seen', 'data-field': 'seen', text: seenText(o) }),
      el('p', { class: 'taught-scan muted', 'data-field': 'scan', 'data-state': o.scan?.state ?? '', text: scanText(o.scan), hidden: !o.scan }),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'taught-rename', onclick: () => startRename(o.id) },
          'Rename', el('span', { class: 'sr-only', text: ` ${o.name}` })),
        el('button', {
          type: 'button', class: 'btn btn-sm', 'data-testid': 'taught-scan', disabled: scanning, onclick: () => scan(o.id),
        }, 'Look in history', el('span', { class: 'sr-only', text: ` for ${o.name}` })),
        el('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-testid': 'taught-delete', onclick: () => remove(o.id) },
          'Delete', el('span', { class: 'sr-only', text: ` ${o.name}` })))));
  return li;
}

function renameForm(o) {
  const input = el('input', { value: o.name, maxlength: '60', required: true, 'aria-label': `New name for ${o.name}`, 'data-testid': 'taught-new-name' });
  const form = el('form', { class: 'taught-rename' }, input,
    el('button', { type: 'submit', class: 'btn btn-primary btn-sm', 'data-testid': 'taught-rename-save' }, 'Save'),
    el('button', { type: 'button', class: 'btn btn-sm', onclick: () => { renaming.delete(o.id); render(); } }, 'Cancel'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const renamed = await api(`/taught-objects/${encodeURIComponent(o.id)}`, { method: 'PATCH', body: { name: input.value.trim() } });
      renaming.delete(o.id);
      objects.set(renamed.id, renamed);
      render();
      announce(`Renamed to ${renamed.name}.`);
    } catch (err) {
      if (onFailure(err) === null) errorBox.textContent = err.message;
    }
  });
  return form;
}

function startRename(id) {
  renaming.add(id);
  render();
  list.querySelector(`[data-id="${CSS.escape(id)}"] input`)?.focus();
}

async function scan(id) {
  errorBox.textContent = '';
  try {
    const started = await api(`/taught-objects/${encodeURIComponent(id)}/scan`, { method: 'POST' });
    objects.set(started.id, started);
    render();
    announce(`Looking through ${started.scan?.total ?? 0} older pictures for ${started.name}.`);
  } catch (err) {
    if (onFailure(err) === null) errorBox.textContent = err.message;
  }
}

async function remove(id) {
  const o = objects.get(id);
  if (!o) return;
  const ok = await confirmDialog({
    title: `Delete “${o.name}”?`,
    body: 'New pictures are no longer searched for it, and where it was found is forgotten.',
    confirmLabel: 'Delete',
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/taught-objects/${encodeURIComponent(id)}`, { method: 'DELETE' });
    objects.delete(id);
    render();
    announce(`${o.name} deleted.`);
  } catch (err) {
    if (onFailure(err) === null) errorBox.textContent = err.message;
  }
}

function render() {
  list.replaceChildren(...[...objects.values()].map(item));
  document.getElementById('taught-empty').hidden = objects.size > 0;
}

/** Reads the list again (the page's refresh loop calls it). */
export async function refreshTaught() {
  const answer = await api('/taught-objects');
  objects.clear();
  for (const o of answer.taught_objects) objects.set(o.id, o);
  document.getElementById('taught-count').textContent = `${objects.size} of ${answer.max}`;
  // Not while a name is being typed: that would take the field (and the focus) away.
  if (renaming.size === 0) render();
}

/** Sets what an API failure does first (e.g. going to the sign-in page on 401). */
export function onTaughtFailure(handler) {
  onFailure = handler;
}

/** Teaches the object inside `box` of a snapshot as `name`; resolves with it. */
export async function teach(snapshotId, box, name) {
  const taught = await api('/taught-objects', { method: 'POST', body: { snapshot_id: snapshotId, box, name } });
  objects.set(taught.id, taught);
  render();
  return taught;
}
