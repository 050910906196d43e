// A small ipywidgets 8 manager: enough of the widget message protocol (comms with target
// `jupyter.widget`, protocol version 2) to show `@interact` and the common controls.
//
// The kernel opens one comm per model with its whole state; either side then sends `update`
// messages with the keys that changed (ipywidgets 8 echoes our own updates back as
// `echo_update`). A view is a DOM element that follows its model; a model can have several
// views. Output models capture the kernel's output while their `msg_id` is set.

import { OutputArea, sanitizedHtml } from './outputs.js';

const MODEL_PREFIX = 'IPY_MODEL_';
/** Slider drags send at most one update per this many ms (plus the final value). */
const THROTTLE_MS = 100;

let nextDomId = 0;
function domId() {
  nextDomId += 1;
  return `widget-${nextDomId}`;
}

function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  let pending = null;
  const fire = () => {
    timer = null;
    last = Date.now();
    const args = pending;
    pending = null;
    fn(...args);
  };
  const throttled = (...args) => {
    pending = args;
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) fire();
    else timer = setTimeout(fire, wait);
  };
  throttled.flush = () => {
    if (!timer) return;
    clearTimeout(timer);
    fire();
  };
  return throttled;
}

class Model {
  constructor(manager, commId, state) {
    this.manager = manager;
    this.id = commId;
    this.state = { ...state };
    this.listeners = new Set();
    // Keys we changed and whose echo has not come back: a stale echo must not undo a newer
    // value the user has set meanwhile.
    this.pendingEchoes = new Map();
  }

  get name() {
    return this.state._model_name;
  }

  /** Applies a state change from the kernel and tells the views. */
  apply(state, echo) {
    const changed = {};
    for (const [k, v] of Object.entries(state ?? {})) {
      if (echo) {
        const pending = this.pendingEchoes.get(k) ?? 0;
        if (pending > 0) {
          this.pendingEchoes.set(k, pending - 1);
          if (pending > 1) continue;
        }
      }
      this.state[k] = v;
      changed[k] = v;
    }
    if (Object.keys(changed).length) for (const fn of this.listeners) fn(changed);
  }

  /** Sets state from a view and sends it to the kernel. */
  set(state) {
    Object.assign(this.state, state);
    for (const k of Object.keys(state)) this.pendingEchoes.set(k, (this.pendingEchoes.get(k) ?? 0) + 1);
    this.manager.sendUpdate(this.id, state);
    for (const fn of this.listeners) fn(state);
  }

  /** Sends a custom message (`{event: "click"}` for buttons). */
  custom(content) {
    this.manager.send(this.id, { method: 'custom', content });
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  /**
   * The outputs an Output model holds. They live in the model, not in a view: `@interact`
   * runs its function (and captures its output) before the widget is displayed.
   */
  outputArea() {
    if (!this.area) {
      const div = document.createElement('div');
      div.className = 'widget-output';
      div.setAttribute('aria-live', 'polite');
      this.area = new OutputArea(div, { renderWidget: (id) => this.manager.view(id) });
      const fromState = () => {
        this.area.clear();
        for (const o of this.state.outputs ?? []) this.area.add(o);
      };
      this.onChange((changed) => { if ('outputs' in changed) fromState(); });
      fromState();
    }
    return this.area;
  }
}

export class WidgetManager {
  /** `sendComm(commId, data)` sends a `comm_msg` on the shell channel and returns its msg_id. */
  constructor({ sendComm }) {
    this.sendComm = sendComm;
    this.models = new Map();
    this.waiting = new Map();
  }

  send(commId, data) {
    return this.sendComm(commId, data);
  }

  sendUpdate(commId, state) {
    return this.send(commId, { method: 'update', state, buffer_paths: [] });
  }

  /** Handles `comm_open`, `comm_msg`, `comm_close`; returns true if the message was one of ours. */
  handle(msg) {
    const type = msg.header?.msg_type;
    const c = msg.content ?? {};
    if (type === 'comm_open') {
      if (c.target_name !== 'jupyter.widget') return false;
      const model = new Model(this, c.comm_id, c.data?.state ?? {});
      this.models.set(c.comm_id, model);
      for (const placeholder of this.waiting.get(c.comm_id) ?? []) placeholder.replaceWith(this.view(c.comm_id));
      this.waiting.delete(c.comm_id);
      return true;
    }
    const model = this.models.get(c.comm_id);
    if (!model) return false;
    if (type === 'comm_msg') {
      const method = c.data?.method;
      if (method === 'update' || method === 'echo_update') model.apply(c.data.state, method === 'echo_update');
      return true;
    }
    if (type === 'comm_close') {
      this.models.delete(c.comm_id);
      return true;
    }
    return false;
  }

