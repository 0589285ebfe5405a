#!/usr/bin/env node
// Gateway killed with SIGKILL every INTERVAL seconds for DURATION seconds while a backend publishes RATE
// QoS 1 events a second (issue 8, "Proof under faults"). kabar uses an external mosquitto with
// persistence (as compose runs it), anonymous or guarded by kabar_auth_plugin.so (allow_anonymous false,
// kabar and the backend log in with backend tokens). After the loop: every event whose PUBACK the
// backend got must be in kabar's store exactly once (a replay since=earliest), and a /ws client that
// resumed from its last position after each restart must have seen each exactly once.
//
//   node scripts/faults/gateway-kill-loop.mjs --anonymous            # the anonymous loopback broker
//   node scripts/faults/gateway-kill-loop.mjs --guarded              # the compose-like guarded broker
//   ... --duration 120 --interval 5 --rate 200 --channel faults.kill
//
// Needs build/kabar (and build/kabar_auth_plugin.so for --guarded); KABAR_BIN overrides. Exit 0 when
// nothing was lost, 1 when something was (the report says what), 2 on a usage error. Prints a JSON line
// with the figures on stdout. KEEP=1 keeps the temp dirs (kabar.log, mosquitto.log, data).
import { Kabar, requireKabarBinary, sleep, waitUntil } from '../../tests/e2e/lib/harness.mjs';
import { WsClient, mqttConnect, publish } from '../../tests/e2e/lib/clients.mjs';
import { PacedPublisher, tally, describeTally } from '../../tests/e2e/lib/faults.mjs';
import { forget, log, parseArgs, startBroker } from './lib.mjs';

