// Webhooks (docs/pusher.md "Webhooks"): channel_occupied/vacated, member_added/removed, client_event and
// cache_miss reach the app's backend, batched, signed with X-Pusher-Key / X-Pusher-Signature over the
// exact body, retried when the receiver fails, filtered by event_types; delivery never waits for them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { requireKabarBinary, sleep, track, useHarness, waitUntil } from './lib/harness.mjs';
import {
  LOCAL_APP, authFor, connected, established, hmac, makeEcho, rawPusher, serverSdk, startAuthServer, startStack,
} from './pusher-helpers.mjs';

useHarness();

let kabar;
let auth;
let receiver;
let typingOnly;

// Records every POST; `failNext` answers that many requests with 500 first.
async function startReceiver() {
  const state = { bodies: [], failNext: 0, failures: 0 };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => {
      if (state.failNext > 0) {
        state.failNext -= 1;
        state.failures += 1;
        res.writeHead(500).end();
        return;
      }
      state.bodies.push({ raw, headers: req.headers, body: JSON.parse(raw), at: Date.now() });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${server.address().port}/pusher/webhooks`;
  state.events = () => state.bodies.flatMap((b) => b.body.events);
  track({ close: () => server.close() });
  return state;
}

before(async () => {
  requireKabarBinary();
  receiver = await startReceiver();
  typingOnly = await startReceiver();
  const app = {
    ...LOCAL_APP,
    webhooks: [{ url: receiver.url }, { url: typingOnly.url, event_types: ['client_event'] }],
  };
  ({ kabar } = await startStack({ apps: [app] }));
  auth = await startAuthServer(LOCAL_APP);
});

after(() => auth?.close());

test('presence join/leave and occupancy are reported, batched and signed over the exact body', async () => {
  const ana = makeEcho(kabar, { user: '1:Ana', authUrl: auth.url });
  await connected(ana);
  let here = null;
  ana.join('dokumen.80').here((m) => { here = m; });
  await waitUntil(() => here, { what: 'Ana here()' });
  await waitUntil(() => receiver.events().some((e) => e.name === 'member_added'), { what: 'member_added webhook' });
  const first = receiver.bodies.find((b) => b.body.events.some((e) => e.name === 'member_added'));
  assert.deepEqual(first.body.events, [
    { name: 'channel_occupied', channel: 'presence-dokumen.80' },
    { name: 'member_added', channel: 'presence-dokumen.80', user_id: '1' },
  ], 'both events of one join in one body');
  assert.equal(typeof first.body.time_ms, 'number');
  assert.equal(first.headers['x-pusher-key'], LOCAL_APP.key);
  assert.equal(first.headers['x-pusher-signature'], hmac(LOCAL_APP.secret, first.raw));
  assert.equal(first.headers['content-type'], 'application/json');

  ana.leave('dokumen.80');
  await waitUntil(() => receiver.events().some((e) => e.name === 'channel_vacated'), { what: 'channel_vacated webhook' });
  const names = receiver.events().filter((e) => e.channel === 'presence-dokumen.80').map((e) => e.name);
  assert.deepEqual(names, ['channel_occupied', 'member_added', 'member_removed', 'channel_vacated']);
  assert.equal(typingOnly.events().length, 0, 'event_types filters the second webhook');
});

test('client events are reported with their data, sender and user; cache misses too', async () => {
  const a = await rawPusher(kabar);
  const b = await rawPusher(kabar);
  const aId = await established(a);
  const bId = await established(b);
  for (const [client, id, user] of [[a, aId, '1'], [b, bId, '2']]) {
    const channelData = JSON.stringify({ user_id: user });
    client.send({ event: 'pusher:subscribe', data: { channel: 'presence-chat.80', auth: authFor(LOCAL_APP, id, 'presence-chat.80', channelData), channel_data: channelData } });
    await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded');
  }
  a.send({ event: 'client-typing', channel: 'presence-chat.80', data: { typing: true } });
  await b.waitFrame((f) => f.event === 'client-typing');
  await waitUntil(() => typingOnly.events().length === 1, { what: 'client_event webhook' });
  assert.deepEqual(typingOnly.events()[0], {
    name: 'client_event', channel: 'presence-chat.80', event: 'client-typing', data: '{"typing":true}', socket_id: aId, user_id: '1',
  });
  a.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'cache-kosong.80' } });
  await a.waitFrame((f) => f.event === 'pusher:cache_miss');
  await waitUntil(() => receiver.events().some((e) => e.name === 'cache_miss' && e.channel === 'cache-kosong.80'), { what: 'cache_miss webhook' });
});

test('a failing receiver gets the same body again until it accepts it; delivery does not wait', async () => {
  receiver.failNext = 2;
  const failuresBefore = receiver.failures;
  const client = await rawPusher(kabar);
  await established(client);
  client.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'retry.80' } });
  await client.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded');
  const t0 = Date.now();
  await serverSdk(kabar).trigger('retry.80', 'still.fast', {});
  await client.waitFrame((f) => f.event === 'still.fast');
  assert.ok(Date.now() - t0 < 2000, 'events flow while webhooks are being retried');
  await waitUntil(() => receiver.events().some((e) => e.channel === 'retry.80'), { timeout: 15000, what: 'the retried webhook' });
  assert.equal(receiver.failures - failuresBefore, 2, 'two failed attempts before it was accepted');
  const metrics = await kabar.metrics();
  assert.ok(metrics.find((s) => s.name === 'kabar_webhooks_failed_total').value >= 2);
  assert.ok(metrics.find((s) => s.name === 'kabar_webhooks_sent_total').value >= 1);
  await sleep(100);
});
