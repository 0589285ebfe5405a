// kabar-echo.js with unmodified laravel-echo 2 + pusher-js 8 (tests/e2e/node_modules) against a real kabar
// and a real mosquitto (tests/e2e/lib/harness.mjs: every process stopped by its pid, also on failure).
// Events missed while kabar was killed, while the socket was down, or across a "page reload" arrive once,
// in order, at the app's Echo listener; stock Echo loses them; an epoch change reaches the listener as
// `.kabar:reset`; private and presence channels authorize as before; whispers pass untouched.
//
//   KABAR_BIN=/path/to/kabar node --test clients/js/test/echo.test.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { withKabarReplay } from '../kabar-echo.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const E2E = path.resolve(HERE, '../../../tests/e2e');
const e2e = (file) => import(pathToFileURL(path.join(E2E, file)));
const { Kabar, requireKabarBinary, sleep, track, useHarness, waitUntil } = await e2e('lib/harness.mjs');
const { mqttConnect, publishToChannel, parsePosition } = await e2e('lib/clients.mjs');
// pusher-helpers also gives pusher-js its WebSocket (`ws`) and `self`, as for the e2e tests.
const { LOCAL_APP, connected, serverSdk, startAuthServer, startStack, subscribed } = await e2e('pusher-helpers.mjs');
const requireE2e = createRequire(path.join(E2E, 'package.json'));
const { default: PusherJs } = await import(pathToFileURL(requireE2e.resolve('pusher-js/dist/worker/pusher.worker.js')));
const { default: Echo } = await import(pathToFileURL(path.join(E2E, 'node_modules/laravel-echo/dist/echo.js')));

useHarness();

let broker;
let kabar;
let auth;
let sdk;
let mq;

before(async () => {
  requireKabarBinary();
  ({ broker, kabar } = await startStack());  // the dev app: local / local-key / local-secret
  auth = await startAuthServer(LOCAL_APP);    // Laravel's /broadcasting/auth, signing as Laravel does
  sdk = serverSdk(kabar);                     // Laravel's broadcaster (REST)
  mq = await mqttConnect(broker.port);        // a backend publishing to MQTT
});

after(() => auth?.close());

function memoryStorage() {
  const map = new Map();
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => { map.set(k, String(v)); },
    removeItem: (k) => { map.delete(k); },
  };
}

// resources/js/echo.js of a Laravel app; with `replay`, the one option the add-on asks for.
function makeEcho(node, { replay, user } = {}) {
  const echo = new Echo({
    broadcaster: 'reverb',
    key: LOCAL_APP.key,
    wsHost: '127.0.0.1',
    wsPort: node.port,
    wssPort: node.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: auth.url,
    auth: { headers: user ? { 'X-User': user } : {} },
    Pusher: replay ? withKabarReplay(PusherJs, replay) : PusherJs,
  });
  track({ close: () => echo.disconnect() });
  return echo;
}

const pusherOf = (echo) => echo.connector.pusher;
const state = (echo) => pusherOf(echo).connection.state;
let counter = 0;
const uid = (label) => `${label}-${process.pid}-${++counter}`;

// Collects what the app's listener receives; every payload is {id}.
function listen(channel, event = '.dokumen.changed') {
  const got = [];
  channel.listen(event, (data) => got.push(data));
  return got;
}
const ids = (got) => got.map((e) => e.id);

// Counts subscription_succeeded (Echo's .subscribed() fires on every resubscribe).
function subscriptions(channel) {
  const seen = { count: 0 };
  channel.subscribed(() => { seen.count += 1; });
  return seen;
}

async function waitIds(got, id, what, timeout = 10000) {
  await waitUntil(() => ids(got).includes(id), { timeout, what: `${what}: ${id} (have ${JSON.stringify(ids(got))})` });
  await sleep(300);  // a duplicate or a straggler would be here by now
}

// Publishes as a backend does, to MQTT (works while kabar is down: the broker keeps it for kabar's
// persistent session). Returns the event id.
async function viaMqtt(channel, id) {
  await publishToChannel(mq, channel, id, { id }, 'dokumen.changed');
  return id;
}

async function viaRest(channel, id, node = kabar) {
  const response = await serverSdk(node).trigger(channel, 'dokumen.changed', { id });
  assert.equal(response.status, 200);
  return id;
}

