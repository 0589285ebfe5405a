// A demo login kept in sessionStorage (one tab, gone when the tab closes): the JWT from
// POST /demo/login and the request that produced it, so a fresh token can be asked for before the old
// one runs out (getToken).

import { api } from './api.js';
import { toDate } from './format.js';

const REFRESH_MARGIN_MS = 60_000;

export class DemoSession {
  constructor(storageKey) {
    this.key = storageKey;
    this.pending = null;
  }

  /** {token, expires_at, sub, role, cabang, name, request} or null. */
  get current() {
    try {
      const raw = sessionStorage.getItem(this.key);
      const s = raw ? JSON.parse(raw) : null;
      return s && typeof s.token === 'string' ? s : null;
    } catch {
      return null;
    }
  }

  /** POST /demo/login with request ({role, cabang, name, ttl_s, ...}); keeps and returns the answer. */
  async login(request) {
    const answer = await api('/demo/login', { method: 'POST', body: request });
    if (!answer || typeof answer.token !== 'string') throw new Error('Jawaban /demo/login tanpa token.');
    const session = { ...answer, request };
    sessionStorage.setItem(this.key, JSON.stringify(session));
    return session;
  }

  logout() {
    sessionStorage.removeItem(this.key);
  }

  /** Milliseconds until the token expires (Infinity when the server gave no expiry). */
  remainingMs(session = this.current) {
    const at = session && toDate(session.expires_at);
    return at ? at.getTime() - Date.now() : Infinity;
  }

  /** The token, renewed through /demo/login first when it expires within a minute. */
  async getToken() {
    const session = this.current;
    if (!session) throw new Error('Belum masuk.');
    if (this.remainingMs(session) > REFRESH_MARGIN_MS) return session.token;
    if (!this.pending) {
      this.pending = this.login(session.request).finally(() => {
        this.pending = null;
      });
    }
    return (await this.pending).token;
  }
}
