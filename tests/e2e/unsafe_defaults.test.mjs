// Unsafe defaults (issue 8, item 9), each against a real kabar:
//  * the development Pusher app (local / local-key / local-secret, a public secret) is served only when
//    the config names no apps, http.listen is a loopback address and auth.jwt has no key; a config that
//    names it on purpose while listening beyond the loopback is refused (exit 2);
//  * the kabar_token cookie counts only for requests from pages trusted with it: no Origin, the server's
//    own origin, or an origin named in http.allowed_origins ("*" never qualifies), so a foreign page
//    cannot open /ws, /sse or /app as the user whose browser holds the cookie (cross-site WebSocket
//    hijacking); bearer and ?token= tokens are not concerned.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  Kabar, httpGet, makeTempDir, requireKabarBinary, runKabar, startMosquitto, useHarness,
} from './lib/harness.mjs';
import { WsClient } from './lib/clients.mjs';
import { LOCAL_APP, established, rawPusher, signedRestUrl } from './pusher-helpers.mjs';

useHarness();

let broker;
before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
});

const FOREIGN = 'http://evil.example';

async function pusherOutcome(kabar, key = LOCAL_APP.key, headers) {
  const client = await rawPusher(kabar, { key, headers });
  const first = await client.waitFrame((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error', { what: 'first Pusher frame' });
  client.close();
  return first;
}

describe('the development Pusher app', () => {
  test('served on the loopback without token keys (the demo and a laptop Laravel)', async () => {
    const kabar = await Kabar.create({ mqttPort: broker.port });
    await kabar.start();
    try {
      const first = await pusherOutcome(kabar);
      assert.equal(first.event, 'pusher:connection_established', JSON.stringify(first));
      assert.match(kabar.tail(200), /serving the development Pusher app "local"/);
    } finally {
      await kabar.stop();
    }
  });

  test('not served once auth.jwt has a key: no socket, no REST publish, no channel signature with local-secret', async () => {
    const kabar = await Kabar.create({ mqttPort: broker.port, operator: true });
    await kabar.start();
    try {
      const first = await pusherOutcome(kabar);
      assert.equal(first.event, 'pusher:error', JSON.stringify(first));
      assert.equal(JSON.parse(typeof first.data === 'string' ? first.data : JSON.stringify(first.data)).code, 4001);
      // A REST publish signed with the public secret, to a private branch channel.
      const body = JSON.stringify({ name: 'omset.updated', channel: 'private-cabang.7', data: '{"omset":1}' });
      const published = await fetch(signedRestUrl(kabar, LOCAL_APP, 'POST', '/apps/local/events', body), {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: AbortSignal.timeout(5000),
      });
      assert.equal(published.status, 404, await published.text());
      // kabar's own auth endpoint has no app to sign for.
      const auth = await fetch(kabar.url('/pusher/auth'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${await kabar.token()}` },
        body: 'socket_id=1.1&channel_name=private-cabang.7',
      });
      assert.equal(auth.status, 404, await auth.text());
      assert.match(kabar.tail(200), /no Pusher app is served/);
      // check-config --print says so too: apps is empty.
      const printed = await runKabar(['check-config', '--config', kabar.configFile, '--print']);
      assert.equal(printed.status, 0, printed.stderr);
      assert.deepEqual(JSON.parse(printed.stdout).apps, []);
    } finally {
      await kabar.stop();
    }
  });

  test('named on purpose it is served on the loopback even with auth.jwt', async () => {
    const kabar = await Kabar.create({ mqttPort: broker.port, operator: true, config: { apps: [LOCAL_APP] } });
    await kabar.start();
    try {
      assert.equal((await pusherOutcome(kabar)).event, 'pusher:connection_established');
    } finally {
      await kabar.stop();
    }
  });

  test('beyond the loopback: not served by default, and refused (exit 2) when configured', async () => {
    const dir = makeTempDir('kabar-e2e-devapp-');
    const write = (name, config) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, JSON.stringify(config));
      return file;
    };
    const open = write('open.json', { http: { listen: '0.0.0.0' }, apps: [LOCAL_APP] });
    const refused = await runKabar(['check-config', '--config', open]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /app "local" has the public development secret "local-secret" and http\.listen is 0\.0\.0\.0, beyond the loopback/);
    const served = await runKabar(['serve', '--config', open]);
    assert.equal(served.status, 2, served.stderr);
    // Another name for the same public secret is the same open door.
    const renamed = write('renamed.json', { http: { listen: '::' }, apps: [{ id: 'shop', key: 'shop-key', secret: 'local-secret' }] });
    assert.equal((await runKabar(['check-config', '--config', renamed])).status, 2);
    // No apps named, listening everywhere (the built-in default): no app at all.
    const plain = write('plain.json', { http: { listen: '0.0.0.0' } });
    const printed = await runKabar(['check-config', '--config', plain, '--print']);
    assert.equal(printed.status, 0, printed.stderr);
    assert.deepEqual(JSON.parse(printed.stdout).apps, []);
    // An app with its own secret beyond the loopback is fine.
    const own = write('own.json', { http: { listen: '0.0.0.0' }, apps: [{ id: 'shop', key: 'shop-key', secret: crypto.randomBytes(16).toString('hex') }] });
    assert.equal((await runKabar(['check-config', '--config', own])).status, 0);
  });
});

describe('the kabar_token cookie and the page that sends it', () => {
  let open;   // http.allowed_origins ["*"] (the default)
  let listed; // http.allowed_origins ["http://app.example"]
  let kasir;

  before(async () => {
    open = await Kabar.create({ mqttPort: broker.port, operator: true, config: { apps: [LOCAL_APP] } });
    await open.start();
    listed = await Kabar.create({ mqttPort: broker.port, operator: true, config: { http: { allowed_origins: ['http://app.example'] } } });
    // the same secret: one token for both
    listed.config.auth.jwt.secret_file = open.config.auth.jwt.secret_file;
    listed.writeConfig();
    await listed.start();
    kasir = await open.token({ sub: 'kasir-3', role: 'kasir', cabang: 3 });
  });

  async function wsVerdict(kabar, { headers = {}, query = '' } = {}) {
    const ws = await WsClient.connect(`${kabar.wsUrl}${query}`, { options: { headers } });
    try {
      return await ws.request({ type: 'subscribe', channel: 'private-cabang.3' });
    } finally {
      ws.close();
    }
  }

  test('/ws under "*": a cookie from a foreign page is not the user; without Origin, or from the server itself, it is', async () => {
    const cookie = { Cookie: `kabar_token=${kasir}` };
    const foreign = await wsVerdict(open, { headers: { ...cookie, Origin: FOREIGN } });
    assert.equal(foreign.type, 'error', JSON.stringify(foreign));
    assert.equal(foreign.code, 'forbidden_channel');
    assert.match(foreign.message, /^token_required/);
    assert.equal((await wsVerdict(open, { headers: cookie })).type, 'subscribed', 'no Origin: not a browser page');
    const own = `http://127.0.0.1:${open.port}`;
    assert.equal((await wsVerdict(open, { headers: { ...cookie, Origin: own } })).type, 'subscribed', 'the demo page of kabar itself');
    // A token the page holds itself is not concerned.
    assert.equal((await wsVerdict(open, { headers: { Authorization: `Bearer ${kasir}`, Origin: FOREIGN } })).type, 'subscribed');
    assert.equal((await wsVerdict(open, { headers: { Origin: FOREIGN }, query: `?token=${kasir}` })).type, 'subscribed');
  });

  test('/ws with a listed origin: its pages use the cookie', async () => {
    const verdict = await wsVerdict(listed, { headers: { Cookie: `kabar_token=${kasir}`, Origin: 'http://app.example' } });
    assert.equal(verdict.type, 'subscribed', JSON.stringify(verdict));
  });

  test('/sse under "*": the same rule', async () => {
    const url = open.url('/sse?channel=private-cabang.3');
    const foreign = await fetch(url, { headers: { Cookie: `kabar_token=${kasir}`, Origin: FOREIGN }, signal: AbortSignal.timeout(5000) });
    assert.equal(foreign.status, 403);
    assert.equal((await foreign.json()).reason, 'token_required');
    const controller = new AbortController();
    const same = await fetch(url, { headers: { Cookie: `kabar_token=${kasir}` }, signal: controller.signal });
    assert.equal(same.status, 200, 'a same-origin EventSource sends no Origin');
    controller.abort();
    const listedSse = new AbortController();
    const fromListed = await fetch(listed.url('/sse?channel=private-cabang.3'), { headers: { Cookie: `kabar_token=${kasir}`, Origin: 'http://app.example' }, signal: listedSse.signal });
    assert.equal(fromListed.status, 200);
    listedSse.abort();
  });

  test('/app under "*": a foreign page\'s cookie gives no token to the socket (it is anonymous)', async () => {
    // A refused cookie token would be told with a pusher:error 4009; an ignored one is not looked at.
    const expired = 'not.a.token';
    const told = async (headers) => {
      const client = await rawPusher(open, { headers });
      try {
        await established(client);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return client.frames.some((f) => f.event === 'pusher:error');
      } finally {
        client.close();
      }
    };
    assert.equal(await told({ Cookie: `kabar_token=${expired}` }), true, 'without Origin the cookie is read');
    assert.equal(await told({ Cookie: `kabar_token=${expired}`, Origin: FOREIGN }), false, 'from a foreign page it is not');
  });
});
