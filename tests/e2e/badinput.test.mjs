// Bad input gets a clear error and changes nothing else (architecture promise 6): malformed MQTT
// payloads become dead letters (API + metrics) without stopping the stream; malformed WS requests get
// `error` frames with protocol.md's codes and the connection stays usable; oversized frames close with
// 1009; private-/presence- channels are refused on both doors; a bad config stops kabar with a message.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import {
  Kabar, freePort, httpGet, keysOf, makeTempDir, metricSum, requireKabarBinary, runKabar, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish } from './lib/clients.mjs';

useHarness();

const MAX_SUBSCRIPTIONS = 3;
let broker;
let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port, operator: true, config: { http: { max_subscriptions: MAX_SUBSCRIPTIONS } } });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

test('malformed MQTT payloads become dead letters with reasons and a metric; the good event after them is delivered', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe('dokumen.5');
  await ws.subscribe('bad.env');
  const t0 = Date.now();
  const bad = [
    ['dokumen/5/updated', 'this is not json'],
    ['dokumen/5/updated', '{"id":"bad-trunc","event":"dokumen.updated","data":{"dokumen":{"id":5}}'],
    ['dokumen/5/updated', JSON.stringify({ id: 'bad-schema-1', event: 'dokumen.updated', data: { foo: 1 } })],
    ['dokumen/5/updated', JSON.stringify({ status: 'bare object without dokumen' })],
    ['dokumen/5/updated', JSON.stringify({ id: 'bad-schema-2', event: 'dokumen.updated', data: { dokumen: { status: 'no id' } } })],
    ['dokumen/5/updated', JSON.stringify({ id: 'bad-socket', event: 'dokumen.updated', data: { dokumen: { id: 5 } }, socket_id: 'not a socket id' })],
    ['kabar/c/bad.env', JSON.stringify({ data: { x: 1 } })], // this route needs the envelope to name the event
    ['kabar/c/bad.env', '[1,2,3]'],
    ['kabar/c/bad channel!', JSON.stringify({ id: 'bad-chan', event: 'x.y', data: {} })], // not a valid channel name
    ['kabar/c/bad.env', JSON.stringify({ id: 'bad id!', event: 'x.y', data: {} })], // id outside [A-Za-z0-9._:-]
    ['kabar/c/bad.env', JSON.stringify({ id: 'bad-time', event: 'x.y', data: {}, time: -5 })],
  ];
  for (const [topic, payload] of bad) await publish(mq, topic, payload);
  await publish(mq, 'dokumen/5/updated', { id: 'good-5', event: 'dokumen.updated', data: { dokumen: { id: 5, status: 'ok' } } });
  await publish(mq, 'kabar/c/bad.env', { id: 'good-env', event: 'env.ok', data: { x: 2 } });
  await ws.waitEventId('dokumen.5', 'good-5');
  await ws.waitEventId('bad.env', 'good-env');
  await sleep(300);
  assert.deepEqual(ws.events().map((f) => f.id), ['good-5', 'good-env'], 'only the good events were delivered');

  const letters = await kabar.deadLetters(50);
  assert.ok(Array.isArray(letters), 'an array');
  assert.equal(letters.length, bad.length, `one dead letter per bad message: ${JSON.stringify(letters, null, 1)}`);
  const newestFirst = [...bad].reverse();
  letters.forEach((letter, i) => {
    assert.deepEqual(keysOf(letter), ['id', 'payload', 'payload_bytes', 'reason', 'time_ms', 'topic', 'truncated'], JSON.stringify(letter));
    assert.equal(letter.truncated, false);
    assert.equal(letter.payload_bytes, Buffer.byteLength(newestFirst[i][1]));
    assert.equal(letter.topic, newestFirst[i][0], `dead letter ${i} topic (newest first)`);
    assert.equal(letter.payload, newestFirst[i][1], `dead letter ${i} payload kept verbatim`);
    assert.equal(typeof letter.reason, 'string');
    assert.ok(letter.reason.length > 5, `a reason a person can read: ${JSON.stringify(letter.reason)}`);
    assert.ok(Number.isInteger(letter.time_ms) && letter.time_ms >= t0 - 2000 && letter.time_ms <= Date.now() + 2000, `time_ms ${letter.time_ms}`);
  });
  assert.equal(new Set(letters.map((l) => JSON.stringify(l.id))).size, letters.length, 'distinct ids');
  for (let i = 1; i < letters.length; i++) assert.ok(letters[i - 1].time_ms >= letters[i].time_ms, 'newest first');
  // The reasons say what went wrong, not one generic text for everything.
  const reasonOf = (payloadPrefix) => letters.find((l) => l.payload.startsWith(payloadPrefix)).reason;
  assert.match(reasonOf('this is not json'), /json|pars/i);
  assert.match(reasonOf('{"id":"bad-socket"'), /socket/i);
  assert.notEqual(reasonOf('this is not json'), reasonOf('{"id":"bad-schema-1"'));

  const two = await kabar.deadLetters(2);
  assert.deepEqual(two, letters.slice(0, 2), 'limit=N gives the N newest');

  const metrics = await kabar.metrics();
  const shown = metrics.filter((s) => /dead/.test(s.name)).map((s) => `${s.name}${JSON.stringify(s.labels)}=${s.value}`).join(', ');
  const deadTotal = metricSum(metrics, (s) => s.name === 'kabar_dead_letters_total');
  assert.equal(deadTotal, bad.length, `a dead-letter counter in /metrics counts them: ${shown}`);
  // ...and the same letters by reason (docs/operations.md "Metrics, alerts and logs")
  const byReason = metricSum(metrics, (s) => s.name === 'kabar_dead_letters_by_reason_total');
  assert.equal(byReason, bad.length, `by reason too: ${shown}`);
  ws.close();
});

