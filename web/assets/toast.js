// Toast notifications (bottom right; full width on a phone). Text only.

import { h } from './dom.js';
import { icon } from './icons.js';

const KIND_ICON = { success: 'check', danger: 'x', warning: 'alert', info: 'info', accent: 'bell' };
const maxVisible = () => (matchMedia('(max-width: 720px)').matches ? 2 : 4);

function stack() {
  let el = document.querySelector('.toasts');
  if (!el) {
    el = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(el);
  }
  return el;
}

/**
 * toast({title, message, kind: 'success'|'danger'|'warning'|'info'|'accent', icon, timeout, testid, key})
 * A toast with a key replaces the visible toast with the same key (a stream of "transaksi baru" shows
 * as one toast that keeps changing, not a pile). Returns a function that closes it.
 */
export function toast({ title, message, kind = 'accent', icon: iconName, timeout = 5000, testid = 'toast', key } = {}) {
  const root = stack();
  const same = key ? [...root.children].find((t) => t.dataset.key === key && !t.classList.contains('leaving')) : null;
  let timer = null;
  const close = () => {
    if (!el.isConnected || el.classList.contains('leaving')) return;
    clearTimeout(timer);
    el.classList.add('leaving');
    el.addEventListener('animationend', () => el.remove(), { once: true });
    setTimeout(() => el.remove(), 400);
  };
  const el = h('div', { class: 'toast', testid, dataset: key ? { kind, key } : { kind } },
    h('div', { class: 'toast-icon' }, icon(iconName || KIND_ICON[kind] || 'bell')),
    h('div', null,
      title ? h('div', { class: 'toast-title', testid: 'toast-title' }, title) : null,
      message ? h('div', { class: 'toast-msg', testid: 'toast-message' }, message) : null),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Tutup', onclick: close }, '×'),
    timeout > 0 ? h('div', { class: 'toast-bar', style: { animationDuration: `${timeout}ms` } }) : null);
  if (same) {
    el.style.animation = 'none';
    same.replaceWith(el);
  } else {
    root.append(el);
  }
  while (root.children.length > maxVisible()) root.firstElementChild.remove();
  if (timeout > 0) {
    let remaining = timeout;
    let started = Date.now();
    timer = setTimeout(close, remaining);
    el.addEventListener('mouseenter', () => {
      clearTimeout(timer);
      remaining -= Date.now() - started;
      el.querySelector('.toast-bar')?.style.setProperty('animation-play-state', 'paused');
    });
    el.addEventListener('mouseleave', () => {
      started = Date.now();
      timer = setTimeout(close, Math.max(remaining, 1000));
      el.querySelector('.toast-bar')?.style.setProperty('animation-play-state', 'running');
    });
  }
  return close;
}
