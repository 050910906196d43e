// ANSI terminal colours (SGR escape sequences) → text nodes and <span class="ansi-…">.
// IPython paints tracebacks this way. The output is built from text nodes, never parsed as
// HTML, so whatever the kernel prints cannot become markup.

const COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

// ESC [ params final-byte: every CSI sequence. Only `m` (SGR) means something here; the
// others (cursor moves, erase line) are dropped.
const CSI = /\x1b\[([0-9;]*)([@-~])/g;

/** The basic colour closest in hue to channel levels 0–5: a channel counts when near the top. */
function nearest(levels) {
  const top = Math.max(...levels);
  if (top < 1) return 'black';
  const on = levels.map((l) => l >= Math.max(1, top - 1));
  return COLOURS[(on[0] ? 1 : 0) + (on[1] ? 2 : 0) + (on[2] ? 4 : 0)];
}

/** A colour of the xterm 256-colour palette as one of the 16 basic ones. */
function colourOf256(n) {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 8) return COLOURS[n];
  if (n < 16) return `bright-${COLOURS[n - 8]}`;
  if (n >= 232) return n < 244 ? 'bright-black' : 'white';
  const v = n - 16;
  return nearest([Math.floor(v / 36), Math.floor(v / 6) % 6, v % 6]);
}

/** The classes for a style: `ansi-red`, `ansi-bright-green`, `ansi-bg-blue`, `ansi-bold`… */
function classesOf(style) {
  const classes = [];
  if (style.fg) classes.push(`ansi-${style.fg}`);
  if (style.bg) classes.push(`ansi-bg-${style.bg}`);
  if (style.bold) classes.push('ansi-bold');
  if (style.faint) classes.push('ansi-faint');
  if (style.italic) classes.push('ansi-italic');
  if (style.underline) classes.push('ansi-underline');
  return classes;
}

/** Applies the SGR parameters `codes` to `style` (in place). */
function applySgr(style, codes) {
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) Object.assign(style, { fg: null, bg: null, bold: false, faint: false, italic: false, underline: false });
    else if (c === 1) style.bold = true;
    else if (c === 2) style.faint = true;
    else if (c === 3) style.italic = true;
    else if (c === 4) style.underline = true;
    else if (c === 22) { style.bold = false; style.faint = false; }
    else if (c === 23) style.italic = false;
    else if (c === 24) style.underline = false;
    else if (c >= 30 && c <= 37) style.fg = COLOURS[c - 30];
    else if (c === 39) style.fg = null;
    else if (c >= 40 && c <= 47) style.bg = COLOURS[c - 40];
    else if (c === 49) style.bg = null;
    else if (c >= 90 && c <= 97) style.fg = `bright-${COLOURS[c - 90]}`;
    else if (c >= 100 && c <= 107) style.bg = `bright-${COLOURS[c - 100]}`;
    else if (c === 38 || c === 48) {
      // 256-colour (5;n) and true-colour (2;r;g;b) forms, which IPython's tracebacks use:
      // shown as the nearest of the 16 classes so the page's palette still applies.
      let colour = null;
      if (codes[i + 1] === 5) {
        colour = colourOf256(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2) {
        colour = nearest([codes[i + 2], codes[i + 3], codes[i + 4]].map((v) => (v ?? 0) / 51));
        i += 4;
      }
      if (c === 38) style.fg = colour;
      else style.bg = colour;
    }
  }
}

/**
 * Renders `text` with ANSI SGR sequences into a DocumentFragment of text nodes and spans.
 * Colours become classes (`ansi-red`, `ansi-bright-red`, `ansi-bg-red`, `ansi-bold`, …) that
 * cell.css paints; other escape sequences are removed.
 */
export function ansiFragment(text) {
  const fragment = document.createDocumentFragment();
  const style = { fg: null, bg: null, bold: false, faint: false, italic: false, underline: false };
  let last = 0;
  const push = (chunk) => {
    if (!chunk) return;
    const classes = classesOf(style);
    if (classes.length === 0) {
      fragment.append(chunk);
    } else {
      const span = document.createElement('span');
      span.className = classes.join(' ');
      span.textContent = chunk;
      fragment.append(span);
    }
  };
  for (const m of text.matchAll(CSI)) {
    push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === 'm') {
      applySgr(style, m[1] === '' ? [0] : m[1].split(';').map((n) => Number.parseInt(n || '0', 10)));
    }
  }
  push(text.slice(last));
  return fragment;
}

/** `text` without any escape sequences (for copying and screen readers). */
export function stripAnsi(text) {
  return text.replace(CSI, '');
}
