// A cheap subscriber for load scripts (thousands per process): a raw socket that speaks just enough
// HTTP/WebSocket for kabar's /sse, /ws and /app (Pusher protocol 7): the request or upgrade, masked client
// frames, a pong for every ping, a subscription to one channel. No dependencies beyond node.
//
//   const c = openRaw({ port, kind: 'sse' | 'ws' | 'app', channel, localAddress, appKey, timeout });
//   await c.subscribed;            // resolves true once subscribed, false on failure (c.failure says why)
//   c.watch(marker, cb)            // cb() once when `marker` appears in what the server sends
//   c.close()
import crypto from 'node:crypto';
import net from 'node:net';

export function wsFrame(data, opcode = 0x1) {
  const payload = Buffer.from(data);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

export function openRaw({ port, kind, channel, localAddress, appKey = 'local-key', timeout = 30000, host = '127.0.0.1' }) {
  const c = {
    kind, buf: Buffer.alloc(0), head: true, isSubscribed: false, done: false, failure: null, closedAfter: false,
    watches: [], startedAt: Date.now(), connectMs: null, subscribeMs: null,
  };
  let settle;
  c.subscribed = new Promise((resolve) => { settle = resolve; });
  const socket = net.connect({ host, port, localAddress });
  c.socket = socket;
  const timer = setTimeout(() => fail(`${kind}: no subscription within ${timeout} ms`), timeout);
  function fail(why) {
    if (c.done) return;
    c.done = true;
    clearTimeout(timer);
    if (!c.isSubscribed) c.failure = why;
    else c.closedAfter = why;
    socket.destroy();
    settle(c.isSubscribed);
  }
  function subscribedNow() {
    if (c.isSubscribed) return;
    c.isSubscribed = true;
    c.subscribeMs = Date.now() - c.startedAt;
    clearTimeout(timer);
    settle(true);
  }
  const scan = (text) => {
    if (!c.watches.length) return;
    c.watches = c.watches.filter((w) => {
      if (!text.includes(w.marker)) return true;
      w.cb();
      return false;
    });
  };
  const onText = (text) => {
    if (!c.isSubscribed) {
      if (kind === 'app' && text.includes('pusher:connection_established')) {
        socket.write(wsFrame(JSON.stringify({ event: 'pusher:subscribe', data: { channel } })));
        return;
      }
      if (kind === 'ws' ? text.includes('"subscribed"') : text.includes('pusher_internal:subscription_succeeded')) subscribedNow();
      else if (text.includes('error')) fail(`${kind}: ${text.slice(0, 120)}`);
      return;
    }
    scan(text);
  };
  const parseWs = () => {
    for (;;) {
      const b = c.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const opcode = b[0] & 0x0f;
      const payload = b.subarray(off, off + len);
      c.buf = b.subarray(off + len);
      if (opcode === 0x1 || opcode === 0x0) onText(payload.toString());
      else if (opcode === 0x9) socket.write(wsFrame(payload, 0xa));
      else if (opcode === 0x8) { fail(`${kind}: close ${payload.length >= 2 ? payload.readUInt16BE(0) : ''} from the server`); return; }
    }
  };
  socket.setNoDelay(true);
  socket.on('connect', () => {
    c.connectMs = Date.now() - c.startedAt;
    const key = crypto.randomBytes(16).toString('base64');
    const path = kind === 'sse' ? `/sse?channel=${channel}` : kind === 'ws' ? '/ws' : `/app/${appKey}?protocol=7&client=js&version=8.6.0&flash=false`;
    const extra = kind === 'sse' ? 'Accept: text/event-stream\r\n'
      : `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n${extra}\r\n`);
  });
  socket.on('data', (chunk) => {
    if (c.done) return;
    c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
    if (c.head) {
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) { if (c.buf.length > 8192) fail(`${kind}: no end of headers`); return; }
      const status = c.buf.subarray(0, end).toString().split(' ')[1];
      c.buf = c.buf.subarray(end + 4);
      c.head = false;
      if (status !== (kind === 'sse' ? '200' : '101')) { fail(`${kind}: HTTP ${status}`); return; }
      if (kind === 'ws') socket.write(wsFrame(JSON.stringify({ type: 'subscribe', channel, ref: 's' })));
    }
    if (kind === 'sse') {
      const text = c.buf.toString();
      c.buf = Buffer.from(text.slice(-300)); // keeps a marker split over two reads findable
      if (!c.isSubscribed && text.includes('retry:')) subscribedNow();
      else scan(text);
    } else {
      parseWs();
    }
  });
  socket.on('error', (error) => fail(`${kind}: ${error.code || error.message}`));
  socket.on('close', () => fail(`${kind}: closed`));
  c.watch = (marker, cb) => { c.watches.push({ marker, cb }); };
  c.close = () => { c.done = true; clearTimeout(timer); socket.destroy(); settle(c.isSubscribed); };
  return c;
}
