// What the browser tests share: the demo page served by a local static
// server, the Worker under workerd allowing that origin, and headless
// Chromium (Debian's chromium, driven by playwright-core).
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';
import { startWorker } from '../e2e/harness.mjs';
import { startStatic } from '../../wasm-client/demo/serve.mjs';

/** Headless Debian chromium. */
export function launchChromium() {
  // playwright-core gives every launch a new empty --user-data-dir of its
  // own (it refuses the flag in `args`).
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Starts all three; `vars` are extra Worker vars. Stop with `stop()`. */
export async function startDemo(vars = {}) {
  // The static server's origin must be allowed by CORS: start it first
  // on a known port, then the Worker with that origin.
  const web = await startStatic({ server: null });
  const worker = await startWorker({
    vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url'), ALLOWED_ORIGINS: web.url, ...vars },
  });
  web.setServer(worker.url);
  const browser = await launchChromium();

  /**
   * A demo device page in `context`, ready. Keeps the page's uncaught
   * errors (`errors`), counts its token refreshes (`refreshes`), and
   * collects what its client reports as errors in `window.clientErrors`.
   * `query` is appended to the page's URL (e.g. `&server=...`).
   */
  async function openDevice(context, name, query = '') {
    const page = await context.newPage();
    const d = { name, context, page, errors: [], refreshes: 0 };
    page.on('pageerror', (e) => d.errors.push(e));
    page.on('request', (r) => { if (r.url().endsWith('/auth/refresh')) d.refreshes += 1; });
    await page.goto(`${web.url}/device.html?name=${name}${query}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.evaluate(() => {
      window.clientErrors = [];
      window.demo.client.on('error', (e) => window.clientErrors.push(`${e?.code ?? ''} ${e?.message ?? e}`));
    });
    return d;
  }

  async function stop() {
    await browser.close();
    await web.close();
    await worker.stop();
  }

  return { browser, openDevice, stop };
}
