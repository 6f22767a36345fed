// Two devices of one learner in headless Chromium (Debian's chromium,
// driven by playwright-core): the demo page served by a local static
// server, the Worker under workerd. One device goes offline
// (context.setOffline), both edit the same deck and review the same card,
// the offline one comes back: both show the same deck and both reviews.
// Screenshot: test-artifacts/two-devices.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { root } from '../e2e/harness.mjs';
import { startDemo } from './demo-env.mjs';

const artifacts = path.join(root, 'test-artifacts');
let demo;
before(async () => { demo = await startDemo(); });
after(async () => { await demo?.stop(); });

async function device(name) {
  const context = await demo.browser.newContext({ viewport: { width: 640, height: 720 } });
  return demo.openDevice(context, name);
}

const status = (d) => d.page.textContent('#status');
const markdownOf = (d, deckId) => d.page.evaluate((id) => window.demo.client.deck(id)?.markdown ?? null, deckId);
const viewsOf = (d, cardId) => d.page.evaluate((id) => window.demo.client.progress()[id]?.stats.views ?? 0, cardId);

test('two devices, one offline: the deck edits merge and both reviews count', async () => {
  const email = `browser.${Date.now()}@example.com`;
  const a = await device('Tablet');
  const b = await device('Laptop');

  await a.page.fill('#email', email);
  await a.page.click('#register');
  await a.page.waitForSelector('#status[data-status="synced"]', { timeout: 30_000 });
  await a.page.click('#new-deck');
  const deckId = await a.page.$eval('#deck-select', (s) => s.value);
  assert.match(deckId, /^farm-/);
  await a.page.waitForFunction(() => window.demo.client.pendingChanges === 0, null, { timeout: 15_000 });

  // Device B logs in: time to first sync = login click → the deck shows.
  await b.page.fill('#email', email);
  const t0 = Date.now();
  await b.page.click('#login');
  await b.page.waitForSelector(`#deck-select option[value="${deckId}"]`, { state: 'attached', timeout: 30_000 });
  await b.page.waitForSelector('#status[data-status="synced"]', { timeout: 30_000 });
  const firstSyncMs = Date.now() - t0;
  console.log(`# time to first sync in the browser (login click → deck shown, synced): ${firstSyncMs} ms`);
  assert.equal(await markdownOf(b, deckId), '# Farm Animals\n\nCow :: Moo\n\nSheep :: Baa\n');

  // B goes offline.
  await b.context.setOffline(true);
  await b.page.waitForSelector('#status[data-status="offline"]', { timeout: 10_000 });

  // Both edit the same deck and review the same card.
  const editOn = async (d, text) => {
    await d.page.fill('#markdown', text);
    await d.page.click('#save');
  };
  await editOn(a, '# Farm Animals\n\nCow :: Moo\n\nSheep :: Baa\n\nPig :: Oink\n');
  await editOn(b, '# Farm Animals\n\nHorse :: Neigh\n\nCow :: Moo\n\nSheep :: Baa\n');
  await a.page.click('li[data-card="card-cow"] button');
  await b.page.click('li[data-card="card-cow"] button');
  await a.page.waitForFunction(() => window.demo.client.pendingChanges === 0, null, { timeout: 15_000 });
  assert.ok(await b.page.evaluate(() => window.demo.client.pendingChanges) > 0, 'B keeps its edits pending');
  // While B is offline, A sees none of B's edits.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!(await markdownOf(a, deckId)).includes('Horse'), 'an offline device sends nothing');
  assert.equal(await viewsOf(a, 'card-cow'), 1);

  // B comes back: both converge.
  await b.context.setOffline(false);
  await b.page.waitForSelector('#status[data-status="synced"]', { timeout: 30_000 });
  const merged = '# Farm Animals\n\nHorse :: Neigh\n\nCow :: Moo\n\nSheep :: Baa\n\nPig :: Oink\n';
  for (const d of [a, b]) {
    await d.page.waitForFunction(([id, md]) => window.demo.client.deck(id)?.markdown === md,
      [deckId, merged], { timeout: 15_000 });
    await d.page.waitForFunction(() => (window.demo.client.progress()['card-cow']?.stats.views ?? 0) === 2,
      null, { timeout: 15_000 });
  }
  for (const d of [a, b]) {
    await d.page.waitForFunction(() => window.demo.client.pendingChanges === 0, null, { timeout: 15_000 });
  }
  const [stateA, stateB] = await Promise.all([a, b].map((d) => d.page.evaluate(() => {
    const c = window.demo.client;
    return { decks: c.decks(), progress: c.progress() };
  })));
  assert.deepEqual(stateA, stateB);
  assert.equal(stateA.progress['card-cow'].stats.correctCount, 2);
  // The pages show it too.
  for (const d of [a, b]) {
    await d.page.evaluate(() => window.demo.render());
    assert.equal(await d.page.inputValue('#markdown'), merged);
    assert.match(await d.page.textContent('li[data-card="card-cow"] .views'), /views 2, correct 2/);
    assert.equal(await status(d), 'synced');
    await d.page.waitForFunction(() => document.getElementById('pending').textContent === '0');
  }

  fs.mkdirSync(artifacts, { recursive: true });
  const shots = await Promise.all([a, b].map((d) => d.page.screenshot({ fullPage: true })));
  fs.writeFileSync(path.join(artifacts, 'two-devices-tablet.png'), shots[0]);
  fs.writeFileSync(path.join(artifacts, 'two-devices-laptop.png'), shots[1]);
  // Both devices side by side in one picture: the demo's pair page.
  const pair = await demo.browser.newContext({ viewport: { width: 1300, height: 820 } });
  const pp = await pair.newPage();
  await pp.setContent(`<body style="margin:0;display:flex;gap:8px">${shots.map((s) =>
    `<img style="width:640px" src="data:image/png;base64,${s.toString('base64')}">`).join('')}</body>`);
  await pp.screenshot({ path: path.join(artifacts, 'two-devices.png'), fullPage: true });
  await pair.close();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.context.close();
  await b.context.close();
});
