// The React bindings (@myflashplay/sync-client/react) in a small React app
// (tests/browser/react-app, React from npm, bundled here with esbuild),
// two devices in headless Chromium against the Worker under workerd:
// device A used logged out (a deck created, a setting changed), signs in
// and everything migrates; device B signs in and shows it; A offline, both
// edit the deck and change different preferences, A back: both show the
// merged markdown, the same card ids and both preferences; the chip says
// "synced, 0 pending" on both from events alone; a played game fills
// progress on both; sign-out keeps the app working locally, and a second
// account on that device does not receive its logged-out data. A second
// tab shares logged-out writes and follows the sign-in and the sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import { root, startWorker } from '../e2e/harness.mjs';
import { launchChromium } from './demo-env.mjs';

const pkg = path.join(root, 'wasm-client', 'pkg');
const appDir = path.join(root, 'tests', 'browser', 'react-app');
const samples = JSON.parse(fs.readFileSync(path.join(root, 'fixtures', 'app', 'sample-decks.json'), 'utf8'));
let env;

/** The app bundled (the built package, React from node_modules). */
async function bundle() {
  const out = await build({
    entryPoints: [path.join(appDir, 'app.jsx')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    external: ['node:*'],
    alias: { '@myflashplay/sync-client/react': path.join(pkg, 'react', 'index.js') },
    logLevel: 'error',
  });
  return out.outputFiles[0].contents;
}

/** index.html, app.js, the package's wasm under /core/, and /config.json. */
function serve(appJs, config) {
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (type, body) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    if (url.pathname === '/' || url.pathname === '/index.html') {
      send('text/html; charset=utf-8', fs.readFileSync(path.join(appDir, 'index.html')));
    } else if (url.pathname === '/app.js') {
      send('text/javascript; charset=utf-8', appJs);
    } else if (url.pathname === '/config.json') {
      send('application/json', JSON.stringify(config()));
    } else if (/^\/core\/[\w.-]+$/.test(url.pathname)) {
      const file = path.join(pkg, url.pathname);
      if (!fs.existsSync(file)) return res.writeHead(404).end();
      send(file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', fs.readFileSync(file));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${srv.address().port}`,
    close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  })));
}

before(async () => {
  let server = null;
  const web = await serve(await bundle(), () => ({ server, samples }));
  const worker = await startWorker({
    vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url'), ALLOWED_ORIGINS: web.url },
  });
  server = worker.url;
  const browser = await launchChromium();
  env = { web, worker, browser };
});
after(async () => {
  await env?.browser.close();
  await env?.web.close();
  await env?.worker.stop();
});

const t0 = Date.now();
const step = (what) => console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);

async function device(name) {
  const context = await env.browser.newContext({ viewport: { width: 800, height: 900 } });
  const page = await context.newPage();
  const d = { name, context, page, errors: [] };
  page.on('pageerror', (e) => d.errors.push(e));
  await page.goto(env.web.url);
  await page.waitForSelector('main[data-ready="true"]', { timeout: 30_000 });
  return d;
}

const chip = (d) => d.page.textContent('#chip');
const chipSays = (d, text, timeout = 30_000) => d.page.waitForFunction(
  (t) => document.getElementById('chip')?.textContent === t, text, { timeout },
).catch(async (e) => {
  throw new Error(`${d.name}: chip "${await chip(d)}" (last error: ${await d.page.textContent('#last-error')}): ${e.message}`);
});
const ls = (d, key) => d.page.evaluate((k) => localStorage.getItem(k), key);
const prefsShown = (d) => d.page.textContent('#prefs').then(JSON.parse);
const deckOf = (d, id) => d.page.evaluate((i) => window.app.store.client.deck(i) ?? null, id);
const open = (d, id) => d.page.click(`li[data-deck="${id}"] button`);
async function signIn(d, email, button = '#sign-in') {
  await d.page.fill('#email', email);
  await d.page.click(button);
  await d.page.waitForSelector('#user', { timeout: 30_000 });
}