test('dead letters are an operator view behind the policy: a token is required, and each sees only topics it may read', async () => {
  // Two rejected takings messages, of branches 3 and 7 (the payload fails omset.updated's schema).
  await publish(mq, 'cabang/3/omset', JSON.stringify({ id: 'bad-omset-3', event: 'omset.updated', data: { nope: 3 } }));
  await publish(mq, 'cabang/7/omset', JSON.stringify({ id: 'bad-omset-7', event: 'omset.updated', data: { nope: 7 } }));
  const isOmset = (letter) => letter.topic.startsWith('cabang/');
  await waitUntil(async () => (await kabar.deadLetters(1000)).filter(isOmset).length === 2, { what: 'two omset dead letters' });

  const anonymous = await kabar.get('/api/dead-letters');
  assert.equal(anonymous.status, 401, anonymous.body);
  assert.equal(JSON.parse(anonymous.body).reason, 'token_required');
  const forged = await kabar.get('/api/dead-letters', { headers: { authorization: 'Bearer not.a.token' } });
  assert.equal(forged.status, 401, forged.body);
  assert.equal(JSON.parse(forged.body).error, 'invalid_token');
  // A token in the URL is not taken here (URLs end up in logs).
  const admin = await kabar.token();
  assert.equal((await kabar.get(`/api/dead-letters?token=${admin}`)).status, 401);

  const asKasir3 = await kabar.get('/api/dead-letters?limit=1000', { headers: { authorization: `Bearer ${await kabar.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 })}` } });
  assert.equal(asKasir3.status, 200, asKasir3.body);
  // Her branch's takings, and the document topics every token may follow (the built-in policy's
  // "dokumen-topics" rule), never branch 7's, nor the generic kabar/c/... route's.
  const seenByKasir3 = JSON.parse(asKasir3.body).letters.map((l) => l.topic);
  assert.deepEqual(seenByKasir3.filter((t) => !t.startsWith('dokumen/')), ['cabang/3/omset'], 'a cashier of branch 3 sees her branch only');
  assert.ok(seenByKasir3.includes('dokumen/5/updated'), seenByKasir3.join(', '));
  const all = await kabar.deadLetters(1000);
  assert.deepEqual(all.filter(isOmset).map((l) => l.topic), ['cabang/7/omset', 'cabang/3/omset'], 'the super admin sees both, newest first');
});

