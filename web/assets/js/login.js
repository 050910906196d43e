// /login: sign in (with the second factor when the user has one), create an account, or
// join one with an invite (`?invite=CODE`).
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
    const answer = await api(path, { method: 'POST', body });
    if (answer?.second_factor_required) {
      askSecondFactor(answer.challenge);
      button.disabled = false;
      return;
    }
    location.assign(nextPath());
  } catch (e) {
    errorBox.textContent = e.message;
    button.disabled = false;
  }
}

const value = (id) => document.getElementById(id).value;

// The second step of a sign-in: the password was right, the server now wants a code.
let challenge = null;
let useRecovery = false;
const secondFactorForm = document.getElementById('form-second-factor');

function askSecondFactor(newChallenge) {
  challenge = newChallenge;
  for (const id of ['form-signin', 'form-create', 'form-join']) document.getElementById(id).hidden = true;
  document.querySelector('.tabs').hidden = true;
  secondFactorForm.hidden = false;
  document.getElementById(useRecovery ? 'second-factor-recovery' : 'second-factor-code').focus();
}

document.getElementById('use-recovery').addEventListener('click', () => {
  useRecovery = !useRecovery;
  document.getElementById('code-field').hidden = useRecovery;
  document.getElementById('recovery-field').hidden = !useRecovery;
  document.getElementById('use-recovery').textContent = useRecovery
    ? 'Use a code from the app instead'
    : 'Use a recovery code instead';
  document.getElementById('second-factor-hint').textContent = useRecovery
    ? 'Enter one of the recovery codes you saved when you set up the second factor. Each works once.'
    : 'Enter the 6-digit code your authenticator app shows for Switchboard.';
  document.getElementById(useRecovery ? 'second-factor-recovery' : 'second-factor-code').focus();
});

secondFactorForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  errorBox.textContent = '';
  const body = useRecovery
    ? { challenge, recovery_code: value('second-factor-recovery').trim() }
    : { challenge, code: value('second-factor-code').replace(/\s/g, '') };
  const button = secondFactorForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('/auth/second-factor', { method: 'POST', body });
    location.assign(nextPath());
  } catch (err) {
    button.disabled = false;
    if (err.code === 'unauthorized') {
      // The challenge expired or was used: start again with the password.
      secondFactorForm.hidden = true;
      document.querySelector('.tabs').hidden = false;
      selectTab(document.getElementById('tab-signin'));
      document.getElementById('signin-password').value = '';
      document.getElementById('signin-password').focus();
    }
    errorBox.textContent = err.message;
  }
});

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
