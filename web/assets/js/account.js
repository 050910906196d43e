// /account: who is in the account, invites for new users, signing out, deleting oneself; the
// user's password, username, second factor and sign-ins; for admins, resetting a user's
// password and requiring a second factor of everyone. A user who must first change a reset
// password or enrol a second factor sees only that.
import { api, currentUser, heldBack, signOut, toLogin } from './api.js';
import { announce, confirmDialog, el, setupTopbar, showMain, showPageError, wireCopy } from './dom.js';

const $ = (id) => document.getElementById(id);

function date(ts) {
  return new Date(ts).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

function when(ts) {
  return new Date(ts).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** An admin's form to give another user a one-time password, under their row. */
function resetForm(user) {
  const input = el('input', { type: 'password', autocomplete: 'new-password', 'aria-label': `One-time password for ${user.username}`, 'data-testid': `reset-password-${user.username}` });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { class: 'row mt', hidden: true },
    el('div', { class: 'grow' }, input),
    el('button', { type: 'submit', class: 'btn btn-sm' , text: 'Set one-time password' }),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await api(`/account/users/${encodeURIComponent(user.id)}/password`, { method: 'POST', body: { password: input.value } });
      input.value = '';
      form.hidden = true;
      announce(`${user.username} is signed out everywhere and must change the password at the next sign-in.`);
    } catch (err) {
      if (err.status === 401) return toLogin();
      error.textContent = err.message;
    }
  });
  return form;
}

async function loadUsers(me) {
  const { users } = await api('/account/users');
  users.sort((a, b) => a.username.localeCompare(b.username));
  const admin = me.role === 'admin';
  $('users').replaceChildren(...users.map((u) => {
    const row = el('li', {},
      el('span', {}, el('strong', { text: u.username }), u.id === me.id ? ' (you)' : ''),
      el('span', { class: 'muted', text: `${u.role} · since ${date(u.created_at)}` }));
    if (admin && u.id !== me.id) {
      const form = resetForm(u);
      row.append(
        el('button', { type: 'button', class: 'btn btn-sm', 'data-testid': `reset-${u.username}`, text: 'Reset password', onclick: () => { form.hidden = !form.hidden; } }),
        form);
    }
    return row;
  }));
}

