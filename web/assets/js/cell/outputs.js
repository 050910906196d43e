// Rendering of Jupyter outputs (iopub `stream`, `error`, `execute_result`, `display_data`,
// `clear_output`) into an element. Used by the cell's output area and by Output widgets.

import { ansiFragment } from './ansi.js';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const FILES = 'application/vnd.switchboard.files+json';

/** MIME types we can show, most preferred first. */
export const MIME_ORDER = [WIDGET_VIEW, FILES, 'text/html', 'image/png', 'image/svg+xml', 'image/jpeg', 'text/plain'];

// What user HTML may contain. Kernel output is untrusted: the page's CSP already stops
// scripts and inline styles, and this allow-list also keeps out forms, frames and anything
// that would make the browser log CSP violations (<style>, style="…").
const HTML_TAGS = new Set([
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'code', 'col', 'colgroup', 'dd', 'del', 'details',
  'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img',
  'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 's', 'samp', 'small', 'span', 'strong', 'sub',
  'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'u', 'ul', 'var',
]);
const HTML_ATTRS = new Set(['alt', 'class', 'colspan', 'rowspan', 'title', 'width', 'height', 'href', 'src', 'scope', 'start']);
// Elements whose content is dropped with them (not unwrapped into text).
const HTML_DROP = new Set(['script', 'style', 'template', 'iframe', 'object', 'embed', 'noscript', 'svg', 'math']);

