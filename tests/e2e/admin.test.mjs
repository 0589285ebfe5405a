// The operator's page (docs/operations.md "The operator's page"): /admin/ in headless Chromium against
// two real kabar nodes on one mosquitto, with real clients on each (EventSource, ws). A super admin's
// token (the role the built-in policy grants `admin`) shows both nodes' connections per door, the
// channels with their subscribers, a dead letter provoked by bad input with its reason, the store's
// head and retention, and publishes a test event that subscribers on both nodes receive (it went
// through the broker). A cashier's token is refused, by the API (401/403) and on the page.
// KABAR_SCREENSHOTS=<dir> saves <dir>/admin.png of the page (docs/screenshots/admin.png) and
// <dir>/admin-refused.png of the cashier's refusal.
// Skipped, with the reason, when /usr/bin/chromium is not installed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { Kabar, requireKabarBinary, runKabar, startMosquitto, useHarness, waitUntil } from './lib/harness.mjs';
import { SseClient, WsClient, mqttConnect, publish } from './lib/clients.mjs';
import { XSS, chromiumSkipReason, launchChromium, newAppPage, texts, waitPage, xssFootprint } from './lib/browser.mjs';

const skip = chromiumSkipReason('admin.test.mjs');

useHarness();

const CHANNEL = `admin-e2e-${process.pid}.orders`;
const OTHER_CHANNEL = `admin-e2e-${process.pid}.stock`;
const BAD_TOPIC = `kabar/c/admin-e2e-${process.pid}.bad`;

let broker;
let a; // the node whose page is opened
let b; // the other node on the broker
let browser;
let tokens;

before(async () => {
  if (skip) return;
  requireKabarBinary();
  broker = await startMosquitto();
  a = await Kabar.create({ mqttPort: broker.port, operator: true });
  // The same key, so one token works at both nodes, as behind a load balancer.
  b = await Kabar.create({ mqttPort: broker.port, config: { auth: { jwt: { secret_file: a.config.auth.jwt.secret_file } } } });
  await Promise.all([a.start(), b.start()]);
  tokens = {
    admin: await a.token({ sub: 'ops-ani', role: 'super_admin' }),
    cashier: await a.token({ sub: 'kasir-1', role: 'kasir', cabang: 3 }),
  };
  browser = await launchChromium();
}, { timeout: 120000 });

