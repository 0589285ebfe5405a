// The takings dashboard. Channels (the built-in policy decides who may read them):
//   private-cabang.{id}          omset.updated (today's full figures); since 'latest', so the page opens
//                                with the day's figures
//   private-cabang.{id}.pesanan  pesanan.siap (an order ready for pickup); every role, live
//   private-cabang.{id}.admin    transaksi.created; admins and the owner only, live
// A reset (history missed) refetches /api/history?channel=...&since=latest.
// The owner (super_admin) subscribes the topics cabang/+/omset, cabang/+/pesanan-siap and
// cabang/+/transaksi instead of listing the branches' channels.

import { h, replay, setChildren, setText } from '/assets/dom.js';
import { amount, dateLong, nameOf, number, rupiah, time } from '/assets/format.js';
import { icon } from '/assets/icons.js';
import { toast } from '/assets/toast.js';
import { statusIndicator, userChip } from '/assets/ui.js';
import { BACKOFF, latestFrames, openLive } from './live.js';
import { ROLE_LABEL } from './login.js';

const STATUS = {
  connecting: ['Menghubungkan', 'wait', 'Membuka koneksi ke server…'],
  live: ['Terhubung', 'ok', 'Data diperbarui secara real-time.'],
  reconnecting: ['Menyambung ulang', 'wait', 'Koneksi terputus; mencoba lagi otomatis.'],
  paused: ['Dijeda', 'idle', 'Tab tidak aktif: koneksi dijeda dan tersambung lagi saat Anda kembali.'],
  offline: ['Offline', 'off', 'Tidak dapat terhubung setelah beberapa percobaan.'],
  polling: ['Mode polling', 'info', 'Streaming tidak tersedia; data diambil berkala.'],
};
const MAX_TABLE_ROWS = 10;
const MAX_FEED = 30;
const FRESH_MARGIN_MS = 5000;

const JENIS_LABEL = { bpjs: 'BPJS', umum: 'Umum' };

/** Drops the words every branch name starts with ("Optik Melati Dago" -> "Dago") for the small cards. */
function shortener(fullNames) {
  const words = fullNames.map((n) => n.split(/\s+/));
  let common = 0;
  while (words.length > 1 && words.every((w) => w.length > common + 1 && w[common] === words[0][common])) common++;
  return (name) => name.split(/\s+/).slice(common).join(' ') || name;
}

