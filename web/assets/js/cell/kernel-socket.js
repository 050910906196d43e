// The Jupyter channels WebSocket of one kernel (`/api/kernels/{id}/channels`, PROTOCOL.md §15):
// JSON text frames, one Jupyter message each, with a `channel` field. The sign-in cookie goes
// along by itself. When the socket drops, it reconnects with the same session_id so the server
// replays what was missed.

import { backoff, wsUrl } from '../api.js';

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE = new Set([
  1000, // the kernel stopped
  1008, // policy: not allowed (signed out, not our kernel)
]);

function newId() {
  return crypto.randomUUID().replaceAll('-', '');
}

export class KernelSocket {
  /**
   * `onMessage(msg)` gets every message from the kernel; `onState(state, detail)` hears
   * `connecting`, `open`, `reconnecting`, `closed` (for good, with the close code and reason).
   */
  constructor(kernelId, { onMessage, onState }) {
    this.kernelId = kernelId;
    this.sessionId = newId();
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.attempt = 0;
    this.closedForGood = false;
    this.queue = [];
    this.retryTimer = null;
  }

  connect() {
    this.onState?.(this.attempt ? 'reconnecting' : 'connecting');
    const url = wsUrl(`/api/kernels/${encodeURIComponent(this.kernelId)}/channels?session_id=${this.sessionId}`);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.onState?.('open');
      for (const frame of this.queue.splice(0)) socket.send(frame);
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return; // binary frames carry buffers we do not use
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage?.(msg);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closedForGood) return;
      if (FINAL_CLOSE.has(event.code) || this.attempt >= 8) {
        this.closedForGood = true;
        this.onState?.('closed', { code: event.code, reason: event.reason });
        return;
      }
      this.onState?.('reconnecting', { code: event.code, reason: event.reason });
      this.retryTimer = setTimeout(() => this.connect(), backoff(this.attempt++));
    });
    return this;
  }

  /**
   * Sends a message on `channel` (shell, control); returns its msg_id. Messages sent while
   * the socket is (re)connecting go out once it is open.
   */
  send(channel, msgType, content, metadata = {}) {
    const msgId = newId();
    const frame = JSON.stringify({
      channel,
      header: {
        msg_id: msgId,
        session: this.sessionId,
        username: '',
        msg_type: msgType,
        version: '5.3',
        date: new Date().toISOString(),
      },
      parent_header: {},
      metadata,
      content,
      buffers: [],
    });
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(frame);
    else this.queue.push(frame);
    return msgId;
  }

  /** Closes the socket and stops reconnecting. */
  close() {
    this.closedForGood = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000);
    this.socket = null;
  }
}
