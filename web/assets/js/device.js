// /d/{ticket} and /d: the patient's phone. Opens the camera (back camera preferred), redeems
// the ticket, and streams JPEG frames over the device WebSocket at the requested rate, never
// with more than one frame in flight. Where the browser and the server can, it also publishes
// camera and microphone over WebRTC (WHIP), hears the clinician talk back, takes controls on
// the data channel too, and keeps sending JPEG at a low rate for frame.jpg and MJPEG viewers;
// `?webrtc=0` in the address keeps it to JPEG. Carries out the controls viewers send and
// reports back with `status` messages.
import { api, backoff, wsUrl } from './api.js';
import { hangUp, negotiate, rtcConfiguration, webrtcAvailable } from './whip.js';

/** The version this page reports as its app version. */
const APP_VERSION = '1.0.0';
/** How often the phone repeats its status for viewers who joined since. */
const STATUS_EVERY_MS = 5000;

const $ = (id) => document.getElementById(id);
const video = $('preview');
const pill = $('status');
const work = document.createElement('canvas'); // streamed frames
const shot = document.createElement('canvas'); // full-size snapshots

const settings = { fps: 10, quality: 0.7, width: 640 };
let ticket = normalize(decodeURIComponent(location.pathname.split('/')[2] ?? ''));
let reg = null; // what registration answered: suid, device_token, websocket_url, max_frame_bytes
let stream = null;
let track = null;
let facing = 'environment';
let torch = false;
let transport = null;
let paused = false;
let ended = false;
let starting = false;
let sent = 0;
let lastControlId = 0;
let holdUntil = 0; // regular frames wait while a snapshot is the newest frame
let pumpTimer = null;
let wakeLock = null;
let streamSize = null; // width and height of the streamed frames
let publisher = null; // the WebRTC publisher, while there is one
const jpegOnly = new URLSearchParams(location.search).get('webrtc') === '0';

// ---------- small helpers ----------

function normalize(t) {
  return t.replace(/[^0-9a-z]/gi, '').toUpperCase();
}

function pretty(t) {
  return t.length === 8 ? `${t.slice(0, 4)}-${t.slice(4)}` : t;
}

function show(step) {
  for (const id of ['step-ticket', 'step-start', 'step-live', 'step-ended']) $(id).hidden = id !== step;
}

function setStatus(state, text) {
  pill.dataset.state = state;
  pill.textContent = text;
  $('rec').hidden = state !== 'streaming';
}

const storageKey = () => `sb.device.${ticket}`;

function saveReg() {
  try {
    sessionStorage.setItem(storageKey(), JSON.stringify({ ...reg, lastControlId }));
  } catch {
    // Private mode may refuse storage; a reload then cannot resume, nothing else changes.
  }
}

