// The page around the content: the top bar, page errors, announcements, copy buttons,
// dialogs, and a DOM builder that never parses HTML.

import { signOut } from './api.js';

/** Fills in the top bar (who is signed in) and wires its sign-out button. */
export function setupTopbar(user) {
  const who = document.getElementById('whoami');
  if (who) {
    who.textContent = user.account_name ? `${user.username} · ${user.account_name}` : user.username;
  }
  document.getElementById('signout')?.addEventListener('click', signOut);
  // Admins and operators get the admin view in the menu.
  const nav = document.querySelector('.topbar nav');
  if (nav && (user.role === 'admin' || user.role === 'operator') && !nav.querySelector('a[href="/admin"]')) {
    const link = document.createElement('a');
    link.href = '/admin';
    link.textContent = 'Admin';
    nav.append(link);
  }
}

/** Reveals the page once it knows who is signed in (avoids a flash of empty content). */
export function showMain() {
  document.getElementById('main')?.removeAttribute('hidden');
}

/** Says something to screen-reader users without moving focus. */
export function announce(text) {
  const region = document.getElementById('live-status');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick makes repeated messages be read again.
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A page-wide failure worth showing (e.g. the first load failed). */
export function showPageError(message) {
  let box = document.getElementById('page-error');
  if (!box) {
    box = document.createElement('p');
    box.id = 'page-error';
    box.className = 'card error';
    box.setAttribute('role', 'alert');
    document.querySelector('main')?.prepend(box);
  }
  box.textContent = message;
  showMain();
}

/** Copies text to the clipboard; falls back to selecting it in `input`. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    return false;
  }
}

/** Wires a copy button to an input; the button says what happened for a moment. */
export function wireCopy(button, input) {
  const label = button.textContent;
  button.addEventListener('click', async () => {
    const ok = await copyText(input.value, input);
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    announce(ok ? 'Link copied' : 'Link selected; press Control C to copy');
    setTimeout(() => { button.textContent = label; }, 1800);
  });
}

/**
 * Asks for confirmation in a modal <dialog>. Resolves true when confirmed.
 * `confirmLabel` names the action ("End session"); `danger` paints it red.
 */
export function confirmDialog({ title, body, confirmLabel = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.setAttribute('aria-labelledby', 'dialog-title');
    dialog.innerHTML = `
      <h2 id="dialog-title"></h2>
      <p class="dialog-body"></p>
      <form method="dialog" class="actions">
        <button class="btn" value="cancel">Cancel</button>
        <button class="btn ${danger ? 'btn-danger' : 'btn-primary'}" value="confirm" data-testid="confirm"></button>
      </form>`;
    dialog.querySelector('h2').textContent = title;
    dialog.querySelector('.dialog-body').textContent = body;
    dialog.querySelector('[value=confirm]').textContent = confirmLabel;
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('[value=cancel]').focus();
  });
}

/** `el(tag, {attrs}, ...children)`: a small DOM builder that never parses HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
