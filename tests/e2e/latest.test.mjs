// since=latest (docs/protocol.md): a page that shows the current state subscribes with it and first gets
// the newest stored event of each channel (nothing, and no reset, for an empty channel; on SSE several
// channels in position order), then live events with no gap and no duplicate at the seam, on /ws, /sse
// and the Pusher door (`since: "latest"`, the newest event that app may see).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { requireKabarBinary, sleep, useHarness } from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish, seqOf } from './lib/clients.mjs';
import { LOCAL_APP, eventsNamed, established, rawPusher, serverSdk, startStack } from './pusher-helpers.mjs';

useHarness();

const OTHER_APP = { id: 'other', key: 'other-key', secret: 'other-secret' };
let kabar;
let mq;
const pub = (channel, id) => publish(mq, `kabar/c/${channel}`, { id, event: 'latest.test', data: { id } });
const ids = (frames) => frames.map((f) => f.id);
const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
const SETTLE_MS = 300; // after the last expected event: time for an unexpected extra one to show up

// Waits until kabar has stored event `id` of `channel` (a broker's PUBACK says only that the broker has
// it): a replay from the start shows it.
async function stored(channel, id) {
  const probe = await WsClient.connect(kabar.wsUrl);
  await probe.subscribe(channel, 'earliest');
  await probe.waitEventId(channel, id);
  probe.close();
}

before(async () => {
  requireKabarBinary();
  let broker;
  ({ broker, kabar } = await startStack({ apps: [LOCAL_APP, OTHER_APP] }));
  mq = await mqttConnect(broker.port);
});

test('WS since=latest: the newest stored event, then live events; nothing older', async () => {
  const channel = 'lt.ws';
  for (let i = 0; i < 5; i++) await pub(channel, `w-${i}`);
  await pub('lt.elsewhere', 'x-0'); // newer, on another channel
  await stored(channel, 'w-4');
  await stored('lt.elsewhere', 'x-0');
  const ws = await WsClient.connect(kabar.wsUrl);
  const subscribed = await ws.subscribe(channel, 'latest');
  const [newest] = await ws.waitEvents(channel, 1);
  assert.equal(newest.id, 'w-4');
  assert.ok(seqOf(newest.position) <= seqOf(subscribed.position), 'the newest event at or before subscribed.position');
  assert.ok(ws.frames.indexOf(subscribed) < ws.frames.indexOf(newest), 'subscribed comes first');
  await pub(channel, 'w-5');
  await ws.waitEventId(channel, 'w-5');
  await sleep(SETTLE_MS);
  assert.deepEqual(ids(ws.events(channel)), ['w-4', 'w-5']);
  assert.deepEqual(ws.frames.filter((f) => f.type === 'reset' || f.type === 'error'), []);
  ws.close();
});

test('WS since=latest on an empty channel: nothing, no reset, then live events', async () => {
  const channel = 'lt.empty';
  const ws = await WsClient.connect(kabar.wsUrl);
  const subscribed = await ws.subscribe(channel, 'latest');
  await sleep(SETTLE_MS);
  assert.deepEqual(ws.frames.slice(ws.frames.indexOf(subscribed) + 1), [], 'nothing after subscribed');
  await pub(channel, 'e-0');
  await ws.waitEventId(channel, 'e-0');
  await sleep(SETTLE_MS);
  assert.deepEqual(ws.frames.slice(ws.frames.indexOf(subscribed) + 1).map((f) => f.type), ['event']);
  ws.close();
});

test('SSE since=latest over several channels: the newest of each in position order, then live; Last-Event-ID wins', async () => {
  await pub('lt.b', 'b-0');
  await pub('lt.a', 'a-0');
  await pub('lt.a', 'a-1');
  await pub('lt.b', 'b-1');
  await pub('lt.c', 'c-0'); // not asked for
  await pub('lt.a', 'a-2');
  await stored('lt.a', 'a-2'); // and everything before it: kabar stores in the order the broker delivers
  const url = kabar.url('/sse?channel=lt.a&channel=lt.b&channel=lt.none&since=latest');
  const sse = await SseClient.open(url);
  await sse.waitEvents(undefined, 2);
  await pub('lt.b', 'b-2');
  await sse.waitMessage((f) => f.id === 'b-2');
  await sleep(SETTLE_MS);
  assert.deepEqual(sse.frames.map((f) => f.id), ['b-1', 'a-2', 'b-2'], 'the newest of each, by position, then live; nothing for lt.none');
  for (const m of sse.messages) assert.equal(m.lastEventId, m.frame.position, 'each carries id: <position>');
  const [b1] = sse.events('lt.b');
  sse.close();

  // A browser that reconnects sends Last-Event-ID: it resumes exactly after it, older events included.
  const again = await SseClient.open(url, { headers: { 'Last-Event-ID': b1.frame.position } });
  await again.waitMessage((f) => f.id === 'b-2');
  await sleep(SETTLE_MS);
  assert.deepEqual(again.frames.map((f) => f.id), ['a-2', 'b-2']);
  again.close();
});