function loadReg() {
  try {
    const raw = sessionStorage.getItem(storageKey());
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function forgetReg() {
  try {
    sessionStorage.removeItem(storageKey());
  } catch {
    // See saveReg.
  }
}

const cameraName = () => (facing === 'user' ? 'front' : facing === 'environment' ? 'back' : 'unknown');

// ---------- the device's description ----------

async function deviceInfo() {
  const ua = navigator.userAgent;
  let model = null;
  let os = null;
  let browser = null;
  const uad = navigator.userAgentData;
  if (uad?.getHighEntropyValues) {
    try {
      const h = await uad.getHighEntropyValues(['model', 'platformVersion']);
      model = h.model || null;
      if (h.platform) os = h.platformVersion ? `${h.platform} ${h.platformVersion.split('.')[0]}` : h.platform;
      browser = (h.brands ?? uad.brands ?? []).map((b) => b.brand).find((b) => !/not.?a.?brand/i.test(b)) ?? null;
    } catch {
      // Fall back to the user agent string below.
    }
  }
  let m;
  if (!os && (m = ua.match(/Android ([\d.]+)/))) os = `Android ${m[1]}`;
  if (!model && (m = ua.match(/Android [\d.]+; ([^;)]+)/)) && m[1] !== 'K') model = m[1].trim();
  if ((m = ua.match(/(iPhone|iPad)/))) {
    model = model ?? m[1];
    const v = ua.match(/OS (\d+)_(\d+)/);
    os = os ?? (v ? `iOS ${v[1]}.${v[2]}` : 'iOS');
  }
  os = os ?? (/Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null);
  model = model ?? `${browser ?? 'Web browser'}${/Mobi/.test(ua) ? ' (phone)' : ''}`;
  return {
    model,
    os,
    app_version: APP_VERSION,
    client: 'web',
    user_agent: ua,
    screen: `${screen.width}x${screen.height}`,
    language: navigator.language,
  };
}

// ---------- camera ----------

async function openCamera(want, exact = false) {
  const video = {
    facingMode: exact ? { exact: want } : { ideal: want },
    width: { ideal: 1280 },
    height: { ideal: 720 },
  };
  const s = await navigator.mediaDevices.getUserMedia({ audio: false, video });
  useStream(s, want);
}

function useStream(s, want) {
  stream = s;
  [track] = s.getVideoTracks();
  facing = track.getSettings?.().facingMode || want;
  torch = track.getCapabilities?.().torch ? false : 'unsupported';
  track.addEventListener('ended', () => {
    if (!ended) setStatus('camera', 'Camera stopped');
  });
  video.srcObject = s;
  video.play().catch(() => {});
  publisher?.replaceVideo(paused ? null : track);
}

function stopCamera() {
  for (const t of stream?.getTracks() ?? []) t.stop();
  stream = null;
  track = null;
}

function cameraError(e) {
  switch (e?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site in your browser settings, then try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found on this device.';
    case 'NotReadableError':
      return 'The camera is busy: close other apps that use it, then try again.';
    default:
      return `The camera could not start${e?.message ? `: ${e.message}` : '.'}`;
  }
}

async function switchCamera(want) {
  const target = want === 'user' || want === 'environment' ? want : facing === 'user' ? 'environment' : 'user';
  const previous = facing;
  // Phones often cannot open a second camera while the first is open.
  stopCamera();
  try {
    await openCamera(target, true);
  } catch {
    try {
      await openCamera(target, false);
    } catch (e) {
      await openCamera(previous, false);
      throw new Error(cameraError(e));
    }
  }
  if (facing !== target) return 'this device has only one camera';
  return `${cameraName()} camera`;
}

async function setTorch(on) {
  if (!track?.getCapabilities?.().torch) {
    torch = 'unsupported';
    throw new Error('this camera has no torch');
  }
  await track.applyConstraints({ advanced: [{ torch: on }] });
  torch = on;
  return on ? 'on' : 'off';
}

// ---------- encoding and sending frames ----------

/** The current video picture as a JPEG at most `width` wide: `{blob, width, height}` or null. */
function encode(width, quality, canvas = work) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh) return Promise.resolve(null);
  const w = Math.min(width, vw);
  const h = Math.round((vh * w) / vw);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.getContext('2d', { alpha: false }).drawImage(video, 0, 0, w, h);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve(blob && { blob, width: w, height: h }), 'image/jpeg', quality));
}

const sentTimes = [];
function countSent() {
  sent += 1;
  $('sent').textContent = String(sent);
  const now = performance.now();
  sentTimes.push(now);
  while (sentTimes.length && sentTimes[0] < now - 2000) sentTimes.shift();
  $('send-fps').textContent = String(Math.round(sentTimes.length / 2));
  if (sent === 1 || pill.dataset.state === 'connected') {
    setStatus('streaming', 'Streaming');
    sendStatus();
  }
}

function tooBig(frame) {
  return reg?.max_frame_bytes && frame.blob.size > reg.max_frame_bytes;
}

/** JPEG frames a second: the requested rate, or the low rate beside a WebRTC stream. */
function jpegFps() {
  if (publisher?.connected) return Math.max(0.1, reg?.webrtc_jpeg_fps || 0.1);
  return settings.fps;
}

