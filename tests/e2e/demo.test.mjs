// `kabar demo` (docs/demo.md): development logins signed with the demo's own key, the document app's
// backend (approve/reject broadcast to the others only, as Laravel's toOthers), sample traffic from the
// optical chain, and the refusals that keep it a laptop tool: loopback only, 403 demo_disabled under
// `kabar serve`. Real mosquitto, real kabar, pusher-js + laravel-echo and EventSource as clients.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, test } from 'node:test';
import {
  Kabar, KABAR_BIN, KABAR_SOURCE_DIR, freePort, makeTempDir, requireKabarBinary, sleep, startChild, startMosquitto,
  useHarness, waitUntil,
} from './lib/harness.mjs';
import { SseClient } from './lib/clients.mjs';
import { connected, makeEcho, subscribed } from './pusher-helpers.mjs';

useHarness();

let broker;
let demo;

async function post(kabar, path, body, headers = {}) {
  const response = await fetch(kabar.url(path), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function login(kabar, form) {
  const answer = await post(kabar, '/demo/login', form);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

before(async () => {
  requireKabarBinary();
  broker = await startMosquitto();
  demo = await Kabar.create({ mqttPort: broker.port, command: ['demo', '--sale-interval-ms', '150'] });
  await demo.start();
});

test('kabar demo refuses to listen beyond the loopback, and says why', async () => {
  const result = await new Promise((resolve) => {
    execFile(KABAR_BIN, ['demo', '--listen', '0.0.0.0', '--port', '0', '--config', demo.configFile],
      { timeout: 10000 }, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stderr }));
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /loopback only/);
});

test('kabar serve answers every /demo/ request with 403 demo_disabled', async () => {
  const serve = await Kabar.create({ mqttPort: broker.port });
  await serve.start();
  const answer = await post(serve, '/demo/login', { role: 'kasir', cabang: [3], name: 'Sari' });
  assert.equal(answer.status, 403);
  assert.equal(answer.body.error, 'demo_disabled');
  assert.match(answer.body.message, /kabar demo/);
  await serve.stop();
});

test('logins: tokens for the built-in roles; bad forms get 400 with the reason', async () => {
  const kasir = await login(demo, { role: 'kasir', cabang: [3], name: 'Sari', ttl_s: 120 });
  assert.equal(kasir.role, 'kasir');
  assert.deepEqual(kasir.cabang, [3]);
  assert.ok(kasir.expires_at > Date.now() / 1000 + 100 && kasir.expires_at <= Date.now() / 1000 + 121);
  const owner = await login(demo, { role: 'super_admin', name: 'Bu Ani' });
  assert.ok(owner.cabang.length >= 5);
  const staf = await login(demo, { role: 'staf', sub: 'u2' });
  assert.equal(staf.name, 'Budi Santoso');
  for (const [form, why] of [
    [{ role: 'backend', name: 'x' }, /role/],
    [{ role: 'kasir', cabang: [3, 4], name: 'x' }, /one cabang/],
    [{ role: 'admin', cabang: [99], name: 'x' }, /cabang/],
    [{ role: 'kasir', cabang: [3], name: 'x', ttl_s: 1 }, /ttl_s/],
    [{ role: 'staf', sub: 'nobody' }, /sub/],
  ]) {
    const answer = await post(demo, '/demo/login', form);
    assert.equal(answer.status, 400, JSON.stringify(form));
    assert.match(answer.body.message, why);
  }
  const broken = await post(demo, '/demo/login', '{"role":');
  assert.equal(broken.status, 400);
  assert.equal(broken.body.error, 'bad_json');
});

test("sample traffic: a cashier's stream gets her branch's takings and ready orders; another branch is refused", async () => {
  const kasir = await login(demo, { role: 'kasir', cabang: [3], name: 'Sari' });
  const stream = await SseClient.open(demo.url(`/sse?channel=private-cabang.3&channel=private-cabang.3.pesanan&token=${kasir.token}`));
  const omset = await stream.waitMessage((f) => f.type === 'event' && f.event === 'omset.updated', { timeout: 20000, what: 'omset.updated for branch 3' });
  assert.equal(omset.frame.data.cabang_id, 3);
  assert.ok(omset.frame.data.jumlah_transaksi >= 1);
  assert.equal(Number(omset.frame.data.omset_total), Number(omset.frame.data.omset_bpjs) + Number(omset.frame.data.omset_umum));
  await stream.waitMessage((f) => f.type === 'event' && f.event === 'pesanan.siap', { timeout: 30000, what: 'an order-ready notice for branch 3' });
  for (const m of stream.messages) {
    if (m.frame.type === 'event') assert.ok(['private-cabang.3', 'private-cabang.3.pesanan'].includes(m.frame.channel), m.frame.channel);
  }
  stream.close();
  const refused = await fetch(demo.url(`/sse?channel=private-cabang.7&token=${kasir.token}`));
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).reason, 'claim_mismatch');
});