// Kills kabar with SIGKILL, publishes `missed` events while it is down, starts it again and waits until
// every client is connected (new socket) and resubscribed.
async function outage(clients, channel, missed) {
  const sockets = clients.map(({ echo }) => echo.socketId());
  await kabar.kill();
  await waitUntil(() => clients.every(({ echo }) => state(echo) !== 'connected'), { what: 'pusher-js to notice the kill' });
  const published = [];
  for (let i = 0; i < missed; i++) published.push(await viaMqtt(channel, uid('missed')));
  const before = clients.map(({ subs }) => subs.count);
  await kabar.start();
  await waitUntil(() => clients.every(({ echo }, i) => state(echo) === 'connected' && echo.socketId() !== sockets[i]),
    { timeout: 30000, what: 'pusher-js to reconnect' });
  await waitUntil(() => clients.every(({ subs }, i) => subs.count > before[i]), { what: 'resubscribed' });
  return published;
}

test('(1) kabar killed while events are published: the Echo listener gets every missed event after the reconnect, once, in order', async () => {
  const channelName = 'dokumen.101';
  const echo = makeEcho(kabar, { replay: { storage: memoryStorage() } });
  await connected(echo);
  const channel = echo.channel(channelName);
  const got = listen(channel);
  const subs = subscriptions(channel);
  await subscribed(channel);
  const live = [await viaRest(channelName, uid('live')), await viaMqtt(channelName, uid('live'))];
  await waitIds(got, live[1], 'live events');
  assert.ok(pusherOf(echo).kabarReplay.position(channelName), 'a position is kept');

  const missed = await outage([{ echo, subs }], channelName, 5);
  const after = await viaRest(channelName, uid('after'));
  await waitIds(got, after, 'the event after the reconnect');
  assert.deepEqual(ids(got), [...live, ...missed, after], 'every event once, in order');
});

test('(2) the same outage without the add-on: stock Echo loses the missed events, the add-on next to it does not', async () => {
  const channelName = 'dokumen.102';
  const stock = makeEcho(kabar);
  const kabarAware = makeEcho(kabar, { replay: { storage: memoryStorage() } });
  await Promise.all([connected(stock), connected(kabarAware)]);
  const clients = [stock, kabarAware].map((echo) => {
    const channel = echo.channel(channelName);
    return { echo, channel, got: listen(channel), subs: subscriptions(channel) };
  });
  await Promise.all(clients.map(({ channel }) => subscribed(channel)));
  const live = await viaMqtt(channelName, uid('live'));
  await Promise.all(clients.map(({ got }) => waitIds(got, live, 'live event')));

  const missed = await outage(clients, channelName, 4);
  const after = await viaMqtt(channelName, uid('after'));
  await Promise.all(clients.map(({ got }) => waitIds(got, after, 'the event after the reconnect')));
  assert.deepEqual(ids(clients[0].got), [live, after], 'stock Echo: the events published during the outage are lost');
  assert.deepEqual(ids(clients[1].got), [live, ...missed, after], 'with the add-on: none lost');
});

test('(2b) a quiet channel: missed events are replayed even before its first event (subscription_succeeded carries the position)', async () => {
  const channelName = 'dokumen.120';
  const echo = makeEcho(kabar, { replay: { storage: memoryStorage() } });
  await connected(echo);
  const channel = echo.channel(channelName);
  const got = listen(channel);
  const subs = subscriptions(channel);
  await subscribed(channel);
  assert.ok(pusherOf(echo).kabarReplay.position(channelName), 'the subscription\'s start is kept before any event');
  const missed = await outage([{ echo, subs }], channelName, 3);
  const after = await viaMqtt(channelName, uid('after'));
  await waitIds(got, after, 'the event after the reconnect');
  assert.deepEqual(ids(got), [...missed, after], 'the events of the outage, once, in order');
});

