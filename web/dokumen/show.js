// /dokumen/show.html?id=N : one document. Details, approval flow and history, Approve / Reject with a
// note; live updates from `.dokumen.updated` on dokumen.{id} with a toast (not for the one who clicked:
// the POST carries X-Socket-ID, Laravel's toOthers); who is viewing through the presence channel
// presence-dokumen.{id} (Echo.join), and "sedang mengetik" through whispers on it.

import { api, problemView } from '/assets/api.js';
import { h, replay, setChildren, setText } from '/assets/dom.js';
import { dateTime, nameOf, relative } from '/assets/format.js';
import { icon } from '/assets/icons.js';
import { avatar } from '/assets/ui.js';
import {
  DokumenFeed, compareVersion, connectEcho, judulOf, mountTopbar, nomorOf, pemohonOf, session, signedIn, statusBadge,
  statusLabel, toastChange, unwrap,
} from './common.js';

const main = document.getElementById('main');
const id = new URLSearchParams(location.search).get('id');
const showProblem = (e) => setChildren(main, problemView(e, { retry: () => location.reload() }),
  h('p', { style: { textAlign: 'center', marginTop: '16px' } }, h('a', { href: '/dokumen/' }, '← Kembali ke daftar dokumen')));

const TYPING_HIDE_MS = 3000;
const WHISPER_EVERY_MS = 1500;

let doc = null;
let ownStamp = null; // the version this tab produced itself (no toast for it)
const stamp = (d) => `${d.status}|${d.updated_at || ''}|${Array.isArray(d.approvals) ? d.approvals.length : ''}`;

// ------------------------------------------------------------------ page skeleton

const el = {
  crumbNomor: h('span', { testid: 'crumb-nomor' }),
  judul: h('h1', { testid: 'dokumen-judul' }),
  sub: h('div', { class: 'muted', style: { display: 'flex', gap: '6px 14px', alignItems: 'center', flexWrap: 'wrap', marginTop: '8px' } }),
  details: h('dl', { class: 'details', testid: 'dokumen-details' }),
  steps: h('ol', { class: 'steps', testid: 'flow-steps' }),
  history: h('div', { testid: 'approval-history' }),
  versions: h('div'),
  versionsCard: null,
  note: h('textarea', { class: 'input', id: 'catatan', testid: 'catatan', maxlength: '1000',
    placeholder: 'Tulis catatan untuk pemohon (opsional)…' }),
  typing: h('div', { class: 'typing', testid: 'typing', 'aria-live': 'polite', hidden: true }),
  approve: h('button', { class: 'btn btn-success', type: 'button', testid: 'btn-approve' }, icon('check'), 'Setujui'),
  reject: h('button', { class: 'btn btn-danger', type: 'button', testid: 'btn-reject' }, icon('x'), 'Tolak'),
  closed: h('div', { class: 'callout', testid: 'action-closed', hidden: true }),
  result: h('div', { class: 'callout', testid: 'action-result', hidden: true }),
  viewers: h('div', { class: 'viewers', testid: 'viewers' }),
  viewerCount: h('span', { class: 'count-badge count-neutral', testid: 'viewer-count', dataset: { count: '0' } }, '0'),
  viewersNote: h('p', { class: 'hint', style: { marginTop: '12px' } }, 'Buka dokumen ini di tab lain untuk melihat kehadiran real-time.'),
};

el.form = h('div', { class: 'stack', style: { gap: '14px' } },
  h('div', { class: 'field' }, h('label', { for: 'catatan' }, 'Catatan persetujuan'), el.note, el.typing),
  h('div', { class: 'button-row' }, el.approve, el.reject));

function skeleton() {
  el.versionsCard = h('div', { class: 'card', hidden: true },
    h('div', { class: 'card-header' }, h('h2', null, 'Versi dokumen')), el.versions);
  setChildren(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Jejak' },
      h('a', { href: '/dokumen/' }, 'Dokumen'), h('span', null, '/'), el.crumbNomor),
    h('div', { class: 'page-header' }, h('div', null, el.judul, el.sub)),
    h('div', { class: 'grid grid-main' },
      h('div', { class: 'stack' },
        h('section', { class: 'card' },
          h('div', { class: 'card-header' }, h('h2', null, 'Rincian dokumen')),
          h('div', { class: 'card-body' }, el.details)),
        h('section', { class: 'card' },
          h('div', { class: 'card-header' }, h('div', null, h('h2', null, 'Alur persetujuan'),
            h('p', null, 'Urutan jabatan yang menyetujui dokumen ini.'))),
          h('div', { class: 'card-body' }, el.steps)),
        h('section', { class: 'card' },
          h('div', { class: 'card-header' }, h('h2', null, 'Riwayat persetujuan')),
          h('div', { class: 'card-body' }, el.history)),
        el.versionsCard),
      h('aside', { class: 'stack' },
        h('section', { class: 'card', testid: 'actions' },
          h('div', { class: 'card-header' }, h('h2', null, 'Tindakan')),
          h('div', { class: 'card-body stack', style: { gap: '14px' } },
            el.closed,
            el.form,
            el.result)),
        h('section', { class: 'card' },
          h('div', { class: 'card-header' }, h('h2', null, 'Sedang melihat'), el.viewerCount),
          h('div', { class: 'card-body' }, el.viewers, el.viewersNote)))));
}

