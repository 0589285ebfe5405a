// TLS and the proxy (docs/operations.md "TLS and the proxy"): Debian's nginx on loopback with the compose
// config (compose/nginx.conf) and its TLS lines turned on, a certificate made by openssl for this run.
//
// * https, wss and SSE over https reach kabar, each client verifying the server against the test's
//   certificate (no rejectUnauthorized: false): an EventSource (eventsource@2), a ws client on /ws and
//   on the Pusher door, https requests. A client without the certificate is refused by its own TLS check.
// * /metrics and /api/dead-letters are nginx's 404 (kabar itself serves them to the private network).
// * http.max_connections_per_ip counts real clients behind nginx: with http.trusted_proxies naming it,
//   kabar takes the client from X-Forwarded-For, so one client at its cap does not lock out another; a
//   client cannot escape its cap by writing its own X-Forwarded-For, and a peer that is not a trusted
//   proxy is counted as itself whatever X-Forwarded-For it sends. The clients come from different
//   loopback addresses (127.0.0.2, 127.0.0.3, ...) so nginx sees different peers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  Kabar, makeTempDir, requireKabarBinary, sleep, startMosquitto, track, useHarness, waitUntil,
} from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish } from './lib/clients.mjs';
import { NGINX_MISSING, startNginx } from './lib/nginx.mjs';
import { OPENSSL_MISSING, makeCertificate } from './lib/tls.mjs';

useHarness();

const skip = NGINX_MISSING || OPENSSL_MISSING;
const CAP = 4;  // http.max_connections_per_ip
const APP = { id: 'tls', key: 'tls-key', secret: 'tls-secret-for-the-e2e-test' };

