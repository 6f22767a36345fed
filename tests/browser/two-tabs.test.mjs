// Two tabs of one browser profile (one browser context: one IndexedDB, one
// stored login) in headless Chromium: the learner opens the app twice.
// Both tabs go offline, both edit the same deck and review the same card,
// one tab is closed while still offline; back online, a tab opened later
// uploads what the closed tab left, and another device sees every edit and
// both reviews. Access tokens live 6 s here, so both tabs rotate the shared
// refresh token many times on the way: neither may be logged out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemo } from './demo-env.mjs';

let demo;
before(async () => { demo = await startDemo({ ACCESS_TOKEN_TTL_SECS: '6' }); });
after(async () => { await demo?.stop(); });
const tab = (context, name, query) => demo.openDevice(context, name, query);

const markdownOf = (t, deckId) => t.page.evaluate((id) => window.demo.client.deck(id)?.markdown ?? null, deckId);
const synced = (t) => t.page.waitForSelector('#status[data-status="synced"]', { timeout: 30_000 });
const settled = (t) => t.page.waitForFunction(() => window.demo.client.pendingChanges === 0, null, { timeout: 20_000 });

/** Waits until tab `t` shows deck `deckId` with markdown `md`. */
const deckShows = (t, deckId, md) => t.page.waitForFunction(([id, text]) => window.demo.client.deck(id)?.markdown === text,
  [deckId, md], { timeout: 30_000 }).catch(async (e) => {
  throw new Error(`${t.name}: ${JSON.stringify(await markdownOf(t, deckId))}: ${e.message}`);
});

/** Another device (its own browser context) logs in as `email` and syncs. */
async function otherDevice(email) {
  const context = await demo.browser.newContext();
  const d = await tab(context, 'Phone');
  await d.page.fill('#email', email);
  await d.page.click('#login');
  await synced(d);
  return d;
}

/** Tab A registers `email` and creates a deck; tab B then opens, logged in, and has it. */
async function twoTabsWithDeck(context, email) {
  const a = await tab(context, 'Kid');
  await a.page.fill('#email', email);
  await a.page.click('#register');
  await synced(a);
  await a.page.click('#new-deck');
  const deckId = await a.page.$eval('#deck-select', (s) => s.value);
  await settled(a);
  const b = await tab(context, 'Kid');
  await b.page.waitForFunction((id) => window.demo.client.user && window.demo.client.deck(id) !== undefined,
    deckId, { timeout: 30_000 });
  await synced(b);
  return { a, b, deckId };
}

test('two tabs of one browser: offline edits of both reach the server, tokens rotate without a logout', async () => {
  const email = `tabs.${Date.now()}@example.com`;
  const context = await demo.browser.newContext({ viewport: { width: 640, height: 720 } });
  const { a, b, deckId } = await twoTabsWithDeck(context, email);
  assert.notEqual(await a.page.evaluate(() => window.demo.client.peerId),
    await b.page.evaluate(() => window.demo.client.peerId), 'each tab is its own peer');

  // Both tabs offline; both edit the deck and review the same card.
  await context.setOffline(true);
  for (const t of [a, b]) await t.page.waitForSelector('#status[data-status="offline"]', { timeout: 10_000 });
  const editOn = async (t, text) => {
    await t.page.fill('#markdown', text);
    await t.page.click('#save');
  };
  await editOn(a, '# Farm Animals\n\nCow :: Moo\n\nSheep :: Baa\n\nPig :: Oink\n');
  await editOn(b, '# Farm Animals\n\nHorse :: Neigh\n\nCow :: Moo\n\nSheep :: Baa\n');
  await a.page.click('li[data-card="card-cow"] button');
  await b.page.click('li[data-card="card-cow"] button');
  for (const t of [a, b]) await t.page.evaluate(() => window.demo.client.flushStorage());
  // The tab closes before it could send anything.
  await b.page.close();

  // Back online (the access token expired meanwhile): tab A sends its part.
  await context.setOffline(false);
  await synced(a);
  await settled(a);
  // A tab opened later picks up what the closed tab left, and sends it.
  const c = await tab(context, 'Kid');
  await synced(c);
  await settled(c);

  // Another device sees every edit and both reviews.
  const d = await otherDevice(email);
  const merged = '# Farm Animals\n\nHorse :: Neigh\n\nCow :: Moo\n\nSheep :: Baa\n\nPig :: Oink\n';
  await deckShows(d, deckId, merged);
  await d.page.waitForFunction(() => (window.demo.client.progress()['card-cow']?.stats.views ?? 0) === 2,
    null, { timeout: 30_000 });
  for (const t of [a, c]) await deckShows(t, deckId, merged);

  // Tokens rotated in both tabs for the whole run: wait past two more
  // lifetimes with both tabs open and online, then both are still logged in.
  await new Promise((r) => setTimeout(r, 13_000));
  for (const t of [a, c]) {
    assert.ok(await t.page.evaluate(() => window.demo.client.user !== null), 'still logged in');
    await synced(t);
    const errors = await t.page.evaluate(() => window.clientErrors);
    assert.deepEqual(errors.filter((e) => /unauthorized|revoked|token/i.test(e)), []);
  }
  for (const t of [a, c, d]) assert.deepEqual(t.errors, []);
  // The shared token did rotate while both tabs were open (a tab that
  // finds it already rotated by the other takes it from storage).
  assert.ok(a.refreshes + c.refreshes >= 3, `refreshes: A ${a.refreshes}, C ${c.refreshes}`);
  console.log(`# token refreshes: tab A ${a.refreshes}, tab B ${b.refreshes}, tab C ${c.refreshes}`);
  await d.context.close();
  await context.close();
});

test('a closed tab\'s newer copy taken in by a later tab survives in storage', async () => {
  const email = `tabs2.${Date.now()}@example.com`;
  const context = await demo.browser.newContext();
  const { a, b, deckId } = await twoTabsWithDeck(context, email);
  // A closes: its slot keeps the first version. B, disconnected, edits and
  // closes: its slot keeps the newer version, which nobody sent.
  await a.page.evaluate(() => window.demo.client.flushStorage());
  await a.page.close();
  await b.page.click('#toggle-online');
  await b.page.waitForSelector('#status[data-status="offline"]', { timeout: 10_000 });
  const edited = '# Farm Animals\n\nCow :: Moo\n\nSheep :: Baa\n\nGoat :: Meh\n';
  await b.page.fill('#markdown', edited);
  await b.page.click('#save');
  await b.page.evaluate(() => window.demo.client.flushStorage());
  await b.page.close();

  // With no server reachable, C takes A's slot and takes in B's, then
  // closes; D then finds the newer version in storage alone.
  const unreachable = '&server=http://127.0.0.1:9';
  for (const name of ['C', 'D']) {
    const t = await tab(context, 'Kid', unreachable);
    assert.equal(await markdownOf(t, deckId), edited, `tab ${name}`);
    await t.page.evaluate(() => window.demo.client.flushStorage());
    assert.deepEqual(t.errors, []);
    await t.page.close();
  }
  // A tab with the server sends it; another device sees it.
  const e = await tab(context, 'Kid');
  await synced(e);
  await settled(e);
  const f = await otherDevice(email);
  await deckShows(f, deckId, edited);
  for (const t of [e, f]) assert.deepEqual(t.errors, []);
  await f.context.close();
  await context.close();
});
