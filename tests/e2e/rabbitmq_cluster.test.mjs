// kabar over a clustered broker from the Debian archive (issue 11, part 5; docs/scale-out.md "A clustered
// broker: RabbitMQ"): RabbitMQ 3.10's MQTT plugin (MQTT 3.1.1 only) on three nodes on loopback, durable
// MQTT subscriptions in quorum queues (mqtt.durable_queue_type = quorum). Two kabar gateways
// (broker.mqtt_version 3, broker.servers listing every node, node 1 first), an MQTT.js backend publishing
// QoS 1 and an MQTT.js QoS 1 subscriber (clean session false), all connected to node 1. Node 1 is killed
// with SIGKILL during the traffic: gateways and MQTT.js clients move to another node, and every event
// whose PUBACK the backend got reaches each gateway's store, its /sse client and its /ws client once, and
// the MQTT.js subscriber at least once.
//
// Why three nodes: the plugin tracks client ids in a Raft cluster and quorum queues replicate by Raft, so
// with two nodes the survivor has no majority and accepts no MQTT connection (measured: CONNACK never
// comes; RabbitMQ's MQTT guide says two-node clusters are not supported). Why quorum queues: a classic
// queue lives on one node, and its subscriber loses what is published while that node is down although
// the publisher got its PUBACK (measured: 1,287 of 1,555). Both are in docs/scale-out.md.
//
// Skipped, with the reason, where rabbitmq-server is not installed. Every process (epmd, the nodes' start
// scripts, beam.smp and its helpers) is stopped by pid in after(), also when a step fails.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { Kabar, parseMetrics, requireKabarBinary, sleep, track, useHarness, waitUntil, withTimeout } from './lib/harness.mjs';
import { SseClient, WsClient, publish } from './lib/clients.mjs';
import { PacedPublisher, ResumingWs, describeTally, tally } from './lib/faults.mjs';
import { RabbitCluster, rabbitmqSkipReason } from './lib/rabbitmq.mjs';

useHarness();

const SKIP = rabbitmqSkipReason();
// Measuring what does not hold (docs/scale-out.md): KABAR_RABBIT_QUEUE_TYPE=classic runs the same steps
// with classic queues, and the assertions then print what was lost.
const QUEUE_TYPE = process.env.KABAR_RABBIT_QUEUE_TYPE || 'quorum';
const NODES = 3;
const RATE = 200; // QoS 1 events a second
const CHANNEL = 'rabbit-cluster'; // no dot: see "Topics with dots" below
const TOPIC = `kabar/c/${CHANNEL}`;
const BEFORE_MS = 4000; // publishing before the kill
const AFTER_MS = 6000; // publishing after it

// An MQTT.js client of the cluster: every node, node `first` first; it moves to the next one on reconnect.
async function clusterClient(cluster, clientId, options = {}) {
  const servers = cluster.serversFrom(1).split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  const client = mqtt.connect({ servers, clientId, protocolVersion: 4, reconnectPeriod: 200, connectTimeout: 5000, ...options });
  client.on('error', () => {});
  track({ close: () => client.end(true) });
  client.connects = [];
  client.on('connect', () => client.connects.push({ at: Date.now(), port: client.options.port }));
  await withTimeout(new Promise((resolve) => client.once('connect', resolve)), 15000, `MQTT.js ${clientId} to connect`);
  return client;
}

async function gatewayState(kabar) {
  try {
    const res = await fetch(kabar.url('/metrics'), { signal: AbortSignal.timeout(1000) });
    const samples = parseMetrics(await res.text());
    const value = (name) => samples.find((s) => s.name === name)?.value;
    return {
      connected: value('kabar_mqtt_connected'),
      reconnects: value('kabar_mqtt_reconnects_total'),
      received: value('kabar_mqtt_messages_received_total'),
      // copies of an event already passed on: the bridge's recent ids, then the store's insert by id
      redeliveries: (value('kabar_mqtt_twin_duplicates_total') ?? 0) + (value('kabar_store_duplicates_total') ?? 0),
    };
  } catch {
    return { connected: undefined, reconnects: undefined };
  }
}

