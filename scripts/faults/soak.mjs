#!/usr/bin/env node
// Soak (issue 8, "Proof under faults"): MINUTES of connection churn (CHURN connect + subscribe +
// disconnect a second, a mix of /sse, /ws and /app from raw clients over 127.0.0.x source addresses)
// plus RATE QoS 1 events a second, while a steady /ws subscriber and a steady /sse subscriber (the e2e
// clients) stay connected. kabar's RSS and open fds are sampled every SAMPLE seconds; the report gives
// their least-squares slope (per minute, over the whole run and after the first 10 %) and whether every
// acknowledged event reached the steady subscribers exactly once.
//
//   node scripts/faults/soak.mjs                       # 30 minutes
//   node scripts/faults/soak.mjs --minutes 5 --churn 200 --rate 100 --sample 5
//   nice -n 10 scripts/faults/soak.sh --minutes 5      # the same through the shell wrapper
//
// Prints one JSON line with the figures (and the samples with --samples) on stdout. Exit 0: nothing lost
// and the churn kept its pace; 1 otherwise.
import { Kabar, requireKabarBinary, sleep } from '../../tests/e2e/lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish } from '../../tests/e2e/lib/clients.mjs';
import { PacedPublisher, describeTally, tally } from '../../tests/e2e/lib/faults.mjs';
import { forget, leastSquares, log, parseArgs, procSample, startBroker } from './lib.mjs';
import { openRaw } from './rawclient.mjs';

const USAGE = 'usage: soak.mjs [--minutes 30] [--churn 200] [--rate 100] [--sample 5] [--hold-ms 1000] [--addresses 40] [--samples]\n';
let opts;
try {
  opts = parseArgs({ minutes: 30, churn: 200, rate: 100, sample: 5, holdMs: 1000, addresses: 40, samples: false, channel: 'faults.soak' }, USAGE);
  if (!(opts.minutes > 0 && opts.minutes <= 24 * 60 && opts.churn >= 0 && opts.churn <= 2000 && opts.rate > 0 && opts.rate <= 5000)) {
    throw new Error(`out of range: --minutes 0..1440, --churn 0..2000, --rate 1..5000\n${USAGE}`);
  }
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}
requireKabarBinary();
const CHANNEL = opts.channel;
const { broker } = await startBroker({ guarded: false });
const kabar = await Kabar.create({
  mqttPort: broker.port,
  // retention as shipped (10,000 per channel), so the store's growth is bounded as in production
  config: { log: { level: 'warn' }, http: { heartbeat_ms: 15000 } },
});
forget(kabar.dir);
await kabar.start({ readyTimeout: 30000 });
const pid = kabar.child.proc.pid;

const ws = await WsClient.connect(kabar.wsUrl);
await ws.subscribe(CHANNEL);
const sse = await SseClient.open(kabar.url(`/sse?channel=${CHANNEL}`));
const mq = await mqttConnect(broker.port, { reconnectPeriod: 100 });
const publisher = new PacedPublisher(mq, { topic: `kabar/c/${CHANNEL}`, rate: opts.rate, prefix: `sk${Date.now() % 100000}` }).start();

// Churn: CHURN new connections a second, each closed HOLD ms (±50 %) after its subscription. Their
// channel is the events' channel, so churners also take deliveries.
const KINDS = ['sse', 'ws', 'app'];
const churn = { opened: 0, subscribed: 0, failed: 0, failures: {}, live: 0, maxLive: 0 };
let churnTimer = null;
if (opts.churn > 0) {
  const churnStart = Date.now();
  churnTimer = setInterval(() => {
    const due = Math.floor(((Date.now() - churnStart) / 1000) * opts.churn);
    // Never more than 5 s of churn in flight: a stalled server must not make this script pile up sockets.
    while (churn.opened < due && churn.live < opts.churn * 5) {
      const i = churn.opened++;
      const c = openRaw({ port: kabar.port, kind: KINDS[i % 3], channel: CHANNEL, localAddress: `127.0.0.${2 + (i % opts.addresses)}`, timeout: 15000 });
      churn.live += 1;
      churn.maxLive = Math.max(churn.maxLive, churn.live);
      c.subscribed.then((ok) => {
        if (ok) {
          churn.subscribed += 1;
          setTimeout(() => { c.close(); churn.live -= 1; }, opts.holdMs * (0.5 + Math.random()));
        } else {
          churn.failed += 1;
          churn.failures[c.failure] = (churn.failures[c.failure] || 0) + 1;
          c.close();
          churn.live -= 1;
        }
      });
    }
  }, 10);
}

