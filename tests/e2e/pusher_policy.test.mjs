// Public channels on the Pusher door are held to the authorization policy, as on /ws and /sse
// (docs/authorization.md, docs/pusher.md "Subscribing"): with `public_channels` "authenticated" or
// "rules", or a deny rule on a public channel, /app/{key} refuses exactly what the other doors refuse,
// with pusher:subscription_error status 403 and the policy's reason. A Pusher socket is judged by the
// token of its kabar_token cookie, or as anonymous without one. Private and presence channels keep their
// app signature (the auth endpoint, Laravel's or kabar's, is where the policy judges them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { Kabar, httpGet, makeTempDir, requireKabarBinary, startMosquitto, useHarness } from './lib/harness.mjs';
import { WsClient } from './lib/clients.mjs';
import { LOCAL_APP, authFor, established, rawPusher, serverSdk } from './pusher-helpers.mjs';

useHarness();

// Anonymous readers get news.* but not news.secret; nothing else public is open to them.
const RULES_POLICY = {
  version: 1,
  roles: ['kasir'],
  public_channels: 'rules',
  rules: [
    { name: 'open-news', anonymous: true, roles: ['*'], actions: ['read'], channels: ['news.*'] },
    { name: 'no-secret', effect: 'deny', anonymous: true, roles: ['*'], actions: ['read'], channels: ['news.secret'] },
  ],
};
const TOKEN_POLICY = { version: 1, roles: ['kasir'], public_channels: 'authenticated', rules: [] };

let byRules;
let byToken;

async function node(broker, policy) {
  const dir = makeTempDir('kabar-e2e-policy-');
  const file = path.join(dir, 'policy.json');
  fs.writeFileSync(file, JSON.stringify(policy));
  // operator: kabar verifies tokens (its own secret, no clock skew) and kabar.token() mints them.
  // The development app, named: with auth.jwt kabar no longer serves it unasked (docs/configuration.md).
  const kabar = await Kabar.create({ mqttPort: broker.port, operator: true, config: { apps: [LOCAL_APP], auth: { policy_file: file, jwt: { clock_skew_s: 0 } } } });
  return kabar.start();
}

before(async () => {
  requireKabarBinary();
  const broker = await startMosquitto();
  byRules = await node(broker, RULES_POLICY);
  byToken = await node(broker, TOKEN_POLICY);
});

async function pusherSubscribe(client, channel, extra = {}) {
  const from = client.frames.length;
  client.send({ event: 'pusher:subscribe', data: { auth: '', channel, ...extra } });
  return client.waitFrame((f) => f.channel === channel && /subscription_(succeeded|error)/.test(f.event), { from, what: `subscribe ${channel}` });
}

// What /ws and /sse say to an anonymous reader of `channel`: null when allowed, else the reason.
async function otherDoors(kabar, channel) {
  const ws = await WsClient.connect(kabar.wsUrl);
  const reply = await ws.request({ type: 'subscribe', channel });
  ws.close();
  const wsVerdict = reply.type === 'subscribed' ? null : reply.message.split(':')[0];
  if (wsVerdict === null) return { ws: null, sse: null };
  const sse = await httpGet(kabar.url(`/sse?channel=${channel}`));
  return { ws: wsVerdict, sse: sse.status === 403 ? JSON.parse(sse.body).reason : `HTTP ${sse.status}` };
}

async function assertSameVerdict(kabar, channel, expected) {
  const client = await rawPusher(kabar);
  await established(client);
  const reply = await pusherSubscribe(client, channel);
  const doors = await otherDoors(kabar, channel);
  if (expected === null) {
    assert.equal(reply.event, 'pusher_internal:subscription_succeeded', `${channel}: ${JSON.stringify(reply)}`);
    assert.deepEqual(doors, { ws: null, sse: null }, `${channel} is open on /ws and /sse too`);
  } else {
    assert.equal(reply.event, 'pusher:subscription_error', `${channel} refused on the Pusher door`);
    assert.equal(reply.data.type, 'AuthError');
    assert.equal(reply.data.status, 403);
    assert.equal(reply.data.reason, expected, `${channel}: ${JSON.stringify(reply.data)}`);
    assert.ok(reply.data.error.length > 0, 'the refusal says why');
    assert.deepEqual(doors, { ws: expected, sse: expected }, `${channel}: the same refusal on /ws and /sse`);
  }
  assert.equal(client.closeInfo, null, 'a refusal never closes the socket');
  return client;
}

