// The mosquitto that `kabar serve` starts itself (broker.embedded, the default of scripts/run.sh):
//
// * it dies with kabar, also when kabar is killed with SIGKILL (no orphan holding the port), and a kabar
//   started again at once on the same ports comes up and loses none of the events the broker had
//   acknowledged (kabar frozen with SIGSTOP while they were published, so they were only in the broker's
//   queue for kabar's persistent session, saved on the broker's way out);
// * a broker that is not kabar's on the configured port (Debian's mosquitto.service on 1883) does not
//   stop kabar: the embedded broker takes a free port, the log says which, `kabar publish` finds it,
//   events flow; with broker.embedded_port_fallback=false kabar stops and says why;
// * scripts/run.sh itself (its setup and build skipped) comes up next to such a broker.
//
// A plain mosquitto stands in for the system one, on a free port given to kabar as broker.port, so
// parallel runs and a real service on 1883 do not clash.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import {
  KABAR_BIN, KABAR_SOURCE_DIR, Kabar, freePort, requireKabarBinary, runKabar, sleep, startChild, startMosquitto,
  useHarness, waitUntil,
} from './lib/harness.mjs';
import { RawSse, mqttConnect, publishMany } from './lib/clients.mjs';
import { alive, childrenOf } from './lib/processes.mjs';

useHarness();

const range = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const envelope = (id) => JSON.stringify({ id, event: 'embedded.test', data: { id } });

before(() => requireKabarBinary());

async function embeddedKabar(mqttPort, broker = {}) {
  const kabar = await Kabar.create({ mqttPort, config: { broker: { embedded: true, ...broker } } });
  kabar.mqttPort = mqttPort;
  return kabar;
}

// The mosquitto kabar started: its only child running the broker binary.
function brokerChildOf(kabar) {
  const found = childrenOf(kabar.child.proc.pid).filter((p) => /mosquitto/.test(p.cmdline[0] || ''));
  assert.equal(found.length, 1, `one mosquitto child of kabar: ${JSON.stringify(found)}`);
  return found[0].pid;
}

// Every event of `channel` from the start of the store, through /sse since=earliest.
async function storedIds(kabar, channel, count) {
  const sse = await RawSse.open(kabar.url(`/sse?channel=${channel}&since=earliest`));
  await sse.waitEvents(channel, count, { timeout: 15000 });
  await sleep(300); // a duplicate would arrive now
  const ids = sse.events(channel).map((m) => m.frame.id);
  sse.close();
  return ids;
}

// Events of `channel` in kabar's SQLite file, read while kabar is down.
function committed(kabar, channel) {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', [path.join(kabar.dataDir, 'kabar.db'), `SELECT count(*) FROM events WHERE channel = '${channel}'`],
      { timeout: 10000 }, (error, stdout) => (error ? reject(error) : resolve(Number(stdout.trim()))));
  });
}

test('SIGKILL of kabar takes its mosquitto along; a restart at once on the same ports gets every acknowledged event once', async (t) => {
  const kabar = await embeddedKabar(await freePort());
  await kabar.start();
  const brokerPid = brokerChildOf(kabar);
  const channel = 'emb.kill';
  const ids = range('k-', 300);
  const mq = await mqttConnect(kabar.mqttPort, { reconnectPeriod: 0 });
  const make = (i) => ({ topic: `kabar/c/${channel}`, payload: envelope(ids[i]) });
  await publishMany(mq, 100, make, { window: 50 });
  // kabar frozen: the broker still acknowledges the next 200 and holds them for kabar's session only.
  process.kill(kabar.child.proc.pid, 'SIGSTOP');
  await publishMany(mq, 200, (i) => make(100 + i), { window: 50 });
  // Killed now, kabar cannot stop its broker itself; the kernel has to.
  const status = await kabar.kill();
  assert.equal(status.signal, 'SIGKILL');
  mq.end(true);
  await waitUntil(() => !alive(brokerPid), { timeout: 10000, what: `the embedded mosquitto (pid ${brokerPid}) to exit with kabar` });
  const before = await committed(kabar, channel);
  assert.ok(before < ids.length, `some acknowledged events were only in the broker when kabar died (${before} stored)`);

  await kabar.start({ readyTimeout: 15000 }); // same config: same HTTP and MQTT ports, same data folder
  assert.notEqual(brokerChildOf(kabar), brokerPid);
  assert.deepEqual(await storedIds(kabar, channel, ids.length), ids, 'every acknowledged event, once, in order');
  t.diagnostic(`kabar restarted on MQTT port ${kabar.mqttPort} after SIGKILL: ${before} of ${ids.length} events were stored before, all ${ids.length} after`);
  await kabar.stop();
});

