// /s/{suid}: the viewmaster. Frames arrive as binary messages on the watch socket and are
// drawn on a canvas; text messages carry the session's events. The socket reconnects by
// itself after a drop or a server restart. When the phone publishes over WebRTC (and this
// browser can), the video and sound play over WHEP instead, the socket carries events only,
// and the Talk button sends the clinician's voice to the phone; MJPEG-over-socket is the
// fallback (`?webrtc=0` keeps to it).
import { api, backoff, currentUser, serverNow, toLogin, wsUrl } from './api.js';
import { hangUp, negotiate, rtcConfiguration, webrtcAvailable } from './whip.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError } from './dom.js';
import { clock, deadlineLabel, endReason, ms } from './format.js';

const suid = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const $ = (id) => document.getElementById(id);
const canvas = $('video');
const ctx = canvas.getContext('2d');
const stage = canvas.parentElement;
const overlay = $('overlay');

let view = null; // the latest SessionView
let ended = false;
let ws = null;
let attempts = 0;
const usernames = new Map(); // user id -> username
let deviceStatus = {}; // the latest status the phone reported, merged
const rtcVideo = $('rtc-video');
const jpegOnly = new URLSearchParams(location.search).get('webrtc') === '0';
let player = null; // the WebRTC player, while there is one
let playerFailedAt = 0; // when WHEP last failed: no new try for a while, unless told to
const RETRY_WHEP_MS = 15000;

// ---------- the session view (timestamps, device, deadline) ----------

async function loadSession() {
  try {
    view = await api(`/sessions/${encodeURIComponent(suid)}`);
  } catch (e) {
    if (e.status === 401) return toLogin();
    if (e.status === 404) {
      ended = true;
      ws?.close();
      showPageError('There is no such session in your account.');
      return;
    }
    return; // Transient; the next refresh tries again.
  }
  const name = view.label || 'Untitled session';
  $('title').textContent = name;
  document.title = `${name} · Switchboard`;
  const d = view.device ?? {};
  $('dev-model').textContent = d.model || '—';
  $('dev-os').textContent = d.os || '—';
  $('dev-app').textContent = [d.client, d.app_version].filter(Boolean).join(' ') || '—';
  if (view.state !== 'ended') setViewers(view.viewers, view.viewer_names ?? []);
  if (view.state === 'ended') showEnded(view.end_reason);
  else setState(view.state);
  if (view.webrtc && !ended && Date.now() - playerFailedAt > RETRY_WHEP_MS) startPlayer();
  renderTraffic(view.traffic);
  renderClock();
}

/** Bytes as people read them: 1.2 MB. */
function megabytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

/** Each path the session used, with what came in and went out on it (as its CDR will say). */
function renderTraffic(traffic) {
  if (!traffic) return;
  const parts = [['JPEG', traffic.jpeg], ['WebRTC', traffic.webrtc]]
    .filter(([, t]) => t.frames_in || t.bytes_in || t.bytes_out)
    .map(([name, t]) => `${name}: ${megabytes(t.bytes_in)} in, ${megabytes(t.bytes_out)} out`);
  $('traffic').textContent = parts.length ? parts.join(' · ') : '—';
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { if (!ended) loadSession(); }, 250);
}

function setState(state) {
  const badge = $('state');
  badge.dataset.state = state;
  badge.textContent = state;
  const live = state === 'live';
  for (const c of document.querySelectorAll('[data-control]')) c.disabled = !live || ended;
  if (!ended) {
    if (state === 'waiting') overlay.textContent = 'Waiting for the phone to join…';
    else if (canvas.dataset.empty === 'true') overlay.textContent = 'Connected; waiting for the first frame…';
  }
}

/** Session clock and the next timeout, once a second. */
let lastFrameServerTime = null;
function renderClock() {
  if (!view) return;
  const now = serverNow();
  if (view.state === 'ended' || ended) {
    const from = ms(view.live_at ?? view.created_at);
    $('clock-label').textContent = 'Lasted';
    $('clock').textContent = view.ended_at ? clock(ms(view.ended_at) - from) : '—';
    $('deadline').textContent = '—';
    return;
  }
  const live = view.state === 'live';
  $('clock-label').textContent = live ? 'Live for' : 'Waiting for';
  $('clock').textContent = clock(now - ms(live ? view.live_at : view.created_at));
  const dl = view.deadline;
  if (!dl) {
    $('deadline').textContent = '—';
    return;
  }
  let at = ms(dl.at);
  if (dl.reason === 'device_idle' && view.last_frame_at && lastFrameServerTime) {
    // The idle clock restarts with every frame; we see frames as they come.
    at = Math.max(at, lastFrameServerTime + (at - ms(view.last_frame_at)));
  }
  $('deadline').textContent = `${clock(at - now)} · ${deadlineLabel(dl.reason)}`;
  $('deadline').title = new Date(at).toLocaleString();
}

