// Pause while hidden, the polling fallback and back, malformed frames, handler exceptions.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { advance, ev, fakes, flush, resetFakes, useFakeTime } from './fakes.mjs';

beforeEach(useFakeTime);
afterEach(resetFakes);

test('hidden for hiddenPauseMs: closed, status paused; visible again: reconnect and replay from the positions', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:9'));
  f.setHidden(true);
  await advance(29_900, 100);
  assert.equal(k.status, 'live', 'not before 30 s');
  f.setHidden(false); // back in time: the timer is cancelled
  f.setHidden(true);
  await advance(29_900, 100);
  assert.equal(k.status, 'live');
  await advance(200, 100);
  assert.equal(k.status, 'paused');
  assert.ok(f.ws.closed);
  await advance(120_000, 1000);
  assert.equal(f.sockets.length, 1, 'nothing while paused');
  f.setHidden(false);
  await flush();
  assert.equal(f.sockets.length, 2);
  assert.equal(k.status, 'connecting');
  f.ws.open();
  assert.deepEqual(f.ws.ofType('subscribe'), [{ type: 'subscribe', channel: 'a', since: 'e1:9' }]);
  f.ws.welcome();
  assert.equal(k.status, 'live');
  assert.deepEqual(f.statuses.map((s) => s.status), ['connecting', 'live', 'paused', 'connecting', 'live']);
  k.close();
});

test('hidden while reconnecting pauses the retries too; hiddenPauseMs 0 never pauses', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', hiddenPauseMs: 1000, fallback: false });
  k.subscribe('a');
  await flush();
  f.ws.drop(1006);
  f.setHidden(true);
  await advance(1100, 50);
  assert.equal(k.status, 'paused');
  const n = f.sockets.length;
  await advance(60_000, 1000);
  assert.equal(f.sockets.length, n);
  k.close();

  const f2 = fakes();
  const k2 = f2.kabar({ transport: 'sse', hiddenPauseMs: 0 });
  k2.subscribe('a');
  await flush();
  f2.es.open();
  f2.setHidden(true);
  await advance(300_000, 5000);
  assert.equal(k2.status, 'live');
  k2.close();
});

test('fallback: ws and sse both fail without a frame -> polling /api/history; a stream that works again wins', async () => {
  const f = fakes();
  const history = [];
  f.setRoute((url, init, call) => {
    if (url.includes('/sse?')) throw new TypeError('blocked by the proxy');
    history.push(call);
    const since = call.query.get('since');
    if (!since) return { status: 200, body: { frames: [], position: 'e1:100', more: false } };
    if (since === 'e1:100') {
      return { status: 200, body: { frames: [ev('a', 'e1:101'), ev('b', 'e1:102'), { type: 'reset', channel: 'b', reason: 'history_pruned', position: 'e1:102' }], position: 'e1:102', more: true } };
    }
    if (since === 'e1:102') return { status: 200, body: { frames: [ev('a', 'e1:103')], position: 'e1:110', more: false } };
    return { status: 200, body: { frames: [], position: since, more: false } };
  });
  const k = f.kabar({
    transport: 'ws', pollMs: 3000, getToken: async () => 'tok', fallback: { after: 2, probeMs: 20_000, limit: 50 },
  });
  const got = [];
  k.onEvent((e) => got.push(`${e.channel} ${e.position}`));
  k.subscribe('a');
  k.subscribe('b');
  await flush();
  const waitFor = async (what) => { for (let i = 0; !what(); i++) { assert.ok(i < 2000, 'timed out'); await advance(50, 50); } };
  // ws twice, then sse twice: none ever opens
  f.ws.drop(1006);
  await waitFor(() => f.sockets.length === 2);
  f.ws.drop(1006);
  await waitFor(() => f.streams.length === 1);
  f.es.fail(0);
  await waitFor(() => f.streams.length === 2);
  f.es.fail(0);
  await waitFor(() => history.length >= 1);
  assert.equal(k.status, 'polling');
  const first = history[0];
  assert.deepEqual(first.query.getAll('channel'), ['a', 'b']);
  assert.equal(first.query.get('since'), null, 'no position yet: the head');
  assert.equal(first.query.get('limit'), '50');
  assert.equal(first.init.headers.authorization, 'Bearer tok');
  await advance(3000, 50);
  assert.equal(history[1].query.get('since'), 'e1:100');
  await advance(10, 10);
  assert.equal(history[2].query.get('since'), 'e1:102', 'more: true asks again at once');
  assert.deepEqual(got, ['a e1:101', 'b e1:102', 'a e1:103']);
  await advance(3000, 50);
  assert.equal(history.at(-1).query.get('since'), 'e1:110');

  // the probe: after probeMs a stream is tried while polling goes on
  const polls = history.length;
  await waitFor(() => f.streams.length + f.sockets.length > 4);
  assert.ok(history.length > polls, 'polling went on meanwhile');
  assert.equal(k.status, 'polling');
  const probe = f.streams.length > 2 ? f.es : f.ws;
  if (probe === f.ws) {
    probe.open();
    assert.deepEqual(probe.ofType('subscribe'), [
      { type: 'subscribe', channel: 'a', since: 'e1:110' },
      { type: 'subscribe', channel: 'b', since: 'e1:110' },
    ]);
    probe.welcome();
  } else {
    assert.equal(probe.query.get('last_event_id'), 'e1:110');
    probe.open();
  }
  assert.equal(k.status, 'live');
  const after = history.length;
  await advance(30_000, 500);
  assert.equal(history.length, after, 'polling stopped');
  k.close();
});

