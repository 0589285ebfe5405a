// Small pieces both apps put in their top bar and pages: the connection indicator, the user chip,
// avatars.

import { h, setChildren } from './dom.js';
import { icon } from './icons.js';
import { hueOf, initials } from './format.js';

/**
 * The connection indicator: a dot and a word. set(state, label, {tone, title, action}) where tone is
 * ok | wait | off | idle | info and action an optional {label, onclick, testid} button (e.g. "Coba lagi").
 * The element carries data-testid="status" and data-status=<state> for tests.
 */
export function statusIndicator(initialLabel = 'Menghubungkan') {
  const label = h('span', { class: 'conn-label', testid: 'status-label' }, initialLabel);
  const slot = h('span');
  const el = h('div', { class: 'conn', testid: 'status', dataset: { status: 'connecting', tone: 'wait' }, role: 'status' },
    h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), label, slot);
  return {
    el,
    set(state, text, { tone = 'wait', title = '', action = null } = {}) {
      el.dataset.tone = tone;
      el.title = title;
      label.textContent = text;
      setChildren(slot, action
        ? h('button', { class: 'btn btn-sm', type: 'button', testid: action.testid || 'btn-retry', onclick: action.onclick }, action.label)
        : null);
      el.dataset.status = state; // last: a test that waits for it finds the label and button in place
    },
  };
}

export function avatar(name, key = name, size = '') {
  const el = h('span', { class: `avatar ${size}`.trim(), 'aria-hidden': 'true' }, initials(name));
  el.style.setProperty('--hue', String(hueOf(key)));
  return el;
}

export function userChip(name, role, onLogout) {
  return h('div', { class: 'user-chip', testid: 'user' },
    avatar(name, name),
    h('div', { class: 'user-chip-text' },
      h('div', { class: 'user-chip-name', testid: 'user-name' }, name),
      h('div', { class: 'user-chip-role' }, role)),
    h('button', { class: 'btn btn-ghost btn-sm', type: 'button', testid: 'btn-logout', title: 'Keluar', onclick: onLogout },
      icon('logout'), h('span', { class: 'nav-label' }, 'Keluar')));
}
