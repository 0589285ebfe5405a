// kabar.js in a real browser: headless Chromium (playwright-core from tests/e2e), in a document of the kabar
// origin, uses kabar.js with no options but the transport: the browser's own EventSource, WebSocket,
// localStorage, document and window. Events arrive; after a reload the page resumes from the positions
// in localStorage (nothing again, nothing missed), and it never falls back (the status says how it got
// there). Skipped, with the reason, without /usr/bin/chromium.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Kabar as KabarNode, requireKabarBinary, startMosquitto, track, useHarness } from '../../../tests/e2e/lib/harness.mjs';
import { mqttConnect, publish } from '../../../tests/e2e/lib/clients.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed; kabar.js browser test skipped`;
if (skip) process.stderr.write(`browser.test.mjs: ${skip}\n`);

useHarness();

let broker;
let node;
let mq;
let browser;

// The "page": a document of the kabar origin (its /healthz answer: loopback, so Chromium's local network
// access checks let its WebSocket through, which they do not for a page made up by interception) that
// imports kabar.js from a blob: URL and uses it with no options but the transport.
const KABAR_JS = fs.readFileSync(path.join(HERE, '../kabar.js'), 'utf8');
async function boot(page, transport) {
  await page.evaluate(async ([source, t]) => {
    const { Kabar } = await import(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    window.__got = [];
    window.__status = [];
    window.__detail = [];
    const kabar = new Kabar({ transport: t });
    kabar.onStatus((s, d) => { window.__status.push(s); window.__detail.push(JSON.stringify(d)); });
    kabar.subscribe(`kjs.browser.${t}`, { since: 'earliest', onEvent: (e) => window.__got.push(e.id) });
    window.__kabar = kabar;
  }, [KABAR_JS, transport]);
}

before(async () => {
  if (skip) return;
  requireKabarBinary();
  broker = await startMosquitto();
  node = await KabarNode.create({ mqttPort: broker.port });
  await node.start();
  mq = await mqttConnect(broker.port);
  const { chromium } = createRequire(path.resolve(HERE, '../../../tests/e2e/package.json'))('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
  track({ close: () => browser.close() });
});

after(async () => {
  await browser?.close();
  mq?.end(true);
  await node?.kill();
  await broker?.stop('SIGKILL');
});

for (const transport of ['sse', 'ws']) {
  test(`Chromium, /${transport}: events arrive; a reload resumes from localStorage, each event once`, { skip, timeout: 60000 }, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (m) => {
      // kabar.js warns through console.warn; a refused WebSocket shows as an error (the favicon's 404 too)
      if ((m.type() === 'warning' || m.type() === 'error') && !/favicon/.test(m.location().url)) errors.push(m.text());
    });
    const load = async (how) => {
      await how();
      await boot(page, transport);
    };
    const channel = `kjs.browser.${transport}`;
    const pub = (i) => publish(mq, `kabar/c/${channel}`, { id: `w${transport}-${i}`, event: 'kjs.test', data: { i } });
    const ids = (from, to) => Array.from({ length: to - from }, (_, i) => `w${transport}-${from + i}`);
    const live = () => page.waitForFunction(() => window.__kabar?.status === 'live', null, { timeout: 10000 });
    const got = (n) => page.waitForFunction((count) => window.__got.length >= count, n, { timeout: 10000 });

    await load(() => page.goto(node.url('/healthz')));
    await live();
    for (let i = 0; i < 5; i++) await pub(i);
    await got(5);
    assert.deepEqual(await page.evaluate(() => window.__got), ids(0, 5));
    const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('kabar:')));
    assert.ok(stored.includes(`kabar:${channel}`), `positions in localStorage: ${stored}`);

    // away from the page while 5..7 are published; then the page is loaded again
    await page.goto('about:blank');
    for (let i = 5; i < 8; i++) await pub(i);
    await load(() => page.goto(node.url('/healthz')));
    await live();
    for (let i = 8; i < 10; i++) await pub(i);
    await got(5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await page.evaluate(() => window.__got), ids(5, 10), 'after the reload: from the stored position, once each');
    // and a plain reload while live: nothing is delivered twice
    await load(() => page.reload());
    await live();
    await pub(10);
    await got(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await page.evaluate(() => window.__got), ids(10, 11));
    assert.deepEqual(await page.evaluate(() => window.__status), ['connecting', 'live'], await page.evaluate(() => window.__detail.join(' ')));
    assert.equal(await page.evaluate(() => JSON.parse(window.__detail.at(-1)).transport), transport);
    assert.deepEqual(errors, []);
    await page.close();
  });
}
