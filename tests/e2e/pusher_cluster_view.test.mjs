// One cluster view (docs/pusher.md "Several nodes on one broker"): two kabar nodes on one broker answer
// the Pusher REST channel queries for the whole cluster, and the occupancy and member webhooks go out
// once per cluster, not once per node; when the node that sends them is killed, the other takes over and
// the dead node's members get their member_removed, once. On the anonymous broker and on the guarded one
// compose deploys (kabar_auth_plugin.so, every client a token).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BROKER_MODES, Kabar, requireKabarBinary, sleep, startMosquitto, track, useHarness, waitUntil } from './lib/harness.mjs';
import { LOCAL_APP, connected, makeEcho, serverSdk, startAuthServer, subscribed } from './pusher-helpers.mjs';

useHarness();

let auth;

before(async () => {
  requireKabarBinary();
  auth = await startAuthServer(LOCAL_APP);
});

after(() => auth?.close());

// Records every webhook POST the app's backend gets.
async function startReceiver() {
  const bodies = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => {
      bodies.push(JSON.parse(raw));
      res.writeHead(200).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  track({ close: () => server.close() });
  return {
    url: `http://127.0.0.1:${server.address().port}/pusher/webhooks`,
    // "name channel [user]" of every event so far about `channel`
    about: (channel) => bodies.flatMap((b) => b.events).filter((e) => e.channel === channel)
      .map((e) => [e.name, e.user_id].filter(Boolean).join(' ')),
  };
}

async function query(node, path, params) {
  const response = await serverSdk(node).get({ path, params });
  return response.json();
}

async function subscribePublic(echo, name) {
  const channel = echo.channel(name);
  await subscribed(channel);
  return channel;
}

async function joinPresence(echo, room) {
  const channel = echo.join(room);
  await subscribed(channel);
  return channel;
}

for (const mode of BROKER_MODES) describe(`${mode} broker`, () => {
  let broker;
  let receiver;
  let nodeA;
  let nodeB;

  before(async () => {
    broker = await startMosquitto({ guarded: mode === 'guarded' });
    receiver = await startReceiver();
    const apps = [{ ...LOCAL_APP, webhooks: [{ url: receiver.url }] }];
    nodeA = await Kabar.create({ mqttPort: broker.port, config: { apps, broker: await broker.credentials('kabar-gw1') } });
    nodeB = await Kabar.create({ mqttPort: broker.port, config: { apps, broker: await broker.credentials('kabar-gw2') } });
    // One after the other: A is the older node, so it sends the cluster's webhooks until it dies.
    await nodeA.start();
    await sleep(1500);
    await nodeB.start();
    await sleep(1500);  // B has heard A's snapshot and settled
  });

  after(async () => {
    await Promise.all([nodeA?.kill(), nodeB?.kill()]);
    await broker?.stop('SIGKILL');
  });

  test('subscription_count, user_count, users and the channel list are the cluster\'s on each node', async () => {
    const onA = [makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url }), makeEcho(nodeA, { user: '3:Citra', authUrl: auth.url })];
    const onB = [makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url })];
    await Promise.all([...onA, ...onB].map((echo) => connected(echo)));
    await Promise.all([...onA, ...onB].map((echo) => subscribePublic(echo, 'view.orders')));
    await joinPresence(onA[0], 'view.room');
    await joinPresence(onB[0], 'view.room');

    for (const node of [nodeA, nodeB]) {
      await waitUntil(async () => (await query(node, '/channels/view.orders', { info: 'subscription_count' })).subscription_count === 3,
        { what: `subscription_count 3 on node ${node.n}`, timeout: 10000 });
      // The two joins may reach the other node in a later snapshot than the public subscriptions.
      await waitUntil(async () => (await query(node, '/channels/presence-view.room', { info: 'subscription_count' })).subscription_count === 2,
        { what: `presence subscription_count 2 on node ${node.n}`, timeout: 10000 });
      assert.deepEqual(await query(node, '/channels/presence-view.room', { info: 'user_count,subscription_count' }),
        { occupied: true, user_count: 2, subscription_count: 2 });
      const users = (await query(node, '/channels/presence-view.room/users')).users.map((u) => u.id).sort();
      assert.deepEqual(users, ['1', '2']);
      const list = await query(node, '/channels', { info: 'subscription_count' });
      assert.deepEqual(list.channels['view.orders'], { subscription_count: 3 });
      assert.deepEqual(list.channels['presence-view.room'], { subscription_count: 2 });
      const presence = await query(node, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' });
      assert.deepEqual(presence.channels['presence-view.room'], { user_count: 2 });
    }
    // Only B's subscriber is left on view.orders: both nodes say 1, then nobody: unoccupied.
    for (const echo of onA) echo.leave('view.orders');
    for (const node of [nodeA, nodeB]) {
      await waitUntil(async () => (await query(node, '/channels/view.orders', { info: 'subscription_count' })).subscription_count === 1,
        { what: `subscription_count 1 on node ${node.n}`, timeout: 10000 });
    }
    onB[0].leave('view.orders');
    for (const node of [nodeA, nodeB]) {
      await waitUntil(async () => (await query(node, '/channels/view.orders')).occupied === false,
        { what: `view.orders unoccupied on node ${node.n}`, timeout: 10000 });
      assert.equal((await query(node, '/channels')).channels['view.orders'], undefined);
    }
    for (const echo of [...onA, ...onB]) echo.disconnect();
  });

  test('a channel occupied on both nodes: one channel_occupied, one member_added per user, one channel_vacated', async () => {
    const ana = makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url });
    const anaAgain = makeEcho(nodeB, { user: '1:Ana', authUrl: auth.url });  // the same user on the other node
    const budi = makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url });
    await Promise.all([ana, anaAgain, budi].map((echo) => connected(echo)));
    await subscribePublic(ana, 'hook.public');
    await subscribePublic(budi, 'hook.public');
    await joinPresence(ana, 'hook.room');
    await joinPresence(anaAgain, 'hook.room');
    await joinPresence(budi, 'hook.room');
    await waitUntil(() => receiver.about('presence-hook.room').length >= 3, { what: 'presence webhooks', timeout: 10000 });
    for (const echo of [ana, anaAgain, budi]) echo.disconnect();
    await waitUntil(() => receiver.about('hook.public').includes('channel_vacated')
      && receiver.about('presence-hook.room').includes('channel_vacated'), { what: 'both channels vacated', timeout: 10000 });
    await sleep(1000);  // a duplicate from the other node would have come by now
    assert.deepEqual(receiver.about('hook.public'), ['channel_occupied', 'channel_vacated']);
    const room = receiver.about('presence-hook.room');
    assert.deepEqual(room.slice(0, 3), ['channel_occupied', 'member_added 1', 'member_added 2']);
    assert.deepEqual(room.slice(3, 5).sort(), ['member_removed 1', 'member_removed 2']);
    assert.deepEqual(room.slice(5), ['channel_vacated']);
  });

  test('the sending node is killed: the other takes over, and its members are removed once', async () => {
    const ana = makeEcho(nodeA, { user: '1:Ana', authUrl: auth.url });
    const budi = makeEcho(nodeB, { user: '2:Budi', authUrl: auth.url });
    await Promise.all([connected(ana), connected(budi)]);
    await joinPresence(ana, 'kill.room');
    await waitUntil(() => receiver.about('presence-kill.room').includes('member_added 1'), { what: 'Ana added', timeout: 10000 });
    await joinPresence(budi, 'kill.room');
    await waitUntil(() => receiver.about('presence-kill.room').includes('member_added 2'), { what: 'Budi added', timeout: 10000 });
    await nodeA.kill();  // SIGKILL: no goodbye; its sockets close, so the broker sends its will
    ana.disconnect();
    await waitUntil(() => receiver.about('presence-kill.room').includes('member_removed 1'),
      { what: 'member_removed for the dead node\'s member', timeout: 30000 });
    await sleep(1500);
    assert.deepEqual(receiver.about('presence-kill.room'), ['channel_occupied', 'member_added 1', 'member_added 2', 'member_removed 1']);
    // B answers for the cluster that is left.
    assert.deepEqual((await query(nodeB, '/channels/presence-kill.room/users')).users.map((u) => u.id), ['2']);
    budi.disconnect();
    await waitUntil(() => receiver.about('presence-kill.room').includes('channel_vacated'), { what: 'vacated by B', timeout: 10000 });
    assert.deepEqual(receiver.about('presence-kill.room').slice(4), ['member_removed 2', 'channel_vacated']);
  });

  test('the sending node stops cleanly: its members are removed once, and the other node sends from there', async () => {
    await nodeA.start();  // back, and younger than B now: B stays the sender
    await sleep(1500);
    const citra = makeEcho(nodeA, { user: '3:Citra', authUrl: auth.url });
    const dewi = makeEcho(nodeB, { user: '4:Dewi', authUrl: auth.url });
    await Promise.all([connected(citra), connected(dewi)]);
    await joinPresence(citra, 'stop.room');
    await waitUntil(() => receiver.about('presence-stop.room').includes('member_added 3'), { what: 'Citra added', timeout: 10000 });
    await joinPresence(dewi, 'stop.room');
    await waitUntil(() => receiver.about('presence-stop.room').includes('member_added 4'), { what: 'Dewi added', timeout: 10000 });
    await nodeB.stop();  // SIGTERM: its clients are closed, it sends and records what that changed, goodbye
    dewi.disconnect();
    await waitUntil(() => receiver.about('presence-stop.room').includes('member_removed 4'), { what: 'Dewi removed', timeout: 20000 });
    await sleep(1500);
    assert.deepEqual(receiver.about('presence-stop.room'), ['channel_occupied', 'member_added 3', 'member_added 4', 'member_removed 4']);
    citra.disconnect();
    await waitUntil(() => receiver.about('presence-stop.room').includes('channel_vacated'), { what: 'vacated by A', timeout: 10000 });
    assert.deepEqual(receiver.about('presence-stop.room').slice(4), ['member_removed 3', 'channel_vacated']);
  });
});