test('dead letters come in pages: limit, the next cursor, filtered by the policy across pages', async () => {
  // Six more rejected takings messages, alternating branches 3 and 7 (after the two of the test above).
  for (let i = 0; i < 6; i++) {
    const cabang = i % 2 ? 7 : 3;
    await publish(mq, `cabang/${cabang}/omset`, JSON.stringify({ id: `bad-page-${i}`, event: 'omset.updated', data: { nope: i } }));
  }
  await waitUntil(async () => (await kabar.deadLetters(1000)).filter((l) => l.payload.includes('bad-page-')).length === 6, { what: 'six more dead letters' });
  const all = await kabar.deadLetters(1000);
  assert.ok(all.length >= 8 + 11, `every letter so far: ${all.length}`);

  // The operator, two at a time, from the newest back to the oldest: each letter once, in order.
  const walked = [];
  let query = 'limit=2';
  for (let pages = 0; pages < 100; pages++) {
    const page = await kabar.deadLetterPage(query);
    assert.ok(page.letters.length <= 2, JSON.stringify(page));
    walked.push(...page.letters.map((l) => l.id));
    if (page.next === null) break;
    assert.equal(page.next, page.letters.at(-1).id, 'next is the last id listed');
    query = `limit=2&before=${page.next}`;
  }
  assert.deepEqual(walked, all.map((l) => l.id), 'the pages together are every letter, newest first, once');

  // A cashier of branch 3, one at a time: her branch's takings only, across pages that skip branch 7's.
  const kasir3 = await kabar.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 });
  const hers = [];
  query = 'limit=1';
  for (let pages = 0; pages < 100; pages++) {
    const page = await kabar.deadLetterPage(query, kasir3);
    hers.push(...page.letters);
    if (page.next === null) break;
    query = `limit=1&before=${page.next}`;
  }
  const omset = hers.filter((l) => l.topic.startsWith('cabang/'));
  assert.deepEqual([...new Set(omset.map((l) => l.topic))], ['cabang/3/omset'], 'never another branch');
  assert.equal(omset.length, 1 + 3, 'every letter of branch 3: the one of the test above and three here');
  assert.deepEqual(hers.map((l) => l.id), all.filter((l) => hers.some((h) => h.id === l.id)).map((l) => l.id), 'in order');

  // The default limit and the maximum: 100, and 1000 at most (more is clamped, not refused).
  assert.ok((await kabar.deadLetterPage('')).letters.length <= 100);
  assert.equal((await kabar.deadLetterPage('limit=50000')).letters.length, all.length);
  for (const bad of ['limit=0', 'limit=abc', 'before=x', 'before=-1']) {
    const res = await kabar.get(`/api/dead-letters?${bad}`, { headers: { authorization: `Bearer ${await kabar.token()}` } });
    assert.equal(res.status, 400, `${bad}: ${res.body}`);
  }
});

test('a large rejected payload is stored capped at 64 KiB, with its size and truncated: true', async () => {
  const big = `{"id":"huge","event":"dokumen.updated","data":"${'z'.repeat(300 * 1024)}"}`;  // over the bridge's 256 KiB
  await publish(mq, 'dokumen/77/updated', big);
  let letter;
  await waitUntil(async () => {
    letter = (await kabar.deadLetters(5)).find((l) => l.topic === 'dokumen/77/updated');
    return !!letter;
  }, { what: 'the large dead letter' });
  assert.equal(letter.truncated, true);
  assert.equal(letter.payload_bytes, Buffer.byteLength(big));
  assert.equal(letter.payload.length, 64 * 1024);
  assert.equal(letter.payload, big.slice(0, 64 * 1024));
  assert.match(letter.reason, /max_payload_bytes/);
});

