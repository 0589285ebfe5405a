// Hardening at the doors (docs/configuration.md "Hardening"): allowed origins for /ws, /sse and
// /pusher/auth (with CORS for the latter two), header and body size caps, a per-address connection cap,
// a per-connection message rate on /ws, and timeouts for slow or idle HTTP clients (slowloris). Every
// refusal is counted in kabar_http_refused_total{reason} and logged without tokens.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  Kabar, makeTempDir, metricSum, parseMetrics, requireKabarBinary, runKabar, sleep, startMosquitto, track, useHarness, waitUntil,
  withTimeout,
} from './lib/harness.mjs';

useHarness();

const SECRET = 'e2e-hardening-secret-e2e-hardening-secret-01';
const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

let broker;
let kabar;
let kasirToken;

// One request on its own connection (no keep-alive pool: the server closes idle connections quickly).
function request(url, { method = 'GET', headers = {}, body, timeout = 5000 } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => { text += chunk; if (res.headers['content-type']?.startsWith('text/event-stream')) req.destroy(); });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('close', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  }), timeout, `${method} ${url}`);
}

async function refused(node, reason) {
  const res = await request(node.url('/metrics'));
  const sample = parseMetrics(res.body).find((s) => s.name === 'kabar_http_refused_total' && s.labels.reason === reason);
  assert.ok(sample, `kabar_http_refused_total{reason="${reason}"} is exported`);
  return sample.value;
}

// Resolves with the upgrade's outcome: {open: ws} or {status} when the server answered HTTP instead.
function wsOpen(url, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    track({ close: () => ws.terminate() });
    ws.once('open', () => resolve({ open: ws }));
    ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode }); ws.terminate(); });
    ws.once('error', reject);
  }), 5000, `WebSocket ${url}`);
}

async function startKabar(http) {
  const node = await Kabar.create({
    mqttPort: broker.port,
    // The development app, named: with auth.jwt kabar no longer serves it unasked (docs/configuration.md).
    config: { http, apps: [{ id: 'local', key: 'local-key', secret: 'local-secret' }], auth: { jwt: { secret_file: path.join(dirOf(), 'jwt.secret') } } },
  });
  await node.start();
  return node;
}
let secretDir;
const dirOf = () => secretDir;

before(async () => {
  requireKabarBinary();
  secretDir = makeTempDir('kabar-e2e-hardening-');
  fs.writeFileSync(path.join(secretDir, 'jwt.secret'), `${SECRET}\n`);
  const minted = await runKabar(['token', '--secret-file', path.join(secretDir, 'jwt.secret'), '--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3']);
  assert.equal(minted.status, 0, minted.stderr);
  kasirToken = minted.stdout.trim();
  broker = await startMosquitto();
  kabar = await startKabar({
    allowed_origins: ['app.example.com', 'https://admin.example.com:8443'],
    max_header_bytes: 2048,
    max_message_bytes: 4096,
    request_timeout_ms: 1000,
    ws_messages_per_s: 5,
    ws_message_burst: 10,
  });
});

