// kabar-echo.js against a scripted Pusher-protocol server: real laravel-echo 2 + pusher-js 8 (from
// tests/e2e/node_modules), a `ws` server that answers subscribes and sends exactly the frames a test
// wants. It covers what a healthy kabar never sends but the add-on must survive (duplicate and stale
// positions, a forged `position` on a whisper, positions of another epoch, a full storage) and checks
// the frames pusher-js sends (`since` next to unchanged auth and channel_data). The real-server tests are
// echo.test.mjs.
//
//   node --test clients/js/test/echo_scripted.test.mjs
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { withKabarReplay, isAfter } from '../kabar-echo.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const E2E = path.resolve(HERE, '../../../tests/e2e');
const { sleep, track, useHarness, waitUntil } = await import(pathToFileURL(path.join(E2E, 'lib/harness.mjs')));
const requireE2e = createRequire(path.join(E2E, 'package.json'));
const WebSocket = requireE2e('ws');
globalThis.WebSocket ??= WebSocket;
globalThis.self ??= globalThis;  // pusher-js's worker build (the isomorphic one) reads `self`
const { default: PusherJs } = await import(pathToFileURL(requireE2e.resolve('pusher-js/dist/worker/pusher.worker.js')));
const { default: Echo } = await import(pathToFileURL(path.join(E2E, 'node_modules/laravel-echo/dist/echo.js')));

useHarness();

const KEY = 'app-key';

// A Pusher-protocol server that does what the test says: connection_established, subscription_succeeded
// (with an empty presence for presence- channels), and whatever frames send() pushes.
class ScriptedServer {
  static async start() {
    const server = new ScriptedServer();
    await new Promise((resolve) => server.wss.once('listening', resolve));
    server.port = server.wss.address().port;
    track({ close: () => server.close() });
    return server;
  }

  constructor() {
    this.wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.sockets = [];
    this.received = [];  // every frame a client sent, parsed, with the index of its socket
    this.connections = 0;
    this.wss.on('connection', (ws) => {
      const index = this.sockets.push(ws) - 1;
      this.connections += 1;
      ws.send(JSON.stringify({ event: 'pusher:connection_established', data: JSON.stringify({ socket_id: `1.${index}`, activity_timeout: 30 }) }));
      ws.on('message', (raw) => {
        const frame = JSON.parse(raw.toString());
        this.received.push({ ...frame, socket: index });
        if (frame.event === 'pusher:subscribe') {
          const channel = frame.data.channel;
          const data = channel.startsWith('presence-') ? { presence: { ids: [], hash: {}, count: 0 } } : {};
          ws.send(JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel, data: JSON.stringify(data) }));
        }
      });
    });
  }

  get current() { return this.sockets.at(-1); }
  send(frame) { this.current.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }
  event(channel, event, data, position) {
    const frame = { event, data: JSON.stringify(data), channel };
    if (position !== undefined) frame.position = position;
    this.send(frame);
  }

  subscribes(channel) { return this.received.filter((f) => f.event === 'pusher:subscribe' && f.data.channel === channel); }
  async waitSubscribes(channel, count) {
    await waitUntil(() => this.subscribes(channel).length >= count, { what: `${count} subscribes of ${channel} (${JSON.stringify(this.received)})`, diag: false });
    return this.subscribes(channel);
  }

  // Closes the live socket with 4200 (pusher-js reconnects at once); resolves on the next connection.
  async cut() {
    const before = this.connections;
    this.current.close(4200, 'cut by the test');
    await waitUntil(() => this.connections > before, { what: 'pusher-js to reconnect', diag: false });
  }

  close() {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }
}

function memoryStorage() {
  const map = new Map();
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => { map.set(k, String(v)); },
    removeItem: (k) => { map.delete(k); },
  };
}

const authHandler = (params, callback) => {
  const presence = params.channelName.startsWith('presence-');
  callback(null, presence
    ? { auth: `${KEY}:sig-${params.socketId}`, channel_data: JSON.stringify({ user_id: '1', user_info: { name: 'Ana' } }) }
    : { auth: `${KEY}:sig-${params.socketId}` });
};

function makeEcho(server, { Pusher = PusherJs, client } = {}) {
  const echo = new Echo({
    broadcaster: 'reverb',
    key: KEY,
    wsHost: '127.0.0.1',
    wsPort: server.port,
    wssPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: { customHandler: authHandler },
    ...(client ? { client } : { Pusher }),
  });
  track({ close: () => echo.disconnect() });
  return echo;
}

function listen(channel, event) {
  const got = [];
  channel.listen(event, (data) => got.push(data));
  return got;
}

