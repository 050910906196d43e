// The compute cell page: `/cell` (a new cell) and `/c/{permalink}` (a stored cell, readable
// without signing in; `?run=1` runs it at once for a signed-in user). Each Run stores the code
// as a new cell (`POST /api/v1/cells`), which hands out a kernel; the page runs the code over
// that kernel's channels WebSocket and renders what comes back. The previous run's kernel is
// shut down first: one cell, one kernel, as on Sage Cell Server.

import { ApiError, api, toLogin } from '../api.js';
import { announce, setupTopbar, showMain, showPageError, wireCopy } from '../dom.js';
import { createEditor } from './editor.js';
import { KernelSocket } from './kernel-socket.js';
import { OutputArea, filesList } from './outputs.js';
import { WidgetManager } from './widgets.js';

const $ = (id) => document.getElementById(id);

/** Calls Jupyter Server's kernel API (under /api, not /api/v1); errors like `api()`. */
async function jupyter(path, { method = 'GET', body } = {}) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api${path}`, init);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, data?.error ?? `http_${resp.status}`, data?.message ?? `The server answered ${resp.status}.`, data);
  }
  return data;
}

const state = {
  user: null,
  kernel: null, // {id, socket}
  executeId: null, // msg_id of the running execute_request
  ownIds: new Set(), // our requests (execute and widget messages): their outputs are shown
  busy: false,
};

const output = new OutputArea($('output'), { renderWidget: (id) => widgets.view(id) });
const widgets = new WidgetManager({
  sendComm: (commId, data) => {
    if (!state.kernel) return null;
    const id = state.kernel.socket.send('shell', 'comm_msg', { comm_id: commId, data });
    state.ownIds.add(id);
    return id;
  },
});
const editor = createEditor($('code'), { onRun: () => run(), onEscape: () => $('run').focus() });

function setStatus(text) {
  $('status').textContent = text;
}

function setBusy(busy) {
  state.busy = busy;
  const badge = $('run-state');
  badge.dataset.state = busy ? 'running' : 'idle';
  badge.textContent = busy ? 'running' : 'idle';
  $('interrupt').disabled = !busy;
}

function showError(message) {
  $('cell-error').textContent = message;
}

/** Shuts down the previous run's kernel, so it does not count against the account's limit. */
async function releaseKernel() {
  const previous = state.kernel;
  state.kernel = null;
  widgets.reset();
  if (!previous) return;
  previous.socket.close();
  try {
    await jupyter(`/kernels/${encodeURIComponent(previous.id)}`, { method: 'DELETE' });
  } catch {
    // Gone already (idle timeout, node restart): nothing to release.
  }
}

function onKernelMessage(msg) {
  const type = msg.header?.msg_type;
  const parent = msg.parent_header?.msg_id;
  if (msg.channel === 'iopub' && widgets.handle(msg)) return;
  if (msg.channel === 'iopub' && ['stream', 'error', 'execute_result', 'display_data', 'clear_output'].includes(type)) {
    if (widgets.route(msg)) return;
    if (state.ownIds.has(parent)) output.handle(msg);
    return;
  }
  if (type === 'status' && parent === state.executeId) {
    const s = msg.content?.execution_state;
    if (s === 'busy') setBusy(true);
    if (s === 'idle' || s === 'dead') {
      setBusy(false);
      setStatus(s === 'dead' ? 'The kernel stopped.' : 'Done.');
      announce(s === 'dead' ? 'The kernel stopped' : 'Run finished');
    }
    return;
  }
  if (type === 'execute_reply' && parent === state.executeId) {
    const c = msg.content ?? {};
    if (c.status === 'aborted') setStatus('Aborted.');
    if (c.execution_count) $('run-state').title = `Execution ${c.execution_count}`;
  }
}

function onSocketState(s, detail) {
  if (s === 'reconnecting') setStatus('Connection lost; reconnecting…');
  if (s === 'open' && state.busy) setStatus('Running…');
  if (s === 'closed') {
    setBusy(false);
    setStatus(detail?.code === 1000 ? 'The kernel stopped.' : 'Disconnected from the kernel.');
  }
}

/** Stores the code as a cell and hands out its kernel. */
async function newCell(code) {
  const body = { code };
  const kernelName = $('kernel').value;
  if (kernelName) body.kernel = kernelName;
  return api('/cells', { method: 'POST', body });
}

async function run() {
  if (!state.user) {
    toLogin();
    return;
  }
  const code = editor.getValue();
  if (!code.trim()) {
    showError('Type some code first.');
    return;
  }
  showError('');
  $('run').disabled = true;
  setStatus('Starting a kernel…');
  try {
    await releaseKernel();
    const cell = await newCell(code);
    output.clear();
    $('saved-files').hidden = true;
    state.ownIds.clear();
    const socket = new KernelSocket(cell.kernel_id, { onMessage: onKernelMessage, onState: onSocketState });
    state.kernel = { id: cell.kernel_id, socket };
    socket.connect();
    state.executeId = socket.send('shell', 'execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    state.ownIds.add(state.executeId);
    setBusy(true);
    setStatus('Running…');
    showShare(cell.url);
  } catch (e) {
    setBusy(false);
    setStatus('');
    if (e.status === 401) {
      toLogin();
      return;
    }
    showError(e.message);
  } finally {
    $('run').disabled = false;
  }
}

function showShare(url) {
  if (!url) return;
  $('share-url').value = `${location.origin}${url}`;
  $('share').hidden = false;
}

async function interrupt() {
  if (!state.kernel) return;
  try {
    await jupyter(`/kernels/${encodeURIComponent(state.kernel.id)}/interrupt`, { method: 'POST' });
    setStatus('Interrupted.');
  } catch (e) {
    showError(e.message);
  }
}

/** Offers a kernel chooser when the server has more than one kernelspec. */
async function loadKernelspecs(preferred) {
  const specs = await jupyter('/kernelspecs');
  const names = Object.keys(specs.kernelspecs ?? {}).sort();
  const select = $('kernel');
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = specs.kernelspecs[name]?.spec?.display_name ?? name;
    return option;
  }));
  select.value = names.includes(preferred) ? preferred : specs.default;
  $('kernel-field').hidden = names.length < 2;
}

/** The signed-in user, or null (the permalink page can be read signed out). */
async function userOrNull() {
  try {
    return await api('/me');
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

async function main() {
  const permalink = location.pathname.startsWith('/c/') ? decodeURIComponent(location.pathname.slice(3)) : null;
  const [user, cell] = await Promise.all([
    permalink ? userOrNull() : api('/me').catch((e) => (e.status === 401 ? toLogin() : Promise.reject(e))),
    permalink ? api(`/cells/${encodeURIComponent(permalink)}`) : null,
  ]);
  state.user = user;
  if (user) {
    setupTopbar(user);
  } else {
    $('signout').hidden = true;
    $('run').hidden = true;
    const signin = $('signin');
    signin.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    signin.hidden = false;
  }
  if (cell) {
    editor.setValue(cell.code);
    $('cell-title').textContent = 'Shared cell';
    document.title = 'Shared cell · Switchboard';
    if (cell.files?.length) {
      $('saved-files-list').replaceChildren(filesList(cell.files));
      $('saved-files').hidden = false;
    }
  }
  $('run').addEventListener('click', () => run());
  $('interrupt').addEventListener('click', interrupt);
  wireCopy($('copy-share'), $('share-url'));
  // Free the kernel when leaving; the idle timeout would otherwise do it later.
  window.addEventListener('pagehide', () => {
    if (state.kernel) {
      fetch(`/api/kernels/${encodeURIComponent(state.kernel.id)}`, { method: 'DELETE', keepalive: true, credentials: 'same-origin' });
    }
  });
  showMain();
  editor.refresh();
  if (user) {
    try {
      await loadKernelspecs(cell?.kernel);
    } catch (e) {
      $('run').disabled = true;
      showError(e.code === 'kernels_unavailable' ? 'Compute cells are turned off on this server.' : e.message);
      return;
    }
    if (cell && new URLSearchParams(location.search).get('run') === '1') run();
    else editor.focus();
  }
}

main().catch((e) => {
  if (e.code === 'cell_not_found' || e.status === 404) showPageError('There is no cell at this link.');
  else showPageError(e.message);
});
