// Live delivery: an event published to mosquitto (MQTT.js, QoS 1) reaches /ws and /sse subscribers of
// its channel, in the exact frame format of docs/protocol.md, and nobody else.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  Kabar, httpGet, keysOf, parseMetrics, requireKabarBinary, runKabar, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';
import { POSITION_RE, RawSse, SseClient, WsClient, epochOf, mqttConnect, publish, seqOf } from './lib/clients.mjs';

useHarness();

// `topic`: the MQTT topic the event came on (docs/protocol.md "Topic subscriptions").
const EVENT_KEYS = ['channel', 'data', 'event', 'id', 'position', 'time', 'topic', 'type'];
let broker;
let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

test('/ws opens with a welcome frame: epoch, server kabar/<version>, heartbeat_ms', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  assert.equal(ws.frames[0].type, 'welcome', 'the first frame of a /ws connection is welcome');
  assert.deepEqual(keysOf(ws.welcome), ['epoch', 'heartbeat_ms', 'server', 'type']);
  assert.match(ws.welcome.server, /^kabar\/\S+$/);
  const version = await runKabar(['--version']);
  assert.equal(version.status, 0);
  assert.equal(ws.welcome.server, `kabar/${version.stdout.trim().split(/\s+/).at(-1)}`, 'server names the version `kabar --version` prints');
  assert.equal(typeof ws.welcome.epoch, 'string');
  assert.ok(ws.welcome.epoch.length > 0 && !ws.welcome.epoch.includes(':'), `epoch ${ws.welcome.epoch}`);
  assert.equal(ws.welcome.heartbeat_ms, 1000, 'heartbeat_ms is the configured http.heartbeat_ms');
  ws.close();
});

test('WS and SSE subscribers of dokumen.42 get the event published to dokumen/42/updated, exactly as specified; dokumen.43 traffic is not delivered to them', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  const sub = await ws.subscribe('dokumen.42');
  assert.deepEqual(keysOf(sub), ['channel', 'position', 'ref', 'type'], `subscribed frame ${JSON.stringify(sub)}`);
  assert.equal(sub.channel, 'dokumen.42');
  assert.match(sub.position, POSITION_RE);
  assert.equal(epochOf(sub.position), ws.welcome.epoch, 'positions carry the store epoch announced in welcome');

  const other = await WsClient.connect(kabar.wsUrl); // proves the dokumen.43 event did flow through kabar
  await other.subscribe('dokumen.43');
  const sse = await SseClient.open(kabar.url('/sse?channel=dokumen.42'));

  const t0 = Date.now();
  await publish(mq, 'dokumen/43/updated', { id: 'live-43', event: 'dokumen.updated', data: { dokumen: { id: 43, status: 'draft' } } });
  const data = { dokumen: { id: 42, status: 'approved', tags: ['a', 'b'], amount: 1.5, note: 'ünïcode ✓' } };
  await publish(mq, 'dokumen/42/updated', { id: 'live-42-a', event: 'dokumen.updated', data });

  const frame = await ws.waitEventId('dokumen.42', 'live-42-a', { timeout: 5000 });
  const sseMessage = await sse.waitMessage((f) => f.type === 'event' && f.id === 'live-42-a', { timeout: 5000 });
  await other.waitEventId('dokumen.43', 'live-43', { timeout: 5000 });

  assert.deepEqual(keysOf(frame), EVENT_KEYS, `event frame fields: ${JSON.stringify(frame)}`);
  assert.equal(frame.type, 'event');
  assert.equal(frame.channel, 'dokumen.42');
  assert.equal(frame.event, 'dokumen.updated');
  assert.equal(frame.id, 'live-42-a');
  assert.equal(frame.topic, 'dokumen/42/updated');
  assert.deepEqual(frame.data, data);
  assert.match(frame.position, POSITION_RE);
  assert.equal(epochOf(frame.position), ws.welcome.epoch);
  assert.ok(seqOf(frame.position) > seqOf(sub.position), `event position ${frame.position} is after the head at subscribe ${sub.position}`);
  assert.ok(Number.isInteger(frame.time), `time is integer Unix ms: ${frame.time}`);
  assert.ok(frame.time >= t0 - 2000 && frame.time <= Date.now() + 2000, `time ${frame.time} is the receive time (published at ${t0})`);

  // Same JSON object on both transports; SSE `id:` is the position.
  assert.deepEqual(sseMessage.frame, frame, 'SSE carries the same JSON frame as /ws');
  assert.equal(sseMessage.lastEventId, frame.position, 'SSE lastEventId is the position');

  // `subscribed.position` is the head of the store: now that is this event.
  const late = await WsClient.connect(kabar.wsUrl);
  assert.equal((await late.subscribe('dokumen.4242')).position, frame.position, 'subscribed.position is the store head');
  late.close();

  await sleep(300);
  assert.deepEqual(ws.events().map((f) => f.id), ['live-42-a'], 'the WS client got only its channel');
  assert.deepEqual(sse.events().map((m) => m.frame.id), ['live-42-a'], 'the SSE client got only its channel');
  assert.deepEqual(other.events().map((f) => f.id), ['live-43']);
  assert.equal(ws.nonJson.length + ws.binary.length, 0, 'only JSON text frames');
  for (const c of [ws, other, sse]) c.close();
});