/** One tick of the frame loop: at most one frame in flight, at the requested rate. */
async function pump() {
  const started = performance.now();
  try {
    if (!ended && !paused && transport?.ready() && !transport.busy() && video.readyState >= 2 && Date.now() >= holdUntil) {
      const frame = await encode(settings.width, settings.quality);
      if (frame && tooBig(frame)) {
        settings.quality = Math.max(0.2, settings.quality - 0.1);
      } else if (frame && !ended && !paused && transport?.ready() && Date.now() >= holdUntil) {
        transport.sendFrame(frame.blob);
        if (streamSize?.width !== frame.width || streamSize?.height !== frame.height) {
          streamSize = { width: frame.width, height: frame.height };
          $('send-size').textContent = `${frame.width}×${frame.height}`;
          if (sent > 0) sendStatus();
        }
        countSent();
      }
    }
  } catch {
    // A frame that could not be made is skipped.
  } finally {
    clearTimeout(pumpTimer);
    if (!ended) pumpTimer = setTimeout(pump, Math.max(0, 1000 / jpegFps() - (performance.now() - started)));
  }
}

async function snapshot() {
  holdUntil = Date.now() + 1500;
  const deadline = Date.now() + 2000;
  while (transport?.busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  let quality = 0.92;
  let width = video.videoWidth;
  let frame = await encode(width, quality, shot);
  while (frame && tooBig(frame) && (quality > 0.5 || width > 640)) {
    if (quality > 0.5) quality -= 0.1;
    else width = Math.round(width * 0.75);
    frame = await encode(width, quality, shot);
  }
  if (!frame || !transport?.ready()) throw new Error('no picture could be taken');
  // Viewers learn the size first, so they can recognise the frame and keep it.
  sendStatus({ snapshot: { width: frame.width, height: frame.height, bytes: frame.blob.size } });
  transport.sendFrame(frame.blob);
  countSent();
  holdUntil = Date.now() + 1000;
  return `${frame.width}×${frame.height}`;
}

function applyQuality(a) {
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (num(a.quality) !== null) settings.quality = Math.min(1, Math.max(0.1, a.quality));
  if (num(a.fps) !== null) settings.fps = Math.min(30, Math.max(1, a.fps));
  if (num(a.width) !== null) settings.width = Math.min(1920, Math.max(160, Math.round(a.width)));
  pump();
  return `${settings.width} px, ${settings.fps} fps, quality ${Math.round(settings.quality * 100)}%`;
}

// ---------- messages from the clinician ----------

function showMessage(text) {
  $('message-text').textContent = text;
  $('message').hidden = false;
  return 'shown on screen';
}

$('message-ok').addEventListener('click', () => {
  $('message').hidden = true;
});

// ---------- controls ----------

async function handleControl(c) {
  if (typeof c.id === 'number') {
    if (c.id <= lastControlId) return;
    lastControlId = c.id;
    saveReg();
  }
  const a = c.args && typeof c.args === 'object' ? c.args : {};
  const result = { id: c.id, action: c.action, ok: true };
  try {
    switch (c.action) {
      case 'switch_camera': result.detail = await switchCamera(a.facing); break;
      case 'torch': result.detail = await setTorch(Boolean(a.on)); break;
      case 'snapshot': result.detail = await snapshot(); break;
      case 'quality': result.detail = applyQuality(a); break;
      case 'message': result.detail = showMessage(String(a.text ?? '')); break;
      default:
        result.ok = false;
        result.detail = 'this phone does not know this control';
    }
  } catch (e) {
    result.ok = false;
    result.detail = e.message;
  }
  sendStatus({ result });
}

// ---------- status reports ----------

function sendStatus(extra = {}) {
  transport?.sendStatus({
    type: 'status',
    state: pill.dataset.state,
    camera: cameraName(),
    torch,
    paused,
    width: streamSize?.width ?? null,
    height: streamSize?.height ?? null,
    fps: settings.fps,
    quality: settings.quality,
    sent,
    path: publisher?.connected ? 'webrtc' : 'jpeg',
    ...extra,
  });
}

// ---------- WebRTC: camera and microphone over WHIP, the clinician's voice back ----------

class WebRtcPublisher {
  constructor() {
    this.pc = null;
    this.location = null;
    this.connected = false;
    this.closed = false;
    this.videoSender = null;
    this.mic = null;
    this.auth = { authorization: `Bearer ${reg.device_token}` };
  }

  async start() {
    try {
      this.mic = (await navigator.mediaDevices.getUserMedia({ audio: true, video: false })).getAudioTracks()[0] ?? null;
    } catch {
      this.mic = null; // No microphone, or refused: video alone.
    }
    if (this.closed) return this.mic?.stop();
    const pc = new RTCPeerConnection(rtcConfiguration(reg.ice));
    this.pc = pc;
    window.sbPublisherPc = pc; // the browser test reads which path the media took
    this.videoSender = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender;
    pc.addTransceiver(this.mic ?? 'audio', { direction: 'sendrecv' });
    const channel = pc.createDataChannel('controls');
    channel.addEventListener('message', (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.type === 'control') handleControl(msg);
    });
    pc.addEventListener('track', (e) => {
      if (e.track.kind !== 'audio') return;
      const speaker = $('talkback');
      speaker.srcObject = new MediaStream([e.track]);
      speaker.play().catch(() => {});
      window.sbTalkback = e.track; // the browser test listens to it
    });
    pc.addEventListener('connectionstatechange', () => {
      const state = pc.connectionState;
      if (state === 'connected' && !this.connected) {
        this.connected = true;
        $('path').textContent = 'WebRTC';
        sendStatus();
        pump();
      } else if ((state === 'failed' || state === 'closed') && !this.closed) {
        this.fallBack();
      }
    });
    try {
      this.location = await negotiate(pc, reg.whip_url, this.auth);
    } catch {
      this.fallBack();
    }
  }

  /** WebRTC did not work out: JPEG at the full rate, as before. */
  fallBack() {
    this.stop();
    if (publisher === this) publisher = null;
    $('path').textContent = 'JPEG';
    sendStatus();
    pump();
  }

  replaceVideo(newTrack) {
    this.videoSender?.replaceTrack(newTrack).catch(() => {});
  }

  /** Stops; `hang` false when the server has ended the peer already (the visit ended). */
  stop(hang = true) {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    if (hang) hangUp(this.location, this.auth);
    this.pc?.close();
    this.mic?.stop();
  }
}

