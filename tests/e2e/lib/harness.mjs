// Test harness: a real mosquitto and a real kabar as child processes, temp dirs, bounded waits.
//
// Every child started here is remembered; useHarness() registers an after() hook that kills whatever
// is still running (even when a test failed or timed out) and removes the temp dirs. A process 'exit'
// handler SIGKILLs leftovers as a last resort. Every process this file starts, and every process those
// start (kabar's embedded mosquitto...), inherits KABAR_E2E_OWNER: the after() hook then fails the file
// if any of them outlives it (lib/processes.mjs). Every wait takes a timeout and, when it runs out, the
// error carries the tail of every child's log, so a failure explains itself.
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describeProcess, reapMarked } from './processes.mjs';

export { sleep };

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const KABAR_BIN = process.env.KABAR_BIN || path.resolve(HERE, '../../../build/kabar');
export const KABAR_SOURCE_DIR = process.env.KABAR_SOURCE_DIR || path.resolve(HERE, '../../..');
export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN || '/usr/sbin/mosquitto';
const KEEP = !!process.env.KABAR_E2E_KEEP; // keep temp dirs (logs, data) for a post-mortem
const VERBOSE = !!process.env.KABAR_E2E_VERBOSE; // echo children's output to our stderr

// This file's mark, in our environment so every child and grandchild inherits it.
export const OWNER = `${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
process.env.KABAR_E2E_OWNER = OWNER;

const children = new Set(); // Child objects still running
const tempDirs = [];

process.on('exit', () => {
  for (const child of children) {
    try { child.proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// ---- small utilities -------------------------------------------------------------------------------

export function makeTempDir(prefix = 'kabar-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Tail of every child's output, for error messages.
export function diagnostics(lines = 25) {
  const parts = [];
  for (const child of allChildren) {
    parts.push(`--- ${child.name} (pid ${child.proc.pid}, ${child.exited ? `exited ${JSON.stringify(child.exitStatus)}` : 'running'}) last lines:\n${child.tail(lines)}`);
  }
  return parts.join('\n');
}
const allChildren = []; // for diagnostics, including exited ones (capped)

export class TimeoutError extends Error {}

// Polls fn() every `interval` ms until it returns a truthy value (returned), or throws TimeoutError.
export async function waitUntil(fn, { timeout = 5000, interval = 10, what = 'condition', diag = true } = {}) {
  // An exception from fn() ends the wait at once (fail fast: the socket closed, the process exited...).
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() >= deadline) {
      throw new TimeoutError(`timed out after ${timeout} ms waiting for ${what}` + (diag ? `\n${diagnostics()}` : ''));
    }
    await sleep(interval);
  }
}

// Resolves/rejects with the promise, or rejects with TimeoutError after `timeout` ms.
export async function withTimeout(promise, timeout, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${timeout} ms: ${what}\n${diagnostics()}`)), timeout);
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitForTcp(port, { timeout = 10000, what } = {}) {
  await waitUntil(() => new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  }), { timeout, interval: 25, what: what || `TCP port ${port} to accept connections` });
}

// ---- child processes -------------------------------------------------------------------------------

class Child {
  // stdin: 'pipe' to write to the child (child.proc.stdin); ignored otherwise.
  constructor(name, command, args, { env, cwd, logFile, stdin = 'ignore' } = {}) {
    this.name = name;
    this.lines = [];
    this.exited = false;
    this.exitStatus = null;
    this.log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
    this.proc = spawn(command, args, { env: env || process.env, cwd, stdio: [stdin, 'pipe', 'pipe'] });
    this.exitPromise = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exited = true;
        this.exitStatus = { code, signal };
        children.delete(this);
        resolve(this.exitStatus);
      });
      this.proc.once('error', (error) => {
        this.lines.push(`spawn error: ${error.message}`);
        this.exited = true;
        this.exitStatus = { code: null, signal: null, error: error.message };
        children.delete(this);
        resolve(this.exitStatus);
      });
    });
    const onData = (chunk) => {
      const text = chunk.toString();
      if (this.log) this.log.write(text);
      if (VERBOSE) process.stderr.write(`[${this.name}] ${text}`);
      for (const line of text.split('\n')) if (line) this.lines.push(line);
      if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 1000);
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    children.add(this);
    allChildren.push(this);
    if (allChildren.length > 12) allChildren.shift();
  }

  tail(n = 25) { return this.lines.slice(-n).join('\n'); }
  output() { return this.lines.join('\n'); }

  // Sends `signal` and waits for the exit (SIGKILL after `timeout` ms as a fallback, which counts as a
  // failure of a graceful stop: the returned status says signal SIGKILL).
  async stop(signal = 'SIGTERM', timeout = 15000) {
    if (this.exited) return this.exitStatus;
    this.proc.kill(signal);
    const timer = setTimeout(() => { if (!this.exited) this.proc.kill('SIGKILL'); }, timeout);
    const status = await this.exitPromise;
    clearTimeout(timer);
    return status;
  }

  kill() { return this.stop('SIGKILL'); }
}

