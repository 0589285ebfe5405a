// Pusher protocol 7 on /app/{key}, byte level, with a raw WebSocket: the handshake, ping/pong, error
// and close codes, subscription failures, client-event rules and limits, presence frames, private and
// presence cache channels, app options and isolation, kabar's replay extension, and graceful shutdown
// (docs/pusher.md, shared/docs/pusher-protocol.md §1, §2, §9).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import { mqttConnect, publish, seqOf } from './lib/clients.mjs';
import { LOCAL_APP, authFor, established, eventsNamed, rawPusher, serverSdk, startStack } from './pusher-helpers.mjs';

useHarness();

const QUIET = { id: 'quiet', key: 'quiet-key', secret: 'quiet-secret', enable_client_messages: false, activity_timeout: 45 };
const STRICT = { id: 'strict', key: 'strict-key', secret: 'strict-secret', allowed_origins: ['app.example.com', '*.kabar.test'] };
const TINY = { id: 'tiny', key: 'tiny-key', secret: 'tiny-secret', max_connections: 1 };

let broker;
let kabar;
let sdk;
let mq;

before(async () => {
  requireKabarBinary();
  ({ broker, kabar } = await startStack({ apps: [LOCAL_APP, QUIET, STRICT, TINY], config: { http: { max_message_bytes: 16384 } } }));
  sdk = serverSdk(kabar);
  mq = await mqttConnect(broker.port);
});

async function subscribe(client, channel, extra = {}) {
  const from = client.frames.length;
  client.send({ event: 'pusher:subscribe', data: { auth: '', channel, ...extra } });
  return client.waitFrame((f) => f.channel === channel && /subscription_(succeeded|error)/.test(f.event), { from, what: `subscribe ${channel}` });
}

async function privateSubscribe(client, app, socketId, channel, channelData) {
  const data = { auth: authFor(app, socketId, channel, channelData), channel };
  if (channelData !== undefined) data.channel_data = channelData;
  return subscribe(client, channel, data);
}

test('connection_established comes first: socket id ^\\d+\\.\\d+$, activity_timeout as a number inside a JSON string', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  const first = JSON.parse(client.raw[0]);
  assert.equal(first.event, 'pusher:connection_established');
  assert.equal(typeof first.data, 'string', 'data is double-encoded');
  const data = JSON.parse(first.data);
  assert.match(data.socket_id, /^\d+\.\d+$/);
  assert.equal(data.activity_timeout, 30);

  const quiet = await rawPusher(kabar, { key: QUIET.key });
  await established(quiet);
  assert.equal(JSON.parse(quiet.frames[0].data).activity_timeout, 45, 'per-app activity_timeout');
  assert.notEqual(JSON.parse(quiet.frames[0].data).socket_id, data.socket_id);
});

test('pusher:ping is answered with pusher:pong; pusher:pong needs no answer', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  const t0 = Date.now();
  client.send({ event: 'pusher:ping', data: {} });
  await client.waitFrame((f) => f.event === 'pusher:pong');
  assert.ok(Date.now() - t0 < 1000);
  client.send({ event: 'pusher:pong', data: {} });
  await sleep(200);
  assert.equal(client.frames.length, 2, `no reply to a pong: ${client.describe()}`);
});

test('an unknown app key gets pusher:error 4001 and close code 4001', async () => {
  const client = await rawPusher(kabar, { key: 'no-such-key' });
  const error = await client.waitFrame((f) => f.event === 'pusher:error');
  assert.deepEqual(JSON.parse(error.data), { code: 4001, message: 'Application does not exist' });
  assert.equal(client.raw[0], '{"event":"pusher:error","data":"{\\"code\\":4001,\\"message\\":\\"Application does not exist\\"}"}');
  const close = await client.waitClose();
  assert.equal(close.code, 4001);
});

test('an unsupported protocol version is refused with 4007', async () => {
  const client = await rawPusher(kabar, { query: '?protocol=3' });
  const error = await client.waitFrame((f) => f.event === 'pusher:error');
  assert.equal(JSON.parse(error.data).code, 4007);
  assert.equal((await client.waitClose()).code, 4007);
});

