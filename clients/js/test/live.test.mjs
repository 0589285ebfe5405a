// kabar.js against a real kabar and a real mosquitto (tests/e2e/lib/harness.mjs starts them; every process
// is stopped by its pid after the file, also on failure). The `ws` and `eventsource` npm packages stand in
// for the browser's WebSocket and EventSource.
//   KABAR_BIN=/path/to/kabar node --test clients/js/test/live.test.mjs
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Kabar as KabarNode, makeTempDir, requireKabarBinary, runKabar, sleep, startMosquitto, track, useHarness, waitUntil,
} from '../../../tests/e2e/lib/harness.mjs';
import { mqttConnect, publish } from '../../../tests/e2e/lib/clients.mjs';
import { Kabar } from '../kabar.js';

useHarness();

const HERE = path.dirname(fileURLToPath(import.meta.url));
const e2eRequire = createRequire(path.resolve(HERE, '../../../tests/e2e/package.json'));
const WebSocket = e2eRequire('ws');
const EventSource = e2eRequire('eventsource');

let broker;
let node; // the kabar process
let mq;
let secretFile;

// Every frame a client received, seen from the wire side (test only: kabar.js never exposes them).
function spies(frames) {
  const record = (e) => {
    try { frames.push(JSON.parse(e.data)); } catch { frames.push({ unparsable: String(e.data) }); }
  };
  class SpyWebSocket extends WebSocket {
    set onmessage(fn) { super.onmessage = (e) => { record(e); fn(e); }; }
    get onmessage() { return super.onmessage; }
  }
  class SpyEventSource extends EventSource {
    set onmessage(fn) { super.onmessage = (e) => { record(e); fn(e); }; }
    get onmessage() { return super.onmessage; }
  }
  return { WebSocket: SpyWebSocket, EventSource: SpyEventSource };
}

// A kabar.js client of the running node, recording events, statuses, warnings and frames.
function client(transport, options = {}) {
  const rec = { events: [], statuses: [], warnings: [], frames: [], errors: [] };
  const k = new Kabar({
    url: node.httpBase,
    transport,
    ...spies(rec.frames),
    storage: null,
    document: null,
    window: null,
    backoff: { baseMs: 200, capMs: 2000 },
    logger: { warn: (...args) => rec.warnings.push(args.map(String).join(' ')) },
    ...options,
  });
  track({ close: () => k.close() });
  k.onEvent((e) => rec.events.push(e));
  k.onStatus((status, detail) => rec.statuses.push({ status, ...detail, at: Date.now() }));
  k.onError((e) => rec.errors.push(e));
  rec.k = k;
  rec.ids = () => rec.events.map((e) => e.id);
  return rec;
}

const pub = (channel, i, prefix) => publish(mq, `kabar/c/${channel}`, { id: `${prefix}-${i}`, event: 'kjs.test', data: { i } });
const range = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

function assertOnceInOrder(rec, expected, what) {
  assert.deepEqual(rec.ids(), expected, `${what}: every event once, in order`);
  const seqs = rec.events.map((e) => BigInt(e.position.split(':')[1]));
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `${what}: positions ascend`);
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  const dir = makeTempDir('kabar-js-live-');
  secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  node = await KabarNode.create({
    mqttPort: broker.port,
    config: { auth: { jwt: { secret_file: secretFile, clock_skew_s: 0 } } },
  });
  await node.start();
  mq = await mqttConnect(broker.port);
});

after(async () => {
  mq?.end(true);
  await node?.kill();
  await broker?.stop('SIGKILL');
});

