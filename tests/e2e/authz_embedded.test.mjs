// The mosquitto that `kabar serve` starts itself (broker.embedded) holds MQTT clients to the same policy
// as kabar's own doors once a JWT key is configured: it loads kabar_auth_plugin.so, refuses anonymous
// clients, and lets kabar's bridge, REST publisher and cluster link in with per-start internal
// credentials (docs/authorization.md "The embedded broker"). Without a key it stays the anonymous
// loopback broker it always was.
//
// Clients are ones we did not write: MQTT.js 5 and mosquitto_sub/mosquitto_pub.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  KABAR_BIN, Kabar, freePort, makeTempDir, metricSum, requireKabarBinary, runKabar, sleep, track, useHarness,
  waitUntil, withTimeout,
} from './lib/harness.mjs';
import { WsClient, mqttWithToken } from './lib/clients.mjs';

useHarness();

const SECRET = 'e2e-embedded-secret-e2e-embedded-secret-0123';
const PLUGIN = path.join(path.dirname(KABAR_BIN), 'kabar_auth_plugin.so');
const omset = (n) => ({ omset_total: n, omset_bpjs: 0, omset_umum: n, jumlah_transaksi: 1 });

let dir;
let secretFile;
const tokens = {};

// Runs a mosquitto client tool to completion (bounded by its own -W and our timeout).
function runTool(tool, args, timeout = 15000) {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

// MQTT 5 so refusals come back as reason codes; no reconnects, so a refusal is final.
const mqttAs = (port, token, options) => mqttWithToken(`mqtt://127.0.0.1:${port}`, token, options);

const notAuthorized = (error) => error.code === 135 || error.code === 134 || /authori|bad user/i.test(error.message);

// 0 when granted, else the SUBACK reason code.
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

// A kabar node that starts its own mosquitto on a free port.
async function embeddedKabar({ broker = {}, ...config } = {}) {
  const mqttPort = await freePort();
  const kabar = await Kabar.create({ mqttPort, config: { ...config, broker: { embedded: true, ...broker } } });
  kabar.mqttPort = mqttPort;
  return kabar;
}

before(async () => {
  requireKabarBinary();
  assert.ok(fs.existsSync(PLUGIN), `the broker plugin is built next to kabar: ${PLUGIN}`);
  dir = makeTempDir('kabar-e2e-embedded-');
  secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`);
  const cli = async (...args) => {
    const result = await runKabar(['token', '--secret-file', secretFile, '--ttl', '3600', ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };
  tokens.kasir = await cli('--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3');
  tokens.super_admin = await cli('--sub', 'boss', '--role', 'super_admin');
  tokens.backend = await cli('--sub', 'laravel', '--role', 'backend');
});

describe('embedded broker with auth.jwt configured', () => {
  let kabar;
  before(async () => {
    kabar = await embeddedKabar({ auth: { jwt: { secret_file: secretFile, clock_skew_s: 0 } } });
    await kabar.start();
  });

  test('the generated mosquitto.conf loads the plugin and refuses anonymous clients; the internal secret stays private', async () => {
    const brokerDir = path.join(kabar.dataDir, 'broker');
    const conf = fs.readFileSync(path.join(brokerDir, 'mosquitto.conf'), 'utf8');
    assert.match(conf, /^allow_anonymous false$/m);
    assert.match(conf, new RegExp(`^plugin ${PLUGIN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(conf, new RegExp(`^plugin_opt_jwt_secret_file ${secretFile}$`, 'm'));
    assert.match(conf, /^plugin_opt_internal_username kabar-internal$/m);
    const secretPath = path.join(brokerDir, 'internal.secret');
    const internal = fs.readFileSync(secretPath, 'utf8').trim();
    assert.match(internal, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(secretPath).mode & 0o777, 0o600, 'internal.secret is readable by its owner only');
    assert.equal(fs.statSync(path.join(brokerDir, 'mosquitto.conf')).mode & 0o077, 0, 'mosquitto.conf is private');
    assert.ok(!conf.includes(internal), 'the config names the secret file, not the secret');
    assert.ok(!conf.includes(SECRET), 'the JWT secret is not copied into the config');
    // The persistent sessions' identities (kabar's bridge: "internal") are kept next to mosquitto's
    // persistence, so a broker restart queues for kabar's restored session before it reconnects.
    const stateFile = path.join(brokerDir, 'kabar-auth.state');
    assert.match(conf, new RegExp(`^plugin_opt_state_file ${stateFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    // The plugin writes the file when the set of persistent identities changes, at most once a second
    // (from its tick): it may hold only its header for a moment after kabar connected.
    const readState = () => { try { return fs.readFileSync(stateFile, 'utf8'); } catch { return ''; } };
    await waitUntil(() => /^kabar-auth-state 1\ninternal [0-9a-f]+$/m.test(readState()), {
      timeout: 5000, what: `the plugin state file to list kabar's bridge as internal (have ${JSON.stringify(readState())})`,
    });
    assert.equal(fs.statSync(stateFile).mode & 0o777, 0o600, 'the state file is readable by its owner only');
    assert.ok(!fs.readFileSync(stateFile, 'utf8').includes(internal), 'the internal secret is not in the state file');
    const log = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    assert.match(log, /clients held to the policy by kabar_auth_plugin\.so/);
    assert.ok(!log.includes(internal) && !log.includes(SECRET), 'no secret in the kabar log');
  });

  test('a cashier on the embedded broker (MQTT.js) gets her branch and is refused another; kabar still ingests', async () => {
    const kasir = await mqttAs(kabar.mqttPort, tokens.kasir);
    assert.equal(await subscribeCode(kasir, 'cabang/3/omset'), 0, 'own branch granted');
    assert.equal(await subscribeCode(kasir, 'cabang/7/omset'), 135, 'other branch refused with 0x87');
    assert.equal(await subscribeCode(kasir, 'cabang/+/omset'), 135, 'a wildcard over every branch refused');
    const received = [];
    kasir.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
    // A kabar client with every right, to see what the gateway ingested.
    const ws = await WsClient.connect(kabar.wsUrl, { options: { headers: { Authorization: `Bearer ${tokens.super_admin}` } } });
    await ws.subscribe('private-cabang.3');
    await ws.subscribe('private-cabang.7');
    const backend = await mqttAs(kabar.mqttPort, tokens.backend);
    for (const n of [3, 7]) {
      await backend.publishAsync(`cabang/${n}/omset`, JSON.stringify({ id: `emb-${n}`, data: omset(n) }), { qos: 1 });
    }
    await ws.waitEventId('private-cabang.3', 'emb-3', { timeout: 8000 });
    await ws.waitEventId('private-cabang.7', 'emb-7', { timeout: 8000 });
    await waitUntil(() => received.some((m) => m.topic === 'cabang/3/omset'), { timeout: 5000, what: 'the cashier gets branch 3' });
    await sleep(200);
    assert.deepEqual(received.map((m) => m.topic), ['cabang/3/omset'], 'nothing of branch 7 reached the cashier');
    // A cashier may not publish (PUBACK 0x87 with MQTT 5), and nothing she sent was ingested.
    await assert.rejects(kasir.publishAsync('cabang/3/omset', JSON.stringify({ id: 'emb-kasir', data: omset(1) }), { qos: 1 }), notAuthorized);
    await sleep(300);
    assert.equal(ws.events().some((f) => f.id === 'emb-kasir'), false, 'a refused publish is not ingested');
    ws.close();
    kasir.end(true);
    backend.end(true);
  });

  test('mosquitto_sub with a cashier token: own branch delivered, other branch denied', async () => {
    const common = ['-h', '127.0.0.1', '-p', String(kabar.mqttPort), '-V', 'mqttv5', '-u', 'kasir-3', '-P', tokens.kasir, '-q', '1'];
    const own = runTool('mosquitto_sub', [...common, '-i', 'e2e-sub-own', '-t', 'cabang/3/omset', '-C', '1', '-W', '8']);
    // -E: exit once the SUBACK is in; mosquitto_sub 2.0 reports a refused filter on stderr.
    const other = await runTool('mosquitto_sub', [...common, '-i', 'e2e-sub-other', '-t', 'cabang/7/omset', '-E', '-W', '5']);
    assert.match(other.stderr, /All subscription requests were denied/, `${other.status} ${other.stdout} ${other.stderr}`);
    assert.equal(other.stdout, '', 'nothing of branch 7 was printed');
    // Publish until the subscriber (started concurrently) has received one.
    const pub = ['-h', '127.0.0.1', '-p', String(kabar.mqttPort), '-V', 'mqttv5', '-u', 'laravel', '-P', tokens.backend, '-q', '1', '-t', 'cabang/3/omset'];
    let result;
    for (let i = 0; i < 20 && !result; i++) {
      const sent = await runTool('mosquitto_pub', [...pub, '-m', JSON.stringify({ id: `emb-cli-${i}`, data: omset(i + 1) })]);
      assert.equal(sent.status, 0, sent.stderr);
      result = await Promise.race([own, sleep(250).then(() => null)]);
    }
    result ??= await withTimeout(own, 10000, 'mosquitto_sub to receive');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /"id":"emb-cli-\d+"/);
  });

  test('anonymous clients, bad tokens and guessed internal credentials are refused', async () => {
    await assert.rejects(mqttAs(kabar.mqttPort, ''), notAuthorized, 'anonymous');
    await assert.rejects(mqttAs(kabar.mqttPort, 'not-a-token', { username: 'x' }), notAuthorized, 'malformed token');
    await assert.rejects(mqttAs(kabar.mqttPort, 'f'.repeat(64), { username: 'kabar-internal' }), notAuthorized, 'wrong internal secret');
    // The internal username with a valid token is still refused: the name is reserved.
    await assert.rejects(mqttAs(kabar.mqttPort, tokens.backend, { username: 'kabar-internal' }), notAuthorized, 'internal name with a token');
    const log = fs.readFileSync(path.join(kabar.dataDir, 'broker', 'mosquitto.log'), 'utf8');
    assert.match(log, /kabar-auth: refused connection of .*wrong internal credentials/);
    assert.ok(!log.includes(tokens.backend), 'no token in the broker log');
    // The gateway itself is connected through the same broker.
    const metrics = await kabar.metrics();
    assert.equal(metricSum(metrics, /^kabar_mqtt_connected$/), 1);
  });

  test('a restart makes a new internal secret and kabar reconnects with it', async () => {
    const secretPath = path.join(kabar.dataDir, 'broker', 'internal.secret');
    const before = fs.readFileSync(secretPath, 'utf8');
    await kabar.restart();
    assert.notEqual(fs.readFileSync(secretPath, 'utf8'), before);
    const ws = await WsClient.connect(kabar.wsUrl, { options: { headers: { Authorization: `Bearer ${tokens.super_admin}` } } });
    await ws.subscribe('private-cabang.3');
    const backend = await mqttAs(kabar.mqttPort, tokens.backend);
    await backend.publishAsync('cabang/3/omset', JSON.stringify({ id: 'emb-after-restart', data: omset(9) }), { qos: 1 });
    await ws.waitEventId('private-cabang.3', 'emb-after-restart', { timeout: 8000 });
    ws.close();
    backend.end(true);
    await kabar.stop();
  });
});

