// The test broker: a real mosquitto with its own config in a temp dir, anonymous or guarded by kabar's
// auth plugin as compose deploys it. Split out of harness.mjs, which re-exports everything here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KABAR_BIN, MOSQUITTO_BIN, freePort, makeTempDir, runKabar, startChild, waitUntil } from './harness.mjs';

export class Mosquitto {
  constructor(dir, port, conf, { secretFile = null } = {}) {
    this.dir = dir;
    this.port = port;
    this.conf = conf;
    this.secretFile = secretFile; // set: the broker is guarded by kabar_auth_plugin.so with this HS256 secret
    this.child = null;
    this.starts = 0;
  }

  get guarded() { return !!this.secretFile; }

  async start() {
    this.starts += 1;
    const child = startChild(`mosquitto.${this.starts}`, MOSQUITTO_BIN, ['-c', this.conf], { logFile: path.join(this.dir, 'mosquitto.log') });
    this.child = child;
    await waitUntil(async () => {
      if (child.exited) throw new Error(`mosquitto exited ${JSON.stringify(child.exitStatus)}: ${child.tail()}`);
      return new Promise((resolve) => {
        const socket = net.connect({ port: this.port, host: '127.0.0.1' });
        socket.once('connect', () => { socket.destroy(); resolve(true); });
        socket.once('error', () => { socket.destroy(); resolve(false); });
      });
    }, { timeout: 10000, interval: 25, what: `mosquitto on port ${this.port}` });
    return this;
  }

  // SIGTERM: mosquitto writes its persistence file on the way out.
  async stop(signal = 'SIGTERM') { return this.child ? this.child.stop(signal) : null; }
  get running() { return !!this.child && !this.child.exited; }
  // Everything mosquitto logged in this test file (all its starts).
  log() { try { return fs.readFileSync(path.join(this.dir, 'mosquitto.log'), 'utf8'); } catch { return ''; } }

  // A token of the broker's secret, minted by `kabar token` as compose does for its gateways.
  async token({ sub = 'e2e-backend', role = 'backend', ttl = 3600 } = {}) {
    if (!this.guarded) throw new Error('token() needs startMosquitto({ guarded: true })');
    const minted = await runKabar(['token', '--secret-file', this.secretFile, '--sub', sub, '--role', role, '--ttl', String(ttl)]);
    if (minted.status !== 0) throw new Error(`kabar token failed: ${minted.stderr}`);
    return minted.stdout.trim();
  }

  // MQTT username/password for a client of this broker: a backend token (sub = username) when guarded,
  // nothing on the anonymous broker. Spread into mqttConnect() options or kabar's `broker` config.
  async credentials(sub = 'e2e-backend') {
    return this.guarded ? { username: sub, password: await this.token({ sub }) } : {};
  }
}

// The broker of the tests. `guarded: true` is the setup compose deploys (compose/mosquitto.conf): the
// kabar plugin (built next to the kabar binary), allow_anonymous false, every client a JWT as its
// password; persistence is on in both.
// `settings` replace or add mosquitto.conf lines by their key (e.g. the fault tests' autosave settings).
export async function startMosquitto({ guarded = false, settings = {} } = {}) {
  const dir = makeTempDir('kabar-e2e-mosq-');
  const port = await freePort();
  const persistence = path.join(dir, 'persist');
  fs.mkdirSync(persistence);
  const lines = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${guarded ? 'false' : 'true'}`,
    'persistence true',
    `persistence_location ${persistence}/`,
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
  ];
  let secretFile = null;
  if (guarded) {
    const plugin = path.join(path.dirname(KABAR_BIN), 'kabar_auth_plugin.so');
    if (!fs.existsSync(plugin)) throw new Error(`the broker plugin is not built next to kabar: ${plugin} (cmake --build build --target kabar_auth_plugin)`);
    secretFile = path.join(dir, 'jwt.secret');
    fs.writeFileSync(secretFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    lines.unshift('per_listener_settings false');
    lines.push(`plugin ${plugin}`, `plugin_opt_jwt_secret_file ${secretFile}`, 'plugin_opt_jwt_clock_skew_s 30',
      'plugin_opt_username sub', `plugin_opt_state_file ${path.join(persistence, 'kabar-auth.state')}`);
  }
  for (const [key, value] of Object.entries(settings)) {
    const at = lines.findIndex((line) => line.split(' ')[0] === key);
    if (at >= 0) lines[at] = `${key} ${value}`; else lines.push(`${key} ${value}`);
  }
  if (process.getuid && process.getuid() === 0) lines.push('user root');
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  return new Mosquitto(dir, port, conf, { secretFile }).start();
}

// Both brokers for a test that must hold on either: registers each test once per mode.
export const BROKER_MODES = ['anonymous', 'guarded'];