describe('kabar.js against a real kabar', () => {
  for (const transport of ['sse', 'ws']) {
    test(`events arrive over /${transport}, once, in order`, { timeout: 30000 }, async () => {
      const channel = `kjs.basic.${transport}`;
      const c = client(transport);
      c.k.subscribe(channel, { since: 'earliest' });
      await waitUntil(() => c.k.status === 'live', { timeout: 10000, what: `${transport} live` });
      for (let i = 0; i < 20; i++) await pub(channel, i, `b${transport}`); // ids are unique per store
      await waitUntil(() => c.events.length >= 20, { timeout: 10000, what: `20 events over ${transport}` });
      await sleep(200);
      assertOnceInOrder(c, range(`b${transport}`, 20), transport);
      assert.equal(c.events[0].channel, channel);
      assert.deepEqual(c.events[3].data, { i: 3 });
      assert.deepEqual(c.warnings, []);
      c.k.close();
    });
  }

  test('kabar SIGKILLed and restarted on the same port during traffic: reconnecting, then live; every event once, in order', { timeout: 90000 }, async () => {
    const channel = 'kjs.restart';
    const N = 150;
    const clients = ['sse', 'ws'].map((t) => client(t));
    for (const c of clients) c.k.subscribe(channel, { since: 'earliest' });
    await waitUntil(() => clients.every((c) => c.k.status === 'live'), { timeout: 10000, what: 'both live' });

    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < N; i++) {
        await pub(channel, i, 'r');
        published++;
        await sleep(15);
      }
    })();
    await waitUntil(() => clients.every((c) => c.events.length >= 40), { timeout: 20000, what: 'traffic flowing' });
    const killedAt = Date.now();
    await node.kill();
    assert.ok(published < N - 20, `killed during traffic (${published} of ${N} published)`);
    await waitUntil(() => clients.every((c) => c.k.status === 'reconnecting'), { timeout: 10000, what: 'both reconnecting' });
    await sleep(500);
    await node.start();
    await publishing;
    await waitUntil(() => clients.every((c) => c.events.length >= N), {
      timeout: 30000, what: `all ${N} events (have ${clients.map((c) => c.events.length)})`,
    });
    await sleep(300);
    for (const [i, c] of clients.entries()) {
      const t = ['sse', 'ws'][i];
      assertOnceInOrder(c, range('r', N), t);
      const after = c.statuses.filter((s) => s.at >= killedAt).map((s) => s.status);
      assert.equal(after[0], 'reconnecting', `${t}: ${after}`);
      assert.equal(after.at(-1), 'live', `${t}: ${after}`);
      assert.ok(!after.includes('polling') && !after.includes('offline'), `${t}: ${after}`);
      assert.equal(c.k.status, 'live');
      c.k.close();
    }
  });

  test('SIGTERM: the shutdown frame\'s reconnect_ms is honoured over both transports; nothing is lost', { timeout: 60000 }, async () => {
    const channel = 'kjs.term';
    const clients = ['sse', 'ws'].map((t) => client(t));
    for (const c of clients) c.k.subscribe(channel, { since: 'earliest' });
    await waitUntil(() => clients.every((c) => c.k.status === 'live'), { timeout: 10000, what: 'both live' });
    for (let i = 0; i < 5; i++) await pub(channel, i, 't');
    await waitUntil(() => clients.every((c) => c.events.length >= 5), { timeout: 10000, what: '5 events' });
    await node.stop();
    for (const c of clients) {
      const s = c.statuses.at(-1);
      assert.equal(s.status, 'reconnecting', JSON.stringify(c.statuses));
      assert.equal(s.reason, 'shutdown');
      assert.ok(c.frames.some((f) => f.type === 'shutdown' && f.reconnect_ms === 1000));
      assert.ok(s.delayMs >= 1000 && s.delayMs <= 1200, `delay ${s.delayMs}`);
    }
    for (let i = 5; i < 10; i++) await pub(channel, i, 't');
    await node.start();
    await waitUntil(() => clients.every((c) => c.events.length >= 10), { timeout: 20000, what: '10 events' });
    await sleep(200);
    for (const [i, c] of clients.entries()) {
      assertOnceInOrder(c, range('t', 10), ['sse', 'ws'][i]);
      assert.equal(c.k.status, 'live');
      c.k.close();
    }
  });

  test('a private channel with a token that expires during the session: renewed, the stream stays live', { timeout: 60000 }, async () => {
    const channel = 'private-cabang.3';
    const TTL = 7; // renewed 0.7 s before it expires (10 %)
    const minted = { sse: [], ws: [] };
    const getToken = (t) => async () => {
      const r = await runKabar(['token', '--secret-file', secretFile, '--sub', `kasir-${t}`, '--role', 'kasir', '--cabang', '3', '--ttl', String(TTL)]);
      assert.equal(r.status, 0, r.stderr);
      minted[t].push(Date.now());
      return r.stdout.trim();
    };
    const clients = ['sse', 'ws'].map((t) => client(t, { getToken: getToken(t) }));
    for (const c of clients) c.k.subscribe(channel, { since: 'earliest' });
    await waitUntil(() => clients.every((c) => c.k.status === 'live'), { timeout: 10000, what: 'both live' });
    const seen = clients.map((c) => c.statuses.length);

    // events for 2.3 token lifetimes
    let n = 0;
    for (const end = Date.now() + TTL * 2300; Date.now() < end; n++) {
      await pub(channel, n, 'p');
      await sleep(200);
    }
    await waitUntil(() => clients.every((c) => c.events.length >= n), {
      timeout: 15000, what: `${n} events (have ${clients.map((c) => c.events.length)})`,
    });
    await sleep(300);
    for (const [i, c] of clients.entries()) {
      const t = ['sse', 'ws'][i];
      assertOnceInOrder(c, range('p', n), t);
      assert.ok(minted[t].length >= 3, `${t}: renewed twice at least (${minted[t].length} tokens)`);
      assert.deepEqual(c.statuses.slice(seen[i]), [], `${t}: no status change while renewing`);
      const refusals = c.frames.filter((f) => f.type === 'unsubscribed' || f.type === 'error');
      assert.deepEqual(refusals, [], `${t}: renewed before the server saw the token expire`);
      assert.deepEqual(c.errors, []);
      if (t === 'ws') {
        const auth = c.frames.filter((f) => f.type === 'authenticated');
        assert.ok(auth.length >= 3, `ws: renewed on the open socket (${auth.length} authenticated)`);
        assert.ok(auth.every((f) => f.sub === 'kasir-ws' && typeof f.expires_at === 'number'));
      }
      c.k.close();
    }
  });

  test('an expired token is refused (/sse 401, /ws invalid_token), and kabar.js recovers with a fresh one', { timeout: 30000 }, async () => {
    const channel = 'private-cabang.3';
    const mint = async (ttl) => (await runKabar(['token', '--secret-file', secretFile, '--sub', 'k', '--role', 'kasir', '--cabang', '3', '--ttl', String(ttl)])).stdout.trim();
    const expired = await mint(1);
    await sleep(2100);
    for (const t of ['sse', 'ws']) {
      let calls = 0;
      const c = client(t, { getToken: async () => (++calls === 1 ? expired : mint(3600)) });
      c.k.subscribe(channel, { since: 'earliest' });
      await waitUntil(() => c.k.status === 'live' && calls >= 2, { timeout: 10000, what: `${t}: live with a fresh token` });
      const marker = `x-${t}`;
      await publish(mq, `kabar/c/${channel}`, { id: marker, event: 'kjs.test', data: {} });
      await waitUntil(() => c.ids().includes(marker), { timeout: 10000, what: `${t}: event after recovery` });
      if (t === 'sse') {
        assert.ok(c.statuses.some((s) => s.status === 'reconnecting' && s.reason === 'expired'), JSON.stringify(c.statuses));
      } else {
        assert.ok(c.frames.some((f) => f.type === 'error' && f.code === 'invalid_token'));
      }
      c.k.close();
    }
  });
});
