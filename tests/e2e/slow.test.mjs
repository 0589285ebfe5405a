// A slow client hurts nobody else (architecture promise 4): a subscriber that stops reading overflows
// its bounded send queue and is closed with 4008 (WS) / its stream closed (SSE), while a healthy
// subscriber of the same channel keeps receiving everything promptly; the slow one then recovers every
// event through replay from the last position it processed.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Kabar, metricSum, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { RawSse, SseClient, WsClient, mqttConnect, publish, publishMany, seqOf } from './lib/clients.mjs';

useHarness();

const COUNT = 3000; // x ~4 KB = ~12 MB: far more than the kernel socket buffers plus a 64-frame queue
const BLOB = 'x'.repeat(4000);
let broker;
let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  // heartbeat 5 s (idle timeout 10 s): the paused client must be cut by its queue, not by keep-alive.
  kabar = await Kabar.create({ mqttPort: broker.port, config: { http: { send_queue_max_frames: 64, heartbeat_ms: 5000 } } });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

const evictions = async () => metricSum(await kabar.metrics(), /^kabar_evicted_slow_consumers_total$/);

// Resolves once kabar has counted `count` evictions (polled while events are being published).
async function evicted(count) {
  await waitUntil(async () => (await evictions()) >= count, { timeout: 60000, interval: 50, what: `kabar_evicted_slow_consumers_total >= ${count}` });
}

function assertPrefix(frames, prefix, what) {
  frames.forEach((f, i) => assert.equal(f.id, `${prefix}${i}`, `${what}: in order, no gap (index ${i})`));
}

test('WS: a client that stops reading is closed with 4008 without delaying a healthy one, and recovers everything with since', { timeout: 120000 }, async (t) => {
  const channel = 'slow.ws';
  const healthy = await WsClient.connect(kabar.wsUrl);
  await healthy.subscribe(channel);
  const slow = await WsClient.connect(kabar.wsUrl);
  await slow.subscribe(channel);
  slow.pause(); // stop reading from the socket: the kernel buffers fill, then kabar's send queue

  const ackedAt = new Map();
  const receivedAt = new Map();
  healthy.ws.on('message', (data) => {
    const m = /"id":"(sl-\d+)"/.exec(data.toString().slice(0, 200));
    if (m) receivedAt.set(m[1], Date.now());
  });
  const t0 = Date.now();
  // As soon as kabar gives up on the slow client, let it read again (it must then see the 4008 close
  // after the frames that were already on their way).
  const resumed = evicted(1).then(() => { slow.resume(); return Date.now() - t0; });
  await publishMany(mq, COUNT, (i) => ({ topic: `kabar/c/${channel}`, payload: { id: `sl-${i}`, event: 'slow.test', data: { seq: i, blob: BLOB } } }),
    { window: 20, onAck: (i) => ackedAt.set(`sl-${i}`, Date.now()) });
  const published = Date.now();
  const resumedAfter = await resumed;

  await healthy.waitEventId(channel, `sl-${COUNT - 1}`, { timeout: 30000 });
  const done = Date.now();
  assertPrefix(healthy.events(channel), 'sl-', 'healthy client');
  assert.equal(healthy.events(channel).length, COUNT);
  assert.equal(healthy.closeInfo, null, 'the healthy client was not disconnected');
  const lags = [...receivedAt].map(([id, at]) => at - ackedAt.get(id)).sort((a, b) => a - b);
  const p99 = lags[Math.floor(lags.length * 0.99)];
  const diag = `evicted and resumed ${resumedAfter} ms after the first publish; published ${COUNT} in ${published - t0} ms; healthy had all ${done - published} ms after the last ack; lag after PUBACK p50 ${lags[lags.length >> 1]} p99 ${p99} max ${lags.at(-1)} ms`;
  assert.ok(done - published < 5000, `healthy client kept up: ${diag}`);
  assert.ok(p99 < 3000, `healthy client got events promptly: ${diag}`);

  const close = await slow.waitClose(15000);
  assert.deepEqual(close, { code: 4008, reason: 'slow consumer: send queue overflow' }, `${diag}; slow got ${slow.events(channel).length}`);
  const got = slow.events(channel);
  assert.ok(got.length < COUNT, `the slow client was cut off before the end (got ${got.length})`);
  assertPrefix(got, 'sl-', 'slow client before its close');
  t.diagnostic(`${diag}; the slow client got ${got.length} events before 4008`);

  // Recover: reconnect with since = the last position processed.
  const again = await WsClient.connect(kabar.wsUrl);
  const from = got.length ? got.at(-1).position : undefined;
  await again.subscribe(channel, from ?? 'earliest');
  await again.waitEventId(channel, `sl-${COUNT - 1}`, { timeout: 30000 });
  await publish(mq, `kabar/c/${channel}`, { id: `sl-${COUNT}`, event: 'slow.test', data: { seq: COUNT } });
  await again.waitEventId(channel, `sl-${COUNT}`);
  await sleep(300);
  const rest = again.events(channel);
  assert.deepEqual(rest.map((f) => f.id), Array.from({ length: COUNT + 1 - got.length }, (_, i) => `sl-${got.length + i}`),
    'replay after the slow close: everything after the last processed event, once, in order');
  for (let i = 1; i < rest.length; i++) assert.ok(seqOf(rest[i].position) > seqOf(rest[i - 1].position));
  again.close();
  healthy.close();
  assert.equal(await evictions(), 1, 'kabar_evicted_slow_consumers_total counts the one slow client');
});