test('a bare JSON object payload is wrapped as data and gets a kabar-assigned id', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe('dokumen.44');
  const data = { dokumen: { id: 44, status: 'bare' } };
  await publish(mq, 'dokumen/44/updated', data);
  const [frame] = await ws.waitEvents('dokumen.44', 1);
  assert.deepEqual(keysOf(frame), EVENT_KEYS);
  assert.equal(frame.event, 'dokumen.updated', 'the route names the event');
  assert.deepEqual(frame.data, data, 'the whole object becomes data');
  assert.equal(typeof frame.id, 'string');
  assert.ok(frame.id.length > 0, 'kabar assigned an id');
  ws.close();
});

test('the envelope\'s time (Unix ms or RFC 3339) becomes the frame\'s time', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe('time.a');
  await publish(mq, 'kabar/c/time.a', { id: 'time-1', event: 'time.test', data: {}, time: 1763798400000 });
  await publish(mq, 'kabar/c/time.a', { id: 'time-2', event: 'time.test', data: {}, time: '2025-11-22T08:00:00.250Z' });
  const [t1, t2] = await ws.waitEvents('time.a', 2);
  assert.equal(t1.time, 1763798400000);
  assert.equal(t2.time, Date.parse('2025-11-22T08:00:00.250Z'));
  ws.close();
});

test('a publisher retry (same event id) is stored and delivered once', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe('dup.a');
  const message = { id: 'dup-1', event: 'dup.test', data: { n: 1 } };
  await publish(mq, 'kabar/c/dup.a', message);
  await publish(mq, 'kabar/c/dup.a', message);
  await publish(mq, 'dokumen/47/updated', { id: 'dup-x', event: 'dokumen.updated', data: { dokumen: { id: 47 } } });
  await publish(mq, 'kabar/c/dup.a', message);
  await publish(mq, 'kabar/c/dup.a', { id: 'dup-2', event: 'dup.test', data: { n: 2 } });
  await ws.waitEventId('dup.a', 'dup-2');
  await sleep(200);
  assert.deepEqual(ws.events('dup.a').map((f) => f.id), ['dup-1', 'dup-2'], 'live: once');
  const replay = await WsClient.connect(kabar.wsUrl);
  await replay.subscribe('dup.a', 'earliest');
  await replay.waitEventId('dup.a', 'dup-2');
  await sleep(200);
  assert.deepEqual(replay.events('dup.a'), ws.events('dup.a'), 'stored: once, same frames');
  ws.close();
  replay.close();
});

