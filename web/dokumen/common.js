// What both pages of the document-approval app share: the demo login (a staff user from /demo/users),
// the top bar, Laravel Echo over kabar's Pusher door, and the live list of documents behind the
// navbar's pending counter.
//
// Everything that touches laravel-echo, pusher-js or /kabar-echo.js is in connectEcho(), so a change in
// those libraries' signatures is one place to adjust.

import Echo from '/vendor/laravel-echo/echo.js';
import { api } from '/assets/api.js';
import { h, setChildren, setText } from '/assets/dom.js';
import { icon } from '/assets/icons.js';
import { DemoSession } from '/assets/session.js';
import { nameOf, toDate } from '/assets/format.js';
import { avatar, statusIndicator, userChip } from '/assets/ui.js';
import { toast } from '/assets/toast.js';

export const session = new DemoSession('kabar.dokumen.session');

export const STATUS_LABEL = { pending: 'Menunggu', approved: 'Disetujui', rejected: 'Ditolak' };
export const statusLabel = (status) => STATUS_LABEL[status] || nameOf(status, 'Tidak diketahui');

/** A document status badge; data-status holds the raw status for styles and tests. */
export function statusBadge(status, { testid = 'dokumen-status', large = false } = {}) {
  return h('span', { class: large ? 'badge badge-lg' : 'badge', testid, dataset: { status: String(status || '') } },
    statusLabel(status));
}

/** Some answers wrap the document ({dokumen: {...}}), some do not; the event always does. */
export const unwrap = (answer) => (answer && typeof answer.dokumen === 'object' && answer.dokumen) || answer;

export const pemohonOf = (doc) => nameOf(doc.pemohon ?? doc.user, '—');
export const judulOf = (doc) => nameOf(doc.judul ?? doc.title ?? doc.nama, `Dokumen #${doc.id}`);
export const nomorOf = (doc) => nameOf(doc.nomor ?? doc.nomor_dokumen ?? doc.kode, `#${doc.id}`);

// ---------------------------------------------------------------- top bar

let indicator = null;
let pendingBadge = null;

/** Fills the page's <header class="topbar">: brand, nav with the pending counter, status, user. */
export function mountTopbar(user) {
  const header = document.querySelector('header.topbar .topbar-inner');
  indicator = user ? statusIndicator('Menghubungkan') : null;
  pendingBadge = h('span', { class: 'count-badge', testid: 'pending-count', dataset: { count: '0' },
    title: 'Dokumen menunggu persetujuan' }, '0');
  const here = location.pathname.replace(/index\.html$/, '');
  setChildren(header,
    h('a', { class: 'brand', href: '/dokumen/' },
      h('span', { class: 'brand-mark' }, 'eD'),
      h('span', { class: 'brand-text' }, 'e-Dokumen', h('span', { class: 'brand-sub' }, 'Persetujuan dokumen'))),
    user && h('nav', { class: 'nav', 'aria-label': 'Menu' },
      h('a', { href: '/dokumen/', 'aria-current': here === '/dokumen/' ? 'page' : null, testid: 'nav-list' },
        icon('file'), h('span', { class: 'nav-label' }, 'Dokumen'), pendingBadge)),
    h('div', { class: 'topbar-spacer' }),
    h('div', { class: 'topbar-tools' },
      indicator && indicator.el,
      user ? userChip(user.name || user.request?.name || user.sub, nameOf(user.jabatan ?? user.request?.jabatan, 'Staf'), logout) : null));
}

export function logout() {
  session.logout();
  location.href = '/dokumen/';
}

function setPendingCount(n) {
  if (!pendingBadge) return;
  pendingBadge.dataset.count = String(n);
  if (setText(pendingBadge, n)) {
    pendingBadge.classList.remove('value-bump');
    void pendingBadge.offsetWidth;
    pendingBadge.classList.add('value-bump');
  }
  document.title = document.title.replace(/^\(\d+\) /, '');
  if (n > 0) document.title = `(${n}) ${document.title}`;
}

// ---------------------------------------------------------------- login

/**
 * Shows the demo users (GET /demo/users) and logs the chosen one in as role "staf"
 * (POST /demo/login). Resolves with the session once someone is chosen.
 */
