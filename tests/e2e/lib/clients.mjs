// Clients we did not write, wrapped just enough to wait on what they receive: ws (WebSocket),
// eventsource v2 (the classic EventSource polyfill), a raw HTTP reader for SSE byte-level checks, and
// MQTT.js 5 for publishing. Every wait is bounded; every client is closed by the harness's after().
import http from 'node:http';
import EventSource from 'eventsource';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { TimeoutError, diagnostics, openClients, track, waitUntil, withTimeout } from './harness.mjs';

let refCounter = 0;
const nextRef = () => `r${++refCounter}`;

// "<epoch>:<seq>" or "<epoch>:<seq>:<event id>" (docs/protocol.md "Positions").
export const POSITION_RE = /^([^:\s]+):(\d+)(?::([\w.:-]{1,128}))?$/;
export function parsePosition(position) {
  const m = POSITION_RE.exec(position);
  if (!m) throw new Error(`not a position: ${JSON.stringify(position)}`);
  return { epoch: m[1], seq: Number(m[2]), anchor: m[3] };
}
export const seqOf = (position) => parsePosition(position).seq;
export const epochOf = (position) => parsePosition(position).epoch;

// ---- WebSocket (/ws) -------------------------------------------------------------------------------

export class WsClient {
  // Opens the socket and (by default) waits for the `welcome` frame.
  static async connect(url, { timeout = 5000, welcome = true, options } = {}) {
    const client = new WsClient(url, options);
    await withTimeout(client.opened, timeout, `WebSocket ${url} to open`);
    if (welcome) client.welcome = await client.waitFrame((f) => f.type === 'welcome', { timeout, what: 'welcome frame' });
    return client;
  }

  constructor(url, options) {
    this.url = url;
    this.frames = []; // every JSON frame received, in order
    this.nonJson = []; // anything that did not parse (should stay empty)
    this.binary = []; // binary frames received (should stay empty)
    this.errors = [];
    this.closeInfo = null;
    this.ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024, ...options });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.ws.on('error', (error) => this.errors.push(error));
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) { this.binary.push(data); return; }
      const text = data.toString();
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.nonJson.push(text);
      }
    });
    track(this);
  }

  send(message) { this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message)); }
  sendBinary(buffer) { this.ws.send(buffer, { binary: true }); }
  close() { try { this.ws.terminate(); } catch { /* ignore */ } openClients.delete(this); }
  pause() { this.ws._socket.pause(); }
  resume() { this.ws._socket.resume(); }

  // First frame at index >= from that matches; fails fast if the socket closed without one.
  async waitFrame(predicate, { timeout = 5000, from = 0, what = 'a matching frame' } = {}) {
    let index = from;
    return waitUntil(() => {
      for (; index < this.frames.length; index++) {
        if (predicate(this.frames[index])) return this.frames[index];
      }
      if (this.closeInfo) throw new Error(`socket closed ${JSON.stringify(this.closeInfo)} before ${what}; frames: ${this.describe()}`);
      return null;
    }, { timeout, what: `${what} on ${this.url} (frames so far: ${this.describe()})` }).catch((error) => {
      if (error instanceof TimeoutError) error.message = error.message.replace('(frames so far: ', `(frames now: ${this.describe()}; was: `);
      throw error;
    });
  }

  describe(max = 6) {
    const tail = this.frames.slice(-max).map((f) => JSON.stringify(f).slice(0, 200));
    return `${this.frames.length} frames, last: [${tail.join(', ')}]`;
  }

  // Sends a request with a fresh ref and waits for the reply (or error) carrying it.
  async request(message, { timeout = 5000 } = {}) {
    const ref = message.ref ?? nextRef();
    const from = this.frames.length;
    this.send({ ...message, ref });
    return this.waitFrame((f) => f.ref === ref, { timeout, from, what: `reply to ${JSON.stringify(message)}` });
  }

  // Subscribes and returns the `subscribed` frame; throws on an `error` reply.
  async subscribe(channel, since, { timeout = 5000 } = {}) {
    const message = { type: 'subscribe', channel };
    if (since !== undefined) message.since = since;
    const reply = await this.request(message, { timeout });
    if (reply.type !== 'subscribed') throw new Error(`subscribe ${channel} since ${since} -> ${JSON.stringify(reply)}`);
    return reply;
  }

  events(channel) { return this.frames.filter((f) => f.type === 'event' && (channel === undefined || f.channel === channel)); }

  async waitEvents(channel, count, { timeout = 10000 } = {}) {
    await waitUntil(() => {
      if (this.events(channel).length >= count) return true;
      if (this.closeInfo) throw new Error(`socket closed ${JSON.stringify(this.closeInfo)} with ${this.events(channel).length}/${count} events`);
      return false;
    }, { timeout, what: `${count} events on ${channel} (have ${this.events(channel).length})` }).catch((error) => {
      if (error instanceof TimeoutError) error.message = `${error.message}\nnow have ${this.events(channel).length}`;
      throw error;
    });
    return this.events(channel);
  }

  async waitEventId(channel, id, { timeout = 10000 } = {}) {
    return this.waitFrame((f) => f.type === 'event' && f.channel === channel && f.id === id, { timeout, what: `event ${id} on ${channel}` });
  }

  async waitClose(timeout = 10000) { return withTimeout(this.closed, timeout, `close of ${this.url} (${this.describe()})`); }
}

