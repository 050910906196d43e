// /login: sign in, create an account, or join one with an invite (`?invite=CODE`).
import { api } from './api.js';

const params = new URLSearchParams(location.search);
const errorBox = document.getElementById('auth-error');
const tabs = [...document.querySelectorAll('[role=tab]')];

/** Where to go after signing in: only a path on this site, never another origin. */
function nextPath() {
  const next = params.get('next') ?? '/';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

function selectTab(tab, focus = false) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
  }
  errorBox.textContent = '';
  if (focus) tab.focus();
}

for (const tab of tabs) {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    selectTab(tabs[(to + tabs.length) % tabs.length], true);
  });
}

/** Checks what the browser can check before asking the server. */
function localProblem(form) {
  for (const input of form.querySelectorAll('input')) {
    if (!input.checkValidity()) {
      const label = form.querySelector(`label[for="${input.id}"]`)?.firstChild?.textContent.trim() ?? input.name;
      input.focus();
      if (input.validity.valueMissing) return `${label}: please fill this in.`;
      if (input.validity.tooShort) return `${label}: at least ${input.minLength} characters.`;
      return `${label}: ${input.validationMessage}`;
    }
  }
  return null;
}

async function submit(form, path, body) {
  errorBox.textContent = '';
  const problem = localProblem(form);
  if (problem) {
    errorBox.textContent = problem;
    return;
  }
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api(path, { method: 'POST', body });
    location.assign(nextPath());
  } catch (e) {
    errorBox.textContent = e.message;
    button.disabled = false;
  }
}

const value = (id) => document.getElementById(id).value;

document.getElementById('form-signin').addEventListener('submit', (e) => {
  e.preventDefault();
  submit(e.target, '/auth/login', { username: value('signin-username').trim(), password: value('signin-password') });
});
document.getElementById('form-create').addEventListener('submit', (e) => {
  e.preventDefault();
  submit(e.target, '/auth/register', {
    username: value('create-username').trim(),
    password: value('create-password'),
    account_name: value('create-account').trim(),
  });
});
document.getElementById('form-join').addEventListener('submit', (e) => {
  e.preventDefault();
  submit(e.target, '/auth/register', {
    username: value('join-username').trim(),
    password: value('join-password'),
    invite: value('join-invite').trim(),
  });
});

const invite = params.get('invite');
if (invite) {
  document.getElementById('join-invite').value = invite;
  selectTab(document.getElementById('tab-join'));
  document.getElementById('join-username').focus();
} else {
  document.getElementById('signin-username').focus();
}