async function loadSignIns() {
  const { sign_ins: signIns } = await api('/me/sign-ins');
  $('sign-ins').replaceChildren(...signIns.map((s) => {
    const row = el('li', { 'data-testid': 'sign-in' },
      el('span', {}, el('strong', { text: s.user_agent ?? 'Unknown program' }), s.current ? ' (this one)' : ''),
      el('span', { class: 'muted', text: `from ${s.client_addr ?? 'an unknown address'} · signed in ${when(s.created_at)} · last used ${when(s.last_used_at)} · until ${when(s.expires_at)}` }));
    if (!s.current) {
      row.append(el('button', {
        type: 'button', class: 'btn btn-sm', text: 'Sign out', 'data-testid': 'revoke-sign-in',
        onclick: async () => {
          try {
            await api(`/me/sign-ins/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
            announce('Signed out there.');
            await loadSignIns();
          } catch (err) {
            if (err.status === 401) return toLogin();
            $('sign-ins-error').textContent = err.message;
          }
        },
      }));
    }
    return row;
  }));
  $('revoke-others').hidden = signIns.length < 2;
}

function showSecondFactor(enabled) {
  $('second-factor-state').textContent = enabled
    ? 'On: signing in asks for a code from your authenticator app.'
    : 'Off.';
  $('enrol-start').hidden = enabled;
  $('disable-form').hidden = !enabled;
  $('enrol-form').hidden = true;
}

/** The second factor: enrol (QR code, confirm, recovery codes shown once) or turn it off. */
function wireSecondFactor(me) {
  showSecondFactor(me.security?.second_factor_enabled ?? false);
  $('enrol').addEventListener('click', async () => {
    $('second-factor-error').textContent = '';
    try {
      const enrolment = await api('/me/second-factor', { method: 'POST' });
      // A new enrolment has a new picture: never show a cached one.
      $('enrol-qr').src = `${enrolment.qr_svg}?t=${Date.now()}`;
      $('enrol-secret').value = enrolment.secret;
      $('enrol-start').hidden = true;
      $('enrol-form').hidden = false;
      $('enrol-code').focus();
    } catch (err) {
      if (err.status === 401) return toLogin();
      $('second-factor-error').textContent = err.message;
    }
  });
  $('enrol-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('second-factor-error').textContent = '';
    try {
      const { recovery_codes: codes } = await api('/me/second-factor/confirm', {
        method: 'POST', body: { code: $('enrol-code').value.replace(/\s/g, '') },
      });
      $('enrol-form').hidden = true;
      $('recovery-codes').replaceChildren(...codes.map((c) => el('li', { text: c })));
      $('recovery').hidden = false;
      $('second-factor-state').textContent = 'On: signing in asks for a code from your authenticator app.';
      announce('The second factor is on. Save your recovery codes.');
    } catch (err) {
      if (err.status === 401 && err.code !== 'invalid_code') return toLogin();
      $('second-factor-error').textContent = err.message;
    }
  });
  $('recovery-done').addEventListener('click', () => {
    $('recovery').hidden = true;
    $('recovery-codes').replaceChildren();
    // An enrolment the account required was all that was left to do.
    if (heldBack(me)) location.reload();
    else showSecondFactor(true);
  });
  $('disable-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('second-factor-error').textContent = '';
    const given = $('disable-code').value.trim();
    const code = /^\d{6}$/.test(given.replace(/\s/g, ''))
      ? { code: given.replace(/\s/g, '') }
      : { recovery_code: given };
    try {
      await api('/me/second-factor/disable', { method: 'POST', body: { password: $('disable-password').value, ...code } });
      $('disable-password').value = '';
      $('disable-code').value = '';
      showSecondFactor(false);
      announce('The second factor is off.');
    } catch (err) {
      if (err.status === 401 && err.code !== 'invalid_code') return toLogin();
      $('second-factor-error').textContent = err.message;
    }
  });
}

function wirePassword(me) {
  $('password-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('password-error').textContent = '';
    try {
      await api('/me/password', {
        method: 'POST',
        body: { current_password: $('current-password').value, new_password: $('new-password').value },
      });
      $('current-password').value = '';
      $('new-password').value = '';
      if (heldBack(me)) {
        location.reload();
        return;
      }
      announce('Password changed. Every other sign-in was signed out.');
      await loadSignIns();
    } catch (err) {
      if (err.status === 401) return toLogin();
      $('password-error').textContent = err.message;
    }
  });
}

function wireUsername(me) {
  $('username-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('username-error').textContent = '';
    try {
      const user = await api('/me/username', { method: 'POST', body: { username: $('new-username').value.trim() } });
      me.username = user.username;
      $('me-username').textContent = user.username;
      $('new-username').value = '';
      setupTopbar(me);
      announce(`You are now ${user.username}.`);
      await loadUsers(me);
    } catch (err) {
      if (err.status === 401) return toLogin();
      $('username-error').textContent = err.message;
    }
  });
}

async function wireAccountSecurity() {
  const { require_second_factor: required } = await api('/account/security');
  const box = $('require-second-factor');
  box.checked = required;
  $('account-security').hidden = false;
  box.addEventListener('change', async () => {
    $('account-security-error').textContent = '';
    try {
      await api('/account/security', { method: 'PUT', body: { require_second_factor: box.checked } });
      announce(box.checked ? 'Every user now needs a second factor.' : 'A second factor is now optional.');
    } catch (err) {
      box.checked = !box.checked;
      if (err.status === 401) return toLogin();
      $('account-security-error').textContent = err.message;
    }
  });
}

async function main() {
  const me = await currentUser();
  setupTopbar(me);
  $('account-name').textContent = me.account_name ?? 'Account';
  $('me-username').textContent = me.username;
  $('me-role').textContent = me.role;
  $('me-since').textContent = date(me.created_at);
  wirePassword(me);
  wireSecondFactor(me);
  $('signout-2').addEventListener('click', signOut);
  if (heldBack(me)) {
    // Only what lifts the hold is shown: everything else would answer 403.
    const mustChange = me.security.password_change_required;
    $('held-notice').textContent = mustChange
      ? 'An admin reset your password. Choose your own to continue.'
      : 'Your account requires a second factor. Set one up to continue.';
    $('held-notice').hidden = false;
    for (const id of ['username-card', 'sign-ins-card', 'invite-card', 'delete-card', 'users-card']) $(id).hidden = true;
    $(mustChange ? 'second-factor-card' : 'password-card').hidden = true;
    showMain();
    return;
  }
  const admin = me.role === 'admin';
  $('invite-admin').hidden = !admin;
  $('invite-member').hidden = admin;
  await loadUsers(me);
  await loadSignIns();
  if (admin) await wireAccountSecurity();
  wireUsername(me);
  showMain();

  wireCopy($('copy-invite'), $('invite-link'));
  $('revoke-others').addEventListener('click', async () => {
    $('sign-ins-error').textContent = '';
    try {
      const { revoked } = await api('/me/sign-ins', { method: 'DELETE' });
      announce(`Signed out in ${revoked} other place${revoked === 1 ? '' : 's'}.`);
      await loadSignIns();
    } catch (err) {
      if (err.status === 401) return toLogin();
      $('sign-ins-error').textContent = err.message;
    }
  });

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