// ------------------------------------------------------------------ rendering the document

function detail(label, value, { wide = false, testid } = {}) {
  return h('div', { class: wide ? 'wide' : null }, h('dt', null, label), h('dd', { testid }, value));
}

const APPROVAL_VERB = { approved: 'Menyetujui', rejected: 'Menolak', pending: 'Belum memutuskan' };

function jabatanOf(x) {
  if (!x || typeof x !== 'object') return '';
  return nameOf(x.jabatan ?? x.user?.jabatan ?? x.nama_jabatan, '');
}

function renderDoc(next) {
  doc = next;
  document.title = `${nomorOf(doc)} — e-Dokumen`;
  setText(el.crumbNomor, nomorOf(doc));
  setText(el.judul, judulOf(doc));
  main.dataset.status = doc.status || '';
  setChildren(el.sub,
    statusBadge(doc.status, { large: true }),
    h('span', { class: 'mono' }, nomorOf(doc)),
    h('span', null, 'Diajukan oleh ', h('strong', null, pemohonOf(doc))));

  const keterangan = doc.keterangan ?? doc.deskripsi ?? doc.perihal ?? doc.description;
  setChildren(el.details,
    detail('Nomor', nomorOf(doc), { testid: 'dokumen-nomor' }),
    detail('Pemohon', pemohonOf(doc), { testid: 'dokumen-pemohon' }),
    detail('Perusahaan', nameOf(doc.company ?? doc.perusahaan)),
    detail('Aplikasi', nameOf(doc.aplikasi)),
    detail('Diajukan', dateTime(doc.created_at ?? doc.tanggal)),
    detail('Terakhir diperbarui', dateTime(doc.updated_at), { testid: 'dokumen-updated' }),
    keterangan ? detail('Keterangan', h('span', { class: 'prose' }, nameOf(keterangan, '')), { wide: true }) : null);

  renderFlow();
  renderHistory();
  renderVersions();
  renderActions();
}

function approvals() {
  return Array.isArray(doc.approvals) ? doc.approvals.filter((a) => a && typeof a === 'object') : [];
}

function renderFlow() {
  const steps = Array.isArray(doc.masterflow?.steps) ? [...doc.masterflow.steps] : [];
  steps.sort((a, b) => (a.urutan ?? a.order ?? 0) - (b.urutan ?? b.order ?? 0));
  if (!steps.length) {
    setChildren(el.steps, h('li', { class: 'muted small' }, 'Alur persetujuan tidak tersedia.'));
    return;
  }
  const decided = approvals();
  const items = [];
  steps.forEach((step, i) => {
    const jabatan = nameOf(step.jabatan ?? step.nama, `Tahap ${i + 1}`);
    const match = decided.find((a) => (a.step_id !== undefined && a.step_id === step.id)
      || (jabatanOf(a) && jabatanOf(a) === jabatan));
    if (i > 0) items.push(h('li', { class: 'step-arrow', 'aria-hidden': 'true' }, '→'));
    items.push(h('li', { class: 'step', testid: 'flow-step', dataset: { status: match?.status || 'pending' },
      title: match ? `${nameOf(match.user)}: ${statusLabel(match.status)}` : 'Belum diputuskan' },
    h('span', { class: 'step-no' }, match?.status === 'approved' ? '✓' : match?.status === 'rejected' ? '✕' : String(i + 1)),
    jabatan));
  });
  setChildren(el.steps, items);
}

