// The document-approval app of shared/seeds/reverb-websocket-dokumen.md, moved from Reverb to kabar by
// changing host and port only: unmodified laravel-echo 2 + pusher-js 8 (broadcaster 'reverb') join
// channels, and the official `pusher` server SDK publishes the way Laravel's broadcaster does.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import { mqttConnect, publish } from './lib/clients.mjs';
import { LOCAL_APP, connected, makeEcho, serverSdk, startAuthServer, startStack, subscribed } from './pusher-helpers.mjs';

useHarness();

let broker;
let kabar;
let auth;
let sdk;
let mq;

before(async () => {
  requireKabarBinary();
  ({ broker, kabar } = await startStack());  // the default config: app local / local-key / local-secret
  auth = await startAuthServer(LOCAL_APP);
  sdk = serverSdk(kabar);
  mq = await mqttConnect(broker.port);
});

after(() => auth?.close());

function collector(channel, event) {
  const received = [];
  channel.listen(event, (payload) => received.push(payload));
  return received;
}

async function waitCount(list, count, what, timeout = 8000) {
  await waitUntil(() => list.length >= count, { timeout, what: `${what} (have ${list.length}: ${JSON.stringify(list).slice(0, 300)})` });
}

test('Echo joins dokumen.{id} and receives .dokumen.updated published with the pusher SDK, as Laravel does', async () => {
  const echo = makeEcho(kabar);
  await connected(echo);
  const channel = echo.channel('dokumen.7');
  const received = collector(channel, '.dokumen.updated');
  await subscribed(channel);
  const payload = { dokumen: { id: 7, status: 'approved', approvals: [{ user: { name: 'Ana' } }] }, timestamp: '2024-01-01T12:00:00.000000Z' };
  const response = await sdk.trigger('dokumen.7', 'dokumen.updated', payload);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {});
  await waitCount(received, 1, '.dokumen.updated via REST');
  assert.deepEqual(received[0], payload);
});

test('the same page receives an MQTT publish to dokumen/7/updated (mosquitto_pub path)', async () => {
  const echo = makeEcho(kabar);
  await connected(echo);
  const channel = echo.channel('dokumen.17');
  const received = collector(channel, '.dokumen.updated');
  await subscribed(channel);
  const payload = { dokumen: { id: 17, status: 'rejected' } };
  await publish(mq, 'dokumen/17/updated', payload);
  await waitCount(received, 1, '.dokumen.updated via MQTT');
  assert.deepEqual(received[0], payload);
});

test('Laravel default event names (App\\Events\\X) arrive, data byte for byte', async () => {
  const echo = makeEcho(kabar);
  await connected(echo);
  const channel = echo.channel('laporan.1');
  const received = [];
  echo.connector.pusher.channel('laporan.1').bind('App\\Events\\LaporanDibuat', (data) => received.push(data));
  await subscribed(channel);
  const listened = collector(channel, 'LaporanDibuat');  // Echo prefixes App\Events\ itself
  await sdk.trigger('laporan.1', 'App\\Events\\LaporanDibuat', { url: 'https://x.test/a/b', nama: 'Éva 🚀' });
  await waitCount(listened, 1, 'App\\Events\\LaporanDibuat');
  assert.deepEqual(listened[0], { url: 'https://x.test/a/b', nama: 'Éva 🚀' });
  assert.equal(received.length, 1);
});