// ---------- frames ----------

let framesReceived = 0;
let decoding = false;
let queued = null; // the newest frame that arrived while one was decoding
let lastBlob = null;
const recent = []; // the last few decoded frames, to find a snapshot among them
let pendingSnapshot = null;

function onFrame(data) {
  framesReceived += 1;
  $('frames').textContent = String(framesReceived);
  lastFrameServerTime = serverNow();
  if (decoding) {
    queued = data; // Older queued frames are simply skipped.
    return;
  }
  draw(data);
}

async function draw(data) {
  decoding = true;
  try {
    const blob = new Blob([data], { type: 'image/jpeg' });
    const bitmap = await createImageBitmap(blob);
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      stage.style.aspectRatio = `${bitmap.width} / ${bitmap.height}`;
      $('resolution').textContent = `${bitmap.width}×${bitmap.height}`;
    }
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    lastBlob = blob;
    recent.push({ blob, width: canvas.width, height: canvas.height });
    if (recent.length > 4) recent.shift();
    if (canvas.dataset.empty === 'true') {
      canvas.dataset.empty = 'false';
      $('save-frame').disabled = false;
    }
    if (!ended) overlay.textContent = '';
    if (pendingSnapshot) matchSnapshot();
  } catch {
    // A frame that does not decode is skipped; the next one replaces it anyway.
  } finally {
    decoding = false;
    if (queued) {
      const next = queued;
      queued = null;
      draw(next);
    }
  }
}

// ---------- the watch socket ----------

function setConn(text) {
  $('conn').textContent = text;
}

function connect() {
  if (ended) return;
  // While WebRTC plays, the WHEP peer is this page's viewer: the socket carries events only.
  const query = player?.playing ? '?frames=false' : '';
  const socket = new WebSocket(wsUrl(`/api/v1/sessions/${encodeURIComponent(suid)}/watch${query}`));
  socket.binaryType = 'arraybuffer';
  ws = socket;
  socket.addEventListener('open', () => {
    attempts = 0;
    setConn('');
  });
  socket.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') {
      onFrame(e.data);
      return;
    }
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    onEvent(event);
  });
  socket.addEventListener('close', async (e) => {
    if (ws !== socket || ended) return;
    // 1000: the session ended. Anything else: find out where things stand, then retry.
    await loadSession();
    if (ended || view?.state === 'ended') return;
    const wait = (e.code === 1012 ? 500 : 0) + backoff(attempts++);
    overlay.textContent = e.code === 1012 ? 'The server is restarting; reconnecting…' : 'Connection lost; reconnecting…';
    setConn('Reconnecting…');
    setTimeout(connect, wait);
  });
}

function onEvent(ev) {
  switch (ev.type) {
    case 'hello':
      setViewers(ev.viewers, null);
      reloadSoon();
      break;
    case 'state':
      if (ev.state === 'ended') {
        if (view) view.state = 'ended';
        showEnded(ev.reason);
        loadSession();
      } else {
        addLog(ev.state === 'live' ? 'The phone joined.' : `State: ${ev.state}`);
        loadSession();
      }
      break;
    case 'viewers':
      setViewers(ev.count, ev.names);
      reloadSoon(); // Who watches decides which timeout applies next.
      break;
    case 'stats':
      onStats(ev);
      break;
    case 'device':
      onDeviceStatus(ev.status);
      break;
    case 'control':
      onControl(ev.control);
      break;
    case 'webrtc':
      if (ev.publishing) startPlayer();
      else stopPlayer();
      break;
    default:
      break;
  }
}

function setViewers(count, names) {
  $('viewers').textContent = String(count);
  if (names) $('viewer-names').textContent = names.length ? `(${names.join(', ')})` : '';
}

let lastBytes = null;
function onStats(s) {
  $('fps').textContent = s.fps.toFixed(1);
  $('total-frames').textContent = String(s.frames);
  if (lastBytes !== null) $('rate').textContent = String(Math.max(0, Math.round((s.bytes - lastBytes) / 1024)));
  lastBytes = s.bytes;
  $('viewers').textContent = String(s.viewers);
}

// ---------- what the phone reports ----------

