// Tokens: getToken at connect, renewal before expiry (/ws: an auth message; /sse: the stream again with the
// fresh ?token=), and on refusal: /ws close 4001, invalid_token error, unsubscribed token_expired, /sse 401.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { advance, ev, fakes, flush, jwt, nowS, resetFakes, useFakeTime } from './fakes.mjs';

beforeEach(useFakeTime);
afterEach(resetFakes);

// getToken handing out tokens of `ttl` seconds, counted.
function tokens(ttl) {
  const issued = [];
  const getToken = async () => {
    const t = jwt({ sub: 'u', iat: nowS(), exp: nowS() + ttl });
    issued.push({ token: t, at: Date.now() });
    return t;
  };
  return { issued, getToken };
}

test('/ws: the token goes in an auth message; renewed 30 s before a 10-minute token expires', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(600);
  const k = f.kabar({ transport: 'ws', getToken });
  k.subscribe('private-x');
  await flush();
  assert.equal(issued.length, 1, 'called at connect');
  assert.ok(!f.ws.url.includes('token'), 'never in the URL');
  f.ws.open();
  assert.deepEqual(f.ws.sent[0], { type: 'auth', token: issued[0].token }, 'auth before subscribe');
  assert.equal(f.ws.sent[1].type, 'subscribe');
  f.ws.welcome();
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: nowS() + 600, ref: null });
  f.ws.recv({ type: 'subscribed', channel: 'private-x', position: 'e1:1' });
  await advance(569_000, 1000);
  assert.equal(issued.length, 1, 'not before exp - 30 s');
  await advance(2000, 100);
  assert.equal(issued.length, 2, 'renewed at exp - 30 s');
  assert.deepEqual(f.ws.ofType('auth').at(-1), { type: 'auth', token: issued[1].token });
  assert.equal(f.sockets.length, 1, 'on the open socket');
  assert.equal(k.status, 'live');
  k.close();
});

test('/ws: a short token renews 10 % of its lifetime before (shorter than 30 s), again and again', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(100);
  const k = f.kabar({ transport: 'ws', getToken });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  const auths = () => f.ws.ofType('auth').length;
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: nowS() + 100 });
  await advance(89_000, 500);
  assert.equal(auths(), 1);
  await advance(1500, 100);
  assert.equal(auths(), 2, 'renewed at 90 s');
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: nowS() + 100 });
  await advance(91_000, 500);
  assert.equal(auths(), 3, 'and again from the new expiry');
  assert.equal(issued.length, 3);
  k.close();
});

test('/ws: unsubscribed token_expired -> fresh token, auth, subscribed again from the position', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(3600);
  const k = f.kabar({ transport: 'ws', getToken });
  const got = [];
  k.subscribe('private-x', { onEvent: (e) => got.push(e.position) });
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: nowS() + 3600 });
  f.ws.recv({ type: 'subscribed', channel: 'private-x', position: 'e1:1' });
  f.ws.recv(ev('private-x', 'e1:4'));
  f.ws.recv({ type: 'unsubscribed', channel: 'private-x', reason: 'token_expired' });
  await flush();
  assert.equal(issued.length, 2);
  assert.deepEqual(f.ws.ofType('auth').at(-1), { type: 'auth', token: issued[1].token });
  assert.equal(f.ws.ofType('subscribe').length, 1, 'subscribed again only once authenticated');
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: nowS() + 3600 });
  assert.deepEqual(f.ws.ofType('subscribe').at(-1), { type: 'subscribe', channel: 'private-x', since: 'e1:4' });
  assert.equal(f.sockets.length, 1);
  k.close();
});

test('/ws: an invalid_token error asks for a new token after a backoff delay, then resubscribes', async () => {
  const f = fakes();
  let n = 0;
  const k = f.kabar({ transport: 'ws', getToken: async () => `bad-${++n}` });
  const errors = [];
  k.onError((e) => errors.push(e.code));
  k.subscribe('private-x');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv({ type: 'error', code: 'invalid_token', message: 'expired: the token has expired' });
  f.ws.recv({ type: 'error', code: 'forbidden_channel', message: 'token_required: ...', channel: 'private-x' });
  assert.deepEqual(errors, ['invalid_token', 'forbidden_channel']);
  assert.equal(n, 1);
  await advance(600, 50);
  assert.equal(n, 2, 'a new token within baseMs');
  assert.equal(f.ws.ofType('auth').at(-1).token, 'bad-2');
  f.ws.recv({ type: 'authenticated', sub: 'u', expires_at: null });
  assert.deepEqual(f.ws.ofType('subscribe').map((m) => m.channel), ['private-x', 'private-x'], 'refused channel tried again');
  k.close();
});

test('/ws: close 4001 (token refused at connect) -> a fresh token and a reconnect; never a transport failure', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(3600);
  const k = f.kabar({ transport: 'ws', getToken, fallback: { after: 1 } });
  k.subscribe('a');
  await flush();
  for (let i = 0; i < 3; i++) {
    f.ws.drop(4001);
    assert.equal(f.statuses.at(-1).code, 4001);
    const n = f.sockets.length;
    while (f.sockets.length === n) await advance(50, 50);
  }
  assert.equal(issued.length, 4, 'getToken at every connect');
  assert.ok(f.sockets.length === 4 && f.streams.length === 0, 'no fallback to another transport');
  k.close();
});

