// A real browser: headless Chromium (driven by playwright-core) opens kabar's demo page and a native
// EventSource and WebSocket in that page receive a published event. Skipped, with the reason, when
// /usr/bin/chromium is not installed (the project's setup script installs it; this test never does).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { before, test } from 'node:test';
import { Kabar, requireKabarBinary, startMosquitto, track, useHarness, withTimeout } from './lib/harness.mjs';
import { mqttConnect, publish } from './lib/clients.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium); browser test skipped`;
if (skip) process.stderr.write(`browser.test.mjs: ${skip}\n`);

useHarness();

let broker;
let kabar;
let mq;
let browser;

before(async () => {
  if (skip) return;
  requireKabarBinary();
  broker = await startMosquitto();
  kabar = await Kabar.create({ mqttPort: broker.port });
  await kabar.start();
  mq = await mqttConnect(broker.port);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
  track({ close: () => browser.close() });
});

test('headless Chromium: demo page loads; EventSource and WebSocket in the page receive a published event', { skip, timeout: 90000 }, async () => {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const response = await page.goto(kabar.url('/console.html'), { timeout: 15000 });
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'] || '', /^text\/html/);

  // Open the browser's own EventSource and WebSocket from the kabar origin.
  await page.evaluate(() => {
    window.__sse = [];
    window.__ws = [];
    window.__sseOpen = new Promise((resolve) => {
      const es = new EventSource('/sse?channel=dokumen.7');
      es.onopen = () => resolve(true);
      es.onmessage = (m) => window.__sse.push({ data: JSON.parse(m.data), lastEventId: m.lastEventId });
    });
    window.__wsReady = new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      ws.onmessage = (m) => {
        const frame = JSON.parse(m.data);
        window.__ws.push(frame);
        if (frame.type === 'subscribed') resolve(true);
      };
      ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'dokumen.7' }));
    });
  });
  await withTimeout(page.evaluate(() => Promise.all([window.__sseOpen, window.__wsReady])), 10000, 'EventSource open and WebSocket subscribed in the page');

  const data = { dokumen: { id: 7, status: 'browser' } };
  await publish(mq, 'dokumen/7/updated', { id: 'br-1', event: 'dokumen.updated', data });
  await page.waitForFunction(() => window.__sse.some((m) => m.data.id === 'br-1') && window.__ws.some((f) => f.id === 'br-1'), null, { timeout: 10000 });
  const { sse, ws } = await page.evaluate(() => ({ sse: window.__sse, ws: window.__ws }));
  const fromSse = sse.find((m) => m.data.id === 'br-1');
  const fromWs = ws.find((f) => f.id === 'br-1');
  assert.deepEqual(fromSse.data, fromWs);
  assert.equal(fromSse.lastEventId, fromWs.position);
  assert.deepEqual(fromWs.data, data);
  assert.equal(ws[0].type, 'welcome');
  assert.deepEqual(pageErrors, [], 'the demo page runs without script errors');
  await page.close();
});
