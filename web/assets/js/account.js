// /account: who is in the account, invites for new users, signing out, deleting oneself.
import { api, currentUser, signOut, toLogin } from './api.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError, wireCopy } from './dom.js';

const $ = (id) => document.getElementById(id);

function date(ts) {
  return new Date(ts).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

async function loadUsers(me) {
  const { users } = await api('/account/users');
  users.sort((a, b) => a.username.localeCompare(b.username));
  $('users').replaceChildren(...users.map((u) => el('li', {},
    el('span', {}, el('strong', { text: u.username }), u.id === me.id ? ' (you)' : ''),
    el('span', { class: 'muted', text: `${u.role} · since ${date(u.created_at)}` }))));
}

async function main() {
  const me = await currentUser();
  setupTopbar(me);
  $('account-name').textContent = me.account_name ?? 'Account';
  $('me-username').textContent = me.username;
  $('me-role').textContent = me.role;
  $('me-since').textContent = date(me.created_at);
  const admin = me.role === 'admin';
  $('invite-admin').hidden = !admin;
  $('invite-member').hidden = admin;
  await loadUsers(me);
  showMain();

  $('signout-2').addEventListener('click', signOut);
  wireCopy($('copy-invite'), $('invite-link'));

  $('invite').addEventListener('click', async () => {
    $('invite-error').textContent = '';
    try {
      const { invite, expires_at: expires } = await api('/account/invites', { method: 'POST' });
      $('invite-link').value = `${location.origin}/login?invite=${encodeURIComponent(invite)}`;
      $('invite-expiry').textContent = new Date(expires).toLocaleString();
      $('invite-result').hidden = false;
      $('copy-invite').focus();
      announce('Invite created. Copy the link and send it to your colleague.');
    } catch (e) {
      if (e.status === 401) return toLogin();
      $('invite-error').textContent = e.message;
    }
  });

  $('delete-me').addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete the user ${me.username}?`,
      body: 'You will be signed out and cannot sign in again with this user. This cannot be undone.',
      confirmLabel: 'Delete my user',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('/me', { method: 'DELETE' });
      location.assign('/login');
    } catch (e) {
      if (e.status === 401) return toLogin();
      $('delete-error').textContent = e.message;
    }
  });
}

main().catch((e) => showPageError(e.message));