test('a protocol version that is not a number is refused with 4006', async () => {
  const client = await rawPusher(kabar, { query: '?protocol=abc&client=js' });
  const error = await client.waitFrame((f) => f.event === 'pusher:error');
  assert.deepEqual(JSON.parse(error.data), { code: 4006, message: 'Invalid version string format' });
  assert.equal(client.frames[0].event, 'pusher:error', 'no connection_established before it');
  assert.equal((await client.waitClose()).code, 4006);
});

test('a bad signature gets pusher:subscription_error on that channel; the socket stays usable', async () => {
  const client = await rawPusher(kabar);
  const socketId = await established(client);
  const reply = await subscribe(client, 'private-dokumen.1', { auth: `${LOCAL_APP.key}:${'0'.repeat(64)}` });
  assert.equal(reply.event, 'pusher:subscription_error');
  assert.equal(reply.channel, 'private-dokumen.1');
  assert.equal(reply.data.type, 'AuthError');
  assert.equal(reply.data.status, 401);
  // Signed for another socket: also refused.
  const stolen = await subscribe(client, 'private-dokumen.2', { auth: authFor(LOCAL_APP, '1.1', 'private-dokumen.2') });
  assert.equal(stolen.event, 'pusher:subscription_error');
  // Presence with a signature over other channel_data.
  const forged = await subscribe(client, 'presence-dokumen.3', {
    auth: authFor(LOCAL_APP, socketId, 'presence-dokumen.3', '{"user_id":"1"}'),
    channel_data: '{"user_id":"2"}',
  });
  assert.equal(forged.event, 'pusher:subscription_error');
  const good = await privateSubscribe(client, LOCAL_APP, socketId, 'private-dokumen.1');
  assert.equal(good.event, 'pusher_internal:subscription_succeeded');
  // Byte for byte as Reverb sends it, plus kabar's replay extension: where the subscription starts.
  assert.match(client.raw.at(-1), /^\{"event":"pusher_internal:subscription_succeeded","data":"\{\}","channel":"private-dokumen\.1","position":"[0-9a-f]+:\d+(:[\w.:-]+)?"\}$/);
  assert.equal(client.closeInfo, null);
});

test('malformed JSON, unknown events and bad subscribes get pusher:error and change nothing else', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  client.send('this is not json');
  client.send({ no: 'event' });
  client.send({ event: 'pusher:nonsense', data: {} });
  client.send({ event: 'pusher:subscribe', data: {} });
  await waitUntil(() => eventsNamed(client, 'pusher:error').length === 4, { what: 'four errors' });
  for (const error of eventsNamed(client, 'pusher:error')) assert.equal(JSON.parse(error.data).code, 4200);
  const invalid = await subscribe(client, 'bad channel!');
  assert.equal(invalid.event, 'pusher:subscription_error');
  assert.equal(invalid.data.type, 'InvalidChannel');
  // data given as a JSON string is accepted too.
  client.send({ event: 'pusher:subscribe', data: JSON.stringify({ auth: '', channel: 'dokumen.55' }) });
  await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === 'dokumen.55');
  await sdk.trigger('dokumen.55', 'still.works', { ok: true });
  await client.waitFrame((f) => f.event === 'still.works');
  assert.equal(client.closeInfo, null);
});

test('a message over http.max_message_bytes closes the socket with 1009', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  client.send({ event: 'client-big', channel: 'private-x', data: 'x'.repeat(20000) });
  assert.equal((await client.waitClose()).code, 1009);
});