test('React bindings: logged-out use migrates on sign-in, two devices merge, events drive the chip, sign-out falls back', async () => {
  const email = `react.${Date.now()}@example.com`;
  const a = await device('A');

  // A, logged out: the app's first run, as the app writes it.
  assert.equal(await chip(a), 'signed-out, 0 pending');
  assert.equal(await a.page.locator('#decks li').count(), samples.length, 'the samples while nothing is listed');
  assert.equal(await ls(a, 'mdoc_math-basics'), samples[0].markdown);
  assert.equal(await ls(a, 'mdoc_index'), null, 'samples stay unindexed, as the app leaves them');
  await a.page.click('#create');
  await a.page.waitForSelector('#editor');
  const deckId = await a.page.getAttribute('#editor', 'data-deck');
  await a.page.click('#lang-vi');
  assert.equal(await ls(a, `mdoc_${deckId}`), 'Cat :: Meow\nDog :: Woof\n');
  const index = JSON.parse(await ls(a, 'mdoc_index'));
  assert.deepEqual(index.map((e) => [e.id, e.name, e.emoji]), [[deckId, 'My Animals', '🐶']]);
  assert.equal(JSON.parse(await ls(a, 'myflashplay_preferences')).language, 'vi-VI');
  assert.deepEqual((await a.page.$$eval('#decks li', (l) => l.map((x) => x.dataset.deck))), [deckId]);

  // A second tab of A, logged out too: what it writes shows in the first (the storage event).
  const a2 = await a.context.newPage();
  await a2.goto(env.web.url);
  await a2.waitForSelector('main[data-ready="true"]', { timeout: 30_000 });
  await a2.fill('#new-name', 'From tab two');
  await a2.click('#create');
  await a2.waitForSelector('#editor');
  const tabDeckId = await a2.getAttribute('#editor', 'data-deck');
  await a.page.waitForSelector(`li[data-deck="${tabDeckId}"]`, { timeout: 10_000 });
  step('A registers: everything mig');
  // A registers: everything migrates, sync starts without a reload.
  await signIn(a, email, '#register');
  await chipSays(a, 'synced, 0 pending');
  assert.equal(await ls(a, 'myflashplay-sync:migrated') !== null, true);
  // The open second tab follows the sign-in (its own client, the stored session).
  await a2.waitForFunction((e) => document.getElementById('user')?.textContent === e, email, { timeout: 15_000 });
  await a2.waitForFunction(() => document.getElementById('chip').textContent === 'synced, 0 pending', null, { timeout: 30_000 });
  await a2.close();

  step('B: logged out first');
  // B: logged out first (its own first run), then signs in and shows A's data.
  const b = await device('B');
  await b.page.fill('#email', email);
  const login = {};
  b.page.on('request', (r) => { if (r.url().endsWith('/auth/login')) login.sent = Date.now(); });
  b.page.on('requestfinished', (r) => { if (r.url().endsWith('/auth/login')) login.done = Date.now(); });
  const t0 = Date.now();
  await b.page.click('#sign-in');
  await b.page.waitForSelector(`li[data-deck="${deckId}"]`, { timeout: 30_000 });
  const deckShownMs = Date.now() - t0;
  await chipSays(b, 'synced, 0 pending');
  const firstSyncMs = Date.now() - t0;
  console.log(`# sign-in click → A's deck shown and "synced, 0 pending" on B: ${firstSyncMs} ms (prehash included): `
    + `prehash ${login.sent - t0} ms, POST /auth/login ${login.done - login.sent} ms, then migration and sync ${t0 + firstSyncMs - login.done} ms (deck shown at ${deckShownMs} ms)`);
  assert.equal((await prefsShown(b)).language, 'vi-VI');
  await b.page.waitForSelector(`li[data-deck="${tabDeckId}"]`, { timeout: 10_000 });
  assert.equal(await ls(b, `mdoc_${deckId}`), 'Cat :: Meow\nDog :: Woof\n', 'the app\'s own key on B');
  assert.equal(JSON.parse(await ls(b, 'myflashplay_preferences')).language, 'vi-VI');

  step('A offline; both edit');
  // A offline; both edit the deck (as the edit page) and change different preferences.
  await a.context.setOffline(true);
  await a.page.waitForSelector('#chip[data-status="offline"]', { timeout: 10_000 });
  await open(a, deckId);
  await open(b, deckId);
  await a.page.fill('#md', 'Cat :: Meow\nDog :: Woof\nPig :: Oink\n');
  await a.page.click('#save');
  await b.page.fill('#md', 'Horse :: Neigh\nCat :: Meow\nDog :: Woof\n');
  await b.page.click('#save');
  await a.page.click('#sound-off');
  await b.page.click('#font-large');
  await a.page.waitForFunction(() => /^offline, [1-9]\d* pending$/.test(document.getElementById('chip').textContent));
  await chipSays(b, 'synced, 0 pending');
  assert.ok(!(await deckOf(b, deckId)).markdown.includes('Pig'), 'an offline device sends nothing');

  step('A back: both converge');
  // A back: both converge, in the hooks, in the app's localStorage, on screen.
  await a.context.setOffline(false);
  const merged = 'Horse :: Neigh\nCat :: Meow\nDog :: Woof\nPig :: Oink\n';
  for (const d of [a, b]) {
    await d.page.waitForFunction((md) => document.getElementById('shown-md')?.textContent === md, merged, { timeout: 30_000 })
      .catch(async (e) => { throw new Error(`${d.name}: ${JSON.stringify(await d.page.textContent('#shown-md'))} ${e.message}`); });
    await chipSays(d, 'synced, 0 pending');
  }
  for (const d of [a, b]) {
    await d.page.waitForFunction(() => {
      const p = JSON.parse(document.getElementById('prefs').textContent);
      return p.soundEnabled === false && p.fontSize === 'large';
    }, null, { timeout: 15_000 });
    const stored = JSON.parse(await ls(d, 'myflashplay_preferences'));
    assert.deepEqual([stored.soundEnabled, stored.fontSize, stored.language], [false, 'large', 'vi-VI']);
    assert.equal(await ls(d, `mdoc_${deckId}`), merged);
  }
  const [cardsA, cardsB] = await Promise.all([a, b].map((d) => d.page.$$eval('#cards li', (l) => l.map((x) => [x.dataset.card, x.textContent.split(' · ')[0]]))));
  assert.deepEqual(cardsA, cardsB);
  assert.deepEqual(cardsA.map(([, t]) => t), ['Horse / Neigh', 'Cat / Meow', 'Dog / Woof', 'Pig / Oink']);
  assert.deepEqual(cardsA.map(([id]) => id), (await deckOf(a, deckId)).cards.map((c) => c.id));

  step('A plays (the play page');
  // A plays (the play page writes myflashplay_sessions itself): progress on both.
  await a.page.click('#play');
  const horse = cardsA[0][0];
  for (const d of [a, b]) {
    await d.page.waitForSelector(`li[data-card="${horse}"]:has-text("views 1")`, { timeout: 30_000 });
    await chipSays(d, 'synced, 0 pending');
  }
  // B's localStorage holds them too, where the app reads them.
  await b.page.waitForFunction((card) => JSON.parse(localStorage.getItem('myflashplay_sessions') ?? '[]').length === 1
    && JSON.parse(localStorage.getItem('myflashplay_progress') ?? '{}').cardProgress?.[card]?.stats.views === 1,
  horse, { timeout: 15_000 });

  step('B signs out:');
  // B signs out: the account's copy leaves B; the app works logged out.
  const b2 = await b.context.newPage();
  await b2.goto(env.web.url);
  await b2.waitForSelector(`li[data-deck="${deckId}"]`, { timeout: 30_000 });
  await b.page.click('#sign-out');
  await chipSays(b, 'signed-out, 0 pending');
  // B's other tab follows the sign-out.
  await b2.waitForFunction(() => document.getElementById('chip').textContent === 'signed-out, 0 pending', null, { timeout: 15_000 });
  assert.equal(await b2.locator(`li[data-deck="${deckId}"]`).count(), 0);
  await b2.close();
  assert.equal(await ls(b, `mdoc_${deckId}`), null, 'the account\'s decks are erased from B');
  assert.equal(await ls(b, 'myflashplay_sessions'), null);
  assert.equal(await b.page.locator(`li[data-deck="${deckId}"]`).count(), 0);
  await b.page.fill('#new-name', 'Local only');
  await b.page.click('#create');
  await b.page.waitForSelector('#editor');
  const localId = await b.page.getAttribute('#editor', 'data-deck');
  assert.deepEqual(JSON.parse(await ls(b, 'mdoc_index')).map((e) => e.name), ['Local only']);

  step('Another account on B');
  // Another account on B does not receive B's logged-out data; signing it out brings that data back.
  await signIn(b, `other.${Date.now()}@example.com`, '#register');
  await chipSays(b, 'synced, 0 pending');
  assert.equal(await deckOf(b, localId), null);
  assert.equal(await ls(b, `mdoc_${localId}`), null);
  await b.page.click('#sign-out');
  await chipSays(b, 'signed-out, 0 pending');
  await b.page.waitForSelector(`li[data-deck="${localId}"]`);
  step('The first account still has');
  // The first account still has everything.
  await signIn(b, email);
  await chipSays(b, 'synced, 0 pending');
  await b.page.waitForSelector(`li[data-deck="${deckId}"]`);
  assert.equal(await deckOf(b, localId), null, 'migration happens once per device');

  assert.deepEqual([...a.errors, ...b.errors].map(String), []);
  await a.context.close();
  await b.context.close();
});