describe(`RabbitMQ ${NODES}-node cluster, MQTT plugin with ${QUEUE_TYPE} queues`, { skip: SKIP || false }, () => {
  let cluster;
  const gateways = [];

  before(async () => {
    requireKabarBinary();
    cluster = await RabbitCluster.start({ nodes: NODES, queueType: QUEUE_TYPE });
    for (let i = 0; i < 2; i++) {
      const kabar = await Kabar.create({
        mqttPort: cluster.node(1).mqttPort,
        config: {
          // heartbeat 5 s: the harness's 1 s makes idle timeouts trip on a loaded machine (faults_broker)
          http: { heartbeat_ms: 5000 },
          broker: { servers: cluster.serversFrom(1), mqtt_version: 3, keepalive_s: 5 },
        },
      });
      await kabar.start({ readyTimeout: 60000 });
      gateways.push(kabar);
    }
  }, { timeout: 240000 });

  after(async () => {
    await Promise.all(gateways.map((kabar) => kabar.stop()));
    await cluster?.stop();
  }, { timeout: 90000 });

  test(`node 1 SIGKILLed during ${RATE} QoS 1 events/s: gateways and MQTT.js clients move, every acknowledged event arrives`, { timeout: 150000 }, async (t) => {
    const clients = [];
    let subscriber;
    let backend;
    let publisher;
    // Also when a step fails: the paced publisher's timer and the clients' reconnects would keep the
    // test process alive.
    t.after(() => {
      publisher?.stop();
      for (const c of clients) { c.ws.close(); c.sse.close(); }
      subscriber?.end(true);
      backend?.end(true);
    });
    for (const kabar of gateways) {
      clients.push({
        kabar,
        ws: await ResumingWs.open(kabar.wsUrl, CHANNEL),
        sse: await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`)),
      });
    }
    subscriber = await clusterClient(cluster, `e2e-rabbit-sub-${process.pid}`, { clean: false });
    const subscriberIds = [];
    subscriber.on('message', (topic, payload) => {
      try { subscriberIds.push(JSON.parse(payload.toString()).id); } catch { subscriberIds.push(`unparsable ${payload}`); }
    });
    await subscriber.subscribeAsync(TOPIC, { qos: 1 });
    backend = await clusterClient(cluster, `e2e-rabbit-pub-${process.pid}`, { clean: true });
    const queuesBefore = await cluster.queues();

    publisher = new PacedPublisher(backend, { topic: TOPIC, rate: RATE, prefix: 'rq' }).start();
    await sleep(BEFORE_MS);
    const before = await Promise.all(gateways.map(gatewayState));
    const atKill = { sent: publisher.sent, acked: publisher.acked.size, ws: clients.map((c) => c.ws.events().length) };
    const killedAt = Date.now();
    await cluster.node(1).kill();

    // Failover: each gateway's sessions reconnected (to another node) and are subscribed again.
    const moved = await Promise.all(gateways.map(async (kabar, i) => {
      let sawDown = false;
      await waitUntil(async () => {
        const state = await gatewayState(kabar);
        if (state.connected === 0) sawDown = true;
        return state.connected === 1 && state.reconnects > before[i].reconnects;
      }, { timeout: 60000, interval: 50, what: `gateway ${i + 1} to reconnect to another node` });
      return { ms: Date.now() - killedAt, sawDown };
    })).catch(async (error) => {
      // Where the sessions' queues are says why (a classic queue on the dead node is "down").
      const queues = await cluster.queues().catch((e) => e.message);
      throw new Error(`${error.message}; acked ${publisher.acked.size} of ${publisher.sent}; queues: ${JSON.stringify(queues)}`);
    });
    await waitUntil(() => backend.connects.length > 1 && subscriber.connects.length > 1, { timeout: 60000, interval: 50, what: 'MQTT.js clients to reconnect' });
    await sleep(AFTER_MS);
    publisher.stop();
    await publisher.drain(60000);
    const queuesAfter = await cluster.queues();

    // A sentinel after everything: one ordered stream per gateway, so what precedes it is complete.
    await publish(backend, TOPIC, { id: 'rq-sentinel', event: 'fault.sentinel', data: { id: 'rq-sentinel' } }, { timeout: 30000 });
    const summary = [
      `published ${publisher.sent}, acked ${publisher.acked.size}, resent after errors ${publisher.retries}; at the kill: sent ${atKill.sent}, acked ${atKill.acked}, /ws had ${atKill.ws}`,
      `gateways subscribed again ${moved.map((m) => `${m.ms} ms${m.sawDown ? '' : ' (no 503 seen)'}`).join(', ')} after the kill; ` +
        `MQTT.js backend ${backend.connects.at(-1).at - killedAt} ms (to port ${backend.connects.at(-1).port}), subscriber ${subscriber.connects.at(-1).at - killedAt} ms`,
      `queues before: ${queuesBefore.map((q) => `${q.name} ${q.type} leader ${q.leader}`).join('; ')}`,
      `after: ${queuesAfter.map((q) => `${q.name} leader ${q.leader} ${q.state}`).join('; ')}`,
    ];
    for (const [i, c] of clients.entries()) {
      await c.ws.waitId('rq-sentinel', 60000);
      await c.sse.waitMessage((f) => f.id === 'rq-sentinel', { timeout: 60000, what: 'the sentinel on /sse' });
    }
    await waitUntil(() => subscriberIds.includes('rq-sentinel'), { timeout: 60000, what: 'the sentinel at the MQTT.js subscriber' });
    await sleep(500); // a duplicate after the sentinel would show now

    const results = {};
    for (const [i, c] of clients.entries()) {
      const history = await WsClient.connect(c.kabar.wsUrl);
      await history.subscribe(CHANNEL, 'earliest');
      await history.waitEventId(CHANNEL, 'rq-sentinel', { timeout: 60000 });
      const body = (ids) => ids.filter((id) => id !== 'rq-sentinel');
      results[`gateway ${i + 1} store`] = tally(body(history.events(CHANNEL).map((f) => f.id)), publisher);
      results[`gateway ${i + 1} /ws`] = tally(body(c.ws.ids()), publisher);
      results[`gateway ${i + 1} /sse`] = tally(body(c.sse.events(CHANNEL).map((m) => m.frame.id)), publisher);
      history.close();
    }
    const finalStates = await Promise.all(gateways.map(gatewayState));
    summary.push(`gateways' bridges: ${finalStates.map((s, i) => `${i + 1}: ${s.received} MQTT messages received, ${s.redeliveries} redelivered copies dropped by id`).join('; ')}`);
    const mqttSub = tally(subscriberIds.filter((id) => id !== 'rq-sentinel'), publisher);
    summary.push(...Object.entries(results).map(([name, r]) => describeTally(name, r)), describeTally('MQTT.js subscriber', mqttSub));
    t.diagnostic(summary.join(' | '));

    assert.ok(atKill.acked > 0 && atKill.ws.every((n) => n > 0) && atKill.sent < publisher.sent, `the kill happened while events flowed\n${summary.join('\n')}`);
    assert.equal(publisher.acked.size, publisher.sent, `every publish got its PUBACK in the end\n${summary.join('\n')}`);
    for (const [name, r] of Object.entries(results)) {
      assert.equal(r.missing.length, 0, `${name}: acknowledged events lost\n${summary.join('\n')}`);
      assert.equal(r.duplicates.length, 0, `${name}: events delivered twice\n${summary.join('\n')}`);
    }
    // MQTT is at-least-once: the subscriber may get a redelivery twice, never miss one.
    assert.equal(mqttSub.missing.length, 0, `MQTT.js subscriber: acknowledged events lost\n${summary.join('\n')}`);
  });

  // RabbitMQ 3.10 turns an MQTT topic's "/" into the AMQP routing key's "." and leaves dots as they are, so
  // a level with a dot becomes several words: kabar/c/orders.1 does not match kabar's subscription
  // kabar/c/+ (kabar.c.*), yet the publisher gets its PUBACK (an unroutable message is confirmed). Pinned
  // here so that the limit in docs/scale-out.md is noticed if a RabbitMQ upgrade lifts it.
  test('a topic level with a dot is acknowledged but never reaches kabar (RabbitMQ 3.10 topic translation)', { timeout: 60000 }, async (t) => {
    const backend = await clusterClient(cluster, `e2e-rabbit-dot-${process.pid}`, { clean: true });
    t.after(() => backend.end(true));
    await publish(backend, 'kabar/c/dotted.channel', { id: 'rq-dot', event: 'dot.test', data: {} }, { timeout: 30000 });
    await publish(backend, 'kabar/c/undotted', { id: 'rq-nodot', event: 'dot.test', data: {} }, { timeout: 30000 });
    const ws = await WsClient.connect(gateways[0].wsUrl);
    await ws.subscribe('undotted', 'earliest');
    await ws.waitEventId('undotted', 'rq-nodot', { timeout: 30000 });
    await ws.subscribe('dotted.channel', 'earliest');
    await sleep(500);
    assert.deepEqual(ws.events('dotted.channel').map((f) => f.id), [], 'RabbitMQ delivered a dotted topic level: update docs/scale-out.md');
    ws.close();
  });
});
