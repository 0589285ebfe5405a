// Two kabar nodes on one broker (the failures Reverb is known for): presence lists, join/leave
// announcements, whispers and ->toOthers() stay right when the clients of a channel are spread over
// both nodes, and a node that dies takes its members with it (docs/pusher.md "Several nodes"). Run on the
// anonymous broker and on the guarded one compose deploys (kabar_auth_plugin.so, every client a token),
// where the dead node's will must pass the plugin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BROKER_MODES, Kabar, requireKabarBinary, sleep, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { LOCAL_APP, connected, makeEcho, serverSdk, startAuthServer, subscribed } from './pusher-helpers.mjs';

useHarness();

let auth;

before(async () => {
  requireKabarBinary();
  auth = await startAuthServer(LOCAL_APP);
});

after(() => auth?.close());

async function users(node, channel) {
  const response = await serverSdk(node).get({ path: `/channels/${channel}/users` });
  return (await response.json()).users.map((u) => u.id).sort();
}

function join(echo, room) {
  const seen = { here: null, joining: [], leaving: [] };
  const channel = echo.join(room)
    .here((members) => { seen.here = members; })
    .joining((member) => seen.joining.push(member))
    .leaving((member) => seen.leaving.push(member));
  return { seen, channel };
}

for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
  let broker;
  let nodeA;
  let nodeB;

  before(async () => {
    broker = await startMosquitto({ guarded: mode === 'guarded' });
    // Each node logs in as compose's gateways do: its own client id and a backend token.
    nodeA = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw1') } });
    nodeB = await Kabar.create({ mqttPort: broker.port, config: { broker: await broker.credentials('kabar-gw2') } });
    await Promise.all([nodeA.start(), nodeB.start()]);
  });

  after(async () => {
    await Promise.all([nodeA?.kill(), nodeB?.kill()]);
    await broker?.stop('SIGKILL');
  });

  test('presence across nodes: here(), joining and leaving see members of both nodes', async () => {
    const ana = makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url });
    await connected(ana);
    const anaRoom = join(ana, 'dokumen.70');
    await waitUntil(() => anaRoom.seen.here, { what: 'Ana here()' });
    await waitUntil(async () => (await users(nodeB, 'presence-dokumen.70')).join() === '1', { what: 'node B knows Ana' });

    const budi = makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url });
    await connected(budi);
    const budiRoom = join(budi, 'dokumen.70');
    await waitUntil(() => budiRoom.seen.here, { what: 'Budi here()' });
    assert.deepEqual(budiRoom.seen.here.map((m) => m.name).sort(), ['Ana', 'Budi'], 'Budi on node B sees Ana of node A');
    await waitUntil(() => anaRoom.seen.joining.length === 1, { what: 'Ana (node A) sees Budi (node B) joining' });
    assert.deepEqual(anaRoom.seen.joining[0], { id: 2, name: 'Budi' });
    assert.deepEqual(await users(nodeA, 'presence-dokumen.70'), ['1', '2']);
    assert.deepEqual(await users(nodeB, 'presence-dokumen.70'), ['1', '2']);

    // Ana opens a second tab on node B: she is present already, nobody hears of it.
    const anaTab = makeEcho(nodeB, { user: '1:Ana', authUrl: auth.url });
    await connected(anaTab);
    const tabRoom = join(anaTab, 'dokumen.70');
    await waitUntil(() => tabRoom.seen.here, { what: 'tab here()' });
    anaTab.disconnect();  // and closes it again
    await sleep(500);
    assert.equal(budiRoom.seen.joining.length, 0, 'no joining for a second tab');
    assert.equal(budiRoom.seen.leaving.length, 0, 'no leaving while Ana has a tab open');

    budi.leave('dokumen.70');
    await waitUntil(() => anaRoom.seen.leaving.length === 1, { what: 'Ana sees Budi leave' });
    assert.deepEqual(anaRoom.seen.leaving[0], { id: 2, name: 'Budi' });
    await waitUntil(async () => (await users(nodeA, 'presence-dokumen.70')).join() === '1', { what: 'Budi gone on node A' });
  });

  test('whispers reach subscribers on the other node, never the sender', async () => {
    const ana = makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url });
    const budi = makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url });
    await Promise.all([connected(ana), connected(budi)]);
    const anaChannel = ana.private('chat.70');
    const budiChannel = budi.private('chat.70');
    await Promise.all([subscribed(anaChannel), subscribed(budiChannel)]);
    const anaHeard = [];
    const budiHeard = [];
    anaChannel.listenForWhisper('typing', (e) => anaHeard.push(e));
    budiChannel.listenForWhisper('typing', (e) => budiHeard.push(e));
    anaChannel.whisper('typing', { name: 'Ana' });
    await waitUntil(() => budiHeard.length === 1, { what: 'Budi on node B hears Ana on node A' });
    budiChannel.whisper('typing', { name: 'Budi' });
    await waitUntil(() => anaHeard.length === 1, { what: 'and the other way round' });
    await sleep(300);
    assert.deepEqual(budiHeard, [{ name: 'Ana' }]);
    assert.deepEqual(anaHeard, [{ name: 'Budi' }]);
  });

  test('->toOthers() across nodes: published to node B, the sender on node A is left out', async () => {
    const alice = makeEcho(nodeA);
    const bob = makeEcho(nodeB);
    const carol = makeEcho(nodeA);
    const aliceSocket = await connected(alice);
    await Promise.all([connected(bob), connected(carol)]);
    const got = { alice: [], bob: [], carol: [] };
    const channels = [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']].map(([echo, name]) => {
      const channel = echo.channel('dokumen.71');
      channel.listen('.dokumen.saved', (e) => got[name].push(e.n));
      return channel;
    });
    await Promise.all(channels.map((c) => subscribed(c)));
    await serverSdk(nodeB).trigger('dokumen.71', 'dokumen.saved', { n: 1 }, { socket_id: aliceSocket });
    await serverSdk(nodeA).trigger('dokumen.71', 'dokumen.saved', { n: 2 });
    await waitUntil(() => got.alice.length === 1 && got.bob.length === 2 && got.carol.length === 2, {
      what: `deliveries ${JSON.stringify(got)}`,
    });
    await sleep(200);
    assert.deepEqual(got, { alice: [2], bob: [1, 2], carol: [1, 2] });
  });

  test('a node that dies takes its members with it: the other node announces them leaving', async () => {
    const ana = makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url });
    await connected(ana);
    const anaRoom = join(ana, 'dokumen.72');
    await waitUntil(() => anaRoom.seen.here, { what: 'Ana here()' });
    const budi = makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url });
    await connected(budi);
    const budiRoom = join(budi, 'dokumen.72');
    await waitUntil(() => budiRoom.seen.here && anaRoom.seen.joining.length === 1, { what: 'both present' });
    await nodeB.kill();  // SIGKILL: no goodbye, the broker publishes node B's will
    await waitUntil(() => anaRoom.seen.leaving.length === 1, { timeout: 30000, what: 'Ana sees Budi leave with his node' });
    assert.deepEqual(anaRoom.seen.leaving[0], { id: 2, name: 'Budi' });
    assert.deepEqual(await users(nodeA, 'presence-dokumen.72'), ['1']);
  });
});
