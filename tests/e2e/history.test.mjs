// History, restore, deleted decks and visible conflicts end to end against
// the real Worker under workerd: two devices (the browser package in Node)
// and the HTTP API (`/sync/decks/{id}/history`, `?version=`, `/restore`,
// `/sync/decks/deleted`, `/undelete`, `conflicts` in the JSON views).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, call, root } from './harness.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, memoryStorage, prehash } = pkg;

let w;
before(async () => { w = await startWorker({ vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url') } }); });
after(async () => { await w?.stop(); });

let n = 0;
const email = () => `hist.${process.pid}.${Date.now()}.${n++}@example.com`;
const PASSWORD = 'history please';
const get = (p, token) => call(w.url, 'GET', p, { token });
const post = (p, body, token) => call(w.url, 'POST', p, { body, token });
const open = () => SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });

/** Two package devices of one new account, both synced, and a JSON session. */
async function account(t, names = ['phone', 'laptop']) {
  const e = email();
  const a = await open();
  t.after(() => a.close());
  await a.register(e, PASSWORD, { deviceName: names[0] });
  const b = await open();
  t.after(() => b.close());
  await b.login(e, PASSWORD, { deviceName: names[1] });
  a.connect();
  b.connect();
  await Promise.all([a.synced(), b.synced()]);
  const r = await post('/auth/login', { email: e, password: await prehash(e, PASSWORD), device_name: 'json-tool' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return { a, b, token: r.json.access_token };
}

/** Waits until `pred()` holds (a push from the other device arrived). */
async function until(what, pred, ms = 15_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function history(token, deckId, query = '') {
  const r = await get(`/sync/decks/${deckId}/history${query}`, token);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

test('two devices edit a deck: the history names both with what each did, and an old version reads as the first device saw it', async (t) => {
  const { a, b, token } = await account(t);
  a.createDeck({ id: 'd1', name: 'Math', emoji: '➕', markdown: '2+2 :: 4\n' });
  a.editMarkdown('d1', '2+2 :: 4\n3+3 :: 6\n');
  const seenByA = a.deck('d1');
  await a.synced();
  await until('b has the deck', () => b.deck('d1')?.markdown === '2+2 :: 4\n3+3 :: 6\n');
  b.editMarkdown('d1', '2+2 :: 4\n');
  b.updateDeck('d1', { name: 'Maths' });
  await b.synced();
  await until('a has b\'s edit', () => a.deck('d1')?.name === 'Maths');

  const page = await history(token, 'd1');
  assert.deepEqual(page.entries.map((e) => e.device_name), ['laptop', 'phone', 'phone']);
  assert.equal(page.next_before, undefined);
  const [byB, byA, created] = page.entries;
  assert.equal(byB.summary.chars_deleted, '3+3 :: 6\n'.length);
  assert.equal(byB.summary.chars_inserted, 0);
  assert.deepEqual(byB.summary.fields_changed, ['name']);
  assert.equal(byA.summary.chars_inserted, '3+3 :: 6\n'.length);
  assert.equal(created.summary.created, true);
  assert.equal(created.summary.chars_inserted, '2+2 :: 4\n'.length);
  for (const e of page.entries) {
    assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(e.at) - Date.now()) < 120_000, e.at);
  }
  // The package lists the same from its own documents, offline too.
  b.disconnect();
  assert.deepEqual(b.deckHistory('d1'), page);
  // Paged.
  const first = await history(token, 'd1', '?limit=1');
  assert.equal(first.entries.length, 1);
  const rest = await history(token, 'd1', `?limit=5&before=${encodeURIComponent(first.next_before)}`);
  assert.deepEqual([...first.entries, ...rest.entries], page.entries);

  // The deck as the first device saw it after its edit.
  const old = await get(`/sync/decks/d1?version=${encodeURIComponent(byA.version)}`, token);
  assert.equal(old.status, 200, JSON.stringify(old.json));
  assert.equal(old.json.version, byA.version);
  assert.deepEqual(old.json.data, seenByA);
  assert.deepEqual(a.deckAt('d1', byA.version), seenByA);

  // Refusals: unknown deck, malformed version, a well-formed one of another deck, bad limit.
  assert.equal((await get('/sync/decks/nope/history', token)).status, 404);
  const malformed = await get('/sync/decks/d1?version=v1.!!', token);
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.error.code, 'validation_failed');
  a.createDeck({ id: 'd2', name: 'Other', emoji: '📘', markdown: 'x :: y\n' });
  await a.synced();
  const other = (await history(token, 'd2')).entries[0].version;
  const foreign = await get(`/sync/decks/d1?version=${encodeURIComponent(other)}`, token);
  assert.equal(foreign.status, 404);
  assert.equal(foreign.json.error.code, 'not_found');
  assert.equal((await get('/sync/decks/d1/history?limit=0', token)).status, 400);
  assert.equal((await get('/sync/decks/d1/history')).status, 401);
});

test('restore on device A while B is offline and editing: both end with the restored text plus B\'s edit', async (t) => {
  const { a, b, token } = await account(t);
  a.createDeck({ id: 'd1', name: 'Math', emoji: '➕', markdown: '2+2 :: 4\n3+3 :: 6\n' });
  a.recordReview({ deckId: 'd1', cardId: a.deck('d1').cards[0].id, correct: true, responseMs: 900 });
  await a.synced();
  const good = a.deckHistory('d1').entries[0].version;
  const goodDeck = a.deckAt('d1', good);
  // A child wipes the deck.
  a.updateDeck('d1', { name: 'oops', markdown: '' });
  await a.synced();
  await until('b has the wipe', () => b.deck('d1')?.markdown === '');
  const progress = a.progress();

  b.disconnect();
  b.editMarkdown('d1', '5+5 :: 10\n');
  a.restoreDeck('d1', good);
  await a.synced();
  b.connect();
  await b.synced();
  await a.synced();
  await until('a has b\'s edit', () => a.deck('d1').markdown.includes('5+5 :: 10\n'));
  for (const [who, c] of [['a', a], ['b', b]]) {
    const deck = c.deck('d1');
    assert.equal(deck.name, 'Math', who);
    for (const line of ['2+2 :: 4\n', '3+3 :: 6\n', '5+5 :: 10\n']) assert.ok(deck.markdown.includes(line), `${who}: ${deck.markdown}`);
  }
  assert.deepEqual(a.progress(), progress, 'progress is never rewound');
  const page = await history(token, 'd1');
  const restore = page.entries.find((e) => e.summary.restored);
  assert.equal(restore?.device_name, 'phone');
  assert.equal(goodDeck.name, 'Math');

  // The same through HTTP: the server's change is the JSON session's device.
  const wipe = page.entries.find((e) => e.summary.chars_deleted > 0);
  const before = (await history(token, 'd1')).entries.length;
  const r = await post('/sync/decks/d1/restore', { version: good }, token);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.data.markdown, goodDeck.markdown);
  assert.equal(r.json.data.name, 'Math');
  const after = await history(token, 'd1');
  assert.equal(after.entries.length, before + 1);
  assert.equal(after.entries[0].device_name, 'json-tool');
  assert.equal(after.entries[0].summary.restored, true);
  assert.ok(wipe, 'the wipe is an entry');
  await until('b has the HTTP restore', () => b.deck('d1').markdown === goodDeck.markdown);
  assert.equal((await post('/sync/decks/d1/restore', {}, token)).status, 400);
  assert.equal((await post('/sync/decks/nope/restore', { version: good }, token)).status, 404);
});

test('a deleted deck is listed with who deleted it and comes back with its progress', async (t) => {
  const { a, b, token } = await account(t, ['tablet', 'phone']);
  a.createDeck({ id: 'd1', name: 'Space', emoji: '🚀', markdown: 'Sun :: star\nMoon :: satellite\n' });
  const card = a.deck('d1').cards[0].id;
  a.recordReview({ deckId: 'd1', cardId: card, correct: true, responseMs: 1000 });
  a.recordReview({ deckId: 'd1', cardId: card, correct: false, responseMs: 1000 });
  await a.synced();
  await until('b has the deck', () => b.deck('d1'));
  const progress = a.progress();
  b.deleteDeck('d1');
  await b.synced();
  await until('a sees the deletion', () => !a.deck('d1'));

  const listed = await get('/sync/decks/deleted', token);
  assert.equal(listed.status, 200, JSON.stringify(listed.json));
  assert.equal(listed.json.decks.length, 1);
  const [gone] = listed.json.decks;
  assert.equal(gone.deck_id, 'd1');
  assert.equal(gone.name, 'Space');
  assert.equal(gone.device_name, 'phone');
  assert.ok(Math.abs(Date.parse(gone.deleted_at) - Date.now()) < 120_000, gone.deleted_at);
  assert.deepEqual(a.deletedDecks(), listed.json.decks);
  assert.equal((await get(`/sync/decks/d1?version=${encodeURIComponent(gone.version)}`, token)).json.data.name, 'Space');

  const back = await post('/sync/decks/d1/undelete', {}, token);
  assert.equal(back.status, 200, JSON.stringify(back.json));
  assert.equal(back.json.data.name, 'Space');
  assert.deepEqual((await get('/sync/decks/deleted', token)).json.decks, []);
  await until('a has the deck back', () => a.deck('d1'));
  await until('b has the deck back', () => b.deck('d1'));
  assert.deepEqual(a.progress(), progress);
  assert.deepEqual(b.progress(), progress);
  assert.equal((await post('/sync/decks/d1/undelete', {}, token)).status, 404, 'not deleted any more');
  // The package's undelete, offline.
  a.deleteDeck('d1');
  a.disconnect();
  a.undeleteDeck('d1');
  assert.equal(a.deck('d1').name, 'Space');
  assert.deepEqual(a.progress(), progress);
});

test('a concurrent rename shows conflicts on both devices and the JSON view until one device renames', async (t) => {
  const { a, b, token } = await account(t);
  a.createDeck({ id: 'd1', name: 'Math', emoji: '➕', markdown: '2+2 :: 4\n' });
  await a.synced();
  await until('b has the deck', () => b.deck('d1'));
  const events = [];
  a.on('conflict', (c) => events.push(['a', c]));
  b.on('conflict', (c) => events.push(['b', c]));
  a.disconnect();
  b.disconnect();
  a.updateDeck('d1', { name: 'Maths' });
  b.updateDeck('d1', { name: 'Mathe' });
  a.setPreference('gameSettings.showHints', true);
  b.setPreference('gameSettings.showHints', false);
  a.connect();
  await a.synced();
  b.connect();
  await b.synced();
  await a.syncNow();
  await until('a sees the conflict', () => a.deck('d1').conflicts);
  const want = { name: ['Mathe', 'Maths'] };
  for (const c of [a, b]) {
    assert.deepEqual(c.deck('d1').conflicts, want);
    assert.deepEqual(c.preferences().conflicts, { 'gameSettings.showHints': [false, true] });
  }
  assert.ok(events.some(([, c]) => c.decks.d1?.name), JSON.stringify(events));
  const view = await get('/sync/decks', token);
  assert.deepEqual(view.json.data.find((d) => d.id === 'd1').conflicts, want);
  const prefs = await get('/sync/preferences', token);
  assert.deepEqual(prefs.json.data.conflicts, { 'gameSettings.showHints': [false, true] });
  assert.equal(prefs.json.data.lastUpdated, undefined);
  // Sent back as read: `conflicts` is dropped, nothing changes.
  const echoed = await post('/sync/decks', { base_version: view.json.version, data: view.json.data }, token);
  assert.equal(echoed.status, 200, JSON.stringify(echoed.json));
  assert.deepEqual(echoed.json.data.find((d) => d.id === 'd1').conflicts, want);

  // One device renames: gone everywhere.
  b.updateDeck('d1', { name: 'Arithmetic' });
  b.setPreference('gameSettings.showHints', true);
  await b.synced();
  await until('a has the rename and the preference', () => a.deck('d1').name === 'Arithmetic'
    && !a.preferences().conflicts);
  for (const c of [a, b]) {
    assert.equal(c.deck('d1').conflicts, undefined);
    assert.equal(c.preferences().conflicts, undefined);
  }
  const later = await get('/sync/decks', token);
  assert.equal(later.json.data.find((d) => d.id === 'd1').conflicts, undefined);
});