export function startDashboard({ main, header, session, cabang, onLogout }) {
  const user = session.current;
  const role = user.role || user.request?.role;
  const isAdmin = role === 'admin' || role === 'super_admin';
  const names = new Map(cabang.map((c) => [String(c.id), nameOf(c.nama ?? c.name, `Cabang ${c.id}`)]));
  const ids = role === 'super_admin' ? cabang.map((c) => String(c.id))
    : (Array.isArray(user.cabang) ? user.cabang : user.request?.cabang || []).map(String);
  const branchName = (id) => names.get(String(id)) || `Cabang ${id}`;
  const shortName = shortener(ids.map(branchName));
  const openedAt = Date.now();
  const figures = new Map(); // id -> {data, time}
  const seen = new Set(); // frame ids/positions already handled
  let selected = ids.includes(sessionStorage.getItem('kabar.optik.selected')) ? sessionStorage.getItem('kabar.optik.selected') : ids[0];

  // ---------------------------------------------------------------- top bar
  const indicator = statusIndicator('Menghubungkan');
  const notifyButton = h('button', { class: 'btn btn-sm', type: 'button', testid: 'btn-notify', hidden: true,
    title: 'Tampilkan notifikasi browser untuk pesanan siap dan transaksi baru' }, icon('bell'),
  h('span', { class: 'nav-label' }, 'Aktifkan notifikasi'));
  const renderNotifyButton = () => {
    notifyButton.hidden = !('Notification' in window) || Notification.permission !== 'default';
  };
  notifyButton.addEventListener('click', async () => {
    try {
      await Notification.requestPermission();
    } finally {
      renderNotifyButton();
      if ('Notification' in window && Notification.permission === 'granted') {
        toast({ title: 'Notifikasi browser aktif', message: 'Pesanan siap dan transaksi baru akan muncul walau tab ini tidak dibuka.', kind: 'success' });
      }
    }
  });
  renderNotifyButton();
  setChildren(header,
    h('a', { class: 'brand', href: '/optik/' }, h('span', { class: 'brand-mark' }, 'OM'),
      h('span', { class: 'brand-text' }, 'Optik Melati', h('span', { class: 'brand-sub' }, 'Dasbor omset'))),
    h('div', { class: 'topbar-spacer' }),
    h('div', { class: 'topbar-tools' }, notifyButton, indicator.el,
      userChip(user.name || user.request?.name || user.sub, ROLE_LABEL[role] || role, onLogout)));

  // ---------------------------------------------------------------- page
  const stat = (testid, label, iconName, primary = false) => {
    const value = h('div', { class: 'stat-value', testid }, '—');
    const sub = h('div', { class: 'stat-sub' }, ' ');
    const card = h('div', { class: primary ? 'card stat stat-primary' : 'card stat', testid: `card-${testid}` },
      h('div', { class: 'stat-label' }, h('span', { class: 'stat-icon' }, icon(iconName)), label), value, sub);
    return { card, value, sub };
  };
  const s = {
    total: stat('omset-total', 'Omset hari ini', 'wallet', true),
    bpjs: stat('omset-bpjs', 'Omset BPJS', 'shield'),
    umum: stat('omset-umum', 'Omset umum', 'users'),
    count: stat('jumlah-transaksi', 'Jumlah transaksi', 'receipt'),
  };
  const meterB = h('span', { class: 'm-bpjs', style: { width: '0%' } });
  const meterU = h('span', { class: 'm-umum', style: { width: '0%' } });
  s.total.card.append(h('div', { class: 'meter', title: 'BPJS dibanding umum', style: { background: 'rgba(255,255,255,.25)' } }, meterB, meterU));

  const selectedTitle = h('h2', { testid: 'cabang-nama' });
  const updatedAt = h('span', { class: 'muted small', testid: 'updated-at' }, 'Menunggu data…');
  const staleNote = h('span', { class: 'badge plain', testid: 'stale-note', hidden: true });
  const tbody = h('tbody', { testid: 'transaksi-rows' });
  const tableEmpty = h('div', { class: 'empty', testid: 'transaksi-empty' }, 'Belum ada transaksi hari ini.');
  const feed = h('ul', { class: 'feed', testid: 'notices' });
  const feedEmpty = h('div', { class: 'empty', testid: 'notices-empty' },
    isAdmin ? 'Transaksi baru dan pesanan siap akan muncul di sini.' : 'Pesanan yang siap diambil akan muncul di sini.');
  const accessError = h('div', { class: 'callout', testid: 'access-error', dataset: { kind: 'danger' }, hidden: true,
    style: { marginBottom: '16px' } });
  const strip = h('div', { class: 'branches', testid: 'cabang-strip' });
  const stripCards = new Map();
  const allTotal = h('div', { class: 'branch-total', testid: 'omset-semua' }, '—');
  const allSub = h('div', { class: 'branch-sub' }, `${ids.length} cabang`);

  if (ids.length > 1) {
    strip.append(h('div', { class: 'branch branch-all', testid: 'cabang-all' },
      h('div', { class: 'branch-name' }, 'Semua cabang'), allTotal, allSub));
    for (const id of ids) {
      const total = h('div', { class: 'branch-total', testid: 'cabang-omset' }, '—');
      const sub = h('div', { class: 'branch-sub' }, 'menunggu data…');
      const card = h('button', { class: 'branch', type: 'button', testid: 'cabang-card', dataset: { cabang: id },
        'aria-pressed': String(id === selected), onclick: () => select(id) },
      h('div', { class: 'branch-name', title: branchName(id) }, shortName(branchName(id))), total, sub);
      stripCards.set(id, { card, total, sub });
      strip.append(card);
    }
  }

  const subtitle = ids.length > 1 ? `${dateLong()} · ${ids.length} cabang` : dateLong();
  setChildren(main,
    h('div', { class: 'page-header' },
      h('div', null, h('span', { class: 'eyebrow' }, ROLE_LABEL[role] ? `Dasbor ${ROLE_LABEL[role].toLowerCase()}` : 'Dasbor'),
        h('h1', { style: { marginTop: '4px' } }, 'Omset hari ini'), h('p', { testid: 'subtitle' }, subtitle))),
    accessError,
    ids.length > 1 ? h('section', { style: { marginBottom: '8px' } }, strip) : null,
    h('div', { class: 'section-title' }, h('div', { style: { display: 'flex', gap: '10px', alignItems: 'center', flexWrap: 'wrap' } }, selectedTitle, staleNote), updatedAt),
    h('div', { class: 'stats' }, s.total.card, s.bpjs.card, s.umum.card, s.count.card),
    h('div', { class: 'grid grid-main', style: { marginTop: '20px' } },
      h('section', { class: 'card' },
        h('div', { class: 'card-header' }, h('div', null, h('h2', null, 'Transaksi terbaru'),
          h('p', null, 'Sepuluh transaksi terakhir cabang ini.'))),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid: 'transaksi-table' },
          h('thead', null, h('tr', null, h('th', { class: 'hide-sm' }, 'Waktu'), h('th', null, 'No. nota'), h('th', { class: 'hide-sm' }, 'Pelanggan'),
            h('th', null, 'Jenis'), h('th', { class: 'hide-sm' }, 'Kasir'), h('th', { class: 'right' }, 'Total'))),
          tbody)),
        tableEmpty),
      h('section', { class: 'card' },
        h('div', { class: 'card-header' }, h('div', null, h('h2', null, 'Notifikasi'),
          h('p', null, isAdmin ? 'Transaksi baru dan pesanan siap' : 'Pesanan siap diambil'))),
        feed, feedEmpty)));

  // ---------------------------------------------------------------- rendering figures
  function select(id) {
    selected = id;
    sessionStorage.setItem('kabar.optik.selected', id);
    for (const [cid, { card }] of stripCards) card.setAttribute('aria-pressed', String(cid === id));
    renderSelected(false);
  }

  function bump(statCard, text, animate) {
    if (setText(statCard.value, text) && animate) {
      replay(statCard.card, 'pulse');
      replay(statCard.value, 'value-bump');
    }
  }

  function renderSelected(animate) {
    setText(selectedTitle, branchName(selected));
    const f = figures.get(selected);
    const d = f?.data || {};
    const total = amount(d.omset_total);
    const bpjs = amount(d.omset_bpjs);
    const umum = amount(d.omset_umum);
    const count = amount(d.jumlah_transaksi);
    bump(s.total, rupiah(d.omset_total), animate);
    bump(s.bpjs, rupiah(d.omset_bpjs), animate);
    bump(s.umum, rupiah(d.omset_umum), animate);
    bump(s.count, number(d.jumlah_transaksi), animate);
    const share = (part) => (total && part !== null ? Math.round((part / total) * 100) : null);
    setText(s.total.sub, count !== null ? `${number(count)} transaksi` : 'Menunggu data…');
    setText(s.bpjs.sub, share(bpjs) !== null ? `${share(bpjs)}% dari omset` : ' ');
    setText(s.umum.sub, share(umum) !== null ? `${share(umum)}% dari omset` : ' ');
    setText(s.count.sub, count ? `Rata-rata ${rupiah(total / count)}` : ' ');
    meterB.style.width = `${share(bpjs) ?? 0}%`;
    meterU.style.width = `${share(umum) ?? 0}%`;
    setText(updatedAt, f ? `Diperbarui ${time(f.time, true)}` : 'Menunggu data…');
    const day = typeof d.tanggal === 'string' ? d.tanggal : null;
    const today = new Date().toLocaleDateString('sv-SE'); // YYYY-MM-DD, local
    staleNote.hidden = !day || day === today;
    if (day && day !== today) setText(staleNote, `Data tanggal ${dateLong(day)}`);
    renderTable(Array.isArray(d.transaksi_terbaru) ? d.transaksi_terbaru : [], animate);
  }

  let shownRows = new Set();
  function renderTable(list, animate) {
    const rows = list.filter((t) => t && typeof t === 'object').slice(0, MAX_TABLE_ROWS);
    const next = new Set();
    setChildren(tbody, rows.map((t) => {
      const key = String(t.id ?? t.nomor);
      next.add(key);
      const jenis = String(t.jenis || '').toLowerCase();
      const tr = h('tr', { testid: 'transaksi-row', dataset: { id: key } },
        h('td', { class: 'num muted hide-sm' }, time(t.waktu ?? t.created_at)),
        h('td', { class: 'mono small nowrap' }, nameOf(t.nomor, `#${key}`),
          h('span', { class: 'sub show-sm' }, time(t.waktu ?? t.created_at))),
        h('td', { class: 'hide-sm' }, nameOf(t.pelanggan, 'Pelanggan umum')),
        h('td', null, jenis ? h('span', { class: 'badge plain', dataset: { jenis } }, JENIS_LABEL[jenis] || nameOf(t.jenis)) : '—'),
        h('td', { class: 'hide-sm muted' }, nameOf(t.kasir, '—')),
        h('td', { class: 'right num', style: { fontWeight: 650 } }, rupiah(t.total)));
      if (animate && !shownRows.has(key)) tr.classList.add('flash');
      return tr;
    }));
    shownRows = next;
    tableEmpty.hidden = rows.length > 0;
  }

  function renderStrip(id, animate) {
    const card = stripCards.get(id);
    if (!card) return;
    const d = figures.get(id)?.data || {};
    if (setText(card.total, rupiah(d.omset_total)) && animate) replay(card.card, 'pulse');
    setText(card.sub, d.jumlah_transaksi !== undefined ? `${number(d.jumlah_transaksi)} transaksi` : 'menunggu data…');
    let sum = 0;
    let any = false;
    let n = 0;
    for (const f of figures.values()) {
      const v = amount(f.data.omset_total);
      if (v !== null) {
        sum += v;
        any = true;
      }
      n += amount(f.data.jumlah_transaksi) || 0;
    }
    setText(allTotal, any ? rupiah(sum) : '—');
    setText(allSub, `${ids.length} cabang · ${number(n)} transaksi`);
  }

  function setFigures(id, data, at, animate) {
    if (!data || typeof data !== 'object') return;
    const previous = figures.get(id);
    if (previous && at && previous.time && at < previous.time) return; // an older frame after a refetch
    figures.set(id, { data, time: at || Date.now() });
    renderStrip(id, animate);
    if (id === selected) renderSelected(animate);
  }

  // ---------------------------------------------------------------- notices
  function notify(title, body, tag) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(title, { body, tag, icon: '/assets/favicon.svg' });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch (e) {
      console.warn('Notifikasi browser gagal', e); // e.g. mobile browsers that only allow it from a service worker
    }
  }

  function addFeed(kind, title, message, at) {
    feedEmpty.hidden = true;
    feed.prepend(h('li', { testid: 'notice-row', dataset: { kind } },
      h('span', { class: 'feed-icon' }, icon(kind === 'pesanan' ? 'package' : 'receipt')),
      h('div', null, h('div', { class: 'feed-title' }, title), h('div', { class: 'muted' }, message)),
      h('span', { class: 'feed-time' }, time(at))));
    while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  }

  function onNotice(id, frame) {
    const fresh = (frame.time || Date.now()) >= openedAt - FRESH_MARGIN_MS;
    const where = branchName(id);
    if (frame.event === 'transaksi.created') {
      const t = frame.data?.transaksi || {};
      const jenis = JENIS_LABEL[String(t.jenis || '').toLowerCase()];
      const title = `Transaksi baru · ${where}`;
      const message = nameOf(frame.data?.pesan, '')
        || [nameOf(t.nomor, ''), rupiah(t.total), jenis, nameOf(t.pelanggan, '')].filter(Boolean).join(' · ');
      addFeed('transaksi', title, message, frame.time);
      if (fresh) {
        toast({ title, message, kind: 'info', icon: 'receipt', timeout: 4000, key: 'transaksi' });
        if (document.visibilityState !== 'visible' || !document.hasFocus()) notify(title, message, `transaksi-${id}`);
      }
    } else if (frame.event === 'pesanan.siap') {
      const p = frame.data?.pesanan || {};
      const title = `Pesanan siap diambil · ${where}`;
      const message = nameOf(frame.data?.pesan, '')
        || [nameOf(p.nomor, `Pesanan #${p.id ?? ''}`), nameOf(p.pelanggan, ''), nameOf(p.telepon, '')].filter(Boolean).join(' · ');
      addFeed('pesanan', title, message, frame.time);
      if (fresh) {
        toast({ title, message, kind: 'success', icon: 'package', timeout: 8000 });
        notify(title, message, `pesanan-${p.id ?? frame.id}`);
      }
    }
  }

  // ---------------------------------------------------------------- live data
  function onFrame(id, frame) {
    if (!frame || (frame.type && frame.type !== 'event')) return;
    if (accessError.hidden === false && frame.event) accessError.hidden = true;
    const key = frame.id || frame.position;
    if (key) {
      if (seen.has(key)) return;
      seen.add(key);
      if (seen.size > 2000) seen.delete(seen.values().next().value);
    }
    if (frame.event === 'omset.updated') setFigures(id, frame.data, frame.time, true);
    else onNotice(id, frame);
  }

  // A refusal (403 forbidden_channel / forbidden_topic: the token may not read a channel or topic, 401:
  // the token was refused).
  function onError(frame) {
    if (!frame || !['forbidden_channel', 'forbidden_topic', 'invalid_token'].includes(frame.code)) return;
    accessError.hidden = false;
    const what = frame.channel || frame.topic;
    setChildren(accessError, icon('alert'), h('span', null, frame.code !== 'invalid_token'
      ? `Akses ditolak${what ? ` untuk ${what}` : ''}: ${frame.message || frame.reason || ''}`
      : `Token ditolak server: ${frame.message || frame.reason || ''}`));
  }

  async function refetch(id, channel) {
    try {
      const frames = await latestFrames(channel, await session.getToken());
      const omset = frames.filter((f) => f && f.event === 'omset.updated').pop();
      if (omset) setFigures(id, omset.data, omset.time, true);
    } catch (e) {
      toast({ title: 'Gagal memuat ulang omset', message: e.message, kind: 'warning' });
    }
  }

  function showStatus(status, detail) {
    const [label, tone, title] = STATUS[status] || [String(status), 'idle', ''];
    let hint = title;
    const d = detail && typeof detail === 'object' ? detail : {};
    if (status === 'reconnecting' && d.attempt) {
      hint = `${title} Percobaan ke-${d.attempt} dari ${BACKOFF.maxAttempts}`
        + (d.delayMs ? `, berikutnya dalam ${Math.ceil(d.delayMs / 1000)} detik.` : '.');
    } else if (status === 'offline' && d.reason && d.reason !== 'max_attempts') {
      hint = `${title} (${d.reason})`;
    }
    indicator.set(status, label, {
      tone, title: hint,
      action: status === 'offline' ? { label: 'Coba lagi', testid: 'btn-retry', onclick: () => live && live.retry() } : null,
    });
  }

  renderSelected(false);
  for (const id of ids) renderStrip(id, false);
  window.scrollTo(0, 0); // the login form may have been scrolled

  let live = null; // set once /kabar.js is loaded; the retry button is only clicked after that
  return openLive({
    getToken: () => session.getToken(),
    onStatus: (status, detail) => showStatus(status, detail),
  }).then((opened) => {
    live = opened;
    if (role === 'super_admin') {
      // The owner: every branch through MQTT topic filters (docs/protocol.md "Topic subscriptions"), so a
      // branch opened tomorrow shows up without a change here. The branch is the topic's second level.
      const branchOf = (frame) => /^cabang\/([^/]+)\//.exec(frame.topic || '')?.[1]
        ?? /^private-cabang\.([^.]+)/.exec(frame.channel || '')?.[1];
      const each = (frame) => { const id = branchOf(frame); if (id !== undefined) onFrame(id, frame); };
      live.subscribe({ topic: 'cabang/+/omset', since: 'latest', onEvent: each, onError,
        onReset: (channel) => { const id = branchOf({ channel }); if (id !== undefined) refetch(id, channel); } });
      live.subscribe({ topic: 'cabang/+/pesanan-siap', onEvent: each, onReset: () => {}, onError });
      live.subscribe({ topic: 'cabang/+/transaksi', onEvent: each, onReset: () => {}, onError });
    } else {
      for (const id of ids) {
        const channel = `private-cabang.${id}`;
        live.subscribe(channel, {
          since: 'latest',
          onEvent: (frame) => onFrame(id, frame),
          onReset: () => refetch(id, channel),
          onError,
        });
        // Notices only: nothing to refetch after a reset.
        live.subscribe(`${channel}.pesanan`, { onEvent: (frame) => onFrame(id, frame), onReset: () => {}, onError });
        if (isAdmin) {
          live.subscribe(`${channel}.admin`, { onEvent: (frame) => onFrame(id, frame), onReset: () => {}, onError });
        }
      }
    }
    addEventListener('pagehide', () => live.close());
    addEventListener('pageshow', (e) => e.persisted && location.reload()); // back from the bfcache: reopen
    return live;
  });
}