function onDeviceStatus(status) {
  if (!status || typeof status !== 'object') {
    addLog(`Phone: ${String(status)}`);
    return;
  }
  const wasPaused = deviceStatus.paused === true;
  deviceStatus = { ...deviceStatus, ...status };
  const s = deviceStatus;
  if (s.camera) $('dev-camera').textContent = s.camera === 'back' ? 'back' : s.camera === 'front' ? 'front' : s.camera;
  if (s.torch !== undefined) {
    $('dev-torch').textContent = s.torch === 'unsupported' ? 'not available' : s.torch ? 'on' : 'off';
    $('ctl-torch').setAttribute('aria-pressed', String(s.torch === true));
  }
  if (s.width && s.height) {
    const q = s.quality ? ` · q ${Math.round(s.quality * 100)}%` : '';
    $('dev-stream').textContent = `${s.width}×${s.height} @ ${s.fps ?? '?'} fps${q}${s.paused ? ' · paused' : ''}`;
  }
  if (status.paused === true && !wasPaused) addLog('The patient paused the video.');
  if (status.paused === false && wasPaused) addLog('The patient resumed the video.');
  if (status.result) {
    const r = status.result;
    const action = String(r.action ?? 'control').replaceAll('_', ' ');
    addLog(`Phone: ${action}${r.ok ? '' : ' failed'}${r.detail ? ` — ${r.detail}` : ''}`);
  }
  if (status.snapshot) {
    pendingSnapshot = { ...status.snapshot, until: Date.now() + 5000 };
    if (player?.playing) fetchSnapshot();
    else matchSnapshot();
  }
}

/** With WebRTC the socket brings no frames: the snapshot is the session's newest JPEG. */
async function fetchSnapshot() {
  while (pendingSnapshot && Date.now() < pendingSnapshot.until) {
    await new Promise((r) => setTimeout(r, 300));
    try {
      const resp = await fetch(`/api/v1/sessions/${encodeURIComponent(suid)}/frame.jpg`, { cache: 'no-store' });
      if (!resp.ok) continue;
      const blob = await resp.blob();
      const bitmap = await createImageBitmap(blob);
      recent.push({ blob, width: bitmap.width, height: bitmap.height });
      bitmap.close();
      if (recent.length > 4) recent.shift();
      matchSnapshot();
    } catch {
      // Try again until the snapshot's time is up.
    }
  }
}

function matchSnapshot() {
  if (!pendingSnapshot) return;
  if (Date.now() > pendingSnapshot.until) {
    pendingSnapshot = null;
    return;
  }
  const found = [...recent].reverse().find((f) => f.width === pendingSnapshot.width && f.height === pendingSnapshot.height);
  if (!found) return;
  pendingSnapshot = null;
  const url = URL.createObjectURL(found.blob);
  const at = new Date();
  const name = `snapshot-${at.toISOString().replaceAll(':', '-').slice(0, 19)}.jpg`;
  $('snapshots').prepend(el('a', { href: url, download: name, title: `Download ${name}` },
    el('img', { src: url, alt: `Snapshot, ${found.width}×${found.height}, taken ${at.toLocaleTimeString()}` })));
  $('snapshots-box').hidden = false;
  addLog(`Snapshot received (${found.width}×${found.height}).`);
}

function describe(c) {
  const a = c.args ?? {};
  switch (c.action) {
    case 'message': return `message “${a.text ?? ''}”`;
    case 'torch': return `torch ${a.on ? 'on' : 'off'}`;
    case 'switch_camera': return a.facing ? `switch to the ${a.facing === 'user' ? 'front' : 'back'} camera` : 'switch camera';
    case 'quality': return `quality ${Math.round((a.quality ?? 0) * 100)}%, ${a.fps ?? '?'} fps${a.width ? `, ${a.width} px` : ''}`;
    default: return c.action.replaceAll('_', ' ');
  }
}

function onControl(c) {
  const who = usernames.get(c.sent_by) ?? 'A viewer';
  addLog(`${who}: ${describe(c)}`);
}

function addLog(text) {
  const log = $('log');
  const now = new Date();
  log.prepend(el('li', {}, el('time', { datetime: now.toISOString(), text: now.toLocaleTimeString() }), text));
  while (log.children.length > 50) log.lastChild.remove();
}

// ---------- controls ----------

async function sendControl(action, args = {}) {
  const errorBox = $('control-error');
  errorBox.textContent = '';
  try {
    await api(`/sessions/${encodeURIComponent(suid)}/controls`, { method: 'POST', body: { action, args } });
    return true;
  } catch (e) {
    if (e.status === 401) return toLogin();
    errorBox.textContent = e.message;
    if (e.status === 410) loadSession();
    return false;
  }
}