test('SSE: a stream that stops reading is closed; Last-Event-ID replays the rest; the healthy EventSource is unaffected', { timeout: 120000 }, async (t) => {
  const channel = 'slow.sse';
  const healthy = await SseClient.open(kabar.url(`/sse?channel=${channel}`));
  const slow = await RawSse.open(kabar.url(`/sse?channel=${channel}`));
  slow.pause();
  const resumed = evicted(2).then(() => slow.resume());
  await publishMany(mq, COUNT, (i) => ({ topic: `kabar/c/${channel}`, payload: { id: `ss-${i}`, event: 'slow.test', data: { seq: i, blob: BLOB } } }));
  const published = Date.now();
  await healthy.waitMessage((f) => f.id === `ss-${COUNT - 1}`, { timeout: 30000 });
  assert.ok(Date.now() - published < 5000, `healthy EventSource kept up (${Date.now() - published} ms after the last ack)`);
  assert.equal(healthy.errors.length, 0, `healthy EventSource was never disconnected: ${JSON.stringify(healthy.errors)}`);
  assertPrefix(healthy.events(channel).map((m) => m.frame), 'ss-', 'healthy EventSource');
  assert.equal(healthy.events(channel).length, COUNT);

  await resumed;
  await slow.waitEnd(15000);
  const got = slow.events(channel);
  assert.ok(got.length < COUNT, `the slow stream was cut off before the end (got ${got.length})`);
  assertPrefix(got.map((m) => m.frame), 'ss-', 'slow stream before its close');
  for (const m of got) assert.equal(m.id, m.frame.position);
  t.diagnostic(`the slow SSE stream got ${got.length} events before it was closed (${JSON.stringify(slow.endInfo)})`);

  const again = got.length
    ? await SseClient.open(kabar.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': got.at(-1).id } })
    : await SseClient.open(kabar.url(`/sse?channel=${channel}&since=earliest`));
  await again.waitMessage((f) => f.id === `ss-${COUNT - 1}`, { timeout: 30000 });
  await sleep(300);
  assert.deepEqual(again.events(channel).map((m) => m.frame.id), Array.from({ length: COUNT - got.length }, (_, i) => `ss-${got.length + i}`));
  again.close();
  healthy.close();
});