test('public_channels "rules": the Pusher door serves what the rules allow and refuses what a deny rule or no rule refuses, as /ws and /sse do', async () => {
  const reader = await assertSameVerdict(byRules, 'news.today', null);
  await assertSameVerdict(byRules, 'news.secret', 'denied');
  await assertSameVerdict(byRules, 'dokumen.1', 'token_required');
  await assertSameVerdict(byRules, 'cache-dokumen.1', 'token_required'); // cache channels are public ones

  // The allowed subscription is a real one: it receives what is published.
  await serverSdk(byRules).trigger('news.today', 'headline', { title: 'kabar' });
  const event = await reader.waitFrame((f) => f.event === 'headline');
  assert.equal(event.data, '{"title":"kabar"}');
});

test('a refused public channel is not held: an event published to it does not reach the refused socket', async () => {
  const client = await rawPusher(byRules);
  await established(client);
  const refused = await pusherSubscribe(client, 'news.secret');
  assert.equal(refused.event, 'pusher:subscription_error');
  await pusherSubscribe(client, 'news.open');
  await serverSdk(byRules).trigger(['news.secret', 'news.open'], 'tick', { n: 1 });
  await client.waitFrame((f) => f.event === 'tick' && f.channel === 'news.open');
  assert.equal(client.frames.filter((f) => f.event === 'tick' && f.channel === 'news.secret').length, 0);
});

test('public_channels "authenticated": an anonymous Pusher socket gets no public channel; signed private channels still work', async () => {
  const client = await assertSameVerdict(byToken, 'dokumen.1', 'token_required');
  // Private channels are judged by the app signature the auth endpoint gave, not asked again.
  const socketId = JSON.parse(client.frames[0].data).socket_id;
  const reply = await pusherSubscribe(client, 'private-dokumen.1', { auth: authFor(LOCAL_APP, socketId, 'private-dokumen.1') });
  assert.equal(reply.event, 'pusher_internal:subscription_succeeded');
});

test('the socket\'s own token (kabar_token cookie) opens public channels under "authenticated", and they end when it expires', async () => {
  const withCookie = (token) => rawPusher(byToken, { headers: { Cookie: `kabar_token=${token}` } });
  const valid = await withCookie(await byToken.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 }));
  await established(valid);
  assert.equal((await pusherSubscribe(valid, 'dokumen.1')).event, 'pusher_internal:subscription_succeeded');

  // A refused token is said (4009, not fatal) and the socket goes on as anonymous.
  const forged = await withCookie('not.a.token');
  await established(forged);
  const told = await forged.waitFrame((f) => f.event === 'pusher:error', { what: 'pusher:error for the refused token' });
  assert.equal(JSON.parse(told.data).code, 4009, told.data);
  assert.match(JSON.parse(told.data).message, /malformed/);
  const refused = await pusherSubscribe(forged, 'dokumen.1');
  assert.deepEqual([refused.event, refused.data.reason], ['pusher:subscription_error', 'token_required']);
  assert.equal(forged.closeInfo, null);

  // A token that expires: the public channel it opened ends with token_expired; the socket stays.
  const brief = await withCookie(await byToken.token({ sub: 'kasir-3', role: 'kasir', cabang: 3, ttl: 2 }));
  await established(brief);
  assert.equal((await pusherSubscribe(brief, 'dokumen.1')).event, 'pusher_internal:subscription_succeeded');
  const ended = await brief.waitFrame((f) => f.event === 'pusher:subscription_error' && f.channel === 'dokumen.1',
    { timeout: 8000, what: 'the expired subscription ends' });
  assert.equal(ended.data.reason, 'token_expired', JSON.stringify(ended.data));
  await serverSdk(byToken).trigger('dokumen.1', 'after', { n: 1 });
  await valid.waitFrame((f) => f.event === 'after');
  assert.equal(brief.frames.filter((f) => f.event === 'after').length, 0, 'nothing after the expiry');
  assert.equal(brief.closeInfo, null);
});
