// Drawing one box on a picture with a mouse, pen or finger: the box is kept normalized to
// the picture (0–1, top-left origin), the form the server takes. The stage must be exactly
// as large as the picture (see .snap-stage), so its rectangle is the picture's.

function clamp(v) {
  return Math.min(1, Math.max(0, v));
}

/**
 * Lets the user drag a box on `stage`, shown in `boxEl` through the --x/--y/--w/--h custom
 * properties. `onChange(box)` is called when a drag ends with a box of some size (or with
 * null when cleared). Off until `enable()`.
 */
export function boxDrawer(stage, boxEl, onChange) {
  let start = null;
  let box = null;
  let enabled = false;

  function at(e) {
    const r = stage.getBoundingClientRect();
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  }

  function show(from, to) {
    box = {
      x: Math.min(from[0], to[0]),
      y: Math.min(from[1], to[1]),
      w: Math.abs(to[0] - from[0]),
      h: Math.abs(to[1] - from[1]),
    };
    for (const k of ['x', 'y', 'w', 'h']) boxEl.style.setProperty(`--${k}`, String(box[k]));
    boxEl.hidden = false;
  }

  stage.addEventListener('pointerdown', (e) => {
    if (!enabled || e.button !== 0) return;
    e.preventDefault();
    stage.setPointerCapture(e.pointerId);
    start = at(e);
    show(start, start);
  });
  stage.addEventListener('pointermove', (e) => {
    if (start) show(start, at(e));
  });
  const finish = (e) => {
    if (!start) return;
    show(start, at(e));
    start = null;
    // A click without a drag is no box.
    if (box.w * box.h < 1e-5) {
      box = null;
      boxEl.hidden = true;
    }
    onChange(box);
  };
  stage.addEventListener('pointerup', finish);
  stage.addEventListener('pointercancel', finish);

  return {
    enable() {
      enabled = true;
      stage.classList.add('drawing');
    },
    disable() {
      enabled = false;
      start = null;
      stage.classList.remove('drawing');
    },
    clear() {
      box = null;
      boxEl.hidden = true;
    },
    box: () => box,
  };
}
