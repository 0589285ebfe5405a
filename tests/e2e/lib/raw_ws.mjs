// A WebSocket client at the byte level, for what a library client never does: unmasked frames, broken
// UTF-8, fragments with control frames between them, staying silent to pings. It parses every server
// frame strictly (a server frame must be unmasked, RSV 0, a known opcode), so a malformed or split
// frame from kabar fails the test that reads it.
import crypto from 'node:crypto';
import net from 'node:net';
import { track, waitUntil, withTimeout } from './harness.mjs';

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

// One client frame. mask: a 4-byte Buffer, or null for an (illegal) unmasked frame.
export function clientFrame(opcode, payload, { fin = true, mask = crypto.randomBytes(4), rsv = 0 } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '');
  const n = data.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(n, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(n), 2);
  if (!mask) return Buffer.concat([head, data]);
  const masked = Buffer.from(data);
  for (let i = 0; i < n; i++) masked[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}

export function closePayload(code, reason = '') {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return Buffer.concat([body, Buffer.from(reason)]);
}

export class RawWs {
  // Connects and sends the upgrade; resolves with the client once the response head is read.
  static async open(port, path = '/ws', { headers = {}, key = crypto.randomBytes(16).toString('base64'), version = '13' } = {}) {
    const client = track(new RawWs(port));
    await withTimeout(client.connected, 5000, 'raw ws connect');
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    client.key = key;
    client.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n${extra}\r\n`);
    await client.waitFor(() => client.head !== null, 'the response head');
    return client;
  }

  constructor(port) {
    this.socket = net.connect(port, '127.0.0.1');
    this.connected = new Promise((resolve, reject) => { this.socket.once('connect', resolve); this.socket.once('error', reject); });
    this.connected.catch(() => {});
    this.buffer = Buffer.alloc(0);
    this.head = null;      // the HTTP response head (string)
    this.frames = [];      // {opcode, fin, payload: Buffer}
    this.protocolErrors = [];
    this.ended = false;    // the server closed its side (FIN) or reset
    this.reads = 0;        // 'data' events: how many TCP reads the frames came in
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('end', () => { this.ended = true; });
    this.socket.on('close', () => { this.ended = true; });
    this.socket.on('error', () => { this.ended = true; });
  }

  onData(chunk) {
    this.reads++;
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.head === null) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.buffer.subarray(0, end).toString('latin1');
      this.buffer = this.buffer.subarray(end + 4);
      if (!this.head.startsWith('HTTP/1.1 101')) return; // an HTTP error: the body stays in buffer
    }
    for (;;) {
      if (this.buffer.length < 2) return;
      const b0 = this.buffer[0];
      const b1 = this.buffer[1];
      if (b1 & 0x80) this.protocolErrors.push('server frame is masked');
      if (b0 & 0x70) this.protocolErrors.push('server frame has RSV bits');
      let n = b1 & 0x7f;
      let offset = 2;
      if (n === 126) { if (this.buffer.length < 4) return; n = this.buffer.readUInt16BE(2); offset = 4; }
      else if (n === 127) { if (this.buffer.length < 10) return; n = Number(this.buffer.readBigUInt64BE(2)); offset = 10; }
      if (this.buffer.length < offset + n) return;
      const opcode = b0 & 0x0f;
      if (![0, 1, 2, 8, 9, 10].includes(opcode)) this.protocolErrors.push(`unknown opcode ${opcode}`);
      this.frames.push({ opcode, fin: !!(b0 & 0x80), payload: Buffer.from(this.buffer.subarray(offset, offset + n)) });
      this.buffer = this.buffer.subarray(offset + n);
    }
  }

  get status() { return this.head ? Number(this.head.split(' ')[1]) : null; }
  header(name) {
    const line = (this.head || '').split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    return line ? line.slice(line.indexOf(':') + 1).trim() : undefined;
  }
  send(bytes) { this.socket.write(bytes); }
  sendText(text) { this.send(clientFrame(OP.text, text)); }
  sendJson(object) { this.sendText(JSON.stringify(object)); }
  texts() { return this.frames.filter((f) => f.opcode === OP.text).map((f) => JSON.parse(f.payload.toString('utf8'))); }
  closeFrame() {
    const frame = this.frames.find((f) => f.opcode === OP.close);
    if (!frame) return null;
    return { code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005, reason: frame.payload.subarray(2).toString('utf8') };
  }
  async waitFor(predicate, what, timeout = 5000) {
    return waitUntil(() => predicate(this), { timeout, what: `${what} (frames: ${this.describe()})` });
  }
  async waitText(predicate, what, timeout = 5000) {
    await this.waitFor(() => this.texts().some(predicate), what, timeout);
    return this.texts().find(predicate);
  }
  async waitClose(timeout = 5000) {
    await this.waitFor(() => this.closeFrame() !== null, 'a close frame', timeout);
    return this.closeFrame();
  }
  async waitEnded(timeout = 7000) { await this.waitFor(() => this.ended, 'the server to end the TCP connection', timeout); }
  describe() {
    return JSON.stringify(this.frames.slice(-6).map((f) => ({ op: f.opcode, fin: f.fin, text: f.payload.toString('utf8').slice(0, 80) })));
  }
  close() { this.socket.destroy(); }
}