test('approve: the other viewer gets dokumen.updated at once, the one who clicked does not (toOthers)', async () => {
  const andi = await login(demo, { role: 'staf', sub: 'u1' });
  const viewerA = makeEcho(demo);
  const viewerB = makeEcho(demo);
  const gotA = [];
  const gotB = [];
  const channelA = viewerA.channel('dokumen.5').listen('.dokumen.updated', (e) => gotA.push(e));
  const channelB = viewerB.channel('dokumen.5').listen('.dokumen.updated', (e) => gotB.push(e));
  // Listen for the subscription before anything is awaited: Echo calls back only on the event itself.
  const both = Promise.all([subscribed(channelA), subscribed(channelB)]);
  const socketA = await connected(viewerA);
  await connected(viewerB);
  await both;

  const list = await (await fetch(demo.url('/demo/dokumen'))).json();
  assert.ok(list.length >= 8);
  const answer = await post(demo, '/demo/dokumen/5/approve', { catatan: '<img src=x onerror=alert(1)>' },
    { Authorization: `Bearer ${andi.token}`, 'X-Socket-ID': socketA });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.status, 'approved');
  assert.equal(answer.body.approvals.at(-1).user.name, 'Andi Pratama');
  await waitUntil(() => gotB.some((e) => e.dokumen.id === 5 && e.dokumen.status === 'approved'), { timeout: 3000, what: 'B sees the approval' });
  assert.equal(gotB.at(-1).dokumen.approvals.at(-1).catatan, '<img src=x onerror=alert(1)>');
  await sleep(1000);
  assert.equal(gotA.filter((e) => e.dokumen.id === 5 && e.dokumen.status === 'approved').length, 0, 'the clicker got its own event');
  assert.equal((await (await fetch(demo.url('/demo/dokumen/5'))).json()).status, 'approved');
});

test('approve needs a valid bearer token; a forged one is refused', async () => {
  const none = await post(demo, '/demo/dokumen/1/reject', {});
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'token_required');
  const staf = await login(demo, { role: 'staf', sub: 'u3' });
  const forged = `${staf.token.slice(0, -4)}AAAA`;
  const refused = await post(demo, '/demo/dokumen/1/reject', {}, { Authorization: `Bearer ${forged}` });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, 'invalid_token');
  const missing = await post(demo, '/demo/dokumen/999/approve', {}, { Authorization: `Bearer ${staf.token}` });
  assert.equal(missing.status, 404);
});

test("presence: demo staff join a document's presence channel with their token; a cashier may not", async () => {
  const budi = await login(demo, { role: 'staf', sub: 'u2' });
  const authorize = async (token, socketId) => fetch(demo.url('/pusher/auth'), {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `socket_id=${socketId}&channel_name=presence-dokumen.3`,
  });
  const allowed = await authorize(budi.token, '1234.5678');
  assert.equal(allowed.status, 200);
  const body = await allowed.json();
  assert.equal(JSON.parse(body.channel_data).user_info.name, 'Budi Santoso');
  const kasir = await login(demo, { role: 'kasir', cabang: [3], name: 'Sari' });
  assert.equal((await authorize(kasir.token, '1234.5678')).status, 403);
});

test('scripts/run.sh with no command runs kabar demo: its own guarded broker, logins, traffic flowing', async () => {
  const dir = makeTempDir('kabar-e2e-run-demo-');
  const [port, brokerPort] = [await freePort(), await freePort()];
  const run = startChild('run.sh demo', path.join(KABAR_SOURCE_DIR, 'scripts/run.sh'),
    ['--port', String(port), '--broker-port', String(brokerPort), '--data-dir', path.join(dir, 'data'), '--sale-interval-ms', '100'], {
      env: { ...process.env, KABAR_RUN_SKIP_BUILD: '1', KABAR_BIN },
      logFile: path.join(dir, 'run.log'),
    });
  const node = { url: (p) => `http://127.0.0.1:${port}${p}` };
  await waitUntil(async () => {
    if (run.exited) throw new Error(`run.sh exited: ${run.tail(30)}`);
    try { return (await fetch(node.url('/readyz'))).status === 200; } catch { return false; }
  }, { timeout: 30000, what: 'run.sh demo ready' });
  assert.match(run.tail(40), /embedded mosquitto .* clients held to the policy by kabar_auth_plugin.so/);
  const admin = await login(node, { role: 'admin', cabang: [1, 2], name: 'Rina' });
  const stream = await SseClient.open(node.url(`/sse?channel=private-cabang.1.admin&channel=private-cabang.2.admin&token=${admin.token}`));
  await stream.waitMessage((f) => f.type === 'event' && f.event === 'transaksi.created', { timeout: 20000, what: 'a new transaction for the admin' });
  stream.close();
  // The README's publish commands work against it: kabar publish with the demo's key, mosquitto_pub with
  // a backend token minted from it.
  const doc = await SseClient.open(node.url('/sse?channel=dokumen.1'));
  const dataDir = path.join(dir, 'data');
  const cli = (args) => new Promise((resolve) => execFile(args[0], args.slice(1), { timeout: 15000 },
    (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr })));
  const published = await cli([KABAR_BIN, 'publish', '--data-dir', dataDir, '--channel', 'dokumen.1', '--event', 'dokumen.updated',
    '--data', '{"dokumen":{"id":1,"status":"readme-1"}}']);
  assert.equal(published.code, 0, published.stderr);
  const token = (await cli([KABAR_BIN, 'token', '--secret-file', path.join(dataDir, 'demo/jwt.secret'), '--sub', 'me', '--role', 'backend', '--ttl', '3600'])).stdout.trim();
  const pub = await cli(['mosquitto_pub', '-p', String(brokerPort), '-u', 'me', '-P', token, '-q', '1', '-t', 'dokumen/1/updated',
    '-m', '{"dokumen":{"id":1,"status":"readme-2"}}']);
  assert.equal(pub.code, 0, pub.stderr);
  await doc.waitMessage((f) => f.type === 'event' && f.data.dokumen.status === 'readme-2', { timeout: 10000, what: 'the mosquitto_pub event' });
  assert.deepEqual(doc.events('dokumen.1').map((m) => m.frame.data.dokumen.status).filter((x) => x.startsWith('readme')), ['readme-1', 'readme-2']);
  doc.close();
  assert.deepEqual(await run.stop('SIGTERM', 15000), { code: 0, signal: null });
});
