// A slow Pusher client hurts nobody else (architecture promise 4) on the frames that do not come from
// the event log too: whispers relayed from other clients and presence member events count against the
// same send-queue bound as events, so a member of a busy presence room that stops reading is closed with
// 4100 (pusher-js backs off and reconnects) while the other members keep getting everything; and a
// client that floods requests without reading its replies is closed the same way instead of making
// the server queue replies without limit (docs/pusher.md "Keep-alive, limits, slow clients").
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { metricSum, requireKabarBinary, sleep, useHarness, waitUntil } from './lib/harness.mjs';
import { LOCAL_APP, authFor, established, eventsNamed, rawPusher, startStack } from './pusher-helpers.mjs';

useHarness();

const ROOM = 'presence-room.busy';
const SENDERS = 10;
const WHISPER = 'w'.repeat(9500); // under the 10 KB client-event limit
// Round robin, one whisper every 11 ms: each sender whispers every 110 ms, under the 10-a-second limit,
// and the room gets ~860 KB/s, evenly, which a member that reads keeps up with.
const SPACING_MS = 11;

let kabar;

before(async () => {
  requireKabarBinary();
  // A small queue, and a heartbeat long enough (idle cut-off 30 s) that the paused client is closed by
  // its queue, not by keep-alive.
  // The message rate limit is off (ws_messages_per_s 0): here the send-queue bound must stop the flooder
  // (hardening.test.mjs has the rate limit, which otherwise cuts a flood off first).
  ({ kabar } = await startStack({ config: { http: { send_queue_max_frames: 64, heartbeat_ms: 15000, ws_messages_per_s: 0 } } }));
});

const evictions = async () => metricSum(await kabar.metrics(), /^kabar_evicted_slow_consumers_total$/);

async function member(userId) {
  const client = await rawPusher(kabar);
  const socketId = await established(client);
  const channelData = JSON.stringify({ user_id: String(userId), user_info: { name: `user ${userId}` } });
  client.send({ event: 'pusher:subscribe', data: { auth: authFor(LOCAL_APP, socketId, ROOM, channelData), channel_data: channelData, channel: ROOM } });
  await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === ROOM, { what: `user ${userId} joined` });
  return client;
}

test('a presence member that stops reading while others whisper is closed with 4100; the other members get every whisper', { timeout: 120000 }, async (t) => {
  const healthy = await member(1);
  const stalled = await member(2);
  const senders = [];
  for (let i = 0; i < SENDERS; i++) senders.push(await member(100 + i));
  stalled.pause(); // the kernel buffers fill, then kabar's send queue
  const before = await evictions();

  // Whisper at the allowed rate until kabar gives up on the stalled member.
  let sent = 0;
  const t0 = Date.now();
  while ((await evictions()) === before) {
    assert.ok(Date.now() - t0 < 60000, `no eviction after ${sent} whispers`);
    senders[sent % SENDERS].send({ event: 'client-typing', channel: ROOM, data: { n: sent, blob: WHISPER } });
    sent += 1;
    await sleep(SPACING_MS);
  }
  const evictedAfter = Date.now() - t0;
  stalled.resume(); // it reads what was already on its way, then the close
  const close = await stalled.waitClose(15000);
  assert.deepEqual(close, { code: 4100, reason: 'Slow consumer: send queue overflow' });
  const stalledGot = eventsNamed(stalled, 'client-typing').length;
  assert.ok(stalledGot < sent, `the stalled member was cut off before the end (got ${stalledGot} of ${sent})`);

  // The others are unaffected: every whisper reached the healthy member, and nobody else was closed or
  // refused.
  await waitUntil(() => eventsNamed(healthy, 'client-typing').length === sent, { timeout: 15000, what: `all ${sent} whispers at the healthy member` });
  assert.equal(healthy.closeInfo, null, 'the healthy member stays connected');
  for (const sender of senders) {
    assert.equal(sender.closeInfo, null, 'the senders stay connected');
    assert.equal(eventsNamed(sender, 'pusher:error').length, 0, 'no whisper was refused');
  }
  // The stalled member left the room: the others are told.
  await healthy.waitFrame((f) => f.event === 'pusher_internal:member_removed' && f.data === '{"user_id":"2"}', { timeout: 5000 });
  assert.equal(await evictions(), before + 1, 'counted as one slow consumer');
  t.diagnostic(`evicted ${evictedAfter} ms after the first whisper; ${sent} whispers sent, the stalled member read ${stalledGot}`);
});

test('a client that floods requests without reading the replies is closed with 4100 instead of queueing them', { timeout: 120000 }, async (t) => {
  const flooder = await rawPusher(kabar);
  await established(flooder);
  const bystander = await rawPusher(kabar);
  await established(bystander);
  flooder.pause();
  const before = await evictions();
  // Each unknown event is answered with a pusher:error quoting its name: ~3 KB of reply per message.
  const bogus = JSON.stringify({ event: `bogus-${'x'.repeat(3000)}`, data: {} });
  let sent = 0;
  const t0 = Date.now();
  while ((await evictions()) === before) {
    assert.ok(Date.now() - t0 < 60000, `no eviction after ${sent} requests`);
    for (let k = 0; k < 500; k++, sent++) flooder.ws.send(bogus);
    await sleep(50);
  }
  flooder.resume();
  const close = await flooder.waitClose(15000);
  assert.deepEqual(close, { code: 4100, reason: 'Slow consumer: send queue overflow' });
  assert.ok(eventsNamed(flooder, 'pusher:error').length < sent, 'replies were cut off, not all queued');
  // The server still serves everyone else.
  bystander.send({ event: 'pusher:ping', data: {} });
  await bystander.waitFrame((f) => f.event === 'pusher:pong');
  assert.equal(bystander.closeInfo, null);
  t.diagnostic(`evicted after ${sent} requests, ${Date.now() - t0} ms`);
});
