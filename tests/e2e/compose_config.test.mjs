// The compose setup (compose/), checked as far as a machine without a Docker engine can:
//
// * the compose file: `docker-compose config -q` accepts it; the broker and the gateways share one image,
//   one JWT secret and one policy; every KABAR_* name it sets is a real setting (kabar ignores unknown
//   KABAR_* variables, so a typo would silently leave a door unguarded); the Dockerfile installs every
//   build package of scripts/setup.sh and ships the plugin where the broker loads it; nginx logs no
//   query strings (tokens travel in /sse?token= and /ws?token=);
// * compose/mosquitto.conf on the real /usr/sbin/mosquitto with the real kabar_auth_plugin.so, only its
//   paths and ports rewritten: anonymous clients are refused on every listener, a backend token
//   publishes, a cashier's token minted by `kabar token` subscribes to her branch on the mobile listeners
//   (plain MQTT and WebSocket) and receives, and is refused another branch; max_packet_size holds; and a
//   gateway started with the compose file's own environment and command gets in with the backend token
//   it mints and becomes ready;
// * the development configurations in broker-config/ start: mosquitto.conf anonymous on the loopback,
//   mosquitto-auth.conf guarded.
//
// Every tool runs with a timeout; whatever is still running is killed in after() hooks.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import {
  KABAR_BIN, KABAR_SOURCE_DIR, Mosquitto, freePort, makeTempDir, requireKabarBinary, startChild, track,
  useHarness, waitForTcp, waitUntil, withTimeout,
} from './lib/harness.mjs';
import { mqttWithToken } from './lib/clients.mjs';

useHarness();

const COMPOSE_DIR = path.join(KABAR_SOURCE_DIR, 'compose');
const COMPOSE_FILE = path.join(COMPOSE_DIR, 'docker-compose.yml');
const PLUGIN = path.join(path.dirname(KABAR_BIN), 'kabar_auth_plugin.so'); // CMake puts it next to kabar
const IS_ROOT = process.getuid && process.getuid() === 0;
const read = (...parts) => fs.readFileSync(path.join(KABAR_SOURCE_DIR, ...parts), 'utf8');

// ---- tools: spawned, bounded, killed in after() --------------------------------------------------------

const running = new Set();
after(() => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch { /* gone */ }
  }
});

// Runs a command; the result promise settles when it exits or `timeout` ms have passed (then SIGKILL).
// `out()` is what it printed so far (stdout + stderr), for waiting on a line while it runs.
function spawnTool(command, args, { timeout = 15000, env, cwd } = {}) {
  const proc = spawn(command, args, { env: env || process.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk) => { stdout += chunk; });
  proc.stderr.on('data', (chunk) => { stderr += chunk; });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeout);
  const done = new Promise((resolve) => {
    const finish = (status, signal, error) => {
      clearTimeout(timer);
      running.delete(proc);
      resolve({ status, signal, timedOut, stdout, stderr, error });
    };
    proc.once('error', (error) => finish(null, null, error));
    proc.once('close', (status, signal) => finish(status, signal));
  });
  return { proc, done, out: () => stdout + stderr };
}
const runTool = (command, args, options) => spawnTool(command, args, options).done;
const describeRun = (r) => `exit ${r.status}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}${r.error ? ` ${r.error.message}` : ''}\n${r.stdout}${r.stderr}`;

function hasCommand(command, args = ['--version']) {
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 20000 });
  return !probe.error && probe.status === 0;
}
const HAVE_COMPOSE = hasCommand('docker-compose', ['version']);
const NO_COMPOSE = 'docker-compose is not installed (apt-get install docker-compose; scripts/setup.sh --test installs it)';

// ---- small parsers ------------------------------------------------------------------------------------

// mosquitto.conf -> [{key, args, line}] for the option lines.
function confOptions(text) {
  return text.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
    .map((line) => { const [key, ...args] = line.split(/\s+/); return { key, args, line }; });
}
const confValue = (text, key) => confOptions(text).find((o) => o.key === key)?.args.join(' ');

