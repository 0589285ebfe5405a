// Shared by the scripts in scripts/faults/: brokers (anonymous or guarded by kabar_auth_plugin.so, both
// with persistence as compose runs them), argument parsing, process sampling, least squares, cleanup.
// The e2e harness (tests/e2e/lib) starts kabar and mosquitto: every child is remembered and SIGKILLed by
// pid when this process exits, however it exits.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KABAR_BIN, Mosquitto, freePort, makeTempDir, runKabar } from '../../tests/e2e/lib/harness.mjs';

export const PLUGIN = process.env.KABAR_AUTH_PLUGIN || path.join(path.dirname(KABAR_BIN), 'kabar_auth_plugin.so');

// Temp dirs made here (and by the harness through us) are removed at exit unless KEEP=1.
const dirs = [];
export function tempDir(prefix) {
  const dir = makeTempDir(prefix);
  dirs.push(dir);
  return dir;
}
export function forget(dir) { if (dir) dirs.push(dir); }
process.on('exit', () => {
  if (process.env.KEEP) { process.stderr.write(`KEEP: ${dirs.join(' ')}\n`); return; }
  for (const dir of dirs) try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* ignore */ }
});
// A signal ends the script through process.exit, so the harness's exit handler kills the children.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(130));

export function log(...parts) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${parts.join(' ')}\n`);
}

// --name value / --name=value / --flag; defaults give the types.
export function parseArgs(defaults, usage) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') { process.stdout.write(usage); process.exit(0); }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}\n${usage}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    const key = arg.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option --${arg}\n${usage}`);
    if (typeof defaults[key] === 'boolean') { out[key] = value === undefined ? true : value !== 'false'; continue; }
    if (value === undefined) value = argv[++i];
    if (value === undefined) throw new Error(`--${arg} wants a value`);
    if (typeof defaults[key] === 'number') {
      out[key] = Number(value);
      if (!Number.isFinite(out[key])) throw new Error(`--${arg} wants a number, not ${value}`);
    } else {
      out[key] = value;
    }
  }
  return out;
}

// mosquitto with persistence as compose/mosquitto.conf (autosave 1 s, large queues). guarded: the kabar
// plugin, allow_anonymous false; returns {broker, secretFile, token(sub, role)} (tokens minted by
// `kabar token`).
export async function startBroker({ guarded }) {
  const dir = tempDir('kabar-fault-broker-');
  const port = await freePort();
  const persist = path.join(dir, 'persist');
  fs.mkdirSync(persist);
  const secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${crypto.randomBytes(36).toString('base64')}\n`, { mode: 0o600 });
  const lines = [
    'per_listener_settings false',
    `listener ${port} 127.0.0.1`,
    'persistence true',
    `persistence_location ${persist}/`,
    'autosave_interval 1',
    'max_queued_messages 1000000',
    'max_inflight_messages 100',
    'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice',
  ];
  if (guarded) {
    if (!fs.existsSync(PLUGIN)) throw new Error(`--guarded needs ${PLUGIN}: cmake --build build --target kabar_auth_plugin`);
    lines.push('allow_anonymous false', `plugin ${PLUGIN}`, `plugin_opt_jwt_secret_file ${secretFile}`,
      'plugin_opt_jwt_clock_skew_s 30', 'plugin_opt_username sub', `plugin_opt_state_file ${persist}/kabar-auth.state`,
      'connection_messages true');
  } else {
    lines.push('allow_anonymous true');
  }
  if (process.getuid && process.getuid() === 0) lines.push('user root');
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const broker = await new Mosquitto(dir, port, conf).start();
  const token = async (sub, role = 'backend') => {
    const r = await runKabar(['token', '--secret-file', secretFile, '--sub', sub, '--role', role, '--ttl', '86400']);
    if (r.status !== 0) throw new Error(`kabar token: ${r.stderr}`);
    return r.stdout.trim();
  };
  return { broker, secretFile, token, guarded };
}

// RSS (KiB), open fds and CPU ticks of a pid, from /proc.
export function procSample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { rssKiB: rss, fds, threads, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}

// Least squares slope and intercept of y over x, and r².
export function leastSquares(xs, ys) {
  const n = xs.length;
  if (n < 2) return { slope: NaN, intercept: NaN, r2: NaN };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0; let sxx = 0; let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  const slope = sxx ? sxy / sxx : NaN;
  return { slope, intercept: my - slope * mx, r2: sxx && syy ? (sxy * sxy) / (sxx * syy) : 0 };
}
