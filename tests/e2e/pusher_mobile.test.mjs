// What Laravel publishes through the Pusher REST API reaches the mobile apps (docs/pusher.md "What a
// publish does"): kabar re-publishes it to the topic a route maps the channel to (private-cabang.3 ->
// cabang/3/omset), with data as JSON, so a cashier's MQTT.js app on the guarded broker (kabar's auth
// plugin, the cashier's JWT) receives branch 3's events and never branch 4's. Browsers on /app see
// exactly what they saw before (pusher-js gets the same object, toOthers holds), and an event whose name is
// not the route's own is not held to the route's schema.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kabar, requireKabarBinary, runKabar, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { mqttWithToken } from './lib/clients.mjs';
import { LOCAL_APP, connected, makeEcho, serverSdk, startAuthServer, subscribed } from './pusher-helpers.mjs';

useHarness();

let broker;
let kabar;
let auth;
let sdk;
let kasir;     // MQTT.js as the cashier of branch 3
let observer;  // MQTT.js as a backend: sees every branch, so a missing event is not a missing publish
const atKasir = [];
const atObserver = [];

async function token(...args) {
  const minted = await runKabar(['token', '--secret-file', broker.secretFile, '--ttl', '3600', ...args]);
  assert.equal(minted.status, 0, minted.stderr);
  return minted.stdout.trim();
}

function collect(client, into) {
  client.on('message', (topic, payload) => into.push({ topic, message: JSON.parse(payload.toString()) }));
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto({ guarded: true });
  kabar = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
  await kabar.start();
  auth = await startAuthServer(LOCAL_APP);
  sdk = serverSdk(kabar);
  const url = `mqtt://127.0.0.1:${broker.port}`;
  kasir = await mqttWithToken(url, await token('--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3'));
  await kasir.subscribeAsync('cabang/3/omset', { qos: 1 });
  await assert.rejects(kasir.subscribeAsync('cabang/4/omset', { qos: 1 }), 'the policy keeps branch 4 from a cashier of 3');
  collect(kasir, atKasir);
  observer = await mqttWithToken(url, await token('--sub', 'laravel', '--role', 'backend'));
  await observer.subscribeAsync(['cabang/+/omset', 'kabar/c/#'], { qos: 1 });
  collect(observer, atObserver);
});

after(() => auth?.close());

test('a cashier\'s MQTT.js app gets its branch\'s REST-published events with data as JSON, not other branches\'', async () => {
  const omset = (n) => ({ cabang_id: n, omset_total: 1000 * n, omset_bpjs: 0, omset_umum: 1000 * n, jumlah_transaksi: n });
  assert.equal((await sdk.trigger('private-cabang.3', 'omset.updated', omset(3))).status, 200);
  assert.equal((await sdk.trigger('private-cabang.4', 'omset.updated', omset(4))).status, 200);
  assert.equal((await sdk.trigger('private-cabang.3', 'App\\Events\\Catatan', { teks: 'tutup jam 9', ok: true })).status, 200);

  await waitUntil(() => atObserver.filter((m) => m.topic.startsWith('cabang/')).length >= 3, { what: 'three events on cabang/+/omset', timeout: 10000 });
  await waitUntil(() => atKasir.length >= 2, { what: 'the cashier\'s two events', timeout: 10000 });
  await sleep(300);  // anything more would have come by now

  const topics = atObserver.map((m) => m.topic);
  assert.deepEqual(topics.filter((t) => t.startsWith('cabang/')).sort(), ['cabang/3/omset', 'cabang/3/omset', 'cabang/4/omset']);
  assert.ok(!topics.some((t) => t.startsWith('kabar/c/private-cabang.')), 'routed channels are not also sent to kabar/c/');

  assert.equal(atKasir.length, 2, `only branch 3's: ${JSON.stringify(atKasir)}`);
  const [first, second] = atKasir;
  assert.equal(first.topic, 'cabang/3/omset');
  assert.equal(first.message.event, 'omset.updated');
  assert.deepEqual(first.message.data, omset(3), 'data is a JSON object, not a string');
  assert.equal(first.message.app, LOCAL_APP.id);
  assert.match(first.message.id, /^[A-Za-z0-9._:-]+$/);
  assert.equal(second.message.event, 'App\\Events\\Catatan');
  assert.deepEqual(second.message.data, { teks: 'tutup jam 9', ok: true });
  assert.ok(!atKasir.some((m) => JSON.stringify(m).includes('"cabang_id":4')));
});

test('pusher-js still gets the same object, toOthers holds, and an event not the route\'s own is not held to its schema', async () => {
  const ana = makeEcho(kabar, { user: '1:Ana', authUrl: auth.url });
  const budi = makeEcho(kabar, { user: '2:Budi', authUrl: auth.url });
  const anaSocket = await connected(ana);
  await connected(budi);
  const got = { ana: [], budi: [] };
  const anaChannel = ana.private('cabang.3').listen('.App\\Events\\Laporan', (e) => got.ana.push(e));
  const budiChannel = budi.private('cabang.3').listen('.App\\Events\\Laporan', (e) => got.budi.push(e));
  await Promise.all([subscribed(anaChannel), subscribed(budiChannel)]);

  // Not omset.updated's shape: on cabang/3/omset it is checked by its own name (no schema), not the route's.
  const laporan = { laporan: { id: 7, url: 'https://x.test/l/7', nama: 'Éva', angka: [1, 2.5, null], kosong: {} } };
  assert.equal((await sdk.trigger('private-cabang.3', 'App\\Events\\Laporan', laporan)).status, 200);
  assert.equal((await sdk.trigger('private-cabang.3', 'App\\Events\\Laporan', { laporan: { id: 8 } }, { socket_id: anaSocket })).status, 200);
  await waitUntil(() => got.budi.length === 2, { what: 'Budi gets both events', timeout: 10000 });
  await sleep(300);
  assert.deepEqual(got.budi[0], laporan, 'the object Laravel sent');
  assert.deepEqual(got.budi[1], { laporan: { id: 8 } });
  assert.deepEqual(got.ana, [laporan], 'toOthers: the publisher\'s own socket does not get the second');

  // A data string that holds no JSON stays a string; a JSON string inside the string is not unwrapped.
  const raw = [];
  budiChannel.listen('.teks', (e) => raw.push(e));
  await sdk.post({ path: '/events', body: { name: 'teks', data: 'bukan json', channel: 'private-cabang.3' } });
  await sdk.post({ path: '/events', body: { name: 'teks', data: '"{\\"a\\":1}"', channel: 'private-cabang.3' } });
  await waitUntil(() => raw.length === 2, { what: 'two text events', timeout: 10000 });
  assert.deepEqual(raw, ['bukan json', '{"a":1}']);
  await waitUntil(() => atKasir.some((m) => m.message.event === 'teks' && m.message.data === '"{\\"a\\":1}"'), { what: 'the JSON string kept as a string on MQTT' });
  assert.ok(atKasir.some((m) => m.message.event === 'teks' && m.message.data === 'bukan json'));
});

test('the route\'s own event is still checked against the route\'s schema: 422, nothing published', async () => {
  const before = atKasir.length;
  const error = await sdk.trigger('private-cabang.3', 'omset.updated', { not: 'figures' }).then(() => null, (e) => e);
  assert.equal(error?.status, 422, String(error));
  assert.match(error.body, /omset\.updated/);
  await sleep(300);
  assert.equal(atKasir.length, before);
});
