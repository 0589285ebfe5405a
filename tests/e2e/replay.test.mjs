// Replay is exact: a client that comes back with a position gets every event after it, in order, once,
// then live events with no gap and no duplicate at the seam; or an explicit `reset` when the store no
// longer covers that position (pruned, wiped, ahead, garbage). Both /ws (`since`) and /sse
// (Last-Event-ID header, ?last_event_id=, ?since=earliest).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { before, test } from 'node:test';
import { Kabar, keysOf, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { POSITION_RE, SseClient, WsClient, epochOf, mqttConnect, publish, publishMany, seqOf } from './lib/clients.mjs';

useHarness();

let broker;
let kabar;
let mq;
const pub = (channel, id, data) => publish(mq, `kabar/c/${channel}`, { id, event: 'replay.test', data: data ?? { id } });
const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
const ids = (frames) => frames.map((f) => f.id);
const SETTLE_MS = 300; // after the last expected event: time for an unexpected extra one to show up

// A compact account of how two id lists differ (the full diff of 1,500 ids is unreadable).
function summarize(actual, expected) {
  const counts = new Map();
  for (const id of actual) counts.set(id, (counts.get(id) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  const missing = expected.filter((id) => !counts.has(id));
  const extra = [...counts.keys()].filter((id) => !expected.includes(id));
  return `got ${actual.length} (first ${JSON.stringify(actual.slice(0, 3))}, last ${JSON.stringify(actual.slice(-3))}), expected ${expected.length}; ` +
    `missing ${missing.length} ${JSON.stringify(missing.slice(0, 5))}; extra ${extra.length} ${JSON.stringify(extra.slice(0, 5))}; duplicated ${dups.length} ${JSON.stringify(dups.slice(0, 5))}`;
}

function assertAscending(frames, what) {
  for (let i = 1; i < frames.length; i++) {
    assert.ok(seqOf(frames[i].position) > seqOf(frames[i - 1].position),
      `${what}: positions ascend (${frames[i - 1].position} then ${frames[i].position})`);
  }
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

test('WS since=<position> replays exactly the missed events, then live, no duplicate at the seam while publishing continuously', async () => {
  const channel = 'rp.seam';
  const live = await WsClient.connect(kabar.wsUrl);
  await live.subscribe(channel);
  for (let i = 0; i < 20; i++) await pub(channel, `s-${i}`);
  await live.waitEvents(channel, 20);
  const since = live.events(channel)[4].position; // the client "processed" s-0..s-4

  // Publish s-20..s-399 continuously; subscribe B and C with since while that runs.
  let publishing = true;
  const publisher = (async () => {
    try {
      for (let i = 20; i < 400; i++) {
        await pub(channel, `s-${i}`);
        if (i % 10 === 0) await sleep(5); // keep publishing long enough for both subscribes to land mid-stream
      }
    } finally {
      publishing = false;
    }
  })();
  await live.waitEvents(channel, 60);
  const b = await WsClient.connect(kabar.wsUrl);
  const subB = await b.subscribe(channel, since);
  const sse = await SseClient.open(kabar.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': since } });
  await live.waitEvents(channel, 200);
  const c = await WsClient.connect(kabar.wsUrl);
  await c.subscribe(channel, since);
  const stillPublishing = publishing;
  await publisher;
  assert.ok(stillPublishing, 'C subscribed while events were still being published (otherwise the test proves less)');

  await live.waitEvents(channel, 400);
  await b.waitEventId(channel, 's-399');
  await c.waitEventId(channel, 's-399');
  await sse.waitMessage((f) => f.id === 's-399');
  await sleep(SETTLE_MS);

  const expected = range('s-', 5, 399);
  assert.equal(b.frames.indexOf(subB) < b.frames.findIndex((f) => f.type === 'event'), true, 'subscribed comes before the replayed events');
  assert.deepEqual(ids(b.events(channel)), expected, 'B: exactly the missed events then live, each once');
  assert.deepEqual(ids(c.events(channel)), expected, 'C: exactly the missed events then live, each once');
  assert.deepEqual(ids(live.events(channel)), range('s-', 0, 399), 'live subscriber: everything once');
  assert.deepEqual(sse.events(channel).map((m) => m.frame.id), expected, 'SSE with Last-Event-ID mid-stream: same');
  assert.deepEqual(sse.events(channel).map((m) => m.frame), b.events(channel), 'SSE frames equal the WS frames');
  assertAscending(b.events(channel), 'B');
  assertAscending(c.events(channel), 'C');
  // Replayed and live frames are the same objects: same positions as the live subscriber saw.
  const livePositions = new Map(live.events(channel).map((f) => [f.id, f.position]));
  for (const f of b.events(channel)) assert.equal(f.position, livePositions.get(f.id), `position of ${f.id}`);
  assert.equal(b.frames.filter((f) => f.type === 'reset' || f.type === 'error').length, 0, 'no reset/error for a covered position');
  for (const x of [live, b, c, sse]) x.close();
});

test('WS since=earliest gets everything retained then live; subscribing again replaces the subscription with a new replay', async () => {
  const channel = 'rp.seam'; // 400 events from the previous test
  const d = await WsClient.connect(kabar.wsUrl);
  const sub = await d.subscribe(channel, 'earliest');
  assert.equal(sub.channel, channel);
  await d.waitEventId(channel, 's-399');
  await pub(channel, 's-400');
  await d.waitEventId(channel, 's-400');
  await sleep(SETTLE_MS);
  assert.deepEqual(ids(d.events(channel)), range('s-', 0, 400));
  assertAscending(d.events(channel), 'earliest');

  // Re-subscribe from the position of s-397: a fresh replay s-398.. then live.
  const all = d.events(channel);
  const from = d.frames.length;
  const again = await d.subscribe(channel, all[397].position);
  const index = d.frames.indexOf(again);
  assert.ok(index >= from);
  await d.waitFrame((f) => f.type === 'event' && f.id === 's-400', { from: index + 1 });
  await pub(channel, 's-401');
  await d.waitFrame((f) => f.type === 'event' && f.id === 's-401', { from: index + 1 });
  await sleep(SETTLE_MS);
  const after = d.frames.slice(index + 1).filter((f) => f.type === 'event');
  assert.deepEqual(ids(after), ['s-398', 's-399', 's-400', 's-401'], 'the second subscribe replays from its own since');
  d.close();
});

test('re-subscribing while a long replay is still running: after the second `subscribed`, exactly the events after its since', async () => {
  const channel = 'rp.long';
  const N = 1500; // several replay pages (http.replay_page 500)
  await publishMany(mq, N, (i) => ({ topic: `kabar/c/${channel}`, payload: { id: `l-${i}`, event: 'replay.test', data: { i, pad: 'p'.repeat(200) } } }), { window: 50 });
  const probe = await WsClient.connect(kabar.wsUrl);
  await probe.subscribe(channel, 'earliest');
  await probe.waitEventId(channel, `l-${N - 1}`, { timeout: 20000 });
  const positions = probe.events(channel).map((f) => f.position);
  assert.equal(positions.length, N);
  probe.close();

  // Re-subscribe without waiting for the first replay to finish.
  const ws = await WsClient.connect(kabar.wsUrl);
  const from = ws.frames.length;
  ws.send({ type: 'subscribe', channel, since: 'earliest', ref: 'first' });
  ws.send({ type: 'subscribe', channel, since: positions[N - 11], ref: 'second' });
  const second = await ws.waitFrame((f) => f.type === 'subscribed' && f.ref === 'second', { from });
  await pub(channel, `l-${N}`);
  await ws.waitFrame((f) => f.type === 'event' && f.id === `l-${N}`, { from: ws.frames.indexOf(second) + 1, timeout: 10000 });
  await sleep(SETTLE_MS);
  const afterSecond = ws.frames.slice(ws.frames.indexOf(second) + 1).filter((f) => f.type === 'event');
  const expectedAfter = range('l-', N - 10, N);
  assert.ok(JSON.stringify(ids(afterSecond)) === JSON.stringify(expectedAfter),
    `after the second subscribed: exactly the events after its since; ${summarize(ids(afterSecond), expectedAfter)}`);

  ws.close();
});

test('unsubscribing while a long replay is still running: nothing of the channel after `unsubscribed`', async () => {
  const channel = 'rp.long'; // 1,501 events from the previous test
  const N = 1500;
  const watcher = await WsClient.connect(kabar.wsUrl);
  await watcher.subscribe(channel);
  const ws2 = await WsClient.connect(kabar.wsUrl);
  ws2.send({ type: 'subscribe', channel, since: 'earliest', ref: 's' });
  ws2.send({ type: 'unsubscribe', channel, ref: 'u' });
  const unsubscribed = await ws2.waitFrame((f) => f.type === 'unsubscribed' && f.ref === 'u');
  await pub(channel, `l-${N + 1}`);
  await watcher.waitEventId(channel, `l-${N + 1}`);
  await sleep(SETTLE_MS);
  const late = ws2.frames.slice(ws2.frames.indexOf(unsubscribed) + 1).filter((f) => f.type === 'event');
  assert.deepEqual(ids(late), [], `no event after unsubscribed; ${summarize(ids(late), [])}`);
  watcher.close();
  ws2.close();
});

test('WS since ahead of the head -> reset position_ahead, then live', async () => {
  const channel = 'rp.ahead';
  await pub(channel, 'a-0');
  const ws = await WsClient.connect(kabar.wsUrl);
  const sub = await ws.subscribe(channel);
  const ahead = `${ws.welcome.epoch}:${seqOf(sub.position) + 1000000}`;
  const ws2 = await WsClient.connect(kabar.wsUrl);
  await ws2.subscribe(channel, ahead);
  const reset = await ws2.waitFrame((f) => f.type === 'reset', { what: 'reset' });
  assert.deepEqual(keysOf(reset), ['channel', 'position', 'reason', 'type']);
  assert.equal(reset.channel, channel);
  assert.equal(reset.reason, 'position_ahead');
  assert.match(reset.position, POSITION_RE);
  assert.equal(epochOf(reset.position), ws.welcome.epoch);
  assert.ok(seqOf(reset.position) < seqOf(ahead));
  await pub(channel, 'a-1');
  await ws2.waitEventId(channel, 'a-1');
  await sleep(SETTLE_MS);
  assert.deepEqual(ids(ws2.events(channel)), ['a-1'], 'after the reset: live events only, no old history');
  assert.ok(seqOf(ws2.events(channel)[0].position) > seqOf(reset.position));
  ws.close();
  ws2.close();
});

test('WS since=<garbage> -> reset bad_position, then live; the connection stays usable', async () => {
  const channel = 'rp.garbage';
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe(channel, 'not-a-position');
  const reset = await ws.waitFrame((f) => f.type === 'reset' || f.type === 'error', { what: 'reset for a garbage since' });
  assert.equal(reset.type, 'reset', `a malformed position gives a reset: ${JSON.stringify(reset)}`);
  assert.equal(reset.reason, 'bad_position');
  assert.equal(reset.channel, channel);
  await pub(channel, 'g-1');
  await ws.waitEventId(channel, 'g-1');
  ws.close();
});

test('SSE Last-Event-ID header and ?last_event_id= replay exactly what was missed; the header wins; since=earliest', async () => {
  const channel = 'rp.sse';
  const url = kabar.url(`/sse?channel=${channel}`);
  const first = await SseClient.open(url);
  for (let i = 0; i < 10; i++) await pub(channel, `e-${i}`);
  await first.waitEvents(channel, 10);
  const processed = first.events(channel)[5]; // the browser saw e-0..e-5 then went away
  const lastId = processed.lastEventId;
  assert.equal(lastId, processed.frame.position);
  first.close();
  for (let i = 10; i < 15; i++) await pub(channel, `e-${i}`); // missed while away

  const byHeader = await SseClient.open(url, { headers: { 'Last-Event-ID': lastId } });
  const byQuery = await SseClient.open(`${url}&last_event_id=${encodeURIComponent(lastId)}`);
  const watcher = await WsClient.connect(kabar.wsUrl);
  await watcher.subscribe(channel, 'earliest');
  await watcher.waitEventId(channel, 'e-14');
  const e12 = watcher.events(channel).find((f) => f.id === 'e-12').position;
  const bothHeaderWins = await SseClient.open(`${url}&last_event_id=${encodeURIComponent(lastId)}`, { headers: { 'Last-Event-ID': e12 } });
  const earliest = await SseClient.open(`${url}&since=earliest`);

  await pub(channel, 'e-15'); // live after the replay
  for (const c of [byHeader, byQuery, bothHeaderWins, earliest]) await c.waitMessage((f) => f.id === 'e-15', { timeout: 5000 });
  await sleep(SETTLE_MS);

  const check = (client, expected, what) => {
    const events = client.events(channel);
    assert.deepEqual(events.map((m) => m.frame.id), expected, what);
    for (const m of events) assert.equal(m.lastEventId, m.frame.position, `${what}: id: is the position`);
    assertAscending(events.map((m) => m.frame), what);
    assert.equal(client.frames.filter((f) => f.type !== 'event').length, 0, `${what}: no other frames (${client.describe()})`);
  };
  check(byHeader, range('e-', 6, 15), 'Last-Event-ID header');
  check(byQuery, range('e-', 6, 15), '?last_event_id=');
  check(bothHeaderWins, range('e-', 13, 15), 'header wins over last_event_id=');
  check(earliest, range('e-', 0, 15), 'since=earliest');
  for (const c of [byHeader, byQuery, bothHeaderWins, earliest, watcher]) c.close();
});

test('multi-channel SSE replay: one Last-Event-ID cursor covers all channels of the stream, in position order', async () => {
  const url = kabar.url('/sse?channel=rp.m1&channel=rp.m2');
  const first = await SseClient.open(url);
  await pub('rp.m1', 'x-0');
  await pub('rp.m2', 'x-1');
  await first.waitMessage((f) => f.id === 'x-1');
  const cursor = first.events().find((m) => m.frame.id === 'x-1').lastEventId;
  first.close();
  await pub('rp.m1', 'x-2');
  await pub('rp.m3', 'x-3'); // not on the stream
  await pub('rp.m2', 'x-4');
  await pub('rp.m1', 'x-5');
  const again = await SseClient.open(url, { headers: { 'Last-Event-ID': cursor } });
  await pub('rp.m2', 'x-6');
  await again.waitMessage((f) => f.id === 'x-6');
  await sleep(SETTLE_MS);
  assert.deepEqual(again.events().map((m) => m.frame.id), ['x-2', 'x-4', 'x-5', 'x-6']);
  assertAscending(again.events().map((m) => m.frame), 'multi-channel replay');
  again.close();
});

test('SSE with a garbage Last-Event-ID (header or query) opens with reset bad_position carrying id:, then continues live', async () => {
  const channel = 'rp.ssebad';
  const byHeader = await SseClient.open(kabar.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': 'garbage!' } });
  const byQuery = await SseClient.open(kabar.url(`/sse?channel=${channel}&last_event_id=zzz`));
  for (const client of [byHeader, byQuery]) {
    const first = await client.waitMessage(() => true, { what: 'first message' });
    assert.equal(first.frame.type, 'reset', `first frame is a reset: ${first.data}`);
    assert.deepEqual(keysOf(first.frame), ['channel', 'position', 'reason', 'type']);
    assert.equal(first.frame.reason, 'bad_position');
    assert.equal(first.frame.channel, channel);
    assert.match(first.frame.position, POSITION_RE);
    assert.equal(first.lastEventId, first.frame.position, 'a reset carries id: of the head it resumes from');
  }
  await pub(channel, 'b-1');
  for (const client of [byHeader, byQuery]) {
    await client.waitMessage((f) => f.id === 'b-1');
    assert.deepEqual(client.events(channel).map((m) => m.frame.id), ['b-1']);
  }
  byHeader.close();
  byQuery.close();
});

test('retention pruned past the cursor -> reset history_pruned (WS and SSE), never a silent gap', async () => {
  const pruning = await Kabar.create({
    mqttPort: broker.port,
    config: { store: { retention_max_per_channel: 5, retention_interval_ms: 200 } },
  });
  await pruning.start();
  const channel = 'pr.a';
  const watcher = await WsClient.connect(pruning.wsUrl);
  await watcher.subscribe(channel);
  for (let i = 0; i < 20; i++) await pub(channel, `pr-${i}`);
  await watcher.waitEvents(channel, 20);
  const pos = Object.fromEntries(watcher.events(channel).map((f) => [f.id, f.position]));

  // Retention keeps exactly the newest 5 (once the pruner has run).
  let retained = [];
  await waitUntil(async () => {
    const probe = await WsClient.connect(pruning.wsUrl);
    await probe.subscribe(channel, 'earliest');
    await probe.waitEventId(channel, 'pr-19');
    await sleep(100);
    retained = ids(probe.events(channel));
    probe.close();
    return retained.length <= 5;
  }, { timeout: 10000, interval: 200, what: 'retention to prune pr.a to 5 events' });
  assert.deepEqual(retained, range('pr-', 15, 19), 'since=earliest replays exactly what is retained');

  for (const sinceId of ['pr-0', 'pr-13']) {
    const ws = await WsClient.connect(pruning.wsUrl);
    await ws.subscribe(channel, pos[sinceId]);
    const reset = await ws.waitFrame((f) => f.type === 'reset', { what: `reset for since=${sinceId}` });
    assert.deepEqual(keysOf(reset), ['channel', 'position', 'reason', 'type']);
    assert.equal(reset.reason, 'history_pruned', `since ${sinceId}`);
    assert.equal(reset.channel, channel);
    assert.ok(seqOf(reset.position) >= seqOf(pos['pr-19']), `reset position ${reset.position} is the head`);
    ws.close();
  }

  // since = the newest pruned event: every event after it is retained, so the history covers the cursor
  // and the answer is an exact replay, never a reset (docs/protocol.md "Positions": a reset only when an
  // event after the position is gone). The same for /sse with it as Last-Event-ID.
  {
    const ws = await WsClient.connect(pruning.wsUrl);
    await ws.subscribe(channel, pos['pr-14']);
    await ws.waitEventId(channel, 'pr-19');
    const sse = await SseClient.open(pruning.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': pos['pr-14'] } });
    await sse.waitMessage((f) => f.id === 'pr-19', { what: 'SSE replay for Last-Event-ID=pr-14' });
    await sleep(SETTLE_MS);
    assert.deepEqual(ws.frames.filter((f) => f.type === 'reset'), [], 'WS: no reset for since=pr-14');
    assert.deepEqual(ids(ws.events(channel)), range('pr-', 15, 19), 'WS: exactly the events after pr-14');
    assert.deepEqual(sse.messages.filter((m) => m.frame.type === 'reset').map((m) => m.frame), [], 'SSE: no reset');
    assert.deepEqual(sse.events(channel).map((m) => m.frame.id), range('pr-', 15, 19), 'SSE: exactly the events after pr-14');
    ws.close();
    sse.close();
  }

  // After the reset, live events follow (and no old history).
  const ws = await WsClient.connect(pruning.wsUrl);
  await ws.subscribe(channel, pos['pr-0']);
  const reset = await ws.waitFrame((f) => f.type === 'reset');
  const sse = await SseClient.open(pruning.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': pos['pr-0'] } });
  const sseReset = await sse.waitMessage((f) => f.type === 'reset', { what: 'SSE reset' });
  assert.equal(sseReset.frame.reason, 'history_pruned');
  assert.equal(sseReset.frame.channel, channel);
  await pub(channel, 'pr-20');
  await ws.waitEventId(channel, 'pr-20');
  await sse.waitMessage((f) => f.id === 'pr-20');
  await sleep(SETTLE_MS);
  assert.deepEqual(ids(ws.events(channel)), ['pr-20']);
  assert.ok(seqOf(ws.events(channel)[0].position) > seqOf(reset.position));
  assert.deepEqual(sse.events(channel).map((m) => m.frame.id), ['pr-20']);
  for (const c of [ws, sse, watcher]) c.close();
  await pruning.stop();
  // Checked last so that everything above is verified even when this fails. Without the id, a stream
  // that drops before its next event comes back with the pruned Last-Event-ID and is reset again.
  assert.equal(sseReset.lastEventId, sseReset.frame.position,
    'protocol.md: on /sse "a reset carries id: of the head it resumes from" (single-channel stream, history_pruned)');
});

test('store wiped and kabar restarted -> reset epoch_changed (WS and SSE), then live', async () => {
  const node = await Kabar.create({ mqttPort: broker.port });
  await node.start();
  const channel = 'ep.a';
  const ws = await WsClient.connect(node.wsUrl);
  await ws.subscribe(channel);
  await pub(channel, 'ep-0');
  const [event] = await ws.waitEvents(channel, 1);
  const oldEpoch = ws.welcome.epoch;
  ws.close();

  const status = await node.stop();
  assert.equal(status.code, 0, `graceful stop exits 0: ${JSON.stringify(status)}`);
  fs.rmSync(node.dataDir, { recursive: true, force: true });
  fs.mkdirSync(node.dataDir, { recursive: true });
  await node.start();

  const ws2 = await WsClient.connect(node.wsUrl);
  assert.notEqual(ws2.welcome.epoch, oldEpoch, 'a new store has a new epoch');
  await ws2.subscribe(channel, event.position);
  const reset = await ws2.waitFrame((f) => f.type === 'reset');
  // The whole exchange in the message: this failed once in CI with bad_position and never since.
  assert.equal(reset.reason, 'epoch_changed',
    `resubscribed with since ${JSON.stringify(event.position)} (event ${JSON.stringify(event)}); frames: ${ws2.describe()}`);
  assert.equal(reset.channel, channel);
  assert.equal(epochOf(reset.position), ws2.welcome.epoch, 'the reset position is in the new epoch');
  const sse = await SseClient.open(node.url(`/sse?channel=${channel}`), { headers: { 'Last-Event-ID': event.position } });
  const sseReset = await sse.waitMessage((f) => f.type === 'reset');
  assert.equal(sseReset.frame.reason, 'epoch_changed');
  assert.equal(sseReset.lastEventId, sseReset.frame.position);
  await pub(channel, 'ep-1');
  await ws2.waitEventId(channel, 'ep-1');
  await sse.waitMessage((f) => f.id === 'ep-1');
  await sleep(SETTLE_MS);
  assert.deepEqual(ids(ws2.events(channel)), ['ep-1']);
  assert.equal(epochOf(ws2.events(channel)[0].position), ws2.welcome.epoch);
  ws2.close();
  sse.close();
  await node.stop();
});
