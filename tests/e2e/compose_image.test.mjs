// The compose setup run from a real image (issue 12 part 2, docs/operations.md "Compose"): the image is
// built here with buildah and its processes run here, with the settings of compose/docker-compose.yml.
//
// * The image: compose/Dockerfile's runtime stage as written (its packages, user, ENV, CMD), over a
//   Debian 12 base made with debootstrap from the Debian archive (lib/debian_root.mjs: no container
//   registry is reachable, so debian:bookworm-slim is replaced by that base), with the binaries of this
//   build (the same Debian 12 and packages as the Dockerfile's build stage) instead of compiling them a
//   second time: `buildah bud --isolation chroot`. The base and the package layer are cached under the
//   build folder (build/debian-root/), so only the first run pays for debootstrap.
// * The services: a working container per service; its processes started with `buildah run --isolation
//   chroot --network host` (podman run is refused by the sandbox), with the service's command, user,
//   environment, volumes and secrets from the compose file. Host networking is the one difference, so
//   only the listen ports (free ones) and the broker's host name (127.0.0.1) are rewritten.
// * The healthchecks as compose runs them, inside the service's container: the broker's, then the
//   gateways' (`kabar health`), in the order `depends_on: condition: service_healthy` says; a gateway's
//   check fails before it started and while it is down (the check can fail).
// * Real clients: an EventSource on gateway1, laravel-echo + pusher-js (the compose Pusher app) on
//   gateway2, MQTT.js with a cashier's token on the broker's WebSocket listener, and MQTT.js with a
//   backend token publishing. gateway1 is stopped (SIGTERM to its kabar) while events keep coming, and
//   started again: every client ends with every event once, in order.
//
// Skipped with a message where buildah or debootstrap is missing or not root. Everything started is
// stopped by pid; the working containers are removed; the cached images stay.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  KABAR_BIN, KABAR_SOURCE_DIR, OWNER, freePort, makeTempDir, requireKabarBinary, startChild, useHarness, waitForTcp,
  waitUntil,
} from './lib/harness.mjs';
import { SseClient, mqttWithToken, publish } from './lib/clients.mjs';
import { markedProcesses } from './lib/processes.mjs';
import { makeEcho, subscribed } from './pusher-helpers.mjs';
import { CACHE_DIR, debianRoot, debianRootUnavailable, runTool as runToolWithin, runtimeStage, show } from './lib/debian_root.mjs';


// Registered before the harness's own after() hook, so it runs first: the harness stops the buildah
// processes, but a process inside a container outlives its buildah when that is SIGKILLed. So every
// service process (marked E2E_SERVICE) gets SIGTERM by its pid, then SIGKILL, and the working
// containers are removed.
const containers = [];
after(async () => {
  const inside = () => markedProcesses('KABAR_E2E_OWNER', OWNER).filter((p) => hasEnv(p.pid, 'E2E_SERVICE'));
  for (const p of inside()) { try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ } }
  const deadline = Date.now() + 10000;
  while (inside().length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const p of inside()) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const container of containers.splice(0)) await buildah(['rm', container]);
  if (Object.keys(timings).length) process.stderr.write(`# compose_image timings (ms): ${JSON.stringify(timings)}\n`);
});
function hasEnv(pid, name) {
  try { return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((e) => e.startsWith(`${name}=`)); } catch { return false; }
}

useHarness();

const BUILDAH = ['/usr/bin/buildah', '/usr/local/bin/buildah'].find((p) => fs.existsSync(p));
const skip = (!BUILDAH && 'buildah is not installed (apt-get install buildah; scripts/setup.sh --test installs it)') ||
  debianRootUnavailable() || false;
const COMPOSE_DIR = path.join(KABAR_SOURCE_DIR, 'compose');
// KABAR_E2E_IMAGE: run an image already in the test's storage (e.g. compose/Dockerfile built whole, with
// its build stage: docs/operations.md "Compose") instead of building the runtime stage here.
const GIVEN_IMAGE = process.env.KABAR_E2E_IMAGE;
const IMAGE = GIVEN_IMAGE || 'localhost/kabar:e2e';
const STORAGE = ['--root', path.join(CACHE_DIR, 'containers', 'storage'), '--runroot', path.join(CACHE_DIR, 'containers', 'run'),
  '--storage-driver', 'overlay'];