// ---- EventSource (/sse), npm eventsource v2 --------------------------------------------------------

export class SseClient {
  // Opens and waits for the `open` event; rejects with the HTTP status when the server refuses.
  // `https`: TLS options of the eventsource package (ca: the certificates to trust).
  static async open(url, { headers, https, timeout = 5000 } = {}) {
    const client = new SseClient(url, headers, https);
    await withTimeout(client.firstOpen, timeout, `EventSource ${url} to open`);
    return client;
  }

  constructor(url, headers, https) {
    this.url = url;
    this.messages = []; // {frame, lastEventId, data}
    this.errors = []; // error events (status for HTTP refusals, message for closed streams)
    this.opens = 0;
    const init = { ...(headers ? { headers: { ...headers } } : {}), ...(https ? { https } : {}) };
    this.es = new EventSource(url, Object.keys(init).length ? init : undefined);
    this.firstOpen = new Promise((resolve, reject) => {
      this.es.addEventListener('open', () => resolve());
      this.es.addEventListener('error', (event) => {
        if (this.opens === 0 && (event.status || this.es.readyState === EventSource.CLOSED)) {
          reject(Object.assign(new Error(`EventSource refused: HTTP ${event.status} ${event.message || ''}`), { status: event.status }));
        }
      });
    });
    this.firstOpen.catch(() => {});
    this.es.addEventListener('open', () => { this.opens += 1; });
    this.es.addEventListener('error', (event) => { this.errors.push({ status: event.status, message: event.message, at: Date.now() }); });
    this.es.addEventListener('message', (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { frame = { unparsable: event.data }; }
      this.messages.push({ frame, lastEventId: event.lastEventId, data: event.data });
    });
    track(this);
  }

  get frames() { return this.messages.map((m) => m.frame); }
  events(channel) { return this.messages.filter((m) => m.frame.type === 'event' && (channel === undefined || m.frame.channel === channel)); }
  close() { try { this.es.close(); } catch { /* ignore */ } openClients.delete(this); }
  get readyState() { return this.es.readyState; }

  describe(max = 6) {
    const tail = this.messages.slice(-max).map((m) => `${m.data.slice(0, 200)} (id ${m.lastEventId})`);
    return `${this.messages.length} messages, ${this.opens} opens, ${this.errors.length} errors, last: [${tail.join(', ')}]`;
  }

  async waitMessage(predicate, { timeout = 5000, from = 0, what = 'a matching message' } = {}) {
    let index = from;
    return waitUntil(() => {
      for (; index < this.messages.length; index++) {
        if (predicate(this.messages[index].frame, this.messages[index])) return this.messages[index];
      }
      return null;
    }, { timeout, what: `${what} on ${this.url}` }).catch((error) => {
      if (error instanceof TimeoutError) error.message += `\nSSE client: ${this.describe()}`;
      throw error;
    });
  }

  async waitEvents(channel, count, { timeout = 10000 } = {}) {
    await waitUntil(() => this.events(channel).length >= count, { timeout, what: `${count} SSE events on ${channel}` })
      .catch((error) => {
        if (error instanceof TimeoutError) error.message += `\nSSE client: ${this.describe()}`;
        throw error;
      });
    return this.events(channel);
  }
}

// ---- raw SSE over node:http (headers, comments, `retry:`, end of stream, back-pressure) ------------

export class RawSse {
  static async open(url, { headers = {}, timeout = 5000 } = {}) {
    const client = new RawSse(url, headers);
    await withTimeout(client.response, timeout, `response to GET ${url}`);
    return client;
  }