// The seam: subscriptions made while a backend keeps publishing get, from the newest event at their
// subscription on, every event once and in order: none skipped, none twice.
test('since=latest while events are published: each later event arrives once (WS and SSE)', async () => {
  const channel = 'lt.seam';
  const N = 400;
  // What a live subscriber has received is stored (kabar delivers only what it committed).
  const watcher = await WsClient.connect(kabar.wsUrl);
  await watcher.subscribe(channel);
  const storedNow = () => Number(watcher.events(channel).at(-1).id.slice(2));
  let publishing = true;
  const publisher = (async () => {
    try {
      for (let i = 0; i < N; i++) {
        await pub(channel, `s-${i}`);
        if (i % 10 === 0) await sleep(5);
      }
    } finally {
      publishing = false;
    }
  })();
  await watcher.waitEvents(channel, 60);
  const storedBeforeWs = storedNow();
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe(channel, 'latest');
  const storedBeforeSse = storedNow();
  const sse = await SseClient.open(kabar.url(`/sse?channel=${channel}&since=latest`));
  const stillPublishing = publishing;
  await publisher;
  assert.ok(stillPublishing, 'both subscribed while events were still being published (otherwise the test proves less)');
  await watcher.waitEventId(channel, `s-${N - 1}`);
  await ws.waitEventId(channel, `s-${N - 1}`);
  await sse.waitMessage((f) => f.id === `s-${N - 1}`);
  await sleep(SETTLE_MS);

  const check = (got, storedBefore, what) => {
    const first = Number(got[0].slice(2));
    assert.ok(first >= storedBefore, `${what}: starts at the newest event stored when it subscribed (s-${first} >= s-${storedBefore})`);
    assert.deepEqual(got, range('s-', first, N - 1), `${what}: every event from there on, once, in order`);
  };
  check(ids(ws.events(channel)), storedBeforeWs, 'WS');
  check(sse.events(channel).map((m) => m.frame.id), storedBeforeSse, 'SSE');
  assert.ok(Number(ids(ws.events(channel))[0].slice(2)) < N - 1, 'WS subscribed before the last event (a seam was crossed)');
  assert.deepEqual(ws.frames.filter((f) => f.type === 'reset'), []);
  assert.deepEqual(sse.frames.filter((f) => f.type === 'reset'), []);
  for (const c of [watcher, ws, sse]) c.close();
});

test('Pusher since: "latest": the newest event this app may see, then live; empty channels get nothing', async () => {
  const channel = 'lt.pusher';
  const watcher = await WsClient.connect(kabar.wsUrl); // /ws belongs to no app: it sees all three
  await watcher.subscribe(channel);
  await pub(channel, 'p-0'); // MQTT: every app's
  await pub(channel, 'p-1');
  await serverSdk(kabar, OTHER_APP).trigger(channel, 'latest.test', { id: 'other-app-only' }); // newer, another app's
  await watcher.waitEvents(channel, 3);
  watcher.close();
  const client = await rawPusher(kabar);
  await established(client);
  for (const name of [channel, 'lt.pusher-empty']) {
    client.send({ event: 'pusher:subscribe', data: { auth: '', channel: name, since: 'latest' } });
    await client.waitFrame((f) => f.channel === name && f.event === 'pusher_internal:subscription_succeeded', { what: `subscribed ${name}` });
  }
  await client.waitFrame((f) => f.event === 'latest.test', { what: 'the newest event' });
  await serverSdk(kabar).trigger(channel, 'latest.test', { id: 'p-2' });
  await client.waitFrame((f) => f.event === 'latest.test' && JSON.parse(f.data).id === 'p-2', { what: 'live event' });
  await sleep(SETTLE_MS);
  assert.deepEqual(eventsNamed(client, 'latest.test').map((f) => JSON.parse(f.data).id), ['p-1', 'p-2']);
  assert.deepEqual(client.frames.filter((f) => /cache_miss|kabar:reset|pusher:error/.test(f.event)), [],
    'no cache_miss (not a cache channel), no reset, no error');
  client.close();
});