const CHANNEL = 'dokumen.7';
const TOPIC = 'dokumen/7/updated';
const PER_PHASE = 20;  // events published before, during and after gateway1's restart

// This file's tools (buildah, tar) get two minutes unless told otherwise.
const runTool = (command, args, options = {}) => runToolWithin(command, args, { timeout: 120000, ...options });
const buildah = (args, options) => runTool(BUILDAH, [...STORAGE, ...args], options);
async function buildahOk(args, options) {
  const result = await buildah(args, options);
  assert.equal(result.status, 0, `buildah ${args.join(' ')}: ${show(result)}`);
  return result;
}

// The compose file as compose reads it (anchors merged): PyYAML, which Debian's docker-compose brings.
function composeModel() {
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const result = spawnSync(python, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))',
    path.join(COMPOSE_DIR, 'docker-compose.yml')], { encoding: 'utf8', timeout: 30000 });
  assert.equal(result.status, 0, `reading docker-compose.yml with PyYAML: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

const timings = {};
async function timed(name, action) {
  const started = Date.now();
  try { return await action(); } finally { timings[name] = Date.now() - started; }
}

// ---- the image --------------------------------------------------------------------------------------

// localhost/kabar-debootstrap:<key>: the debootstrapped root as a one-layer image (made once).
async function baseImage() {
  const { rootfs, key } = await debianRoot();
  const name = `localhost/kabar-debootstrap:${key}`;
  if ((await buildah(['images', '--quiet', name])).status === 0) return name;
  const tar = path.join(makeTempDir('kabar-e2e-base-'), 'rootfs.tar');
  const packed = await runTool('tar', ['-C', rootfs, '--exclude=./dev/*', '-cf', tar, '.']);
  assert.equal(packed.status, 0, show(packed));
  const container = (await buildahOk(['from', 'scratch'])).stdout.trim();
  try {
    await buildahOk(['add', container, tar, '/']);
    await buildahOk(['commit', '--quiet', container, name]);
  } finally {
    await buildah(['rm', container]);
  }
  return name;
}

// The Dockerfile's runtime stage over that base, with this build's binaries (stripped, as the build
// stage strips them) in place of the build stage's.
async function buildImage(base, dir) {
  const stage = runtimeStage();
  const copies = [...stage.matchAll(/^COPY --from=build \/build\/(\S+) (\S+)$/gm)];
  assert.deepEqual(copies.map((m) => m[1]).sort(), ['kabar', 'kabar_auth_plugin.so'], 'the runtime stage copies the two binaries');
  const containerfile = stage
    .replace(/^FROM debian:bookworm-slim\b.*$/m, `FROM ${base}`)
    .replaceAll(/^COPY --from=build \/build\/(\S+) /gm, 'COPY $1 ');
  assert.ok(containerfile.startsWith(`FROM ${base}\n`), containerfile.split('\n')[0]);
  fs.writeFileSync(path.join(dir, 'Containerfile'), containerfile);
  for (const binary of ['kabar', 'kabar_auth_plugin.so']) {
    const stripped = await runTool('strip', ['--strip-debug', '-o', path.join(dir, binary), path.join(path.dirname(KABAR_BIN), binary)]);
    assert.equal(stripped.status, 0, show(stripped));
  }
  await buildahOk(['bud', '--isolation', 'chroot', '--layers', '--pull=never', '--quiet', '-t', IMAGE, '-f',
    path.join(dir, 'Containerfile'), dir], { timeout: 300000 });
  // The previous run's image (its binaries' layers) is untagged now: removed, so the cache does not grow.
  await buildah(['rmi', '--prune']);
}

// Working containers of a test file that was killed before its after() hook (the pid in the name is gone).
async function removeStaleContainers() {
  const list = await buildah(['containers', '--format', '{{.ContainerName}}']);
  for (const name of list.stdout.split('\n')) {
    const pid = /^kabar-e2e-(\d+)-/.exec(name)?.[1];
    if (pid && !fs.existsSync(`/proc/${pid}`)) await buildah(['rm', name]);
  }
}

// ---- services ---------------------------------------------------------------------------------------

// One service of the compose file in a working container of the image.
class Service {
  constructor(name, spec, { env = {}, mounts = [] }) {
    this.name = name;
    this.spec = spec;
    this.env = env;       // the service's environment as it runs here
    this.mounts = mounts; // -v arguments
    this.process = null;
  }

  async create() {
    this.container = `kabar-e2e-${OWNER}-${this.name}`;
    await buildahOk(['from', '--pull=never', '--name', this.container, IMAGE]);
    containers.push(this.container);
    return this;
  }

  // buildah run with this service's user, environment and mounts. Every process carries this file's
  // marks (KABAR_E2E_OWNER, KABAR_E2E_SUITE), so the leftover checks see them.
  runArgs(command) {
    const env = { ...this.env, KABAR_E2E_OWNER: OWNER, E2E_SERVICE: this.name };
    if (process.env.KABAR_E2E_SUITE) env.KABAR_E2E_SUITE = process.env.KABAR_E2E_SUITE;
    return [...STORAGE, 'run', '--isolation', 'chroot', '--network', 'host',
      ...(this.spec.user ? ['--user', this.spec.user] : []),
      ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      ...this.mounts.flatMap((m) => ['--volume', m]),
      this.container, '--', ...command];
  }

  start(command) {
    this.process = startChild(this.name, BUILDAH, this.runArgs(command), { logFile: path.join(dir, `${this.name}.log`) });
    return this.process;
  }

  // The service's healthcheck (CMD form), run in its container as compose runs it: 0 is healthy.
  async health(rewrite = (args) => args) {
    const [form, ...args] = this.spec.healthcheck.test;
    assert.equal(form, 'CMD');
    return runTool(BUILDAH, this.runArgs(rewrite(args)), { timeout: 30000 });
  }

  async waitHealthy(rewrite) {
    await waitUntil(async () => {
      if (this.process?.exited) throw new Error(`${this.name} exited: ${JSON.stringify(this.process.exitStatus)}\n${this.process.tail(30)}`);
      return (await this.health(rewrite)).status === 0;
    }, { timeout: 60000, interval: 500, what: `${this.name} healthy` });
  }

  // SIGTERM to the service's main process inside the container (by its pid), as `docker compose stop`.
  async stop(main) {
    const pids = markedProcesses('E2E_SERVICE', this.name).filter((p) => p.cmdline.join(' ').includes(main));
    assert.ok(pids.length >= 1, `${this.name}: its ${main} process is found`);
    for (const p of pids) process.kill(p.pid, 'SIGTERM');
    return this.process.exitPromise;
  }
}

let dir;
let model;
let broker;
let gateways;
let ports;
let tokens;
let httpPorts;

before(async () => {
  if (skip) return;
  requireKabarBinary();
  dir = makeTempDir('kabar-e2e-image-');
  model = composeModel();
  await removeStaleContainers();
  if (GIVEN_IMAGE) return;
  const base = await timed('base image (debootstrap when not cached)', baseImage);
  await timed('buildah bud', () => buildImage(base, makeTempDir('kabar-e2e-context-')));
});

test('the image runs the broker and both gateways with the compose settings; healthchecks gate the start; a gateway restart loses nothing', { skip, timeout: 240000 }, async () => {
  const services = model.services;
  const started = Date.now();

  // Secrets, as compose mounts them (the files of compose/secrets/, made here).
  const secrets = {};
  for (const [name, { file }] of Object.entries(model.secrets)) {
    secrets[name] = path.join(dir, path.basename(file));
    fs.writeFileSync(secrets[name], `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o644 });
  }
  const mint = async (...args) => {
    const r = await runTool(KABAR_BIN, ['token', '--secret-file', secrets.jwt_secret, ...args]);
    assert.equal(r.status, 0, show(r));
    return r.stdout.trim();
  };
  tokens = { backend: await mint('--sub', 'laravel', '--role', 'backend'), kasir: await mint('--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3') };

  // The broker's listeners on free loopback ports (host network), everything else as written.
  ports = {};
  const conf = fs.readFileSync(path.join(COMPOSE_DIR, 'mosquitto.conf'), 'utf8');
  const listeners = [...conf.matchAll(/^listener (\d+)$/gm)].map((m) => m[1]);
  assert.deepEqual(listeners, ['1883', '1884', '9001']);
  for (const port of listeners) ports[port] = await freePort();
  const localConf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(localConf, conf.replace(/^listener (\d+)$/gm, (_, port) => `listener ${ports[port]} 127.0.0.1`));

  // Volumes: ./x -> compose/x (the mosquitto.conf with its ports), named volumes -> folders owned by the
  // image's user for that path (as a fresh named volume takes the image's owner), secrets -> /run/secrets.
  const mountsOf = async (name, spec) => {
    const mounts = [];
    for (const volume of spec.volumes) {
      const [source, target, mode] = volume.split(':');
      let host;
      if (source.startsWith('./')) {
        host = source === './mosquitto.conf' ? localConf : path.join(COMPOSE_DIR, source.slice(2));
      } else {
        host = path.join(dir, 'volumes', source);
        fs.mkdirSync(host, { recursive: true });
        const owner = name === 'broker' ? 'mosquitto' : 'kabar';
        const ids = await buildahOk([...['run', '--isolation', 'chroot', '--network', 'host'], containerOf(name), '--', 'id', '-u', owner]);
        const gid = await buildahOk([...['run', '--isolation', 'chroot', '--network', 'host'], containerOf(name), '--', 'id', '-g', owner]);
        fs.chownSync(host, Number(ids.stdout), Number(gid.stdout));
      }
      mounts.push(`${host}:${target}${mode ? `:${mode}` : ''}`);
    }
    for (const secret of spec.secrets || []) mounts.push(`${secrets[secret.source ?? secret]}:/run/secrets/${secret.source ?? secret}:ro`);
    return mounts;
  };
  const made = {};
  const containerOf = (name) => made[name].container;

  // ---- broker: started first; healthy before any gateway starts --------------------------------------
  broker = made.broker = await new Service('broker', services.broker, {}).create();
  broker.mounts = await mountsOf('broker', services.broker);
  const brokerCheck = (args) => args.map((a) => a.replace('/dev/tcp/127.0.0.1/1883', `/dev/tcp/127.0.0.1/${ports[1883]}`));
  assert.notEqual((await broker.health(brokerCheck)).status, 0, 'the broker check fails while no broker runs');
  broker.start(services.broker.command);
  await timed('broker healthy', () => broker.waitHealthy(brokerCheck));
  await waitForTcp(ports[9001]);

  // ---- gateways: depends_on the broker being healthy; each its own /readyz ---------------------------
  httpPorts = {};
  gateways = {};
  for (const name of ['gateway1', 'gateway2']) {
    const spec = services[name];
    assert.deepEqual(spec.depends_on, { broker: { condition: 'service_healthy' } }, `${name} waits for a healthy broker`);
    assert.deepEqual(spec.healthcheck.test.slice(0, 3), ['CMD', 'kabar', 'health']);
    httpPorts[name] = await freePort();
    const env = {
      ...spec.environment, KABAR_BROKER_HOST: '127.0.0.1', KABAR_BROKER_PORT: String(ports[1883]),
      KABAR_HTTP_LISTEN: '127.0.0.1', KABAR_HTTP_PORT: String(httpPorts[name]),
    };
    const gateway = made[name] = await new Service(name, spec, { env }).create();
    gateway.mounts = await mountsOf(name, spec);
    gateway.command = spec.command.map((part) => part.replaceAll('$$', '$'));
    const down = await gateway.health();
    assert.equal(down.status, 1, `kabar health fails before the gateway runs: ${show(down)}`);
    assert.match(down.stderr, /not ready: connect: Connection refused/);
    gateway.start(gateway.command);
    gateways[name] = gateway;
  }
  await timed('gateways healthy', () => Promise.all(Object.values(gateways).map((g) => g.waitHealthy())));
  for (const name of ['gateway1', 'gateway2']) {
    assert.deepEqual(services.proxy.depends_on[name], { condition: 'service_healthy' }, `the proxy waits for ${name}`);
  }
  assert.match(broker.process.output(), /u'kabar-gw1'/, 'gateway1 logged in to the guarded broker with its token');
  timings['all healthy'] = Date.now() - started;

  // ---- clients --------------------------------------------------------------------------------------
  const gw = (name) => `http://127.0.0.1:${httpPorts[name]}`;
  const sse = await SseClient.open(`${gw('gateway1')}/sse?channel=${CHANNEL}`);
  const pusherApp = JSON.parse(fs.readFileSync(path.join(COMPOSE_DIR, 'kabar.json'), 'utf8')).apps[0];
  const echo = makeEcho({ port: httpPorts.gateway2 }, { app: pusherApp });  // the app of compose/kabar.json
  const echoEvents = [];
  const echoChannel = echo.channel(CHANNEL);
  echoChannel.listen('.dokumen.updated', (payload) => echoEvents.push(payload.n));
  await subscribed(echoChannel, 10000);
  const mobile = await mqttWithToken(`ws://127.0.0.1:${ports[9001]}`, tokens.kasir, { clientId: `e2e-image-kasir-${process.pid}` });
  const mobileEvents = [];
  mobile.on('message', (topic, body) => mobileEvents.push(JSON.parse(body.toString()).n));
  await mobile.subscribeAsync(TOPIC, { qos: 1 });
  const backend = await mqttWithToken(`mqtt://127.0.0.1:${ports[1883]}`, tokens.backend, { clientId: `e2e-image-laravel-${process.pid}` });
  let next = 0;
  const publishPhase = async () => {
    for (let i = 0; i < PER_PHASE; i++, next++) await publish(backend, TOPIC, { dokumen: { id: 7, status: `v${next}` }, n: next });
  };
  const sseNumbers = () => sse.events(CHANNEL).map((m) => m.frame.data?.n);

  try {
    await publishPhase();
    await waitUntil(() => sseNumbers().length >= PER_PHASE, { timeout: 15000, what: 'the first events over SSE on gateway1' });

    // ---- gateway1 stopped (SIGTERM to its kabar) while events keep coming, then started again -------
    const g1 = gateways.gateway1;
    const exit = await timed('gateway1 stop', () => g1.stop('kabar serve'));
    assert.equal(exit.code, 0, `gateway1 stopped cleanly:\n${g1.process.tail(20)}`);
    assert.equal((await g1.health()).status, 1, 'gateway1 is unhealthy while stopped');
    assert.equal((await gateways.gateway2.health()).status, 0, 'gateway2 stays healthy');
    await publishPhase();
    g1.start(g1.command);
    await timed('gateway1 healthy again', () => g1.waitHealthy());
    await publishPhase();

    // ---- nothing lost: every client has every event once, in order ----------------------------------
    const all = Array.from({ length: next }, (_, n) => n);
    await waitUntil(() => sseNumbers().length >= next && echoEvents.length >= next && mobileEvents.length >= next,
      { timeout: 30000, what: `every client with ${next} events (SSE ${sseNumbers().length}, Echo ${echoEvents.length}, MQTT ${mobileEvents.length})` });
    await new Promise((resolve) => setTimeout(resolve, 500));  // a duplicate would arrive now
    assert.deepEqual(sseNumbers(), all, 'EventSource on gateway1 (resumed with Last-Event-ID after the restart)');
    assert.ok(sse.opens >= 2, `the EventSource reconnected (${sse.opens} opens)`);
    assert.deepEqual(echoEvents, all, 'Echo on gateway2');
    assert.deepEqual(mobileEvents, all, 'MQTT.js with a cashier token on the WebSocket listener');
  } finally {
    sse.close();
    echo.disconnect();
    mobile.end(true);
    backend.end(true);
  }

  // ---- the services stop cleanly -------------------------------------------------------------------
  for (const gateway of Object.values(gateways)) assert.equal((await gateway.stop('kabar serve')).code, 0, gateway.process.tail(20));
  assert.equal((await broker.stop('mosquitto')).code, 0, broker.process.tail(20));
  timings.test = Date.now() - started;
});
