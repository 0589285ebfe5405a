// The two doors of the authorization matrix that take a token over plain HTTP (docs/authorization.md):
//
//  * kabar's own Pusher channel authorization endpoint, POST /pusher/auth[/{key}], for apps without
//    Laravel's /broadcasting/auth: the unmodified pusher-js client posts socket_id + channel_name with the
//    user's JWT as a Bearer header; kabar answers the HMAC `auth` (+ `channel_data` for presence) or the
//    policy's refusal;
//  * REST publish (POST /apps/{id}/events) with a publisher token instead of the app signature.
//
// Roles (kasir, admin, super_admin, backend, anonymous) x branches (own 3, other 7): every cell asserts
// delivery/acceptance or the exact refusal.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  Kabar, makeTempDir, metricSum, requireKabarBinary, runKabar, sleep, startMosquitto, track, useHarness, waitUntil,
  withTimeout,
} from './lib/harness.mjs';
import { LOCAL_APP, hmac, serverSdk } from './pusher-helpers.mjs';

globalThis.WebSocket ??= WebSocket;
globalThis.self ??= globalThis;
const { default: PusherJs } = await import('pusher-js/dist/worker/pusher.worker.js');

useHarness();

const SECRET = 'e2e-doors-secret-e2e-doors-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function mint(claims, secret = SECRET) {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: now() + 600, ...claims })}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const expOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp;

let kabar;
let secretFile;
const tokens = {};