export function loginView(container, { onProblem } = {}) {
  return new Promise((resolve) => {
    const list = h('div', { class: 'user-list', testid: 'login-users' }, h('div', { class: 'empty' }, 'Memuat pengguna…'));
    const error = h('div', { class: 'form-error', testid: 'login-error', hidden: true });
    setChildren(container, h('div', { class: 'login' },
      h('div', { class: 'card login-card', testid: 'login' },
        h('div', { class: 'login-head' },
          h('span', { class: 'eyebrow' }, 'e-Dokumen'),
          h('h1', null, 'Masuk sebagai pengguna demo'),
          h('p', null, 'Pilih salah satu pegawai. Buka halaman ini di tab lain sebagai pegawai lain untuk melihat pembaruan real-time.')),
        h('div', { class: 'card-body' }, list, error))));

    api('/demo/users').then((users) => {
      if (!Array.isArray(users) || users.length === 0) {
        setChildren(list, h('div', { class: 'empty' }, 'Tidak ada pengguna demo.'));
        return;
      }
      setChildren(list, users.map((u) => {
        const name = nameOf(u.name, u.sub);
        const jabatan = nameOf(u.jabatan, 'Staf');
        const button = h('button', { class: 'user-option', type: 'button', testid: 'login-user', dataset: { sub: u.sub } },
          avatar(name, u.sub, 'avatar-lg'),
          h('span', null, h('span', { class: 'choice-title', style: { display: 'block' } }, name),
            h('span', { class: 'choice-sub' }, jabatan)),
          h('span', { class: 'go' }, icon('arrow')));
        button.addEventListener('click', async () => {
          error.hidden = true;
          for (const b of list.querySelectorAll('button')) b.disabled = true;
          try {
            const s = await session.login({ role: 'staf', sub: u.sub, name, jabatan, ttl_s: 3600 });
            resolve({ ...s, jabatan: s.jabatan || jabatan });
          } catch (e) {
            error.textContent = e.message;
            error.hidden = false;
            for (const b of list.querySelectorAll('button')) b.disabled = false;
          }
        });
        return button;
      }));
    }, (e) => onProblem && onProblem(e));
  });
}

/** The signed-in user, or the login screen first. */
export async function signedIn(container, onProblem) {
  const current = session.current;
  if (current && session.remainingMs(current) > 0) return current;
  session.logout();
  mountTopbar(null);
  return loginView(container, { onProblem });
}

// ---------------------------------------------------------------- Echo

const PUSHER_STATES = {
  initialized: ['connecting', 'Menghubungkan', 'wait'],
  connecting: ['connecting', 'Menghubungkan', 'wait'],
  connected: ['connected', 'Terhubung', 'ok'],
  unavailable: ['unavailable', 'Menyambung ulang', 'wait'],
  disconnected: ['disconnected', 'Terputus', 'off'],
  failed: ['failed', 'Tidak didukung', 'off'],
};

function showPusherState(state) {
  if (!indicator) return;
  const [s, label, tone] = PUSHER_STATES[state] || [state, state, 'idle'];
  indicator.set(s, label, { tone, title: `WebSocket (protokol Pusher): ${state}` });
}

/**
 * Laravel Echo on kabar's Pusher door, as a Laravel page would build it, with pusher-js wrapped by
 * kabar's replay helper (/kabar-echo.js: missed events arrive after a reconnect, `.kabar:reset` when
 * they cannot). The Authorization header object is kept and updated in place when the token is
 * renewed: pusher-js reads that same object for every channel authorization.
 */
export async function connectEcho() {
  const token = await session.getToken();
  let PusherClass = window.Pusher;
  try {
    const { withKabarReplay } = await import('/kabar-echo.js');
    PusherClass = withKabarReplay(window.Pusher);
  } catch (e) {
    console.warn('kabar-echo.js tidak dapat dimuat; tanpa pemutaran ulang setelah sambung ulang.', e);
  }
  const tls = location.protocol === 'https:';
  const port = Number(location.port) || (tls ? 443 : 80);
  const headers = { Authorization: `Bearer ${token}` };
  const key = document.querySelector('meta[name="kabar-pusher-key"]')?.content || 'local-key';
  const echo = new Echo({
    broadcaster: 'reverb',
    key,
    wsHost: location.hostname,
    wsPort: port,
    wssPort: port,
    forceTLS: tls,
    enabledTransports: tls ? ['wss'] : ['ws'],
    authEndpoint: '/pusher/auth',
    auth: { headers },
    Pusher: PusherClass,
  });
  const connection = echo.connector.pusher.connection;
  showPusherState(connection.state);
  connection.bind('state_change', ({ current }) => showPusherState(current));

  // Keep the header's token fresh (every subscribe after a reconnect asks /pusher/auth again).
  setInterval(async () => {
    try {
      headers.Authorization = `Bearer ${await session.getToken()}`;
    } catch (e) {
      console.warn('Token tidak dapat diperbarui', e);
    }
  }, 30_000);
  window.Echo = echo; // as Laravel pages have it, handy in the console
  return echo;
}

// ---------------------------------------------------------------- the live document list

