// Reconnect: full-jitter exponential backoff, maxAttempts -> offline -> retry(), the server's shutdown
// reconnect_ms, the browser's online/offline events.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { advance, fakes, flush, resetFakes, useFakeTime } from './fakes.mjs';

beforeEach(useFakeTime);
afterEach(resetFakes);

// Fails the current /ws attempt and each next one as soon as it is made, `count` in all (each before
// the connect timeout); returns the reconnecting statuses.
async function failAttempts(f, count) {
  for (let i = 0; i < count; i++) {
    for (let waited = 0; !f.ws || f.ws.failed; waited += 50) {
      assert.ok(waited < 40000, `attempt ${i + 1} was made`);
      await advance(50, 50);
    }
    f.ws.failed = true;
    f.ws.drop(1006);
    await flush();
  }
  return f.statuses.filter((s) => s.status === 'reconnecting');
}

test('delays are full jitter: random in [0, min(capMs, baseMs * 2^(attempt-1))]', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false, backoff: { baseMs: 500, capMs: 30000 } });
  k.subscribe('a');
  await flush();
  const retries = await failAttempts(f, 12);
  assert.equal(retries.length, 12);
  retries.forEach((s, i) => {
    assert.equal(s.attempt, i + 1);
    const bound = Math.min(30000, 500 * 2 ** i);
    assert.ok(s.delayMs >= 0 && s.delayMs <= bound, `attempt ${s.attempt}: ${s.delayMs} within [0, ${bound}]`);
  });
  k.close();
});

test('with random() near 1 the delays reach the exponential bound, and never pass the cap', async () => {
  mock.method(Math, 'random', () => 0.999);
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false, backoff: { baseMs: 100, capMs: 2000 } });
  k.subscribe('a');
  await flush();
  const delays = (await failAttempts(f, 8)).map((s) => s.delayMs);
  const expected = [100, 200, 400, 800, 1600, 2000, 2000, 2000].map((bound) => bound * 0.999);
  delays.forEach((d, i) => assert.ok(Math.abs(d - expected[i]) < 1e-6, `attempt ${i + 1}: ${d} ~ ${expected[i]}`));
  // and the next attempt comes no sooner than its delay
  const before = f.sockets.length;
  await advance(1900, 50);
  assert.equal(f.sockets.length, before, 'not before the delay');
  await advance(200, 50);
  assert.equal(f.sockets.length, before + 1, 'after the delay');
  k.close();
});

test('with random() = 0 a reconnect is immediate (full jitter can be 0)', async () => {
  mock.method(Math, 'random', () => 0);
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.ws.drop(1006);
  await advance(10, 10);
  assert.equal(f.sockets.length, 2);
  k.close();
});

test('maxAttempts: after that many failures the status is offline and nothing is tried until retry()', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false, backoff: { maxAttempts: 5 } });
  k.subscribe('a');
  await flush();
  await failAttempts(f, 5);
  assert.equal(k.status, 'offline');
  const last = f.statuses.at(-1);
  assert.equal(last.reason, 'max_attempts');
  assert.equal(last.attempt, 5);
  assert.equal(f.sockets.length, 5);
  await advance(120000, 1000);
  assert.equal(f.sockets.length, 5, 'no attempt while offline');

  k.retry();
  await flush();
  assert.equal(f.sockets.length, 6, 'retry() tries at once');
  assert.equal(k.status, 'connecting');
  f.ws.open();
  f.ws.welcome();
  assert.equal(k.status, 'live');
  // a fresh count: the next failure is attempt 1 again
  f.ws.drop(1006);
  assert.equal(f.statuses.at(-1).attempt, 1);
  k.close();
});

test('a live connection resets the count: the next drop reconnects quickly again', async () => {
  mock.method(Math, 'random', () => 0.999);
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  await failAttempts(f, 4);
  const n = f.sockets.length;
  while (f.sockets.length === n) await advance(50, 50);
  f.ws.open();
  f.ws.welcome();
  assert.equal(k.status, 'live');
  f.ws.drop(1006);
  const s = f.statuses.at(-1);
  assert.equal(s.status, 'reconnecting');
  assert.equal(s.attempt, 1);
  assert.ok(s.delayMs <= 500);
  k.close();
});

