// Positions: every event once, in order; kept in storage and resumed on reconnect and after a reload.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { isAfter } from '../kabar.js';
import { advance, ev, fakes, flush, resetFakes, useFakeTime } from './fakes.mjs';

beforeEach(useFakeTime);
afterEach(resetFakes);

test('isAfter: seq compared as numbers within an epoch; another epoch counts as after', () => {
  assert.equal(isAfter('e:10', 'e:9'), true);
  assert.equal(isAfter('e:9', 'e:10'), false);
  assert.equal(isAfter('e:10', 'e:10'), false);
  // with the event id ("<epoch>:<seq>:<id>", ids may hold ':'): the seq decides
  assert.equal(isAfter('e:10:ev:10', 'e:9:ev-9'), true);
  assert.equal(isAfter('e:9:h0ABC.2', 'e:10:x'), false);
  assert.equal(isAfter('e:100', 'e:99'), true, 'numeric, not lexicographic');
  assert.equal(isAfter('e:9007199254740993', 'e:9007199254740992'), true, 'exact past 2^53');
  assert.equal(isAfter('f:1', 'e:99'), true, 'another epoch: the server says reset');
  assert.equal(isAfter('e:1', undefined), true);
  assert.equal(isAfter('e:1', null), true);
});

test('/ws: duplicates and older events are dropped; a reload with the same storage resumes each channel', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const got = [];
  k.subscribe('a', { onEvent: (e) => got.push(`a ${e.position}`) });
  k.subscribe('b', { since: 'earliest', onEvent: (e) => got.push(`b ${e.position}`) });
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [
    { type: 'subscribe', channel: 'a' },
    { type: 'subscribe', channel: 'b', since: 'earliest' },
  ]);
  f.ws.welcome();
  f.ws.recv({ type: 'subscribed', channel: 'a', position: 'e1:5' });
  f.ws.recv({ type: 'subscribed', channel: 'b', position: 'e1:5' });
  for (const [ch, p] of [['b', 'e1:2'], ['a', 'e1:6'], ['a', 'e1:6'], ['b', 'e1:2'], ['a', 'e1:4'], ['b', 'e1:7'], ['a', 'e1:10'], ['a', 'e1:9']]) {
    f.ws.recv(ev(ch, p));
  }
  assert.deepEqual(got, ['b e1:2', 'a e1:6', 'b e1:7', 'a e1:10']);
  k.close();

  // "reload": a new Kabar on the same storage
  const k2 = f.kabar({ transport: 'ws' });
  const got2 = [];
  k2.subscribe('a', { onEvent: (e) => got2.push(`a ${e.position}`) });
  k2.subscribe('b', { since: 'earliest', onEvent: (e) => got2.push(`b ${e.position}`) });
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [
    { type: 'subscribe', channel: 'a', since: 'e1:10' },
    { type: 'subscribe', channel: 'b', since: 'e1:7' },
  ], 'since: the stored position, not the first-connect option');
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:10'));
  f.ws.recv(ev('a', 'e1:11'));
  f.ws.recv(ev('b', 'e1:12'));
  assert.deepEqual(got2, ['a e1:11', 'b e1:12']);
  k2.close();
});

test('/ws live-only: the subscribed head is the position to resume from when no event came yet', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv({ type: 'subscribed', channel: 'a', position: 'e1:40' });
  f.ws.drop(1006);
  await advance(1000);
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', channel: 'a', since: 'e1:40' }]);
  k.close();
});

test("since 'latest' is sent on the first connect only", async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  const got = [];
  k.subscribe('dash', { since: 'latest', onEvent: (e) => got.push(e.position) });
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', channel: 'dash', since: 'latest' }]);
  f.ws.welcome();
  f.ws.recv({ type: 'subscribed', channel: 'dash', position: 'e1:90' });
  f.ws.recv(ev('dash', 'e1:77')); // the newest stored event: older than the head, still delivered
  assert.deepEqual(got, ['e1:77']);
  f.ws.drop(1006);
  await advance(1000);
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', channel: 'dash', since: 'e1:77' }]);
  k.close();

  const f2 = fakes();
  const k2 = f2.kabar({ transport: 'sse' });
  k2.subscribe('dash', { since: 'latest' });
  await flush();
  assert.equal(f2.es.query.get('since'), 'latest');
  k2.close();
});

test('another epoch is delivered (the server answers for it); reset moves the position', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const got = [];
  const resets = [];
  k.subscribe('a', { onEvent: (e) => got.push(e.position), onReset: (ch, reason) => resets.push(`${ch} ${reason}`) });
  k.onReset((ch, reason, frame) => resets.push(`global ${ch} ${reason} ${frame.position}`));
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:50'));
  f.ws.recv({ type: 'reset', channel: 'a', reason: 'epoch_changed', position: 'e2:3' });
  f.ws.recv(ev('a', 'e2:3'));
  f.ws.recv(ev('a', 'e2:4'));
  assert.deepEqual(got, ['e1:50', 'e2:4']);
  assert.deepEqual(resets, ['a epoch_changed', 'global a epoch_changed e2:3']);
  assert.equal(f.storage.getItem('kabar:a'), 'e2:4');
  k.close();
});

