// Topic subscriptions in kabar.js: subscribe({topic}) on /ws and /sse, events handed to every subscription
// whose filter matches (once each, by position), resets, and the resume position of a topic subscription.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { topicMatches } from '../kabar.js';
import { ev, fakes, flush, resetFakes, useFakeTime } from './fakes.mjs';

beforeEach(useFakeTime);
afterEach(resetFakes);

const tev = (channel, topic, position) => ({ ...ev(channel, position), topic });

test('topicMatches: MQTT semantics', () => {
  assert.equal(topicMatches('cabang/+/omset', 'cabang/3/omset'), true);
  assert.equal(topicMatches('cabang/+/omset', 'cabang/3/transaksi'), false);
  assert.equal(topicMatches('cabang/+/omset', 'cabang/3/omset/x'), false);
  assert.equal(topicMatches('cabang/3/#', 'cabang/3'), true, '# also matches its parent');
  assert.equal(topicMatches('cabang/3/#', 'cabang/3/a/b'), true);
  assert.equal(topicMatches('cabang/3/#', 'cabang/30/a'), false);
  assert.equal(topicMatches('#', '$SYS/x'), false, 'no wildcard match of $ topics');
  assert.equal(topicMatches('cabang/+', 'cabang'), false);
  assert.equal(topicMatches('a', undefined), false);
});

test('/ws: subscribe {topic}; events by topic, once per subscription; resume from its own position', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const all = [];
  const b3 = [];
  const global = [];
  k.subscribe({ topic: 'cabang/+/omset', since: 'latest', onEvent: (e) => all.push(`${e.channel} ${e.position}`) });
  k.subscribe('private-cabang.3', { onEvent: (e) => b3.push(e.position) });
  k.onEvent((e) => global.push(e.position));
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [
    { type: 'subscribe', topic: 'cabang/+/omset', since: 'latest' },
    { type: 'subscribe', channel: 'private-cabang.3' },
  ]);
  f.ws.welcome();
  f.ws.recv({ type: 'subscribed', topic: 'cabang/+/omset', position: 'e1:5' });
  f.ws.recv({ type: 'subscribed', channel: 'private-cabang.3', position: 'e1:5' });
  f.ws.recv(tev('private-cabang.1', 'cabang/1/omset', 'e1:3'));
  f.ws.recv(tev('private-cabang.3', 'cabang/3/omset', 'e1:6')); // both subscriptions: once to each
  f.ws.recv(tev('private-cabang.3', 'cabang/3/transaksi', 'e1:7')); // the channel's only
  f.ws.recv(tev('private-cabang.2', 'cabang/2/omset', 'e1:6')); // not after the topic's position: seen
  f.ws.recv(tev('private-cabang.2', 'cabang/2/omset', 'e1:8'));
  assert.deepEqual(all, ['private-cabang.1 e1:3', 'private-cabang.3 e1:6', 'private-cabang.2 e1:8']);
  assert.deepEqual(b3, ['e1:6', 'e1:7']);
  assert.deepEqual(global, ['e1:3', 'e1:6', 'e1:7', 'e1:8'], 'the global handler once per event');
  k.close();

  const k2 = f.kabar({ transport: 'ws' });
  k2.subscribe({ topic: 'cabang/+/omset', since: 'latest' });
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', topic: 'cabang/+/omset', since: 'e1:8' }]);
  k2.close();
});

test('/ws: a reset reaches topic subscriptions; history_pruned of one channel keeps the position', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const resets = [];
  k.subscribe({ topic: 'cabang/+/omset', onReset: (ch, reason) => resets.push(`${ch} ${reason}`) });
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(tev('private-cabang.1', 'cabang/1/omset', 'e1:3'));
  f.ws.recv({ type: 'reset', channel: 'private-cabang.2', reason: 'history_pruned', position: 'e1:40' });
  f.ws.recv({ type: 'reset', channel: 'private-cabang.1', reason: 'epoch_changed', position: 'e2:9' });
  assert.deepEqual(resets, ['private-cabang.2 history_pruned', 'private-cabang.1 epoch_changed']);
  k.close();
  const k2 = f.kabar({ transport: 'ws' });
  k2.subscribe({ topic: 'cabang/+/omset' });
  await flush();
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', topic: 'cabang/+/omset', since: 'e2:9' }]);
  k2.close();
});

test('/ws: a refused topic reaches its onError; unsubscribing sends the topic', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const errors = [];
  const off = k.subscribe({ topic: 'cabang/+/omset', onError: (e) => errors.push(e.code) });
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv({ type: 'error', code: 'forbidden_topic', topic: 'cabang/+/omset', message: 'no' });
  assert.deepEqual(errors, ['forbidden_topic']);
  off();
  assert.deepEqual(f.ws.ofType('unsubscribe'), [{ type: 'unsubscribe', topic: 'cabang/+/omset' }]);
  k.close();
});

test('/sse: topics travel as ?topic= beside ?channel=', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'sse' });
  const got = [];
  k.subscribe({ topic: 'cabang/+/omset', since: 'earliest', onEvent: (e) => got.push(e.position) });
  k.subscribe('dokumen.1', { onEvent: (e) => got.push(e.position) });
  await flush();
  const q = f.es.query;
  assert.deepEqual(q.getAll('topic'), ['cabang/+/omset']);
  assert.deepEqual(q.getAll('channel'), ['dokumen.1']);
  assert.equal(q.get('since'), 'earliest');
  f.es.open();
  f.es.recv(tev('private-cabang.4', 'cabang/4/omset', 'e1:2'), 'e1:2');
  f.es.recv(ev('dokumen.1', 'e1:3'), 'e1:3');
  assert.deepEqual(got, ['e1:2', 'e1:3']);
  k.close();
});
