// THE no-loss test (architecture promise 1): 2,000 QoS 1 events published as fast as mosquitto
// acknowledges them, while kabar is killed with SIGKILL and restarted twice in the middle of it. Every
// acknowledged event must be in the store exactly once, in publish order. Run on the anonymous broker and
// on the guarded one compose deploys (kabar_auth_plugin.so, every client with a token).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BROKER_MODES, Kabar, metricSum, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';
import { WsClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const TOTAL = 2000;
const WINDOW = 20; // QoS 1 publishes in flight at once (MQTT.js keeps them in order on one connection)
const CHANNEL = 'noloss.a';

for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
  let broker;
  let kabar;
  let mq;

  before(async () => {
    requireKabarBinary();
    broker = await startMosquitto({ guarded: mode === 'guarded' });
    kabar = await Kabar.create({ mqttPort: broker.port, operator: true, config: { broker: await broker.credentials('kabar-gw1') } });
    await kabar.start();
    mq = await mqttConnect(broker.port, await broker.credentials('laravel'));
  });

  after(async () => {
    mq?.end(true);
    await kabar?.kill();
    await broker?.stop('SIGKILL');
  });

  test(`${TOTAL} QoS 1 events survive two SIGKILL+restart cycles during publishing: all delivered, in order, once`, { timeout: 120000 }, async (t) => {
    let acked = 0;
    // A live subscriber on the running kabar process shows that it was ingesting when it was killed.
    const liveSeen = []; // every frame the live subscribers got from the processes that were then killed
    let watcher = await WsClient.connect(kabar.wsUrl);
    await watcher.subscribe(CHANNEL);
    // Gates keep both kills inside the publishing: the publisher waits at 1000 until the restarted kabar
    // is ready, and at 1800 until the second kill happened; otherwise it runs as fast as PUBACKs come.
    const gate = (at) => { let open; const promise = new Promise((resolve) => { open = resolve; }); return { at, promise, open }; };
    const gates = [gate(1000), gate(1800)];
    const kills = [];
    const log = [];

    const publisher = (async () => {
      const inFlight = new Set();
      for (let i = 0; i < TOTAL; i++) {
        for (const g of gates) if (i === g.at) await g.promise;
        const payload = { id: `nl-${i}`, event: 'noloss.seq', data: { seq: i, pad: 'x'.repeat(64) } };
        const p = publish(mq, `kabar/c/${CHANNEL}`, payload, { timeout: 30000 }).then(() => { acked += 1; inFlight.delete(p); });
        inFlight.add(p);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();

    const killAndRestart = async () => {
      const ackedAtKill = acked;
      const status = await kabar.kill();
      kills.push({ acked: ackedAtKill, status, delivered: watcher.events(CHANNEL).length });
      log.push(`SIGKILL at ${ackedAtKill} acked (its live subscriber had ${watcher.events(CHANNEL).length})`);
      await sleep(150); // publishing goes on into the broker while kabar is down
      await kabar.start({ readyTimeout: 30000 });
      log.push(`ready again at ${acked} acked`);
      liveSeen.push(...watcher.events(CHANNEL));
      watcher.close();
      watcher = await WsClient.connect(kabar.wsUrl);
      await watcher.subscribe(CHANNEL);
    };

    const chaos = (async () => {
      try {
        await waitUntil(() => acked >= 400, { timeout: 60000, interval: 2, what: '400 acks' });
        await killAndRestart();
        const readyAt = acked;
        gates[0].open();
        // Kill again while the restarted kabar drains its backlog and new events keep coming.
        await waitUntil(() => acked >= readyAt + 200, { timeout: 60000, interval: 2, what: `${readyAt + 200} acks` });
        await killAndRestart();
      } finally {
        for (const g of gates) g.open();
      }
    })();

    await Promise.all([publisher, chaos]);
    assert.equal(acked, TOTAL, 'every publish was acknowledged by the broker');
    assert.equal(kills.length, 2);
    t.diagnostic(log.join('; '));
    assert.ok(kills[0].delivered > 0, `kabar was ingesting when it was killed the first time (${log.join('; ')})`);
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

    // Only durable events go out live: what the live subscribers saw from the killed processes is in the
    // final log, with the same position and content.
    const finalById = new Map(body.map((f) => [f.id, f]));
    assert.ok(liveSeen.length > 0);
    for (const f of liveSeen) assert.deepEqual(finalById.get(f.id), f, `${f.id} seen live before a SIGKILL is stored as sent`);

    // Nothing went to the dead letters, and the metrics agree that nothing extra was produced.
    const dead = await kabar.deadLetters(100);
    assert.deepEqual(dead, [], 'no dead letters');
    const metrics = await kabar.metrics();
    const deadCount = metricSum(metrics, /^kabar_.*dead/);
    assert.equal(deadCount, 0, `dead-letter metrics: ${metrics.filter((s) => /dead/.test(s.name)).map((s) => `${s.name}=${s.value}`)}`);
    // The store's head is the sentinel: nothing was stored after it (in any channel).
    assert.equal(metricSum(metrics, /^kabar_store_head_seq$/), seqOf(events.at(-1).position), 'kabar_store_head_seq is the sentinel\'s position');
    ws.close();
  });
});