test('/sse: the token goes in ?token=; renewed by reopening the stream from the cursor, status stays live', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(600);
  const k = f.kabar({ transport: 'sse', getToken });
  k.subscribe('private-x');
  await flush();
  assert.equal(f.es.query.get('token'), issued[0].token);
  f.es.open();
  f.es.recv(ev('private-x', 'e1:7'), 'e1:7');
  const seen = f.statuses.length;
  await advance(569_000, 1000);
  assert.equal(f.streams.length, 1);
  await advance(2000, 100);
  assert.equal(issued.length, 2, 'exp from the JWT itself');
  assert.equal(f.streams.length, 2);
  assert.ok(f.streams[0].closed);
  assert.equal(f.es.query.get('token'), issued[1].token);
  assert.equal(f.es.query.get('last_event_id'), 'e1:7');
  f.es.open();
  assert.deepEqual(f.statuses.slice(seen), [], 'no status change: still live');
  assert.equal(k.status, 'live');
  k.close();
});

test('/sse: 401 (EventSource closed before open) -> fetch check, fresh token, reconnect; never dies, never falls back', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(3600);
  f.setRoute((url) => {
    assert.ok(url.includes('/sse?'));
    return { status: 401, body: { error: 'invalid_token', reason: 'expired', message: 'expired: ...' } };
  });
  const k = f.kabar({ transport: 'sse', getToken, fallback: { after: 1 } });
  k.subscribe('private-x');
  await flush();
  for (let i = 0; i < 4; i++) {
    f.es.fail(2);
    await flush();
    assert.equal(f.statuses.at(-1).reason, 'expired');
    const n = f.streams.length;
    while (f.streams.length === n) await advance(50, 50);
  }
  assert.equal(f.fetches.length, 4, 'each refusal checked');
  assert.equal(issued.length, 5, 'a fresh token each time');
  assert.equal(f.es.query.get('token'), issued[4].token);
  assert.equal(f.sockets.length, 0, 'not taken for a blocked transport');
  f.es.open();
  assert.equal(k.status, 'live');
  k.close();
});

test('/sse: 403 is reported through onError and retried with backoff', async () => {
  const f = fakes();
  f.setRoute(() => ({ status: 403, body: { error: 'forbidden_channel', reason: 'claim_mismatch', message: '...', channel: 'private-cabang.7' } }));
  const k = f.kabar({ transport: 'sse' });
  const errors = [];
  k.subscribe('private-cabang.7', { onError: (e) => errors.push(`sub ${e.code} ${e.status}`) });
  k.onError((e) => errors.push(`global ${e.code} ${e.reason} ${e.status}`));
  await flush();
  f.es.fail(2);
  await flush();
  assert.deepEqual(errors, ['sub forbidden_channel 403', 'global forbidden_channel claim_mismatch 403']);
  assert.equal(k.status, 'reconnecting');
  k.close();
});

test('/sse: unsubscribed token_expired reopens the stream with a fresh token', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(3600);
  const k = f.kabar({ transport: 'sse', getToken });
  k.subscribe('private-x');
  await flush();
  f.es.open();
  f.es.recv(ev('private-x', 'e1:3'), 'e1:3');
  f.es.recv({ type: 'unsubscribed', channel: 'private-x', reason: 'token_expired' });
  await flush();
  assert.equal(issued.length, 2);
  assert.equal(f.streams.length, 2);
  assert.equal(f.es.query.get('token'), issued[1].token);
  assert.equal(f.es.query.get('last_event_id'), 'e1:3');
  k.close();
});

test('getToken may return null (anonymous) and may throw (a failed attempt, retried)', async () => {
  const f = fakes();
  let calls = 0;
  const k = f.kabar({
    transport: 'ws',
    getToken: async () => {
      calls++;
      if (calls === 1) throw new Error('backend down');
      return null;
    },
  });
  k.subscribe('a');
  await flush();
  assert.equal(f.sockets.length, 0);
  assert.equal(f.statuses.at(-1).reason, 'getToken');
  await advance(600, 50);
  assert.equal(f.sockets.length, 1);
  f.ws.open();
  assert.deepEqual(f.ws.ofType('auth'), [], 'no auth message without a token');
  k.close();
});

test('no renewal after close() or while paused, and none scheduled for a token that has expired already', async () => {
  const f = fakes();
  const { issued, getToken } = tokens(100);
  const k = f.kabar({ transport: 'ws', getToken, hiddenPauseMs: 1000 });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.setHidden(true);
  await advance(1100, 50);
  assert.equal(k.status, 'paused');
  await advance(300_000, 5000);
  assert.equal(issued.length, 1, 'nothing while paused');
  f.setHidden(false);
  await flush();
  assert.equal(issued.length, 2, 'a fresh token to reconnect');
  k.close();
  await advance(300_000, 5000);
  assert.equal(issued.length, 2, 'nothing after close()');

  const f2 = fakes();
  let calls = 0;
  const k2 = f2.kabar({ transport: 'ws', getToken: async () => (++calls, jwt({ sub: 'u', exp: nowS() - 10 })) });
  k2.subscribe('a');
  await flush();
  f2.ws.open();
  f2.ws.welcome();
  await advance(10_000, 100);
  assert.equal(calls, 1, 'an expired token is not "renewed" in a loop; the refusal paths handle it');
  k2.close();
});
