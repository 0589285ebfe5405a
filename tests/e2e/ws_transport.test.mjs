// kabar's own WebSocket transport (gateway/http/ws_transport.h) at the byte level, on both WebSocket
// doors (/ws and the Pusher door /app/{key}): the upgrade, RFC 6455's rules for what a client sends
// (masking, fragments with control frames between them, UTF-8, sizes, close codes), the close
// handshake, keep-alive pings, and a burst of events arriving as whole frames in order. The codec's
// rules one by one are unit tests (tests/unit/websocket_codec_test.cpp); this is the same over a socket.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, test } from 'node:test';
import { Kabar, requireKabarBinary, sleep, startMosquitto, useHarness } from './lib/harness.mjs';
import { mqttConnect, publishMany, envelope } from './lib/clients.mjs';
import { OP, RawWs, clientFrame, closePayload } from './lib/raw_ws.mjs';

useHarness();

const PUSHER_PATH = '/app/local-key?protocol=7&client=js&version=8.4.0';
const DOORS = [
  { name: '/ws', path: '/ws', greeting: (f) => f.type === 'welcome' },
  { name: '/app', path: PUSHER_PATH, greeting: (f) => f.event === 'pusher:connection_established' },
];
const HEARTBEAT_MS = 400;

let kabar;
let mq;

before(async () => {
  requireKabarBinary();
  const broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port, config: { http: { heartbeat_ms: HEARTBEAT_MS } } });
  await kabar.start();
  mq = await mqttConnect(broker.port);
});

