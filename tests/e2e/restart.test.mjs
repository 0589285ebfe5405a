// Restarts: kabar stopped gracefully (SIGTERM) or killed (SIGKILL), and the broker restarted. Clients
// come back with their last position and get every event published meanwhile, in order, once. Run on the
// anonymous broker and on the guarded one compose deploys (kabar_auth_plugin.so, every client a token).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  BROKER_MODES, Kabar, keysOf, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';
import { RawSse, SseClient, WsClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
const SETTLE_MS = 300;

function assertExactlyOnceInOrder(frames, expected, what) {
  assert.deepEqual(frames.map((f) => f.id), expected, what);
  for (let i = 1; i < frames.length; i++) {
    assert.ok(seqOf(frames[i].position) > seqOf(frames[i - 1].position), `${what}: positions ascend at ${frames[i].id}`);
  }
}

for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
  let broker;
  let kabar;
  let mq;
  const pub = (channel, id) => publish(mq, `kabar/c/${channel}`, { id, event: 'restart.test', data: { id } });

  before(async () => {
    requireKabarBinary();
    broker = await startMosquitto({ guarded: mode === 'guarded' });
    kabar = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
    await kabar.start();
    mq = await mqttConnect(broker.port, await broker.credentials('laravel'));
  });

  after(async () => {
    mq?.end(true);
    await kabar?.kill();
    await broker?.stop('SIGKILL');
  });

  test('SIGTERM: WS gets shutdown + close 1012, SSE stream ends; after restart WS (since) and EventSource (Last-Event-ID, automatic) get everything published while down, once, in order', async () => {
    const channel = 'rs.term';
    const ws = await WsClient.connect(kabar.wsUrl);
    await ws.subscribe(channel);
    const sse = await SseClient.open(kabar.url(`/sse?channel=${channel}`));
    const raw = await RawSse.open(kabar.url(`/sse?channel=${channel}`));
    for (let i = 0; i < 10; i++) await pub(channel, `t-${i}`);
    await ws.waitEvents(channel, 10);
    await sse.waitEvents(channel, 10);
    const last = ws.events(channel).at(-1).position;

    const stopping = kabar.stop();
    const shutdown = await ws.waitFrame((f) => f.type === 'shutdown', { timeout: 10000, what: 'shutdown frame' });
    assert.deepEqual(keysOf(shutdown), ['reason', 'reconnect_ms', 'type']);
    assert.equal(typeof shutdown.reason, 'string');
    assert.ok(Number.isInteger(shutdown.reconnect_ms) && shutdown.reconnect_ms >= 0, `reconnect_ms ${shutdown.reconnect_ms}`);
    const close = await ws.waitClose();
    assert.equal(close.code, 1012, `WS close code on shutdown: ${JSON.stringify(close)}`);
    const end = await raw.waitEnd();
    assert.ok(end, 'the SSE stream ended');
    const status = await stopping;
    assert.deepEqual(status, { code: 0, signal: null }, 'SIGTERM: a clean exit with status 0');
    assert.equal(ws.events(channel).length, 10, 'no event frame after shutdown');

    for (let i = 10; i < 30; i++) await pub(channel, `t-${i}`); // acked by the broker while kabar is down
    await kabar.start();

    const ws2 = await WsClient.connect(kabar.wsUrl);
    await ws2.subscribe(channel, last);
    await ws2.waitEventId(channel, 't-29');
    await sse.waitMessage((f) => f.id === 't-29', { timeout: 10000, what: 'EventSource to reconnect by itself and replay' });
    await pub(channel, 't-30');
    await ws2.waitEventId(channel, 't-30');
    await sse.waitMessage((f) => f.id === 't-30');
    await sleep(SETTLE_MS);
    assertExactlyOnceInOrder(ws2.events(channel), range('t-', 10, 30), 'WS after restart');
    assertExactlyOnceInOrder(sse.events(channel).map((m) => m.frame), range('t-', 0, 30), 'EventSource across the restart');
    assert.ok(sse.opens >= 2, 'EventSource reconnected');
    for (const m of sse.events(channel)) assert.equal(m.lastEventId, m.frame.position);
    for (const c of [ws2, sse, raw]) c.close();
  });

  test('SIGKILL right after a burst: nothing acknowledged is lost; clients resume from their last position', async (t) => {
    const channel = 'rs.kill';
    const ws = await WsClient.connect(kabar.wsUrl);
    await ws.subscribe(channel);
    const sse = await SseClient.open(kabar.url(`/sse?channel=${channel}`));
    for (let i = 0; i < 10; i++) await pub(channel, `k-${i}`);
    await ws.waitEvents(channel, 10);
    // A burst, then -9 while kabar is still ingesting it.
    await Promise.all(range('k-', 10, 59).map((id) => pub(channel, id)));
    const status = await kabar.kill();
    assert.equal(status.signal, 'SIGKILL');
    const close = await ws.waitClose();
    assert.notEqual(close.code, 1000, 'no orderly close from a killed process');
    const seen = ws.events(channel);
    const last = seen.at(-1).position;
    assertExactlyOnceInOrder(seen, range('k-', 0, seen.length - 1), 'WS before the kill');

    for (let i = 60; i < 80; i++) await pub(channel, `k-${i}`);
    await kabar.start();
    const ws2 = await WsClient.connect(kabar.wsUrl);
    await ws2.subscribe(channel, last);
    await ws2.waitEventId(channel, 'k-79', { timeout: 15000 });
    await sse.waitMessage((f) => f.id === 'k-79', { timeout: 15000 });
    await pub(channel, 'k-80');
    await ws2.waitEventId(channel, 'k-80');
    await sse.waitMessage((f) => f.id === 'k-80');
    await sleep(SETTLE_MS);
    assertExactlyOnceInOrder(ws2.events(channel), range('k-', seen.length, 80), 'WS resumed after SIGKILL');
    assertExactlyOnceInOrder(sse.events(channel).map((m) => m.frame), range('k-', 0, 80), 'EventSource across SIGKILL');
    // Only durable events go out live: everything the clients saw before the kill is in the store, at
    // the same position.
    const history = await WsClient.connect(kabar.wsUrl);
    await history.subscribe(channel, 'earliest');
    await history.waitEventId(channel, 'k-80');
    const stored = new Map(history.events(channel).map((f) => [f.id, f]));
    for (const f of seen) assert.deepEqual(stored.get(f.id), f, `${f.id}, seen live before SIGKILL, is stored as it was sent`);
    t.diagnostic(`the WS client had seen ${seen.length} of 60 acknowledged events when kabar was killed`);
    history.close();
    ws2.close();
    sse.close();
  });

  test('broker restart: kabar reports not ready, reconnects by itself, and messages queued for its session survive a broker restart', async () => {
    const channel = 'rs.broker';
    const ws = await WsClient.connect(kabar.wsUrl);
    await ws.subscribe(channel);
    for (let i = 0; i < 5; i++) await pub(channel, `b-${i}`);
    await ws.waitEvents(channel, 5);

    await broker.stop();
    await waitUntil(async () => (await kabar.get('/readyz')).status === 503, { timeout: 10000, what: '/readyz 503 while the broker is down' });
    const notReady = JSON.parse((await kabar.get('/readyz')).body);
    assert.equal(notReady.ready, false);
    assert.equal(notReady.broker, false);
    assert.equal(notReady.store, true);
    await broker.start();
    await kabar.waitReady(30000);
    await waitUntil(() => mq.connected, { timeout: 10000, what: 'the publisher to reconnect' });
    for (let i = 5; i < 10; i++) await pub(channel, `b-${i}`);
    await ws.waitEventId(channel, 'b-9', { timeout: 10000 });

    // kabar down, events queued in the broker for kabar's persistent session, broker restarted.
    const last = ws.events(channel).at(-1).position;
    await kabar.kill();
    for (let i = 10; i < 15; i++) await pub(channel, `b-${i}`);
    await broker.stop();
    await broker.start();
    await waitUntil(() => mq.connected, { timeout: 10000, what: 'the publisher to reconnect' });
    await kabar.start({ readyTimeout: 30000 });
    const ws2 = await WsClient.connect(kabar.wsUrl);
    await ws2.subscribe(channel, last);
    await ws2.waitEventId(channel, 'b-14', { timeout: 15000 });
    await pub(channel, 'b-15');
    await ws2.waitEventId(channel, 'b-15');
    await sleep(SETTLE_MS);
    assertExactlyOnceInOrder(ws.events(channel), range('b-', 0, 9), 'WS across the broker restart');
    assertExactlyOnceInOrder(ws2.events(channel), range('b-', 10, 15), 'queued in the broker across its restart');
    ws2.close();
  });

  // Connections whose peer never answers outlive the 3 s drain: their sessions are still waiting in the
  // I/O threads when kabar stops, and must go while what they point to (the counters of the shared
  // context and the Pusher service) exists (Gateway::release_shards). What this checks is the clean exit;
  // the late write into freed counters that the old order made shows only under a sanitizer.
  test('SIGTERM with peers that never read nor answer (/ws, /app, /sse): kabar still stops cleanly, exit 0', { timeout: 60000 }, async () => {
    const raw = async (request) => {
      const socket = net.connect(kabar.port, '127.0.0.1');
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      socket.on('error', () => {});
      socket.write(request);
      socket.pause();  // reads nothing from here on, answers nothing
      return socket;
    };
    const upgrade = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const sockets = [
      await raw(upgrade('/ws')), await raw(upgrade('/app/local-key?protocol=7')),
      await raw('GET /sse?channel=rs.silent HTTP/1.1\r\nHost: x\r\n\r\n'),
    ];
    await sleep(300);
    const status = await kabar.stop(20000);
    for (const socket of sockets) socket.destroy();
    assert.deepEqual(status, { code: 0, signal: null }, `kabar's exit: ${kabar.tail(10)}`);
    assert.match(kabar.tail(5), /kabar stopped/);
    await kabar.start();  // as the other tests leave it
  });
});
