// /cameras: the account's cameras with their newest picture, adding cameras (the token is
// shown once), object search over the pictures (typed, or asked by voice), one picture
// with all its detections (where a box drawn and named teaches an object), the taught
// objects, and a live view of a camera.
// Images load with the sign-in cookie, like every <img> on this site.
import { api, currentUser, serverNow, toLogin } from './api.js';
import { announce, confirmDialog, copyText, el, setupTopbar, showMain, showPageError } from './dom.js';
import { age, ms } from './format.js';
import { boxDrawer } from './teach-box.js';
import { onTaughtFailure, refreshTaught, teach } from './taught.js';
import { canRecord, startRecording } from './voice.js';

/** How often the camera list is read again: cameras upload every few seconds. */
const REFRESH_MS = 5000;
const SEARCH_LIMIT = 24;

const cameras = new Map(); // id -> camera as listed
const cards = new Map(); // id -> <li>
const grid = document.getElementById('cameras');
const conn = document.getElementById('conn');
const cameraSelect = document.getElementById('search-camera');
/** States of the account's open sessions (suid -> state), for cameras that have one. */
let sessionStates = new Map();

function failed(err) {
  if (err.status === 401) return toLogin();
  return null;
}

function pct(confidence) {
  return `${Math.round(confidence * 100)}%`;
}

function when(ts) {
  const at = ms(ts);
  return Number.isNaN(at) ? '' : new Date(at).toLocaleString();
}

/** "12 s ago", "just now", or "never". */
function ago(ts) {
  if (!ts) return 'never';
  const text = age(serverNow() - ms(ts));
  return text === 'just now' ? text : `${text} ago`;
}

// ---------- the camera list ----------

async function refresh() {
  try {
    const { cameras: list, detecting, detector } = await api('/cameras');
    const seen = new Set();
    for (const c of list) {
      cameras.set(c.id, c);
      seen.add(c.id);
    }
    for (const id of [...cameras.keys()]) if (!seen.has(id)) cameras.delete(id);
    document.getElementById('detector-off').hidden = detecting !== false;
    // The server says why detection is off (no model file, or it failed to load).
    document.getElementById('detector-off-why').textContent =
      detector && detector.off_because ? `Why: ${detector.off_because}.` : '';
    // Only cameras with a live view open need their session's state.
    if (list.some((c) => c.live_suid)) {
      const { sessions } = await api('/sessions?state=waiting,live&limit=1000');
      sessionStates = new Map(sessions.map((s) => [s.suid, s.state]));
    } else {
      sessionStates = new Map();
    }
    render();
    await refreshTaught();
    conn.dataset.ok = 'true';
    conn.textContent = `Updated every ${REFRESH_MS / 1000} s`;
  } catch (e) {
    if (failed(e) === null) {
      conn.dataset.ok = 'false';
      conn.textContent = `Not updated: ${e.message}`;
    }
  }
}

function buildCard(id) {
  const li = el('li', { class: 'camera', 'data-id': id, 'data-testid': 'camera' });
  // The newest picture opens large, with its detections, and can be taught from.
  const frame = el('button', {
    type: 'button', class: 'camera-picture', 'data-testid': 'camera-open', disabled: true, onclick: () => openNewest(id),
  },
  el('img', { alt: '', 'data-testid': 'camera-img', hidden: true }),
  el('span', { class: 'camera-nopic', text: 'No picture yet' }));
  const body = el('div', { class: 'camera-body' },
    el('h3', { class: 'camera-name' }),
    el('dl', { class: 'camera-facts' },
      el('dt', { text: 'Last seen' }), el('dd', { 'data-field': 'seen' }),
      el('dt', { text: 'Uploads' }), el('dd', { 'data-field': 'uploads' })),
    el('p', { class: 'camera-live notice', 'data-field': 'live', hidden: true }),
    el('div', { class: 'actions' },
      el('button', {
        type: 'button', class: 'btn btn-primary btn-sm', 'data-testid': 'live', onclick: () => goLive(id),
      }),
      el('button', {
        type: 'button', class: 'btn btn-sm', 'data-testid': 'new-token', onclick: () => rotate(id),
      }, 'New token', el('span', { class: 'sr-only', 'data-field': 'token-name' }))));
  li.append(frame, body);
  return li;
}

