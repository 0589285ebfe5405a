// kabar.js: the browser client of kabar's /sse and /ws (docs/protocol.md, docs/clients.md).
// One API over both transports: subscriptions, stored positions (every event once, in order, also
// across reloads), reconnect with full-jitter backoff, token renewal, pause while hidden, and a
// polling fallback (/api/history) when no stream gets through. No dependencies.

// "<epoch>:<seq>", or "<epoch>:<seq>:<event id>": the id lets another node resume after that event.
const POS = /^[^:\s]+:\d+(:[\w.:-]{1,128})?$/;
const isPos = (p) => typeof p == 'string' && POS.test(p);
const split = (p) => {
  const [e, s] = p.split(':');
  return [e, s.replace(/^0+(?=\d)/, '')];
};
// Is position a after b? Within one epoch by seq (compared as decimal strings: exact past 2^53);
// a position of another epoch counts as after (the server answers for it with a reset).
export const isAfter = (a, b) => {
  if (!b) return true;
  const [ea, sa] = split(a);
  const [eb, sb] = split(b);
  return ea != eb || sa.length > sb.length || (sa.length == sb.length && sa > sb);
};
const epoch = (p) => p && split(p)[0];

// MQTT filter matching, as the broker (and kabar) does it: '+' one level, a final '#' the rest and its
// parent, no wildcard match of a topic starting with '$'.
export const topicMatches = (filter, topic) => {
  if (typeof topic != 'string' || !topic) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic[0] == '$' && /^[+#]$/.test(f[0])) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] == '#') return true;
    if (i >= t.length || (f[i] != '+' && f[i] != t[i])) return false;
  }
  return f.length == t.length;
};
// A topic subscription's key in the subscription map (':' is not a channel character).
const TK = 'topic:';
const topicOf = (k) => k.startsWith(TK) && k.slice(TK.length);

// The claims of a JWT, unverified ({} when it is not one): only exp and iat are read.
const claims = (t) => {
  try {
    return JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) || {};
  } catch {
    return {};
  }
};