export function startChild(name, command, args, options) {
  return new Child(name, command, args, options);
}

async function killAll() {
  await Promise.all([...children].map((child) => child.stop('SIGKILL', 5000)));
}

// Call once at the top level of every test file.
export function useHarness() {
  after(async () => {
    await killAll();
    for (const client of openClients) {
      try { client.close(); } catch { /* ignore */ }
    }
    openClients.clear();
    // Our children are gone; a process that carries our mark now is an orphan (e.g. a broker whose
    // kabar was killed). Given a moment to finish dying, then killed by its pid and reported.
    const leftovers = await reapMarked('KABAR_E2E_OWNER', OWNER);
    if (!KEEP) {
      for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    } else {
      process.stderr.write(`KABAR_E2E_KEEP: temp dirs kept: ${tempDirs.join(' ')}\n`);
    }
    if (leftovers.length) {
      throw new Error(`processes started by this file outlived it (killed now):\n${leftovers.map(describeProcess).join('\n')}`);
    }
  });
}

// Clients (ws, EventSource, MQTT, raw sockets) register here so the after() hook closes them too.
export const openClients = new Set();
export function track(client) { openClients.add(client); return client; }

// ---- mosquitto: lib/brokers.mjs -------------------------------------------------------------------

export { BROKER_MODES, Mosquitto, startMosquitto } from './brokers.mjs';

// ---- kabar -----------------------------------------------------------------------------------------