test('a broker that is not ours on broker.port: the embedded one takes a free port, says which, and delivers', async () => {
  const foreign = await startMosquitto(); // the "system" broker, already listening
  const spy = await mqttConnect(foreign.port);
  const strays = [];
  spy.on('message', (topic) => strays.push(topic));
  await spy.subscribeAsync('#', { qos: 1 });

  const kabar = await embeddedKabar(foreign.port);
  await kabar.start();
  const log = kabar.tail(80);
  const said = new RegExp(`127\\.0\\.0\\.1:${foreign.port} is taken.*listens on 127\\.0\\.0\\.1:(\\d+) instead`).exec(log);
  assert.ok(said, `the log says the port was taken and which one the broker uses:\n${log}`);
  const port = Number(said[1]);
  assert.notEqual(port, foreign.port);
  assert.equal(Number(fs.readFileSync(path.join(kabar.dataDir, 'broker', 'port'), 'utf8')), port);
  assert.ok(foreign.running, 'the other broker is left alone');

  const sse = await RawSse.open(kabar.url('/sse?channel=dokumen.5'));
  // As the README says: `kabar publish` with the same configuration finds the embedded broker's port.
  const published = await runKabar(['publish', '--config', kabar.configFile, '--channel', 'dokumen.5',
    '--event', 'dokumen.updated', '--data', '{"dokumen":{"id":5}}', '--id', 'emb-cli-1']);
  assert.equal(published.status, 0, published.stderr);
  const mq = await mqttConnect(port);
  await mq.publishAsync('kabar/c/dokumen.5', envelope('emb-mqtt-2'), { qos: 1 });
  await sse.waitEvents('dokumen.5', 2);
  assert.deepEqual(sse.events('dokumen.5').map((m) => m.frame.id), ['emb-cli-1', 'emb-mqtt-2']);
  assert.deepEqual(strays, [], 'nothing went to the other broker');
  sse.close();
  assert.deepEqual(await kabar.stop(), { code: 0, signal: null });

  const strict = await embeddedKabar(foreign.port, { embedded_port_fallback: false });
  const refused = await runKabar(['serve', '--config', strict.configFile], { timeout: 10000 });
  assert.equal(refused.status, 1, `exit 1, not serving: ${refused.stderr}`);
  assert.match(refused.stderr, new RegExp(`127\\.0\\.0\\.1:${foreign.port}.*embedded_port_fallback`));
});

test('scripts/run.sh (setup and build skipped) comes up next to a broker on its port and delivers', async () => {
  const foreign = await startMosquitto();
  const kabar = await embeddedKabar(foreign.port);
  // run.sh serve execs `kabar serve "$@"`: the pid we hold becomes kabar's, and stop() reaches it.
  kabar.child = startChild('run.sh', path.join(KABAR_SOURCE_DIR, 'scripts/run.sh'), ['serve', '--config', kabar.configFile], {
    env: { ...process.env, KABAR_RUN_SKIP_BUILD: '1', KABAR_BIN },
    logFile: path.join(kabar.dir, 'run.log'),
  });
  await kabar.waitReady(20000);
  const port = Number(fs.readFileSync(path.join(kabar.dataDir, 'broker', 'port'), 'utf8'));
  assert.notEqual(port, foreign.port);
  const sse = await RawSse.open(kabar.url('/sse?channel=dokumen.6'));
  const mq = await mqttConnect(port);
  await mq.publishAsync('dokumen/6/updated', JSON.stringify({ dokumen: { id: 6, status: 'approved' } }), { qos: 1 });
  const [event] = await sse.waitEvents('dokumen.6', 1);
  assert.equal(event.frame.event, 'dokumen.updated');
  sse.close();
  assert.deepEqual(await kabar.stop(), { code: 0, signal: null });
});
