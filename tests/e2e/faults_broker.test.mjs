// Proof under faults (issue 8): the broker is killed with SIGKILL and restarted on the same port (its
// persistence on, as compose runs it) while a backend publishes ~500 QoS 1 events a second. kabar stays
// up. Every event whose PUBACK the backend got arrives exactly once at an /sse client (eventsource), a /ws
// client (ws) and an /app client (pusher-js), which stay connected through the fault.
//
// The backend is MQTT.js: what was not acknowledged when the broker died is sent again after its
// reconnect, under the same envelope id, so the broker may see it twice; kabar must store it once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BROKER_MODES, Kabar, requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish } from './lib/clients.mjs';
import { connected, makeEcho, subscribed } from './pusher-helpers.mjs';
import { PacedPublisher, ResumingWs, describeTally, startPersistentBroker, tally } from './lib/faults.mjs';

useHarness();

const RATE = 500;
const CHANNEL = 'faults.broker';
const BEFORE_MS = 4000; // publishing before the kill
const DOWN_MS = 1500; // the broker is away this long
const AFTER_MS = 4000; // publishing after the restart
for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
let broker;
let kabar;

before(async () => {
  requireKabarBinary();
  broker = await startPersistentBroker({ guarded: mode === 'guarded' });
  // heartbeat 5 s (the harness's 1 s makes Beast's idle timeout 2 s, which a loaded machine can trip
  // during the burst that follows the restart: not the fault under test)
  kabar = await Kabar.create({
    mqttPort: broker.port, config: { http: { heartbeat_ms: 5000 }, broker: await broker.credentials('kabar-fb') },
  });
  await kabar.start();
});
after(async () => { await kabar?.stop(); await broker?.stop(); });

test(`broker SIGKILL + restart during ${RATE} QoS 1 events/s: every acknowledged event once at /sse, /ws and /app`, { timeout: 150000 }, async (t) => {
  // /ws resumes from its last position if its socket is closed (as an app does); EventSource resumes by
  // itself (Last-Event-ID). pusher-js has no resume: /app must simply not miss anything.
  const ws = await ResumingWs.open(kabar.wsUrl, CHANNEL);
  const sse = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`));
  const echo = makeEcho(kabar);
  await connected(echo);
  const pusherIds = [];
  const channel = echo.connector.pusher.subscribe(CHANNEL);
  channel.bind('fault.seq', (data) => pusherIds.push(data.id));
  channel.bind('fault.sentinel', (data) => pusherIds.push(data.id));
  await subscribed(echo.channel(CHANNEL));

  const mq = await mqttConnect(broker.port, { reconnectPeriod: 100, ...(await broker.credentials('laravel')) });
  let reconnects = 0;
  mq.on('reconnect', () => { reconnects += 1; });
  const publisher = new PacedPublisher(mq, { topic: `kabar/c/${CHANNEL}`, rate: RATE, prefix: 'fb' }).start();

  await sleep(BEFORE_MS);
  const atKill = { sent: publisher.sent, acked: publisher.acked.size, ws: ws.events().length };
  const status = await broker.stop('SIGKILL');
  assert.equal(status.signal, 'SIGKILL');
  await waitUntil(async () => (await kabar.get('/readyz')).status === 503, { timeout: 10000, what: '/readyz 503 while the broker is dead' });
  await sleep(DOWN_MS);
  await broker.start();
  const restartedAt = Date.now();
  await kabar.waitReady(30000);
  const readyAfterMs = Date.now() - restartedAt;
  await sleep(AFTER_MS);
  publisher.stop();
  await publisher.drain(30000);

  // A sentinel after everything: it reaches each client after every earlier event of the channel
  // (one ordered MQTT stream, one store, one channel).
  await publish(mq, `kabar/c/${CHANNEL}`, { id: 'fb-sentinel', event: 'fault.sentinel', data: { id: 'fb-sentinel' } });
  await ws.waitId('fb-sentinel', 60000);
  await sse.waitMessage((f) => f.id === 'fb-sentinel', { timeout: 60000, what: 'the sentinel on /sse' });
  await waitUntil(() => pusherIds.includes('fb-sentinel'), { timeout: 60000, what: `the sentinel on /app (have ${pusherIds.length})` });
  await sleep(500); // anything after the sentinel (a duplicate) would show up now

  // What the store holds (a replay from the start): tells "never stored" from "stored, not delivered live".
  const history = await WsClient.connect(kabar.wsUrl);
  await history.subscribe(CHANNEL, 'earliest');
  await history.waitEventId(CHANNEL, 'fb-sentinel', { timeout: 60000 });
  const stored = tally(history.events(CHANNEL).map((f) => f.id).filter((id) => id !== 'fb-sentinel'), publisher);
  history.close();
  const results = {
    ws: tally(ws.ids().filter((id) => id !== 'fb-sentinel'), publisher),
    sse: tally(sse.events(CHANNEL).map((m) => m.frame.id).filter((id) => id !== 'fb-sentinel'), publisher),
    app: tally(pusherIds.filter((id) => id !== 'fb-sentinel'), publisher),
  };
  const summary = [
    `published ${publisher.sent}, acked ${publisher.acked.size}, publish errors resent ${publisher.retries}, publisher reconnects ${reconnects}`,
    `at the kill: sent ${atKill.sent}, acked ${atKill.acked}, /ws had ${atKill.ws}; kabar ready ${readyAfterMs} ms after the broker restart; ` +
      `/ws sessions closed ${ws.closes.length}, /sse opens ${sse.opens}`,
    ...Object.entries(results).map(([name, r]) => describeTally(name, r)),
    describeTally('store (replay since=earliest)', stored),
  ].join('\n');
  t.diagnostic(summary.replaceAll('\n', '; '));
  assert.ok(atKill.ws > 0 && atKill.acked < publisher.sent, `the kill happened while events flowed\n${summary}`);
  assert.equal(publisher.acked.size, publisher.sent, `every publish got its PUBACK in the end\n${summary}`);
  for (const [name, r] of Object.entries({ ...results, store: stored })) {
    assert.equal(r.missing.length, 0, `${name}: acknowledged events lost\n${summary}`);
    assert.equal(r.duplicates.length, 0, `${name}: events delivered twice\n${summary}`);
  }
  // pusher-js stayed connected through the fault (kabar was never down).
  assert.equal(echo.connector.pusher.connection.state, 'connected', '/app stayed connected');
  for (const c of [ws, sse]) c.close();
  echo.disconnect();
  mq.end(true);
});
});
