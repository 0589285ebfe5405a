// One client cannot grow the server without limit (architecture promise 4). A flooder is a raw TCP
// socket that upgrades to a WebSocket, subscribes, then writes valid requests whose replies are large
// (a /ws ping echoing a 60 KB `ref`), or many small ones (Pusher pings), and never reads a byte. Every reply counts against the send queue's bound, in frames and bytes, so kabar's RSS stays
// within that bound plus the socket buffers, the flooder is cut (its TCP connection closed even though
// it never reads the close frame), and a client on the same channel keeps getting events.
// The message rate limit is off here (ws_messages_per_s 0): the memory bound is what must stop it
// (hardening.test.mjs has the rate limit, which otherwise cuts a flood first).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { before, test } from 'node:test';
import { metricSum, requireKabarBinary, sleep, useHarness, waitUntil, withTimeout } from './lib/harness.mjs';
import { WsClient, mqttConnect, publishToChannel } from './lib/clients.mjs';
import { established, rawPusher, startStack } from './pusher-helpers.mjs';

useHarness();

const CHANNEL = 'flood.room';
const QUEUE_BYTES = 4 * 1024 * 1024; // http.send_queue_max_bytes
const FLOOD_MS = 40000; // how long a flooder writes at most; the cut comes 5 s after the eviction
const RSS_BOUND = 96 * 1024 * 1024; // growth allowed: the queue bound, socket buffers, allocator slack
const BIG = 'x'.repeat(60 * 1024); // under max_message_bytes (64 KiB)

let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  let broker;
  ({ broker, kabar } = await startStack({
    config: { http: { ws_messages_per_s: 0, send_queue_max_bytes: QUEUE_BYTES, heartbeat_ms: 15000 } },
  }));
  mq = await mqttConnect(broker.port);
});

function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]) * 1024;
}

// A client-to-server text frame, masked with a zero key (valid, and no XOR work for the test).
function maskedFrame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 65536) { head[0] = 0x81; head[1] = 0x80 | 126; head.writeUInt16BE(n, 2); }
  if (n >= 65536) { head[0] = 0x81; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

// Opens a TCP connection and upgrades it (a client must wait for the 101 before its first frame); from
// then on it never reads a byte.
async function rawFlooder(path) {
  const socket = net.connect(kabar.port, '127.0.0.1');
  const state = { socket, closed: false, error: null };
  socket.on('error', (error) => { state.error = error.code || error.message; });
  socket.on('close', () => { state.closed = true; });
  await withTimeout(new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); }), 5000, 'flooder connect');
  let head = '';
  const upgraded = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (head.startsWith('HTTP/1.1 101')) resolve(); else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${kabar.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await withTimeout(upgraded, 5000, `the upgrade of ${path}`);
  return state;
}

// Writes `frame` (about 40 MB/s, yielding to the event loop) until the server cuts the connection,
// FLOOD_MS pass, or kabar has grown twice the bound (then the verdict is clear; the machine is shared).
// kabar's RSS is sampled meanwhile. Writing on is also how the cut is seen: a paused socket does not
// read the FIN, but a write after the server closed gets EPIPE / ECONNRESET.
async function flood(state, frame, pid) {
  const start = rssBytes(pid);
  let peak = start;
  let written = 0;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssBytes(pid)); } catch { /* exited */ } }, 50);
  const t0 = Date.now();
  try {
    while (!state.closed && !state.error && Date.now() - t0 < FLOOD_MS && peak - start < 2 * RSS_BOUND) {
      for (let i = 0; i < 16; i++) {
        state.socket.write(frame);
        written += frame.length;
      }
      await sleep(25);
    }
    await sleep(200);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, rssBytes(pid));
  return { start, peak, growth: peak - start, written, ms: Date.now() - t0, cut: state.closed || !!state.error };
}

const mib = (bytes) => (bytes / 1048576).toFixed(1);
const evictions = async () => metricSum(await kabar.metrics(), /^kabar_evicted_slow_consumers_total$/);

async function checkBystanderStillServed(receivedIds, id) {
  await publishToChannel(mq, CHANNEL, id, { n: id });
  await waitUntil(() => receivedIds().includes(id), { timeout: 10000, what: `the bystander to get ${id}` });
}