test('fallback: a failed probe keeps polling; a poll that fails counts as an attempt', async () => {
  const f = fakes();
  let historyUp = true;
  const history = [];
  f.setRoute((url, init, call) => {
    if (url.includes('/sse?')) throw new TypeError('blocked');
    history.push(call);
    if (!historyUp) throw new TypeError('network down');
    return { status: 200, body: { frames: [], position: 'e1:5', more: false } };
  });
  const k = f.kabar({ transport: 'sse', fallback: { after: 1, probeMs: 5000 }, backoff: { maxAttempts: 6 } });
  k.subscribe('a');
  await flush();
  const waitFor = async (what) => { for (let i = 0; !what(); i++) { assert.ok(i < 2000, 'timed out'); await advance(50, 50); } };
  f.es.fail(0);
  await waitFor(() => f.sockets.length === 1);
  f.ws.drop(1006);
  await waitFor(() => k.status === 'polling');
  await waitFor(() => f.sockets.length + f.streams.length === 3);
  (f.sockets.length === 2 ? f.ws.drop(1006) : f.es.fail(0));
  await flush();
  assert.equal(k.status, 'polling', 'a failed probe changes nothing');
  historyUp = false;
  await waitFor(() => k.status === 'reconnecting');
  assert.equal(f.statuses.at(-1).transport, 'poll');
  historyUp = true;
  await waitFor(() => k.status === 'polling');
  k.close();
});

test('fallback: false never polls; a transport that was live once is not given up for polling', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  for (let i = 0; i < 6; i++) {
    f.ws.drop(1006);
    const n = f.sockets.length;
    while (f.sockets.length === n) await advance(50, 50);
  }
  assert.equal(f.fetches.length + f.streams.length, 0);
  k.close();

  const f2 = fakes();
  const k2 = f2.kabar({ transport: 'ws', fallback: { after: 1 } });
  k2.subscribe('a');
  await flush();
  f2.ws.open();
  f2.ws.welcome();
  for (let i = 0; i < 6; i++) {
    f2.ws.drop(1006);
    const n = f2.sockets.length;
    while (f2.sockets.length === n) await advance(50, 50);
  }
  assert.equal(f2.streams.length + f2.fetches.length, 0, 'a server restart is not a blocked transport');
  k2.close();
});

test('malformed and unknown frames are logged and skipped, never thrown into the app', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const got = [];
  k.subscribe('a', { onEvent: (e) => got.push(e.position) });
  await flush();
  f.ws.open();
  f.ws.welcome();
  for (const bad of ['not json', '{"no":"type"}', '[1,2]', 'null', '42', '{"type":7}']) f.ws.recv(bad);
  f.ws.recv({ type: 'event', channel: 'a' }); // no position
  f.ws.recv({ type: 'event', channel: 'a', position: 'garbage' });
  f.ws.recv({ type: 'event', position: 'e1:3' }); // no channel
  f.ws.recv({ type: 'reset', channel: 'a', reason: 'x' });
  f.ws.recv({ type: 'presence_update', channel: 'a' });
  f.ws.recv({ type: 'pong', ref: '1' });
  f.ws.recv(ev('a', 'e1:4'));
  assert.deepEqual(got, ['e1:4']);
  assert.equal(f.warnings.length, 11, 'each bad frame logged once');
  assert.equal(k.status, 'live');

  const f2 = fakes();
  const k2 = f2.kabar({ transport: 'sse' });
  const got2 = [];
  k2.subscribe('a', { onEvent: (e) => got2.push(e.position) });
  await flush();
  f2.es.open();
  f2.es.recv('{"type":"event",');
  f2.es.recv(ev('a', 'e1:4'), 'e1:4');
  assert.deepEqual(got2, ['e1:4']);
  assert.equal(f2.warnings.length, 1);
  k.close();
  k2.close();
});

test('an exception in a handler is caught and logged; the others still get the event, and it is not redelivered', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  const got = [];
  k.subscribe('a', { onEvent: () => { throw new Error('app bug'); } });
  k.subscribe('a', { onEvent: (e) => got.push(`sub ${e.position}`) });
  k.onEvent(() => { throw new Error('app bug 2'); });
  k.onEvent((e) => got.push(`global ${e.position}`));
  k.onStatus(() => { throw new Error('status handler bug'); });
  k.onReset(() => { throw new Error('reset handler bug'); });
  k.onReset((ch, reason) => got.push(`reset ${ch} ${reason}`));
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:1'));
  f.ws.recv({ type: 'reset', channel: 'a', reason: 'history_pruned', position: 'e1:5' });
  f.ws.recv(ev('a', 'e1:6'));
  assert.deepEqual(got, ['sub e1:1', 'global e1:1', 'reset a history_pruned', 'sub e1:6', 'global e1:6']);
  assert.ok(f.warnings.some((w) => w.includes('handler threw')));
  assert.equal(k.status, 'live');
  f.ws.drop(1006);
  await advance(1000);
  f.ws.open();
  assert.equal(f.ws.ofType('subscribe')[0].since, 'e1:6');
  k.close();
});

test('handler unsubscribe functions', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  const got = [];
  const off = k.onEvent((e) => got.push(e.position));
  const offStatus = k.onStatus((s) => got.push(s));
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.recv(ev('a', 'e1:1'));
  off();
  offStatus();
  f.ws.recv(ev('a', 'e1:2'));
  k.close();
  assert.deepEqual(got, ['connecting', 'live', 'e1:1']);
});