describe('without auth the embedded broker stays anonymous', () => {
  test('no JWT key: no plugin, anonymous publishes are ingested as before', async () => {
    const kabar = await embeddedKabar();
    await kabar.start();
    const conf = fs.readFileSync(path.join(kabar.dataDir, 'broker', 'mosquitto.conf'), 'utf8');
    assert.match(conf, /^allow_anonymous true$/m);
    assert.doesNotMatch(conf, /^plugin /m);
    assert.equal(fs.existsSync(path.join(kabar.dataDir, 'broker', 'internal.secret')), false);
    const ws = await WsClient.connect(kabar.wsUrl);
    await ws.subscribe('dokumen.5');
    const anon = await mqttAs(kabar.mqttPort, '');
    await anon.publishAsync('dokumen/5/updated', JSON.stringify({ id: 'emb-anon', data: { dokumen: { id: 5 } } }), { qos: 1 });
    await ws.waitEventId('dokumen.5', 'emb-anon', { timeout: 8000 });
    ws.close();
    anon.end(true);
    await kabar.stop();
  });

  test('broker.embedded_auth=off keeps the anonymous broker even with a JWT key', async () => {
    const kabar = await embeddedKabar({ broker: { embedded_auth: 'off' }, auth: { jwt: { secret_file: secretFile } } });
    await kabar.start();
    const anon = await mqttAs(kabar.mqttPort, '');
    assert.equal(await subscribeCode(anon, 'cabang/7/omset'), 0);
    anon.end(true);
    await kabar.stop();
  });

  test('a missing plugin stops kabar with a clear message instead of starting an open broker', async () => {
    const kabar = await embeddedKabar({ broker: { auth_plugin: path.join(dir, 'nowhere.so') }, auth: { jwt: { secret_file: secretFile } } });
    const result = await runKabar(['serve', '--config', kabar.configFile], { timeout: 15000 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /plugin .*nowhere\.so is not there/);
    assert.match(result.stderr, /broker\.embedded_auth=off/);
  });
});
