// Proof under faults (issue 8): the network between kabar and the broker goes silent. kabar reaches the
// broker through a TCP relay on loopback (node:net, below); the relay stops forwarding and discards what
// arrives while every socket stays open, so neither side sees a FIN or an RST: only the MQTT keep-alive
// can tell. kabar must notice within its keep-alive (below), turn
// /readyz 503, reconnect by itself once the relay forwards again, and lose nothing the backend (connected
// to the broker directly) got a PUBACK for.
//
// "Within its keep-alive": Paho (kabar's MQTT client) sends PINGREQ once the connection has been idle
// for keepalive_s and gives up when the PINGRESP has not come a keep-alive later, so a silent network
// is seen between 1 and 2 x keepalive_s after the last traffic (measured here: 7.4-8.9 s at 5 s).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Kabar, metricSum, requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import { SseClient, mqttConnect, publish } from './lib/clients.mjs';
import { PacedPublisher, ResumingWs, TcpRelay, describeTally, startPersistentBroker, tally } from './lib/faults.mjs';

useHarness();

const KEEPALIVE_S = 5; // the schema's minimum
const RATE = 100;
const CHANNEL = 'faults.net';
let broker;
let relay;
let kabar;

before(async () => {
  requireKabarBinary();
  broker = await startPersistentBroker();
  relay = await TcpRelay.start(broker.port);
  kabar = await Kabar.create({ mqttPort: relay.port, config: { broker: { keepalive_s: KEEPALIVE_S }, http: { heartbeat_ms: 5000 } } });
  await kabar.start();
});

const readyStatus = async () => {
  try {
    return (await kabar.get('/readyz', { timeout: 2000 })).status;
  } catch {
    return 0;
  }
};

test(`a silent network to the broker: noticed within the keep-alive (${KEEPALIVE_S} s), /readyz 503, reconnect, nothing lost`, { timeout: 150000 }, async (t) => {
  assert.ok(relay.open >= 1, 'kabar reaches the broker through the relay');
  // The clients resume after a close (the backlog that arrives after the reconnect is a burst, and a
  // burst may evict a slow consumer): /ws from its last position, EventSource with Last-Event-ID.
  const ws = await ResumingWs.open(kabar.wsUrl, CHANNEL);
  const sse = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`));
  const mq = await mqttConnect(broker.port); // the backend: directly to the broker
  const publisher = new PacedPublisher(mq, { topic: `kabar/c/${CHANNEL}`, rate: RATE, prefix: 'fn' }).start();
  await waitUntil(() => ws.events().length >= 100, { timeout: 15000, what: 'events flowing before the cut' });

  // Cut. kabar's socket stays open; the relay drops every byte.
  const acceptedBefore = relay.accepted;
  relay.silence();
  const cutAt = Date.now();
  await waitUntil(async () => (await readyStatus()) === 503, {
    timeout: (3 * KEEPALIVE_S + 10) * 1000, interval: 100, what: '/readyz 503 after the network went silent',
  });
  const noticedMs = Date.now() - cutAt;
  const body = JSON.parse((await kabar.get('/readyz')).body);
  assert.deepEqual({ broker: body.broker, store: body.store }, { broker: false, store: true });
  const duringCut = ws.events().length;

  // Let kabar try its reconnects into the silence for a while, then heal the network.
  await sleep(3000);
  const attemptsDuringCut = relay.accepted - acceptedBefore;
  relay.resume();
  const healedAt = Date.now();
  await kabar.waitReady(60000);
  const reconnectedMs = Date.now() - healedAt;
  await sleep(2000); // events keep coming after the reconnect
  publisher.stop();
  await publisher.drain(30000);

  await publish(mq, `kabar/c/${CHANNEL}`, { id: 'fn-sentinel', event: 'fault.sentinel', data: { id: 'fn-sentinel' } });
  await ws.waitId('fn-sentinel', 60000);
  await sse.waitMessage((f) => f.id === 'fn-sentinel', { timeout: 60000, what: 'the sentinel on /sse' });
  await sleep(500);

  const evicted = metricSum(await kabar.metrics(), /^kabar_evicted_slow_consumers_total$/);
  const results = {
    ws: tally(ws.ids().filter((id) => id !== 'fn-sentinel'), publisher),
    sse: tally(sse.events(CHANNEL).map((m) => m.frame.id).filter((id) => id !== 'fn-sentinel'), publisher),
  };
  const summary = [
    `keep-alive ${KEEPALIVE_S} s: /readyz 503 ${noticedMs} ms after the cut; ${attemptsDuringCut} connection attempts into the silence; ` +
      `ready ${reconnectedMs} ms after the network healed; ${relay.dropped} bytes dropped by the relay`,
    `published ${publisher.sent}, acked ${publisher.acked.size}; /ws had ${duringCut} when the cut was noticed; ` +
      `/ws sessions closed ${JSON.stringify(ws.closes.map((c) => ({ ...c, at: c.at - cutAt })))} (ms after the cut), /sse opens ${sse.opens}, evicted slow consumers ${evicted}`,
    ...Object.entries(results).map(([name, r]) => describeTally(name, r)),
  ].join('\n');
  t.diagnostic(summary.replaceAll('\n', '; '));
  // 2 x keep-alive (above); 2 s of slack for a loaded machine, Paho's 1 s check and the 100 ms poll.
  assert.ok(noticedMs <= 2 * KEEPALIVE_S * 1000 + 2000, `noticed within 2 x keep-alive\n${summary}`);
  assert.ok(noticedMs >= KEEPALIVE_S * 1000 - 1000, `not before the keep-alive could tell: something else closed the connection\n${summary}`);
  assert.ok(relay.dropped > 0, 'the relay really dropped traffic');
  for (const [name, r] of Object.entries(results)) {
    assert.equal(r.missing.length, 0, `${name}: acknowledged events lost\n${summary}`);
    assert.equal(r.duplicates.length, 0, `${name}: events delivered twice\n${summary}`);
  }
  for (const c of [ws, sse]) c.close();
  mq.end(true);
});