test('/sse: one cursor for the stream (Last-Event-ID), resumed on reconnect and after a reload', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'sse', fallback: false });
  const got = [];
  k.onEvent((e) => got.push(`${e.channel} ${e.position}`));
  k.subscribe('b');
  k.subscribe('a', { since: 'earliest' });
  await flush();
  assert.equal(f.streams.length, 1, 'one stream for both channels');
  assert.deepEqual(f.es.query.getAll('channel'), ['a', 'b']);
  assert.equal(f.es.query.get('since'), 'earliest');
  f.es.open();
  f.es.recv(ev('a', 'e1:3'), 'e1:3');
  f.es.recv(ev('b', 'e1:8'), 'e1:8');
  f.es.recv(ev('a', 'e1:8'), 'e1:8'); // a duplicate id is dropped
  f.es.recv(ev('a', 'e1:12'), 'e1:12');
  assert.deepEqual(got, ['a e1:3', 'b e1:8', 'a e1:12']);
  assert.equal(f.storage.getItem('kabar:@a b'), 'e1:12', 'the stream cursor, keyed by its channels');

  f.es.fail(0); // lost: reconnect from the cursor
  await advance(1000);
  assert.equal(f.streams.length, 2);
  assert.equal(f.es.query.get('last_event_id'), 'e1:12');
  assert.equal(f.es.query.get('since'), null);
  k.close();

  const k2 = f.kabar({ transport: 'sse' });
  k2.subscribe('a', { since: 'earliest' });
  k2.subscribe('b');
  await flush();
  assert.equal(f.es.query.get('last_event_id'), 'e1:12', 'after a reload too');
  k2.close();
});

test('/sse: a channel added to a running stream reopens it once, from the cursor', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'sse' });
  k.subscribe('a');
  await flush();
  f.es.open();
  f.es.recv(ev('a', 'e1:20'), 'e1:20');
  k.subscribe('b');
  k.subscribe('c');
  await flush();
  assert.equal(f.streams.length, 2, 'reopened once for both');
  assert.ok(f.streams[0].closed);
  assert.deepEqual(f.es.query.getAll('channel'), ['a', 'b', 'c']);
  assert.equal(f.es.query.get('last_event_id'), 'e1:20');
  f.es.open();
  assert.equal(k.status, 'live');
  k.close();
});

test('/ws: subscribe and unsubscribe on the open socket; events of unsubscribed channels are ignored', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const got = [];
  const offA = k.subscribe('a', { onEvent: (e) => got.push(e.channel) });
  await flush();
  f.ws.open();
  f.ws.welcome();
  const offB = k.subscribe('b', { onEvent: (e) => got.push(e.channel) });
  const offB2 = k.subscribe('b', { onEvent: (e) => got.push(`${e.channel}2`) });
  assert.deepEqual(f.ws.ofType('subscribe').map((m) => m.channel), ['a', 'b'], 'b subscribed once');
  f.ws.recv(ev('b', 'e1:1'));
  offB();
  f.ws.recv(ev('b', 'e1:2'));
  offB2();
  assert.deepEqual(f.ws.ofType('unsubscribe'), [{ type: 'unsubscribe', channel: 'b' }]);
  f.ws.recv(ev('b', 'e1:3'));
  offA();
  f.ws.recv(ev('a', 'e1:4'));
  assert.deepEqual(got, ['b', 'b2', 'b2']);
  k.close();
});

test('storage: pluggable, under a prefix; null keeps positions in memory only', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', prefix: 'app1.' });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:5'));
  assert.deepEqual([...f.storage.map], [['app1.a', 'e1:5']]);
  k.close();

  const f2 = fakes();
  const k2 = f2.kabar({ transport: 'ws', storage: null, fallback: false });
  k2.subscribe('a');
  await flush();
  f2.ws.open();
  f2.ws.welcome();
  f2.ws.recv(ev('a', 'e1:5'));
  assert.equal(f2.storage.map.size, 0);
  f2.ws.drop();
  await advance(1000);
  f2.ws.open();
  assert.equal(f2.ws.ofType('subscribe')[0].since, 'e1:5', 'resumed from memory');
  k2.close();

  // a storage that throws (quota, privacy mode) does not break delivery
  const f3 = fakes();
  const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('quota'); }, removeItem() {} };
  const k3 = f3.kabar({ transport: 'ws', storage: broken });
  const got = [];
  k3.subscribe('a', { onEvent: (e) => got.push(e.position) });
  await flush();
  f3.ws.open();
  f3.ws.welcome();
  f3.ws.recv(ev('a', 'e1:5'));
  f3.ws.recv(ev('a', 'e1:5'));
  assert.deepEqual(got, ['e1:5']);
  k3.close();
});