test('->toOthers(): the socket that caused the event does not receive it, the others do', async () => {
  const alice = makeEcho(kabar);
  const bob = makeEcho(kabar);
  const aliceSocket = await connected(alice);
  await connected(bob);
  const aliceChannel = alice.channel('dokumen.8');
  const bobChannel = bob.channel('dokumen.8');
  const aliceGot = collector(aliceChannel, '.status.changed');
  const bobGot = collector(bobChannel, '.status.changed');
  await Promise.all([subscribed(aliceChannel), subscribed(bobChannel)]);

  // What PusherBroadcaster sends for broadcast(...)->toOthers() with X-Socket-ID from Alice's request.
  await sdk.trigger('dokumen.8', 'status.changed', { n: 1 }, { socket_id: aliceSocket });
  await sdk.trigger('dokumen.8', 'status.changed', { n: 2 });
  await waitCount(bobGot, 2, 'Bob gets both');
  await waitCount(aliceGot, 1, 'Alice gets the second');
  await sleep(200);
  assert.deepEqual(bobGot.map((e) => e.n), [1, 2]);
  assert.deepEqual(aliceGot.map((e) => e.n), [2], 'the first event excluded Alice');
});

test('Echo.private() authorizes through /broadcasting/auth and receives; a bad signature gives Echo .error()', async () => {
  const echo = makeEcho(kabar, { user: '1:Ana', authUrl: auth.url });
  const socketId = await connected(echo);
  const channel = echo.private('dokumen.9');
  const received = collector(channel, 'DokumenUpdated');
  await subscribed(channel);
  assert.ok(auth.requests.some((r) => r.channel === 'private-dokumen.9' && r.socketId === socketId), 'auth endpoint called');
  await sdk.trigger('private-dokumen.9', 'App\\Events\\DokumenUpdated', { dokumen: { id: 9 } });
  await waitCount(received, 1, 'private event');
  assert.deepEqual(received[0], { dokumen: { id: 9 } });

  const forger = makeEcho(kabar, { user: '2:Budi', authUrl: auth.url, wrongSecret: true });
  await connected(forger);
  const refused = forger.private('dokumen.9');
  const errors = [];
  refused.error((error) => errors.push(error));
  const leaked = collector(refused, 'DokumenUpdated');
  await waitUntil(() => errors.length > 0, { timeout: 5000, what: 'Echo .error() for a bad signature' });
  assert.equal(errors[0].type, 'AuthError');
  assert.equal(errors[0].status, 401);
  await sdk.trigger('private-dokumen.9', 'App\\Events\\DokumenUpdated', { dokumen: { id: 9, n: 2 } });
  await waitCount(received, 2, 'second private event');
  await sleep(200);
  assert.equal(leaked.length, 0, 'nothing reaches a refused subscriber');
});

test('Echo.join(): here / joining / leaving with two users, and a second tab announces nothing', async () => {
  const ana = makeEcho(kabar, { user: '1:Ana', authUrl: auth.url });
  const budi = makeEcho(kabar, { user: '2:Budi', authUrl: auth.url });
  await Promise.all([connected(ana), connected(budi)]);

  const anaEvents = { here: null, joining: [], leaving: [] };
  const anaRoom = ana.join('dokumen.10')
    .here((members) => { anaEvents.here = members; })
    .joining((member) => anaEvents.joining.push(member))
    .leaving((member) => anaEvents.leaving.push(member));
  await waitUntil(() => anaEvents.here, { what: 'Ana here()' });
  assert.deepEqual(anaEvents.here, [{ id: 1, name: 'Ana' }]);

  let budiHere = null;
  budi.join('dokumen.10').here((members) => { budiHere = members; });
  await waitUntil(() => budiHere, { what: 'Budi here()' });
  assert.deepEqual(budiHere.map((m) => m.name).sort(), ['Ana', 'Budi']);
  await waitUntil(() => anaEvents.joining.length === 1, { what: 'Ana sees Budi joining' });
  assert.deepEqual(anaEvents.joining[0], { id: 2, name: 'Budi' });

  // Budi opens a second tab: he is already present, so nobody is told he joined.
  const budiTab = makeEcho(kabar, { user: '2:Budi', authUrl: auth.url });
  await connected(budiTab);
  let tabHere = null;
  budiTab.join('dokumen.10').here((members) => { tabHere = members; });
  await waitUntil(() => tabHere, { what: 'second tab here()' });
  assert.equal(tabHere.length, 2);

  // Closing one tab announces nothing; leaving with the last one does.
  budiTab.disconnect();
  await sleep(300);
  assert.equal(anaEvents.leaving.length, 0, 'Budi still has a tab open');
  budi.leave('dokumen.10');
  await waitUntil(() => anaEvents.leaving.length === 1, { what: 'Ana sees Budi leaving' });
  assert.deepEqual(anaEvents.leaving[0], { id: 2, name: 'Budi' });
  assert.equal(anaEvents.joining.length, 1, 'one joining event in all');
  assert.equal(anaRoom.subscription.members.count, 1);

  // A dropped connection (no unsubscribe) is cleaned up the same way.
  const citra = makeEcho(kabar, { user: '3:Citra', authUrl: auth.url });
  await connected(citra);
  let citraHere = null;
  citra.join('dokumen.10').here((m) => { citraHere = m; });
  await waitUntil(() => citraHere && anaEvents.joining.length === 2, { what: 'Citra joined' });
  citra.connector.pusher.connection.socket_or_transport?.close?.();
  citra.disconnect();
  await waitUntil(() => anaEvents.leaving.length === 2, { what: 'Ana sees Citra leave when her socket closes' });
});