function startWebRtc() {
  if (publisher || jpegOnly || !reg?.whip_url || !webrtcAvailable() || ended) return;
  publisher = new WebRtcPublisher();
  publisher.start();
}

// ---------- transports: the WebSocket, or plain HTTP when a socket cannot be opened ----------

/** Asks the server, with the device token in a header, whether the session still runs. */
async function probe() {
  try {
    await api(`/sessions/${encodeURIComponent(reg.suid)}/controls?after=${lastControlId}&wait=0`, {
      headers: { authorization: `Bearer ${reg.device_token}` },
    });
    return 'ok';
  } catch (e) {
    if (e.status === 410) return 'ended';
    if (e.status === 401 || e.status === 403 || e.status === 404) return 'invalid';
    return 'unreachable';
  }
}

class SocketTransport {
  constructor() {
    this.ws = null;
    this.attempts = 0;
    this.failedOpens = 0;
    this.closed = false;
    this.heartbeat = null;
  }

  connect() {
    if (this.closed || ended) return;
    const path = new URL(reg.websocket_url, location.href).pathname;
    const ws = new WebSocket(`${wsUrl(path)}?token=${encodeURIComponent(reg.device_token)}&after=${lastControlId}`);
    this.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      clearInterval(this.heartbeat);
      // Viewers who join later hear nothing of earlier reports: repeat the status now and then.
      this.heartbeat = setInterval(() => sendStatus(), STATUS_EVERY_MS);
      this.attempts = 0;
      this.failedOpens = 0;
      setStatus(paused ? 'paused' : 'connected', paused ? 'Paused' : 'Connected');
      sendStatus();
      pump();
      startWebRtc();
    });
    ws.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.type === 'control') handleControl(msg);
      else if (msg.type === 'ended') finish(msg.reason);
      else if (msg.type === 'error') onServerError(msg);
    });
    ws.addEventListener('close', async (e) => {
      clearInterval(this.heartbeat);
      if (this.ws !== ws || this.closed || ended) return;
      if (!opened) this.failedOpens += 1;
      setStatus('reconnecting', 'Reconnecting…');
      if (e.code === 1000 || this.failedOpens >= 2) {
        const state = await probe();
        if (state === 'ended') return finish(null);
        if (state === 'invalid') return fail('This visit link is no longer valid. Ask your clinician for a new ticket.');
        if (state === 'ok' && this.failedOpens >= 2) {
          // The server is there but our socket is refused (e.g. a proxy): go on over HTTP.
          switchToHttp();
          return;
        }
      }
      setTimeout(() => this.connect(), (e.code === 1012 ? 500 : 0) + backoff(this.attempts++));
    });
  }

  ready() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  busy() {
    return !this.ws || this.ws.bufferedAmount > 0;
  }

  sendFrame(blob) {
    this.ws.send(blob);
  }

  sendStatus(status) {
    if (this.ready()) this.ws.send(JSON.stringify(status));
  }

  close() {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.ws?.close(1000);
  }
}

