// Fault-injection helpers for the faults_*.test.mjs files: a broker that persists its state the way the
// compose broker does (saved after every change, so a SIGKILL loses nothing it acknowledged), a paced
// QoS 1 publisher that knows which events got their PUBACK, a TCP relay on loopback that can go silent,
// and a checker for "every acknowledged event arrived exactly once" at one client.
import net from 'node:net';
import { startMosquitto, track, waitUntil } from './harness.mjs';

// mosquitto with persistence as compose/mosquitto.conf sets it (saved after every change, a large
// queue), anonymous or guarded by kabar's plugin (startMosquitto({guarded})).
export async function startPersistentBroker({ guarded = false } = {}) {
  return startMosquitto({
    guarded,
    settings: { autosave_interval: 1, autosave_on_changes: 'true', max_queued_messages: 1000000, max_inflight_messages: 100 },
  });
}

// Publishes `rate` envelopes a second, QoS 1, on one MQTT.js connection, without waiting for PUBACKs
// (MQTT.js keeps unacknowledged QoS 1 messages and sends them again after a reconnect, with the same
// envelope id). A publish whose promise rejects is sent again under the same id. `acked` holds the ids
// whose PUBACK came: those must arrive; the others may (the broker may have got them).
export class PacedPublisher {
  constructor(client, { topic, rate, prefix, event = 'fault.seq' }) {
    Object.assign(this, { client, topic, rate, prefix, event });
    this.sent = 0; // envelopes created
    this.acked = new Set();
    this.retries = 0;
    this.errors = [];
    this.timer = null;
    this.pending = new Set();
  }

  idOf(seq) { return `${this.prefix}-${seq}`; }

  send(seq) {
    const id = this.idOf(seq);
    const body = JSON.stringify({ id, event: this.event, data: { id, seq } });
    const p = this.client.publishAsync(this.topic, body, { qos: 1 }).then(
      () => { this.acked.add(id); },
      (error) => {
        this.errors.push(`${id}: ${error.message}`);
        if (this.errors.length > 50) this.errors.shift();
        this.retries += 1;
        if (this.retries < 100000) setTimeout(() => this.send(seq), 100);
      },
    ).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  start() {
    const started = Date.now();
    const base = this.sent;
    this.timer = setInterval(() => {
      const due = base + Math.floor(((Date.now() - started) / 1000) * this.rate);
      while (this.sent < due) this.send(this.sent++);
    }, 10);
    return this;
  }

  stop() { clearInterval(this.timer); this.timer = null; }

  // Waits until every envelope created so far has its PUBACK (MQTT.js resends after reconnects).
  async drain(timeout) {
    await waitUntil(() => this.acked.size === this.sent, {
      timeout, interval: 50, what: `PUBACKs for all ${this.sent} publishes (have ${this.acked.size}; last errors ${this.errors.slice(-3)})`,
    });
  }
}

// Counts what one client received, against the ids the publisher had acknowledged.
// ids: the event ids in arrival order.
export function tally(ids, publisher) {
  const seen = new Set();
  const duplicates = [];
  for (const id of ids) {
    if (seen.has(id)) duplicates.push(id);
    seen.add(id);
  }
  const missing = [...publisher.acked].filter((id) => !seen.has(id));
  const unexpected = [...seen].filter((id) => id.startsWith(`${publisher.prefix}-`) && !publisher.acked.has(id));
  return { received: ids.length, unique: seen.size, duplicates, missing, unexpected };
}

export function describeTally(name, t) {
  return `${name}: received ${t.received} (${t.unique} unique), missing ${t.missing.length} ${JSON.stringify(t.missing.slice(0, 10))}, ` +
    `duplicates ${t.duplicates.length} ${JSON.stringify(t.duplicates.slice(0, 10))}, not acked but arrived ${t.unexpected.length}`;
}

// A TCP relay on 127.0.0.1 in front of `targetPort`. silence() stops forwarding in both directions and
// discards what arrives (like a network that drops packets) while every socket stays open, including
// connections accepted while silent; resume() forwards again for connections that lost nothing (a
// connection that had bytes dropped stays silent: its stream is broken, its peer must give it up).
export class TcpRelay {
  static async start(targetPort) {
    const relay = new TcpRelay(targetPort);
    await new Promise((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(0, '127.0.0.1', resolve);
    });
    relay.port = relay.server.address().port;
    track(relay);
    return relay;
  }

  constructor(targetPort) {
    this.targetPort = targetPort;
    this.silent = false;
    this.pairs = new Set();
    this.accepted = 0;
    this.dropped = 0; // bytes discarded while silent
    this.server = net.createServer((down) => this.accept(down));
  }

  accept(down) {
    this.accepted += 1;
    const up = net.connect({ port: this.targetPort, host: '127.0.0.1' });
    const pair = { down, up, broken: false };
    this.pairs.add(pair);
    const forward = (from, to) => from.on('data', (chunk) => {
      if (this.silent || pair.broken) {
        pair.broken = true;
        this.dropped += chunk.length;
        return;
      }
      to.write(chunk);
    });
    forward(down, up);
    forward(up, down);
    const end = () => { down.destroy(); up.destroy(); this.pairs.delete(pair); };
    for (const s of [down, up]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  silence() { this.silent = true; }
  resume() { this.silent = false; }
  get open() { return this.pairs.size; }

  close() {
    for (const pair of this.pairs) { pair.down.destroy(); pair.up.destroy(); }
    this.pairs.clear();
    this.server.close();
  }
}

// A /ws subscriber that behaves like a careful app: when its socket closes (a slow-consumer eviction in
// a burst, a gateway restart), it reconnects and subscribes again `since` the last position it saw.
// ids() is everything received over all its sessions, in order; closes lists why sessions ended.
export class ResumingWs {
  static async open(url, channel) {
    const client = new ResumingWs(url, channel);
    await client.connect();
    return client;
  }

  constructor(url, channel) {
    Object.assign(this, { url, channel });
    this.done = []; // frames of ended sessions
    this.last = undefined;
    this.ws = null;
    this.closes = [];
    this.stopped = false;
    this.failure = null;
  }

  async connect() {
    const { WsClient } = await import('./clients.mjs');
    const ws = await WsClient.connect(this.url, { timeout: 10000 });
    await ws.subscribe(this.channel, this.last, { timeout: 10000 });
    this.ws = ws;
    ws.closed.then((info) => {
      if (this.stopped || this.ws !== ws) return;
      this.closes.push({ ...info, at: Date.now(), received: ws.events(this.channel).length });
      this.harvest();
      const retry = (n) => this.connect().catch((error) => {
        if (n < 50 && !this.stopped) setTimeout(() => retry(n + 1), 200);
        else this.failure = error;
      });
      setTimeout(() => retry(0), 100);
    });
  }

  harvest() {
    if (!this.ws) return;
    const events = this.ws.events(this.channel);
    this.done.push(...events);
    if (events.length) this.last = events.at(-1).position;
    this.ws = null;
  }

  events() { return [...this.done, ...(this.ws ? this.ws.events(this.channel) : [])]; }
  ids() { return this.events().map((f) => f.id); }

  async waitId(id, timeout) {
    await waitUntil(() => {
      if (this.failure) throw this.failure;
      return this.events().some((f) => f.id === id);
    }, { timeout, interval: 20, what: `event ${id} at the resuming /ws client (${this.events().length} events, ${this.closes.length} closes)` });
  }

  close() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }
}