function safeUrl(value, forImage) {
  const v = value.trim();
  if (forImage) return /^data:image\/(png|jpeg|gif|webp);/i.test(v) || /^\/(?!\/)/.test(v) ? v : null;
  return /^(https?:|mailto:|\/(?!\/)|#)/i.test(v) ? v : null;
}

function cleanNode(node, into) {
  for (const child of [...node.childNodes]) {
    if (child.nodeType === Node.TEXT_NODE) {
      into.append(child.textContent);
      continue;
    }
    if (child.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = child.localName;
    if (HTML_DROP.has(tag)) continue;
    if (!HTML_TAGS.has(tag)) {
      cleanNode(child, into);
      continue;
    }
    const copy = document.createElement(tag);
    for (const attr of child.attributes) {
      if (!HTML_ATTRS.has(attr.name)) continue;
      if (attr.name === 'href' || attr.name === 'src') {
        const url = safeUrl(attr.value, attr.name === 'src');
        if (url === null) continue;
        copy.setAttribute(attr.name, url);
      } else {
        copy.setAttribute(attr.name, attr.value);
      }
    }
    if (tag === 'a') {
      copy.target = '_blank';
      copy.rel = 'noopener noreferrer';
    }
    cleanNode(child, copy);
    into.append(copy);
  }
}

/** Untrusted HTML → a fragment of allowed elements (parsed in an inert document). */
export function sanitizedHtml(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const fragment = document.createDocumentFragment();
  cleanNode(doc.body, fragment);
  return fragment;
}

/**
 * Text as progress bars mean it: a carriage return starts the line over, so only the text
 * after the last one on each line shows (or the last text before it, while the next has not
 * come yet); a backspace deletes one character. `\r\n` is a plain line end.
 */
export function terminalText(text) {
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => {
      let shown = line.split('\r').filter(Boolean).pop() ?? '';
      while (shown.includes('\x08')) shown = shown.replace(/[^\x08]?\x08/, '');
      return shown;
    })
    .join('\n');
}

function formatSize(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** A list of links to a cell's files (`{files: [{name, size, url}]}`). */
export function filesList(files) {
  const list = document.createElement('ul');
  list.className = 'cell-files';
  list.setAttribute('aria-label', 'Files written by the cell');
  for (const f of files ?? []) {
    const url = safeUrl(String(f.url ?? ''), false);
    if (!url) continue;
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = url;
    a.textContent = f.name;
    a.target = '_blank';
    a.rel = 'noopener';
    li.append(a, ` ${formatSize(Number(f.size) || 0)}`);
    list.append(li);
  }
  return list;
}

/**
 * An area outputs are added to, in order. `renderWidget(modelId)` returns the element of a
 * widget view (given by the page, which owns the widget manager).
 */
export class OutputArea {
  constructor(element, { renderWidget } = {}) {
    this.element = element;
    this.renderWidget = renderWidget;
    this.clearPending = false;
    this.lastStream = null;
  }

  /** Removes every output. */
  clear() {
    this.element.replaceChildren();
    this.lastStream = null;
    this.clearPending = false;
  }

  /** Handles one iopub message (any other type is ignored). */
  handle(msg) {
    const type = msg.header?.msg_type ?? msg.msg_type;
    const content = msg.content ?? {};
    if (type === 'clear_output') {
      // `wait`: clear when the next output arrives, so animations do not flicker.
      if (content.wait) this.clearPending = true;
      else this.clear();
      return;
    }
    if (!['stream', 'error', 'execute_result', 'display_data'].includes(type)) return;
    this.add({ output_type: type, ...content, metadata: msg.metadata ?? content.metadata });
  }

  /** Adds one output in nbformat shape (`output_type` plus the message content). */
  add(output) {
    if (this.clearPending) this.clear();
    switch (output.output_type) {
      case 'stream':
        this.addStream(output);
        break;
      case 'error':
        this.addError(output);
        break;
      case 'execute_result':
      case 'display_data':
        this.addData(output.data ?? {}, output.output_type);
        break;
      default:
        break;
    }
  }

  addStream(output) {
    const notice = output.metadata?.switchboard?.notice;
    if (notice) {
      // The server dropped output (rate or size limit) or the kernel stopped: say so apart
      // from the program's own output.
      const p = document.createElement('p');
      p.className = 'cell-notice';
      p.setAttribute('role', 'status');
      p.dataset.notice = notice;
      p.textContent = String(output.text ?? '').replace(/^\[switchboard\]\s*/, '').trim();
      this.element.append(p);
      this.lastStream = null;
      return;
    }
    const name = output.name === 'stderr' ? 'stderr' : 'stdout';
    if (!this.lastStream || this.lastStream.name !== name || this.element.lastElementChild !== this.lastStream.pre) {
      const pre = document.createElement('pre');
      pre.className = `cell-stream cell-${name}`;
      this.element.append(pre);
      this.lastStream = { name, pre, text: '' };
    }
    const s = this.lastStream;
    s.text += Array.isArray(output.text) ? output.text.join('') : String(output.text ?? '');
    s.pre.replaceChildren(ansiFragment(terminalText(s.text)));
  }

  addError(output) {
    this.lastStream = null;
    const pre = document.createElement('pre');
    pre.className = 'cell-error';
    pre.setAttribute('role', 'alert');
    const traceback = Array.isArray(output.traceback) && output.traceback.length
      ? output.traceback.join('\n')
      : `${output.ename ?? 'Error'}: ${output.evalue ?? ''}`;
    pre.append(ansiFragment(traceback));
    this.element.append(pre);
  }

  addData(data, kind) {
    this.lastStream = null;
    const mime = MIME_ORDER.find((m) => data[m] !== undefined);
    if (!mime) return;
    const value = data[mime];
    const box = document.createElement('div');
    box.className = `cell-data cell-${kind}`;
    box.dataset.mime = mime;
    switch (mime) {
      case WIDGET_VIEW:
        if (this.renderWidget) box.append(this.renderWidget(value.model_id));
        break;
      case FILES:
        box.append(filesList(value.files));
        break;
      case 'text/html':
        box.append(sanitizedHtml(Array.isArray(value) ? value.join('') : String(value)));
        break;
      case 'image/png':
      case 'image/jpeg':
        box.append(image(`data:${mime};base64,${String(value).replace(/\s/g, '')}`, data['text/plain']));
        break;
      case 'image/svg+xml': {
        // As an <img>, never inline: SVG can carry scripts and links.
        const svg = Array.isArray(value) ? value.join('') : String(value);
        const bytes = new TextEncoder().encode(svg);
        let binary = '';
        for (const b of bytes) binary += String.fromCharCode(b);
        box.append(image(`data:image/svg+xml;base64,${btoa(binary)}`, data['text/plain']));
        break;
      }
      default: {
        const pre = document.createElement('pre');
        pre.className = 'cell-text';
        pre.append(ansiFragment(Array.isArray(value) ? value.join('') : String(value)));
        box.append(pre);
      }
    }
    this.element.append(box);
  }
}

function image(src, alt) {
  const img = document.createElement('img');
  img.src = src;
  const text = Array.isArray(alt) ? alt.join('') : alt;
  // Matplotlib's text/plain is "<Figure size 640x480 with 1 Axes>": better than nothing.
  img.alt = text ? String(text).replace(/^<|>$/g, '') : 'Image output';
  return img;
}