// One request on its own connection (no agent: each counts once at kabar). Resolves at the response
// head: {status, headers, body(), close()} — the body is read on demand (an /sse stream stays open).
function open(url, { ca, localAddress, headers = {}, timeout = 5000 } = {}) {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { agent: false, ca, localAddress, headers, timeout }, (res) => {
      let text = '';
      const ended = new Promise((done) => { res.on('data', (c) => { text += c; }); res.on('end', done); res.on('close', done); });
      const handle = {
        status: res.statusCode,
        headers: res.headers,
        body: async () => { await Promise.race([ended, sleep(timeout)]); return text; },
        close: () => { req.destroy(); res.destroy(); },
      };
      track(handle);
      resolve(handle);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeout} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function get(url, options) {
  const res = await open(url, options);
  const body = await res.body();
  res.close();
  return { status: res.status, headers: res.headers, body };
}

describe('kabar behind nginx with TLS', { skip }, () => {
  let broker;
  let kabar;
  let nginx;
  let cert;
  let mq;
  let base;

  before(async () => {
    requireKabarBinary();
    const dir = makeTempDir('kabar-e2e-tls-');
    cert = makeCertificate(dir);
    broker = await startMosquitto();
    kabar = await Kabar.create({
      mqttPort: broker.port,
      operator: true,  // /api/dead-letters exists (for the operator's token)
      config: {
        http: { trusted_proxies: ['127.0.0.1'], max_connections_per_ip: CAP, request_timeout_ms: 1000 },
        apps: [APP],
      },
    });
    await kabar.start();
    nginx = await startNginx([kabar.port], { tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    base = `https://localhost:${nginx.tlsPort}`;
    mq = await mqttConnect(broker.port);
  });

  after(async () => {
    mq?.end(true);
    await nginx?.child.stop('SIGTERM', 5000);
    await kabar?.stop();
    await broker?.stop('SIGKILL');
  });

  test('https, wss and SSE over https through nginx, verified against the test certificate', { timeout: 60000 }, async () => {
    // This test's clients are 127.0.0.1, like the readiness polls: let those keep-alive connections close.
    await sleep(1200);
    const ready = await get(`${base}/readyz`, { ca: cert.cert });
    assert.equal(ready.status, 200, ready.body);

    // A client that does not trust the certificate refuses the server: TLS is really checked.
    await assert.rejects(get(`${base}/readyz`), (error) => /self[- ]signed|unable to verify|certificate/i.test(error.message),
      'a client without the test certificate refuses the connection');
    // Plain http still answers on the http port (the compose config listens on both).
    assert.equal((await get(`http://127.0.0.1:${nginx.port}/readyz`)).status, 200);

    const channel = 'tls.1';
    const sse = await SseClient.open(`${base}/sse?channel=${channel}`, { https: { ca: cert.cert } });
    const ws = track(await WsClient.connect(`wss://localhost:${nginx.tlsPort}/ws`, { options: { ca: cert.cert } }));
    await ws.subscribe(channel);

    // The Pusher door over wss: pusher:connection_established.
    const pusher = new WebSocket(`wss://localhost:${nginx.tlsPort}/app/${APP.key}?protocol=7&client=e2e&version=8.4.0`, { ca: cert.cert });
    track({ close: () => pusher.terminate() });
    const established = await new Promise((resolve, reject) => {
      pusher.once('message', (data) => resolve(JSON.parse(data.toString())));
      pusher.once('error', reject);
      setTimeout(() => reject(new Error('no pusher:connection_established within 5 s')), 5000);
    });
    assert.equal(established.event, 'pusher:connection_established');

    await publish(mq, `kabar/c/${channel}`, { id: 'tls-1', event: 'tick', data: { n: 1 } });
    const [viaSse] = await sse.waitEvents(channel, 1);
    assert.deepEqual(viaSse.frame.data, { n: 1 });
    const [viaWs] = await ws.waitEvents(channel, 1);
    assert.deepEqual(viaWs.data, { n: 1 });
    sse.close();
    ws.close();
    pusher.terminate();

    // nginx logs a stream when it ends, each in its own time after the client closed it.
    const accessLog = () => fs.readFileSync(path.join(nginx.dir, 'access.log'), 'utf8');
    await waitUntil(() => /"GET \/sse HTTP\/1\.1" 200/.test(accessLog()), { timeout: 5000, what: 'the SSE stream in nginx\'s access log' });
    await waitUntil(() => /"GET \/ws HTTP\/1\.1" 101/.test(accessLog()), { timeout: 5000, what: 'the WebSocket in nginx\'s access log' });
    const access = accessLog();
    assert.doesNotMatch(access, /channel=/, 'nginx logged no query string');
  });

  test('/metrics and /api/dead-letters are not served through nginx', async () => {
    const token = await kabar.token();
    for (const [what, url, headers] of [
      ['/metrics over https', `${base}/metrics`, {}],
      ['/api/dead-letters over https', `${base}/api/dead-letters`, { authorization: `Bearer ${token}` }],
      ['/api/dead-letters?limit=1 over https', `${base}/api/dead-letters?limit=1`, { authorization: `Bearer ${token}` }],
      ['/metrics over http', `http://127.0.0.1:${nginx.port}/metrics`, {}],
    ]) {
      const res = await get(url, { ca: cert.cert, headers });
      assert.equal(res.status, 404, `${what}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.match(String(res.headers.server), /^nginx/, `${what}: answered by nginx, not kabar`);
      assert.doesNotMatch(res.body, /kabar_|letters/, `${what}: nothing of kabar's`);
    }
    // kabar itself still serves them (to the private network: Prometheus, the operator).
    assert.equal((await get(kabar.url('/metrics'))).status, 200);
    const letters = await get(kabar.url('/api/dead-letters?limit=1'), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(letters.status, 200, letters.body);
  });

  test('http.max_connections_per_ip counts each real client behind nginx (X-Forwarded-For from the trusted proxy only)', { timeout: 60000 }, async () => {
    const sse = (localAddress, headers = {}) => open(`${base}/sse?channel=tls.limits`, { ca: cert.cert, localAddress, headers });
    // Let earlier connections (readiness polls, the tests above) close: request_timeout_ms is 1 s.
    await sleep(1500);

    // Client A (127.0.0.2) opens its CAP streams; one more is refused.
    const a = [];
    for (let i = 0; i < CAP; i++) a.push(await sse('127.0.0.2'));
    assert.deepEqual(a.map((r) => r.status), Array(CAP).fill(200), `client A: ${CAP} streams`);
    const aThird = await sse('127.0.0.2');
    assert.equal(aThird.status, 429, 'client A: one more is over the cap');
    assert.equal(JSON.parse(await aThird.body()).error, 'too_many_connections');

    // Client B (127.0.0.3) is another client, though both come through the same nginx (127.0.0.1).
    const b = await sse('127.0.0.3');
    assert.equal(b.status, 200, 'client B is not counted with A');

    // A cannot escape its cap by naming someone else: nginx appends the address it saw, the right-most.
    const spoofed = await sse('127.0.0.2', { 'X-Forwarded-For': '198.51.100.7' });
    assert.equal(spoofed.status, 429, 'client A writing its own X-Forwarded-For is still client A');

    // A peer that is not a trusted proxy (127.0.0.5, straight to kabar) is itself, whatever it forwards.
    const direct = (n) => open(kabar.url('/sse?channel=tls.limits'), { localAddress: '127.0.0.5', headers: { 'X-Forwarded-For': `203.0.113.${n}` } });
    const d = [];
    for (let i = 0; i < CAP; i++) d.push(await direct(i));
    assert.deepEqual(d.map((r) => r.status), Array(CAP).fill(200));
    const dThird = await direct(CAP);
    assert.equal(dThird.status, 429, 'X-Forwarded-For from an untrusted peer is ignored: all its connections count for its own address');

    // A slot frees when one of A's streams closes.
    a.pop().close();
    const again = await waitUntil(async () => {
      const res = await sse('127.0.0.2');
      if (res.status === 200) return res;
      res.close();
      return null;
    }, { timeout: 5000, what: 'client A to get a slot back' });

    // The refusals name the real client, not nginx.
    const log = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    assert.match(log, /refused http request from 127\.0\.0\.2: too_many_connections/);
    assert.match(log, /refused http request from 127\.0\.0\.5: too_many_connections/);
    assert.doesNotMatch(log, /refused http request from (127\.0\.0\.1|198\.51\.100\.7|203\.0\.113\.\d+): too_many_connections/);
    for (const res of [...a, aThird, b, spoofed, ...d, dThird, again]) res.close();
  });
});