// Rewrites a mosquitto configuration for this machine: only the options named in `rewrites` may change
// (each must be present), every listener must have a port in `ports`, everything else stays as written.
function rewriteConf(text, { rewrites, ports }) {
  const seen = new Set();
  const lines = text.split('\n').map((line) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) return line;
    const [key, ...args] = trimmed.split(/\s+/);
    if (key === 'listener') {
      assert.ok(ports[args[0]], `listener ${args[0]} has a test port`);
      seen.add(`listener ${args[0]}`);
      return `listener ${ports[args[0]]} 127.0.0.1`;
    }
    if (key === 'user') assert.fail('the configuration sets no user: the image runs mosquitto as user mosquitto');
    if (key in rewrites) {
      seen.add(key);
      return `${key} ${rewrites[key]}`;
    }
    return line;
  });
  for (const key of Object.keys(rewrites)) assert.ok(seen.has(key), `the configuration has ${key}`);
  for (const port of Object.keys(ports)) assert.ok(seen.has(`listener ${port}`), `the configuration has a listener on ${port}`);
  // Started as root (CI, containers), mosquitto drops to user "mosquitto", who cannot read the temp files.
  if (IS_ROOT) lines.push('user root');
  return lines.join('\n');
}

// The package list of scripts/setup.sh (the packages=( ... ) block).
function setupPackages() {
  const block = /^packages=\(\n([\s\S]*?)\n\)/m.exec(read('scripts', 'setup.sh'));
  assert.ok(block, 'scripts/setup.sh has a packages=( ... ) list');
  return block[1].split(/\s+/).filter(Boolean);
}

// `docker-compose config` (the file as compose understands it: anchors merged, paths absolute) as JSON.
// PyYAML is a dependency of Debian's docker-compose (for /usr/bin/python3, which it runs on; a python3
// earlier on PATH, pyenv's say, may lack it), so it is there whenever docker-compose is.
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
let composeModel;
// The host side of a service's volume mounted at `target` (a path or a volume name).
const mount = (service, target) => service.volumes.find((v) => v.split(':')[1] === target)?.split(':')[0];

async function composeConfig() {
  if (composeModel) return composeModel;
  const result = await runTool(PYTHON, ['-c', [
    'import json, subprocess, sys, yaml',
    'out = subprocess.run(["docker-compose", "-f", sys.argv[1], "config"], check=True, capture_output=True, timeout=60).stdout',
    'print(json.dumps(yaml.safe_load(out)))',
  ].join('\n'), COMPOSE_FILE], { timeout: 90000 });
  assert.equal(result.status, 0, describeRun(result));
  composeModel = JSON.parse(result.stdout);
  return composeModel;
}

// "KABAR_HTTP_PORT" for every scalar setting, from the merged defaults kabar prints.
async function settingNames() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KABAR_')));
  const result = await runTool(KABAR_BIN, ['check-config', '--print'], { env, timeout: 15000 });
  assert.equal(result.status, 0, describeRun(result));
  const names = new Set();
  const walk = (node, prefix) => {
    for (const [key, value] of Object.entries(node)) {
      const name = `${prefix}_${key.toUpperCase()}`;
      if (value && typeof value === 'object' && !Array.isArray(value)) walk(value, name);
      else if (!Array.isArray(value)) names.add(name);
    }
  };
  walk(JSON.parse(result.stdout), 'KABAR');
  return names;
}

// ---- tokens -------------------------------------------------------------------------------------------

async function mintToken(secretFile, ...args) {
  const result = await runTool(KABAR_BIN, ['token', '--secret-file', secretFile, '--ttl', '600', ...args]);
  assert.equal(result.status, 0, describeRun(result));
  return result.stdout.trim();
}

function writeSecret(dir) {
  // What docs/operations.md has operators run: 48 random bytes, base64.
  const file = path.join(dir, 'jwt.secret');
  fs.writeFileSync(file, `${crypto.randomBytes(48).toString('base64')}\n`, { mode: 0o600 });
  return file;
}

// mosquitto_sub -d prints "Subscribed (mid: 1): <granted QoS or reason code>".
const subscribeResult = (output) => /Subscribed \(mid: \d+\): (\d+)/.exec(output)?.[1];

const mqttArgs = (port, token, sub) => ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5',
  ...(token ? ['-u', sub, '-P', token] : [])];

// =======================================================================================================

