// The demo's history panel in headless Chromium: device A creates a deck,
// device B adds a card, A wipes the text; A's panel lists the three
// entries by device name, A restores B's version with the panel's button,
// and B shows the restored text. Screenshot: test-artifacts/history.png.
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
  const context = await demo.browser.newContext({ viewport: { width: 640, height: 900 } });
  return demo.openDevice(context, name);
}

const markdownOf = (d, deckId) => d.page.evaluate((id) => window.demo.client.deck(id)?.markdown ?? null, deckId);
// Polled from the login click on: the client opens its documents just after.
const waitMarkdown = (d, deckId, md) => d.page.waitForFunction(([id, want]) => {
  try {
    return window.demo.client.deck(id)?.markdown === want;
  } catch {
    return false;
  }
}, [deckId, md], { timeout: 20_000 });
const editOn = async (d, text) => {
  await d.page.fill('#markdown', text);
  await d.page.click('#save');
};

test("the history panel restores an older version and the other device shows it", async () => {
  const email = `browser.history.${Date.now()}@example.com`;
  const a = await device('Tablet');
  const b = await device('Laptop');
  await a.page.fill('#email', email);
  await a.page.click('#register');
  await a.page.waitForSelector('#status[data-status="synced"]', { timeout: 30_000 });
  await a.page.click('#new-deck');
  const deckId = await a.page.$eval('#deck-select', (s) => s.value);
  const created = await markdownOf(a, deckId);
  await a.page.waitForFunction(() => window.demo.client.pendingChanges === 0, null, { timeout: 15_000 });

  await b.page.fill('#email', email);
  await b.page.click('#login');
  await waitMarkdown(b, deckId, created);
  const withPig = `${created}\nPig :: Oink\n`;
  await b.page.evaluate(() => window.demo.render());
  await editOn(b, withPig);
  await waitMarkdown(a, deckId, withPig);
  await a.page.evaluate(() => window.demo.render());
  await editOn(a, '# Farm Animals\n');
  await waitMarkdown(b, deckId, '# Farm Animals\n');

  // A's panel: newest first, named by device, with what each did.
  await a.page.evaluate(() => window.demo.render());
  await a.page.waitForSelector('#history-list li[data-index="2"]', { timeout: 10_000 });
  const rows = await a.page.$$eval('#history-list li', (lis) => lis.map((li) => ({
    who: li.dataset.device, what: li.querySelector('.what').textContent,
  })));
  assert.deepEqual(rows.map((r) => r.who), ['Tablet', 'Laptop', 'Tablet']);
  assert.match(rows[0].what, /−\d+ characters/);
  assert.match(rows[1].what, /\+\d+ characters/);
  assert.match(rows[2].what, /created/);

  // Restore Laptop's version on the Tablet; the Laptop shows it.
  await a.page.click('#history-list li[data-device="Laptop"] button.restore');
  await waitMarkdown(a, deckId, withPig);
  await waitMarkdown(b, deckId, withPig);
  await b.page.evaluate(() => window.demo.render());
  assert.equal(await b.page.inputValue('#markdown'), withPig);
  await b.page.waitForSelector('#history-list li[data-index="0"]');
  const newest = await b.page.$eval('#history-list li[data-index="0"]', (li) => ({
    who: li.dataset.device, what: li.querySelector('.what').textContent,
  }));
  assert.equal(newest.who, 'Tablet');
  assert.match(newest.what, /restored/);

  fs.mkdirSync(artifacts, { recursive: true });
  await a.page.screenshot({ path: path.join(artifacts, 'history.png'), fullPage: true });
  assert.deepEqual([...a.errors, ...b.errors], []);
  assert.deepEqual(await a.page.evaluate(() => window.clientErrors), []);
  await a.context.close();
  await b.context.close();
});
