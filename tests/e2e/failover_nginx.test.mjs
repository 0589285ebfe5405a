// Resume on any node (docs/scale-out.md): two kabar nodes on one broker behind a real nginx (Debian's
// package) with the compose nginx config, which keeps no client on a node (no ip_hash). Every client
// starts on node A; A is killed with SIGKILL while events are published at 200 per second; nginx sends
// the reconnects to node B, which resumes each client after the last event it got (by that event's id,
// the same on both nodes) with no reset: an EventSource, a kabar.js /ws client and a laravel-echo client
// with the kabar add-on each end with every event once, in order. Half of the events carry no id, so the
// ids both nodes derive from the message are checked too. Run on the anonymous broker and on the guarded
// one compose deploys (kabar's auth plugin; the gateways and the backend log in with tokens).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import Echo from 'laravel-echo';
import {
  BROKER_MODES, Kabar, metricSum, requireKabarBinary, sleep, startMosquitto, track, useHarness, waitUntil,
} from './lib/harness.mjs';
import { SseClient, mqttConnect, publish } from './lib/clients.mjs';
import { NGINX_MISSING, startNginx } from './lib/nginx.mjs';
import { LOCAL_APP } from './pusher-helpers.mjs';
import { Kabar as KabarJs } from '../../clients/js/kabar.js';
import { withKabarReplay } from '../../clients/js/kabar-echo.js';

const { default: PusherJs } = await import('pusher-js/dist/worker/pusher.worker.js');

useHarness();

const CHANNEL = 'failover.1';
const TOTAL = 1000;       // 5 s at 200 per second
const KILL_AT = 400;      // node A dies after this many were published
const skip = NGINX_MISSING;

for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
  let broker;
  let nodeA;
  let nodeB;
  let nginx;
  let nginxPort;
  let mq;

  before(async () => {
    if (skip) return;
    requireKabarBinary();
    broker = await startMosquitto({ guarded: mode === 'guarded' });
    // The default config serves the Pusher app LOCAL_APP (Reverb's defaults). Each node logs in as
    // compose's gateways do: its own client id and a backend token.
    nodeA = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
    nodeB = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw2') } });
    await nodeA.start();  // B is started once every client is on A
    // The compose config (compose/nginx.conf) on loopback, the two gateways at the test's ports.
    const started = await startNginx([nodeA.port, nodeB.port]);
    nginx = started.child;
    nginxPort = started.port;
    mq = await mqttConnect(broker.port, await broker.credentials('laravel'));
  });

  after(async () => {
    mq?.end(true);
    await nginx?.stop('SIGTERM', 5000);
    await Promise.all([nodeA?.kill(), nodeB?.kill()]);
    await broker?.stop('SIGKILL');
  });

  // Every second event has an id; the others are bare envelopes, whose id each node derives.
  const publishEvent = (n) =>
    publish(mq, `kabar/c/${CHANNEL}`, n % 2 === 0 ? { id: `fo-${n}`, event: 'tick', data: { n } } : { event: 'tick', data: { n } });

  function assertOnceInOrder(what, got) {
    const expected = Array.from({ length: TOTAL }, (_, n) => n);
    const missing = expected.filter((n) => !got.includes(n));
    const twice = got.filter((n, i) => got.indexOf(n) !== i);
    assert.deepEqual({ missing, twice }, { missing: [], twice: [] }, `${what}: every event once`);
    assert.deepEqual(got, expected, `${what}: in order`);
  }

  test('node A killed -9 during 200 events/s: EventSource, kabar.js /ws and Echo resume on node B through nginx, every event once, in order, no reset', { skip, timeout: 120000 }, async () => {
    const base = `http://127.0.0.1:${nginxPort}`;

    // EventSource (the eventsource package): Last-Event-ID is all it has.
    const sse = await SseClient.open(`${base}/sse?channel=${CHANNEL}`);

    // kabar.js over /ws.
    const js = { events: [], resets: [] };
    const kjs = new KabarJs({
      url: base, transport: 'ws', WebSocket, storage: null, document: null, window: null,
      backoff: { baseMs: 100, capMs: 1000 }, logger: { warn: () => {} },
    });
    track({ close: () => kjs.close() });
    kjs.onEvent((e) => js.events.push(e.data.n));
    kjs.onReset((channel, reason) => js.resets.push(reason));
    kjs.subscribe(CHANNEL);

    // laravel-echo + pusher-js with the kabar add-on, as the document app runs it.
    const echoed = [];
    const echoResets = [];
    const echo = new Echo({
      broadcaster: 'reverb', key: LOCAL_APP.key, wsHost: '127.0.0.1', wsPort: nginxPort, wssPort: nginxPort,
      forceTLS: false, enabledTransports: ['ws'], Pusher: withKabarReplay(PusherJs, { storage: null }),
    });
    track({ close: () => echo.disconnect() });
    const channel = echo.channel(CHANNEL);
    channel.listen('.tick', (data) => echoed.push(data.n));
    channel.listen('.kabar:reset', (data) => echoResets.push(data));
    let echoSubscribed = false;
    channel.subscribed(() => { echoSubscribed = true; });

    await waitUntil(() => kjs.status === 'live' && echoSubscribed, { timeout: 15000, what: 'kabar.js live and Echo subscribed' });
    // Every client is on A (B is not running yet); now B starts and takes the broker's events too.
    await nodeB.start();

    let published = 0;
    for (let n = 0; n < TOTAL; n++) {
      const started = Date.now();
      await publishEvent(n);
      published++;
      if (n === KILL_AT) {
        // Each client has events from A: its position is one of A's.
        await waitUntil(() => sse.events(CHANNEL).length > 0 && js.events.length > 0 && echoed.length > 0,
          { timeout: 10000, what: 'events on A before the kill' });
        await nodeA.kill();
      }
      await sleep(Math.max(0, 5 - (Date.now() - started)));
    }
    assert.equal(published, TOTAL);

    const sseNumbers = () => sse.events(CHANNEL).map((m) => m.frame.data.n);
    await waitUntil(() => sseNumbers().length >= TOTAL && js.events.length >= TOTAL && echoed.length >= TOTAL, {
      timeout: 60000, what: `all ${TOTAL} events at every client`,
    }).catch((error) => {
      error.message += `\nhave: sse ${sseNumbers().length}, kabar.js ${js.events.length}, echo ${echoed.length}`;
      throw error;
    });
    await sleep(500);  // a duplicate would be here by now

    assertOnceInOrder('EventSource', sseNumbers());
    assertOnceInOrder('kabar.js /ws', js.events);
    assertOnceInOrder('Echo', echoed);
    const sseResets = sse.frames.filter((f) => f.type === 'reset');
    assert.deepEqual({ sse: sseResets, js: js.resets, echo: echoResets }, { sse: [], js: [], echo: [] }, 'node B had the history: no reset');

    // The three moved to B, which found each one's last event by its id.
    const metrics = await nodeB.metrics();
    assert.ok(metricSum(metrics, (m) => m.name === 'kabar_resumes_from_other_node_total') >= 3, 'B resumed three clients of A');
  });
});