/** Swaps the picture only once the new one has loaded, so a refresh never blanks it. */
function showPicture(li, c) {
  const img = li.querySelector('img');
  const url = c.last_snapshot_url;
  if (!url || img.dataset.url === url) return;
  img.dataset.url = url;
  const next = new Image();
  next.addEventListener('load', () => {
    // A newer picture may have been asked for meanwhile.
    if (img.dataset.url !== url) return;
    img.src = url;
    img.hidden = false;
    li.querySelector('.camera-nopic').hidden = true;
    li.querySelector('[data-testid=camera-open]').disabled = false;
  });
  next.addEventListener('error', () => {
    if (img.dataset.url === url) delete img.dataset.url;
  });
  next.src = url;
}

function updateCard(li, c) {
  li.querySelector('.camera-name').textContent = c.name;
  li.querySelector('img').alt = `Newest picture from ${c.name}`;
  li.querySelector('[data-field=token-name]').textContent = ` for ${c.name}`;
  const uploads = li.querySelector('[data-field=uploads]');
  uploads.textContent = typeof c.uploads_per_hour === 'number'
    ? `${c.uploads} · ${c.uploads_per_hour} in the last hour`
    : String(c.uploads);
  showPicture(li, c);

  const live = li.querySelector('[data-field=live]');
  const button = li.querySelector('[data-testid=live]');
  const state = c.live_suid ? sessionStates.get(c.live_suid) : undefined;
  if (state) {
    live.hidden = false;
    live.textContent = state === 'live'
      ? 'Live view on: pictures come in as the camera sends them.'
      : 'Live view waiting: the camera joins at its next upload.';
    button.textContent = 'Watch';
  } else {
    live.hidden = true;
    button.textContent = 'Live';
  }
  button.setAttribute('aria-label', `${button.textContent} ${c.name}`);
  tick(li, c);
}

/** The per-second figure: how long ago the camera was last heard from. */
function tick(li, c) {
  const seen = li.querySelector('[data-field=seen]');
  seen.textContent = ago(c.last_seen_at);
  seen.title = c.last_seen_at ? when(c.last_seen_at) : '';
}

function render() {
  for (const [id, li] of cards) {
    if (!cameras.has(id)) {
      li.remove();
      cards.delete(id);
    }
  }
  let prev = null;
  for (const c of cameras.values()) {
    let li = cards.get(c.id);
    if (!li) {
      li = buildCard(c.id);
      cards.set(c.id, li);
    }
    updateCard(li, c);
    // Keep the server's order without moving cards that are in place (keeps focus).
    const expected = prev ? prev.nextSibling : grid.firstChild;
    if (expected !== li) grid.insertBefore(li, expected);
    prev = li;
  }
  document.getElementById('cameras-empty').hidden = cameras.size > 0;
  fillCameraFilter();
}

function fillCameraFilter() {
  const chosen = cameraSelect.value;
  const wanted = [...cameras.values()].map((c) => `${c.id}\u0000${c.name}`).join('\u0001');
  if (cameraSelect.dataset.for === wanted) return;
  cameraSelect.dataset.for = wanted;
  cameraSelect.replaceChildren(el('option', { value: '', text: 'All cameras' }),
    ...[...cameras.values()].map((c) => el('option', { value: c.id, text: c.name })));
  cameraSelect.value = cameras.has(chosen) ? chosen : '';
}

// ---------- adding a camera and its token ----------

const tokenPanel = document.getElementById('token-panel');

function showToken(camera, token, fresh) {
  document.getElementById('token-title').textContent = fresh
    ? `Camera “${camera.name}” added`
    : `New token for “${camera.name}”`;
  document.getElementById('token-value').value = token;
  document.getElementById('token-command').value = [
    'switchboard camera',
    `--server ${location.origin}`,
    `--camera-id ${camera.id}`,
    `--token ${token}`,
    '--device /dev/video0 --every 5s',
  ].join(' ');
  document.getElementById('token-upload-url').textContent = `${location.origin}/api/v1/cameras/${camera.id}/snapshots`;
  tokenPanel.hidden = false;
  tokenPanel.scrollIntoView({ block: 'nearest' });
  document.getElementById('copy-token').focus();
}