const samples = [];
const t0 = Date.now();
const take = () => { try { samples.push({ t_s: (Date.now() - t0) / 1000, ...procSample(pid) }); } catch { /* gone */ } };
take();
const endAt = t0 + opts.minutes * 60000;
let lastLog = 0;
while (Date.now() < endAt) {
  await sleep(Math.min(opts.sample * 1000, Math.max(0, endAt - Date.now())));
  take();
  if (Date.now() - lastLog > 60000) {
    lastLog = Date.now();
    const s = samples.at(-1);
    log(`${Math.round(s.t_s)} s: kabar ${s.rssKiB} KiB RSS, ${s.fds} fds; churn ${churn.subscribed} subscribed, ${churn.failed} failed, ${churn.live} live; ` +
      `events ${publisher.acked.size}/${publisher.sent} acked, /ws ${ws.events(CHANNEL).length}`);
  }
}
clearInterval(churnTimer);
publisher.stop();
let failure = null;
let results = null;
try {
  await publisher.drain(60000);
  const sentinel = `${publisher.prefix}-sentinel`;
  await publish(mq, `kabar/c/${CHANNEL}`, { id: sentinel, event: 'fault.sentinel', data: {} }, { timeout: 120000 });
  await ws.waitEventId(CHANNEL, sentinel, { timeout: 60000 });
  await sse.waitMessage((f) => f.id === sentinel, { timeout: 60000, what: 'the sentinel on /sse' });
  await sleep(500);
  results = {
    ws: tally(ws.events(CHANNEL).map((f) => f.id).filter((id) => id !== sentinel), publisher),
    sse: tally(sse.events(CHANNEL).map((m) => m.frame.id).filter((id) => id !== sentinel), publisher),
  };
} catch (error) {
  failure = error;
}
// Let the last churners close, then one more sample: what is left once the churn stopped.
await sleep(Math.min(5000, opts.holdMs * 2 + 1000));
take();
const elapsedMin = (samples.at(-1).t_s) / 60;
const fit = (from) => {
  const part = samples.slice(from, -1); // the last sample is after the churn stopped
  const xs = part.map((s) => s.t_s / 60);
  const rss = leastSquares(xs, part.map((s) => s.rssKiB));
  const fds = leastSquares(xs, part.map((s) => s.fds));
  return { from_s: part[0]?.t_s, rss_kib_per_min: Number(rss.slope.toFixed(2)), rss_r2: Number(rss.r2.toFixed(3)), fds_per_min: Number(fds.slope.toFixed(3)), fds_r2: Number(fds.r2.toFixed(3)) };
};
const during = samples.slice(1, -1);
const figures = {
  script: 'soak', minutes: opts.minutes, churn_per_s: opts.churn, rate: opts.rate, sample_s: opts.sample,
  churn_opened: churn.opened, churn_subscribed: churn.subscribed, churn_failed: churn.failed, churn_failures: churn.failures,
  churn_achieved_per_s: Number((churn.subscribed / (elapsedMin * 60)).toFixed(1)), churn_max_live: churn.maxLive,
  published: publisher.sent, acked: publisher.acked.size,
  ws: results && { missing: results.ws.missing.length, duplicates: results.ws.duplicates.length, received: results.ws.received },
  sse: results && { missing: results.sse.missing.length, duplicates: results.sse.duplicates.length, received: results.sse.received },
  steady_ws_open: ws.closeInfo === null, steady_sse_opens: sse.opens,
  rss_kib: { start: samples[0].rssKiB, min: Math.min(...during.map((s) => s.rssKiB)), max: Math.max(...during.map((s) => s.rssKiB)), end_loaded: samples.at(-2).rssKiB, after_churn: samples.at(-1).rssKiB },
  fds: { start: samples[0].fds, min: Math.min(...during.map((s) => s.fds)), max: Math.max(...during.map((s) => s.fds)), after_churn: samples.at(-1).fds },
  slope_all: fit(1), slope_after_warmup: fit(Math.max(1, Math.floor(samples.length / 10))),
  error: failure ? failure.message.split('\n')[0] : null,
};
if (opts.samples) figures.samples = samples.map((s) => [Math.round(s.t_s), s.rssKiB, s.fds]);
if (results) for (const [name, r] of Object.entries(results)) log(describeTally(`steady ${name}`, r));
log(`RSS ${figures.rss_kib.start} -> ${figures.rss_kib.end_loaded} KiB (slope ${figures.slope_after_warmup.rss_kib_per_min} KiB/min after warm-up); ` +
  `fds ${figures.fds.start} -> max ${figures.fds.max} -> ${figures.fds.after_churn} after the churn (slope ${figures.slope_after_warmup.fds_per_min}/min)`);
process.stdout.write(`${JSON.stringify(figures)}\n`);
const ok = !failure && results && Object.values(results).every((r) => r.missing.length === 0 && r.duplicates.length === 0) &&
  figures.steady_ws_open && figures.steady_sse_opens === 1;
log(ok ? 'OK: nothing lost' : `FAILED${failure ? `: ${failure.message.slice(0, 1500)}` : ''}`);
for (const c of [ws, sse]) c.close();
mq.end(true);
await kabar.stop(15000);
await broker.stop();
process.exit(ok ? 0 : 1);
