// The code editor: CodeMirror 5 (vendored under /assets/vendor/codemirror, loaded as classic
// scripts before the page's modules) in Python mode. Falls back to the plain <textarea> if
// CodeMirror did not load, so the page still works.

/**
 * Turns `textarea` into an editor. `onRun` is called on Shift+Enter (and Ctrl/Cmd+Enter),
 * `onEscape` on Escape (the page moves focus out of the editor).
 * Returns `{getValue, setValue, focus, refresh}`; call `refresh` once the editor becomes
 * visible (CodeMirror measures its layout, which is empty while the page is hidden).
 */
export function createEditor(textarea, { onRun, onEscape }) {
  const CodeMirror = globalThis.CodeMirror;
  if (typeof CodeMirror !== 'function') {
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.shiftKey || e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        onRun();
      }
    });
    return {
      getValue: () => textarea.value,
      setValue: (v) => { textarea.value = v; },
      focus: () => textarea.focus(),
      refresh: () => {},
    };
  }
  const run = () => onRun();
  const cm = CodeMirror.fromTextArea(textarea, {
    mode: { name: 'python', version: 3 },
    lineNumbers: true,
    indentUnit: 4,
    tabSize: 4,
    matchBrackets: true,
    viewportMargin: Infinity,
    screenReaderLabel: textarea.getAttribute('aria-label') ?? 'Code',
    extraKeys: {
      'Shift-Enter': run,
      'Ctrl-Enter': run,
      'Cmd-Enter': run,
      // Tab indents (with spaces, as Python wants); Escape lets keyboard users leave the
      // editor instead of being trapped in it.
      Tab: (ed) => {
        if (ed.somethingSelected()) ed.indentSelection('add');
        else ed.replaceSelection(' '.repeat(ed.getOption('indentUnit')), 'end');
      },
      'Shift-Tab': (ed) => ed.indentSelection('subtract'),
      Esc: () => onEscape?.(),
    },
  });
  return {
    getValue: () => cm.getValue(),
    setValue: (v) => cm.setValue(v),
    focus: () => cm.focus(),
    refresh: () => cm.refresh(),
  };
}