function hideToken() {
  tokenPanel.hidden = true;
  // The token is not kept anywhere once the panel is closed.
  document.getElementById('token-value').value = '';
  document.getElementById('token-command').value = '';
  document.getElementById('add-name').focus();
}

function wireCopyButton(buttonId, inputId, what) {
  const button = document.getElementById(buttonId);
  const label = button.textContent;
  button.addEventListener('click', async () => {
    const input = document.getElementById(inputId);
    const ok = await copyText(input.value, input);
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    announce(ok ? `${what} copied` : `${what} selected; press Control C to copy`);
    setTimeout(() => { button.textContent = label; }, 1800);
  });
}

wireCopyButton('copy-token', 'token-value', 'Token');
wireCopyButton('copy-command', 'token-command', 'Command');
document.getElementById('token-done').addEventListener('click', hideToken);

document.getElementById('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const errorBox = document.getElementById('add-error');
  const button = e.target.querySelector('button[type=submit]');
  const name = document.getElementById('add-name');
  errorBox.textContent = '';
  button.disabled = true;
  try {
    const camera = await api('/cameras', { method: 'POST', body: { name: name.value.trim() } });
    const { token, upload_url: _, ...listed } = camera;
    cameras.set(camera.id, listed);
    name.value = '';
    render();
    showToken(camera, token, true);
    announce(`Camera ${camera.name} added. Copy its token now; it is shown only once.`);
  } catch (err) {
    if (failed(err) === null) errorBox.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});

async function rotate(id) {
  const camera = cameras.get(id);
  if (!camera) return;
  const ok = await confirmDialog({
    title: `New token for ${camera.name}?`,
    body: 'The current token stops working at once: the camera cannot upload until it is given the new one.',
    confirmLabel: 'Make a new token',
    danger: true,
  });
  if (!ok) return;
  try {
    const { token } = await api(`/cameras/${encodeURIComponent(id)}/token`, { method: 'DELETE' });
    showToken(camera, token, false);
    announce(`New token for ${camera.name}. Copy it now; it is shown only once.`);
  } catch (err) {
    if (failed(err) === null) showPageError(err.message);
  }
}

// ---------- live view ----------

async function goLive(id) {
  const li = cards.get(id);
  const button = li?.querySelector('[data-testid=live]');
  if (button) button.disabled = true;
  try {
    const session = await api(`/cameras/${encodeURIComponent(id)}/live`, { method: 'POST' });
    if (session.state === 'waiting') announce('Live view opened: the camera joins at its next upload.');
    location.assign(`/s/${encodeURIComponent(session.suid)}`);
  } catch (err) {
    if (failed(err) === null) showPageError(err.message);
    if (button) button.disabled = false;
  }
}

// ---------- search ----------

const results = document.getElementById('results');
let searchAbort = null;

