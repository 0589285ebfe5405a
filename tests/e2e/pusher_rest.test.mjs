// The Pusher REST API as Laravel's broadcaster uses it (the official `pusher` npm SDK signs requests
// the same way as pusher-http-php): every publish is re-published to MQTT (kabar/c/<channel>) and only
// then delivered; signatures, body_md5 and the timestamp window are checked; limits have documented
// codes; channel queries answer from this node's state (docs/pusher.md).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import {
  LOCAL_APP, authFor, established, eventsNamed, mosquittoSub, rawPusher, serverSdk, signedRestUrl, startStack,
} from './pusher-helpers.mjs';

useHarness();

let broker;
let kabar;
let sdk;
let sub;

before(async () => {
  requireKabarBinary();
  ({ broker, kabar } = await startStack({ config: { http: { max_message_bytes: 512 * 1024 } } }));
  sdk = serverSdk(kabar);
  sub = mosquittoSub(broker.port, 'kabar/c/#');
  await sleep(300);  // mosquitto_sub subscribed
});

async function post(path, body, options = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(signedRestUrl(kabar, options.app ?? LOCAL_APP, 'POST', path, text, options), {
    method: 'POST', body: text, headers: { 'Content-Type': 'application/json' },
  });
  return { status: res.status, body: await res.text() };
}

async function subscribedClient(channel) {
  const client = await rawPusher(kabar);
  await established(client);
  client.send({ event: 'pusher:subscribe', data: { auth: '', channel } });
  await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded');
  return client;
}

test('a REST publish goes to MQTT (seen by mosquitto_sub) and comes back to subscribers', async () => {
  // laporan.* is a channel no route but the generic one yields: kabar/c/<channel> (pusher_mobile.test.mjs
  // has the routed ones).
  const client = await subscribedClient('laporan.21');
  const response = await sdk.trigger(['laporan.21', 'laporan.22'], 'App\\Events\\LaporanUpdated', { laporan: { id: 21 } }, { socket_id: '123.456' });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {});
  await waitUntil(() => sub.lines().filter((l) => l.startsWith('kabar/c/laporan.2')).length >= 2, { what: 'two MQTT messages' });
  const [line21] = sub.lines().filter((l) => l.startsWith('kabar/c/laporan.21 '));
  const envelope = JSON.parse(line21.slice('kabar/c/laporan.21 '.length));
  assert.match(envelope.id, /^[A-Za-z0-9._:-]+$/);
  assert.equal(envelope.event, 'App\\Events\\LaporanUpdated');
  assert.deepEqual(envelope.data, { laporan: { id: 21 } }, 'data is the JSON the publisher\'s string holds');
  assert.equal(envelope.socket_id, '123.456');
  const frame = await client.waitFrame((f) => f.event === 'App\\Events\\LaporanUpdated');
  assert.equal(frame.data, '{"laporan":{"id":21}}');
  const ids = sub.lines().filter((l) => l.startsWith('kabar/c/laporan.2')).map((l) => JSON.parse(l.slice(l.indexOf(' ') + 1)).id);
  assert.equal(new Set(ids).size, ids.length, 'every re-published event has its own id');
});

test('batch_events publishes each item to its channel', async () => {
  const a = await subscribedClient('batch.a');
  const b = await subscribedClient('batch.b');
  const response = await sdk.triggerBatch([
    { channel: 'batch.a', name: 'one', data: { n: 1 } },
    { channel: 'batch.b', name: 'two', data: { n: 2 } },
  ]);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {});
  assert.equal(JSON.parse((await a.waitFrame((f) => f.event === 'one')).data).n, 1);
  assert.equal(JSON.parse((await b.waitFrame((f) => f.event === 'two')).data).n, 2);
});