function deepMerge(base, extra) {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra || {})) {
    if (value && typeof value === 'object' && !Array.isArray(value) && base[key] && typeof base[key] === 'object') {
      out[key] = deepMerge(base[key], value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

let kabarCounter = 0;

// One kabar "node": a config (port, data dir, MQTT client id) that survives restarts of the process,
// so a restarted kabar resumes its persistent MQTT session and its store, on the same HTTP port.
export class Kabar {
  // `operator`: kabar verifies tokens (an HS256 secret of its own) and token() mints them, e.g. a super
  // admin's for the views behind the policy (/api/dead-letters).
  // `command`: the subcommand and its flags before --config (default ['serve']; ['demo', '--no-traffic']...).
  static async create({ mqttPort, config = {}, env = {}, dataDir, operator = false, command = ['serve'] } = {}) {
    const dir = makeTempDir('kabar-e2e-node-');
    if (operator) {
      const secretFile = path.join(dir, 'jwt.secret');
      fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
      config = deepMerge({ auth: { jwt: { secret_file: secretFile } } }, config);
    }
    const port = await freePort();
    const n = ++kabarCounter;
    const base = {
      http: { listen: '127.0.0.1', port, heartbeat_ms: 1000, sse_retry_ms: 200 },
      broker: {
        embedded: false, host: '127.0.0.1', port: mqttPort,
        // unique per node and run, stable across its restarts; the config schema allows 20 characters
        client_id: `e2e${process.pid % 1000000}n${n}t${Date.now() % 1000}`,
      },
      store: { data_dir: dataDir || path.join(dir, 'data'), retention_max_per_channel: 10000 },
      log: { level: 'info' },
    };
    const kabar = new Kabar(dir, deepMerge(base, config), env, n);
    kabar.command = command;
    return kabar;
  }

  constructor(dir, config, env, n) {
    this.dir = dir;
    this.config = config;
    this.env = env;
    this.n = n;
    this.port = config.http.port;
    this.configFile = path.join(dir, 'kabar.json');
    this.child = null;
    this.starts = 0;
    this.writeConfig();
  }

  writeConfig() { fs.writeFileSync(this.configFile, JSON.stringify(this.config, null, 2)); }
  get dataDir() { return this.config.store.data_dir; }
  get httpBase() { return `http://127.0.0.1:${this.port}`; }
  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws`; }
  url(p) { return `${this.httpBase}${p}`; }
  get running() { return !!this.child && !this.child.exited; }

  // Spawns `kabar serve` and waits for /readyz to say 200.
  async start({ readyTimeout = 20000 } = {}) {
    if (this.running) throw new Error('kabar already running');
    this.starts += 1;
    this.child = startChild(`kabar#${this.n}.${this.starts}`, KABAR_BIN, [...(this.command || ['serve']), '--config', this.configFile], {
      env: { ...process.env, ...this.env },
      logFile: path.join(this.dir, 'kabar.log'),
    });
    await this.waitReady(readyTimeout);
    return this;
  }

  async waitReady(timeout = 20000) {
    const child = this.child;
    await waitUntil(async () => {
      if (child.exited) throw new Error(`kabar exited before ready: ${JSON.stringify(child.exitStatus)}\n${child.tail(40)}`);
      try {
        const res = await fetch(this.url('/readyz'), { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    }, { timeout, interval: 50, what: `kabar#${this.n} /readyz == 200` });
  }

  async stop(timeout = 15000) { return this.child ? this.child.stop('SIGTERM', timeout) : null; }
  async kill() { return this.child ? this.child.stop('SIGKILL') : null; }
  async restart() { await this.stop(); return this.start(); }
  tail(n) { return this.child ? this.child.tail(n) : ''; }

  async get(p, options = {}) { return httpGet(this.url(p), options); }
  async json(p) {
    const res = await this.get(p);
    if (res.status !== 200) throw new Error(`GET ${p} -> ${res.status}: ${res.body}`);
    return JSON.parse(res.body);
  }
  // A token for this kabar's secret (Kabar.create({operator: true})), minted by `kabar token`.
  async token({ sub = 'e2e-operator', role = 'super_admin', cabang, ttl = 3600 } = {}) {
    const secretFile = this.config.auth?.jwt?.secret_file;
    if (!secretFile) throw new Error('token() needs Kabar.create({operator: true})');
    const args = ['token', '--secret-file', secretFile, '--sub', sub, '--role', role, '--ttl', String(ttl)];
    if (cabang !== undefined) args.push('--cabang', String(cabang));
    const minted = await runKabar(args);
    if (minted.status !== 0) throw new Error(`kabar token failed: ${minted.stderr}`);
    return minted.stdout.trim();
  }
  // GET /api/dead-letters as the operator (a super admin reads every topic): the letters of the first
  // page ({letters, next}), newest first.
  async deadLetters(limit) {
    return (await this.deadLetterPage(`limit=${limit}`)).letters;
  }
  // One page, {letters, next}, for `query` (limit=, before=) and a token (default: the operator's).
  async deadLetterPage(query = '', token) {
    const headers = { authorization: `Bearer ${token ?? await this.token()}` };
    const res = await this.get(`/api/dead-letters?${query}`, { headers });
    if (res.status !== 200) throw new Error(`GET /api/dead-letters?${query} -> ${res.status}: ${res.body}`);
    return JSON.parse(res.body);
  }
  async metrics() {
    const res = await this.get('/metrics');
    if (res.status !== 200) throw new Error(`GET /metrics -> ${res.status}`);
    return parseMetrics(res.body);
  }
}

// ---- HTTP ------------------------------------------------------------------------------------------

export async function httpGet(url, { headers = {}, timeout = 5000 } = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeout) });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body };
}

// Prometheus text format -> [{name, labels, value}]
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[2]) {
      for (const lm of m[2].slice(1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  samples.text = text;
  return samples;
}

export function metricSum(samples, predicate) {
  return samples.filter((s) => (typeof predicate === 'function' ? predicate(s) : predicate.test(s.name)))
    .reduce((sum, s) => sum + s.value, 0);
}

// ---- kabar CLI -------------------------------------------------------------------------------------

export function kabarBinaryExists() {
  try {
    fs.accessSync(KABAR_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Runs `kabar ARGS...` to completion without blocking the event loop.
export function runKabar(args, { timeout = 15000, env } = {}) {
  return new Promise((resolve) => {
    execFile(KABAR_BIN, args, { timeout, encoding: 'utf8', env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ status, signal: error?.signal ?? null, killed: !!error?.killed, stdout, stderr, error });
    });
  });
}

// For a before() hook: a missing binary is a failure with a clear message, not a skip.
export function requireKabarBinary() {
  if (!kabarBinaryExists()) {
    throw new Error(`kabar binary not found or not executable at ${KABAR_BIN}: build it (cmake --build build) or set KABAR_BIN`);
  }
}

// Asserts a frame has exactly these keys (order-insensitive); returns a readable diff on failure.
export function keysOf(object) { return Object.keys(object).sort(); }
