// Headless Chromium for the tests of the demo apps (apps_*.test.mjs): launched as browser.test.mjs does
// (playwright-core, /usr/bin/chromium), closed by the harness's after() even when a test fails. Pages get
// an init script that records, from the first byte of the document, every toast shown (they disappear
// after a few seconds) and every value the connection indicator takes (data-testid="status"), with the
// time, so a test can assert on what happened and when, not only on what is on screen now. Every wait
// has a timeout and its error says what the page showed.
import fs from 'node:fs';
import { track } from './harness.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// false, or the reason every browser test of a file is skipped.
export function chromiumSkipReason(file) {
  if (fs.existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is not installed (apt-get install chromium); ${file} skipped`;
  process.stderr.write(`${file}: ${reason}\n`);
  return reason;
}

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
  track({ close: () => browser.close().catch(() => {}) });
  return browser;
}

// Starts (or restarts) `kabar demo` and checks that its /demo/ API answers, not only /readyz: a demo whose
// request thread has stopped answers no /demo/ request at all, and every page of the apps would wait in
// vain. (It did, in most starts of `kabar demo --no-traffic`, until DemoService took its own work guard
// before dropping the start-up one: gateway/demo/demo_service.cpp.)
export async function startDemo(kabar) {
  await kabar.start();
  const answer = await kabar.get('/demo/users', { timeout: 3000 }).catch((error) => ({ status: error.name }));
  if (answer.status !== 200) {
    throw new Error(`kabar demo is ready (/readyz) but GET /demo/users -> ${answer.status}: its DemoService thread is not `
      + 'running (see the work guards in gateway/demo/demo_service.cpp)');
  }
}

// Runs in every document before the page's scripts.
function recorder() {
  window.__toasts = []; // {at, title, message}
  window.__statuses = []; // {at, status}
  const seenToasts = new WeakSet();
  const scan = () => {
    for (const el of document.querySelectorAll('[data-testid="toast"]')) {
      if (seenToasts.has(el)) continue;
      seenToasts.add(el);
      window.__toasts.push({
        at: Date.now(),
        title: el.querySelector('[data-testid="toast-title"]')?.textContent ?? '',
        message: el.querySelector('[data-testid="toast-message"]')?.textContent ?? '',
      });
    }
    const status = document.querySelector('[data-testid="status"]');
    const value = status?.dataset.status;
    const last = window.__statuses[window.__statuses.length - 1];
    if (value && (!last || last.status !== value)) window.__statuses.push({ at: Date.now(), status: value });
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-status'] });
}

// A fresh context (its own localStorage and sessionStorage: one user) and page. Page errors are kept
// in page.errors; the default timeout of every Playwright action is 10 s.
export async function newAppPage(browser, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(10000);
  context.setDefaultNavigationTimeout(15000);
  await context.addInitScript(recorder);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(error.message));
  return page;
}

// What the page shows that matters when a wait fails: status, toasts, problem cards, errors.
export async function describePage(page) {
  try {
    const seen = await page.evaluate(() => ({
      url: location.href,
      status: document.querySelector('[data-testid="status"]')?.dataset.status,
      statuses: window.__statuses?.map((s) => s.status).join(' > '),
      toasts: window.__toasts?.map((t) => `${t.title}: ${t.message}`),
      problem: document.querySelector('[data-testid="problem"]')?.textContent,
      text: document.body?.innerText.slice(0, 600),
    }));
    return `${JSON.stringify(seen)}; page errors: ${JSON.stringify(page.errors)}`;
  } catch (error) {
    return `(page not readable: ${error.message})`;
  }
}

// page.waitForFunction with a timeout and an error that says what was awaited and what the page showed.
export async function waitPage(page, fn, arg, { timeout = 10000, what = 'a condition in the page', polling } = {}) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, ...(polling ? { polling } : {}) });
    const value = await handle.jsonValue().catch(() => undefined);
    await handle.dispose().catch(() => {});
    return value;
  } catch (error) {
    throw new Error(`${what}: ${error.message.split('\n')[0]}\npage: ${await describePage(page)}`);
  }
}

// Waits until [data-testid=testid] carries data-<attr> = value (the first such element).
export function waitTestIdAttr(page, testid, attr, value, options = {}) {
  return waitPage(page, ([t, a, v]) => document.querySelector(`[data-testid="${t}"]`)?.dataset[a] === v,
    [testid, attr, value], { what: `[data-testid=${testid}] data-${attr}="${value}"`, ...options });
}

export const waitStatus = (page, status, options = {}) => waitTestIdAttr(page, 'status', 'status', status, options);

// Texts of every element with this test id, in document order.
export function texts(page, testid) {
  return page.evaluate((t) => [...document.querySelectorAll(`[data-testid="${t}"]`)].map((el) => el.textContent), testid);
}

export const statuses = (page) => page.evaluate(() => window.__statuses.map((s) => s.status));
export const toasts = (page) => page.evaluate(() => window.__toasts);

// The XSS probe of the event data tests: shown as text, never parsed as markup.
export const XSS = '<img src=x onerror=window.__xss=1>';

// In the page: no <img> whose src is the probe's, and the probe's handler never ran.
export function xssFootprint(page) {
  return page.evaluate(() => ({
    images: [...document.querySelectorAll('img')].filter((img) => img.getAttribute('src') === 'x').length,
    xss: typeof window.__xss,
  }));
}