function renderHistory() {
  const list = approvals();
  if (!list.length) {
    setChildren(el.history, h('div', { class: 'empty', style: { padding: '8px 0' } }, 'Belum ada keputusan untuk dokumen ini.'));
    return;
  }
  const when = (a) => a.approved_at || a.updated_at || a.created_at || a.waktu;
  const sorted = [...list].sort((a, b) => (Date.parse(when(a) || '') || 0) - (Date.parse(when(b) || '') || 0));
  setChildren(el.history, h('ol', { class: 'timeline' }, sorted.map((a) => {
    const name = nameOf(a.user ?? a.approver ?? a.nama, 'Tanpa nama');
    const jabatan = jabatanOf(a);
    const note = a.catatan ?? a.note ?? a.komentar;
    return h('li', { testid: 'approval-row', dataset: { status: a.status || '' } },
      avatar(name, a.user?.id ?? name),
      h('div', null,
        h('div', { class: 'timeline-head' },
          h('span', { class: 'timeline-name' }, name),
          jabatan ? h('span', { class: 'muted small' }, jabatan) : null,
          statusBadge(a.status, { testid: 'approval-status' })),
        h('div', { class: 'muted small' },
          APPROVAL_VERB[a.status] || statusLabel(a.status),
          when(a) ? ` · ${dateTime(when(a))}` : ''),
        note ? h('div', { class: 'timeline-note', testid: 'approval-note' }, nameOf(note, '')) : null));
  })));
}

function renderVersions() {
  const versions = Array.isArray(doc.versions) ? doc.versions.filter((v) => v && typeof v === 'object') : [];
  el.versionsCard.hidden = versions.length === 0;
  if (!versions.length) return;
  setChildren(el.versions, h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', null, h('tr', null, h('th', null, 'Versi'), h('th', null, 'Berkas'), h('th', { class: 'hide-sm' }, 'Diunggah'))),
    h('tbody', null, versions.map((v, i) => h('tr', null,
      h('td', { class: 'num' }, `v${nameOf(v.versi ?? v.version ?? v.nomor, String(i + 1))}`),
      h('td', null, nameOf(v.nama_file ?? v.file_name ?? v.filename ?? v.nama ?? v.file, '—')),
      h('td', { class: 'hide-sm muted' }, dateTime(v.uploaded_at ?? v.created_at))))))));
}

let busy = false;

function renderActions() {
  const open = doc.status === 'pending';
  el.approve.disabled = !open || busy;
  el.reject.disabled = !open || busy;
  el.note.disabled = !open;
  el.form.hidden = !open;
  el.closed.hidden = open || !el.result.hidden; // after one's own decision the result says it already
  if (!open) {
    el.closed.dataset.kind = doc.status === 'approved' ? 'success' : doc.status === 'rejected' ? 'danger' : 'info';
    setChildren(el.closed, icon(doc.status === 'rejected' ? 'x' : 'check'),
      h('span', null, `Dokumen ini sudah ${statusLabel(doc.status).toLowerCase()}. Tidak ada tindakan yang diperlukan.`));
  }
}

// ------------------------------------------------------------------ approve / reject

async function decide(echo, feed, action) {
  if (busy) return;
  busy = true;
  renderActions();
  el.result.hidden = true;
  const catatan = el.note.value.trim();
  try {
    const token = await session.getToken();
    const socketId = echo.socketId();
    const answer = await api(`/demo/dokumen/${encodeURIComponent(id)}/${action}`, {
      method: 'POST', token, body: { catatan }, headers: socketId ? { 'X-Socket-ID': socketId } : {},
    });
    const next = unwrap(answer);
    busy = false;
    el.result.hidden = false;
    if (next && typeof next === 'object' && next.id !== undefined) {
      ownStamp = stamp(next);
      renderDoc(next);
      feed.put(next); // the navbar counter: this tab gets no event for its own change (toOthers)
    } else {
      renderActions();
    }
    el.note.value = '';
    el.result.dataset.kind = action === 'approve' ? 'success' : 'danger';
    setChildren(el.result, icon(action === 'approve' ? 'check' : 'x'),
      h('span', null, action === 'approve' ? 'Anda menyetujui dokumen ini.' : 'Anda menolak dokumen ini.',
        ' Peserta lain melihat perubahan ini seketika.'));
  } catch (e) {
    busy = false;
    renderActions();
    el.result.dataset.kind = 'danger';
    setChildren(el.result, icon('alert'), h('span', null, e.code === 'demo_disabled' ? `Mode demo tidak aktif: ${e.message}` : e.message));
    el.result.hidden = false;
  }
}

// ------------------------------------------------------------------ presence and typing