test('WS keep-alive: pings every heartbeat_ms; a peer that answers stays, one that never answers is dropped', async () => {
  const answering = await WsClient.connect(kabar.wsUrl);
  const silent = await WsClient.connect(kabar.wsUrl, { options: { autoPong: false } });
  const pings = [];
  answering.ws.on('ping', () => pings.push(Date.now()));
  const t0 = Date.now();
  const close = await silent.waitClose(8000); // heartbeat 1000 ms: dropped after about 2x that
  const droppedAfter = Date.now() - t0;
  assert.ok(droppedAfter >= 1000, `not dropped before a heartbeat went unanswered (${droppedAfter} ms)`);
  await waitUntil(() => Date.now() - t0 >= 4000, { timeout: 5000, what: '4 s' });
  assert.equal(answering.closeInfo, null, 'a peer that answers pings stays connected while idle');
  assert.ok(pings.length >= 2, `pings arrive every heartbeat_ms: ${pings.length} in 4 s`);
  assert.notEqual(close.code, 1000, `the silent peer was dropped: ${JSON.stringify(close)}`);
  answering.close();
});

test('SSE stream format: headers, retry, comment, heartbeats, id = position, no event: field', async () => {
  const raw = await RawSse.open(kabar.url('/sse?channel=dokumen.45'));
  assert.equal(raw.status, 200);
  assert.match(raw.headers['content-type'] || '', /^text\/event-stream/);
  assert.match(raw.headers['cache-control'] || '', /no-cache/);
  assert.equal(raw.headers['x-accel-buffering'], 'no');
  // `: hb` every heartbeat_ms (1000 ms here)
  await waitUntil(() => raw.comments.filter((c) => /^:\s*hb\b/.test(c)).length >= 2, { timeout: 4000, what: 'two `: hb` heartbeat comments' });
  assert.equal(raw.fieldOrder[0], 'retry', `the stream opens with retry: (got ${JSON.stringify(raw.text.slice(0, 120))})`);
  assert.equal(raw.fieldOrder[1], 'comment', 'then a comment line');
  assert.equal(raw.retry, 200, 'retry is http.sse_retry_ms');

  await publish(mq, 'dokumen/45/updated', { id: 'fmt-1', event: 'dokumen.updated', data: { dokumen: { id: 45 } } });
  const message = await raw.waitMessage((f) => f.id === 'fmt-1');
  assert.equal(message.id, message.frame.position, 'id: line carries the position');
  assert.ok(!raw.fieldOrder.includes('event'), 'no event: field, so onmessage sees every frame');
  assert.deepEqual(keysOf(message.frame), EVENT_KEYS);
  raw.close();
});

test('multi-channel SSE (?channel=a&channel=b) gets both channels in position order and not a third', async () => {
  const sse = await SseClient.open(kabar.url('/sse?channel=multi.a&channel=multi.b'));
  const watcher = await WsClient.connect(kabar.wsUrl);
  await watcher.subscribe('multi.c');
  const send = (channel, id) => publish(mq, `kabar/c/${channel}`, { id, event: 'multi.test', data: { id } });
  await send('multi.a', 'm-a1');
  await send('multi.c', 'm-c1');
  await send('multi.b', 'm-b1');
  await send('multi.a', 'm-a2');
  await send('multi.c', 'm-c2');
  await watcher.waitEventId('multi.c', 'm-c2');
  await sse.waitMessage((f) => f.id === 'm-a2');
  await sleep(200);
  const got = sse.events();
  assert.deepEqual(got.map((m) => m.frame.id), ['m-a1', 'm-b1', 'm-a2']);
  assert.deepEqual(got.map((m) => m.frame.channel), ['multi.a', 'multi.b', 'multi.a']);
  for (const m of got) {
    assert.equal(m.lastEventId, m.frame.position);
    assert.equal(m.frame.event, 'multi.test');
  }
  const seqs = got.map((m) => seqOf(m.frame.position));
  assert.ok(seqs[0] < seqs[1] && seqs[1] < seqs[2], `positions ascend: ${seqs}`);
  sse.close();
  watcher.close();
});

