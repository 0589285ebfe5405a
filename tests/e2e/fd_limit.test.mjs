// Out of file descriptors: a kabar whose open-file limit is reached must not spin on accept() (each
// failure retried at once burns a core and writes a log line per try); it pauses, logs at most every
// 10 s, counts the failures, and serves again as soon as descriptors are free.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { before, test } from 'node:test';
import {
  Kabar, parseMetrics, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil,
} from './lib/harness.mjs';

useHarness();

const LIMIT = 96;  // kabar uses ~25 descriptors idle; the rest are taken by the clients below
let kabar;

before(async () => {
  requireKabarBinary();
  const broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port });
  await kabar.start();
});

function openSocket(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    setTimeout(() => resolve(socket), 2000);  // queued in the backlog: counts as open for this test
  });
}

function metric(text, name) {
  const sample = parseMetrics(text).find((s) => s.name === name);
  return sample ? Number(sample.value) : undefined;
}

test('at the open-file limit accept() pauses instead of spinning, and kabar serves again once descriptors are free', async () => {
  const pid = kabar.child.proc.pid;
  const before = metric((await kabar.get('/metrics')).body, 'kabar_accept_failures_total');
  assert.equal(before, 0, 'no accept failure before the test');
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${LIMIT}:${LIMIT}`]);
  const sockets = [];
  try {
    for (let i = 0; i < LIMIT + 40; i += 1) sockets.push(await openSocket(kabar.port));
    await sleep(2000);  // the table is full for 2 s: a spinning listener fails thousands of times
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  let after;
  await waitUntil(async () => {
    try {
      after = metric((await kabar.get('/metrics', { timeout: 1000 })).body, 'kabar_accept_failures_total');
      return true;
    } catch { return false; }
  }, { timeout: 15000, interval: 200, what: 'kabar to serve /metrics again after the descriptors were freed' });
  assert.ok(after >= 1, `accept() failed at the limit (${after} failures counted)`);
  assert.ok(after <= 200, `accept() retried ${after} times in ~2 s: it spins instead of pausing 100 ms`);
  const lines = kabar.tail(2000).split('\n').filter((line) => line.includes('accept failed'));
  assert.ok(lines.length >= 1 && lines.length <= 3, `accept failures logged ${lines.length} times, not at most every 10 s`);
  const ready = await kabar.get('/readyz');
  assert.equal(ready.status, 200, 'ready again');
});
