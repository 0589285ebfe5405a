#!/usr/bin/env node
// As many concurrent subscribed connections on one kabar node as its open-file limit allows (issue 8,
// "Proof under faults"): a mix of /sse, /ws and /app (Pusher protocol 7), all subscribed to one channel;
// then one event is published and must reach every one of them. Reports kabar's RSS per connection, its
// open fds, the setup time, and the time until the last connection had the event.
//
//   node scripts/faults/connections.mjs                      # count from kabar's RLIMIT_NOFILE
//   node scripts/faults/connections.mjs --conns 3000         # a quick run
//   ... --mix 1:1:1 (sse:ws:app) --addresses 40 --window 200 --per-worker 6500
//
// The clients are raw sockets in worker processes (each has its own fd limit), bound to source addresses
// 127.0.0.2 .. 127.0.0.(1+ADDRESSES) so no single address runs out of ephemeral ports. They speak just
// enough HTTP/WebSocket: the upgrade, masked client frames, pong for every ping. Only loopback is used.
// Every child (mosquitto, kabar, workers) is stopped by pid at the end. Prints one JSON line on stdout.
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------------------------------ worker
// The worker part has no dependencies beyond node: it is forked with {role, port, count, ...}.
if (process.argv[2] === '--worker') {
  const { openRaw } = await import('./rawclient.mjs');
  const cfg = JSON.parse(process.argv[3]);
  const conns = [];
  const failures = {};
  let marker = null;
  let goAt = 0;
  const latencies = [];
  const count = (what) => conns.filter(what).length;

  process.on('message', async (msg) => {
    if (msg.cmd === 'open') {
      const started = Date.now();
      let next = 0;
      const runners = Array.from({ length: Math.min(cfg.window, cfg.count) }, async () => {
        while (next < cfg.count) {
          const i = next++;
          const c = openRaw({
            port: cfg.port, kind: cfg.kinds[i % cfg.kinds.length], channel: cfg.channel, appKey: cfg.appKey,
            localAddress: `127.0.0.${2 + ((cfg.offset + i) % cfg.addresses)}`,
          });
          conns.push(c);
          if (!(await c.subscribed)) failures[c.failure] = (failures[c.failure] || 0) + 1;
        }
      });
      const progress = setInterval(() => process.send({ type: 'progress', subscribed: count((c) => c.isSubscribed), failed: count((c) => c.failure) }), 1000);
      await Promise.all(runners);
      clearInterval(progress);
      process.send({ type: 'opened', subscribed: count((c) => c.isSubscribed), failed: count((c) => c.failure), failures, ms: Date.now() - started });
    } else if (msg.cmd === 'marker') {
      marker = msg.marker;
      goAt = msg.at;
      for (const c of conns) if (c.isSubscribed) c.watch(marker, () => latencies.push(Date.now() - goAt));
    } else if (msg.cmd === 'count') {
      const alive = count((c) => c.isSubscribed && !c.closedAfter);
      const lost = {};
      for (const c of conns) if (c.closedAfter) lost[c.closedAfter] = (lost[c.closedAfter] || 0) + 1;
      process.send({ type: 'count', got: latencies.length, alive, lost, latencies: [...latencies].sort((a, b) => a - b) });
    } else if (msg.cmd === 'close') {
      for (const c of conns) c.close();
      process.send({ type: 'closed' });
      setTimeout(() => process.exit(0), 100);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
} else {
  await main();
}

// ------------------------------------------------------------------------------------------ main
async function main() {
  const { Kabar, requireKabarBinary, sleep, waitUntil } = await import('../../tests/e2e/lib/harness.mjs');
  const { mqttConnect, publish } = await import('../../tests/e2e/lib/clients.mjs');
  const { forget, log, parseArgs, procSample, startBroker } = await import('./lib.mjs');
  const USAGE = 'usage: connections.mjs [--conns N (0: from the fd limit)] [--mix sse:ws:app] [--addresses 40] [--window 200] [--per-worker 6500] [--margin 900]\n';
  const opts = parseArgs({ conns: 0, mix: '1:1:1', addresses: 40, window: 200, perWorker: 6500, margin: 900, channel: 'faults.conns' }, USAGE);
  requireKabarBinary();
  if (!(opts.addresses >= 1 && opts.addresses <= 250)) throw new Error('--addresses 1..250');
  const [nSse, nWs, nApp] = opts.mix.split(':').map(Number);
  const kinds = [...Array(nSse).fill('sse'), ...Array(nWs).fill('ws'), ...Array(nApp).fill('app')];

  const { broker } = await startBroker({ guarded: false });
  const kabar = await Kabar.create({ mqttPort: broker.port, config: { log: { level: 'warn' }, http: { heartbeat_ms: 15000 } } });
  forget(kabar.dir);
  await kabar.start({ readyTimeout: 30000 });
  const pid = kabar.child.proc.pid;
  const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
  const fdLimit = Number(/Max open files\s+(\d+)/.exec(limits)[1]);
  const base = procSample(pid);
  const target = opts.conns > 0 ? opts.conns : Math.floor((fdLimit - base.fds - opts.margin) / 100) * 100;
  if (target + base.fds >= fdLimit) throw new Error(`--conns ${target} does not fit kabar's open-file limit ${fdLimit} (it holds ${base.fds} already)`);
  const workerCount = Math.ceil(target / opts.perWorker);
  log(`kabar pid ${pid}: open-file limit ${fdLimit}, ${base.fds} fds and ${base.rssKiB} KiB RSS idle; opening ${target} connections (${opts.mix} sse:ws:app) from ${workerCount} workers over ${opts.addresses} source addresses`);

  const workers = [];
  const stopWorkers = () => { for (const w of workers) try { w.child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', stopWorkers);
  let offset = 0;
  for (let k = 0; k < workerCount; k++) {
    const count = Math.min(opts.perWorker, target - offset);
    const cfg = { port: kabar.port, count, kinds, channel: opts.channel, appKey: 'local-key', addresses: opts.addresses, offset, window: Math.max(1, Math.floor(opts.window / workerCount)) };
    offset += count;
    const child = fork(SELF, ['--worker', JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const w = { child, messages: [], progress: { subscribed: 0, failed: 0 } };
    child.on('message', (m) => { if (m.type === 'progress') w.progress = m; else w.messages.push(m); });
    workers.push(w);
  }
  const reply = (w, type, timeout) => waitUntil(() => w.messages.find((m) => m.type === type), { timeout, interval: 50, what: `worker ${type}`, diag: false });
  await Promise.all(workers.map((w) => reply(w, 'ready', 10000)));

  const samples = [];
  const sampler = setInterval(() => { try { samples.push({ t: Date.now(), ...procSample(pid) }); } catch { /* exited */ } }, 1000);
  const openedAt = Date.now();
  for (const w of workers) w.child.send({ cmd: 'open' });
  const progressLog = setInterval(() => {
    const s = workers.reduce((a, w) => a + w.progress.subscribed, 0);
    const f = workers.reduce((a, w) => a + w.progress.failed, 0);
    log(`subscribed ${s}/${target}, failed ${f}, kabar ${samples.at(-1)?.fds} fds ${samples.at(-1)?.rssKiB} KiB`);
  }, 5000);
  const opened = await Promise.all(workers.map((w) => reply(w, 'opened', 600000)));
  clearInterval(progressLog);
  const setupMs = Date.now() - openedAt;
  const subscribed = opened.reduce((a, m) => a + m.subscribed, 0);
  const failed = opened.reduce((a, m) => a + m.failed, 0);
  const failures = {};
  for (const m of opened) for (const [k, v] of Object.entries(m.failures)) failures[k] = (failures[k] || 0) + v;
  await sleep(3000); // let allocations settle
  const loaded = procSample(pid);
  log(`setup: ${subscribed} subscribed, ${failed} failed in ${setupMs} ms; kabar ${loaded.fds} fds, ${loaded.rssKiB} KiB RSS`);

  // One event to all.
  const mq = await mqttConnect(broker.port);
  const markerId = `conns-${crypto.randomBytes(4).toString('hex')}`;
  const at = Date.now();
  for (const w of workers) w.child.send({ cmd: 'marker', marker: markerId, at });
  await publish(mq, `kabar/c/${opts.channel}`, { id: markerId, event: 'fault.one', data: { id: markerId } });
  let counts = [];
  const deadline = Date.now() + 60000;
  let got = 0;
  while (Date.now() < deadline) {
    for (const w of workers) w.messages = w.messages.filter((m) => m.type !== 'count');
    for (const w of workers) w.child.send({ cmd: 'count' });
    counts = await Promise.all(workers.map((w) => reply(w, 'count', 10000)));
    got = counts.reduce((a, m) => a + m.got, 0);
    if (got >= subscribed) break;
    await sleep(200);
  }
  const latencies = counts.flatMap((m) => m.latencies).sort((a, b) => a - b);
  const alive = counts.reduce((a, m) => a + m.alive, 0);
  const closedByServer = {};
  for (const m of counts) for (const [k, v] of Object.entries(m.lost)) closedByServer[k] = (closedByServer[k] || 0) + v;
  const afterEvent = procSample(pid);
  clearInterval(sampler);
  const peak = samples.reduce((a, s) => Math.max(a, s.rssKiB), afterEvent.rssKiB);
  const figures = {
    script: 'connections', fd_limit: fdLimit, target, mix: opts.mix, source_addresses: opts.addresses, workers: workerCount,
    subscribed, failed, failures, alive_at_event: alive, closed_after_subscribe: closedByServer, delivered: got,
    setup_ms: setupMs, setup_per_s: Math.round(subscribed / (setupMs / 1000)),
    deliver_ms_p50: latencies[Math.floor(latencies.length / 2)] ?? null, deliver_ms_max: latencies.at(-1) ?? null,
    kabar_fds_idle: base.fds, kabar_fds_loaded: loaded.fds,
    rss_kib_idle: base.rssKiB, rss_kib_loaded: loaded.rssKiB, rss_kib_peak: peak,
    rss_kib_per_conn: subscribed ? Number(((loaded.rssKiB - base.rssKiB) / subscribed).toFixed(2)) : null,
    kabar_threads: loaded.threads, kabar_cpu_s_setup: (loaded.cpuTicks - base.cpuTicks) / 100,
  };
  log(`delivered to ${got}/${subscribed} (alive ${alive}); p50 ${figures.deliver_ms_p50} ms, last ${figures.deliver_ms_max} ms; ` +
    `${figures.rss_kib_per_conn} KiB RSS per connection`);
  for (const w of workers) w.child.send({ cmd: 'close' });
  await Promise.all(workers.map((w) => reply(w, 'closed', 15000).catch(() => null)));
  stopWorkers();
  mq.end(true);
  await kabar.stop(15000);
  await broker.stop();
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  const ok = failed === 0 && subscribed === target && got === subscribed;
  log(ok ? `OK: ${target} connections, one event delivered to all` : 'FAILED: see the figures above');
  process.exit(ok ? 0 : 1);
}
