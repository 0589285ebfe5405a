// JSON calls to kabar (the demo API and /api/history), and how a refusal is shown on the page.

import { h } from './dom.js';
import { icon } from './icons.js';

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

function defaultMessage(status) {
  if (status === 401) return 'Sesi tidak berlaku lagi. Silakan masuk kembali.';
  if (status === 403) return 'Akses ditolak.';
  if (status === 404) return 'Data tidak ditemukan.';
  if (status >= 500) return 'Server sedang bermasalah. Coba lagi sebentar lagi.';
  return `Permintaan gagal (HTTP ${status}).`;
}

/**
 * api('/demo/dokumen/3/approve', {method: 'POST', token, body: {catatan}, headers: {'X-Socket-ID': id}})
 * Resolves with the parsed JSON answer; rejects with an ApiError {status, code, message} where code is
 * the server's `error` ("demo_disabled", "forbidden_channel"...), "network" or "http_<status>".
 */
export async function api(path, { method = 'GET', token, body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, signal, cache: 'no-store' };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Server tidak dapat dihubungi. Periksa koneksi Anda.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const code = (data && typeof data.error === 'string' && data.error) || `http_${res.status}`;
    const message = (data && typeof data.message === 'string' && data.message) || defaultMessage(res.status);
    throw new ApiError(res.status, code, message, data);
  }
  return data;
}

/** A card that explains a failed call; demo_disabled gets its own wording. */
export function problemView(error, { retry, testid = 'problem' } = {}) {
  let title = 'Terjadi kesalahan';
  let hint = null;
  let iconName = 'alert';
  const code = error && error.code;
  if (code === 'demo_disabled') {
    title = 'Mode demo tidak aktif';
    hint = h('p', { class: 'hint' }, 'Aplikasi contoh ini hanya berjalan saat kabar dijalankan dengan ',
      h('code', null, 'kabar demo'), '. Jalankan perintah itu lalu muat ulang halaman ini.');
    iconName = 'info';
  } else if (code === 'network') {
    title = 'Server tidak dapat dihubungi';
  } else if (code === 'client') {
    title = 'Pustaka klien kabar tidak tersedia';
  } else if (error && error.status === 401) {
    title = 'Sesi berakhir';
  }
  return h('div', { class: 'card problem', testid, dataset: { code: code || 'error' } },
    h('div', { class: 'problem-icon' }, icon(iconName)),
    h('h2', null, title),
    h('p', { testid: 'problem-message' }, (error && error.message) || 'Kesalahan tidak dikenal.'),
    hint,
    retry ? h('button', { class: 'btn', type: 'button', onclick: retry }, icon('refresh'), 'Coba lagi') : null);
}