test('WS garbage gets error frames with protocol.md codes and the connection stays usable', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  const expectError = async (send, code, { ref, channel } = {}) => {
    const from = ws.frames.length;
    send();
    const frame = await ws.waitFrame((f) => f.type === 'error' || f.type === 'subscribed', { from, what: `error ${code}` });
    assert.equal(frame.type, 'error', `expected error ${code}, got ${JSON.stringify(frame)}`);
    assert.equal(frame.code, code, JSON.stringify(frame));
    assert.equal(typeof frame.message, 'string');
    assert.ok(frame.message.length > 0);
    const keys = ['code', 'message', 'type'];
    if (ref !== undefined) { keys.push('ref'); assert.equal(frame.ref, ref); }
    if (channel !== undefined) { keys.push('channel'); assert.equal(frame.channel, channel); }
    assert.deepEqual(keysOf(frame), keys.sort(), JSON.stringify(frame));
    return frame;
  };

  await expectError(() => ws.send('this is not json'), 'bad_json');
  await expectError(() => ws.send('{"type":"subscribe","channel":'), 'bad_json');
  await expectError(() => ws.send({ type: 'nope', ref: 'u1' }), 'unknown_type', { ref: 'u1' });
  await expectError(() => ws.send({ type: 'subscribe', ref: 'm1' }), 'bad_request', { ref: 'm1' });
  await expectError(() => ws.send({ type: 'subscribe', channel: 42, ref: 'm2' }), 'bad_request', { ref: 'm2' });
  await expectError(() => ws.send({ type: 'unsubscribe', ref: 'm3' }), 'bad_request', { ref: 'm3' });
  await expectError(() => ws.send([1, 2, 3]), 'bad_request');
  await expectError(() => ws.send({ channel: 'no.type', ref: 7 }), 'bad_request', { ref: 7 });
  await expectError(() => ws.send({ type: 'subscribe', channel: 'bad channel!', ref: 'i1' }), 'invalid_channel', { ref: 'i1', channel: 'bad channel!' });
  const tooLong = 'a'.repeat(165);
  await expectError(() => ws.send({ type: 'subscribe', channel: tooLong, ref: 'i2' }), 'invalid_channel', { ref: 'i2', channel: tooLong });
  await expectError(() => ws.sendBinary(Buffer.from('{"type":"ping"}')), 'bad_request');
  for (const channel of ['private-orders', 'presence-room', 'private-encrypted-x']) {
    await expectError(() => ws.send({ type: 'subscribe', channel, ref: `f-${channel}` }), 'forbidden_channel', { ref: `f-${channel}`, channel });
  }

  // Still open and serving: ping, a 164-character channel name (the maximum), an event.
  assert.equal(ws.closeInfo, null, 'the connection stayed open');
  assert.deepEqual(await ws.request({ type: 'ping', ref: 'alive' }), { type: 'pong', ref: 'alive' });
  const longest = `b.${'c'.repeat(162)}`;
  await ws.subscribe(longest);
  await ws.subscribe('bad.ok');
  await publish(mq, 'kabar/c/bad.ok', { id: 'ok-1', event: 'ok', data: {} });
  await ws.waitEventId('bad.ok', 'ok-1');
  assert.equal(ws.frames.filter((f) => f.type === 'error' && ['private-orders', 'presence-room'].includes(f.channel)).length, 2);
  ws.close();
});

test(`more than http.max_subscriptions (${MAX_SUBSCRIPTIONS}) channels -> too_many_subscriptions; re-subscribing a held channel is not a new one`, async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) await ws.subscribe(`many.${i}`);
  const refused = await ws.request({ type: 'subscribe', channel: 'many.extra', ref: 'x' });
  assert.deepEqual({ type: refused.type, code: refused.code, channel: refused.channel, ref: refused.ref },
    { type: 'error', code: 'too_many_subscriptions', channel: 'many.extra', ref: 'x' });
  await ws.subscribe('many.0', 'earliest'); // replaces, does not count twice
  await ws.request({ type: 'unsubscribe', channel: 'many.1' });
  await ws.subscribe('many.extra');
  await publish(mq, 'kabar/c/many.extra', { id: 'many-1', event: 'm', data: {} });
  await ws.waitEventId('many.extra', 'many-1');
  ws.close();
});

test('a WS frame over http.max_message_bytes (64 KiB) closes with 1009; one just under is served', async () => {
  const ws = await WsClient.connect(kabar.wsUrl);
  const bigRef = 'r'.repeat(60 * 1024);
  const pong = await ws.request({ type: 'ping', ref: bigRef });
  assert.deepEqual(pong, { type: 'pong', ref: bigRef });
  ws.send(JSON.stringify({ type: 'ping', ref: 'x'.repeat(70 * 1024) }));
  const close = await ws.waitClose();
  assert.equal(close.code, 1009, `close ${JSON.stringify(close)}`);
  // The server is fine afterwards.
  const other = await WsClient.connect(kabar.wsUrl);
  assert.deepEqual(await other.request({ type: 'ping', ref: 1 }), { type: 'pong', ref: 1 });
  other.close();
});