  /** The Output model capturing messages whose parent is `msgId`, if any. */
  outputCapturing(msgId) {
    if (!msgId) return null;
    for (const m of this.models.values()) {
      if (m.name === 'OutputModel' && m.state.msg_id === msgId) return m;
    }
    return null;
  }

  /** Routes an output message to the Output model capturing it; true if one did. */
  route(msg) {
    const model = this.outputCapturing(msg.parent_header?.msg_id);
    if (!model) return false;
    model.outputArea().handle(msg);
    return true;
  }

  /** Forgets every model (the kernel is gone). */
  reset() {
    this.models.clear();
    this.waiting.clear();
  }

  /** A new view (DOM element) of model `id`, or a placeholder until its comm opens. */
  view(id) {
    const modelId = String(id ?? '').replace(MODEL_PREFIX, '');
    const model = this.models.get(modelId);
    if (!model) {
      const placeholder = document.createElement('span');
      placeholder.className = 'widget-pending';
      if (!this.waiting.has(modelId)) this.waiting.set(modelId, []);
      this.waiting.get(modelId).push(placeholder);
      return placeholder;
    }
    const render = VIEWS[model.state._view_name];
    const element = render ? render(model, this) : unsupported(model);
    element.classList.add('widget');
    element.dataset.widget = model.state._model_name ?? '';
    element.dataset.modelId = model.id;
    const sync = () => {
      element.hidden = model.state.layout && this.models.get(model.state.layout.replace(MODEL_PREFIX, ''))?.state.display === 'none';
      for (const cls of model.state._dom_classes ?? []) element.classList.add(cls);
    };
    sync();
    return element;
  }
}

function unsupported(model) {
  const span = document.createElement('span');
  span.className = 'muted';
  span.textContent = `[${model.state._view_name ?? model.name} is not supported here]`;
  return span;
}

/** A row with a label (the widget's description) and a control. */
function labelled(model, control) {
  const row = document.createElement('div');
  row.className = 'widget-row';
  const id = domId();
  control.id = id;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.className = 'widget-label';
  const setLabel = () => {
    label.textContent = model.state.description ?? '';
    label.hidden = !label.textContent;
    if (!label.textContent && model.state.tooltip) control.setAttribute('aria-label', model.state.tooltip);
  };
  setLabel();
  model.onChange((changed) => {
    if ('description' in changed) setLabel();
    if ('disabled' in changed) control.disabled = !!model.state.disabled;
  });
  control.disabled = !!model.state.disabled;
  row.append(label, control);
  return row;
}

function decimals(step) {
  const s = String(step ?? 1);
  return s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
}

function slider(isFloat) {
  return (model) => {
    const input = document.createElement('input');
    input.type = 'range';
    const readout = document.createElement('output');
    readout.className = 'widget-readout';
    const show = () => {
      input.min = model.state.min;
      input.max = model.state.max;
      input.step = model.state.step ?? 1;
      input.value = model.state.value;
      readout.textContent = isFloat ? Number(model.state.value).toFixed(decimals(model.state.step)) : String(model.state.value);
      readout.hidden = model.state.readout === false;
      input.setAttribute('aria-valuetext', readout.textContent);
    };
    const send = throttle((v) => model.set({ value: v }), THROTTLE_MS);
    const parse = () => (isFloat ? Number.parseFloat(input.value) : Number.parseInt(input.value, 10));
    input.addEventListener('input', () => {
      readout.textContent = isFloat ? parse().toFixed(decimals(model.state.step)) : String(parse());
      if (model.state.continuous_update !== false) send(parse());
    });
    input.addEventListener('change', () => {
      send(parse());
      send.flush();
    });
    model.onChange(show);
    show();
    const row = labelled(model, input);
    row.classList.add('widget-slider');
    row.append(readout);
    return row;
  };
}

function numberText(isFloat) {
  return (model) => {
    const input = document.createElement('input');
    input.type = 'number';
    input.step = isFloat ? (model.state.step ?? 'any') : (model.state.step ?? 1);
    const show = () => { if (document.activeElement !== input) input.value = model.state.value; };
    input.addEventListener('change', () => {
      const v = isFloat ? Number.parseFloat(input.value) : Number.parseInt(input.value, 10);
      if (Number.isFinite(v)) model.set({ value: v });
    });
    model.onChange(show);
    show();
    return labelled(model, input);
  };
}

function textInput(tag) {
  return (model) => {
    const input = document.createElement(tag);
    if (tag === 'input') input.type = 'text';
    const show = () => {
      if (document.activeElement !== input) input.value = model.state.value ?? '';
      input.placeholder = model.state.placeholder ?? '';
    };
    const send = throttle((v) => model.set({ value: v }), THROTTLE_MS);
    input.addEventListener('input', () => { if (model.state.continuous_update !== false) send(input.value); });
    input.addEventListener('change', () => { send(input.value); send.flush(); });
    if (tag === 'input') {
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') {
          send(input.value);
          send.flush();
          model.custom({ event: 'submit' });
        }
      });
    }
    model.onChange(show);
    show();
    return labelled(model, input);
  };
}