export class Kabar {
  constructor(o = {}) {
    const g = globalThis;
    this.o = o;
    this.url = (o.url || g.location?.origin || '').replace(/\/+$/, '');
    if (!this.url) throw new TypeError('kabar: no url');
    this.transport = this.kind = this.mode = o.transport || 'sse';
    this.WS = o.WebSocket || g.WebSocket;
    this.ES = o.EventSource || g.EventSource;
    const f = o.fetch || g.fetch;
    this.fetch = f && ((...a) => f.apply(g, a));
    this.doc = o.document === undefined ? g.document : o.document;
    this.win = o.window === undefined ? g.window : o.window;
    this.log = o.logger || console;
    let ls = o.storage;
    if (ls === undefined) try { ls = g.localStorage; } catch {}
    const m = new Map();
    this.ls = ls || { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v), removeItem: (k) => m.delete(k) };
    this.pre = o.prefix ?? 'kabar:';
    this.b = { baseMs: 500, capMs: 30000, maxAttempts: Infinity, ...o.backoff };
    this.hideMs = o.hiddenPauseMs ?? 30000;
    this.pollMs = o.pollMs ?? 3000;
    this.toMs = o.connectTimeoutMs ?? 10000;
    this.fb = o.fallback === false ? null : { after: 2, probeMs: 30000, limit: 200, ...(o.fallback === true ? 0 : o.fallback) };
    this.h = { e: new Set(), r: new Set(), s: new Set(), x: new Set() };
    this.subs = new Map(); // channel, or 'topic:' + filter -> {since, h: Set of {onEvent, onReset, onError}}
    this.pos = new Map(); // the same keys -> position of its last event (or reset)
    this.cur = null; // stream cursor (SSE Last-Event-ID, poll position), complete for channels curSet
    this.curSet = [];
    this.status = 'offline';
    this.st = 0; // 0 not started, 1 running, 2 closed
    this.n = 0; // consecutive failed attempts
    this.ta = 0; // consecutive refused tokens
    this.ok = {}; // transport -> reached live in this session
    this.fails = { ws: 0, sse: 0 }; // failures of a transport that never reached live
    this.gen = this.pg = 0;
    this.c = null; // the connection: {k: 'ws'|'sse', s: socket, live, st: ws subscription states}
    this.lsn = {
      visibilitychange: () => this._vis(),
      online: () => this.st == 1 && /off|rec/.test(this.status) && this.retry(), // a live stream is kept
      offline: () => this.st == 1 && (this._stop(), this._set('offline', { reason: 'network' })),
    };
  }

  // ---- public API ----

  // subscribe(channel, options), or subscribe({topic, since, onEvent, ...}): the events of every channel
  // whose MQTT topic matches the filter (docs/protocol.md "Topic subscriptions").
  subscribe(channel, o = {}) {
    if (channel && typeof channel == 'object') (o = channel), (channel = TK + o.topic);
    const { since, onEvent, onReset, onError } = o;
    let s = this.subs.get(channel);
    const r = { onEvent, onReset, onError };
    if (!s) {
      this.subs.set(channel, (s = { since, h: new Set() }));
      const p = this._get(channel);
      if (isPos(p) && !this.pos.has(channel)) this.pos.set(channel, p);
      this._changed(channel, 1);
    }
    s.h.add(r);
    if (!this.st) queueMicrotask(() => this.st || this.connect());
    return () => {
      if (s.h.delete(r) && !s.h.size && this.subs.get(channel) == s) {
        this.subs.delete(channel);
        this._changed(channel, 0);
      }
    };
  }

  onEvent(fn) { return this._on(this.h.e, fn); }
  onReset(fn) { return this._on(this.h.r, fn); }
  onStatus(fn) { return this._on(this.h.s, fn); }
  onError(fn) { return this._on(this.h.x, fn); }

  connect() {
    if (this.st == 1) return;
    this.st = 1;
    const { doc, win } = this;
    doc?.addEventListener?.('visibilitychange', this.lsn.visibilitychange);
    for (const k of ['online', 'offline']) win?.addEventListener?.(k, this.lsn[k]);
    this.retry();
  }

  // Try again now, with a fresh attempt count (after `offline`, or to skip a backoff wait).
  retry() {
    if (this.st != 1) return this.connect();
    this._stop();
    this.n = 0;
    this.fails = { ws: 0, sse: 0 };
    this.kind = this.mode = this.transport;
    this._set('connecting', {});
    this._start();
    this._vis();
  }

  close() {
    const { doc, win } = this;
    this.st = 2;
    this._stop();
    clearTimeout(this.ht);
    this.ht = 0;
    doc?.removeEventListener?.('visibilitychange', this.lsn.visibilitychange);
    for (const k of ['online', 'offline']) win?.removeEventListener?.(k, this.lsn[k]);
    this._set('offline', { reason: 'closed' });
  }

  // ---- internals ----

  _on(set, fn) {
    set.add(fn);
    return () => set.delete(fn);
  }

  _emit(fns, ...a) {
    for (const fn of fns) {
      try {
        fn?.(...a);
      } catch (e) {
        this._warn('handler threw', e);
      }
    }
  }

  _warn(...a) {
    try {
      this.log.warn('kabar:', ...a);
    } catch {}
  }

  _get(k) {
    try {
      return this.ls.getItem(this.pre + k);
    } catch {}
  }

  _put(k, v) {
    try {
      v == null ? this.ls.removeItem(this.pre + k) : this.ls.setItem(this.pre + k, v);
    } catch {}
  }

  _set(status, d) {
    if (status == this.status && status != 'reconnecting') return;
    this.status = status;
    this._emit(this.h.s, status, d);
  }

  _save(ch, p) {
    this.pos.set(ch, p);
    this._put(ch, p);
  }

  // The stream cursor moved: every event of `chans` up to p has been delivered.
  _cursor(p, chans) {
    if (p == this.cur || !isPos(p)) return;
    this.cur = p;
    this.curSet = chans;
    this._put('@' + chans.join(' '), p);
  }

  _chans() {
    return [...this.subs.keys()].sort();
  }

  // Where channel ch resumes: the newer of its own position and the stream cursor that covers it.
  _at(ch) {
    const p = this.pos.get(ch);
    const c = this.curSet.includes(ch) && this.cur;
    return c && (!p || (epoch(c) == epoch(p) && isAfter(c, p))) ? c : p;
  }

  // One position for a stream of all channels (SSE, polling): the oldest of theirs, else the
  // first-connect `since` ('earliest' wins over 'latest' over live).
  _since(chans) {
    if (!this.cur) {
      const p = this._get('@' + chans.join(' '));
      if (isPos(p)) (this.cur = p), (this.curSet = chans);
    }
    let min;
    for (const ch of chans) {
      const p = this._at(ch);
      if (p && (!min || (epoch(p) == epoch(min) && isAfter(min, p)))) min = p;
    }
    const s = chans.map((ch) => this.subs.get(ch).since);
    return min || (s.includes('earliest') ? 'earliest' : s.includes('latest') ? 'latest' : s.find(isPos));
  }

  _delay(n) {
    return Math.random() * Math.min(this.b.capMs, this.b.baseMs * 2 ** n);
  }

  _stop() {
    this._drop();
    for (const t of ['t', 'pt', 'pbt', 'rt']) clearTimeout(this[t]), (this[t] = 0);
    this.pg++;
  }

  _drop() {
    const c = this.c;
    this.gen++;
    this.c = null;
    if (!c) return;
    clearTimeout(c.timer);
    try {
      c.s?.close();
    } catch {}
  }

  _start() {
    clearTimeout(this.t);
    this.t = 0;
    if (this.st == 1) this.mode == 'poll' ? this._poll() : this._open();
  }

  async _token() {
    const t = this.o.getToken ? await this.o.getToken() : null;
    this.tok = t;
    this.iat = claims(t || '').iat;
    this._sched(t && claims(t).exp);
    return t;
  }

  // Renew ~30 s or 10 % of the lifetime before expiry, whichever is shorter.
  _sched(exp) {
    clearTimeout(this.rt);
    this.rt = 0;
    const left = exp * 1000 - Date.now();
    // nothing to renew: no expiry, expired already (refused, then replaced with backoff), or stopped
    if (!(left > 0) || this.st != 1 || /paused|offline/.test(this.status)) return;
    const life = this.iat < exp ? (exp - this.iat) * 1000 : left;
    this.rt = setTimeout(() => this._renew(), Math.max(1000, left - Math.min(30000, life / 10)));
  }

  async _renew() {
    const c = this.c;
    if (!c && this.mode != 'poll') return; // (re)connecting: that gets a fresh token anyway
    let t;
    try {
      t = await this._token();
    } catch (e) {
      this._warn('getToken failed', e);
      if (this.st == 1) this.rt = setTimeout(() => this._renew(), this._delay(this.ta++));
      return;
    }
    if (!c || c != this.c) return; // nothing open (polling sends the new token with its next request)
    if (c.k == 'ws') t && c.s.readyState == 1 && c.s.send(JSON.stringify({ type: 'auth', token: t }));
    else this._drop(), this._open(t); // SSE: the same stream again with the fresh ?token=, from the positions
  }

  async _open(t) {
    const k = this.kind;
    const g = ++this.gen;
    try {
      if (t === undefined) t = await this._token();
    } catch (e) {
      if (g == this.gen) this._retry({ transport: k, reason: 'getToken', error: e });
      return;
    }
    if (g != this.gen) return;
    const c = (this.c = { k, st: new Map(), ch: this._chans() });
    if (k == 'sse' && !c.ch.length) return; // a stream needs a channel; opened when one is subscribed
    c.timer = setTimeout(() => this._fail(c, 'timeout'), this.toMs);
    try {
      k == 'ws' ? this._ws(c, t) : this._sse(c, t);
    } catch (e) {
      this._warn(e);
      this._fail(c, 'error');
    }
  }

  _ws(c, t) {
    const ws = (c.s = new this.WS(this.url.replace(/^http/, 'ws') + '/ws'));
    ws.onopen = () => {
      if (t) ws.send(JSON.stringify({ type: 'auth', token: t }));
      for (const ch of this.subs.keys()) this._sub(c, ch);
    };
    ws.onmessage = (e) => this._msg(c, e.data);
    ws.onclose = (e) => this._fail(c, 'closed', e.code == 4001, e.code);
    ws.onerror = () => {}; // close follows (and Node's ws throws an 'error' nobody listens to)
  }

  _sub(c, ch) {
    const p = this._at(ch) || this.subs.get(ch).since;
    c.st.set(ch, 'p');
    const m = { type: 'subscribe', ...this._what(ch) };
    if (p) m.since = p;
    c.s.send(JSON.stringify(m));
  }

  // A key as the server names it: {channel} or {topic}; and as a query parameter.
  _what(k) {
    const t = topicOf(k);
    return t ? { topic: t } : { channel: k };
  }

  _q(k) {
    const t = topicOf(k);
    return (t ? 'topic=' : 'channel=') + encodeURIComponent(t || k);
  }

  _sse(c, t) {
    const p = this._since(c.ch);
    const q = c.ch.map((ch) => this._q(ch));
    if (p) q.push((isPos(p) ? 'last_event_id=' : 'since=') + encodeURIComponent(p));
    if (t) q.push('token=' + encodeURIComponent(t));
    const url = this.url + '/sse?' + q.join('&');
    const es = (c.s = new this.ES(url));
    es.onopen = () => this._live(c);
    es.onmessage = (e) => {
      if (c != this.c) return;
      this._msg(c, e.data);
      this._cursor(e.lastEventId, c.ch);
    };
    es.onerror = async () => {
      if (c != this.c) return;
      es.close(); // we reconnect ourselves: fresh token, backoff, status
      let auth = 0;
      let why = 'error';
      // EventSource hides the status: a stream that never opened is asked again with fetch, so a
      // refused token or channel is not taken for a transport that does not get through.
      if (!c.live && this.fetch) {
        const ac = new AbortController();
        const to = setTimeout(() => ac.abort(), 5000);
        try {
          const r = await this.fetch(url, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
          if (r.status >= 400 && r.status < 500) {
            const b = await r.json().catch(() => ({}));
            auth = 1;
            why = b.reason || b.error || 'http_' + r.status;
            if (r.status != 401) this._frame({ type: 'error', code: b.error, ...b, status: r.status });
          }
        } catch {}
        clearTimeout(to);
        ac.abort();
      }
      this._fail(c, why, auth);
    };
  }

  _live(c) {
    if (!c || c != this.c || c.live) return;
    clearTimeout(c.timer);
    c.live = 1;
    this.ok[c.k] = 1;
    this.fails[c.k] = this.n = this.ta = 0;
    if (this.mode == 'poll') {
      clearTimeout(this.pt);
      clearTimeout(this.pbt);
      this.pt = this.pbt = 0;
      this.pg++;
    }
    this.mode = c.k;
    this._set('live', { transport: c.k });
  }

  // A connection ended or never got through. auth: it was refused for its token or channels.
  _fail(c, reason, auth, code) {
    if (c != this.c) return;
    this._drop();
    if (this.mode == 'poll') return this._probe(); // a probe while polling: keep polling
    if (!c.live && !auth && !this.ok[c.k]) this.fails[c.k]++;
    const d = { transport: c.k, reason };
    if (code != null) d.code = code;
    this._retry(d);
  }

  // Schedule the next attempt; ms (the server's shutdown reconnect_ms) does not count as a failure.
  _retry(d, ms) {
    const { fb, b } = this;
    if (ms == null && ++this.n >= b.maxAttempts) {
      this._stop();
      return this._set('offline', { ...d, reason: 'max_attempts', attempt: this.n });
    }
    const k = this.kind;
    const o = k == 'ws' ? 'sse' : 'ws';
    if (fb && this.mode != 'poll' && !this.ok[k] && this.fails[k] >= fb.after) {
      if (this.ok[o] || this.fails[o] < fb.after) this.kind = this.mode = o;
      else this.mode = 'poll';
    }
    const delay = ms ?? this._delay(this.n - 1);
    clearTimeout(this.t);
    this.t = setTimeout(() => this._start(), delay);
    this._set('reconnecting', { ...d, attempt: this.n, delayMs: delay });
  }

  _msg(c, data) {
    if (c != this.c) return;
    let f;
    try {
      f = JSON.parse(data);
    } catch {}
    if (f && typeof f == 'object' && typeof f.type == 'string') this._frame(f, c);
    else this._warn('malformed frame skipped', data);
  }

  // The subscriptions a frame of channel ch (and MQTT topic) belongs to: the channel's, and every topic
  // subscription whose filter matches (a reset names no topic: every topic subscription).
  _owners(ch, topic, reset) {
    const out = [];
    for (const [k, s] of this.subs) {
      const t = topicOf(k);
      if (t ? reset || topicMatches(t, topic) : k == ch) out.push([k, s]);
    }
    return out;
  }

  _frame(f, c) {
    const ch = f.channel;
    const key = typeof f.topic == 'string' && f.type != 'event' ? TK + f.topic : ch;
    const s = this.subs.get(key);
    const bad = () => this._warn('malformed ' + f.type + ' frame skipped', f);
    switch (f.type) {
      case 'event': {
        if (typeof ch != 'string' || !isPos(f.position)) return bad();
        // Once to each subscription it belongs to that has not had it yet (a topic subscription and the
        // channel's own may both carry it, and a replay may overlap what another one delivered).
        let n = 0;
        for (const [k, o] of this._owners(ch, f.topic)) {
          if (!isAfter(f.position, this._at(k))) continue;
          this._save(k, f.position);
          n++;
          for (const r of [...o.h]) this._emit([r.onEvent], f);
        }
        return n && this._emit(this.h.e, f);
      }
      case 'reset': {
        if (typeof ch != 'string' || !isPos(f.position)) return bad();
        const owners = this._owners(ch, null, 1);
        if (!owners.length) return;
        for (const [k, o] of owners) {
          // A topic subscription goes on from its last event when one of its channels lost history (its
          // other channels may still be replaying older events); any other reset moves it.
          if (!topicOf(k) || f.reason != 'history_pruned' || epoch(this._at(k)) != epoch(f.position))
            this._save(k, f.position);
          for (const r of [...o.h]) this._emit([r.onReset], ch, f.reason, f);
        }
        if (epoch(this.cur) != epoch(f.position)) this.cur = null;
        return this._emit(this.h.r, ch, f.reason, f);
      }
      case 'welcome':
        return this._live(c);
      case 'subscribed':
        c?.st.set(key, 'a');
        // live only: resume from the head it was subscribed at
        if (s && !s.since && !this.pos.has(key) && isPos(f.position)) this._save(key, f.position);
        return;
      case 'unsubscribed':
        c?.st.delete(key);
        // the token ran out or no longer allows it: a fresh token, then subscribed again (/sse: the
        // stream is about to end, so it is reopened at once; the status stays as it is meanwhile)
        if (s && f.reason) c?.k == 'sse' ? (this._drop(), this._open()) : this._renew();
        return;
      case 'authenticated':
        this.ta = 0;
        this._sched(f.expires_at);
        if (c?.k == 'ws') for (const k of this.subs.keys()) /[ap]/.test(c.st.get(k)) || this._sub(c, k);
        return;
      case 'error':
        if (f.code == 'invalid_token') {
          clearTimeout(this.rt);
          this.rt = setTimeout(() => this._renew(), this._delay(this.ta++));
        }
        if (c && (ch || f.topic)) c.st.set(key, 'x');
        this._warn('error', f.code, f.message);
        if (s) for (const r of [...s.h]) this._emit([r.onError], f);
        return this._emit(this.h.x, f);
      case 'shutdown': {
        if (!c) return;
        const ms = +f.reconnect_ms >= 0 ? +f.reconnect_ms : this.b.baseMs;
        this._drop();
        return this._retry({ transport: c.k, reason: 'shutdown' }, ms + Math.random() * Math.min(ms, this.b.baseMs));
      }
      case 'pong':
        return;
      default:
        this._warn('unknown frame skipped', f);
    }
  }

  _changed(ch, add) {
    const c = this.c;
    if (c?.k == 'ws') {
      if (c.s?.readyState != 1) return; // subscribed when it opens
      if (add) return this._sub(c, ch);
      c.st.delete(ch);
      c.s.send(JSON.stringify({ type: 'unsubscribe', ...this._what(ch) }));
    } else if (c?.k == 'sse' && !this.rs) {
      // a new channel set is a new stream: reopened once per tick, from the cursor
      this.rs = 1;
      queueMicrotask(() => {
        this.rs = 0;
        if (this.c == c) this._drop(), this._open(this.tok);
      });
    }
  }

  _vis() {
    const d = this.doc;
    if (!d || this.st != 1) return;
    if (d.visibilityState == 'hidden') {
      if (this.hideMs > 0 && !this.ht)
        this.ht = setTimeout(() => {
          this.ht = 0;
          if (this.st == 1 && this.status != 'offline') this._stop(), this._set('paused', {});
        }, this.hideMs);
    } else {
      clearTimeout(this.ht);
      this.ht = 0;
      if (this.status == 'paused') this.retry();
    }
  }

  // ---- fallback: GET /api/history every pollMs ----

  async _poll() {
    clearTimeout(this.pt);
    const g = ++this.pg;
    // /api/history takes channels: topic subscriptions wait for a stream (docs/clients.md)
    const chans = this._chans().filter((k) => !topicOf(k));
    const next = (ms) => g == this.pg && (this.pt = setTimeout(() => this._poll(), ms));
    if (!chans.length) return next(this.pollMs);
    let r;
    let b;
    try {
      if (this.tok === undefined) await this._token();
      const p = this._since(chans);
      const q = chans.map((ch) => this._q(ch));
      if (p) q.push('since=' + encodeURIComponent(p));
      q.push('limit=' + this.fb.limit);
      const t = this.tok;
      r = await this.fetch(this.url + '/api/history?' + q.join('&'), { headers: t ? { authorization: 'Bearer ' + t } : {} });
      b = await r.json();
    } catch (e) {
      if (g == this.pg) this._retry({ transport: 'poll', reason: 'error', error: e });
      return;
    }
    if (g != this.pg) return;
    if (!r.ok || !b || !Array.isArray(b.frames) || !isPos(b.position)) {
      if (r.status == 401) this.tok = undefined; // a fresh token next time
      else if (r.ok) this._warn('malformed history answer', b);
      else this._frame({ type: 'error', code: b?.error, ...b, status: r.status });
      return this._retry({ transport: 'poll', reason: b?.reason || b?.error || 'http_' + r.status, code: r.status });
    }
    for (const f of b.frames) f && typeof f == 'object' ? this._frame(f, null) : this._warn('malformed frame skipped', f);
    this._cursor(b.position, chans);
    this.n = 0;
    this._set('polling', { transport: 'poll', reason: 'fallback' });
    next(b.more ? 0 : this.pollMs);
    this._probe();
  }

  // While polling, try a stream now and then (each transport in turn); the first that gets through wins.
  _probe() {
    if (this.pbt || this.c || this.mode != 'poll') return;
    this.pbt = setTimeout(() => {
      this.pbt = 0;
      if (this.mode != 'poll' || this.st != 1) return;
      this.kind = this.kind == 'ws' ? 'sse' : 'ws';
      this._open(this.tok);
    }, this.fb.probeMs);
  }
}

export default Kabar;