test('/ws: a flooder that never reads is cut; RSS stays within the queue bound; a subscriber of the same channel is served', { timeout: 180000 }, async (t) => {
  const pid = kabar.child.proc.pid;
  const bystander = await WsClient.connect(kabar.wsUrl);
  await bystander.subscribe(CHANNEL);
  const ids = () => bystander.events(CHANNEL).map((f) => f.id);
  await checkBystanderStillServed(ids, 'ws-before');
  const before = await evictions();

  const flooder = await rawFlooder('/ws');
  t.after(() => flooder.socket.destroy()); // also when an assertion fails
  flooder.socket.write(maskedFrame(JSON.stringify({ type: 'subscribe', channel: CHANNEL })));
  const seen = await flood(flooder, maskedFrame(JSON.stringify({ type: 'ping', ref: BIG })), pid);
  t.diagnostic(`/ws flooder: wrote ${mib(seen.written)} MiB in ${seen.ms} ms; kabar RSS ${mib(seen.start)} -> peak ${mib(seen.peak)} MiB (growth ${mib(seen.growth)} MiB); cut: ${seen.cut} (${flooder.error || 'closed'})`);

  assert.ok(seen.growth < RSS_BOUND, `kabar grew by ${mib(seen.growth)} MiB for one client (bound ${mib(RSS_BOUND)} MiB)`);
  assert.ok(seen.cut, `the flooder was not cut after ${mib(seen.written)} MiB in ${seen.ms} ms`);
  assert.equal(await evictions(), before + 1, 'counted as one slow consumer');
  await checkBystanderStillServed(ids, 'ws-after');
  assert.equal(bystander.closeInfo, null, 'the bystander stays connected');
  bystander.close();
});

test('/app: a Pusher flooder that never reads is cut; RSS stays within the queue bound; a subscriber of the same channel is served', { timeout: 180000 }, async (t) => {
  const pid = kabar.child.proc.pid;
  const bystander = await rawPusher(kabar);
  await established(bystander);
  bystander.send({ event: 'pusher:subscribe', data: { channel: CHANNEL } });
  await bystander.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === CHANNEL, { what: 'bystander subscribed' });
  const ids = () => bystander.frames.filter((f) => f.event === 'test.event').map((f) => JSON.parse(f.data).n);
  await checkBystanderStillServed(ids, 'app-before');
  const before = await evictions();

  const flooder = await rawFlooder('/app/local-key?protocol=7&client=js&version=8.6.0&flash=false');
  t.after(() => flooder.socket.destroy());
  flooder.socket.write(maskedFrame(JSON.stringify({ event: 'pusher:subscribe', data: { channel: CHANNEL } })));
  // Small requests with small replies (pusher:ping -> pusher:pong), a thousand per write: the queue fills
  // by its frame bound, and the write kabar has in flight is a single small WebSocket frame, so the close
  // frame cannot slip in between fragments of it: nothing but kabar's close deadline ends this socket.
  const ping = maskedFrame(JSON.stringify({ event: 'pusher:ping', data: {} }));
  const seen = await flood(flooder, Buffer.concat(Array(1000).fill(ping)), pid);
  t.diagnostic(`/app flooder: wrote ${mib(seen.written)} MiB in ${seen.ms} ms; kabar RSS ${mib(seen.start)} -> peak ${mib(seen.peak)} MiB (growth ${mib(seen.growth)} MiB); cut: ${seen.cut} (${flooder.error || 'closed'})`);

  assert.ok(seen.growth < RSS_BOUND, `kabar grew by ${mib(seen.growth)} MiB for one client (bound ${mib(RSS_BOUND)} MiB)`);
  assert.ok(seen.cut, `the flooder was not cut after ${mib(seen.written)} MiB in ${seen.ms} ms`);
  assert.equal(await evictions(), before + 1, 'counted as one slow consumer');
  await checkBystanderStillServed(ids, 'app-after');
  assert.equal(bystander.closeInfo, null, 'the bystander stays connected');
  bystander.close();
});