const USAGE = `usage: gateway-kill-loop.mjs [--anonymous | --guarded] [--duration S] [--interval S] [--rate N] [--channel C]\n`;
let opts;
try {
  opts = parseArgs({ anonymous: false, guarded: false, duration: 120, interval: 5, rate: 200, channel: 'faults.kill' }, USAGE);
  if (opts.anonymous === opts.guarded) throw new Error(`give exactly one of --anonymous and --guarded\n${USAGE}`);
  if (!(opts.duration > 0 && opts.duration <= 3600 && opts.interval >= 1 && opts.rate > 0 && opts.rate <= 5000)) {
    throw new Error(`out of range: --duration 1..3600, --interval >= 1, --rate 1..5000\n${USAGE}`);
  }
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

requireKabarBinary();
const mode = opts.guarded ? 'guarded' : 'anonymous';
const CHANNEL = opts.channel;
const { broker, token } = await startBroker({ guarded: opts.guarded });
const brokerAuth = opts.guarded ? { username: 'kabar-gateway', password: await token('kabar-gateway') } : {};
const kabar = await Kabar.create({
  mqttPort: broker.port,
  config: {
    broker: brokerAuth,
    // keep every event of the run: the check replays them all
    store: { retention_max_per_channel: 0, retention_max_age_s: 0 },
    log: { level: 'warn' },
  },
});
forget(kabar.dir);
await kabar.start({ readyTimeout: 30000 });
// The backend: MQTT.js, a backend token as its password on the guarded broker.
const mq = await mqttConnect(broker.port, {
  reconnectPeriod: 100,
  ...(opts.guarded ? { username: 'laravel', password: await token('laravel') } : {}),
});
log(`${mode} broker on ${broker.port}, kabar on ${kabar.port}; SIGKILL every ${opts.interval} s for ${opts.duration} s at ${opts.rate} events/s`);

// The follower: a /ws client that resumes after every restart from the last position it saw.
const follower = { ids: [], last: undefined, ws: null, sessions: 0 };
const harvest = () => {
  if (!follower.ws) return;
  const events = follower.ws.events(CHANNEL);
  for (const f of events) follower.ids.push(f.id);
  if (events.length) follower.last = events.at(-1).position;
  follower.ws.close();
  follower.ws = null;
};
const follow = async () => {
  const ws = await WsClient.connect(kabar.wsUrl, { timeout: 10000 });
  await ws.subscribe(CHANNEL, follower.last, { timeout: 10000 });
  follower.ws = ws;
  follower.sessions += 1;
};
await follow();

const publisher = new PacedPublisher(mq, { topic: `kabar/c/${CHANNEL}`, rate: opts.rate, prefix: `kl${Date.now() % 100000}` }).start();
const startedAt = Date.now();
const kills = []; // {at, acked, downMs}
let nextKill = startedAt + opts.interval * 1000;
let failure = null;
try {
  while (nextKill < startedAt + opts.duration * 1000) {
    await sleep(Math.max(0, nextKill - Date.now()));
    const at = Date.now();
    const ackedAtKill = publisher.acked.size;
    await kabar.kill();
    harvest();
    await kabar.start({ readyTimeout: 30000 });
    const downMs = Date.now() - at;
    kills.push({ at: at - startedAt, acked: ackedAtKill, downMs });
    await follow();
    if (kills.length % 4 === 0) log(`${kills.length} kills, ${publisher.acked.size}/${publisher.sent} acked, last restart ${downMs} ms`);
    nextKill = Math.max(at + opts.interval * 1000, Date.now() + 1000);
  }
} catch (error) {
  failure = error;
}
publisher.stop();
let drained = true;
try {
  await publisher.drain(60000);
} catch (error) {
  drained = false;
  log(`not every publish was acknowledged: ${error.message.split('\n')[0]}`);
}

// A sentinel after everything, then the whole channel from the beginning of the log.
const sentinel = `${publisher.prefix}-sentinel`;
let stored = [];
let followerResult = null;
let storeResult = null;
try {
  await publish(mq, `kabar/c/${CHANNEL}`, { id: sentinel, event: 'fault.sentinel', data: {} }, { timeout: 30000 });
  await follower.ws.waitEventId(CHANNEL, sentinel, { timeout: 120000 });
  harvest();
  const replay = await WsClient.connect(kabar.wsUrl, { timeout: 10000 });
  await replay.subscribe(CHANNEL, 'earliest', { timeout: 10000 });
  await replay.waitEventId(CHANNEL, sentinel, { timeout: 180000 });
  stored = replay.events(CHANNEL).map((f) => f.id);
  replay.close();
  storeResult = tally(stored.filter((id) => id !== sentinel), publisher);
  followerResult = tally(follower.ids.filter((id) => id !== sentinel), publisher);
} catch (error) {
  failure ??= error;
}
const downs = kills.map((k) => k.downMs).sort((a, b) => a - b);
const figures = {
  script: 'gateway-kill-loop', mode, duration_s: opts.duration, interval_s: opts.interval, rate: opts.rate,
  kills: kills.length, restart_ms_median: downs[Math.floor(downs.length / 2)] ?? null, restart_ms_max: downs.at(-1) ?? null,
  published: publisher.sent, acked: publisher.acked.size, publish_errors_resent: publisher.retries, all_acked: drained,
  store: storeResult && { missing: storeResult.missing.length, duplicates: storeResult.duplicates.length, received: storeResult.received },
  follower: followerResult && { missing: followerResult.missing.length, duplicates: followerResult.duplicates.length, received: followerResult.received, sessions: follower.sessions },
  error: failure ? failure.message.split('\n')[0] : null,
};
if (storeResult) log(describeTally('store (replay since=earliest)', storeResult));
if (followerResult) log(describeTally(`resuming /ws follower (${follower.sessions} sessions)`, followerResult));
if (storeResult?.missing.length) log(`first missing ids: ${storeResult.missing.slice(0, 20).join(' ')}`);
if (failure) log(`failed: ${failure.message.slice(0, 2000)}`);
process.stdout.write(`${JSON.stringify(figures)}\n`);
const ok = !failure && drained && storeResult && followerResult &&
  storeResult.missing.length === 0 && storeResult.duplicates.length === 0 &&
  followerResult.missing.length === 0 && followerResult.duplicates.length === 0;
log(ok ? `OK: ${kills.length} SIGKILLs, ${publisher.acked.size} acknowledged events, 0 lost, 0 duplicated` : 'FAILED: see above');
try { mq.end(true); } catch { /* ignore */ }
await kabar.stop(5000);
await broker.stop();
process.exit(ok ? 0 : 1);