$('ctl-switch').addEventListener('click', () => {
  const facing = deviceStatus.camera === 'front' ? 'environment' : deviceStatus.camera === 'back' ? 'user' : undefined;
  sendControl('switch_camera', facing ? { facing } : {});
});
$('ctl-torch').addEventListener('click', () => {
  const on = $('ctl-torch').getAttribute('aria-pressed') !== 'true';
  sendControl('torch', { on });
});
$('ctl-snapshot').addEventListener('click', async () => {
  if (await sendControl('snapshot', {})) announce('Snapshot requested.');
});
$('quality-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sendControl('quality', {
    quality: Number($('q-quality').value),
    fps: Number($('q-fps').value),
    width: Number($('q-width').value),
  });
});
$('message-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('message-text');
  const text = input.value.trim();
  if (!text) {
    input.focus();
    return;
  }
  if (await sendControl('message', { text })) {
    input.value = '';
    announce('Message sent.');
  }
});

$('save-frame').addEventListener('click', async () => {
  if (player?.playing && rtcVideo.videoWidth) {
    // The picture on screen, as a JPEG.
    const c = document.createElement('canvas');
    c.width = rtcVideo.videoWidth;
    c.height = rtcVideo.videoHeight;
    c.getContext('2d').drawImage(rtcVideo, 0, 0);
    lastBlob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.92));
  }
  if (!lastBlob) return;
  const url = URL.createObjectURL(lastBlob);
  const a = el('a', { href: url, download: `frame-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.jpg` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

$('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else stage.requestFullscreen?.().catch(() => {});
});

$('end').addEventListener('click', async () => {
  const ok = await confirmDialog({
    title: 'End this session?',
    body: 'The phone stops streaming, everyone watching is disconnected, and the session cannot be resumed.',
    confirmLabel: 'End session',
    danger: true,
  });
  if (!ok) return;
  try {
    view = await api(`/sessions/${encodeURIComponent(suid)}`, { method: 'DELETE' });
    showEnded(view.end_reason);
  } catch (e) {
    if (e.status === 401) return toLogin();
    $('control-error').textContent = e.message;
  }
});

function showEnded(reason) {
  const first = !ended;
  ended = true;
  const badge = $('state');
  badge.dataset.state = 'ended';
  badge.textContent = 'ended';
  overlay.textContent = `Session ended — ${endReason(reason)}.`;
  for (const c of document.querySelectorAll('[data-control]')) c.disabled = true;
  $('end').disabled = true;
  $('fps').textContent = '0.0';
  setConn('');
  if (first) {
    addLog(`Session ended — ${endReason(reason)}.`);
    announce(`The session ended: ${endReason(reason)}.`);
  }
  const socket = ws;
  ws = null;
  socket?.close(1000);
  stopPlayer({ hangUp: false }); // The server ended the peer with the session.
  renderClock();
}

// ---------- WebRTC: video and sound over WHEP, the Talk button ----------

/** Opens the watch socket again (with or without frames, as `player` now says). */
function reopenSocket() {
  const old = ws;
  ws = null;
  old?.close(1000);
  connect();
}

class WebRtcPlayer {
  constructor() {
    this.pc = null;
    this.location = null;
    this.playing = false;
    this.closed = false;
    this.mic = null;
    this.talking = false;
    this.frames = 0;
  }

  async start() {
    const asked = performance.now();
    const ice = await api('/webrtc/ice-servers').catch(() => null);
    if (this.closed) return;
    const pc = new RTCPeerConnection(rtcConfiguration(ice));
    this.pc = pc;
    window.sbViewerPc = pc; // the browser test reads which path the media took
    pc.addTransceiver('video', { direction: 'recvonly' });
    this.audio = pc.addTransceiver('audio', { direction: 'sendrecv' });
    const remote = new MediaStream();
    pc.addEventListener('track', (e) => {
      remote.addTrack(e.track);
      rtcVideo.srcObject = remote;
      rtcVideo.play().catch(() => {});
      if (e.track.kind === 'audio') window.sbRemoteAudio = e.track; // the browser test listens
    });
    pc.addEventListener('connectionstatechange', () => {
      const state = pc.connectionState;
      if ((state === 'failed' || state === 'closed') && !this.closed) stopPlayer();
    });
    // Each step of joining, in ms from asking to play (ICE servers, then WHEP): what a slow
    // start spent its time on (the browser test prints it).
    const timeline = [];
    const mark = (what) => {
      timeline.push(`${what}@${Math.round(performance.now() - asked)}`);
      rtcVideo.dataset.timeline = timeline.join(' ');
    };
    pc.addEventListener('iceconnectionstatechange', () => mark(`ice:${pc.iceConnectionState}`));
    pc.addEventListener('connectionstatechange', () => mark(`pc:${pc.connectionState}`));
    pc.addEventListener('track', (e) => mark(`track:${e.track.kind}`));
    const onFrame = () => {
      if (this.closed) return;
      this.frames += 1;
      // How long the first picture took from asking to play (the browser test reads it).
      if (this.frames === 1) {
        rtcVideo.dataset.firstFrameMs = String(Math.round(performance.now() - asked));
        mark('picture');
      }
      rtcVideo.dataset.frames = String(this.frames);
      if (!this.playing) this.showing();
      framesReceived += 1;
      $('frames').textContent = String(framesReceived);
      rtcVideo.requestVideoFrameCallback(onFrame);
    };
    if (rtcVideo.requestVideoFrameCallback) rtcVideo.requestVideoFrameCallback(onFrame);
    else rtcVideo.addEventListener('playing', () => this.showing(), { once: true });
    this.location = await negotiate(pc, `/api/v1/sessions/${encodeURIComponent(suid)}/whep`);
    mark('answered');
  }

  /** The first picture arrived: the video replaces the canvas, the socket drops its frames. */
  showing() {
    this.playing = true;
    rtcVideo.hidden = false;
    canvas.hidden = true;
    overlay.textContent = '';
    $('path').textContent = 'WebRTC';
    $('talk').disabled = false;
    $('save-frame').disabled = false;
    if (rtcVideo.videoWidth) $('resolution').textContent = `${rtcVideo.videoWidth}×${rtcVideo.videoHeight}`;
    reopenSocket();
  }

  /** Push to talk: the microphone goes to the phone while `on`. */
  async talk(on) {
    if (on && !this.mic) {
      this.mic = (await navigator.mediaDevices.getUserMedia({ audio: true, video: false })).getAudioTracks()[0];
    }
    await this.audio.sender.replaceTrack(on ? this.mic : null);
    this.talking = on;
  }

  stop(hang = true) {
    if (this.closed) return;
    this.closed = true;
    if (hang) hangUp(this.location);
    this.pc?.close();
    this.mic?.stop();
  }
}

function startPlayer() {
  if (player || jpegOnly || !webrtcAvailable() || ended) return;
  const p = new WebRtcPlayer();
  player = p;
  p.start().catch((e) => {
    // WHEP refused (e.g. the node's WebRTC viewers are full): JPEG over the socket stays.
    console.warn(`WebRTC: ${e.message}; watching over JPEG`);
    playerFailedAt = Date.now();
    if (player === p) stopPlayer();
  });
}

function stopPlayer({ hangUp: hang = true } = {}) {
  const p = player;
  if (!p) return;
  player = null;
  const wasPlaying = p.playing;
  p.stop(hang);
  rtcVideo.hidden = true;
  rtcVideo.srcObject = null;
  canvas.hidden = false;
  $('path').textContent = 'JPEG';
  $('talk').disabled = true;
  $('talk').setAttribute('aria-pressed', 'false');
  if (wasPlaying && !ended) reopenSocket();
}

$('talk').addEventListener('click', async () => {
  if (!player?.playing) return;
  const on = $('talk').getAttribute('aria-pressed') !== 'true';
  try {
    await player.talk(on);
    $('talk').setAttribute('aria-pressed', String(on));
    $('talk').textContent = on ? 'Stop talking' : 'Talk';
    announce(on ? 'Your microphone is on: the patient hears you.' : 'Your microphone is off.');
  } catch (e) {
    $('control-error').textContent = `The microphone could not start: ${e.message}`;
  }
});

// ---------- start ----------

async function main() {
  const user = await currentUser();
  setupTopbar(user);
  api('/account/users').then(({ users }) => {
    for (const u of users) usernames.set(u.id, u.username);
  }, () => {});
  await loadSession();
  if (!view) {
    showMain();
    return;
  }
  showMain();
  if (ended) return;
  connect();
  setInterval(renderClock, 1000);
  // Timestamps and the deadline move with events we do not all get (e.g. viewers elsewhere).
  setInterval(() => { if (!ended) loadSession(); }, 10000);
}

main().catch((e) => showPageError(e.message));