test('SSE: no channel -> 400 JSON, invalid channel -> 400 invalid_channel, private-/presence- -> 403', async () => {
  const none = await httpGet(kabar.url('/sse'));
  assert.equal(none.status, 400);
  const noneBody = JSON.parse(none.body);
  assert.deepEqual(keysOf(noneBody), ['error', 'message']);
  assert.equal(noneBody.error, 'bad_request');
  const invalid = await httpGet(kabar.url(`/sse?channel=${encodeURIComponent('bad channel!')}`));
  assert.equal(invalid.status, 400);
  assert.equal(JSON.parse(invalid.body).error, 'invalid_channel');
  for (const channel of ['private-orders', 'presence-room']) {
    const res = await httpGet(kabar.url(`/sse?channel=${channel}`));
    assert.equal(res.status, 403, `${channel}: ${res.status} ${res.body}`);
    const mixed = await httpGet(kabar.url(`/sse?channel=public.ok&channel=${channel}`));
    assert.equal(mixed.status, 403, `a stream that includes ${channel} is refused as a whole`);
  }
  // An EventSource gives up on a 403 (it does not retry forever).
  await assert.rejects(SseClient.open(kabar.url('/sse?channel=private-orders')), (error) => error.status === 403);
});

test('bad config (docs/configuration.md): missing file, invalid JSON, wrong type, out of range, unknown key, bad env value -> exit 2 with a message naming the place', async () => {
  const dir = makeTempDir('kabar-e2e-badconf-');
  const port = await freePort();
  const good = {
    http: { listen: '127.0.0.1', port, heartbeat_ms: 1000 },
    broker: { embedded: false, host: '127.0.0.1', port: broker.port, client_id: 'e2e-badconf' },
    store: { data_dir: path.join(dir, 'data') },
  };
  const write = (name, text) => { const file = path.join(dir, name); fs.writeFileSync(file, text); return file; };
  const goodFile = write('good.json', JSON.stringify(good));
  const cases = [
    ['missing file', [path.join(dir, 'does-not-exist.json')], {}, /does-not-exist\.json/],
    ['invalid JSON', [write('invalid.json', '{"http": {"port": 1,,}')], {}, /json/i],
    ['"port":"abc"', [write('type.json', JSON.stringify({ ...good, http: { ...good.http, port: 'abc' } }))], {}, /http\/port|http\.port/],
    ['port out of range', [write('range.json', JSON.stringify({ ...good, http: { ...good.http, port: 70000 } }))], {}, /http\/port|http\.port/],
    ['unknown key', [write('unknown.json', JSON.stringify({ ...good, http: { ...good.http, prot: 1 } }))], {}, /prot/],
    ['KABAR_HTTP_PORT=abc', [goodFile], { KABAR_HTTP_PORT: 'abc' }, /KABAR_HTTP_PORT/],
    ['app activity_timeout 0 (pusher-js fails its handshake on 0)', [write('activity.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key', secret: 'a-secret', activity_timeout: 0 }] }))], {}, /activity_timeout/],
    ['app secret_file missing', [write('nosecret.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key', secret_file: path.join(dir, 'nope.secret') }] }))], {}, /app "a": cannot read secret_file .*nope\.secret/],
    ['app secret_file empty', [write('emptysecret.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key', secret_file: write('empty.secret', '\n') }] }))], {}, /secret_file .*empty\.secret is empty/],
    ['app with both secret and secret_file', [write('bothsecret.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key', secret: 's', secret_file: write('s.secret', 's') }] }))], {}, /apps/],
    ['webhook URL with user:password@ (never sent; the receiver checks X-Pusher-Signature)', [write('hookuser.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key', secret: 's', webhooks: [{ url: 'http://user:pw@127.0.0.1:9/hook' }] }] }))], {}, /webhooks/],
    ['app with neither secret nor secret_file', [write('nosecretatall.json', JSON.stringify({ ...good, apps: [{ id: 'a', key: 'a-key' }] }))], {}, /apps/],
  ];
  const failures = [];
  for (const [what, files, env, mention] of cases) {
    const result = await runKabar(['serve', '--config', files[0]], { timeout: 10000, env });
    const problems = [];
    if (result.killed) problems.push('did not exit by itself (it served?)');
    if (result.signal) problems.push(`crashed with ${result.signal}`);
    if (result.status !== 2) problems.push(`exit status ${result.status}, documented: 2`);
    if (!mention.test(result.stderr)) problems.push(`stderr does not match ${mention}`);
    if (problems.length) failures.push(`${what}: ${problems.join('; ')}; stderr: ${JSON.stringify(result.stderr.slice(0, 400))}`);
  }
  assert.deepEqual(failures, []);
});

