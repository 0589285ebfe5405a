// Several Pusher apps on one kabar, isolated from each other (docs/pusher.md "Apps"): an event published
// through one app's REST API reaches that app's connections only, live, in replay and as a cache
// channel's last event; events from MQTT (backends) reach every app; /ws is not bound to an app.
// Real clients: laravel-echo + pusher-js subscribe, the official `pusher` SDK publishes as Laravel does.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, requireKabarBinary, useHarness, waitUntil } from './lib/harness.mjs';
import { WsClient, mqttConnect, publish } from './lib/clients.mjs';
import { connected, established, eventsNamed, makeEcho, rawPusher, serverSdk, startStack, subscribed } from './pusher-helpers.mjs';

useHarness();

const SHOP_A = { id: 'shop-a', key: 'shop-a-key', secret: 'shop-a-secret' };
const SHOP_B = { id: 'shop-b', key: 'shop-b-key', secret: 'shop-b-secret' };

let broker;
let kabar;
let sdkA;
let sdkB;
let mq;
let shared;  // pusher-js subscribers of dokumen.1, one per app, and a /ws subscriber

before(async () => {
  requireKabarBinary();
  // Shop B's secret comes from a file (apps[].secret_file), as a compose secret would give it.
  const secretFile = path.join(makeTempDir('kabar-e2e-apps-'), 'shop-b.secret');
  fs.writeFileSync(secretFile, `${SHOP_B.secret}\n`, { mode: 0o600 });
  const shopBConfig = { id: SHOP_B.id, key: SHOP_B.key, secret_file: secretFile };
  ({ broker, kabar } = await startStack({ apps: [SHOP_A, shopBConfig] }));
  sdkA = serverSdk(kabar, SHOP_A);
  sdkB = serverSdk(kabar, SHOP_B);
  mq = await mqttConnect(broker.port);
  shared = { a: await listener(SHOP_A, 'dokumen.1'), b: await listener(SHOP_B, 'dokumen.1') };
  shared.ws = await WsClient.connect(kabar.wsUrl);
  await shared.ws.subscribe('dokumen.1');
});

// An Echo page of `app` listening to .dokumen.updated on `name`; returns the payloads it receives.
async function listener(app, name) {
  const echo = makeEcho(kabar, { app });
  await connected(echo);
  const channel = echo.channel(name);
  const received = [];
  channel.listen('.dokumen.updated', (payload) => received.push(payload));
  await subscribed(channel);
  return received;
}

const ids = (received) => received.map((payload) => payload.dokumen.id);

async function waitFor(received, id, what) {
  await waitUntil(() => ids(received).includes(id), { timeout: 8000, what: `${what} (has ${JSON.stringify(ids(received))})` });
}

test('a publish through app A reaches A\'s subscriber and not B\'s; an MQTT event reaches both', async () => {
  const response = await sdkA.trigger('dokumen.1', 'dokumen.updated', { dokumen: { id: 101, status: 'approved' } });
  assert.equal(response.status, 200);
  await waitFor(shared.a, 101, 'app A gets its own event');

  // MQTT-routed events carry no app. Stored after the REST one on the same channel, so once B has it,
  // B would already have had A's event if it leaked.
  await publish(mq, 'dokumen/1/updated', { dokumen: { id: 102, status: 'pending' } });
  await waitFor(shared.b, 102, 'app B gets the MQTT event');
  await waitFor(shared.a, 102, 'app A gets the MQTT event');
  assert.deepEqual(ids(shared.b), [102], 'app B never saw app A\'s event');
  assert.deepEqual(ids(shared.a), [101, 102]);
});

test('isolation holds both ways: a publish through app B does not reach app A', async () => {
  await sdkB.trigger('dokumen.1', 'dokumen.updated', { dokumen: { id: 103 } });
  await publish(mq, 'dokumen/1/updated', { dokumen: { id: 104 } });
  await waitFor(shared.a, 104, 'app A gets the MQTT event');
  await waitFor(shared.b, 104, 'app B gets the MQTT event');
  assert.ok(!ids(shared.a).includes(103), `app A got app B's event: ${JSON.stringify(ids(shared.a))}`);
  assert.ok(ids(shared.b).includes(103), 'app B gets its own event');
});

test('/ws is not bound to an app: it receives the events of every app', async () => {
  const events = await shared.ws.waitEvents('dokumen.1', 4);
  // A REST publish keeps the publisher's data string; an MQTT event's data is the JSON itself.
  const data = (e) => (typeof e.data === 'string' ? JSON.parse(e.data) : e.data);
  assert.deepEqual(events.map((e) => data(e).dokumen.id), [101, 102, 103, 104]);
});

test('replay (since: earliest) gives an app its own and untagged events only', async () => {
  const client = await rawPusher(kabar, { key: SHOP_B.key });
  await established(client);
  client.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'dokumen.1', since: 'earliest' } });
  // The last event published so far is the MQTT 104: once it is replayed, the replay is complete.
  await client.waitFrame((f) => f.event === 'dokumen.updated' && JSON.parse(f.data).dokumen.id === 104, { what: 'replay up to 104' });
  const replayed = eventsNamed(client, 'dokumen.updated', 'dokumen.1').map((f) => JSON.parse(f.data).dokumen.id);
  assert.deepEqual(replayed, [102, 103, 104]);
});

test('a cache channel\'s last event is per app: another app\'s event is a cache miss', async () => {
  const cacheSubscriber = async (app) => {
    const client = await rawPusher(kabar, { key: app.key });
    await established(client);
    client.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'cache-dokumen.9' } });
    await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded', { what: 'subscribed' });
    return client;
  };
  const live = await cacheSubscriber(SHOP_A);
  await live.waitFrame((f) => f.event === 'pusher:cache_miss', { what: 'cache miss before any event' });
  await sdkA.trigger('cache-dokumen.9', 'dokumen.updated', { dokumen: { id: 901 } });
  await live.waitFrame((f) => f.event === 'dokumen.updated', { what: 'the live event (so it is stored)' });

  const own = await cacheSubscriber(SHOP_A);
  const last = await own.waitFrame((f) => f.event === 'dokumen.updated' || f.event === 'pusher:cache_miss', { what: 'app A\'s cache answer' });
  assert.equal(last.event, 'dokumen.updated');
  assert.equal(JSON.parse(last.data).dokumen.id, 901);

  const other = await cacheSubscriber(SHOP_B);
  const answer = await other.waitFrame((f) => f.event === 'dokumen.updated' || f.event === 'pusher:cache_miss', { what: 'app B\'s cache answer' });
  assert.equal(answer.event, 'pusher:cache_miss', 'app A\'s event is not app B\'s last event');
});