test('ping/pong echoes ref (string and number); unsubscribe stops delivery', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  assert.deepEqual(await ws.request({ type: 'ping', ref: '7' }), { type: 'pong', ref: '7' });
  assert.deepEqual(await ws.request({ type: 'ping', ref: 8 }), { type: 'pong', ref: 8 });
  const before = ws.frames.length;
  ws.send({ type: 'ping' });
  const pong = await ws.waitFrame((f) => f.type === 'pong', { from: before });
  assert.deepEqual(pong, { type: 'pong' }, 'no ref in, no ref out');

  await ws.subscribe('unsub.x');
  await ws.subscribe('unsub.y');
  await publish(mq, 'kabar/c/unsub.x', { id: 'u1', event: 'u', data: {} });
  await ws.waitEventId('unsub.x', 'u1');
  const reply = await ws.request({ type: 'unsubscribe', channel: 'unsub.x', ref: 'un-1' });
  assert.deepEqual(reply, { type: 'unsubscribed', channel: 'unsub.x', ref: 'un-1' });
  await publish(mq, 'kabar/c/unsub.x', { id: 'u2', event: 'u', data: {} });
  await publish(mq, 'kabar/c/unsub.y', { id: 'u3', event: 'u', data: {} });
  await ws.waitEventId('unsub.y', 'u3');
  await sleep(200);
  assert.deepEqual(ws.events().map((f) => f.id), ['u1', 'u3'], 'u2 was published after unsubscribe');
  ws.close();
});

test('health, readiness, metrics and the demo page', async () => {
  const health = await httpGet(kabar.url('/healthz'));
  assert.equal(health.status, 200);
  assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  const ready = await httpGet(kabar.url('/readyz'));
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { ready: true, store: true, broker: true });
  const metrics = await httpGet(kabar.url('/metrics'));
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') || '', /^text\/plain/);
  const samples = parseMetrics(metrics.body);
  // kabar's own, and the standard process_* metrics every Prometheus client library serves.
  assert.ok(samples.length > 0 && samples.every((s) => /^(kabar|process)_/.test(s.name)), 'every sample has the kabar_ or process_ prefix');
  assert.ok(samples.every((s) => Number.isFinite(s.value)), 'every value is a number');
  const page = await httpGet(kabar.url('/'));
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') || '', /^text\/html/);
  assert.match(page.body, /<html|<!doctype html/i);
  const missing = await httpGet(kabar.url('/no-such-thing'));
  assert.equal(missing.status, 404);
});

test('`kabar publish` (channel form and topic form) delivers through the broker', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe('cli.a');
  await ws.subscribe('dokumen.46');
  const r1 = await runKabar(['publish', '--broker-port', String(broker.port), '--channel', 'cli.a', '--event', 'cli.happened',
    '--data', '{"n":1,"s":"x"}', '--id', 'cli-1']);
  assert.equal(r1.status, 0, `kabar publish --channel exited ${r1.status}: ${r1.stderr}`);
  const f1 = await ws.waitEventId('cli.a', 'cli-1');
  assert.equal(f1.event, 'cli.happened');
  assert.deepEqual(f1.data, { n: 1, s: 'x' });

  const payload = JSON.stringify({ id: 'cli-2', event: 'dokumen.updated', data: { dokumen: { id: 46, status: 'cli' } } });
  const r2 = await runKabar(['publish', '--broker-port', String(broker.port), '--topic', 'dokumen/46/updated', '--payload', payload]);
  assert.equal(r2.status, 0, `kabar publish --topic exited ${r2.status}: ${r2.stderr}`);
  const f2 = await ws.waitEventId('dokumen.46', 'cli-2');
  assert.deepEqual(f2.data, { dokumen: { id: 46, status: 'cli' } });

  // Without --id kabar publish still produces a deliverable event (an id is generated somewhere).
  const r3 = await runKabar(['publish', '--broker-port', String(broker.port), '--channel', 'cli.a', '--event', 'cli.noid', '--data', '{"n":3}']);
  assert.equal(r3.status, 0, `kabar publish without --id exited ${r3.status}: ${r3.stderr}`);
  const f3 = await ws.waitFrame((f) => f.type === 'event' && f.event === 'cli.noid');
  assert.ok(typeof f3.id === 'string' && f3.id.length > 0);
  ws.close();
});