test('a runtime failure (HTTP port taken) exits 1 with a message', async () => {
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = blocker.address().port;
  try {
    const dir = makeTempDir('kabar-e2e-taken-');
    const file = path.join(dir, 'kabar.json');
    fs.writeFileSync(file, JSON.stringify({
      http: { listen: '127.0.0.1', port: taken },
      broker: { embedded: false, host: '127.0.0.1', port: broker.port, client_id: 'e2e-taken' },
      store: { data_dir: path.join(dir, 'data') },
    }));
    const result = await runKabar(['serve', '--config', file], { timeout: 15000 });
    const problems = [];
    if (result.killed) problems.push('kept running on a taken port');
    if (result.signal) problems.push(`crashed with ${result.signal}`);
    if (result.status !== 1) problems.push(`exit status ${result.status}, documented: 1`);
    if (!new RegExp(`${taken}|in use|bind`, 'i').test(result.stderr)) problems.push(`stderr does not name the port or the bind failure`);
    assert.deepEqual(problems, [], `HTTP port ${taken} taken; stderr: ${JSON.stringify(result.stderr)}`);
  } finally {
    blocker.close();
  }
});

test('a corrupt data folder stops kabar with exit 1 naming the file, and the file is left as it was', async () => {
  const dir = makeTempDir('kabar-e2e-corrupt-');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const dbFile = path.join(dataDir, 'kabar.db');
  const garbage = Buffer.from('this is not an SQLite database, it is a note someone left here\n'.repeat(100));
  fs.writeFileSync(dbFile, garbage);
  const file = path.join(dir, 'kabar.json');
  fs.writeFileSync(file, JSON.stringify({
    http: { listen: '127.0.0.1', port: await freePort() },
    broker: { embedded: false, host: '127.0.0.1', port: broker.port, client_id: 'e2e-corrupt' },
    store: { data_dir: dataDir },
  }));
  const result = await runKabar(['serve', '--config', file], { timeout: 15000 });
  assert.equal(result.killed, false, 'kept running on a corrupt store');
  assert.equal(result.signal, null, `crashed: ${result.stderr}`);
  assert.equal(result.status, 1, `stderr: ${result.stderr}`);
  assert.match(result.stderr, /kabar\.db/);
  assert.deepEqual(fs.readFileSync(dbFile), garbage, 'the unreadable file must not be overwritten');
  // A data folder that is a file: the same kind of refusal.
  fs.rmSync(dataDir, { recursive: true });
  fs.writeFileSync(dataDir, 'a file where the folder should be');
  const second = await runKabar(['serve', '--config', file], { timeout: 15000 });
  assert.equal(second.status, 1, `stderr: ${second.stderr}`);
  assert.match(second.stderr, /data/);
});

test('KABAR_<SECTION>_<KEY> environment overrides the config file', async () => {
  const envPort = await freePort();
  const node = await Kabar.create({ mqttPort: broker.port, env: { KABAR_HTTP_PORT: String(envPort) } });
  node.port = envPort; // the config file still names another port
  await node.start();
  const res = await httpGet(`http://127.0.0.1:${envPort}/healthz`);
  assert.equal(res.status, 200);
  const fileRes = await httpGet(`http://127.0.0.1:${node.config.http.port}/healthz`).catch((error) => ({ status: 'refused', error }));
  assert.equal(fileRes.status, 'refused', 'nothing listens on the port named in the file');
  await node.stop();
});
