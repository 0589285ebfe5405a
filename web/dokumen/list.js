// /dokumen/ : the document list. Status badges, the counters and the navbar's pending count follow
// `.dokumen.updated` on every listed document's channel (Echo.channel('dokumen.' + id)).

import { problemView } from '/assets/api.js';
import { h, replay, setChildren, setText } from '/assets/dom.js';
import { dateTime, relative } from '/assets/format.js';
import { icon } from '/assets/icons.js';
import {
  DokumenFeed, compareVersion, connectEcho, judulOf, mountTopbar, nomorOf, pemohonOf, signedIn, statusBadge, toastChange,
} from './common.js';

const main = document.getElementById('main');
const showProblem = (e) => setChildren(main, problemView(e, { retry: () => location.reload() }));

const FILTERS = [
  ['all', 'Semua'],
  ['pending', 'Menunggu'],
  ['approved', 'Disetujui'],
  ['rejected', 'Ditolak'],
];

let filter = new URLSearchParams(location.search).get('status') || 'all';
const rows = new Map(); // id -> <tr>

function statCard(testid, label, iconName, primary = false) {
  const value = h('div', { class: 'stat-value', testid }, '0');
  const el = h('div', { class: primary ? 'card stat stat-primary' : 'card stat' },
    h('div', { class: 'stat-label' }, h('span', { class: 'stat-icon' }, icon(iconName)), label), value);
  return { el, value };
}

function row(doc) {
  const href = `/dokumen/show.html?id=${encodeURIComponent(doc.id)}`;
  const when = doc.updated_at || doc.created_at;
  const tr = h('tr', { class: 'row-link', testid: 'dokumen-row', dataset: { id: doc.id, status: doc.status || '' } },
    h('td', { class: 'title-cell' },
      h('a', { href, testid: 'dokumen-link' }, judulOf(doc)),
      h('span', { class: 'sub mono', testid: 'dokumen-nomor' }, nomorOf(doc))),
    h('td', { class: 'hide-sm' }, pemohonOf(doc)),
    h('td', null, statusBadge(doc.status)),
    h('td', { class: 'hide-sm muted small', title: dateTime(when), dataset: { time: when || '' } }, relative(when) || dateTime(when)),
    h('td', { class: 'right' }, h('a', { class: 'btn btn-sm', href, 'aria-label': `Buka ${nomorOf(doc)}` },
      h('span', { class: 'nav-label' }, 'Buka'), icon('arrow'))));
  tr.addEventListener('click', (e) => {
    if (!e.target.closest('a')) location.href = href;
  });
  return tr;
}

async function start() {
  const user = await signedIn(main, showProblem);
  mountTopbar(user);

  const stats = {
    total: statCard('stat-total', 'Semua dokumen', 'file'),
    pending: statCard('stat-pending', 'Menunggu persetujuan', 'bell', true),
    approved: statCard('stat-approved', 'Disetujui', 'check'),
    rejected: statCard('stat-rejected', 'Ditolak', 'x'),
  };
  const greeting = h('p', { testid: 'greeting' }, '');
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Saring status' });
  const tbody = h('tbody', { testid: 'dokumen-rows' });
  const empty = h('div', { class: 'empty', hidden: true }, 'Tidak ada dokumen dengan status ini.');

  setChildren(main,
    h('div', { class: 'page-header' },
      h('div', null, h('h1', null, 'Daftar Dokumen'), greeting),
      tabs),
    h('div', { class: 'stats', style: { marginBottom: '20px' } },
      stats.pending.el, stats.total.el, stats.approved.el, stats.rejected.el),
    h('div', { class: 'card' },
      h('div', { class: 'card-header' },
        h('div', null, h('h2', null, 'Dokumen'), h('p', null, 'Status berubah otomatis saat dokumen disetujui atau ditolak.'))),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'table', testid: 'dokumen-table' },
          h('thead', null, h('tr', null,
            h('th', null, 'Dokumen'), h('th', { class: 'hide-sm' }, 'Pemohon'), h('th', null, 'Status'),
            h('th', { class: 'hide-sm' }, 'Diperbarui'), h('th', null, h('span', { class: 'sr-only' }, 'Aksi')))),
          tbody)),
      empty));

  let echo;
  try {
    echo = await connectEcho();
  } catch (e) {
    showProblem(e);
    return;
  }
  const feed = new DokumenFeed(echo);

  const renderTabs = () => {
    const c = feed.counts();
    const n = { all: c.total, pending: c.pending, approved: c.approved, rejected: c.rejected };
    setChildren(tabs, FILTERS.map(([key, label]) => h('button', {
      class: 'tab', type: 'button', testid: `filter-${key}`, 'aria-pressed': String(filter === key),
      onclick: () => {
        filter = key;
        const url = new URL(location.href);
        if (key === 'all') url.searchParams.delete('status');
        else url.searchParams.set('status', key);
        history.replaceState(null, '', url);
        renderAll();
      },
    }, label, h('span', { class: 'n' }, String(n[key])))));
  };

  const renderCounts = () => {
    const c = feed.counts();
    for (const key of ['total', 'pending', 'approved', 'rejected']) {
      if (setText(stats[key].value, c[key])) replay(stats[key].el, 'pulse');
    }
    setText(greeting, c.pending > 0
      ? `Halo, ${user.name}. Ada ${c.pending} dokumen yang menunggu persetujuan.`
      : `Halo, ${user.name}. Tidak ada dokumen yang menunggu persetujuan.`);
    renderTabs();
  };

  const visible = (doc) => filter === 'all' || doc.status === filter;

  const renderAll = () => {
    rows.clear();
    const docs = feed.list();
    const shown = docs.filter(visible);
    setChildren(tbody, shown.map((doc) => {
      const tr = row(doc);
      rows.set(String(doc.id), tr);
      return tr;
    }));
    empty.hidden = shown.length > 0;
    if (docs.length === 0) empty.textContent = 'Belum ada dokumen.';
    renderCounts();
  };

  feed.onReload(renderAll);
  feed.onUpdate((doc, before) => {
    const id = String(doc.id);
    const old = rows.get(id);
    if (old && visible(doc)) {
      const tr = row(doc);
      old.replaceWith(tr);
      rows.set(id, tr);
      replay(tr, 'flash');
    } else {
      renderAll();
    }
    renderCounts();
    if (!before || compareVersion(doc, before) > 0) toastChange(doc); // not for a replayed copy of what is shown
  });

  try {
    await feed.load();
  } catch (e) {
    showProblem(e);
    return;
  }

  // "3 menit yang lalu" keeps up with the clock.
  setInterval(() => {
    for (const cell of tbody.querySelectorAll('td[data-time]')) {
      if (cell.dataset.time) setText(cell, relative(cell.dataset.time));
    }
  }, 30_000);
}

start().catch(showProblem);