test('server events: data is a string holding the publisher\'s object, plus kabar\'s position', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  await subscribe(client, 'dokumen.60');
  // Laravel's json_encode escapes slashes and non-ASCII. The object travels as JSON through MQTT (so
  // mobile apps get JSON, docs/pusher.md "What a publish does"): the client gets the same object.
  const laravelData = '{"dokumen":{"id":60,"url":"https:\\/\\/x.test\\/d\\/60","nama":"\\u00c9va"}}';
  await sdk.post({ path: '/events', body: { name: 'App\\Events\\DokumenUpdated', data: laravelData, channel: 'dokumen.60' } });
  const frame = await client.waitFrame((f) => f.event === 'App\\Events\\DokumenUpdated');
  assert.equal(typeof frame.data, 'string');
  assert.deepEqual(JSON.parse(frame.data), JSON.parse(laravelData));
  // Data that holds no JSON reaches the client byte for byte.
  const notJson = 'eyJub25jZSI6IngifQ== \\/ \\u00c9';
  await sdk.post({ path: '/events', body: { name: 'opaque', data: notJson, channel: 'dokumen.60' } });
  assert.equal((await client.waitFrame((f) => f.event === 'opaque')).data, notJson);
  assert.equal(frame.channel, 'dokumen.60');
  assert.match(frame.position, /^[^:]+:\d+:[\w.:-]+$/);
  assert.deepEqual(Object.keys(frame), ['event', 'data', 'channel', 'position']);
  // From MQTT, the data object arrives JSON-encoded in a string.
  await publish(mq, 'kabar/c/dokumen.60', { id: 'mq-60', event: 'from.mqtt', data: { a: [1, 2] } });
  const mqtt = await client.waitFrame((f) => f.event === 'from.mqtt');
  assert.equal(mqtt.data, '{"a":[1,2]}');
});

test('client events: private/presence only, subscribers only, never echoed, 10 per second then 4301 without closing', async () => {
  const a = await rawPusher(kabar);
  const b = await rawPusher(kabar);
  const aId = await established(a);
  const bId = await established(b);
  await privateSubscribe(a, LOCAL_APP, aId, 'private-chat.9');
  await privateSubscribe(b, LOCAL_APP, bId, 'private-chat.9');
  await subscribe(a, 'chat.9');

  a.send({ event: 'client-typing', channel: 'chat.9', data: { x: 1 } });
  const onPublic = await a.waitFrame((f) => f.event === 'pusher:error');
  assert.equal(JSON.parse(onPublic.data).code, 4301);
  a.send({ event: 'client-typing', channel: 'private-other', data: {} });
  await waitUntil(() => eventsNamed(a, 'pusher:error').length === 2, { what: 'not-a-member error' });
  assert.equal(JSON.parse(eventsNamed(a, 'pusher:error')[1].data).code, 4009);

  for (let i = 0; i < 15; i++) a.send({ event: 'client-typing', channel: 'private-chat.9', data: { i } });
  await waitUntil(() => eventsNamed(a, 'pusher:error').length >= 7, { what: 'rate limit errors' });
  await sleep(300);
  const relayed = eventsNamed(b, 'client-typing', 'private-chat.9');
  assert.equal(relayed.length, 10, `10 of 15 pass in one second, got ${relayed.length}`);
  assert.deepEqual(relayed[0], { event: 'client-typing', channel: 'private-chat.9', data: { i: 0 } });
  const limited = eventsNamed(a, 'pusher:error').slice(2);
  assert.equal(limited.length, 5);
  for (const error of limited) assert.equal(JSON.parse(error.data).code, 4301);
  assert.equal(eventsNamed(a, 'client-typing').length, 0, 'never echoed to the sender');
  assert.equal(a.closeInfo, null, 'the sender stays connected');
  await sleep(1000);
  a.send({ event: 'client-typing', channel: 'private-chat.9', data: { after: true } });
  await b.waitFrame((f) => f.event === 'client-typing' && f.data.after);
});

// Two subscribers of `channel`: a sender and a receiver (a private-encrypted- channel is signed as a
// private one).
async function whisperPair(channel) {
  const sender = await rawPusher(kabar);
  const receiver = await rawPusher(kabar);
  const senderId = await established(sender);
  const receiverId = await established(receiver);
  for (const [client, id] of [[sender, senderId], [receiver, receiverId]]) {
    const reply = await privateSubscribe(client, LOCAL_APP, id, channel);
    assert.equal(reply.event, 'pusher_internal:subscription_succeeded', `${channel}: ${JSON.stringify(reply)}`);
  }
  return { sender, receiver };
}