test('(3) a page reload: a new Pusher/Echo with the same storage resumes from the stored position', async () => {
  const channelName = 'dokumen.103';
  const storage = memoryStorage();  // stands for the page's localStorage
  const first = makeEcho(kabar, { replay: { storage } });
  await connected(first);
  const firstGot = listen(first.channel(channelName));
  await subscribed(first.channel(channelName));
  const seen = [await viaRest(channelName, uid('seen')), await viaRest(channelName, uid('seen'))];
  await waitIds(firstGot, seen[1], 'before the reload');
  const stored = storage.getItem(`kabar:${LOCAL_APP.key}:${channelName}`);
  assert.equal(stored, pusherOf(first).kabarReplay.position(channelName), 'stored under kabar:<app key>:<channel>');
  parsePosition(stored);

  first.disconnect();  // the page goes away
  await waitUntil(() => state(first) === 'disconnected', { what: 'first page disconnected' });
  const missed = [await viaRest(channelName, uid('missed')), await viaMqtt(channelName, uid('missed'))];

  const second = makeEcho(kabar, { replay: { storage } });  // the reloaded page: withKabarReplay anew
  await connected(second);
  const secondGot = listen(second.channel(channelName));
  await subscribed(second.channel(channelName));
  await waitIds(secondGot, missed[1], 'replayed after the reload');
  const after = await viaRest(channelName, uid('after'));
  await waitIds(secondGot, after, 'live after the reload');
  assert.deepEqual(ids(secondGot), [...missed, after], 'from the stored position: nothing seen twice, nothing lost');
  assert.notEqual(storage.getItem(`kabar:${LOCAL_APP.key}:${channelName}`), stored, 'the stored position moved on');
});

test('(4) a stored position from another store (data dir wiped: new epoch) gives .kabar:reset {reason, position} to the Echo listener', async () => {
  const node = await Kabar.create({ mqttPort: broker.port });  // its own node: its store gets wiped
  await node.start();
  const channelName = 'dokumen.104';
  const storage = memoryStorage();
  const echo = makeEcho(node, { replay: { storage } });
  await connected(echo);
  const channel = echo.channel(channelName);
  const got = listen(channel);
  const resets = [];
  channel.listen('.kabar:reset', (reset) => resets.push(reset));
  const subs = subscriptions(channel);
  await subscribed(channel);
  const before = await viaRest(channelName, uid('before'), node);
  await waitIds(got, before, 'before the wipe');
  const oldPosition = pusherOf(echo).kabarReplay.position(channelName);

  await node.stop();
  fs.rmSync(node.dataDir, { recursive: true, force: true });
  const subscribedBefore = subs.count;
  await node.start();
  await waitUntil(() => subs.count > subscribedBefore, { timeout: 30000, what: 'resubscribed to the new store' });
  await waitUntil(() => resets.length > 0, { what: '.kabar:reset at the Echo listener' });
  assert.equal(resets.length, 1);
  assert.equal(resets[0].reason, 'epoch_changed');
  assert.notEqual(parsePosition(resets[0].position).epoch, parsePosition(oldPosition).epoch);
  assert.equal(storage.getItem(`kabar:${LOCAL_APP.key}:${channelName}`), resets[0].position, 'the reset position is stored');

  const after = await viaRest(channelName, uid('after'), node);
  await waitIds(got, after, 'live after the reset');
  assert.deepEqual(ids(got), [before, after]);
  assert.equal(parsePosition(storage.getItem(`kabar:${LOCAL_APP.key}:${channelName}`)).epoch, parsePosition(resets[0].position).epoch);
  await node.stop();
});