async function waitLength(list, n, what) {
  await waitUntil(() => list.length >= n, { what: `${what}: ${n} (have ${JSON.stringify(list)})`, diag: false });
  await sleep(100);  // anything extra would arrive by now
}

test('isAfter: same epoch by seq (any size, leading zeros), another epoch or an unreadable position counts as after', () => {
  assert.equal(isAfter('e:2', 'e:1'), true);
  assert.equal(isAfter('e:1', 'e:1'), false);
  assert.equal(isAfter('e:1', 'e:2'), false);
  assert.equal(isAfter('e:10', 'e:9'), true);
  assert.equal(isAfter('e:007', 'e:7'), false);
  assert.equal(isAfter('e:123456789012345678901234567891', 'e:123456789012345678901234567890'), true);
  assert.equal(isAfter('e:9007199254740993', 'e:9007199254740992'), true, 'beyond 2^53');
  assert.equal(isAfter('f:1', 'e:100'), true, 'another epoch');
  assert.equal(isAfter('garbage', 'e:1'), true);
  assert.equal(isAfter('e:1', 'garbage'), true);
  // Positions name their event too ("<epoch>:<seq>:<id>"; ids may hold ':'): compared by seq all the same.
  assert.equal(isAfter('e:10:ev-10', 'e:9:h0ABC.1'), true);
  assert.equal(isAfter('e:9:a:b', 'e:10:x'), false);
  assert.equal(isAfter('e:10:x', 'e:10'), false);
});

test('since: none on the first subscribe, the last position on every resubscribe; duplicates and stale events dropped, in order', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  const echo = makeEcho(server, { Pusher: withKabarReplay(PusherJs, { storage }) });
  const got = listen(echo.channel('dokumen.1'), '.dokumen.updated');
  const [first] = await server.waitSubscribes('dokumen.1', 1);
  assert.deepEqual(first.data, { auth: '', channel: 'dokumen.1' }, 'nothing stored: the stock subscribe');

  server.event('dokumen.1', 'dokumen.updated', { n: 1 }, 'e:5');
  server.event('dokumen.1', 'dokumen.updated', { n: 2 }, 'e:9');
  await waitLength(got, 2, 'live events');
  assert.equal(storage.getItem('kabar:app-key:dokumen.1'), 'e:9', 'stored under kabar:<app key>:<channel>');
  assert.equal(echo.connector.pusher.kabarReplay.position('dokumen.1'), 'e:9');

  await server.cut();
  const subscribes = await server.waitSubscribes('dokumen.1', 2);
  assert.deepEqual(subscribes[1].data, { auth: '', channel: 'dokumen.1', since: 'e:9' });
  // An overlapping replay: what was delivered already, twice, and older, is not delivered again.
  for (const [n, position] of [[1, 'e:5'], [2, 'e:9'], [3, 'e:12'], [3, 'e:12'], [2, 'e:9'], [4, 'e:100'], [0, 'e:99']]) {
    server.event('dokumen.1', 'dokumen.updated', { n }, position);
  }
  await waitLength(got, 4, 'after the replay');
  assert.deepEqual(got.map((e) => e.n), [1, 2, 3, 4]);

  await server.cut();
  assert.equal((await server.waitSubscribes('dokumen.1', 3))[2].data.since, 'e:100', 'the newest position, not the last frame seen');
});

test('private and presence channels: since is added next to the unchanged auth and channel_data', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  storage.setItem('kabar:app-key:private-dokumen.2', 'e:40');
  storage.setItem('kabar:app-key:presence-ruang.2', 'e:41');
  const echo = makeEcho(server, { Pusher: withKabarReplay(PusherJs, { storage }) });
  const privateGot = listen(echo.private('dokumen.2'), '.dokumen.updated');
  let here = null;
  const room = echo.join('ruang.2').here((members) => { here = members; });
  const roomGot = listen(room, '.pesan');
  const [priv] = await server.waitSubscribes('private-dokumen.2', 1);
  const [pres] = await server.waitSubscribes('presence-ruang.2', 1);
  assert.deepEqual(priv.data, { auth: `${KEY}:sig-1.0`, channel: 'private-dokumen.2', since: 'e:40' });
  assert.deepEqual(pres.data, {
    auth: `${KEY}:sig-1.0`,
    channel_data: JSON.stringify({ user_id: '1', user_info: { name: 'Ana' } }),
    channel: 'presence-ruang.2',
    since: 'e:41',
  });
  await waitUntil(() => here, { what: 'here()', diag: false });
  server.event('private-dokumen.2', 'dokumen.updated', { n: 1 }, 'e:40');  // the one `since` names
  server.event('private-dokumen.2', 'dokumen.updated', { n: 2 }, 'e:42');
  server.event('presence-ruang.2', 'pesan', { n: 3 }, 'e:43');
  await waitLength(privateGot, 1, 'private');
  await waitLength(roomGot, 1, 'presence');
  assert.deepEqual(privateGot, [{ n: 2 }]);
  assert.deepEqual(roomGot, [{ n: 3 }]);

  await server.cut();
  const priv2 = (await server.waitSubscribes('private-dokumen.2', 2))[1];
  const pres2 = (await server.waitSubscribes('presence-ruang.2', 2))[1];
  assert.deepEqual(priv2.data, { auth: `${KEY}:sig-1.1`, channel: 'private-dokumen.2', since: 'e:42' }, 'authorized again for the new socket');
  assert.equal(pres2.data.since, 'e:43');
  assert.equal(pres2.data.auth, `${KEY}:sig-1.1`);
});