  constructor(url, headers, https) {
    this.url = url;
    this.text = '';
    this.messages = []; // {data, id, frame}
    this.comments = [];
    this.retry = null;
    this.endInfo = null;
    this.fieldOrder = []; // e.g. ['retry', 'comment', 'id', 'data', ...]
    let pending = '';
    let current = { data: [], id: undefined };
    this.response = new Promise((resolve, reject) => {
      this.req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        this.res = res;
        this.status = res.statusCode;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          this.text += chunk;
          pending += chunk;
          let newline;
          while ((newline = pending.search(/\r\n|\n|\r/)) >= 0) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + (pending.startsWith('\r\n', newline) ? 2 : 1));
            if (line === '') {
              if (current.data.length) {
                const data = current.data.join('\n');
                let frame;
                try { frame = JSON.parse(data); } catch { frame = { unparsable: data }; }
                this.messages.push({ data, id: current.id, frame });
              }
              current = { data: [], id: undefined };
            } else if (line.startsWith(':')) {
              this.comments.push(line);
              this.fieldOrder.push('comment');
            } else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              let value = colon < 0 ? '' : line.slice(colon + 1);
              if (value.startsWith(' ')) value = value.slice(1);
              this.fieldOrder.push(field);
              if (field === 'data') current.data.push(value);
              else if (field === 'id') current.id = value;
              else if (field === 'retry') this.retry = Number(value);
            }
          }
        });
        res.on('end', () => { this.endInfo ??= { how: 'end', at: Date.now() }; });
        res.on('close', () => { this.endInfo ??= { how: 'close', at: Date.now() }; });
        res.on('error', () => { this.endInfo ??= { how: 'error', at: Date.now() }; });
        resolve(res);
      });
      this.req.on('error', (error) => {
        this.endInfo ??= { how: 'error', error: error.message, at: Date.now() };
        reject(error);
      });
    });
    this.response.catch(() => {});
    track(this);
  }

  close() { try { this.req.destroy(); } catch { /* ignore */ } openClients.delete(this); }
  pause() { this.res.pause(); }
  resume() { this.res.resume(); }
  events(channel) { return this.messages.filter((m) => m.frame.type === 'event' && (channel === undefined || m.frame.channel === channel)); }

  async waitMessage(predicate, { timeout = 5000, what = 'a matching SSE message' } = {}) {
    return waitUntil(() => this.messages.find((m) => predicate(m.frame, m)), { timeout, what: `${what} on ${this.url}` })
      .catch((error) => {
        if (error instanceof TimeoutError) error.message += `\nraw stream so far: ${JSON.stringify(this.text.slice(-1500))}`;
        throw error;
      });
  }
  async waitEvents(channel, count, { timeout = 10000 } = {}) {
    await waitUntil(() => {
      if (this.events(channel).length >= count) return true;
      if (this.endInfo) throw new Error(`stream ended (${JSON.stringify(this.endInfo)}) with ${this.events(channel).length}/${count} events`);
      return false;
    }, { timeout, what: `${count} raw SSE events on ${channel} (have ${this.events(channel).length})` });
    return this.events(channel);
  }
  async waitEnd(timeout = 10000) {
    return waitUntil(() => this.endInfo, { timeout, what: `end of SSE stream ${this.url}` });
  }
}

// ---- MQTT (publishing like a backend) ---------------------------------------------------------------

let mqttCounter = 0;
export async function mqttConnect(port, options = {}) {
  const client = await withTimeout(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: `e2e-pub-${process.pid}-${++mqttCounter}`,
    clean: true,
    reconnectPeriod: 200,
    connectTimeout: 5000,
    ...options,
  }), 10000, `MQTT connect to ${port}`);
  client.on('error', () => {});
  track({ close: () => client.end(true) });
  return client;
}

// The `sub` of a JWT, or '' when it is not one (the broker's username for a token-bearing client).
export function subOf(token) {
  try { return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub ?? ''; } catch { return ''; }
}

// A client of a broker guarded by the kabar plugin, as a mobile app connects: the JWT as password, its
// sub as username (none without a token). MQTT 5 so refusals come back as reason codes; no reconnects,
// so a refusal is final: the promise rejects with it. `url`: mqtt://... or ws://... .
export async function mqttWithToken(url, token, { username, clientId = `e2e-tok-${process.pid}-${++mqttCounter}` } = {}) {
  const options = { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, clientId };
  if (token) Object.assign(options, { username: username ?? subOf(token), password: token });
  const client = mqtt.connect(url, options);
  client.on('error', () => {});
  track({ close: () => client.end(true) });
  await withTimeout(new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed')));
  }), 8000, `MQTT connect to ${url}`);
  return client;
}

// QoS 1 publish; resolves on the broker's PUBACK.
export async function publish(client, topic, payload, { timeout = 10000 } = {}) {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  await withTimeout(client.publishAsync(topic, body, { qos: 1 }), timeout, `PUBACK for ${topic}`);
}

export function envelope(id, event, data, extra = {}) {
  return { id, event, data, ...extra };
}

// Publishes an envelope to kabar/c/{channel}.
export async function publishToChannel(client, channel, id, data, event = 'test.event') {
  return publish(client, `kabar/c/${channel}`, envelope(id, event, data));
}

export { diagnostics };

// Publishes count messages with QoS 1, at most `window` unacknowledged at once (in order on one
// connection). make(i) -> {topic, payload}. onAck(i) is called as each PUBACK arrives.
export async function publishMany(client, count, make, { window = 20, onAck, timeout = 30000 } = {}) {
  const inFlight = new Set();
  for (let i = 0; i < count; i++) {
    const { topic, payload } = make(i);
    const p = publish(client, topic, payload, { timeout }).then(() => { inFlight.delete(p); if (onAck) onAck(i); });
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