test('(5) private and presence channels: authorized through /broadcasting/auth on every resubscribe, missed events replayed', async () => {
  const echo = makeEcho(kabar, { user: '1:Ana', replay: { storage: memoryStorage() } });
  const firstSocket = await connected(echo);
  const privateChannel = echo.private('dokumen.105');
  const privateGot = listen(privateChannel, 'DokumenUpdated');
  const privateSubs = subscriptions(privateChannel);
  let here = [];
  const room = echo.join('ruang.105').here((members) => { here = members; });
  const roomGot = listen(room, '.dokumen.changed');
  const roomSubs = subscriptions(room);
  await Promise.all([subscribed(privateChannel), subscribed(room)]);
  assert.deepEqual(here, [{ id: 1, name: 'Ana' }]);

  const priv = (id) => sdk.trigger('private-dokumen.105', 'App\\Events\\DokumenUpdated', { id }).then(() => id);
  const pres = (id) => viaRest('presence-ruang.105', id);
  const live = [await priv(uid('p')), await pres(uid('r'))];
  await waitIds(privateGot, live[0], 'private live');
  await waitIds(roomGot, live[1], 'presence live');

  // The connection goes away (pusher-js disconnect; the channels stay in pusher-js, as after a drop).
  pusherOf(echo).disconnect();
  await waitUntil(() => state(echo) === 'disconnected', { what: 'disconnected' });
  const missedPrivate = [await priv(uid('p')), await priv(uid('p'))];
  const missedRoom = [await pres(uid('r'))];
  here = [];
  pusherOf(echo).connect();
  await waitUntil(() => privateSubs.count >= 2 && roomSubs.count >= 2, { what: 'resubscribed' });
  const secondSocket = echo.socketId();
  assert.notEqual(secondSocket, firstSocket);
  for (const channel of ['private-dokumen.105', 'presence-ruang.105']) {
    assert.deepEqual(auth.requests.filter((r) => r.channel === channel).map((r) => r.socketId), [firstSocket, secondSocket],
      `${channel}: signed again for the new socket`);
  }
  assert.deepEqual(here, [{ id: 1, name: 'Ana' }], 'here() again after the resubscribe');

  const after = [await priv(uid('p')), await pres(uid('r'))];
  await waitIds(privateGot, after[0], 'private after');
  await waitIds(roomGot, after[1], 'presence after');
  assert.deepEqual(ids(privateGot), [live[0], ...missedPrivate, after[0]]);
  assert.deepEqual(ids(roomGot), [live[1], ...missedRoom, after[1]]);
});

test('(6) whispers pass untouched between add-on clients and leave the positions alone', async () => {
  const ana = makeEcho(kabar, { user: '1:Ana', replay: { storage: memoryStorage() } });
  const budi = makeEcho(kabar, { user: '2:Budi', replay: { storage: memoryStorage() } });
  await Promise.all([connected(ana), connected(budi)]);
  const anaChat = ana.private('chat.106');
  const budiChat = budi.private('chat.106');
  await Promise.all([subscribed(anaChat), subscribed(budiChat)]);
  const budiHeard = [];
  const anaHeard = [];
  budiChat.listenForWhisper('typing', (e) => budiHeard.push(e));
  anaChat.listenForWhisper('typing', (e) => anaHeard.push(e));
  const budiGot = listen(budiChat, '.dokumen.changed');

  const start = pusherOf(budi).kabarReplay.position('private-chat.106');  // where the subscription began
  anaChat.whisper('typing', { name: 'Ana', typing: true });
  await waitUntil(() => budiHeard.length === 1, { what: 'Budi hears Ana' });
  assert.deepEqual(budiHeard, [{ name: 'Ana', typing: true }]);
  assert.equal(pusherOf(budi).kabarReplay.position('private-chat.106'), start, 'a whisper has no position');

  const event = await viaRest('private-chat.106', uid('e'));
  await waitIds(budiGot, event, 'an event');
  const position = pusherOf(budi).kabarReplay.position('private-chat.106');
  assert.ok(position);
  budiChat.whisper('typing', { name: 'Budi', typing: false });
  anaChat.whisper('typing', { name: 'Ana', typing: false });
  await waitUntil(() => budiHeard.length === 2 && anaHeard.length === 1, { what: 'both whispers' });
  assert.deepEqual(anaHeard, [{ name: 'Budi', typing: false }]);
  assert.deepEqual(budiHeard[1], { name: 'Ana', typing: false });
  assert.equal(pusherOf(budi).kabarReplay.position('private-chat.106'), position, 'whispers did not move it');

  // On presence channels the whisper keeps the sender's user_id (pusher-js metadata).
  let anaIn = false;
  let budiIn = false;
  const anaRoom = ana.join('chat.107').here(() => { anaIn = true; });
  budi.join('chat.107').here(() => { budiIn = true; });
  await waitUntil(() => anaIn && budiIn, { what: 'both in presence-chat.107' });
  const metadata = [];
  pusherOf(budi).channel('presence-chat.107').bind('client-typing', (data, meta) => metadata.push({ data, meta }));
  anaRoom.whisper('typing', { typing: true });
  await waitUntil(() => metadata.length === 1, { what: 'presence whisper' });
  assert.deepEqual(metadata[0], { data: { typing: true }, meta: { user_id: '1' } });
});