test('whispers, pusher: and pusher_internal: frames pass untouched and never move the position, even with a forged one', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  const echo = makeEcho(server, { Pusher: withKabarReplay(PusherJs, { storage }) });
  const channel = echo.join('chat.3');
  const whispers = [];
  const meta = [];
  channel.listenForWhisper('typing', (e) => whispers.push(e));
  const joined = [];
  channel.joining((m) => joined.push(m));
  const events = listen(channel, '.pesan');
  await server.waitSubscribes('presence-chat.3', 1);
  await sleep(50);
  echo.connector.pusher.channel('presence-chat.3').bind('client-typing', (data, metadata) => meta.push(metadata));

  server.event('presence-chat.3', 'pesan', { n: 1 }, 'e:10');
  server.send({ event: 'client-typing', channel: 'presence-chat.3', data: { typing: true, position: 'e:999' }, user_id: '2', position: 'e:999' });
  server.send({ event: 'pusher_internal:member_added', channel: 'presence-chat.3', data: JSON.stringify({ user_id: '2', user_info: { name: 'Budi' } }), position: 'e:998' });
  server.send({ event: 'pusher:cache_miss', channel: 'presence-chat.3', position: 'e:997' });
  server.event('presence-chat.3', 'pesan', { n: 2 }, 'e:11');
  await waitLength(events, 2, 'events around the other frames');
  assert.deepEqual(events.map((e) => e.n), [1, 2], 'e:11 is after e:10: the forged e:999 did not count');
  assert.deepEqual(whispers, [{ typing: true, position: 'e:999' }], 'the whisper as sent');
  assert.deepEqual(meta, [{ user_id: '2' }], 'presence whispers keep user_id');
  assert.deepEqual(joined, [{ name: 'Budi' }]);
  assert.equal(storage.getItem('kabar:app-key:presence-chat.3'), 'e:11');
});

test('kabar:reset reaches .listen(".kabar:reset") as {reason, position}; the channel then resumes from the reset', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  storage.setItem('kabar:app-key:dokumen.4', 'old:50');
  const echo = makeEcho(server, { Pusher: withKabarReplay(PusherJs, { storage }) });
  const channel = echo.channel('dokumen.4');
  const resets = [];
  channel.listen('.kabar:reset', (e) => resets.push(e));
  const got = listen(channel, '.dokumen.updated');
  const [sub] = await server.waitSubscribes('dokumen.4', 1);
  assert.equal(sub.data.since, 'old:50');
  server.send({ event: 'kabar:reset', channel: 'dokumen.4', data: JSON.stringify({ reason: 'epoch_changed', position: 'new:7' }) });
  await waitLength(resets, 1, 'reset');
  assert.deepEqual(resets, [{ reason: 'epoch_changed', position: 'new:7' }]);
  assert.equal(storage.getItem('kabar:app-key:dokumen.4'), 'new:7');
  server.event('dokumen.4', 'dokumen.updated', { n: 1 }, 'new:6');  // before the reset's position
  server.event('dokumen.4', 'dokumen.updated', { n: 2 }, 'new:8');
  await waitLength(got, 1, 'after the reset');
  assert.deepEqual(got, [{ n: 2 }]);
  await server.cut();
  assert.equal((await server.waitSubscribes('dokumen.4', 2))[1].data.since, 'new:8');

  // A reset without a usable position forgets the channel: the next subscribe is a stock one.
  server.send({ event: 'kabar:reset', channel: 'dokumen.4', data: '{"reason":"bad_position"}' });
  await waitLength(resets, 2, 'second reset');
  assert.equal(storage.getItem('kabar:app-key:dokumen.4'), null);
  await server.cut();
  assert.equal((await server.waitSubscribes('dokumen.4', 3))[2].data.since, undefined);
});