/**
 * The documents of GET /demo/dokumen, kept current by `.dokumen.updated` on each `dokumen.{id}`
 * channel. Drives the pending counter; pages add their own listeners with onUpdate. A `.kabar:reset`
 * on any channel (history missed) reloads the whole list.
 */
export class DokumenFeed {
  constructor(echo) {
    this.echo = echo;
    this.docs = new Map();
    this.listeners = new Set();
    this.reloadListeners = new Set();
    this.subscribed = new Set();
    this.reloadTimer = null;
  }

  async load() {
    const list = await api('/demo/dokumen', { token: await session.getToken() });
    const docs = Array.isArray(list) ? list : Array.isArray(list?.data) ? list.data : [];
    this.docs.clear();
    for (const d of docs) if (d && d.id !== undefined) this.docs.set(String(d.id), d);
    for (const id of this.docs.keys()) this.watch(id);
    this.renderCount();
    for (const fn of this.reloadListeners) fn(this.list());
    return this.list();
  }

  list() {
    return [...this.docs.values()];
  }

  counts() {
    const c = { total: 0, pending: 0, approved: 0, rejected: 0 };
    for (const d of this.docs.values()) {
      c.total++;
      if (d.status in c) c[d.status]++;
    }
    return c;
  }

  watch(id) {
    id = String(id);
    if (this.subscribed.has(id)) return;
    this.subscribed.add(id);
    this.echo.channel(`dokumen.${id}`)
      .listen('.dokumen.updated', (e) => this.apply(id, e))
      .listen('.kabar:reset', () => this.scheduleReload());
  }

  apply(id, event) {
    const doc = event && event.dokumen;
    if (!doc || String(doc.id) !== id) return;
    const before = this.docs.get(id) || null;
    // kabar-echo replays what was published since this browser's last visit: an event older than the
    // list just fetched must not turn a row back.
    if (before && compareVersion(doc, before) < 0) return;
    const after = { ...(before || {}), ...doc };
    this.docs.set(id, after);
    this.renderCount();
    for (const fn of this.listeners) fn(after, before, event);
  }

  /** Replaces one document (the answer of an approve/reject, or a refetch). */
  put(doc) {
    const id = String(doc.id);
    this.docs.set(id, { ...(this.docs.get(id) || {}), ...doc });
    this.watch(id);
    this.renderCount();
  }

  onUpdate(fn) {
    this.listeners.add(fn);
  }

  onReload(fn) {
    this.reloadListeners.add(fn);
  }

  scheduleReload() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load().catch((e) => console.warn('Daftar dokumen gagal dimuat ulang', e)), 300);
  }

  renderCount() {
    setPendingCount(this.counts().pending);
  }
}

function updatedAt(doc) {
  const d = toDate(doc && doc.updated_at);
  return d ? d.getTime() : null;
}

/**
 * Which of two copies of a document is newer: by updated_at, then by the number of decisions. -1 when
 * a is older than b, 0 when they look the same, 1 when a is newer (or they cannot be compared).
 */
export function compareVersion(a, b) {
  const ta = updatedAt(a);
  const tb = updatedAt(b);
  if (ta !== null && tb !== null && ta !== tb) return ta < tb ? -1 : 1;
  const na = Array.isArray(a.approvals) ? a.approvals.length : null;
  const nb = Array.isArray(b.approvals) ? b.approvals.length : null;
  if (na !== null && nb !== null && na !== nb) return na < nb ? -1 : 1;
  return ta !== null && ta === tb && a.status === b.status ? 0 : 1;
}

/** "Budi (Manajer) menyetujui" for the newest approval entry, if the document has one. */
export function latestApproval(doc) {
  const list = Array.isArray(doc.approvals) ? doc.approvals.filter((a) => a && typeof a === 'object') : [];
  if (!list.length) return null;
  const stamp = (a) => Date.parse(a.approved_at || a.updated_at || a.created_at || a.waktu || '') || 0;
  return list.reduce((best, a) => (stamp(a) >= stamp(best) ? a : best), list[0]);
}

export function describeChange(doc) {
  const a = latestApproval(doc);
  const verb = doc.status === 'approved' ? 'disetujui' : doc.status === 'rejected' ? 'ditolak' : 'diperbarui';
  if (a && (a.status === 'approved' || a.status === 'rejected') && a.status === doc.status) {
    return `${nomorOf(doc)} ${verb} oleh ${nameOf(a.user ?? a.approver ?? a.nama, 'rekan kerja')}.`;
  }
  return `${nomorOf(doc)} kini berstatus ${statusLabel(doc.status)}.`;
}

export function toastChange(doc) {
  const kind = doc.status === 'approved' ? 'success' : doc.status === 'rejected' ? 'danger' : 'info';
  toast({ title: 'Dokumen diperbarui secara real-time', message: describeChange(doc), kind, icon: 'bell' });
}
