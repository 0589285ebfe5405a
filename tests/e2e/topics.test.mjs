// Topic subscriptions (docs/protocol.md "Topic subscriptions"): a browser subscribes an MQTT filter
// (/sse?topic=, /ws {"type":"subscribe","topic":...}) and gets the events of every channel whose events
// came on matching topics, judged by the policy exactly as the broker plugin judges that SUBSCRIBE.
// Real mosquitto, real kabar, the eventsource polyfill and ws; the built-in routes and policy:
// cabang/{id}/omset -> private-cabang.{id}, cabang/{id}/transaksi -> private-cabang.{id}.admin.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  Kabar, makeTempDir, requireKabarBinary, runKabar, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

const SECRET = 'e2e-topics-secret-e2e-topics-secret-0123456789';
const SETTLE_MS = 300;
let kabar;
let mq;
const tokens = {};
let counter = 0;

// Figures as the schema (schemas/events/omset.updated.schema.json) wants them.
const omset = (branch, id) => {
  const total = ++counter * 1000;
  return publish(mq, `cabang/${branch}/omset`, {
    id, event: 'omset.updated',
    data: { cabang_id: branch, omset_total: total, omset_bpjs: 0, omset_umum: total, jumlah_transaksi: counter },
  });
};
const sseUrl = (query, token) => kabar.url(`/sse?${query}${token ? `&token=${encodeURIComponent(token)}` : ''}`);
const ids = (frames) => frames.map((f) => f.id);
const sseEvents = (sse) => sse.events().map((m) => m.frame);

// Waits until kabar has stored event `id` (the broker's PUBACK says only that the broker has it).
async function stored(channel, id) {
  const probe = await WsClient.connect(kabar.wsUrl);
  probe.send({ type: 'auth', token: tokens.owner });
  await probe.waitFrame((f) => f.type === 'authenticated');
  await probe.subscribe(channel, 'earliest');
  await probe.waitEventId(channel, id);
  probe.close();
}

async function wsAs(token) {
  const ws = await WsClient.connect(kabar.wsUrl);
  if (token) {
    ws.send({ type: 'auth', token });
    await ws.waitFrame((f) => f.type === 'authenticated');
  }
  return ws;
}