function dropdown(model) {
  const select = document.createElement('select');
  const show = () => {
    const labels = model.state._options_labels ?? [];
    if (select.options.length !== labels.length || [...select.options].some((o, i) => o.textContent !== labels[i])) {
      select.replaceChildren(...labels.map((l, i) => {
        const o = document.createElement('option');
        o.value = String(i);
        o.textContent = l;
        return o;
      }));
    }
    select.value = model.state.index === null || model.state.index === undefined ? '' : String(model.state.index);
  };
  select.addEventListener('change', () => model.set({ index: Number.parseInt(select.value, 10) }));
  model.onChange(show);
  show();
  return labelled(model, select);
}

function checkbox(model) {
  const row = document.createElement('div');
  row.className = 'widget-row widget-check';
  const label = document.createElement('label');
  label.className = 'check';
  const input = document.createElement('input');
  input.type = 'checkbox';
  const text = document.createElement('span');
  label.append(input, text);
  const show = () => {
    input.checked = !!model.state.value;
    input.disabled = !!model.state.disabled;
    text.textContent = model.state.description ?? '';
  };
  input.addEventListener('change', () => model.set({ value: input.checked }));
  model.onChange(show);
  show();
  row.append(label);
  return row;
}

function button(model, toggle) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'btn btn-sm';
  const show = () => {
    b.textContent = model.state.description || model.state.tooltip || (toggle ? 'Toggle' : 'Button');
    b.disabled = !!model.state.disabled;
    if (model.state.tooltip) b.title = model.state.tooltip;
    if (toggle) b.setAttribute('aria-pressed', model.state.value ? 'true' : 'false');
  };
  b.addEventListener('click', () => {
    if (toggle) model.set({ value: !model.state.value });
    else model.custom({ event: 'click' });
  });
  model.onChange(show);
  show();
  return b;
}

function label(model) {
  const span = document.createElement('span');
  span.className = 'widget-text';
  const show = () => { span.textContent = model.state.value ?? ''; };
  model.onChange(show);
  show();
  return span;
}

function html(model) {
  const div = document.createElement('div');
  div.className = 'widget-html';
  const show = () => div.replaceChildren(sanitizedHtml(String(model.state.value ?? '')));
  model.onChange(show);
  show();
  return div;
}

function box(kind) {
  return (model, manager) => {
    const div = document.createElement('div');
    div.className = `widget-box widget-${kind}`;
    let shown = null;
    const show = () => {
      const children = model.state.children ?? [];
      if (shown && shown.join() === children.join()) return;
      shown = [...children];
      div.replaceChildren(...children.map((c) => manager.view(c)));
    };
    model.onChange((changed) => { if ('children' in changed) show(); });
    show();
    return div;
  };
}

function output(model) {
  const element = model.outputArea().element;
  // One element per model: a second view of the same Output shows a copy of it as it is now.
  return element.isConnected ? element.cloneNode(true) : element;
}

const VIEWS = {
  IntSliderView: slider(false),
  FloatSliderView: slider(true),
  IntTextView: numberText(false),
  FloatTextView: numberText(true),
  DropdownView: dropdown,
  TextView: textInput('input'),
  TextareaView: textInput('textarea'),
  CheckboxView: checkbox,
  ToggleButtonView: (model) => button(model, true),
  ButtonView: (model) => button(model, false),
  LabelView: label,
  HTMLView: html,
  HTMLMathView: html,
  VBoxView: box('vbox'),
  HBoxView: box('hbox'),
  BoxView: box('vbox'),
  OutputView: output,
};
