// Observability (docs/operations.md "Metrics, alerts and logs"), on a real kabar and a real mosquitto with
// real clients on all three streaming doors (ws, eventsource, a Pusher-protocol socket):
//  * /metrics after that traffic passes `promtool check metrics` (Debian's prometheus package), and its
//    labelled families and histograms count what was done, by transport, door, reason and app;
//  * every metric the Grafana dashboard and the alert rules of monitoring/ use is served;
//  * log.format=json writes one JSON object per line, and a refusal, a dead letter, a reset and a
//    disconnect carry their fields (sub, door, channel, reason...);
//  * an unknown KABAR_* variable is warned about at start, by name, with the setting it was meant to be.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  KABAR_SOURCE_DIR, Kabar, httpGet, parseMetrics, requireKabarBinary, startMosquitto, useHarness, waitUntil,
  withTimeout,
} from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish, publishToChannel } from './lib/clients.mjs';
import { authFor, established, rawPusher } from './pusher-helpers.mjs';

useHarness();

const APP = { id: 'obs-app', key: 'obs-key', secret: 'obs-secret-for-the-observability-test' };
const CHANNEL = 'obs.1';
const EVENTS = 5;
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((file) => fs.existsSync(file))
  ?? (spawnSync('sh', ['-c', 'command -v promtool']).stdout?.toString().trim() || null);

let broker;
let kabar;
let mqtt;
let text; // /metrics after the traffic
let samples;

// Every line kabar wrote, parsed; a line that is not one JSON object fails the test.
function jsonLines() {
  return kabar.child.lines.map((line) => {
    try {
      const parsed = JSON.parse(line);
      assert.equal(typeof parsed, 'object');
      return parsed;
    } catch (error) {
      throw new Error(`not a JSON log line: ${JSON.stringify(line)} (${error.message})`);
    }
  });
}
const logged = (predicate) => jsonLines().find(predicate);
const waitLogged = (predicate, what) => waitUntil(() => logged(predicate), { timeout: 5000, what: `log line: ${what}` });

const value = (name, labels = {}) => {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `one sample ${name}${JSON.stringify(labels)}, got ${found.length}`);
  return found[0].value;
};

