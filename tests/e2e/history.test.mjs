// GET /api/history (docs/protocol.md "/api/history"): the stored events of some channels a page at a time,
// in the streams' own frames, with `position` to call again from and `more` when the page was cut; the
// streams' resets; the /sse token, policy, origins and CORS. Against the real binary and mosquitto.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { before, describe, test } from 'node:test';
import { Kabar, keysOf, requireKabarBinary, startMosquitto, useHarness, waitUntil, withTimeout } from './lib/harness.mjs';
import { POSITION_RE, WsClient, epochOf, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example.net';
let broker;
let kabar;
let mq;
const pub = (channel, id) => publish(mq, `kabar/c/${channel}`, { id, event: 'history.test', data: { id } });
const ids = (frames) => frames.filter((f) => f.type === 'event').map((f) => f.id);
const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
const omset = (n) => ({ omset_total: n, omset_bpjs: 0, omset_umum: n, jumlah_transaksi: 1 });

// One request on its own connection, so any header (Origin included) goes out as given.
function request(url, { method = 'GET', headers = {}, timeout = 5000 } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end();
  }), timeout, `${method} ${url}`);
}

async function history(node, query, { headers, status = 200 } = {}) {
  const res = await request(node.url(`/api/history?${query}`), { headers });
  assert.equal(res.status, status, `GET /api/history?${query}: ${res.body}`);
  assert.match(res.headers['content-type'], /^application\/json/);
  return JSON.parse(res.body);
}