function joinPresence(echo, me) {
  const typers = new Map(); // name -> timer
  const renderTyping = () => {
    const names = [...typers.keys()];
    el.typing.hidden = names.length === 0;
    if (!names.length) return;
    const who = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} dan ${names[names.length - 1]}`;
    setChildren(el.typing, h('span', { class: 'typing-dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
      `${who} sedang mengetik catatan…`);
  };

  const presence = echo.join(`dokumen.${id}`);
  const renderViewers = () => {
    const members = presence.subscription?.members;
    const list = [];
    if (members && typeof members.each === 'function') members.each((m) => list.push(m));
    const meId = members?.me?.id;
    list.sort((a, b) => (a.id === meId ? -1 : b.id === meId ? 1 : nameOf(a.info).localeCompare(nameOf(b.info))));
    el.viewerCount.dataset.count = String(list.length);
    setText(el.viewerCount, list.length);
    setChildren(el.viewers, list.map((m) => {
      const name = nameOf(m.info, String(m.id));
      return h('span', { class: 'viewer', testid: 'viewer', dataset: { userId: m.id }, title: name },
        avatar(name, m.id, 'avatar-sm'), name, m.id === meId ? h('span', { class: 'viewer-me' }, '(Anda)') : null);
    }));
    el.viewersNote.hidden = list.length > 1;
  };

  presence
    .here(renderViewers)
    .joining(renderViewers)
    .leaving((info) => {
      renderViewers();
      const name = nameOf(info, '');
      if (typers.has(name)) {
        clearTimeout(typers.get(name));
        typers.delete(name);
        renderTyping();
      }
    })
    .error((err) => {
      const status = err?.status ?? err?.data?.status;
      setChildren(el.viewers, h('div', { class: 'callout', dataset: { kind: 'danger' }, testid: 'presence-error' },
        icon('alert'), h('span', null, `Tidak dapat bergabung ke daftar kehadiran${status ? ` (HTTP ${status})` : ''}.`)));
    })
    .listenForWhisper('typing', (e) => {
      const name = nameOf(e?.name ?? e, 'Seseorang');
      clearTimeout(typers.get(name));
      typers.set(name, setTimeout(() => {
        typers.delete(name);
        renderTyping();
      }, TYPING_HIDE_MS));
      renderTyping();
    });

  let lastWhisper = 0;
  el.note.addEventListener('input', () => {
    const now = Date.now();
    if (now - lastWhisper < WHISPER_EVERY_MS || !el.note.value) return;
    lastWhisper = now;
    try {
      presence.whisper('typing', { name: me.name });
    } catch (e) {
      console.warn('whisper gagal', e); // not subscribed yet
    }
  });
}

// ------------------------------------------------------------------ start

async function refetch() {
  const next = unwrap(await api(`/demo/dokumen/${encodeURIComponent(id)}`, { token: await session.getToken() }));
  renderDoc(next);
  return next;
}

async function start() {
  if (!id) {
    showProblem({ code: 'not_found', message: 'Alamat halaman tidak menyebut dokumen mana (?id=…).' });
    return;
  }
  const user = await signedIn(main, showProblem);
  mountTopbar(user);
  skeleton();
  try {
    await refetch();
  } catch (e) {
    showProblem(e.status === 404 ? { ...e, message: `Dokumen #${id} tidak ditemukan.` } : e);
    return;
  }

  const echo = await connectEcho();
  const feed = new DokumenFeed(echo); // the navbar's pending counter
  feed.load().catch((e) => console.warn('Daftar dokumen tidak dapat dimuat', e));

  echo.channel(`dokumen.${id}`)
    .listen('.dokumen.updated', (e) => {
      if (!e || !e.dokumen || String(e.dokumen.id) !== String(id)) return;
      const order = compareVersion(e.dokumen, doc);
      if (order < 0) return; // a replayed event older than what the page shows
      const next = { ...doc, ...e.dokumen };
      const mine = order === 0 || (ownStamp !== null && stamp(next) === ownStamp);
      if (!mine) el.result.hidden = true; // someone else's change: "Anda menyetujui…" is old news
      renderDoc(next);
      feed.put(next);
      replay(el.sub.firstElementChild, 'value-bump');
      if (!mine) toastChange(next);
    })
    .listen('.kabar:reset', () => {
      // Events were missed and cannot be replayed: the document may have changed meanwhile.
      refetch().then((d) => feed.put(d), (e) => console.warn('Dokumen gagal dimuat ulang', e));
    });

  el.approve.addEventListener('click', () => decide(echo, feed, 'approve'));
  el.reject.addEventListener('click', () => decide(echo, feed, 'reject'));
  joinPresence(echo, user);
  setInterval(() => el.details.querySelector('[data-testid="dokumen-updated"]')
    ?.setAttribute('title', relative(doc.updated_at)), 30_000);
}

start().catch(showProblem);