test('bad signature, wrong key, stale timestamp and bad body_md5 get 401 and publish nothing', async () => {
  const client = await subscribedClient('secure.1');
  const body = { name: 'x', data: '{}', channel: 'secure.1' };
  const wrongSecret = { ...LOCAL_APP, secret: 'guessed' };
  const cases = [
    [await post('/apps/local/events', body, { app: wrongSecret }), 'bad_signature'],
    [await post('/apps/local/events', body, { app: { ...LOCAL_APP, key: 'other-key' } }), 'wrong_key'],
    [await post('/apps/local/events', body, { timestamp: Math.floor(Date.now() / 1000) - 3600 }), 'stale_timestamp'],
    [await post('/apps/local/events', body, { md5: '0'.repeat(32) }), 'bad_body_md5'],
  ];
  for (const [response, code] of cases) {
    assert.equal(response.status, 401, response.body);
    assert.equal(JSON.parse(response.body).error, code);
  }
  const unknown = await post('/apps/nope/events', body);
  assert.equal(unknown.status, 404);
  const before = sub.lines().length;
  const ok = await post('/apps/local/events', { ...body, name: 'sentinel' });
  assert.equal(ok.status, 200, ok.body);
  await client.waitFrame((f) => f.event === 'sentinel');
  await sleep(100);
  assert.equal(eventsNamed(client, 'x').length, 0, 'no refused request was delivered');
  assert.equal(sub.lines().length, before + 1, 'only the good request reached MQTT');
});

test('limits: 101 channels and 11 batch items are 400, data over 100 KB is 413, a schema mismatch is 422', async () => {
  const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
  assert.equal((await post('/apps/local/events', { name: 'x', data: '{}', channels })).status, 400);
  const batch = Array.from({ length: 11 }, () => ({ name: 'x', data: '{}', channel: 'c' }));
  assert.equal((await post('/apps/local/batch_events', { batch })).status, 400);
  assert.equal((await post('/apps/local/events', { name: 'x', data: 'x'.repeat(100 * 1024 + 1), channel: 'c' })).status, 413);
  assert.equal((await post('/apps/local/events', { name: 'x', data: '{}', channel: 'not valid!' })).status, 400);
  assert.equal((await post('/apps/local/events', '{"name":')).status, 400);
  const mismatch = await post('/apps/local/events', { name: 'dokumen.updated', data: '{"no":"dokumen"}', channel: 'dokumen.1' });
  assert.equal(mismatch.status, 422, mismatch.body);
  assert.match(JSON.parse(mismatch.body).message, /dokumen/);
});

test('GET /channels, /channels/{name} and /channels/{name}/users report this node\'s state', async () => {
  const ana = await rawPusher(kabar);
  const anaId = await established(ana);
  const channelData = '{"user_id":"1","user_info":{"name":"Ana"}}';
  ana.send({ event: 'pusher:subscribe', data: { channel: 'presence-q.1', auth: authFor(LOCAL_APP, anaId, 'presence-q.1', channelData), channel_data: channelData } });
  await ana.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded');
  await subscribedClient('q.public');

  const list = await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
  assert.equal(list.status, 200);
  assert.deepEqual(await list.json(), { channels: { 'presence-q.1': { user_count: 1 } } });
  const all = await (await sdk.get({ path: '/channels' })).json();
  assert.ok(all.channels['q.public'] && all.channels['presence-q.1']);
  const one = await sdk.get({ path: '/channels/q.public', params: { info: 'subscription_count' } });
  assert.deepEqual(await one.json(), { occupied: true, subscription_count: 1 });
  const users = await sdk.get({ path: '/channels/presence-q.1/users' });
  assert.deepEqual(await users.json(), { users: [{ id: '1' }] });
  const empty = await sdk.get({ path: '/channels/nobody.here' });
  assert.deepEqual(await empty.json(), { occupied: false });
});

test('with the broker down a publish is 503 (never a 200 for an event the broker did not take); it works again after', async () => {
  await broker.stop();
  const down = await post('/apps/local/events', { name: 'lost', data: '{}', channel: 'c' });
  assert.equal(down.status, 503, down.body);
  await broker.start();
  await kabar.waitReady(20000);
  await waitUntil(async () => (await post('/apps/local/events', { name: 'back', data: '{}', channel: 'c' })).status === 200,
    { timeout: 20000, interval: 500, what: 'REST publish works again' });
});
