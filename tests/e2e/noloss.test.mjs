// THE no-loss test (architecture promise 1): 2,000 QoS 1 events published as fast as mosquitto
// acknowledges them, while kabar is killed with SIGKILL and restarted twice in the middle of it. Every
// acknowledged event must be in the store exactly once, in publish order.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Kabar, metricSum, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { WsClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const TOTAL = 2000;
const WINDOW = 20; // QoS 1 publishes in flight at once (MQTT.js keeps them in order on one connection)
const CHANNEL = 'noloss.a';
let broker;
let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

test(`${TOTAL} QoS 1 events survive two SIGKILL+restart cycles during publishing: all delivered, in order, once`, { timeout: 120000 }, async () => {
  let acked = 0;
  let gate = null; // the publisher waits here until the second kill happened (keeps kills inside publishing)
  const kills = [];
  const log = [];

  const publisher = (async () => {
    const inFlight = new Set();
    for (let i = 0; i < TOTAL; i++) {
      if (gate && i >= 1600) await gate;
      const payload = { id: `nl-${i}`, event: 'noloss.seq', data: { seq: i, pad: 'x'.repeat(64) } };
      const p = publish(mq, `kabar/c/${CHANNEL}`, payload, { timeout: 30000 }).then(() => { acked += 1; inFlight.delete(p); });
      inFlight.add(p);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  })();

  const chaos = (async () => {
    let release;
    gate = new Promise((resolve) => { release = resolve; });
    try {
      for (const threshold of [400, 1200]) {
        await waitUntil(() => acked >= threshold, { timeout: 60000, interval: 2, what: `${threshold} acks` });
        const status = await kabar.kill();
        kills.push({ acked, status });
        log.push(`SIGKILL at ${acked} acked`);
        await sleep(150); // publishing goes on into the broker while kabar is down
        await kabar.start({ readyTimeout: 30000 });
        log.push(`ready again at ${acked} acked`);
        await sleep(100); // let it ingest a little before the next kill
      }
    } finally {
      release();
    }
  })();

  await Promise.all([publisher, chaos]);
  assert.equal(acked, TOTAL, 'every publish was acknowledged by the broker');
  assert.equal(kills.length, 2);
  for (const k of kills) {
    assert.equal(k.status.signal, 'SIGKILL');
    assert.ok(k.acked > 0 && k.acked < TOTAL, `kill happened during publishing (${log.join('; ')})`);
  }

  // A sentinel after everything: once it is delivered, every earlier event of the channel has been
  // ingested (one ordered stream from the broker), so what precedes it is the complete log.
  await publish(mq, `kabar/c/${CHANNEL}`, { id: 'nl-sentinel', event: 'noloss.sentinel', data: {} });
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe(CHANNEL, 'earliest');
  await ws.waitEventId(CHANNEL, 'nl-sentinel', { timeout: 60000 });
  await sleep(500);

  const events = ws.events(CHANNEL);
  const sentinelIndex = events.findIndex((f) => f.id === 'nl-sentinel');
  const body = events.slice(0, sentinelIndex);
  const seqs = body.map((f) => f.data.seq);
  // Describe the damage precisely before asserting.
  const seen = new Set();
  const duplicates = seqs.filter((s) => (seen.has(s) ? true : (seen.add(s), false)));
  const missing = [];
  for (let i = 0; i < TOTAL; i++) if (!seen.has(i)) missing.push(i);
  const outOfOrder = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]);
  const summary = `received ${seqs.length}; missing ${missing.length} ${JSON.stringify(missing.slice(0, 20))}; ` +
    `duplicates ${duplicates.length} ${JSON.stringify(duplicates.slice(0, 20))}; out of order ${outOfOrder.length} ${JSON.stringify(outOfOrder.slice(0, 20))}; chaos: ${log.join('; ')}`;
  assert.equal(missing.length, 0, summary);
  assert.equal(duplicates.length, 0, summary);
  assert.deepEqual(seqs, Array.from({ length: TOTAL }, (_, i) => i), summary);
  assert.deepEqual(body.map((f) => f.id), seqs.map((s) => `nl-${s}`), 'ids match their sequence numbers');
  for (let i = 1; i < body.length; i++) assert.ok(seqOf(body[i].position) > seqOf(body[i - 1].position), 'positions ascend');
  assert.equal(events.length, TOTAL + 1, `nothing after the sentinel: ${events.slice(sentinelIndex + 1).map((f) => f.id)}`);

  // Nothing went to the dead letters, and the metrics agree that nothing extra was produced.
  const dead = await kabar.json('/api/dead-letters?limit=100');
  assert.deepEqual(dead, [], 'no dead letters');
  const metrics = await kabar.metrics();
  const deadCount = metricSum(metrics, /^kabar_.*dead/);
  assert.equal(deadCount, 0, `dead-letter metrics: ${metrics.filter((s) => /dead/.test(s.name)).map((s) => `${s.name}=${s.value}`)}`);
  ws.close();
});