// Sends a client event and resolves with the pusher:error it got, or null once the receiver has it.
async function whisperOutcome(sender, receiver, message) {
  const errorsBefore = eventsNamed(sender, 'pusher:error').length;
  const receivedBefore = eventsNamed(receiver, message.event).length;
  sender.send(message);
  return waitUntil(() => {
    const errors = eventsNamed(sender, 'pusher:error');
    if (errors.length > errorsBefore) return { error: { ...JSON.parse(errors.at(-1).data), channel: errors.at(-1).channel } };
    if (eventsNamed(receiver, message.event).length > receivedBefore) return { error: null };
    return null;
  }, { what: `an answer to ${message.event}` });
}

test('client events on private-encrypted- channels are refused with 4301 and reach nobody', async () => {
  const { sender, receiver } = await whisperPair('private-encrypted-chat.1');
  const { error } = await whisperOutcome(sender, receiver, { event: 'client-typing', channel: 'private-encrypted-chat.1', data: { x: 1 } });
  assert.deepEqual(error, { code: 4301, message: 'Client events are only allowed on private and presence channels.', channel: 'private-encrypted-chat.1' });
  await sleep(200);
  assert.equal(eventsNamed(receiver, 'client-typing').length, 0);
  assert.equal(sender.closeInfo, null, 'a refusal keeps the socket open');
});

test('client event names up to 200 bytes and data up to 10 KB pass; one byte more is refused with 4301', async () => {
  const { sender, receiver } = await whisperPair('private-chat.limits');
  const channel = 'private-chat.limits';
  const name200 = `client-${'n'.repeat(193)}`;
  assert.equal((await whisperOutcome(sender, receiver, { event: name200, channel, data: {} })).error, null);
  const { error: longName } = await whisperOutcome(sender, receiver, { event: `${name200}n`, channel, data: {} });
  assert.deepEqual(longName, { code: 4301, message: 'Event names are at most 200 bytes.', channel });

  // The data counts as the compact JSON relayed: a string of 10238 characters is 10240 bytes with quotes.
  const data10k = 'd'.repeat(10 * 1024 - 2);
  assert.equal((await whisperOutcome(sender, receiver, { event: 'client-data', channel, data: data10k })).error, null);
  assert.equal(eventsNamed(receiver, 'client-data').at(-1).data, data10k);
  const { error: bigData } = await whisperOutcome(sender, receiver, { event: 'client-data', channel, data: `${data10k}d` });
  assert.deepEqual(bigData, { code: 4301, message: 'Client event data is over 10 KB.', channel });
  await sleep(200);
  assert.equal(eventsNamed(receiver, 'client-data').length, 1, 'the refused one reached nobody');
  assert.equal(sender.closeInfo, null);
});

test('client events are refused for an app that disabled them', async () => {
  const a = await rawPusher(kabar, { key: QUIET.key });
  const aId = await established(a);
  await privateSubscribe(a, QUIET, aId, 'private-chat.1');
  a.send({ event: 'client-typing', channel: 'private-chat.1', data: {} });
  const error = await a.waitFrame((f) => f.event === 'pusher:error');
  assert.deepEqual(JSON.parse(error.data), { code: 4301, message: 'The app does not have client messaging enabled.' });
});