// A cashier's token that expired a minute ago, signed with the node's secret (`kabar token` refuses to
// mint one).
function mintExpired(node) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'kasir-3', role: 'kasir', cabang: [3], iat: now - 120, exp: now - 60 })}`;
  const secret = fs.readFileSync(node.config.auth.jwt.secret_file, 'utf8').replace(/\n$/, '');
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// Waits until kabar has stored event `id`, the newest of `channel` (a broker's PUBACK says only that the
// broker has it). kabar stores in the order the broker delivers, so everything published before it too.
async function stored(node, channel, id) {
  await waitUntil(async () => (await history(node, `channel=${channel}&since=latest`)).frames.some((f) => f.id === id),
    { what: `${id} stored on ${channel}` });
}

// Every page from `since` on, following `position` while `more`.
async function allPages(node, channels, since, limit, headers) {
  const pages = [];
  let position = since;
  for (;;) {
    const page = await history(node, `${channels.map((c) => `channel=${c}`).join('&')}&since=${encodeURIComponent(position)}&limit=${limit}`, { headers });
    pages.push(page);
    position = page.position;
    if (!page.more) return pages;
    assert.ok(pages.length < 50, 'paging ends');
  }
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port, operator: true, config: { http: { allowed_origins: ['app.example.com'] } } });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

describe('pages', () => {
  test('paging with limit follows one cursor over several channels, in position order; frames are the /ws frames', async () => {
    for (let i = 0; i < 25; i++) await pub(i % 5 === 0 ? 'h.other' : (i % 2 ? 'h.a' : 'h.b'), `p-${i}`);
    await stored(kabar, 'h.b', 'p-24');
    const pages = await allPages(kabar, ['h.a', 'h.b'], 'earliest', 7);
    const expected = range('p-', 0, 24).filter((_, i) => i % 5 !== 0);
    assert.equal(pages.length, 3, 'cut at 7, 7, then the rest');
    assert.deepEqual(pages.map((p) => p.more), [true, true, false]);
    for (const page of pages) assert.deepEqual(keysOf(page), ['frames', 'more', 'position']);
    const frames = pages.flatMap((p) => p.frames);
    assert.deepEqual(ids(frames), expected);
    for (let i = 1; i < frames.length; i++) assert.ok(seqOf(frames[i].position) > seqOf(frames[i - 1].position), 'positions ascend');
    for (const page of pages.slice(0, -1)) assert.equal(page.position, page.frames.at(-1).position, 'a cut page goes on after its last frame');

    // The same frames /ws sends for the same events.
    const ws = await WsClient.connect(kabar.wsUrl);
    await ws.subscribe('h.a', 'earliest');
    await ws.subscribe('h.b', 'earliest');
    await ws.waitEventId('h.a', 'p-23');
    await ws.waitEventId('h.b', 'p-24');
    const byId = new Map(ws.events().map((f) => [f.id, f]));
    for (const frame of frames) assert.deepEqual(frame, byId.get(frame.id), `frame of ${frame.id}`);
    ws.close();

    // Polling from the last position: nothing new, then exactly what came since.
    const last = pages.at(-1).position;
    assert.equal(epochOf(last), ws.welcome.epoch);
    assert.deepEqual((await history(kabar, `channel=h.a&channel=h.b&since=${last}`)).frames, []);
    await pub('h.a', 'p-25');
    await pub('h.other', 'p-26');
    await stored(kabar, 'h.other', 'p-26');
    const next = await history(kabar, `channel=h.a&channel=h.b&since=${last}`);
    assert.deepEqual(ids(next.frames), ['p-25']);
    assert.equal(next.more, false);
  });

  test('without since: no frames and the head as position, so a poller starts from now', async () => {
    await pub('h.now', 'n-0');
    await stored(kabar, 'h.now', 'n-0');
    const ws = await WsClient.connect(kabar.wsUrl);
    const subscribed = await ws.subscribe('h.now');
    ws.close();
    const now = await history(kabar, 'channel=h.now');
    assert.deepEqual(now.frames, []);
    assert.equal(now.more, false);
    assert.match(now.position, POSITION_RE);
    assert.ok(seqOf(now.position) >= seqOf(subscribed.position), 'the head');
    await pub('h.now', 'n-1');
    await stored(kabar, 'h.now', 'n-1');
    assert.deepEqual(ids((await history(kabar, `channel=h.now&since=${now.position}`)).frames), ['n-1']);
  });

  test('since=latest: the newest event of each channel in position order; an empty channel gives nothing, no reset', async () => {
    await pub('h.lb', 'l-0');
    await pub('h.la', 'l-1');
    await pub('h.la', 'l-2');
    await pub('h.lb', 'l-3');
    await pub('h.lc', 'l-4');
    await stored(kabar, 'h.lc', 'l-4');
    const page = await history(kabar, 'channel=h.la&channel=h.lb&channel=h.lempty&since=latest');
    assert.deepEqual(page.frames.map((f) => f.id), ['l-2', 'l-3'], 'no reset frame either');
    assert.equal(page.more, false);
    await pub('h.la', 'l-5');
    await stored(kabar, 'h.la', 'l-5');
    assert.deepEqual(ids((await history(kabar, `channel=h.la&channel=h.lb&since=${page.position}`)).frames), ['l-5']);
  });

  test('a page stops at about 1 MiB and says more', async () => {
    const pad = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 8; i++) await publish(mq, 'kabar/c/h.big', { id: `big-${i}`, event: 'history.test', data: { pad } });
    await stored(kabar, 'h.big', 'big-7');
    const first = await history(kabar, 'channel=h.big&since=earliest&limit=1000');
    assert.equal(first.more, true);
    assert.ok(first.frames.length >= 1 && first.frames.length < 8, `cut by size: ${first.frames.length} frames`);
    const pages = await allPages(kabar, ['h.big'], first.position, 1000);
    assert.deepEqual(ids([...first.frames, ...pages.flatMap((p) => p.frames)]), range('big-', 0, 7));
  });
});

describe('resets', () => {
  test('a foreign epoch, a position ahead and garbage get the streams\' resets, with the head as position', async () => {
    await pub('h.r', 'r-0');
    const now = await history(kabar, 'channel=h.r');
    const ahead = `${epochOf(now.position)}:${seqOf(now.position) + 1000000}`;
    for (const [since, reason] of [['ffffffffffff:1', 'epoch_changed'], [ahead, 'position_ahead'], ['garbage!', 'bad_position']]) {
      const page = await history(kabar, `channel=h.r&channel=h.r2&since=${encodeURIComponent(since)}`);
      assert.deepEqual(page.frames.map((f) => [f.type, f.channel, f.reason]), [['reset', 'h.r', reason], ['reset', 'h.r2', reason]], since);
      for (const frame of page.frames) {
        assert.deepEqual(keysOf(frame), ['channel', 'position', 'reason', 'type']);
        assert.equal(frame.position, page.position);
      }
      assert.equal(page.more, false);
      assert.ok(seqOf(page.position) >= seqOf(now.position));
    }
  });

  test('a position retention has passed gets reset history_pruned first, then the covered channels\' events', async () => {
    const pruning = await Kabar.create({ mqttPort: broker.port, config: { store: { retention_max_per_channel: 5, retention_interval_ms: 200 } } });
    await pruning.start();
    const watcher = await WsClient.connect(pruning.wsUrl);
    await watcher.subscribe('pr.a');
    for (let i = 0; i < 20; i++) await pub('pr.a', `pr-${i}`);
    await pub('pr.b', 'pb-0');
    await stored(pruning, 'pr.b', 'pb-0');
    await watcher.waitEvents('pr.a', 20);
    const old = watcher.events('pr.a')[0].position;
    watcher.close();
    await waitUntil(async () => ids((await history(pruning, 'channel=pr.a&since=earliest')).frames).length === 5,
      { timeout: 10000, interval: 200, what: 'retention to keep 5 events of pr.a' });
    const page = await history(pruning, `channel=pr.a&channel=pr.b&since=${old}`);
    assert.deepEqual(page.frames[0], { type: 'reset', channel: 'pr.a', reason: 'history_pruned', position: page.position });
    assert.deepEqual(ids(page.frames), ['pb-0'], 'pr.b is covered; nothing stale of pr.a');
    assert.equal(page.more, false);
    // The next poll from the position given is covered: no reset again.
    await pub('pr.a', 'pr-20');
    await stored(pruning, 'pr.a', 'pr-20');
    const next = await history(pruning, `channel=pr.a&channel=pr.b&since=${page.position}`);
    assert.deepEqual(next.frames.map((f) => f.id), ['pr-20']);
    await pruning.stop();
  });
});

describe('who may read', () => {
  test('a cashier reads her branch (Bearer, cookie, ?token=) and gets 403 for another branch; order-ready notices are hers too', async () => {
    const kasir = await kabar.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 });
    await publish(mq, 'cabang/3/omset', omset(100));
    await publish(mq, 'cabang/3/pesanan-siap', { pesanan: { id: 9, nomor: 'PSN-9', pelanggan: 'Ani' } });
    await publish(mq, 'cabang/7/pesanan-siap', { pesanan: { id: 10 } });
    const branch = 'channel=private-cabang.3&channel=private-cabang.3.pesanan';
    let page;
    await waitUntil(async () => {
      page = await history(kabar, `${branch}&since=earliest`, { headers: { Authorization: `Bearer ${kasir}` } });
      return page.frames.length === 2;
    }, { what: 'both events of branch 3 stored' });
    assert.deepEqual(page.frames.map((f) => [f.channel, f.event]), [['private-cabang.3', 'omset.updated'], ['private-cabang.3.pesanan', 'pesanan.siap']]);
    assert.deepEqual(page.frames[1].data, { pesanan: { id: 9, nomor: 'PSN-9', pelanggan: 'Ani' } });
    // The branch channel's latest stays the day's figures, whatever notices came after them.
    const byCookie = await history(kabar, 'channel=private-cabang.3&since=latest', { headers: { Cookie: `kabar_token=${kasir}` } });
    assert.deepEqual(byCookie.frames.map((f) => f.event), ['omset.updated']);
    const byQuery = await history(kabar, `${branch}&since=latest&token=${kasir}`);
    assert.deepEqual(byQuery.frames.map((f) => f.event), ['omset.updated', 'pesanan.siap']);

    const other = await history(kabar, 'channel=private-cabang.3&channel=private-cabang.7&since=earliest',
      { headers: { Authorization: `Bearer ${kasir}` }, status: 403 });
    assert.equal(other.error, 'forbidden_channel');
    assert.equal(other.reason, 'claim_mismatch');
    assert.equal(other.channel, 'private-cabang.7');
    assert.deepEqual(keysOf(other), ['channel', 'error', 'message', 'reason']);
    const admin = await history(kabar, 'channel=private-cabang.3.pesanan&since=latest', { headers: { Authorization: `Bearer ${await kabar.token({ role: 'admin', cabang: 3 })}` } });
    assert.deepEqual(admin.frames.map((f) => f.event), ['pesanan.siap'], 'admins still read it');
  });

  test('401 for a refused token, 403 without one, 400 for bad channels and limits; refusals as /sse gives them', async () => {
    const anonymous = await history(kabar, 'channel=private-cabang.3&since=earliest', { status: 403 });
    assert.equal(anonymous.reason, 'token_required');
    const expired = mintExpired(kabar);
    const res = await request(kabar.url('/api/history?channel=private-cabang.3'), { headers: { Authorization: `Bearer ${expired}` } });
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).error, 'invalid_token');
    assert.equal(JSON.parse(res.body).reason, 'expired');
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
    const sse = await request(kabar.url('/sse?channel=private-cabang.3'), { headers: { Authorization: `Bearer ${expired}` } });
    assert.equal(sse.status, 401);
    const { message: historyMessage, ...historyRefusal } = JSON.parse(res.body);
    const { message: sseMessage, ...sseRefusal } = JSON.parse(sse.body);
    assert.deepEqual(historyRefusal, sseRefusal, 'the same refusal as /sse');
    assert.equal(typeof historyMessage, 'string');
    assert.equal(typeof sseMessage, 'string');
    for (const [query, error] of [['', 'bad_request'], ['channel=', 'invalid_channel'], ['channel=a%20b', 'invalid_channel'],
      ['channel=h.a&limit=0', 'bad_request'], ['channel=h.a&limit=abc', 'bad_request']]) {
      const bad = await history(kabar, query, { status: 400 });
      assert.equal(bad.error, error, query);
      assert.equal(typeof bad.message, 'string');
    }
    const post = await request(kabar.url('/api/history?channel=h.a'), { method: 'POST' });
    assert.equal(post.status, 405);
  });

  test('?token= is refused with 401 query_token_disabled when auth.query_token is off', async () => {
    const strict = await Kabar.create({ mqttPort: broker.port, operator: true, config: { auth: { query_token: false } } });
    await strict.start();
    const token = await strict.token({ role: 'kasir', cabang: 3 });
    const refused = await history(strict, `channel=private-cabang.3&token=${token}`, { status: 401 });
    assert.equal(refused.reason, 'query_token_disabled');
    await history(strict, 'channel=private-cabang.3', { headers: { Authorization: `Bearer ${token}` } });
    await strict.stop();
  });

  test('origins and CORS as /sse: other origins 403, allowed ones read with credentials, preflight 204', async () => {
    const evil = await request(kabar.url('/api/history?channel=h.a'), { headers: { Origin: EVIL } });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).error, 'origin_not_allowed');
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    const ok = await request(kabar.url('/api/history?channel=h.a&since=latest'), { headers: { Origin: ALLOWED } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const forbidden = await request(kabar.url('/api/history?channel=private-cabang.3'), { headers: { Origin: ALLOWED } });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.headers['access-control-allow-origin'], ALLOWED, 'the page can read why');
    const preflight = await request(kabar.url('/api/history?channel=h.a'), {
      method: 'OPTIONS', headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], ALLOWED);
    assert.match(preflight.headers['access-control-allow-headers'], /Authorization/);
  });
});