test('each instance resumes from its own position; a new one (a reload) from the stored one', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  const Pusher = withKabarReplay(PusherJs, { storage, prefix: 'p/' });
  const tabA = makeEcho(server, { Pusher });
  const gotA = listen(tabA.channel('dokumen.5'), '.u');
  await server.waitSubscribes('dokumen.5', 1);
  server.event('dokumen.5', 'u', { n: 1 }, 'e:10');
  await waitLength(gotA, 1, 'tab A');
  assert.equal(storage.getItem('p/dokumen.5'), 'e:10', 'the prefix option');

  // A second tab (same storage) opens: it starts from what is stored.
  const tabB = makeEcho(server, { Pusher });
  listen(tabB.channel('dokumen.5'), '.u');
  const subs = await server.waitSubscribes('dokumen.5', 2);
  assert.equal(subs[1].data.since, 'e:10');
  server.event('dokumen.5', 'u', { n: 2 }, 'e:12');  // to tab B only (the newest socket)
  await waitUntil(() => storage.getItem('p/dokumen.5') === 'e:12', { what: 'tab B stores e:12', diag: false });

  // Tab A's socket is cut: it resumes from its own e:10, not from tab B's e:12 (which it never got).
  const socketA = server.sockets[0];
  const before = server.connections;
  socketA.close(4200);
  await waitUntil(() => server.connections > before, { what: 'tab A reconnects', diag: false });
  const again = await server.waitSubscribes('dokumen.5', 3);
  assert.equal(again[2].data.since, 'e:10');
  server.event('dokumen.5', 'u', { n: 2 }, 'e:12');
  await waitLength(gotA, 2, 'tab A after the reconnect');
  assert.deepEqual(gotA.map((e) => e.n), [1, 2]);
});

test('a Pusher instance given to Echo as `client` works the same; pusher-js itself is left as it was', async () => {
  const server = await ScriptedServer.start();
  const storage = memoryStorage();
  storage.setItem('kabar:app-key:dokumen.6', 'e:3');
  const sendEventBefore = PusherJs.prototype.send_event;
  const pusher = new PusherJs(KEY, { cluster: '', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false, enabledTransports: ['ws'] });
  assert.equal(withKabarReplay(pusher, { storage }), pusher);
  assert.equal(withKabarReplay(pusher, { storage }), pusher, 'twice is once');
  const echo = makeEcho(server, { client: pusher });
  const got = listen(echo.channel('dokumen.6'), '.u');
  const [sub] = await server.waitSubscribes('dokumen.6', 1);
  assert.equal(sub.data.since, 'e:3');
  server.event('dokumen.6', 'u', { n: 1 }, 'e:3');
  server.event('dokumen.6', 'u', { n: 2 }, 'e:4');
  await waitLength(got, 1, 'events');
  assert.deepEqual(got, [{ n: 2 }]);

  // Stock pusher-js in the same process: no since, every frame delivered, nothing added.
  assert.equal(PusherJs.prototype.send_event, sendEventBefore);
  const stock = makeEcho(server);
  assert.equal(stock.connector.pusher.kabarReplay, undefined);
  const stockGot = listen(stock.channel('dokumen.6'), '.u');
  const subs = await server.waitSubscribes('dokumen.6', 2);
  assert.deepEqual(subs[1].data, { auth: '', channel: 'dokumen.6' });
  server.event('dokumen.6', 'u', { n: 1 }, 'e:3');
  server.event('dokumen.6', 'u', { n: 1 }, 'e:3');
  await waitLength(stockGot, 2, 'stock events');
});

test('a storage that throws costs persistence, not events', async () => {
  const server = await ScriptedServer.start();
  const broken = {
    getItem() { throw new Error('SecurityError'); },
    setItem() { throw new Error('QuotaExceededError'); },
    removeItem() { throw new Error('SecurityError'); },
  };
  const echo = makeEcho(server, { Pusher: withKabarReplay(PusherJs, { storage: broken }) });
  const got = listen(echo.channel('dokumen.7'), '.u');
  await server.waitSubscribes('dokumen.7', 1);
  server.event('dokumen.7', 'u', { n: 1 }, 'e:1');
  await waitLength(got, 1, 'event');
  await server.cut();
  assert.equal((await server.waitSubscribes('dokumen.7', 2))[1].data.since, 'e:1', 'kept in memory');
  server.event('dokumen.7', 'u', { n: 1 }, 'e:1');
  server.event('dokumen.7', 'u', { n: 2 }, 'e:2');
  await waitLength(got, 2, 'after the reconnect');
  assert.deepEqual(got.map((e) => e.n), [1, 2]);
  assert.throws(() => withKabarReplay(PusherJs, { storage: { getItem() {} } }), /no setItem/);
  assert.throws(() => withKabarReplay(42), /Pusher class/);
});