before(async () => {
  requireKabarBinary();
  const dir = makeTempDir('kabar-e2e-topics-');
  const secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`);
  const mint = async (...args) => {
    const result = await runKabar(['token', '--secret-file', secretFile, '--ttl', '3600', ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };
  tokens.kasir = await mint('--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3');
  tokens.admin = await mint('--sub', 'admin-3', '--role', 'admin', '--cabang', '3');
  tokens.owner = await mint('--sub', 'owner', '--role', 'super_admin');
  const broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port, config: { auth: { jwt: { secret_file: secretFile, clock_skew_s: 0 } } } });
  await kabar.start();
  mq = await mqttConnect(broker.port);
  // History: two branches' takings, one branch's transactions (another channel), and an event on the
  // branch-1 channel that came on another topic (kabar/c/): a filter on omset must not bring it.
  await omset(1, 'h-1-a');
  await omset(2, 'h-2-a');
  await publish(mq, 'cabang/1/transaksi', { id: 'h-1-trx', event: 'transaksi.created', data: { transaksi: { id: 1, total: 5 } } });
  await publish(mq, 'kabar/c/private-cabang.1', { id: 'h-1-other', event: 'other', data: {} });
  await omset(1, 'h-1-b');
  await stored('private-cabang.1', 'h-1-b');
});

describe('authorization: the broker plugin\'s SUBSCRIBE check', () => {
  test('a cashier\'s cabang/+/omset is refused on /sse and /ws; her own branch\'s topic is allowed', async () => {
    const res = await fetch(sseUrl('topic=cabang%2F%2B%2Fomset', tokens.kasir), { headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 403);
    const body = await res.json();
    assert.equal(body.error, 'forbidden_topic');
    assert.equal(body.topic, 'cabang/+/omset');
    assert.ok(body.reason, 'a reason code');

    const ws = await wsAs(tokens.kasir);
    const refused = await ws.request({ type: 'subscribe', topic: 'cabang/+/omset', ref: 1 });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'forbidden_topic');
    assert.equal(refused.topic, 'cabang/+/omset');
    // Another branch, and a filter that could match topics her rules do not cover, are refused too.
    for (const topic of ['cabang/7/omset', 'cabang/3/#', 'cabang/3/transaksi']) {
      const reply = await ws.request({ type: 'subscribe', topic, ref: topic });
      assert.equal(reply.code, 'forbidden_topic', topic);
    }
    const ok = await ws.request({ type: 'subscribe', topic: 'cabang/3/omset', since: 'earliest', ref: 2 });
    assert.equal(ok.type, 'subscribed');
    assert.equal(ok.topic, 'cabang/3/omset');
    await omset(7, 'k-7');
    await omset(3, 'k-3');
    await ws.waitEventId('private-cabang.3', 'k-3');
    await sleep(SETTLE_MS);
    assert.deepEqual(ws.events().map((f) => f.channel), ['private-cabang.3'], 'her branch only');
    ws.close();
  });

  test('anonymous and bad filters: 403 / 400 with a clear error', async () => {
    const anonymous = await fetch(sseUrl('topic=cabang%2F3%2Fomset'), { headers: { accept: 'text/event-stream' } });
    assert.equal(anonymous.status, 403);
    assert.equal((await anonymous.json()).error, 'forbidden_topic');
    for (const bad of ['cabang%2F%23%2Fomset', 'cabang%2Fx%2B', '']) {
      const res = await fetch(sseUrl(`topic=${bad}`, tokens.owner), { headers: { accept: 'text/event-stream' } });
      assert.equal(res.status, 400, bad);
      assert.equal((await res.json()).error, 'invalid_topic', bad);
    }
    const ws = await wsAs(tokens.owner);
    const reply = await ws.request({ type: 'subscribe', topic: 'a/#/b', ref: 1 });
    assert.equal(reply.code, 'invalid_topic');
    const both = await ws.request({ type: 'subscribe', topic: 'a', channel: 'b', ref: 2 });
    assert.equal(both.code, 'bad_request');
    ws.close();
  });
});

describe('the owner\'s cabang/+/omset', () => {
  test('SSE: history of every branch in order, then live, a branch that starts later, and resume', async () => {
    const sse = await SseClient.open(sseUrl('topic=cabang%2F%2B%2Fomset&since=earliest', tokens.owner));
    await waitUntil(() => sseEvents(sse).some((f) => f.id === 'h-1-b'), { what: 'the history' });
    let events = sseEvents(sse);
    assert.deepEqual(ids(events).filter((id) => id.startsWith('h-')), ['h-1-a', 'h-2-a', 'h-1-b'],
      'omset of both branches, in order; not the transactions, not branch 1\'s event of another topic');
    for (const f of events) assert.match(f.topic, /^cabang\/\d+\/omset$/);
    const seqs = events.map((f) => seqOf(f.position));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');

    await omset(2, 'live-2');
    await omset(9, 'live-9-first'); // branch 9 had no event before: it joins at its first one
    await publish(mq, 'kabar/c/private-cabang.9', { id: 'live-9-other', event: 'other', data: {} });
    await omset(9, 'live-9-second');
    await waitUntil(() => sseEvents(sse).some((f) => f.id === 'live-9-second'), { what: 'branch 9 live' });
    await sleep(SETTLE_MS);
    events = sseEvents(sse);
    const live = ids(events).filter((id) => id.startsWith('live-'));
    assert.deepEqual(live, ['live-2', 'live-9-first', 'live-9-second']);
    const lastId = sse.messages.at(-1).lastEventId;
    sse.close();

    // Away: more events, then back with Last-Event-ID: exactly those, once, in order.
    await omset(1, 'away-1');
    await omset(9, 'away-9');
    await omset(4, 'away-4-new');
    await stored('private-cabang.4', 'away-4-new');
    const back = await SseClient.open(sseUrl('topic=cabang%2F%2B%2Fomset', tokens.owner), { headers: { 'Last-Event-ID': lastId } });
    await waitUntil(() => sseEvents(back).some((f) => f.id === 'away-4-new'), { what: 'the missed events' });
    await sleep(SETTLE_MS);
    assert.deepEqual(ids(sseEvents(back)), ['away-1', 'away-9', 'away-4-new']);
    assert.deepEqual(back.frames.filter((f) => f.type === 'reset'), []);
    back.close();
  });

  test('WS since=latest: the newest event of each branch, then live', async () => {
    const ws = await wsAs(tokens.owner);
    const ok = await ws.request({ type: 'subscribe', topic: 'cabang/+/omset', since: 'latest', ref: 1 });
    assert.equal(ok.type, 'subscribed');
    await waitUntil(() => ws.events().length >= 5, { what: 'the latest of 1, 2, 3, 4, 9' });
    await sleep(SETTLE_MS);
    const byChannel = Object.fromEntries(ws.events().map((f) => [f.channel, f.id]));
    assert.deepEqual(byChannel, {
      'private-cabang.1': 'away-1', 'private-cabang.2': 'live-2', 'private-cabang.3': 'k-3',
      'private-cabang.4': 'away-4-new', 'private-cabang.7': 'k-7', 'private-cabang.9': 'away-9',
    });
    assert.equal(ws.events().length, 6, 'one per branch');
    await omset(3, 'latest-live-3');
    await ws.waitEventId('private-cabang.3', 'latest-live-3');
    ws.close();
  });

  test('WS: a position of another epoch gets a reset per channel, then live events', async () => {
    const ws = await wsAs(tokens.owner);
    await ws.request({ type: 'subscribe', topic: 'cabang/+/omset', since: 'zzzzzzzzzzzz:5', ref: 1 });
    await waitUntil(() => ws.frames.filter((f) => f.type === 'reset').length >= 6, { what: 'six resets' });
    const resets = ws.frames.filter((f) => f.type === 'reset');
    assert.deepEqual(new Set(resets.map((f) => f.reason)), new Set(['epoch_changed']));
    assert.equal(new Set(resets.map((f) => f.channel)).size, 6);
    await omset(2, 'after-reset-2');
    await ws.waitEventId('private-cabang.2', 'after-reset-2');
    assert.deepEqual(ids(ws.events()), ['after-reset-2'], 'nothing replayed after the reset');
    ws.close();
  });

  test('WS live start while events pour in: every event after `subscribed` once, in order', async () => {
    const ws = await wsAs(tokens.owner);
    const pouring = (async () => {
      for (let i = 0; i < 150; i++) await omset(10 + (i % 5), `pour-${i}`);
    })();
    await sleep(30);
    const ok = await ws.request({ type: 'subscribe', topic: 'cabang/+/omset', ref: 1 });
    await pouring;
    await stored('private-cabang.14', 'pour-149');
    await ws.waitFrame((f) => f.id === 'pour-149', { timeout: 10000 });
    await sleep(SETTLE_MS);
    const got = ws.events();
    const start = seqOf(ok.position);
    assert.ok(got.every((f) => seqOf(f.position) > start), 'nothing at or before the subscribed position');
    const n = got.map((f) => Number(f.id.slice('pour-'.length)));
    assert.deepEqual(n, Array.from({ length: n.length }, (_, i) => n[0] + i), 'a contiguous run, once each');
    assert.equal(n.at(-1), 149);
    ws.close();
  });

  test('WS: unsubscribing the topic ends its channels', async () => {
    const ws = await wsAs(tokens.owner);
    await ws.request({ type: 'subscribe', topic: 'cabang/+/omset', ref: 1 });
    await omset(2, 'u-1');
    await ws.waitEventId('private-cabang.2', 'u-1');
    const bye = await ws.request({ type: 'unsubscribe', topic: 'cabang/+/omset', ref: 2 });
    assert.equal(bye.type, 'unsubscribed');
    await omset(2, 'u-2');
    await stored('private-cabang.2', 'u-2');
    await sleep(SETTLE_MS);
    assert.deepEqual(ids(ws.events()), ['u-1']);
    ws.close();
  });
});
