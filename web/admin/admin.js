// The operator's page (docs/operations.md "The operator's page"): sign in with a token, then the
// node's and the cluster's figures from GET /api/admin/overview every few seconds, and a form that
// publishes a test event (POST /api/admin/publish). The token is kept in sessionStorage: this tab
// only, gone when it closes. Everything from the server is shown as text (assets/dom.js).

import { api } from '/assets/api.js';
import { h, setChildren, $ } from '/assets/dom.js';
import { icon } from '/assets/icons.js';
import { overviewView, updateOverview } from './overview.js';
import { publishCard } from './publish.js';

const TOKEN_KEY = 'kabar.admin.token';
const REFRESH_MS = Number(new URLSearchParams(location.search).get('refresh_ms')) || 3000;

const main = $('#main');
const topbar = $('#topbar');
let timer = null;
let view = null;

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  view = null;
  showSignIn();
}

function tools(status) {
  const old = $('.topbar-tools', topbar);
  if (old) old.remove();
  const spacer = $('.topbar-spacer', topbar) || topbar.appendChild(h('div', { class: 'topbar-spacer' }));
  spacer.after(h('div', { class: 'topbar-tools' }, status,
    storedToken() ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', testid: 'btn-signout', onclick: signOut },
      icon('logout'), 'Sign out') : null));
}

function showSignIn(message) {
  tools(null);
  const input = h('textarea', {
    class: 'input mono token-input', id: 'token', rows: 4, testid: 'signin-token', required: true,
    placeholder: 'eyJhbGciOi…', autocomplete: 'off', spellcheck: 'false',
  });
  const error = h('div', { class: 'form-error', testid: 'signin-error', hidden: !message }, message || '');
  const form = h('form', { class: 'card login-card signin', testid: 'signin', onsubmit: (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  } },
  h('div', { class: 'card-body stack' },
    h('div', null,
      h('div', { class: 'eyebrow' }, 'Operator'),
      h('h1', null, 'Sign in'),
      h('p', { class: 'muted' }, 'Paste a token (JWT) of a role the policy grants ', h('code', null, 'admin'),
        '. It is kept in this tab only (sessionStorage) and sent as a bearer token.')),
    h('div', { class: 'field' }, h('label', { for: 'token', class: 'field-label' }, 'Token'), input),
    error,
    h('button', { class: 'btn btn-primary btn-block', type: 'submit', testid: 'signin-submit' }, icon('shield'), 'Open the operator\'s page')));
  setChildren(main, form);
  input.focus();
}

function refusalView(error) {
  const title = error.status === 401 ? 'This token is not accepted' : 'This token may not open the operator\'s page';
  const reason = error.body && typeof error.body.reason === 'string' ? error.body.reason : error.code;
  return h('div', { class: 'card problem refusal', testid: 'refusal', dataset: { status: error.status, code: error.code, reason } },
    h('div', { class: 'problem-icon' }, icon('shield')),
    h('h2', null, title),
    h('p', { testid: 'refusal-message' }, error.message),
    h('p', { class: 'muted small' }, `HTTP ${error.status} · ${error.code}${reason && reason !== error.code ? ` · ${reason}` : ''}`),
    h('p', { class: 'hint' }, error.status === 401
      ? 'Sign in again with a valid token.'
      : 'Sign in with a token of a role the policy grants admin (the built-in policy: super_admin).'),
    h('button', { class: 'btn', type: 'button', testid: 'btn-other-token', onclick: signOut }, icon('back'), 'Use another token'));
}

function statusChip(tone, label, title) {
  return h('span', { class: 'conn', testid: 'refresh-state', dataset: { tone, state: tone === 'ok' ? 'live' : 'error' }, title },
    h('span', { class: 'conn-dot' }), h('span', { testid: 'refresh-label' }, label));
}

async function refresh() {
  clearTimeout(timer);
  const token = storedToken();
  if (!token) return showSignIn();
  try {
    const overview = await api('/api/admin/overview', { token });
    if (!view) {
      view = overviewView(overview, publishCard({ token: storedToken }));
      setChildren(main, view.root);
    }
    updateOverview(view, overview);
    tools(statusChip('ok', `Live · ${new Date().toLocaleTimeString()}`, `refreshed every ${REFRESH_MS / 1000} s`));
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      view = null;
      tools(null);
      setChildren(main, refusalView(error));
      return;  // no retry: another token is needed
    }
    tools(statusChip('off', 'Not refreshed', error.message));
    if (!view) setChildren(main, h('div', { class: 'card problem', testid: 'problem' }, h('h2', null, 'The overview could not be read'),
      h('p', { testid: 'problem-message' }, error.message)));
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function start() {
  view = null;
  setChildren(main, h('div', { class: 'empty' }, 'Loading…'));
  refresh();
}

if (storedToken()) start();
else showSignIn();