test('presence frames: subscription_succeeded has ids/hash/count; member_added/removed go to the others only', async () => {
  const ana = await rawPusher(kabar);
  const anaId = await established(ana);
  const anaData = '{"user_id":"1","user_info":{"name":"Ana"}}';
  const joined = await privateSubscribe(ana, LOCAL_APP, anaId, 'presence-room.1', anaData);
  assert.deepEqual(JSON.parse(joined.data), { presence: { ids: ['1'], hash: { 1: { name: 'Ana' } }, count: 1 } });

  const budi = await rawPusher(kabar);
  const budiId = await established(budi);
  const budiData = '{"user_id":2,"user_info":{"name":"Budi"}}';
  const budiJoined = await privateSubscribe(budi, LOCAL_APP, budiId, 'presence-room.1', budiData);
  assert.equal(JSON.parse(budiJoined.data).presence.count, 2);
  const added = await ana.waitFrame((f) => f.event === 'pusher_internal:member_added');
  assert.equal(ana.raw.find((r) => r.includes('member_added')),
    '{"event":"pusher_internal:member_added","data":"{\\"user_id\\":2,\\"user_info\\":{\\"name\\":\\"Budi\\"}}","channel":"presence-room.1"}');
  assert.equal(added.channel, 'presence-room.1');
  assert.equal(eventsNamed(budi, 'pusher_internal:member_added').length, 0, 'the joiner is not told about itself');

  // Another app's channel of the same name is another room.
  const quiet = await rawPusher(kabar, { key: QUIET.key });
  const quietId = await established(quiet);
  const other = await privateSubscribe(quiet, QUIET, quietId, 'presence-room.1', '{"user_id":"9"}');
  assert.deepEqual(JSON.parse(other.data).presence.ids, ['9']);

  budi.send({ event: 'pusher:unsubscribe', data: { channel: 'presence-room.1' } });
  const removed = await ana.waitFrame((f) => f.event === 'pusher_internal:member_removed');
  assert.equal(removed.data, '{"user_id":2}');
  await sleep(200);
  assert.equal(eventsNamed(budi, 'pusher_internal:member_removed').length, 0);
  assert.equal(eventsNamed(quiet, 'pusher_internal:member_added').length, 0, 'apps are isolated');
});

test('private-cache- channels: signed like private ones; a new subscriber gets pusher:cache_miss, later the last event', async () => {
  const channel = 'private-cache-omset.9';
  const first = await rawPusher(kabar);
  const firstId = await established(first);
  const unsigned = await subscribe(first, channel);
  assert.equal(unsigned.event, 'pusher:subscription_error', 'a private cache channel needs the signature');
  assert.equal(unsigned.data.status, 401);
  const from = first.frames.length;
  assert.equal((await privateSubscribe(first, LOCAL_APP, firstId, channel)).event, 'pusher_internal:subscription_succeeded');
  const miss = await first.waitFrame((f) => f.channel === channel && f.event === 'pusher:cache_miss', { from });
  assert.deepEqual(miss, { event: 'pusher:cache_miss', channel });

  await sdk.trigger(channel, 'omset.total', { total: 100 });
  await sdk.trigger(channel, 'omset.total', { total: 250 });
  await waitUntil(() => eventsNamed(first, 'omset.total').length === 2, { what: 'both events live' });

  const later = await rawPusher(kabar);
  const laterId = await established(later);
  await privateSubscribe(later, LOCAL_APP, laterId, channel);
  const cached = await later.waitFrame((f) => f.event === 'omset.total');
  assert.equal(cached.data, '{"total":250}', 'only the last event');
  assert.equal(later.frames.findIndex((f) => f.event === 'pusher_internal:subscription_succeeded') < later.frames.indexOf(cached), true);
  await sdk.trigger(channel, 'omset.total', { total: 300 });
  await waitUntil(() => eventsNamed(later, 'omset.total').length === 2, { what: 'live after the cached one' });
  assert.deepEqual(eventsNamed(later, 'omset.total').map((f) => JSON.parse(f.data).total), [250, 300]);
  assert.equal(eventsNamed(later, 'pusher:cache_miss').length, 0);
});

test('presence-cache- channels: members as on presence channels, then pusher:cache_miss or the last event', async () => {
  const channel = 'presence-cache-room.9';
  const ana = await rawPusher(kabar);
  const anaId = await established(ana);
  const anaData = '{"user_id":"1","user_info":{"name":"Ana"}}';
  const joined = await privateSubscribe(ana, LOCAL_APP, anaId, channel, anaData);
  assert.deepEqual(JSON.parse(joined.data), { presence: { ids: ['1'], hash: { 1: { name: 'Ana' } }, count: 1 } });
  await ana.waitFrame((f) => f.channel === channel && f.event === 'pusher:cache_miss');

  await sdk.trigger(channel, 'room.state', { open: true });
  await ana.waitFrame((f) => f.event === 'room.state');
  const budi = await rawPusher(kabar);
  const budiId = await established(budi);
  const budiJoined = await privateSubscribe(budi, LOCAL_APP, budiId, channel, '{"user_id":"2"}');
  assert.equal(JSON.parse(budiJoined.data).presence.count, 2);
  const cached = await budi.waitFrame((f) => f.event === 'room.state');
  assert.equal(cached.data, '{"open":true}');
  assert.equal(cached.channel, channel);
  await ana.waitFrame((f) => f.event === 'pusher_internal:member_added' && f.channel === channel);
  assert.equal(eventsNamed(budi, 'pusher:cache_miss').length, 0);
});

