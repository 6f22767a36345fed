// Restore from an export end to end against the real Worker under workerd:
// export, delete the account, register again, import, export equal to the
// first (up to the account's new user id); importing twice changes
// nothing; an older export imported into a newer account overwrites
// nothing; the browser package's importData splits large exports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, call, root } from './harness.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, memoryStorage, prehash } = pkg;
const sample = JSON.parse(fs.readFileSync(path.join(root, 'fixtures', 'samples', 'localstorage-sample.json'), 'utf8'));

let w;
before(async () => { w = await startWorker({ vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url') } }); });
after(async () => { await w?.stop(); });

let n = 0;
const email = () => `imp.${process.pid}.${Date.now()}.${n++}@example.com`;
const PASSWORD = 'restore me';
const post = (p, body, token) => call(w.url, 'POST', p, { body, token });
const get = (p, token) => call(w.url, 'GET', p, { token });
const open = () => SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });

/** An account with every kind of data, written by a device and synced. */
async function learner(e) {
  const a = await open();
  await a.register(e, PASSWORD, { deviceName: 'tablet' });
  a.importLocalStorage(sample);
  a.createDeck({ id: 'math', name: 'Math', emoji: '➕', markdown: '2+2 :: 4\n3+3 :: 6\n' });
  a.createDeck({ id: 'old', name: 'Old', emoji: '🗑', markdown: 'a :: b\n' });
  for (const [deckId, cardId, correct] of [['math', 'm1', true], ['math', 'm2', false], ['old', 'o1', true]]) {
    a.recordReview({ deckId, cardId, correct, responseMs: 2500 });
  }
  const imported = Object.values(a.progress())[0];
  a.recordReview({ deckId: imported.deckId, cardId: imported.cardId, correct: true, responseMs: 1200 });
  a.deleteDeck('old');
  a.connect();
  await a.synced();
  return a;
}

async function tokenOf(e, password = PASSWORD) {
  const r = await post('/auth/login', { email: e, password: await prehash(e, password) });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

async function exportOf(token) {
  const r = await get('/user/export', token);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

/** The documented normalization: the account's own `user_id`. */
const withoutUser = ({ user_id: _u, ...rest }) => rest;

test('export, delete the account, register again, import: the same export', async () => {
  const e = email();
  const a = await learner(e);
  const t = await tokenOf(e);
  const first = await exportOf(t.access_token);
  assert.equal(first.reviews.length, 4);
  assert.ok(first.reviews.every((r) => r.id && r.deckId && r.cardId && r.at));
  assert.equal(first.deleted_decks.old.name, 'Old');
  await a.close();

  const del = await call(w.url, 'DELETE', '/user/account', { body: { password: await prehash(e, PASSWORD) }, token: t.access_token });
  assert.equal(del.status, 204);
  const reg = await post('/auth/register', { email: e, password: await prehash(e, PASSWORD) });
  assert.equal(reg.status, 201);
  const token = reg.json.access_token;
  assert.notEqual(reg.json.user_id, first.user_id);
  const empty = await exportOf(token);
  assert.deepEqual(empty.decks, {});

  const r = await post('/user/import', first, token);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.added.decks, Object.keys(first.decks).length);
  assert.equal(r.json.added.deleted_decks, 1);
  assert.equal(r.json.added.reviews, 4);
  assert.equal(r.json.account.decks, Object.keys(first.decks).length);
  assert.equal(r.json.account.deleted_decks, 1);
  const second = await exportOf(token);
  assert.equal(second.user_id, reg.json.user_id);
  assert.deepEqual(withoutUser(second), withoutUser(first));

  // Importing the same export again changes nothing, not even the heads.
  const { seq } = (await get('/sync/changes?since=0', token)).json;
  const again = await post('/user/import', first, token);
  assert.equal(again.status, 200);
  assert.ok(Object.values(again.json.added).every((v) => v === 0), JSON.stringify(again.json));
  assert.equal((await get('/sync/changes?since=0', token)).json.seq, seq);
  assert.deepEqual(withoutUser(await exportOf(token)), withoutUser(first));

  // A device of the restored account gets everything by sync and builds on
  // the restored progress (no review counted twice).
  const b = await open();
  await b.login(e, PASSWORD);
  b.connect();
  await b.synced();
  assert.deepEqual(b.exportData().progress, first.progress);
  b.recordReview({ deckId: 'math', cardId: 'm1', correct: true, responseMs: 1000 });
  assert.equal(b.progress().m1.stats.views, first.progress.m1.stats.views + 1);
  await b.close();
});

test('an older export imported into a newer account overwrites nothing', async () => {
  const e = email();
  const a = await learner(e);
  const t = await tokenOf(e);
  const old = await exportOf(t.access_token);
  a.updateDeck('math', { name: 'Maths' });
  a.setPreference('colorScheme', 'ocean');
  a.recordReview({ deckId: 'math', cardId: 'm1', correct: false, responseMs: 900 });
  a.deleteDeck('math');
  await a.synced();
  const newer = await exportOf(t.access_token);
  assert.notDeepEqual(newer, old);
  const r = await post('/user/import', old, t.access_token);
  assert.equal(r.status, 200);
  assert.ok(Object.values(r.json.added).every((v) => v === 0), JSON.stringify(r.json));
  assert.deepEqual(await exportOf(t.access_token), newer);
  await a.close();
});

test('import refuses what is not an export and bodies over 1 MiB', async () => {
  const e = email();
  const reg = await post('/auth/register', { email: e, password: await prehash(e, PASSWORD) });
  const token = reg.json.access_token;
  for (const body of [[1, 2], { decks: 5 }, { reviews: [{ id: 'x' }] }]) {
    const r = await post('/user/import', body, token);
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'validation_failed');
  }
  const big = { decks: {}, padding: 'x'.repeat(1024 * 1024) };
  const r = await post('/user/import', big, token);
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'payload_too_large');
  assert.equal((await call(w.url, 'POST', '/user/import', { body: {} })).status, 401);
  assert.deepEqual((await exportOf(token)).decks, {});
});

test('the package restores an export larger than one request in parts', async () => {
  const a = await open();
  await a.register(email(), PASSWORD);
  const b = await open();
  await b.register(email(), PASSWORD);
  // 12 decks of ~100 KB of markdown: about 1.2 MB of export.
  const line = `${'word '.repeat(18)}:: answer\n`;
  for (let i = 0; i < 12; i++) {
    a.createDeck({ id: `big-${i}`, name: `Big ${i}`, emoji: '📚', markdown: line.repeat(1000) });
    a.recordReview({ deckId: `big-${i}`, cardId: `c${i}`, correct: true, responseMs: 1000 });
  }
  const data = a.exportData();
  assert.ok(JSON.stringify(data).length > 1024 * 1024);
  await a.close();
  const summary = await b.importData(data);
  assert.equal(summary.added.decks, 12);
  assert.equal(summary.added.reviews, 12);
  assert.equal(summary.account.decks, 12);
  b.connect();
  await b.synced();
  const got = b.exportData();
  assert.deepEqual(got.decks, data.decks);
  assert.deepEqual(got.progress, data.progress);
  assert.deepEqual(got.reviews, data.reviews);
  await b.close();
});