for (const door of DOORS) {
  test(`${door.name}: the upgrade answers 101 with the RFC 6455 accept key, then the greeting`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    assert.equal(client.status, 101, client.head);
    const expected = crypto.createHash('sha1').update(`${client.key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    assert.equal(client.header('Sec-WebSocket-Accept'), expected);
    assert.equal(client.header('Upgrade').toLowerCase(), 'websocket');
    assert.match(client.header('Server'), /^kabar/);
    await client.waitText(door.greeting, 'the greeting');
    assert.deepEqual(client.protocolErrors, []);
    client.close();
  });

  test(`${door.name}: a wrong version gets 426 with Sec-WebSocket-Version: 13; a bad key gets 400`, async () => {
    const old = await RawWs.open(kabar.port, door.path, { version: '8' });
    assert.equal(old.status, 426, old.head);
    assert.equal(old.header('Sec-WebSocket-Version'), '13');
    await old.waitEnded();
    const badKey = await RawWs.open(kabar.port, door.path, { key: 'not-a-key' });
    assert.equal(badKey.status, 400, badKey.head);
    await badKey.waitEnded();
  });

  test(`${door.name}: an unmasked client frame is a protocol error: close 1002, then the TCP connection ends`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    await client.waitText(door.greeting, 'the greeting');
    client.send(clientFrame(OP.text, '{"type":"ping"}', { mask: null }));
    assert.equal((await client.waitClose()).code, 1002);
    await client.waitEnded();
  });

  test(`${door.name}: text that is not UTF-8 closes with 1007`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    await client.waitText(door.greeting, 'the greeting');
    client.send(clientFrame(OP.text, Buffer.from([0x7b, 0xc3, 0x28, 0x7d])));
    assert.equal((await client.waitClose()).code, 1007);
    await client.waitEnded();
  });

  test(`${door.name}: a message over the limit in fragments closes with 1009 before it is all sent`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    await client.waitText(door.greeting, 'the greeting');
    const part = 'x'.repeat(40 * 1024); // two of these pass http.max_message_bytes (64 KiB)
    client.send(clientFrame(OP.text, part, { fin: false }));
    client.send(clientFrame(OP.continuation, part, { fin: false }));
    assert.equal((await client.waitClose()).code, 1009);
    await client.waitEnded();
  });

  test(`${door.name}: the client closes with 1000: the server answers 1000 and ends the connection`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    await client.waitText(door.greeting, 'the greeting');
    client.send(clientFrame(OP.close, closePayload(1000, 'bye')));
    assert.equal((await client.waitClose()).code, 1000);
    await client.waitEnded();
  });

  test(`${door.name}: a close code that may not be sent (1005) is a protocol error`, async () => {
    const client = await RawWs.open(kabar.port, door.path);
    await client.waitText(door.greeting, 'the greeting');
    client.send(clientFrame(OP.close, closePayload(1005)));
    assert.equal((await client.waitClose()).code, 1002);
    await client.waitEnded();
  });

  test(`${door.name}: a silent peer is pinged at the heartbeat and cut after two; one that answers stays`, async () => {
    const silent = await RawWs.open(kabar.port, door.path);
    const answering = await RawWs.open(kabar.port, door.path);
    await silent.waitText(door.greeting, 'the greeting');
    await answering.waitText(door.greeting, 'the greeting');
    let answered = 0;
    const timer = setInterval(() => {
      const pings = answering.frames.filter((f) => f.opcode === OP.ping);
      for (; answered < pings.length; answered++) answering.send(clientFrame(OP.pong, pings[answered].payload));
    }, 20);
    try {
      await silent.waitFor((c) => c.frames.some((f) => f.opcode === OP.ping), 'a ping', HEARTBEAT_MS * 4);
      await silent.waitEnded(HEARTBEAT_MS * 6);
      await sleep(HEARTBEAT_MS * 4);
      assert.equal(answering.ended, false, 'a peer that answers pings is kept');
      assert.ok(answered >= 2, `pings were answered (${answered})`);
    } finally {
      clearInterval(timer);
    }
    answering.close();
  });
}

test('/ws: a message in three fragments with a ping between them: the pong first, then the answer', async () => {
  const client = await RawWs.open(kabar.port, '/ws');
  await client.waitText((f) => f.type === 'welcome', 'welcome');
  const text = JSON.stringify({ type: 'subscribe', channel: 'frag.room', ref: 7 });
  client.send(clientFrame(OP.text, text.slice(0, 10), { fin: false }));
  client.send(clientFrame(OP.ping, 'are you there'));
  client.send(clientFrame(OP.continuation, text.slice(10, 20), { fin: false }));
  client.send(clientFrame(OP.continuation, text.slice(20)));
  const reply = await client.waitText((f) => f.ref === 7, 'the subscribe reply');
  assert.equal(reply.type, 'subscribed');
  const pong = client.frames.findIndex((f) => f.opcode === OP.pong);
  assert.ok(pong >= 0, 'a pong came');
  assert.equal(client.frames[pong].payload.toString(), 'are you there');
  const replyIndex = client.frames.findIndex((f) => f.opcode === OP.text && f.payload.toString().includes('"ref":7'));
  assert.ok(pong < replyIndex, 'the pong went out when the ping came, before the message was complete');
  client.close();
});

test('/ws: a burst of 500 events arrives as whole, unmasked frames, in order, none twice', async () => {
  const client = await RawWs.open(kabar.port, '/ws');
  await client.waitText((f) => f.type === 'welcome', 'welcome');
  client.sendJson({ type: 'subscribe', channel: 'burst.room', ref: 1 });
  await client.waitText((f) => f.ref === 1, 'subscribed');
  await publishMany(mq, 500, (i) => ({ topic: 'kabar/c/burst.room', payload: envelope(`b-${i}`, 'burst', { i, pad: 'y'.repeat(i % 300) }) }));
  await client.waitFor((c) => c.texts().filter((f) => f.type === 'event').length >= 500, '500 events', 20000);
  const ids = client.texts().filter((f) => f.type === 'event').map((f) => f.id);
  assert.deepEqual(ids, Array.from({ length: 500 }, (_, i) => `b-${i}`));
  assert.deepEqual(client.protocolErrors, []);
  assert.ok(client.frames.every((f) => f.fin), 'every server frame is whole (FIN)');
  client.close();
});
