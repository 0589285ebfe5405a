// Order-ready notices (pesanan.siap, docs/bridge.md "Routing") reach the cashier at the counter: the
// built-in route takes cabang/{id}/pesanan-siap to private-cabang.{id}.pesanan, which the branch's
// cashiers, its admins and the super admin read (a channel of its own, so the branch channel's newest event
// stays the day's figures, what since=latest opens a dashboard with); the built-in policy lets a cashier's mobile app
// subscribe to the topic of her branches, not of others. A broker guarded by kabar's plugin, as compose
// deploys it; kabar and the plugin share the signing secret.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Kabar, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { SseClient, mqttConnect, mqttWithToken, publish } from './lib/clients.mjs';

useHarness();

let broker;
let kabar;
let backend;
const tokens = {};

// 0 when granted, else the SUBACK reason code (MQTT.js rejects refused subscriptions).
async function subscribeCode(client, topic) {
  try {
    await client.subscribeAsync(topic, { qos: 1 });
    return 0;
  } catch (error) {
    const code = error.packet?.granted?.[0] ?? error.code;
    if (typeof code !== 'number') throw error;
    return code;
  }
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto({ guarded: true });
  kabar = await Kabar.create({
    mqttPort: broker.port,
    config: { broker: await broker.credentials('kabar-gateway'), auth: { jwt: { secret_file: broker.secretFile } } },
  });
  await kabar.start();
  backend = await mqttConnect(broker.port, await broker.credentials('laravel'));
  tokens.kasir3 = await kabar.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 });
  tokens.kasir7 = await kabar.token({ sub: 'kasir-7', role: 'kasir', cabang: 7 });
  tokens.admin3 = await kabar.token({ sub: 'admin-3', role: 'admin', cabang: 3 });
  tokens.boss = await kabar.token({ sub: 'boss', role: 'super_admin' });
});

test('an order-ready notice of branch 3 reaches its cashier (/sse and MQTT), its admin and the super admin, no one else', async () => {
  const sse = (token) => SseClient.open(kabar.url('/sse?channel=private-cabang.3.pesanan'), { headers: { Authorization: `Bearer ${token}` } });
  const kasir = await sse(tokens.kasir3);
  const admin = await sse(tokens.admin3);
  const boss = await sse(tokens.boss);
  await assert.rejects(sse(tokens.kasir7), (error) => error.status === 403, 'a cashier of branch 7 may not read branch 3');
  const adminFeed = await SseClient.open(kabar.url('/sse?channel=private-cabang.3.admin'), { headers: { Authorization: `Bearer ${tokens.admin3}` } });
  // The figures' channel stays the figures': its newest event is what a dashboard opens with (since=latest).
  const figures = await SseClient.open(kabar.url('/sse?channel=private-cabang.3'), { headers: { Authorization: `Bearer ${tokens.kasir3}` } });

  // The cashier's mobile app, on the broker with her token.
  const app = await mqttWithToken(`mqtt://127.0.0.1:${broker.port}`, tokens.kasir3);
  const received = [];
  app.on('message', (topic, payload) => received.push({ topic, payload: JSON.parse(payload.toString()) }));
  assert.equal(await subscribeCode(app, 'cabang/3/pesanan-siap'), 0, 'her branch: granted');
  const other = await mqttWithToken(`mqtt://127.0.0.1:${broker.port}`, tokens.kasir3);
  assert.ok((await subscribeCode(other, 'cabang/7/pesanan-siap')) >= 0x80, 'another branch: refused');
  const wildcard = await mqttWithToken(`mqtt://127.0.0.1:${broker.port}`, tokens.kasir3);
  assert.ok((await subscribeCode(wildcard, 'cabang/+/pesanan-siap')) >= 0x80, 'every branch: refused');

  const order = { pesanan: { id: 42, nomor: 'PSN-42', pelanggan: 'Bu Ani', status: 'siap' }, pesan: 'Kacamata siap diambil' };
  await publish(backend, 'cabang/3/pesanan-siap', order);
  await publish(backend, 'cabang/7/pesanan-siap', { pesanan: { id: 43 } });

  for (const [who, client] of [['cashier', kasir], ['admin', admin], ['super admin', boss]]) {
    const message = await client.waitMessage((f) => f.type === 'event', { what: `the notice at the ${who}` });
    assert.equal(message.frame.channel, 'private-cabang.3.pesanan', who);
    assert.equal(message.frame.event, 'pesanan.siap', who);
    assert.deepEqual(message.frame.data, order, who);
  }
  await waitUntil(() => received.length >= 1, { what: 'the notice in the cashier\'s app' });
  await sleep(300);
  assert.deepEqual(received, [{ topic: 'cabang/3/pesanan-siap', payload: order }], 'her branch only');
  for (const client of [kasir, admin, boss]) assert.equal(client.events().length, 1, 'branch 7\'s notice went elsewhere');
  assert.deepEqual(adminFeed.events(), [], 'no longer on the admin feed');
  assert.deepEqual(figures.events(), [], 'not on the figures\' channel');
  for (const client of [kasir, admin, boss, adminFeed, figures]) client.close();
});