describe('allowed origins and CORS', () => {
  test('/ws: a page from another origin is refused at the upgrade (403); allowed origins and non-browser clients connect', async () => {
    const before = await refused(kabar, 'origin_not_allowed');
    const evil = await wsOpen(`${kabar.wsUrl}?token=${kasirToken}`, { Origin: EVIL });
    assert.equal(evil.status, 403);
    for (const headers of [{ Origin: ALLOWED }, { Origin: 'https://admin.example.com:8443' }, {}]) {
      const ok = await wsOpen(kabar.wsUrl, headers);
      assert.ok(ok.open, JSON.stringify(headers));
      ok.open.terminate();
    }
    // A whole-origin pattern names the scheme and port too.
    assert.equal((await wsOpen(kabar.wsUrl, { Origin: 'https://admin.example.com' })).status, 403);
    assert.equal(await refused(kabar, 'origin_not_allowed'), before + 2);
    const log = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    assert.match(log, /refused ws request from 127\.0\.0\.1: origin_not_allowed: origin https:\/\/evil\.example\.net/);
    assert.ok(!log.includes(kasirToken), 'the token in the refused URL is not logged');
  });

  test('/sse: other origins get 403 origin_not_allowed; preflights name the origin, credentials and Authorization', async () => {
    const evil = await request(kabar.url('/sse?channel=dokumen.1'), { headers: { Origin: EVIL } });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).error, 'origin_not_allowed');
    assert.equal(evil.headers['access-control-allow-origin'], undefined, 'a refused origin gets no CORS header');
    const ok = await request(kabar.url('/sse?channel=dokumen.1'), { headers: { Origin: ALLOWED } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED, 'the stream is readable cross-origin');
    assert.equal(ok.headers['access-control-allow-credentials'], 'true', 'an EventSource withCredentials (cookie) works cross-site');
    // Errors of an allowed origin are readable too (so the page can show the reason).
    const forbidden = await request(kabar.url('/sse?channel=private-cabang.7'), { headers: { Origin: ALLOWED, Authorization: `Bearer ${kasirToken}` } });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(forbidden.headers['access-control-allow-credentials'], 'true');
    const preflight = await request(kabar.url('/sse?channel=dokumen.1'), {
      method: 'OPTIONS', headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(preflight.headers['access-control-allow-credentials'], 'true');
    assert.match(preflight.headers['access-control-allow-headers'], /Authorization/);
    assert.match(preflight.headers.vary, /Origin/);
    const evilPreflight = await request(kabar.url('/sse'), { method: 'OPTIONS', headers: { Origin: EVIL, 'Access-Control-Request-Method': 'GET' } });
    assert.equal(evilPreflight.status, 403);
  });

  test('/pusher/auth: CORS for allowed origins, 403 for others', async () => {
    const form = 'socket_id=1.2&channel_name=private-cabang.3';
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${kasirToken}` };
    const ok = await request(kabar.url('/pusher/auth'), { method: 'POST', headers: { ...headers, Origin: ALLOWED }, body: form });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const evil = await request(kabar.url('/pusher/auth'), { method: 'POST', headers: { ...headers, Origin: EVIL }, body: form });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).error, 'origin_not_allowed');
    assert.ok(!evil.body.includes('auth":'), 'nothing signed for a refused origin');
    const preflight = await request(kabar.url('/pusher/auth'), { method: 'OPTIONS', headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers['access-control-allow-methods'], /POST/);
  });

  test('with "*" (the default) any origin may read, but without credentials', async () => {
    const open = await startKabar({});
    const res = await request(open.url('/pusher/auth'), {
      method: 'POST', headers: { Origin: EVIL, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'socket_id=1.2&channel_name=private-cabang.3',
    });
    assert.equal(res.status, 403);  // the policy: no token
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    await open.stop();
  });
});

describe('size caps', () => {
  test('a request head over http.max_header_bytes gets 431, a body over http.max_message_bytes 413; both counted', async () => {
    const [headBefore, bodyBefore] = [await refused(kabar, 'header_too_large'), await refused(kabar, 'body_too_large')];
    const big = await request(kabar.url('/healthz'), { headers: { 'X-Padding': 'x'.repeat(3000) } });
    assert.equal(big.status, 431);
    const body = JSON.stringify({ name: 'x', channel: 'dokumen.1', data: 'y'.repeat(5000) });
    const huge = await request(kabar.url('/apps/local/events'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    assert.equal(huge.status, 413);
    assert.equal(await refused(kabar, 'header_too_large'), headBefore + 1);
    assert.equal(await refused(kabar, 'body_too_large'), bodyBefore + 1);
  });
});

describe('slow and idle HTTP clients', () => {
  // A raw TCP client: resolves with what the server sent and when it closed.
  function rawClient(send) {
    const started = Date.now();
    return withTimeout(new Promise((resolve) => {
      const socket = net.connect({ port: kabar.port, host: '127.0.0.1' }, () => { if (send) socket.write(send); });
      track({ close: () => socket.destroy() });
      let text = '';
      socket.on('data', (chunk) => { text += chunk; });
      socket.on('close', () => resolve({ text, ms: Date.now() - started }));
      socket.on('error', () => {});
    }), 8000, 'the server to close a slow client');
  }

  test('a request head that never completes is cut after http.request_timeout_ms (slowloris) and counted', async () => {
    const before = await refused(kabar, 'request_timeout');
    const slow = await rawClient('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1');
    assert.ok(slow.ms >= 900 && slow.ms < 4000, `closed after ${slow.ms} ms`);
    assert.equal(slow.text, '');
    const silent = await rawClient(null);
    assert.ok(silent.ms >= 900 && silent.ms < 4000, `a silent connection is closed after ${silent.ms} ms`);
    assert.equal(await refused(kabar, 'request_timeout'), before + 2);
  });

  test('an idle keep-alive connection is closed after the timeout too, but that is not a refusal', async () => {
    const before = await refused(kabar, 'request_timeout');
    const idle = await rawClient('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(idle.text, /^HTTP\/1\.1 200/);
    assert.ok(idle.ms >= 900 && idle.ms < 4000, `closed after ${idle.ms} ms`);
    assert.equal(await refused(kabar, 'request_timeout'), before);
  });
});

describe('per-connection message rate on /ws', () => {
  test('a burst over http.ws_message_burst closes the socket with 1008; a paced client is never limited', async () => {
    const before = await refused(kabar, 'rate_limited');
    const paced = await wsOpen(kabar.wsUrl);
    const pongs = [];
    paced.open.on('message', (data) => { const f = JSON.parse(data); if (f.type === 'pong') pongs.push(f); });
    for (let i = 0; i < 12; i++) {
      paced.open.send(JSON.stringify({ type: 'ping', ref: i }));
      await sleep(250);  // 4 a second, under the 5 allowed
    }
    await waitUntil(() => pongs.length === 12, { timeout: 3000, what: '12 pongs' });
    paced.open.terminate();

    const flood = await wsOpen(kabar.wsUrl);
    const closed = new Promise((resolve) => flood.open.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    let answered = 0;
    flood.open.on('message', (data) => { if (JSON.parse(data).type === 'pong') answered += 1; });
    for (let i = 0; i < 50; i++) flood.open.send(JSON.stringify({ type: 'ping', ref: i }));
    const { code, reason } = await withTimeout(closed, 5000, 'the flooding client to be closed');
    assert.equal(code, 1008);
    assert.match(reason, /rate limit/);
    assert.ok(answered <= 10, `at most the burst was answered (${answered})`);
    assert.equal(await refused(kabar, 'rate_limited'), before + 1);
    assert.match(fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8'), /refused ws request from 127\.0\.0\.1: rate_limited/);
  });

  test('the Pusher door has the same rate: a flood gets pusher:error 4100 and the close 4100 (pusher-js backs off), a paced client is never limited', async () => {
    const pusherUrl = `${kabar.wsUrl.replace(/\/ws$/, '')}/app/local-key?protocol=7&client=js&version=8.6.0`;
    const before = await refused(kabar, 'rate_limited');
    const paced = await wsOpen(pusherUrl);
    const pongs = [];
    paced.open.on('message', (data) => { if (JSON.parse(data).event === 'pusher:pong') pongs.push(1); });
    for (let i = 0; i < 12; i++) {
      paced.open.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
      await sleep(250);
    }
    await waitUntil(() => pongs.length === 12, { timeout: 3000, what: '12 pusher:pong' });
    paced.open.terminate();

    const flood = await wsOpen(pusherUrl);
    const frames = [];
    flood.open.on('message', (data) => frames.push(JSON.parse(data)));
    const closed = new Promise((resolve) => flood.open.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    for (let i = 0; i < 50; i++) flood.open.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
    const { code } = await withTimeout(closed, 5000, 'the flooding Pusher client to be closed');
    assert.equal(code, 4100);
    const error = frames.find((f) => f.event === 'pusher:error');
    assert.ok(error, JSON.stringify(frames.map((f) => f.event)));
    assert.equal(JSON.parse(error.data).code, 4100);
    assert.ok(frames.filter((f) => f.event === 'pusher:pong').length <= 10, 'at most the burst was answered');
    assert.equal(await refused(kabar, 'rate_limited'), before + 1);
    assert.match(fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8'), /refused pusher request from 127\.0\.0\.1: rate_limited/);

    // A flooder that does not read its answers cannot hold the refused socket open: it is cut after the
    // grace period (5 s), although it never reads the close.
    const open = async () => metricSum(await kabar.metrics(), /^kabar_pusher_connections$/);
    const openBefore = await open();
    const stalled = await wsOpen(pusherUrl);
    await waitUntil(async () => (await open()) === openBefore + 1, { timeout: 3000, what: 'the stalled client counted' });
    stalled.open.pause();
    for (let i = 0; i < 600; i++) stalled.open.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
    await waitUntil(async () => (await open()) === openBefore, { timeout: 12000, interval: 250, what: 'the stalled flooder cut by the server' });
  });
});

describe('per-address connection cap', () => {
  test('over http.max_connections_per_ip a new connection gets 429 until one of the open ones closes', async () => {
    const capped = await startKabar({ max_connections_per_ip: 3, request_timeout_ms: 2000 });
    // Let the readiness polls' keep-alive connections time out: they count while open.
    await sleep(2300);
    const open = [];
    for (let i = 0; i < 3; i++) open.push((await wsOpen(capped.wsUrl)).open);
    assert.ok(open.every(Boolean), 'three connections are allowed');
    assert.equal((await wsOpen(capped.wsUrl)).status, 429, 'a fourth /ws is refused');
    const sse = await request(capped.url('/sse?channel=dokumen.1'));
    assert.equal(sse.status, 429, 'so is an /sse stream');
    assert.equal(JSON.parse(sse.body).error, 'too_many_connections');
    open.pop().terminate();
    const again = await waitUntil(async () => (await wsOpen(capped.wsUrl)).open, { timeout: 3000, what: 'a slot to free up' });
    again.terminate();
    for (const ws of open) ws.terminate();
    await waitUntil(async () => {
      try { return (await request(capped.url('/metrics'))).status === 200; } catch { return false; }
    }, { timeout: 3000, what: 'metrics reachable once connections closed' });
    assert.ok(await refused(capped, 'too_many_connections') >= 2);
    assert.match(fs.readFileSync(path.join(capped.dir, 'kabar.log'), 'utf8'), /refused http request from 127\.0\.0\.1: too_many_connections/);
    await capped.stop();
  });
});

describe('configuration', () => {
  test('the hardening settings are validated by the config schema', async () => {
    const dir = makeTempDir('kabar-e2e-hardening-conf-');
    for (const [http, where] of [
      [{ allowed_origins: 'app.example.com' }, '/http/allowed_origins'],
      [{ allowed_origins: ['a.example.com, b.example.com'] }, '/http/allowed_origins/0'],
      [{ request_timeout_ms: 10 }, '/http/request_timeout_ms'],
      [{ max_connections_per_ip: -1 }, '/http/max_connections_per_ip'],
      [{ ws_message_burst: 0 }, '/http/ws_message_burst'],
    ]) {
      const file = path.join(dir, 'bad.json');
      fs.writeFileSync(file, JSON.stringify({ http }));
      const result = await runKabar(['check-config', '-c', file]);
      assert.equal(result.status, 2, `${JSON.stringify(http)}: ${result.stdout}${result.stderr}`);
      assert.ok(result.stderr.includes(where), `${JSON.stringify(http)}: ${result.stderr}`);
    }
  });
});