test('whisper reaches the others on the channel and never the sender; presence whispers carry user_id', async () => {
  const ana = makeEcho(kabar, { user: '1:Ana', authUrl: auth.url });
  const budi = makeEcho(kabar, { user: '2:Budi', authUrl: auth.url });
  await Promise.all([connected(ana), connected(budi)]);
  const anaChannel = ana.private('chat.1');
  const budiChannel = budi.private('chat.1');
  await Promise.all([subscribed(anaChannel), subscribed(budiChannel)]);
  const anaHeard = [];
  const budiHeard = [];
  anaChannel.listenForWhisper('typing', (e) => anaHeard.push(e));
  budiChannel.listenForWhisper('typing', (e) => budiHeard.push(e));
  anaChannel.whisper('typing', { name: 'Ana', typing: true });
  await waitCount(budiHeard, 1, 'Budi hears Ana typing');
  assert.deepEqual(budiHeard[0], { name: 'Ana', typing: true });
  await sleep(300);
  assert.equal(anaHeard.length, 0, 'the sender never gets its own whisper');

  let anaRoomReady = false;
  let budiRoomReady = false;
  const anaRoom = ana.join('chat.2').here(() => { anaRoomReady = true; });
  const budiRoom = budi.join('chat.2').here(() => { budiRoomReady = true; });
  await waitUntil(() => anaRoomReady && budiRoomReady, { what: 'both in presence-chat.2' });
  const metadata = [];
  budi.connector.pusher.channel('presence-chat.2').bind('client-typing', (data, meta) => metadata.push({ data, meta }));
  anaRoom.whisper('typing', { typing: true });
  await waitCount(metadata, 1, 'presence whisper');
  assert.equal(metadata[0].meta.user_id, '1');
  assert.ok(budiRoom);
});

test('cache channels: a new subscriber gets the last event at once, or pusher:cache_miss', async () => {
  await sdk.trigger('cache-omset.3', 'omset.total', { total: 100 });
  await sdk.trigger('cache-omset.3', 'omset.total', { total: 250 });
  await sleep(300);  // committed before anyone subscribes
  const echo = makeEcho(kabar);
  await connected(echo);
  const channel = echo.channel('cache-omset.3');
  const received = collector(channel, '.omset.total');
  await waitCount(received, 1, 'the cached event');
  assert.deepEqual(received, [{ total: 250 }], 'only the latest event');
  await sdk.trigger('cache-omset.3', 'omset.total', { total: 300 });
  await waitCount(received, 2, 'live after the cached one');
  assert.deepEqual(received.map((e) => e.total), [250, 300]);

  const misses = [];
  echo.connector.pusher.subscribe('cache-empty.1').bind('pusher:cache_miss', () => misses.push(1));
  await waitUntil(() => misses.length === 1, { what: 'pusher:cache_miss' });
});