test('allowed_origins: other origins are refused with 4009', async () => {
  const evil = await rawPusher(kabar, { key: STRICT.key, headers: { Origin: 'https://evil.example.org' } });
  const error = await evil.waitFrame((f) => f.event === 'pusher:error');
  assert.deepEqual(JSON.parse(error.data), { code: 4009, message: 'Origin not allowed' });
  assert.equal((await evil.waitClose()).code, 4009);
  for (const origin of ['https://app.example.com', 'http://a.kabar.test:8080']) {
    const good = await rawPusher(kabar, { key: STRICT.key, headers: { Origin: origin } });
    await established(good);
  }
});

test('max_connections: one over the quota gets 4004; a slot frees when a connection closes', async () => {
  const first = await rawPusher(kabar, { key: TINY.key });
  await established(first);
  const second = await rawPusher(kabar, { key: TINY.key });
  const error = await second.waitFrame((f) => f.event === 'pusher:error');
  assert.deepEqual(JSON.parse(error.data), { code: 4004, message: 'Application is over connection quota' });
  assert.equal((await second.waitClose()).code, 4004);
  first.ws.close();
  await first.waitClose();
  await waitUntil(async () => {
    const third = await rawPusher(kabar, { key: TINY.key });
    await third.waitFrame((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error');
    const ok = third.frames[0].event === 'pusher:connection_established';
    third.close();
    return ok;
  }, { timeout: 5000, what: 'a free slot after close' });
});

test('replay extension: "since" in pusher:subscribe replays what the client missed, in order, then live', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  await subscribe(client, 'replay.1');
  for (let i = 1; i <= 3; i++) await sdk.trigger('replay.1', 'tick', { i });
  await waitUntil(() => eventsNamed(client, 'tick').length === 3, { what: 'three ticks' });
  const seen = eventsNamed(client, 'tick')[0].position;
  client.close();
  for (let i = 4; i <= 5; i++) await sdk.trigger('replay.1', 'tick', { i });

  const again = await rawPusher(kabar);
  await established(again);
  await subscribe(again, 'replay.1', { since: seen });
  await waitUntil(() => eventsNamed(again, 'tick').length === 4, { what: 'four ticks replayed' });
  await sdk.trigger('replay.1', 'tick', { i: 6 });
  await waitUntil(() => eventsNamed(again, 'tick').length === 5, { what: 'then live' });
  const ticks = eventsNamed(again, 'tick');
  assert.deepEqual(ticks.map((f) => JSON.parse(f.data).i), [2, 3, 4, 5, 6]);
  const seqs = ticks.map((f) => seqOf(f.position));
  assert.deepEqual([...seqs].sort((x, y) => x - y), seqs);

  const lost = await rawPusher(kabar);
  await established(lost);
  await subscribe(lost, 'replay.1', { since: 'otherepoch:5' });
  const reset = await lost.waitFrame((f) => f.event === 'kabar:reset');
  assert.equal(JSON.parse(reset.data).reason, 'epoch_changed');
});

test('shutdown: every Pusher client gets pusher:error 4200 and close 4200 (reconnect now)', async () => {
  const client = await rawPusher(kabar);
  await established(client);
  await kabar.stop();
  const error = await client.waitFrame((f) => f.event === 'pusher:error');
  assert.equal(JSON.parse(error.data).code, 4200);
  assert.equal((await client.waitClose()).code, 4200);
});