class HttpTransport {
  constructor() {
    this.inFlight = false;
    this.seq = sent;
    this.closed = false;
    this.auth = { authorization: `Bearer ${reg.device_token}` };
  }

  connect() {
    setStatus(paused ? 'paused' : 'connected', paused ? 'Paused' : 'Connected');
    this.pollControls();
    pump();
  }

  async pollControls() {
    let attempts = 0;
    while (!this.closed && !ended) {
      try {
        const { controls } = await api(
          `/sessions/${encodeURIComponent(reg.suid)}/controls?after=${lastControlId}&wait=25`,
          { headers: this.auth },
        );
        attempts = 0;
        for (const c of controls) await handleControl(c);
      } catch (e) {
        if (e.status === 410) return finish(null);
        if (e.status === 401) return fail('This visit link is no longer valid. Ask your clinician for a new ticket.');
        await new Promise((r) => setTimeout(r, backoff(attempts++)));
      }
    }
  }

  ready() {
    return !this.closed;
  }

  busy() {
    return this.inFlight;
  }

  async sendFrame(blob) {
    this.inFlight = true;
    this.seq += 1;
    try {
      const resp = await fetch(`/api/v1/sessions/${encodeURIComponent(reg.suid)}/frames?seq=${this.seq}`, {
        method: 'POST',
        headers: { ...this.auth, 'content-type': 'image/jpeg' },
        body: blob,
      });
      if (resp.status === 410) finish(null);
      else if (!resp.ok) onServerError(await resp.json().catch(() => ({})));
      else if (pill.dataset.state === 'reconnecting') setStatus('streaming', 'Streaming');
    } catch {
      setStatus('reconnecting', 'Reconnecting…');
    } finally {
      this.inFlight = false;
    }
  }

  sendStatus() {
    // Status reports travel only on the socket; over HTTP the phone keeps them to itself.
  }

  close() {
    this.closed = true;
  }
}

function switchToHttp() {
  transport?.close();
  transport = new HttpTransport();
  transport.connect();
}

function onServerError(msg) {
  if (msg.error === 'frame_too_large' || msg.error === 'payload_too_large') {
    settings.quality = Math.max(0.2, settings.quality - 0.15);
  }
  $('live-error').textContent = msg.message ?? '';
  setTimeout(() => { $('live-error').textContent = ''; }, 4000);
}

// ---------- the flow ----------

/** Why the visit ended, in the patient's words. */
const PATIENT_REASONS = {
  ended_by_user: 'Your clinician ended the visit.',
  ticket_expired: 'The ticket expired before the visit started.',
  max_lifetime: 'The visit reached its time limit.',
  no_viewers: 'Nobody from the care team was watching any more, so the visit closed.',
  device_idle: 'No video arrived for a while, so the visit closed.',
};

function registrationError(e) {
  switch (e.code) {
    case 'unknown_ticket':
      return 'This ticket is not known. Check it with your clinician, or ask for a new one.';
    case 'ticket_used':
      return 'This ticket has already been used. If the visit is open on another phone or tab, continue there; otherwise ask your clinician for a new ticket.';
    case 'ticket_expired':
      return 'This ticket has expired. Ask your clinician for a new one.';
    case 'session_ended':
      return 'This visit has already ended.';
    case 'rate_limited':
      return 'Too many attempts. Wait a minute, then try again.';
    default:
      return e.message;
  }
}