before(async () => {
  requireKabarBinary();
  const dir = makeTempDir('kabar-e2e-doors-');
  secretFile = path.join(dir, 'jwt.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`);
  const cli = async (...args) => {
    const result = await runKabar(['token', '--secret-file', secretFile, '--ttl', '3600', ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };
  tokens.kasir = await cli('--sub', 'kasir-3', '--role', 'kasir', '--cabang', '3');
  tokens.admin = await cli('--sub', 'admin-3', '--role', 'admin', '--cabang', '3,4');
  tokens.super_admin = await cli('--sub', 'boss', '--role', 'super_admin', '--claim', 'name="Bu Ani"');
  tokens.backend = await cli('--sub', 'laravel', '--role', 'backend');
  tokens.anonymous = '';
  const broker = await startMosquitto();
  // The development app, named: with auth.jwt kabar no longer serves it unasked (docs/configuration.md).
  kabar = await Kabar.create({ mqttPort: broker.port, config: { apps: [LOCAL_APP], auth: { jwt: { secret_file: secretFile, clock_skew_s: 0 } } } });
  await kabar.start();
});

const ROLES = ['kasir', 'admin', 'super_admin', 'backend', 'anonymous'];
const CHANNELS = ['private-cabang.3', 'private-cabang.7'];
// What the policy says about reading (Pusher auth) each channel: true, or the refusal's reason.
const READ = {
  kasir: { 'private-cabang.3': true, 'private-cabang.7': 'claim_mismatch' },
  admin: { 'private-cabang.3': true, 'private-cabang.7': 'claim_mismatch' },
  super_admin: { 'private-cabang.3': true, 'private-cabang.7': true },
  backend: { 'private-cabang.3': true, 'private-cabang.7': true },
  anonymous: { 'private-cabang.3': 'token_required', 'private-cabang.7': 'token_required' },
};
// ...and about publishing (REST with a publisher token). Anonymous sends no token: the app signature is
// then required and missing.
const PUBLISH = {
  kasir: { 'private-cabang.3': 'action_not_allowed', 'private-cabang.7': 'action_not_allowed' },
  admin: { 'private-cabang.3': 'action_not_allowed', 'private-cabang.7': 'action_not_allowed' },
  super_admin: { 'private-cabang.3': 'action_not_allowed', 'private-cabang.7': 'action_not_allowed' },
  backend: { 'private-cabang.3': true, 'private-cabang.7': true },
  anonymous: { 'private-cabang.3': 'missing_auth', 'private-cabang.7': 'missing_auth' },
};

// pusher-js 8 as an app without Laravel would configure it: kabar's endpoint, the user's JWT as a header.
function pusherAs(token, { endpoint = kabar.url('/pusher/auth') } = {}) {
  const pusher = new PusherJs(LOCAL_APP.key, {
    wsHost: '127.0.0.1', wsPort: kabar.port, forceTLS: false, enabledTransports: ['ws'], cluster: 'kabar',
    channelAuthorization: { endpoint, transport: 'ajax', headers: token ? { Authorization: `Bearer ${token}` } : {} },
  });
  track({ close: () => pusher.disconnect() });
  return pusher;
}

// Resolves {ok: true} on subscription_succeeded, {ok: false, status} on subscription_error.
function subscribeOutcome(pusher, channelName) {
  const channel = pusher.subscribe(channelName);
  return withTimeout(new Promise((resolve) => {
    channel.bind('pusher:subscription_succeeded', () => resolve({ ok: true, channel }));
    channel.bind('pusher:subscription_error', (error) => resolve({ ok: false, status: error.status, error }));
  }), 8000, `pusher-js subscription outcome for ${channelName}`);
}

// The request pusher-js makes, made directly, to read the answer's body.
async function authRequest(token, form, { path: urlPath = '/pusher/auth', headers = {} } = {}) {
  const res = await fetch(kabar.url(urlPath), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
}

async function restPublish(token, channel, { id = crypto.randomUUID(), urlPath = '/apps/local/events', method = 'POST' } = {}) {
  const res = await fetch(kabar.url(urlPath), {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: method === 'POST' ? JSON.stringify({ name: 'kas.updated', channel, data: JSON.stringify({ id }) }) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

describe('Pusher channel authorization: POST /pusher/auth with the user\'s JWT', () => {
  test('roles x branches through pusher-js: allowed cells subscribe and receive, refused cells get 403 with the policy reason', async () => {
    const subscribed = [];
    for (const role of ROLES) {
      const pusher = pusherAs(tokens[role]);
      await waitUntil(() => pusher.connection.state === 'connected', { timeout: 5000, what: `${role} pusher-js connected` });
      for (const channel of CHANNELS) {
        const cell = `${role} ${channel}`;
        const outcome = await subscribeOutcome(pusher, channel);
        const expected = READ[role][channel];
        if (expected === true) {
          assert.equal(outcome.ok, true, `${cell}: subscribed (${JSON.stringify(outcome.error)})`);
          const received = [];
          outcome.channel.bind('kas.updated', (data) => received.push(data));
          subscribed.push({ cell, channel, received });
        } else {
          assert.equal(outcome.ok, false, `${cell}: refused`);
          assert.equal(outcome.status, 403, `${cell}: HTTP status seen by pusher-js`);
          // The same request, made directly: the body says why.
          const answer = await authRequest(tokens[role], { socket_id: pusher.connection.socket_id, channel_name: channel });
          assert.equal(answer.status, 403, cell);
          assert.deepEqual([answer.body.error, answer.body.reason, answer.body.channel], ['forbidden_channel', expected, channel], `${cell}: ${JSON.stringify(answer.body)}`);
          assert.ok(answer.body.message.length > 0);
        }
      }
    }
    // Every allowed subscriber gets an event published on its channel (signed by the server SDK).
    const sdk = serverSdk(kabar);
    for (const channel of CHANNELS) await sdk.trigger(channel, 'kas.updated', { channel });
    for (const { cell, channel, received } of subscribed) {
      await waitUntil(() => received.some((d) => d.channel === channel), { timeout: 5000, what: `${cell} receives its event` });
    }
  });

  test('the answer is Laravel\'s, plus the token\'s expiry in signed channel_data: auth = key:HMAC(socket_id:channel:channel_data)', async () => {
    const answer = await authRequest(tokens.kasir, { socket_id: '123.456', channel_name: 'private-cabang.3' });
    assert.equal(answer.status, 200);
    const channelData = JSON.stringify({ kabar_exp: expOf(tokens.kasir) });
    assert.deepEqual(answer.body, { auth: `${LOCAL_APP.key}:${hmac(LOCAL_APP.secret, `123.456:private-cabang.3:${channelData}`)}`, channel_data: channelData });
    // /pusher/auth/{key} names the app explicitly.
    const named = await authRequest(tokens.kasir, { socket_id: '123.456', channel_name: 'private-cabang.3' }, { path: `/pusher/auth/${LOCAL_APP.key}` });
    assert.deepEqual(named.body, answer.body);
    const unknown = await authRequest(tokens.kasir, { socket_id: '123.456', channel_name: 'private-cabang.3' }, { path: '/pusher/auth/nope' });
    assert.deepEqual([unknown.status, unknown.body.error], [404, 'unknown_app']);
  });

  test('presence: channel_data is made from the token (user_id = sub, user_info.name), and pusher-js sees itself as that member', async () => {
    const answer = await authRequest(tokens.super_admin, { socket_id: '1.2', channel_name: 'presence-cabang.3' });
    assert.equal(answer.status, 200);
    const channelData = JSON.stringify({ kabar_exp: expOf(tokens.super_admin), user_id: 'boss', user_info: { name: 'Bu Ani' } });
    assert.deepEqual(answer.body, { auth: `${LOCAL_APP.key}:${hmac(LOCAL_APP.secret, `1.2:presence-cabang.3:${channelData}`)}`, channel_data: channelData });
    const pusher = pusherAs(tokens.super_admin);
    const outcome = await subscribeOutcome(pusher, 'presence-cabang.3');
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.channel.members.me, { id: 'boss', info: { name: 'Bu Ani' } });
    // A cashier may not join this presence channel under the built-in policy.
    const refused = await authRequest(tokens.kasir, { socket_id: '1.2', channel_name: 'presence-cabang.3' });
    assert.deepEqual([refused.status, refused.body.reason], [403, 'role_not_allowed']);
  });

  test('a token that expires while connected ends its Pusher subscriptions with token_expired; the others go on', async () => {
    // The kabar_exp in the signed channel_data is what the node holding the socket acts on.
    const shortLived = mint({ sub: 'kasir-3', role: 'kasir', cabang: [3], exp: now() + 3 });
    const soon = pusherAs(shortLived);
    const stays = pusherAs(tokens.super_admin);
    const presenceWatcher = pusherAs(tokens.super_admin);
    const expiring = await subscribeOutcome(soon, 'private-cabang.3');
    assert.equal(expiring.ok, true, JSON.stringify(expiring.error));
    const lasting = await subscribeOutcome(stays, 'private-cabang.3');
    assert.equal(lasting.ok, true);
    // Presence too: the others see the member go when its token expires.
    const shortPresence = mint({ sub: 'deputy', role: 'super_admin', exp: now() + 3 });
    const deputy = pusherAs(shortPresence);
    const watched = await subscribeOutcome(presenceWatcher, 'presence-cabang.3');
    assert.equal(watched.ok, true);
    const ended = [];
    expiring.channel.bind('pusher:subscription_error', (error) => ended.push(error));
    const seenBySoon = [];
    const seenByStays = [];
    expiring.channel.bind('kas.updated', (data) => seenBySoon.push(data.n));
    lasting.channel.bind('kas.updated', (data) => seenByStays.push(data.n));
    let removed = null;
    watched.channel.bind('pusher:member_removed', (member) => { removed = member.id; });
    const joined = await subscribeOutcome(deputy, 'presence-cabang.3');
    assert.equal(joined.ok, true, JSON.stringify(joined.error));
    await waitUntil(() => watched.channel.members.get('deputy'), { timeout: 5000, what: 'the watcher sees the deputy join' });
    const sdk = serverSdk(kabar);
    await sdk.trigger('private-cabang.3', 'kas.updated', { n: 1 });
    await waitUntil(() => seenBySoon.includes(1) && seenByStays.includes(1), { timeout: 5000, what: 'both receive before expiry' });

    await waitUntil(() => ended.length > 0, { timeout: 8000, what: 'subscription_error after the token expired' });
    assert.equal(ended[0].status, 401, JSON.stringify(ended[0]));
    assert.equal(ended[0].reason, 'token_expired', JSON.stringify(ended[0]));
    assert.equal(soon.connection.state, 'connected', 'the connection stays; only the subscription ended');
    await sdk.trigger('private-cabang.3', 'kas.updated', { n: 2 });
    await waitUntil(() => seenByStays.includes(2), { timeout: 5000, what: 'the other subscriber still receives' });
    await sleep(300);
    assert.deepEqual(seenBySoon, [1], 'nothing after expiry reaches the expired subscription');
    await waitUntil(() => removed === 'deputy', { timeout: 8000, what: 'member_removed for the expired presence member' });
    const metrics = await kabar.metrics();
    assert.ok(metricSum(metrics, /^kabar_subscriptions_expired_total$/) >= 2, 'both expired subscriptions are counted');
  });

  test('bad tokens get 401 invalid_token with the reason; bad forms get 400; nothing is signed', async () => {
    const form = { socket_id: '1.2', channel_name: 'private-cabang.3' };
    for (const [token, reason] of [
      [mint({ sub: 'k', role: 'kasir', cabang: [3], exp: now() - 60 }), 'expired'],
      [mint({ sub: 'k', role: 'super_admin' }, 'x'.repeat(40)), 'bad_signature'],
      ['not-a-token', 'malformed'],
    ]) {
      const answer = await authRequest(token, form);
      assert.equal(answer.status, 401, JSON.stringify(answer.body));
      assert.match(answer.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
      assert.deepEqual([answer.body.error, answer.body.reason], ['invalid_token', reason]);
      assert.equal(answer.body.auth, undefined);
    }
    for (const [bad, code] of [
      [{ socket_id: 'abc', channel_name: 'private-cabang.3' }, 'bad_socket_id'],
      [{ socket_id: '1.2', channel_name: 'bad channel!' }, 'invalid_channel'],
      [{ socket_id: '1.2', channel_name: 'dokumen.3' }, 'not_private'],
      [{ socket_id: '1.2' }, 'invalid_channel'],
    ]) {
      const answer = await authRequest(tokens.super_admin, bad);
      assert.deepEqual([answer.status, answer.body.error], [400, code], JSON.stringify(answer.body));
    }
    const get = await fetch(kabar.url('/pusher/auth'), { signal: AbortSignal.timeout(5000) });
    assert.equal(get.status, 405);
    // The kabar_token cookie works too (same-site apps); ?token= is refused (URLs end up in logs).
    const cookie = await authRequest('', form, { headers: { Cookie: `kabar_token=${tokens.kasir}` } });
    assert.equal(cookie.status, 200);
    const query = await authRequest('', form, { path: `/pusher/auth?token=${tokens.kasir}` });
    assert.deepEqual([query.status, query.body.reason], [401, 'query_token_disabled']);
  });
});

describe('REST publish with a publisher token (Authorization: Bearer) instead of the app signature', () => {
  test('roles x branches: only the backend role publishes; others get 403 with the policy reason, anonymous 401', async () => {
    // A subscriber that may read everything sees exactly the accepted publishes.
    const watcher = pusherAs(tokens.super_admin);
    const seen = [];
    for (const channel of CHANNELS) {
      const outcome = await subscribeOutcome(watcher, channel);
      assert.equal(outcome.ok, true);
      outcome.channel.bind('kas.updated', (data) => seen.push(`${channel} ${data.id}`));
    }
    const accepted = [];
    for (const role of ROLES) {
      for (const channel of CHANNELS) {
        const cell = `${role} ${channel}`;
        const id = `${role}-${channel}`;
        const answer = await restPublish(tokens[role], channel, { id });
        const expected = PUBLISH[role][channel];
        if (expected === true) {
          assert.equal(answer.status, 200, `${cell}: ${JSON.stringify(answer.body)}`);
          assert.deepEqual(answer.body, {});
          accepted.push(`${channel} ${id}`);
        } else if (expected === 'missing_auth') {
          assert.deepEqual([answer.status, answer.body.error], [401, 'missing_auth'], `${cell}: ${JSON.stringify(answer.body)}`);
        } else {
          assert.equal(answer.status, 403, `${cell}: ${JSON.stringify(answer.body)}`);
          assert.deepEqual([answer.body.error, answer.body.reason, answer.body.channel], ['forbidden_channel', expected, channel], cell);
        }
      }
    }
    await waitUntil(() => accepted.every((item) => seen.includes(item)), { timeout: 8000, what: 'accepted publishes delivered' });
    await sleep(300);
    assert.deepEqual(seen.sort(), accepted.sort(), 'refused publishes were not delivered');
  });

  test('a token is for publishing only, is judged alone (a bad one is refused), and batch publishes check every channel', async () => {
    const query = await restPublish(tokens.backend, '', { urlPath: '/apps/local/channels', method: 'GET' });
    assert.deepEqual([query.status, query.body.error], [403, 'signature_required']);
    const expired = await restPublish(mint({ sub: 'laravel', role: 'backend', exp: now() - 60 }), 'private-cabang.3');
    assert.deepEqual([expired.status, expired.body.error, expired.body.reason], [401, 'invalid_token', 'expired']);
    const batch = await fetch(kabar.url('/apps/local/batch_events'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokens.kasir}` },
      body: JSON.stringify({ batch: [{ name: 'x', channel: 'dokumen.1', data: '{}' }] }),
      signal: AbortSignal.timeout(5000),
    });
    const body = await batch.json();
    assert.deepEqual([batch.status, body.reason, body.channel], [403, 'role_not_allowed', 'dokumen.1']);
    const ok = await fetch(kabar.url('/apps/local/batch_events'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokens.backend}` },
      body: JSON.stringify({ batch: [{ name: 'x', channel: 'dokumen.1', data: '{}' }, { name: 'y', channel: 'private-cabang.7', data: '{}' }] }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(ok.status, 200, await ok.text());
    const metrics = await kabar.metrics();
    assert.ok(metricSum(metrics, /^kabar_forbidden_channels_total$/) > 0);
    const log = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    assert.match(log, /authz: rest refused publish private-cabang\.3 for sub=kasir-3: action_not_allowed/);
    assert.match(log, /authz: pusher-auth refused read private-cabang\.7 for sub=kasir-3: claim_mismatch/);
    for (const token of Object.values(tokens).filter(Boolean)) assert.ok(!log.includes(token), 'no token in the log');
  });
});