/** "a", "a and b", "a, b and c". */
function words(list) {
  if (list.length < 2) return list.join('');
  return `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

function showUnknown(unknown, known) {
  const box = document.getElementById('search-unknown');
  box.hidden = unknown.length === 0;
  if (box.hidden) return;
  const names = words(unknown.map((w) => `“${w}”`));
  const verb = unknown.length === 1 ? 'is not something' : 'are not things';
  box.replaceChildren(
    el('p', { text: `${names} ${verb} the detector knows.` }),
    el('p', { class: 'known-labels', text: `It can find: ${known.join(', ')}.` }),
    el('p', { class: 'known-labels', text: 'Anything else can be taught: open a picture showing it and choose “Teach an object”.' }),
  );
}

function resultItem(r) {
  const name = r.camera?.name ?? 'camera';
  // A taught object's result says how alike it is; the thumbnail shows its box and score.
  const taught = typeof r.score === 'number';
  const button = el('button', {
    type: 'button', class: 'result', 'data-testid': 'result', 'data-snapshot': r.snapshot_id,
    'data-taught': taught ? r.taught_object_id : null,
    onclick: () => openSnapshot(r),
  },
  el('img', { src: r.thumb_url, alt: `${r.label} seen by ${name}`, loading: 'lazy' }),
  el('span', { class: 'result-caption' },
    el('strong', { text: taught ? `${r.label} · ${pct(r.score)} alike` : `${r.label} · ${pct(r.confidence)}` }),
    el('span', { class: 'result-meta', text: name }),
    el('time', { class: 'result-meta', datetime: r.taken_at, title: when(r.taken_at), text: ago(r.taken_at) })));
  return el('li', {}, button);
}

async function search(q, camera) {
  const errorBox = document.getElementById('search-error');
  errorBox.textContent = '';
  searchAbort?.abort();
  searchAbort = new AbortController();
  const params = new URLSearchParams({ q, limit: String(SEARCH_LIMIT) });
  if (camera) params.set('camera', camera);
  let answer;
  try {
    answer = await api(`/search?${params}`, { signal: searchAbort.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    if (failed(err) === null) errorBox.textContent = err.message;
    return;
  }
  showAnswer(answer);
}

/** Shows a search's answer (typed or spoken): what was not understood, then the pictures. */
function showAnswer(answer) {
  showUnknown(answer.unknown, answer.known_labels);
  results.replaceChildren(...answer.results.map(resultItem));
  const summary = document.getElementById('search-summary');
  const empty = document.getElementById('search-empty');
  const named = [...(answer.taught ?? []), ...answer.labels];
  const asked = words(named);
  summary.hidden = answer.results.length === 0;
  summary.textContent = `${answer.results.length} ${answer.results.length === 1 ? 'picture shows' : 'pictures show'} ${asked}, newest first.`;
  empty.hidden = answer.results.length > 0 || named.length === 0;
  empty.textContent = `No picture shows ${asked} yet. Pictures are searched as the cameras send them.`;
  if (answer.results.length) announce(summary.textContent);
  else if (named.length) announce(empty.textContent);
  else announce(document.getElementById('search-unknown').textContent);
}

document.getElementById('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = document.getElementById('search-q').value.trim();
  if (!q) return;
  // Keep the question in the address, so a reload or a shared link asks it again.
  const url = new URL(location.href);
  url.searchParams.set('q', q);
  if (cameraSelect.value) url.searchParams.set('camera', cameraSelect.value);
  else url.searchParams.delete('camera');
  history.replaceState(null, '', url);
  search(q, cameraSelect.value);
});

// ---------- asking by voice ----------

const voiceButton = document.getElementById('voice-button');
const voiceLabel = voiceButton.querySelector('[data-field=label]');
const voiceHeard = document.getElementById('voice-heard');
const voiceOff = document.getElementById('voice-off');
/** The recording under way, if any. */
let recorder = null;
/** The longest question the server takes, in seconds (it says so). */
let voiceMaxSeconds = 10;

function voiceUnavailable(why) {
  voiceButton.disabled = true;
  voiceOff.hidden = false;
  voiceOff.textContent = why;
}

/** Asks the server whether it takes voice questions, and the browser whether it can record. */
async function setupVoice() {
  if (!canRecord()) {
    voiceUnavailable('Asking by voice needs the microphone, which browsers allow only over HTTPS (or on this computer).');
    return;
  }
  try {
    const status = await api('/search/voice');
    if (!status.available) {
      voiceUnavailable(`Asking by voice is off on this server. ${status.off_because ?? ''}`.trim());
      return;
    }
    if (typeof status.max_seconds === 'number') voiceMaxSeconds = status.max_seconds;
    voiceButton.disabled = false;
  } catch (err) {
    if (failed(err) === null) voiceUnavailable(`Asking by voice is not available: ${err.message}`);
  }
}

function setListening(listening) {
  voiceButton.setAttribute('aria-pressed', String(listening));
  voiceButton.classList.toggle('listening', listening);
  voiceLabel.textContent = listening ? 'Stop and search' : 'Ask by voice';
}

/** Set while the microphone is being opened, so a second press does not open it twice. */
let opening = false;

async function startListening() {
  if (opening) return;
  opening = true;
  const errorBox = document.getElementById('search-error');
  errorBox.textContent = '';
  try {
    // A little under the server's bound, so a question cut by the timer is still taken.
    recorder = await startRecording({
      maxSeconds: Math.max(1, voiceMaxSeconds - 1),
      onAutoStop: () => { stopListening(); },
    });
  } catch (err) {
    recorder = null;
    errorBox.textContent = err.name === 'NotAllowedError'
      ? 'The microphone was not allowed. Allow it for this site to ask by voice.'
      : `The microphone cannot be used: ${err.message}`;
    return;
  } finally {
    opening = false;
  }
  setListening(true);
  voiceHeard.hidden = false;
  voiceHeard.textContent = 'Listening… say what you are looking for, then press the button again.';
  announce('Listening');
}

async function stopListening() {
  const current = recorder;
  if (!current) return;
  recorder = null;
  setListening(false);
  voiceButton.disabled = true;
  voiceHeard.textContent = 'Working out what you said…';
  const errorBox = document.getElementById('search-error');
  try {
    const wav = await current.stop();
    const params = new URLSearchParams({ limit: String(SEARCH_LIMIT) });
    if (cameraSelect.value) params.set('camera', cameraSelect.value);
    const answer = await api(`/search/voice?${params}`, { method: 'POST', body: wav });
    if (answer.transcript) {
      voiceHeard.textContent = `Heard: “${answer.transcript}”`;
      document.getElementById('search-q').value = answer.transcript;
      showAnswer(answer);
    } else {
      voiceHeard.textContent = answer.message ?? 'No question was heard.';
      announce(voiceHeard.textContent);
    }
  } catch (err) {
    voiceHeard.hidden = true;
    if (failed(err) !== null) return;
    if (err.code === 'voice_unavailable') voiceUnavailable(err.message);
    else errorBox.textContent = err.code === 'busy'
      ? 'The server is busy with other questions; try again in a moment.'
      : err.message;
  } finally {
    if (voiceOff.hidden) voiceButton.disabled = false;
  }
}

voiceButton.addEventListener('click', () => {
  if (recorder) stopListening();
  else startListening();
});

// ---------- one picture with all its detections ----------

const dialog = document.getElementById('snapshot-dialog');
const stageImg = document.getElementById('snapshot-img');
const boxes = document.getElementById('snap-boxes');
const detectionList = document.getElementById('detections');

/** A box on the picture; normalized boxes become percentages through custom properties. */
function boxOnPicture(b, text, cls) {
  const box = el('div', { class: cls }, el('span', { class: 'det-label', text }));
  box.style.setProperty('--x', String(b.x));
  box.style.setProperty('--y', String(b.y));
  box.style.setProperty('--w', String(b.w));
  box.style.setProperty('--h', String(b.h));
  return box;
}

/** Draws and lists the detections and the taught objects found in the picture. */
function drawDetections(detections, taught = []) {
  const sorted = [...detections].sort((a, b) => b.confidence - a.confidence);
  boxes.replaceChildren(
    ...sorted.map((d) => boxOnPicture(d.box, `${d.label} ${pct(d.confidence)}`, 'det-box')),
    ...taught.map((t) => boxOnPicture(t.box, `${t.name} ${pct(t.score)}`, 'det-box taught-found')),
  );
  detectionList.replaceChildren(
    ...taught.map((t) => el('li', { 'data-testid': 'taught-found' },
      el('span', { class: 'det-name', text: t.name }),
      el('span', { class: 'det-conf', text: `${pct(t.score)} alike` }))),
    ...sorted.map((d) => el('li', { 'data-testid': 'detection' },
      el('span', { class: 'det-name', text: d.label }),
      el('span', { class: 'det-conf', text: pct(d.confidence) }))));
  if (!sorted.length && !taught.length) detectionList.append(el('li', { class: 'muted', text: 'Nothing the detector knows.' }));
}

async function openSnapshot(result) {
  // Which picture the dialog shows, so a late answer for another one is ignored.
  dialog.dataset.snapshot = result.snapshot_id;
  const title = `${result.label} · ${result.camera?.name ?? ''}`;
  document.getElementById('snapshot-title').textContent = title;
  document.getElementById('snapshot-meta').textContent = `Taken ${when(result.taken_at)}`;
  document.getElementById('snapshot-error').textContent = '';
  stageImg.alt = `Picture from ${result.camera?.name ?? 'the camera'} showing ${result.label}`;
  stageImg.src = result.image_url;
  stopTeaching();
  // Until the full list arrives, the search hit itself is what we know.
  if (typeof result.score === 'number') drawDetections([], [{ name: result.label, score: result.score, box: result.box }]);
  else if (result.box) drawDetections([result]);
  else drawDetections([]);
  if (!dialog.open) dialog.showModal();
  try {
    const snap = await api(`/snapshots/${encodeURIComponent(result.snapshot_id)}`);
    if (dialog.dataset.snapshot !== result.snapshot_id) return;
    document.getElementById('snapshot-title').textContent = snap.camera?.name ?? title;
    document.getElementById('snapshot-meta').textContent = `Taken ${when(snap.taken_at)}`;
    drawDetections(snap.detections ?? [], snap.taught ?? []);
  } catch (err) {
    if (failed(err) === null) {
      document.getElementById('snapshot-error').textContent = `Only the match is shown: ${err.message}`;
    }
  }
}

/** Opens a camera's newest picture large, where an object in it can be taught. */
function openNewest(id) {
  const c = cameras.get(id);
  if (!c?.last_snapshot_id) return;
  openSnapshot({
    snapshot_id: c.last_snapshot_id,
    camera: { id: c.id, name: c.name },
    taken_at: c.last_snapshot_at,
    label: 'newest picture',
    image_url: c.last_snapshot_url,
  });
}

// ---------- teaching an object: a box drawn on the picture, and a name ----------

const teachStartButton = document.getElementById('teach-start');
const teachForm = document.getElementById('teach-form');
const teachName = document.getElementById('teach-name');
const teachHint = document.getElementById('teach-hint');
const teachError = document.getElementById('teach-error');
const drawer = boxDrawer(document.getElementById('snap-stage'), document.getElementById('teach-box'), (box) => {
  teachHint.textContent = box
    ? 'Now name it, e.g. “my keys”. Drag again to redraw the box.'
    : 'Drag a box around the object on the picture, then name it.';
  if (box) teachName.focus();
});

function stopTeaching() {
  drawer.disable();
  drawer.clear();
  teachForm.hidden = true;
  teachStartButton.hidden = false;
  teachError.textContent = '';
}

teachStartButton.addEventListener('click', () => {
  teachForm.hidden = false;
  teachStartButton.hidden = true;
  teachName.value = '';
  teachError.textContent = '';
  teachHint.textContent = 'Drag a box around the object on the picture, then name it.';
  drawer.enable();
  announce('Drag a box around the object on the picture, then name it.');
});
document.getElementById('teach-cancel').addEventListener('click', stopTeaching);
teachForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const box = drawer.box();
  const snapshot = dialog.dataset.snapshot;
  teachError.textContent = '';
  if (!box) {
    teachError.textContent = 'Drag a box around the object on the picture first.';
    return;
  }
  const button = teachForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const taught = await teach(snapshot, box, teachName.value.trim());
    stopTeaching();
    announce(`${taught.name} taught. New pictures are searched for it.`);
    teachHint.textContent = '';
    document.getElementById('snapshot-error').textContent = '';
    detectionList.prepend(el('li', { class: 'notice', 'data-testid': 'taught-done', text: `Taught “${taught.name}”: new pictures are searched for it.` }));
  } catch (err) {
    if (failed(err) === null) teachError.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});

dialog.addEventListener('close', () => {
  delete dialog.dataset.snapshot;
  stageImg.removeAttribute('src');
  boxes.replaceChildren();
  stopTeaching();
});
// A click on the backdrop (outside the dialog's box) closes it.
dialog.addEventListener('click', (e) => {
  if (e.target !== dialog) return;
  const r = dialog.getBoundingClientRect();
  const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
  if (!inside) dialog.close();
});

// ---------- start ----------

async function main() {
  onTaughtFailure(failed);
  const user = await currentUser();
  setupTopbar(user);
  await refresh();
  await setupVoice();
  showMain();
  const params = new URLSearchParams(location.search);
  const q = params.get('q');
  if (q) {
    document.getElementById('search-q').value = q;
    const camera = params.get('camera') ?? '';
    if (cameras.has(camera)) cameraSelect.value = camera;
    search(q, cameraSelect.value);
  }
  // One refresh at a time: the next starts when the last has answered.
  const loop = () => setTimeout(async () => {
    await refresh();
    loop();
  }, REFRESH_MS);
  loop();
  setInterval(() => {
    for (const [id, li] of cards) {
      const c = cameras.get(id);
      if (c) tick(li, c);
    }
  }, 1000);
}

main().catch((e) => showPageError(e.message));
