// Small fakes for kabar.js unit tests: WebSocket, EventSource, fetch, storage, document, window, logger,
// and fake time (node:test mock timers, Date included).
import { mock } from 'node:test';
import crypto from 'node:crypto';
import { Kabar } from '../kabar.js';

export const T0 = 1_800_000_000_000; // fake "now", ms

// Lets pending promise callbacks run (setImmediate is not faked).
export async function flush(rounds = 5) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

// Advances fake time by ms in small steps, letting async code run between them.
export async function advance(ms, step = 50) {
  for (let done = 0; done < ms; done += step) {
    mock.timers.tick(Math.min(step, ms - done));
    await flush(2);
  }
}

export function useFakeTime() {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
}

export function resetFakes() {
  mock.timers.reset();
  mock.restoreAll();
}

// A JWT with these claims (unsigned: kabar.js only decodes exp/iat).
export function jwt(claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.${crypto.randomBytes(8).toString('base64url')}`;
}

export const nowS = () => Math.floor(Date.now() / 1000);

export function fakes() {
  const sockets = [];
  const streams = [];
  const fetches = [];

  class WS {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = false;
      sockets.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      this.sent.push(JSON.parse(text));
    }
    close() {
      this.closed = true;
      this.readyState = 3;
    }
    // server side
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    recv(frame) {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }
    welcome(epoch = 'e1') {
      this.recv({ type: 'welcome', epoch, server: 'kabar/test', heartbeat_ms: 15000 });
    }
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose?.({ code, reason: '' });
    }
    ofType(type) {
      return this.sent.filter((m) => m.type === type);
    }
  }

  class ES {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.closed = false;
      this.lastEventId = '';
      streams.push(this);
    }
    get query() {
      return new URL(this.url).searchParams;
    }
    close() {
      this.closed = true;
      this.readyState = 2;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    recv(frame, id) {
      if (id !== undefined) this.lastEventId = id;
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame), lastEventId: this.lastEventId });
    }
    // the browser gave up (non-200: readyState CLOSED) or lost the stream (CONNECTING)
    fail(readyState = 2) {
      this.readyState = readyState;
      this.onerror?.({});
    }
  }

  // fetch: answered by `route(url, init)` -> {status, body} or a thrown error.
  let route = () => { throw new TypeError('fetch failed'); };
  const fetch = async (url, init = {}) => {
    const call = { url, init, query: new URL(url).searchParams };
    fetches.push(call);
    const answer = await route(url, init, call);
    return {
      status: answer.status,
      ok: answer.status >= 200 && answer.status < 300,
      json: async () => (typeof answer.body === 'string' ? JSON.parse(answer.body) : answer.body),
    };
  };

  const map = new Map();
  const storage = {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };

  const target = () => {
    const listeners = {};
    return {
      listeners,
      addEventListener(type, fn) { (listeners[type] ||= new Set()).add(fn); },
      removeEventListener(type, fn) { listeners[type]?.delete(fn); },
      dispatch(type) { for (const fn of listeners[type] || []) fn({ type }); },
    };
  };
  const document = { ...target(), visibilityState: 'visible' };
  const window = target();

  const warnings = [];
  const logger = { warn: (...args) => warnings.push(args) };

  const statuses = [];
  return {
    WS, ES, fetch, storage, document, window, logger, warnings, sockets, streams, fetches, statuses,
    setRoute(fn) { route = fn; },
    get ws() { return sockets[sockets.length - 1]; },
    get es() { return streams[streams.length - 1]; },
    // A Kabar wired to these fakes; statuses are recorded.
    kabar(options = {}) {
      const k = new Kabar({
        url: 'http://gw.test', WebSocket: WS, EventSource: ES, fetch, storage, document, window, logger, ...options,
      });
      k.onStatus((status, detail) => statuses.push({ status, ...detail }));
      return k;
    },
    setHidden(hidden) {
      document.visibilityState = hidden ? 'hidden' : 'visible';
      document.dispatch('visibilitychange');
    },
  };
}

export const ev = (channel, position, data = {}) => ({
  type: 'event', channel, event: 'test.event', id: `id-${position}`, position, data, time: 0,
});