test('shutdown: reconnects after reconnect_ms (plus up to baseMs of jitter), not counted as a failure', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  const first = f.ws;
  first.recv({ type: 'shutdown', reason: 'server restarting', reconnect_ms: 3000 });
  first.drop(1012);
  const s = f.statuses.at(-1);
  assert.equal(s.status, 'reconnecting');
  assert.equal(s.reason, 'shutdown');
  assert.equal(s.attempt, 0, 'not a failure');
  assert.ok(s.delayMs >= 3000 && s.delayMs <= 3500, `delay ${s.delayMs}`);
  assert.ok(first.closed);
  await advance(2950, 50);
  assert.equal(f.sockets.length, 1, 'not before reconnect_ms');
  await advance(600, 50);
  assert.equal(f.sockets.length, 2, 'reconnected after reconnect_ms');
  k.close();
});

test('shutdown over /sse too', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'sse', fallback: false });
  k.subscribe('a');
  await flush();
  f.es.open();
  f.es.recv({ type: 'shutdown', reason: 'server restarting', reconnect_ms: 1000 });
  assert.ok(f.streams[0].closed);
  f.streams[0].fail(0); // the stream ends: the old EventSource would retry, but it was closed
  await advance(950, 50);
  assert.equal(f.streams.length, 1);
  await advance(600, 50);
  assert.equal(f.streams.length, 2);
  k.close();
});

test('window offline: stop trying, status offline; online: reconnect at once', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', fallback: false });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  f.window.dispatch('offline');
  assert.equal(k.status, 'offline');
  assert.equal(f.statuses.at(-1).reason, 'network');
  assert.ok(f.ws.closed);
  await advance(60000, 1000);
  assert.equal(f.sockets.length, 1, 'no attempts while offline');
  f.window.dispatch('online');
  await flush();
  assert.equal(f.sockets.length, 2, 'at once when back online');
  assert.equal(k.status, 'connecting');
  f.ws.open();
  f.ws.welcome();
  assert.equal(k.status, 'live');
  f.window.dispatch('online'); // again while live (a network change): the working socket is kept
  await flush();
  assert.equal(f.sockets.length, 2);
  assert.equal(k.status, 'live');
  k.close();
  assert.equal(f.window.listeners.online.size, 0, 'close() removes its listeners');
});

test('close() stops everything: no reconnect, status offline', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws' });
  k.subscribe('a');
  await flush();
  f.ws.open();
  f.ws.welcome();
  k.close();
  assert.equal(k.status, 'offline');
  assert.equal(f.statuses.at(-1).reason, 'closed');
  assert.ok(f.ws.closed);
  await advance(60000, 1000);
  assert.equal(f.sockets.length, 1);
  k.subscribe('b');
  await flush();
  assert.equal(f.sockets.length, 1, 'subscribe after close() does not reconnect');
  k.connect();
  await flush();
  assert.equal(f.sockets.length, 2, 'connect() does');
  k.close();
});

test('a connection that is not live within connectTimeoutMs counts as failed (a proxy holding the stream back)', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'sse', connectTimeoutMs: 5000, fallback: false });
  k.subscribe('a');
  await flush();
  await advance(4900, 100);
  assert.equal(k.status, 'connecting');
  await advance(200, 100);
  assert.equal(k.status, 'reconnecting');
  assert.equal(f.statuses.at(-1).reason, 'timeout');
  assert.ok(f.streams[0].closed);
  k.close();
});

test('a transport the environment lacks (the constructor throws) is a failed attempt, logged', async () => {
  const f = fakes();
  const k = f.kabar({ transport: 'ws', WebSocket: function NoWebSocket() { throw new Error('no WebSocket here'); }, fallback: false });
  k.subscribe('a');
  await flush();
  assert.equal(k.status, 'reconnecting');
  assert.equal(f.statuses.at(-1).reason, 'error');
  assert.equal(f.warnings.length, 1);
  k.close();
});