function fail(message) {
  publisher?.stop(false);
  stopCamera();
  ended = true;
  transport?.close();
  setStatus('error', 'Not connected');
  show('step-start');
  $('start').hidden = true;
  $('start-error').textContent = message;
  $('other-ticket').hidden = false;
}

async function start() {
  if (starting) return;
  starting = true;
  $('start-error').textContent = '';
  $('start').disabled = true;
  try {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('This browser cannot share the camera from this page. Open the link in Chrome or Safari (the address must start with https).');
    }
    setStatus('camera', 'Starting camera…');
    try {
      await openCamera('environment');
    } catch (e) {
      throw new Error(cameraError(e));
    }
    if (!reg) {
      setStatus('registering', 'Joining…');
      try {
        reg = await api('/devices/register', { method: 'POST', body: { ticket, device: await deviceInfo() } });
      } catch (e) {
        throw new Error(registrationError(e));
      }
      saveReg();
    }
    show('step-live');
    setStatus('connecting', 'Connecting…');
    transport = new SocketTransport();
    transport.connect();
    keepAwake();
  } catch (e) {
    stopCamera();
    setStatus('error', 'Not connected');
    $('start-error').textContent = e.message;
    $('start').disabled = false;
    $('other-ticket').hidden = false;
  } finally {
    starting = false;
  }
}

function finish(reason) {
  if (ended) return;
  ended = true;
  clearTimeout(pumpTimer);
  transport?.close();
  publisher?.stop(false);
  stopCamera();
  forgetReg();
  wakeLock?.release().catch(() => {});
  setStatus('ended', 'Ended');
  $('ended-reason').textContent = PATIENT_REASONS[reason] ?? 'The visit is over.';
  show('step-ended');
}

async function keepAwake() {
  try {
    wakeLock = await navigator.wakeLock?.request('screen');
  } catch {
    // Not granted (battery saver, or not visible): the screen may dim, nothing else changes.
  }
}

document.addEventListener('visibilitychange', async () => {
  if (document.visibilityState !== 'visible' || ended || !reg) return;
  if (transport && (!wakeLock || wakeLock.released)) keepAwake();
  // The system may have taken the camera while we were in the background.
  if (track && track.readyState === 'ended') {
    try {
      await openCamera(facing);
      setStatus(transport?.ready() ? 'connected' : 'reconnecting', transport?.ready() ? 'Connected' : 'Reconnecting…');
      sendStatus();
    } catch (e) {
      $('live-error').textContent = cameraError(e);
    }
  }
});

$('flip').addEventListener('click', async () => {
  $('flip').disabled = true;
  try {
    const detail = await switchCamera();
    sendStatus({ result: { action: 'switch_camera', ok: true, detail, by: 'patient' } });
  } catch (e) {
    $('live-error').textContent = e.message;
  } finally {
    $('flip').disabled = false;
  }
});

$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  setStatus(paused ? 'paused' : 'streaming', paused ? 'Paused' : 'Streaming');
  sendStatus({ resumed: !paused });
  // Paused, the WebRTC sender sends nothing (the preview keeps showing the camera).
  publisher?.replaceVideo(paused ? null : track);
  if (!paused) pump();
});

$('start').addEventListener('click', start);

$('ticket-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = normalize($('ticket-input').value);
  if (t.length !== 8) {
    $('ticket-error').textContent = 'A ticket has 8 letters and digits, like ABCD-EFGH.';
    $('ticket-input').focus();
    return;
  }
  location.assign(`/d/${t}`);
});

// ---------- start ----------

if (!ticket) {
  show('step-ticket');
  $('ticket-input').focus();
} else {
  $('ticket-show').textContent = pretty(ticket);
  show('step-start');
  const saved = loadReg();
  if (saved?.device_token) {
    // This tab already joined (the page was reloaded): carry on without the used ticket.
    reg = saved;
    lastControlId = saved.lastControlId ?? 0;
    $('start').textContent = 'Resume camera';
    start();
  }
}