describe('the compose files', () => {
  test('docker-compose -f compose/docker-compose.yml config -q accepts the file', { skip: !HAVE_COMPOSE && NO_COMPOSE }, async () => {
    const result = await runTool('docker-compose', ['-f', COMPOSE_FILE, 'config', '-q'], { cwd: KABAR_SOURCE_DIR, timeout: 60000 });
    assert.equal(result.status, 0, describeRun(result));
  });

  test('broker and gateways: one image, one secret, one policy; every KABAR_* name is a setting', { skip: !HAVE_COMPOSE && NO_COMPOSE }, async () => {
    requireKabarBinary();
    const model = await composeConfig();
    const { broker, gateway1, gateway2 } = model.services;
    const mosquittoConf = read('compose', 'mosquitto.conf');

    // The broker is the kabar image's Debian mosquitto (the plugin's ABI), started with compose/mosquitto.conf.
    for (const service of [broker, gateway1, gateway2]) {
      assert.equal(service.image, broker.image);
      assert.equal(service.build.dockerfile, 'compose/Dockerfile');
    }
    assert.equal(broker.command[0], 'mosquitto');
    const confPath = broker.command[broker.command.indexOf('-c') + 1];
    assert.equal(mount(broker, confPath), path.join(COMPOSE_DIR, 'mosquitto.conf'));
    assert.equal(mount(broker, confValue(mosquittoConf, 'persistence_location').replace(/\/$/, '')), 'broker-data', 'persistence on a volume');

    // One secret file and one policy file for the plugin and for both gateways.
    assert.equal(model.secrets.jwt_secret.file, path.join(COMPOSE_DIR, 'secrets', 'jwt.secret'));
    const secretPath = '/run/secrets/jwt_secret';
    assert.equal(confValue(mosquittoConf, 'plugin_opt_jwt_secret_file'), secretPath);
    const policyPath = confValue(mosquittoConf, 'plugin_opt_policy');
    assert.equal(mount(broker, policyPath), path.join(COMPOSE_DIR, 'policy.json'));
    assert.ok(broker.secrets.some((s) => s.source === 'jwt_secret'));
    const names = await settingNames();
    const dockerfileEnv = [...read('compose', 'Dockerfile').matchAll(/^ENV\s+(KABAR_[A-Z0-9_]+)=/gm)].map((m) => m[1]);
    assert.ok(dockerfileEnv.length > 0);
    for (const name of dockerfileEnv) assert.ok(names.has(name), `Dockerfile: ${name} is a kabar setting`);
    for (const [name, gateway] of Object.entries({ gateway1, gateway2 })) {
      const env = gateway.environment;
      for (const key of Object.keys(env).filter((k) => k.startsWith('KABAR_'))) {
        assert.ok(names.has(key), `${name}: ${key} is a kabar setting (docs/configuration.md)`);
      }
      assert.ok(gateway.secrets.some((s) => s.source === 'jwt_secret'), `${name} gets the secret`);
      assert.ok(gateway.secrets.some((s) => s.source === 'pusher_secret'), `${name} gets the Pusher app's secret`);
      assert.equal(mount(gateway, '/etc/kabar/kabar.json'), path.join(COMPOSE_DIR, 'kabar.json'), `${name}: compose/kabar.json`);
      assert.match(gateway.command.join(' '), /kabar serve --config \/etc\/kabar\/kabar\.json/);
      assert.equal(env.KABAR_AUTH_JWT_SECRET_FILE, secretPath, `${name}: auth.jwt is the broker's secret`);
      assert.equal(env.KABAR_AUTH_POLICY_FILE, policyPath);
      assert.equal(mount(gateway, policyPath), path.join(COMPOSE_DIR, 'policy.json'), `${name}: the broker's policy`);
      assert.equal(env.KABAR_BROKER_EMBEDDED, 'false');
      assert.equal(env.KABAR_BROKER_HOST, 'broker');
      assert.ok(env.KABAR_BROKER_USERNAME, `${name} logs in to the broker`);
      assert.equal(mount(gateway, env.KABAR_STORE_DATA_DIR), `gw${name.at(-1)}-data`, `${name}: its own data volume`);
      assert.ok(!('KABAR_BROKER_PASSWORD' in env), `${name}: no token in the compose file (it is minted at start)`);
      assert.match(gateway.command.join(' '), /kabar token .*--role backend/);
    }
    assert.notEqual(gateway1.environment.KABAR_BROKER_CLIENT_ID, gateway2.environment.KABAR_BROKER_CLIENT_ID);

    // Ports: backends on the host's loopback only; the mobile listeners on every interface.
    const published = broker.ports.map((p) => (typeof p === 'string' ? p : `${p.published}:${p.target}`));
    assert.ok(published.includes('127.0.0.1:1883:1883/tcp') || published.includes('127.0.0.1:1883:1883'), published.join(' '));
    assert.ok(published.includes('1884:1884'), published.join(' '));
    assert.ok(published.includes('9001:9001'), published.join(' '));
    for (const name of ['gateway1', 'gateway2']) assert.equal(model.services[name].ports, undefined, `${name} is reached through the proxy`);
  });

  test('compose/policy.json is a valid policy', async () => {
    requireKabarBinary();
    const result = await runTool(KABAR_BIN, ['check-config', '--policy', path.join(COMPOSE_DIR, 'policy.json')]);
    assert.equal(result.status, 0, describeRun(result));
    assert.match(result.stdout, /policy file .* is valid/);
  });

  test('the Dockerfile installs every build package of scripts/setup.sh and ships the plugin the broker loads', () => {
    const dockerfile = read('compose', 'Dockerfile');
    const [buildStage, runtimeStage] = dockerfile.split(/^FROM /m).slice(1);
    assert.match(buildStage, /^debian:bookworm/, 'Debian 12, like scripts/setup.sh');
    assert.match(runtimeStage, /^debian:bookworm/);
    const install = (stage) => new Set(/apt-get install[^\n]*\\\n([\s\S]*?)&&/.exec(stage)[1].split(/[\s\\]+/).filter(Boolean));
    // Runtime tools and GoogleTest are not needed to build with KABAR_BUILD_TESTS=OFF.
    const notForBuilding = new Set(['mosquitto', 'mosquitto-clients', 'sqlite3', 'libgtest-dev', 'libgmock-dev']);
    const built = install(buildStage);
    for (const pkg of setupPackages().filter((p) => !notForBuilding.has(p))) {
      assert.ok(built.has(pkg), `compose/Dockerfile's build stage installs ${pkg} (scripts/setup.sh does)`);
    }
    assert.match(buildStage, /-DKABAR_BUILD_TESTS=OFF/);
    assert.match(buildStage, /--target kabar kabar_auth_plugin/);
    assert.ok(install(runtimeStage).has('mosquitto'), 'the runtime image has the broker');
    const plugin = confValue(read('compose', 'mosquitto.conf'), 'plugin');
    assert.match(runtimeStage, new RegExp(`COPY --from=build \\S+/kabar_auth_plugin\\.so ${plugin.replaceAll('.', '\\.')}\\n`),
      `the image puts the plugin where compose/mosquitto.conf loads it (${plugin})`);
  });

  test('nginx logs paths, never query strings', () => {
    const conf = read('compose', 'nginx.conf');
    const formats = new Map([...conf.matchAll(/log_format\s+(\S+)\s+((?:'[^']*'\s*)+);/g)].map((m) => [m[1], m[2]]));
    const accessLogs = [...conf.matchAll(/^\s*access_log\s+([^;]+);/gm)].map((m) => m[1].trim().split(/\s+/));
    assert.ok(accessLogs.length > 0, 'an access_log names its format (the default "combined" logs $request)');
    for (const [target, format] of accessLogs) {
      if (target === 'off') continue;
      assert.ok(formats.has(format), `access_log ${target} uses a format defined here, not the default: ${format}`);
      const body = formats.get(format);
      assert.match(body, /\$uri\b/);
      assert.doesNotMatch(body, /\$(request|request_uri|args|query_string|is_args|http_referer)(?![a-z_])|\$arg_/,
        `format ${format} logs nothing with the query string`);
    }
    assert.match(conf, /^\s*error_log\s+\S+\s+crit;/m, 'the error log does not write request lines (with tokens) on upstream errors');
  });

  // docs/operations.md "TLS and the proxy"; the running proxy is tested by tls_proxy.test.mjs.
  test('nginx tells the gateways who the client is, and keeps /metrics and /api/dead-letters private', () => {
    const conf = read('compose', 'nginx.conf').replace(/#.*$/gm, '');
    const locations = [...conf.matchAll(/location\s+([^{]+)\{([^}]*)\}/g)].map((m) => ({ where: m[1].trim(), body: m[2] }));
    const proxied = locations.filter((l) => /\bproxy_pass\b/.test(l.body));
    assert.ok(proxied.length >= 3, 'the locations that pass to the gateways');
    // nginx drops the server level's proxy_set_header in a location that sets its own: each says all three.
    for (const { where, body } of proxied) {
      assert.match(body, /proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/, `${where}: X-Forwarded-For`);
      assert.match(body, /proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;/, `${where}: X-Forwarded-Proto`);
      assert.match(body, /proxy_set_header\s+Host\s+\$http_host;/, `${where}: the client's Host`);
    }
    const closed = (path) => locations.find((l) => l.where === path);
    assert.match(closed('= /metrics')?.body || '', /^\s*return 404;\s*$/, '/metrics is not proxied');
    assert.match(closed('^~ /api/dead-letters')?.body || '', /^\s*return 404;\s*$/, '/api/dead-letters (and below) is not proxied');
    // The gateways believe X-Forwarded-For only from the compose network (http.trusted_proxies).
    const trusted = JSON.parse(read('compose', 'kabar.json')).http?.trusted_proxies || [];
    assert.ok(trusted.length > 0, 'compose/kabar.json names the proxy\'s network in http.trusted_proxies');
  });
});

// =======================================================================================================

describe('compose/mosquitto.conf on a real mosquitto with kabar_auth_plugin.so', () => {
  let dir;
  let secretFile;
  let broker;
  let ports;
  const tokens = {};

  before(async () => {
    requireKabarBinary();
    assert.ok(fs.existsSync(PLUGIN), `the plugin is built next to kabar: ${PLUGIN} (cmake --build <dir> --target kabar_auth_plugin)`);
    dir = makeTempDir('kabar-e2e-compose-');
    secretFile = writeSecret(dir);
    tokens.backend = await mintToken(secretFile, '--sub', 'laravel', '--role', 'backend');
    tokens.kasir = await mintToken(secretFile, '--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3');
    ports = { 1883: await freePort(), 1884: await freePort(), 9001: await freePort() };
    const persist = path.join(dir, 'persist');
    fs.mkdirSync(persist);
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(conf, rewriteConf(read('compose', 'mosquitto.conf'), {
      ports,
      rewrites: {
        plugin: PLUGIN,
        plugin_opt_policy: path.join(COMPOSE_DIR, 'policy.json'), // the file compose mounts, read-only
        plugin_opt_jwt_secret_file: secretFile,
        plugin_opt_state_file: `${persist}/kabar-auth.state`,
        persistence_location: `${persist}/`,
      },
    }));
    broker = await new Mosquitto(dir, ports[1883], conf).start();
    await waitForTcp(ports[1884], { timeout: 5000 });
    await waitForTcp(ports[9001], { timeout: 5000 });
  });

  test('the broker configuration: anonymous off, persistence on, the plugin, three listeners', () => {
    const conf = read('compose', 'mosquitto.conf');
    assert.equal(confValue(conf, 'allow_anonymous'), 'false');
    assert.equal(confValue(conf, 'per_listener_settings'), 'false', 'one set of security settings: the plugin guards every listener');
    assert.equal(confValue(conf, 'persistence'), 'true');
    assert.equal(path.dirname(confValue(conf, 'plugin_opt_state_file')) + '/', confValue(conf, 'persistence_location'),
      'the plugin keeps its session identities next to mosquitto\'s persistence (the broker-data volume)');
    assert.deepEqual(confOptions(conf).filter((o) => o.key === 'listener').map((o) => o.args[0]), ['1883', '1884', '9001']);
    assert.equal(confValue(conf, 'protocol'), 'websockets');
    assert.equal(confValue(conf, 'log_dest'), 'stderr', 'stdout is block-buffered into docker logs');
    assert.ok(Number(confValue(conf, 'max_packet_size')) > 256 * 1024, 'room for kabar\'s 256 KiB payloads plus topic and headers');
    assert.match(broker.child.output(), /kabar-auth: policy policy file .*policy\.json with \d+ rules loaded/);
  });

  test('anonymous clients are refused on every listener', async () => {
    for (const port of [ports[1883], ports[1884]]) {
      const sub = await runTool('mosquitto_sub', [...mqttArgs(port), '-t', 'dokumen/1/updated', '-C', '1', '-W', '5']);
      assert.notEqual(sub.status, 0, describeRun(sub));
      assert.match(sub.stderr, /not authori[sz]ed/i, describeRun(sub));
      const pub = await runTool('mosquitto_pub', [...mqttArgs(port), '-t', 'dokumen/1/updated', '-m', '{}']);
      assert.notEqual(pub.status, 0, describeRun(pub));
    }
    const ws = mqtt.connect(`ws://127.0.0.1:${ports[9001]}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
    ws.on('error', () => {});
    track({ close: () => ws.end(true) });
    const error = await withTimeout(new Promise((resolve) => {
      ws.once('connect', () => resolve(null));
      ws.once('error', resolve);
      ws.once('close', () => resolve(new Error('closed')));
    }), 8000, 'anonymous WebSocket client');
    assert.ok(error, 'the WebSocket listener refuses an anonymous client');
    ws.end(true);
    assert.match(broker.child.output(), /disconnected, not authorised/);
  });

  test('a token signed with another secret is refused', async () => {
    const other = writeSecret(makeTempDir('kabar-e2e-compose-other-'));
    const forged = await mintToken(other, '--sub', 'laravel', '--role', 'backend');
    const pub = await runTool('mosquitto_pub', [...mqttArgs(ports[1883], forged, 'laravel'), '-t', 'cabang/3/omset', '-m', '{}']);
    assert.notEqual(pub.status, 0, describeRun(pub));
    assert.match(pub.stderr, /not authori[sz]ed/i);
  });

  test('a cashier on the mobile listener receives her branch from a backend, and is refused another branch', async () => {
    // stdbuf: mosquitto_sub block-buffers stdout into a pipe, and the SUBACK line must be seen at once.
    const own = spawnTool('stdbuf', ['-oL', 'mosquitto_sub', '-d', ...mqttArgs(ports[1884], tokens.kasir, 'kasir-3'), '-i', 'e2e-compose-kasir',
      '-q', '1', '-t', 'cabang/3/omset', '-C', '1', '-W', '10'], { timeout: 15000 });
    await waitUntil(() => subscribeResult(own.out()), { timeout: 8000, what: 'the cashier\'s SUBACK', diag: false })
      .catch((error) => { throw new Error(`${error.message}\n${own.out()}`); });
    assert.equal(subscribeResult(own.out()), '1', `granted QoS 1 on cabang/3/omset:\n${own.out()}`);

    const payload = JSON.stringify({ id: `compose-${Date.now()}`, data: { omset_total: 1, omset_bpjs: 0, omset_umum: 1, jumlah_transaksi: 1 } });
    const pub = await runTool('mosquitto_pub', ['-d', ...mqttArgs(ports[1883], tokens.backend, 'laravel'), '-q', '1', '-t', 'cabang/3/omset', '-m', payload]);
    assert.equal(pub.status, 0, describeRun(pub));
    assert.match(pub.stdout, /received PUBACK \(Mid: \d+, RC:0\)/, `the backend may publish:\n${describeRun(pub)}`);

    const received = await own.done;
    assert.equal(received.status, 0, describeRun(received));
    assert.ok(received.stdout.includes(payload), `the cashier received the backend's event:\n${describeRun(received)}`);

    const other = await runTool('mosquitto_sub', ['-d', ...mqttArgs(ports[1884], tokens.kasir, 'kasir-3'), '-q', '1',
      '-t', 'cabang/7/omset', '-E', '-W', '5']);
    assert.equal(subscribeResult(other.stdout), '135', `cabang/7/omset refused (0x87 not authorized):\n${describeRun(other)}`);
    assert.match(other.stderr, /All subscription requests were denied/);

    const kasirPub = await runTool('mosquitto_pub', ['-d', ...mqttArgs(ports[1884], tokens.kasir, 'kasir-3'), '-q', '1', '-t', 'cabang/3/omset', '-m', payload]);
    assert.match(kasirPub.stdout, /received PUBACK \(Mid: \d+, RC:135\)/, `a cashier may not publish:\n${describeRun(kasirPub)}`);
    assert.match(broker.child.output(), /kabar-auth: refused subscribe of cabang\/7\/omset by .*kasir-3/);
  });

  test('the WebSocket listener: the same cashier token, the same answers (MQTT.js)', async () => {
    const client = await mqttWithToken(`ws://127.0.0.1:${ports[9001]}`, tokens.kasir, { username: 'kasir-3', clientId: 'e2e-compose-ws' });
    await withTimeout(client.subscribeAsync('cabang/3/omset', { qos: 1 }), 5000, 'subscribe cabang/3/omset');
    const refused = await withTimeout(client.subscribeAsync('cabang/7/omset', { qos: 1 }).then(() => 0, (e) => e.packet?.granted?.[0] ?? e.code), 5000, 'subscribe cabang/7/omset');
    assert.equal(refused, 135, 'another branch is refused over WebSocket too');
    const message = withTimeout(new Promise((resolve) => client.once('message', (topic, body) => resolve({ topic, body: body.toString() }))), 8000, 'delivery over WebSocket');
    const pub = await runTool('mosquitto_pub', [...mqttArgs(ports[1883], tokens.backend, 'laravel'), '-q', '1', '-t', 'cabang/3/omset', '-m', '{"ws":true}']);
    assert.equal(pub.status, 0, describeRun(pub));
    assert.deepEqual(await message, { topic: 'cabang/3/omset', body: '{"ws":true}' });
    client.end(true);
  });

  test('max_packet_size: a 300 KB publish is accepted (a gateway would dead-letter it), a 400 KB packet disconnects the sender', async () => {
    const big = (n) => { const file = path.join(dir, `payload-${n}`); fs.writeFileSync(file, 'x'.repeat(n)); return file; };
    const ok = await runTool('mosquitto_pub', ['-d', ...mqttArgs(ports[1883], tokens.backend, 'laravel'), '-q', '1', '-t', 'dokumen/1/updated', '-f', big(300000)]);
    assert.match(ok.stdout, /received PUBACK \(Mid: \d+, RC:(0|16)\)/, describeRun(ok));
    // MQTT 3.1.1: the client does not learn the limit, so the broker must enforce it.
    const tooBig = await runTool('mosquitto_pub', ['-d', '-h', '127.0.0.1', '-p', String(ports[1883]), '-V', 'mqttv311', '-u', 'laravel',
      '-P', tokens.backend, '-q', '1', '-t', 'dokumen/1/updated', '-f', big(400000)], { timeout: 15000 });
    assert.notEqual(tooBig.status, 0, describeRun(tooBig));
    assert.doesNotMatch(tooBig.stdout, /received PUBACK/, describeRun(tooBig));
  });

  test('a gateway with the compose file\'s environment and command gets in with the backend token it mints', { skip: !HAVE_COMPOSE && NO_COMPOSE }, async () => {
    const { gateway1 } = (await composeConfig()).services;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KABAR_')));
    // The container's environment: the image's ENV lines, then the service's environment.
    for (const m of read('compose', 'Dockerfile').matchAll(/^ENV\s+(KABAR_[A-Z0-9_]+)=(\S+)$/gm)) env[m[1]] = m[2];
    Object.assign(env, gateway1.environment);
    // Only what differs on this machine: where the broker and the files are, and the HTTP port.
    const local = {
      KABAR_BROKER_HOST: '127.0.0.1', KABAR_BROKER_PORT: String(ports[1883]), KABAR_AUTH_JWT_SECRET_FILE: secretFile,
      KABAR_AUTH_POLICY_FILE: path.join(COMPOSE_DIR, 'policy.json'), KABAR_STORE_DATA_DIR: path.join(dir, 'gw1-data'),
    };
    for (const key of Object.keys(local)) assert.ok(key in gateway1.environment, `compose sets ${key}`);
    const httpPort = await freePort();
    Object.assign(env, local, { KABAR_HTTP_LISTEN: '127.0.0.1', KABAR_HTTP_PORT: String(httpPort) });
    env.PATH = `${path.dirname(KABAR_BIN)}:${env.PATH}`; // `kabar` in the command is the binary under test
    // The command as the container runs it (compose turns $$ into $).
    // Its config file (compose/kabar.json: the Pusher app, whose secret is a compose secret) with the
    // secret's path made local.
    const composeConfigFile = '/etc/kabar/kabar.json';
    assert.equal(mount(gateway1, composeConfigFile), path.join(COMPOSE_DIR, 'kabar.json'));
    const pusherSecretFile = path.join(dir, 'pusher.secret');
    fs.writeFileSync(pusherSecretFile, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const appConfig = JSON.parse(read('compose', 'kabar.json'));
    for (const app of appConfig.apps) {
      assert.equal(app.secret, undefined, 'no app secret in the committed file');
      assert.equal(app.secret_file, '/run/secrets/pusher_secret');
      app.secret_file = pusherSecretFile;
    }
    const localConfigFile = path.join(dir, 'kabar.json');
    fs.writeFileSync(localConfigFile, JSON.stringify(appConfig));
    const [shell, ...args] = gateway1.command.map((part) => part.replaceAll('$$', '$').replaceAll(composeConfigFile, localConfigFile));
    const gateway = startChild('compose-gateway1', shell, args, { env, logFile: path.join(dir, 'gateway1.log') });
    await waitUntil(async () => {
      if (gateway.exited) throw new Error(`the gateway exited: ${JSON.stringify(gateway.exitStatus)}\n${gateway.tail(40)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    }, { timeout: 20000, interval: 100, what: 'the compose gateway /readyz == 200 (connected and subscribed to the guarded broker)' });
    const username = gateway1.environment.KABAR_BROKER_USERNAME;
    assert.match(broker.child.output(), new RegExp(`as ${gateway1.environment.KABAR_BROKER_CLIENT_ID}\\S* \\(p5, c0, k\\d+, u'${username}'\\)`),
      'the broker logged the gateway in under its username (the token\'s sub)');
    assert.doesNotMatch(gateway.output(), /eyJ[\w-]+\.eyJ/, 'no token in the gateway\'s log');
    // The Pusher app is compose/kabar.json's, with the secret from its file; the development app (whose
    // secret everyone knows) is not served.
    const app = appConfig.apps[0];
    const served = await fetch(`http://127.0.0.1:${httpPort}/apps/${app.id}/channels`, { signal: AbortSignal.timeout(2000) });
    assert.equal(served.status, 401, `the app ${app.id} exists and wants a signature: ${await served.text()}`);
    const dev = await fetch(`http://127.0.0.1:${httpPort}/apps/local/channels`, { signal: AbortSignal.timeout(2000) });
    assert.equal(dev.status, 404, await dev.text());
    assert.doesNotMatch(gateway.output(), /well-known development secret/);
    assert.doesNotMatch(broker.child.output(), /eyJ[\w-]+\.eyJ/, 'no token in the broker\'s log');
    await gateway.stop();
  });
});

// =======================================================================================================

describe('the development configurations in broker-config/', () => {
  test('mosquitto.conf: anonymous, on the loopback only', async () => {
    const text = read('broker-config', 'mosquitto.conf');
    const listeners = confOptions(text).filter((o) => o.key === 'listener');
    assert.ok(listeners.length > 0);
    for (const l of listeners) assert.equal(l.args[1], '127.0.0.1', `an anonymous broker listens on the loopback only: ${l.line}`);
    assert.equal(confValue(text, 'allow_anonymous'), 'true');
    const dir = makeTempDir('kabar-e2e-devbroker-');
    const port = await freePort();
    fs.mkdirSync(path.join(dir, 'persist'));
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(conf, rewriteConf(text, { ports: { 1883: port }, rewrites: { persistence_location: `${dir}/persist/` } }));
    const broker = await new Mosquitto(dir, port, conf).start();
    const pub = await runTool('mosquitto_pub', [...mqttArgs(port), '-q', '1', '-t', 'dokumen/1/updated', '-m', '{}']);
    assert.equal(pub.status, 0, describeRun(pub));
    await broker.stop();
  });

  test('mosquitto-auth.conf: the plugin on every listener, anonymous refused, a backend token accepted', async () => {
    requireKabarBinary();
    const dir = makeTempDir('kabar-e2e-authbroker-');
    const secretFile = writeSecret(dir);
    const ports = { 1883: await freePort(), 1884: await freePort(), 9001: await freePort() };
    fs.mkdirSync(path.join(dir, 'persist'));
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(conf, rewriteConf(read('broker-config', 'mosquitto-auth.conf'), {
      ports,
      rewrites: { plugin: PLUGIN, plugin_opt_jwt_secret_file: secretFile, plugin_opt_state_file: `${dir}/persist/kabar-auth.state`,
        persistence_location: `${dir}/persist/` },
    }));
    const broker = await new Mosquitto(dir, ports[1883], conf).start();
    const anonymous = await runTool('mosquitto_pub', [...mqttArgs(ports[1884]), '-t', 'dokumen/1/updated', '-m', '{}']);
    assert.notEqual(anonymous.status, 0, describeRun(anonymous));
    const backend = await mintToken(secretFile, '--sub', 'laravel', '--role', 'backend');
    const pub = await runTool('mosquitto_pub', ['-d', ...mqttArgs(ports[1883], backend, 'laravel'), '-q', '1', '-t', 'dokumen/1/updated', '-m', '{}']);
    assert.match(pub.stdout, /received PUBACK \(Mid: \d+, RC:(0|16)\)/, describeRun(pub));
    await broker.stop();
  });
});