async function call(node, p, { token, method = 'GET', body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(node.url(p), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, authenticate: res.headers.get('www-authenticate') };
}

async function signIn(page, node, token) {
  await page.goto(node.url('/admin'));
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
}

// The number in the door cell of a row scope: 'node' (this node's row), 'other' or 'cluster'.
const doorCount = (page, scope, door) => page.evaluate(([s, d]) => {
  const cell = document.querySelector(`[data-testid="door-count"][data-scope="${s}"][data-door="${d}"]`);
  return cell ? Number(cell.textContent.replace(/,/g, '')) : null;
}, [scope, door]);

async function waitDoor(page, scope, door, value, what) {
  await waitPage(page, ([s, d, v]) => {
    const cell = document.querySelector(`[data-testid="door-count"][data-scope="${s}"][data-door="${d}"]`);
    return cell && Number(cell.textContent.replace(/,/g, '')) === v;
  }, [scope, door, value], { timeout: 15000, what });
}

test('without the admin grant the API and the page refuse', { skip, timeout: 60000 }, async () => {
  const none = await call(a, '/api/admin/overview');
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'token_required');
  assert.match(none.authenticate, /^Bearer/);
  const forged = await call(a, '/api/admin/overview', { token: `${tokens.admin.slice(0, -4)}AAAA` });
  assert.equal(forged.status, 401);
  assert.equal(forged.body.error, 'invalid_token');
  const cashier = await call(a, '/api/admin/overview', { token: tokens.cashier });
  assert.equal(cashier.status, 403);
  assert.equal(cashier.body.error, 'forbidden');
  assert.equal(cashier.body.reason, 'role_not_allowed');
  const publishing = await call(a, '/api/admin/publish', { method: 'POST', token: tokens.cashier, body: { channel: CHANNEL, event: 'x', data: {} } });
  assert.equal(publishing.status, 403);
  // A cookie is no credential here (only the Authorization header).
  const cookie = await fetch(a.url('/api/admin/overview'), { headers: { cookie: `kabar_token=${tokens.admin}` }, signal: AbortSignal.timeout(5000) });
  assert.equal(cookie.status, 401);

  // The same decision, explained: `kabar authz explain --admin` (exit 0 allowed, 1 refused).
  const explain = (token) => runKabar(['authz', 'explain', '--secret-file', a.config.auth.jwt.secret_file, '--admin', token]);
  const refusedExplained = await explain(tokens.cashier);
  assert.equal(refusedExplained.status, 1, refusedExplained.stdout);
  assert.match(refusedExplained.stdout, /REFUSED \(role_not_allowed\): role kasir may not open the operator's page/);
  const allowedExplained = await explain(tokens.admin);
  assert.equal(allowedExplained.status, 0, allowedExplained.stdout);
  assert.match(allowedExplained.stdout, /rule operator \(allow\): grants admin; applies -> ALLOW/);

  const page = await newAppPage(browser);
  await signIn(page, a, tokens.cashier);
  await waitPage(page, () => document.querySelector('[data-testid="refusal"]')?.dataset.status === '403', null, { what: 'the refusal card' });
  const [message] = await texts(page, 'refusal-message');
  assert.match(message, /operator's page/);
  assert.equal(await page.getByTestId('overview').count(), 0, 'no figures for a cashier');
  if (process.env.KABAR_SCREENSHOTS) await page.screenshot({ path: path.join(process.env.KABAR_SCREENSHOTS, 'admin-refused.png') });
  // Another token: back to the sign-in form, nothing kept.
  await page.getByTestId('btn-other-token').click();
  await page.getByTestId('signin-token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('kabar.admin.token')), null);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an admin sees both nodes, the channels, a dead letter and the store, and publishes a test event', { skip, timeout: 90000 }, async () => {
  // Real clients: on node a two EventSources and a ws, on node b one of each, all on CHANNEL.
  const sseUrl = (node) => node.url(`/sse?channel=${encodeURIComponent(CHANNEL)}`);
  const onA = [await SseClient.open(sseUrl(a)), await SseClient.open(sseUrl(a))];
  const wsA = await WsClient.connect(a.wsUrl);
  await wsA.subscribe(CHANNEL);
  await wsA.subscribe(OTHER_CHANNEL);
  const onB = await SseClient.open(sseUrl(b));
  const wsB = await WsClient.connect(b.wsUrl);
  await wsB.subscribe(CHANNEL);
  // Bad input: not an envelope, and a payload that is markup.
  const mq = await mqttConnect(broker.port);
  await publish(mq, `${BAD_TOPIC}.shape`, { hello: 'no id, no event' });
  await publish(mq, BAD_TOPIC, `not json ${XSS}`);
  await waitUntil(async () => (await a.deadLetters(5)).some((l) => l.topic === BAD_TOPIC), { timeout: 10000, what: 'the dead letter stored on a' });

  const page = await newAppPage(browser, { viewport: { width: 1360, height: 1100 } });
  await signIn(page, a, tokens.admin);
  await page.getByTestId('overview').waitFor();

  // This node, the other one, and the cluster's sum (b's figures come in its snapshot on the broker).
  await waitDoor(page, 'node', 'sse', 2, "a's two EventSources");
  await waitDoor(page, 'node', 'ws', 1, "a's ws");
  await waitDoor(page, 'other', 'sse', 1, "b's EventSource");
  await waitDoor(page, 'other', 'ws', 1, "b's ws");
  await waitDoor(page, 'cluster', 'sse', 3, 'the cluster\'s EventSources');
  await waitDoor(page, 'cluster', 'ws', 2, 'the cluster\'s ws');
  const rows = await page.evaluate(() => [...document.querySelectorAll('[data-testid="node-row"]')].map((r) => [r.dataset.node, r.dataset.self]));
  assert.deepEqual(rows.map(([, self]) => self).sort(), ['false', 'true']);
  assert.ok(rows.some(([node]) => node === b.config.broker.client_id), `b is listed: ${JSON.stringify(rows)}`);

  // The page refreshes by itself: one more ws on a shows without a reload.
  const wsA2 = await WsClient.connect(a.wsUrl);
  await waitDoor(page, 'node', 'ws', 2, 'a second ws on a, after a refresh');

  // Channels with their subscribers on this node, every door.
  await waitPage(page, (c) => document.querySelector(`[data-testid="channel-row"][data-channel="${c}"]`)?.dataset.subscribers === '3',
    CHANNEL, { what: `${CHANNEL} with 3 subscribers on a` });
  assert.equal(await page.getByTestId('channels-total').textContent(), '2');

  // The dead letter with its reason, the markup shown as text.
  const letter = page.locator('[data-testid="dead-letter"]', { has: page.locator(`[data-testid="dead-letter-topic"]:text-is("${BAD_TOPIC}")`) });
  await letter.first().waitFor();
  const reason = await letter.first().getByTestId('dead-letter-reason').textContent();
  assert.match(reason, /\S/, 'a reason is shown');
  assert.match(await letter.first().getByTestId('dead-letter-payload').textContent(), /<img src=x onerror=/);
  assert.deepEqual(await xssFootprint(page), { images: 0, xss: 'undefined' });

  // The store: head and retention.
  const head = Number((await page.getByTestId('store-head').textContent()).replace(/,/g, ''));
  const overview = await call(a, '/api/admin/overview', { token: tokens.admin });
  assert.equal(overview.status, 200);
  assert.ok(head <= overview.body.store.head_seq, `the page's head ${head} is at most the store's ${overview.body.store.head_seq}`);
  assert.match(await page.getByTestId('store-retention').textContent(), /7 days · 10,000 events per channel/);

  // The test event: through the broker, so the subscribers of both nodes receive it.
  await page.getByTestId('publish-channel').fill(CHANNEL);
  await page.getByTestId('publish-event').fill('ops.check');
  await page.getByTestId('publish-data').fill(JSON.stringify({ n: 42, note: XSS }));
  await page.getByTestId('publish-submit').click();
  await waitPage(page, () => document.querySelector('[data-testid="publish-result"]')?.dataset.state === 'ok', null, { what: 'the publish result' });
  for (const client of [...onA, onB]) {
    const got = await client.waitMessage((f) => f.type === 'event' && f.event === 'ops.check', { timeout: 10000, what: 'the test event' });
    assert.deepEqual(got.frame.data, { n: 42, note: XSS });
    assert.equal(got.frame.channel, CHANNEL);
  }
  await wsB.waitFrame((f) => f.type === 'event' && f.event === 'ops.check', { timeout: 10000, what: 'the test event on b\'s ws' });
  // The store head moved past it, and the page shows it on its next refresh.
  await waitPage(page, (h) => Number(document.querySelector('[data-testid="store-head"]').textContent.replace(/,/g, '')) > h, head,
    { what: 'the store head after the test event' });

  // Bad input in the form: a clear error, nothing published.
  await page.getByTestId('publish-channel').fill('no spaces allowed');
  await page.getByTestId('publish-submit').click();
  await waitPage(page, () => document.querySelector('[data-testid="publish-result"]')?.dataset.state === 'error', null, { what: 'the refusal of a bad channel' });
  assert.match(await page.getByTestId('publish-result').textContent(), /channel/i);

  if (process.env.KABAR_SCREENSHOTS) {
    await page.getByTestId('publish-channel').fill(CHANNEL);
    await page.evaluate(() => { document.querySelector('[data-testid="publish-result"]').hidden = true; });
    await page.screenshot({ path: path.join(process.env.KABAR_SCREENSHOTS, 'admin.png'), fullPage: true });
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
  for (const client of [...onA, onB]) client.close();
  for (const ws of [wsA, wsA2, wsB]) ws.close?.();
});