async function pusherSubscribe(client, channel, data = {}) {
  const from = client.frames.length;
  client.send({ event: 'pusher:subscribe', data: { channel, ...data } });
  return client.waitFrame((f) => f.channel === channel && /subscription_(succeeded|error)/.test(f.event), { from, what: `subscribe ${channel}` });
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({
    mqttPort: broker.port,
    operator: true, // kabar verifies tokens, so a bad one is refused (and logged)
    config: { log: { level: 'debug', format: 'json' }, apps: [APP] },
    env: { KABAR_HTTP_PROT: '8080', KABAR_NOT_A_SETTING_AT_ALL: 'x' },
  });
  await kabar.start();
  mqtt = await mqttConnect(broker.port);

  // Traffic on every transport: a /ws and a Pusher subscriber live from the start, an SSE one replaying.
  const ws = await WsClient.connect(kabar.wsUrl);
  await ws.subscribe(CHANNEL);
  const pusher = await rawPusher(kabar, { key: APP.key });
  const socketId = await established(pusher);
  assert.equal((await pusherSubscribe(pusher, CHANNEL)).event, 'pusher_internal:subscription_succeeded');
  for (let i = 0; i < EVENTS; i++) await publishToChannel(mqtt, CHANNEL, `obs-${i}`, { i });
  await ws.waitEvents(CHANNEL, EVENTS);
  await waitUntil(() => pusher.frames.filter((f) => f.event === 'test.event').length >= EVENTS, { what: 'Pusher events' });
  const sse = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}&since=earliest`));
  await waitUntil(() => sse.messages.filter((m) => m.frame.type === 'event').length >= EVENTS, { what: 'SSE replay' });
  // Its catch-up is over (it went live), so the next event reaches it live.
  await waitUntil(async () => parseMetrics((await httpGet(kabar.url('/metrics'))).body)
    .some((s) => s.name === 'kabar_replay_duration_seconds_count' && s.labels.transport === 'sse' && s.value === 1),
  { what: 'the SSE catch-up to end' });
  await publishToChannel(mqtt, CHANNEL, 'obs-live', { live: true });
  await waitUntil(() => sse.messages.some((m) => m.frame.id === 'obs-live'), { what: 'SSE live event' });
  await ws.waitEventId(CHANNEL, 'obs-live');

  // Refusals: a bad token at /sse, an anonymous /ws reader of a private channel, a bad Pusher signature.
  const refusedSse = await httpGet(kabar.url(`/sse?channel=${CHANNEL}`), { headers: { authorization: 'Bearer not.a.token' } });
  assert.equal(refusedSse.status, 401);
  const denied = await ws.request({ type: 'subscribe', channel: 'private-obs.1' });
  assert.equal(denied.type, 'error', JSON.stringify(denied));
  const badAuth = await pusherSubscribe(pusher, 'private-obs.1', { auth: authFor({ ...APP, secret: 'wrong' }, socketId, 'private-obs.1') });
  assert.equal(badAuth.event, 'pusher:subscription_error');
  // A dead letter, and a reset (an unreadable position).
  await publish(mqtt, `kabar/c/${CHANNEL}`, 'this is not JSON');
  const reset = await ws.request({ type: 'subscribe', channel: 'obs.2', since: 'garbage' });
  assert.equal(reset.type, 'subscribed', JSON.stringify(reset));
  await ws.waitFrame((f) => f.type === 'reset' && f.channel === 'obs.2', { what: 'reset for obs.2' });
  // Disconnects: a client's close, and a message over the limit (a protocol error, 1009).
  const closing = await WsClient.connect(kabar.wsUrl);
  closing.ws.close(1000);
  await closing.waitClose();
  const oversized = await WsClient.connect(kabar.wsUrl);
  oversized.send('x'.repeat(100 * 1024));
  assert.equal((await oversized.waitClose()).code, 1009);

  await waitUntil(async () => {
    samples = parseMetrics((await httpGet(kabar.url('/metrics'))).body);
    return value('kabar_dead_letters_total') === 1 && value('kabar_disconnects_total', { transport: 'ws', reason: 'protocol_error' }) === 1
      && value('kabar_replay_duration_seconds_count', { transport: 'ws' }) === 1;
  }, { timeout: 5000, what: 'the dead letter and the disconnects counted' });
  text = samples.text;
});

after(async () => {
  await kabar?.stop();
  await broker?.stop();
});

test('promtool check metrics accepts the live /metrics', { skip: PROMTOOL ? false : 'promtool not found (apt install prometheus; scripts/setup.sh --test)' }, async () => {
  const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stdin.end(text);
  const status = await withTimeout(exit, 15000, 'promtool check metrics');
  assert.deepEqual(status, { code: 0, signal: null }, `promtool check metrics:\n${output}`);
  assert.equal(output.trim(), '', `promtool reported problems:\n${output}`);
});

test('transports are told apart: connections, frames, replays and delivery latency', () => {
  for (const transport of ['ws', 'sse', 'pusher']) {
    assert.ok(value('kabar_connections', { transport }) >= 1, `open ${transport} connections`);
    assert.ok(value('kabar_connections_accepted_total', { transport }) >= 1, transport);
    assert.ok(value('kabar_transport_frames_sent_total', { transport }) >= EVENTS, transport);
    assert.ok(value('kabar_transport_bytes_sent_total', { transport }) > 0, transport);
    // Live frames only: ws and pusher saw all EVENTS + 1 live, the SSE stream only the last one.
    const count = value('kabar_delivery_latency_seconds_count', { transport });
    assert.ok(count >= (transport === 'sse' ? 1 : EVENTS + 1), `${transport} latency count ${count}`);
    assert.equal(value('kabar_delivery_latency_seconds_bucket', { transport, le: '+Inf' }), count);
    assert.ok(value('kabar_delivery_latency_seconds_sum', { transport }) < count * 5, 'local deliveries take well under 5 s each');
    const buckets = samples.filter((s) => s.name === 'kabar_delivery_latency_seconds_bucket' && s.labels.transport === transport);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative buckets');
  }
  assert.equal(value('kabar_transport_replayed_events_total', { transport: 'sse' }), EVENTS);
  // One catch-up each: /ws obs.2 (after its reset), the SSE stream; the Pusher socket subscribed live.
  assert.equal(value('kabar_replay_duration_seconds_count', { transport: 'ws' }), 1);
  assert.equal(value('kabar_replay_duration_seconds_count', { transport: 'sse' }), 1);
  assert.equal(value('kabar_replay_duration_seconds_count', { transport: 'pusher' }), 0);
  // The parts stay equal to the unlabelled totals they split.
  const sum = (name) => samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
  assert.equal(sum('kabar_transport_frames_sent_total'), value('kabar_frames_sent_total'));
  assert.equal(sum('kabar_transport_replayed_events_total'), value('kabar_replayed_events_total'));
});

test('the store commit histogram counts every committed transaction', () => {
  const commits = value('kabar_store_commits_total');
  assert.ok(commits >= EVENTS + 1);
  assert.equal(value('kabar_store_commit_duration_seconds_count'), commits);
  assert.equal(value('kabar_store_commit_duration_seconds_bucket', { le: '+Inf' }), commits);
});

test('refusals by door and reason, dead letters, resets and disconnects by reason, Pusher apps by app_id', () => {
  assert.equal(value('kabar_refusals_total', { door: 'sse', reason: 'malformed' }), 1);
  const wsRefusals = samples.filter((s) => s.name === 'kabar_refusals_total' && s.labels.door === 'ws');
  assert.equal(wsRefusals.reduce((total, s) => total + s.value, 0), 1, JSON.stringify(wsRefusals));
  assert.equal(value('kabar_refusals_total', { door: 'pusher', reason: 'bad_signature' }), 1);
  assert.equal(value('kabar_dead_letters_by_reason_total', { reason: 'not_json' }), 1);
  assert.equal(value('kabar_dead_letters_by_reason_total', { reason: 'schema_mismatch' }), 0);
  assert.equal(value('kabar_resets_total', { reason: 'bad_position' }), 1);
  assert.ok(value('kabar_disconnects_total', { transport: 'ws', reason: 'client_closed' }) >= 1);
  assert.equal(value('kabar_disconnects_total', { transport: 'ws', reason: 'protocol_error' }), 1);
  assert.equal(value('kabar_pusher_app_connections', { app_id: APP.id }), 1);
  assert.equal(value('kabar_pusher_app_accepted_total', { app_id: APP.id }), 1);
  assert.equal(value('kabar_pusher_app_auth_failures_total', { app_id: APP.id }), 1);
});

test('build info and process metrics describe this process', () => {
  const build = samples.find((s) => s.name === 'kabar_build_info');
  assert.equal(build.value, 1);
  assert.match(build.labels.version, /^\d+\.\d+\.\d+/);
  assert.ok(build.labels.commit, 'a commit label');
  const pid = kabar.child.proc.pid;
  const openFds = fs.readdirSync(`/proc/${pid}/fd`).length;
  assert.ok(Math.abs(value('process_open_fds') - openFds) <= 3, `process_open_fds ${value('process_open_fds')} vs ${openFds}`);
  assert.ok(value('process_max_fds') >= value('process_open_fds'));
  const rss = Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  assert.ok(Math.abs(value('process_resident_memory_bytes') - rss) < 16 * 1024 * 1024, `rss ${value('process_resident_memory_bytes')} vs ${rss}`);
  const started = value('process_start_time_seconds');
  assert.ok(started <= Date.now() / 1000 && started > Date.now() / 1000 - 120, `started at ${started}`);
  assert.ok(value('process_cpu_seconds_total') > 0);
});

test('every metric the Grafana dashboard and the alert rules use is served', () => {
  const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  const files = ['monitoring/grafana/kabar-dashboard.json', 'monitoring/prometheus/kabar-alerts.yml'];
  for (const file of files) {
    const content = fs.readFileSync(path.join(KABAR_SOURCE_DIR, file), 'utf8');
    const used = new Set([...content.matchAll(/\b((?:kabar|process)_[a-z_]+)/g)]
      .map((m) => m[1].replace(/_(bucket|sum|count)$/, ''))
      .filter((name) => !['kabar_auth_plugin', 'kabar_token'].includes(name)));
    assert.ok(used.size > 10, `${file} uses metrics`);
    const missing = [...used].filter((name) => !served.has(name));
    assert.deepEqual(missing, [], `${file} uses metrics /metrics does not serve`);
  }
});

test('JSON log lines carry ts, level, msg and the fields of refusals, dead letters, resets and disconnects', async () => {
  const lines = jsonLines();
  assert.ok(lines.length > 5);
  for (const line of lines) {
    assert.equal(typeof line.ts, 'string');
    assert.match(line.level, /^(trace|debug|info|warning|error|critical)$/);
    assert.equal(typeof line.msg, 'string');
  }
  const token = await waitLogged((l) => l.door === 'sse' && l.reason === 'malformed', 'the refused token');
  assert.match(token.msg, /authz: sse refused a token/);
  const channel = await waitLogged((l) => l.door === 'ws' && l.channel === 'private-obs.1', 'the refused channel');
  assert.equal(channel.sub, 'anonymous');
  assert.ok(channel.reason, JSON.stringify(channel));
  const signature = await waitLogged((l) => l.door === 'pusher' && l.reason === 'bad_signature', 'the bad signature');
  assert.deepEqual([signature.app_id, signature.channel], [APP.id, 'private-obs.1']);
  const dead = await waitLogged((l) => l.reason === 'not_json', 'the dead letter');
  assert.deepEqual([dead.level, dead.topic], ['warning', `kabar/c/${CHANNEL}`]);
  assert.match(dead.detail, /^payload is not JSON/);
  const reset = await waitLogged((l) => l.msg === 'reset' && l.channel === 'obs.2', 'the reset');
  assert.deepEqual([reset.reason, reset.transport], ['bad_position', 'ws']);
  const gone = await waitLogged((l) => l.msg === 'disconnect' && l.reason === 'protocol_error', 'the 1009 disconnect');
  assert.equal(gone.transport, 'ws');
  await waitLogged((l) => l.msg === 'disconnect' && l.reason === 'client_closed' && l.transport === 'ws', 'a client close');
});

test('an unknown KABAR_* variable is warned about at start, by name, with the setting it resembles', () => {
  const warnings = jsonLines().filter((l) => l.level === 'warning' && /environment variable/.test(l.msg));
  const about = (name) => warnings.filter((l) => l.msg.includes(name));
  assert.equal(about('KABAR_HTTP_PROT').length, 1, JSON.stringify(warnings));
  assert.match(about('KABAR_HTTP_PROT')[0].msg, /did you mean KABAR_HTTP_PORT\?/);
  assert.equal(about('KABAR_NOT_A_SETTING_AT_ALL').length, 1);
  // The harness's own variables (KABAR_BIN, KABAR_E2E_*...) are known, not typos.
  assert.deepEqual(warnings.map((l) => l.msg).filter((m) => /KABAR_(BIN|SOURCE_DIR|E2E_)/.test(m)), []);
  // Nothing else, unless this shell has unknown KABAR_* variables of its own.
  const ours = (m) => /KABAR_(HTTP_PROT|NOT_A_SETTING_AT_ALL) /.test(m) || Object.keys(process.env).some((name) => m.includes(`${name} `));
  assert.deepEqual(warnings.map((l) => l.msg).filter((m) => !ours(m)), []);
});
