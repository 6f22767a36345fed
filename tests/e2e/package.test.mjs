// The browser package as an app uses it, from its built output
// (wasm-client/pkg, `scripts/build-web.sh`), in Node against the real
// Worker under workerd: accounts, localStorage import/export, WebSocket and
// HTTP sync, offline edits kept in storage, token refresh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, root, call } from './harness.mjs';
import { normalizeLocalStorage } from './local-storage-normalize.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, SyncClientError, memoryStorage, prehash } = pkg;

const sample = JSON.parse(fs.readFileSync(path.join(root, 'fixtures', 'samples', 'localstorage-sample.json'), 'utf8'));
// Short access tokens so that the clients must refresh during the tests.
const ACCESS_TTL_SECS = 8;
let w;
before(async () => {
  w = await startWorker({
    vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url'), ACCESS_TOKEN_TTL_SECS: String(ACCESS_TTL_SECS) },
  });
});
after(async () => { await w?.stop(); });

let n = 0;
const email = () => `pkg.${process.pid}.${Date.now()}.${n++}@example.com`;
const PASSWORD = 'pässwörd 🔑 for kids';
const open = (opts = {}) => SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket, ...opts });
const waitFor = async (what, pred, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('prehash matches the docs/api.md vectors', async () => {
  assert.equal(await prehash('a@b.co', 'pw'), 'o5Rbp4uv_oY5JqouX0QaO19aTiOnkPBDiglBd--j3Lo');
  assert.equal(await prehash(' Ana.Lucia@Example.COM ', 'pässwörd 🔑'), 'ffiMl4q7un9CbaPqyIme2pxO2XhoG79Ys8nQ-2NnOBs');
});

test('a localStorage snapshot imported on one device exports equal on two others (WebSocket and HTTP)', async () => {
  const e = email();
  const a = await open();
  await a.register(e, PASSWORD, { deviceName: 'node-a' });
  a.importLocalStorage(sample);
  const exportedHere = a.exportLocalStorage();
  assert.deepEqual(normalizeLocalStorage(exportedHere), normalizeLocalStorage(sample));
  a.connect();
  await a.synced();

  const b = await open(); // WebSocket
  await b.login(e, PASSWORD, { deviceName: 'node-b' });
  b.connect();
  await b.synced();
  const c = await open({ WebSocket: null }); // HTTP only
  await c.login(e, PASSWORD, { deviceName: 'node-c' });
  c.connect();
  await c.synced();
  for (const [who, client] of [['b (ws)', b], ['c (http)', c]]) {
    const got = normalizeLocalStorage(client.exportLocalStorage());
    const want = normalizeLocalStorage(sample);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), who);
    for (const key of Object.keys(want)) assert.deepEqual(got[key], want[key], `${who}: ${key}`);
  }
  await Promise.all([a.close(), b.close(), c.close()]);
});

test("the app's first run on two devices, one sample edited on each before the first sync: edits merge, each card once", async () => {
  const appDir = path.join(root, 'fixtures', 'app');
  const samples = JSON.parse(fs.readFileSync(path.join(appDir, 'sample-decks.json'), 'utf8'));
  const firstRun = JSON.parse(fs.readFileSync(path.join(appDir, 'first-run.json'), 'utf8'));
  const base = firstRun['mdoc_math-basics'];
  const e = email();
  const a = await open({ samples });
  await a.register(e, PASSWORD, { deviceName: 'tablet' });
  a.importLocalStorage({ ...firstRun, 'mdoc_math-basics': `${base}\nWhat is 10 + 10? :: 20` });
  const b = await open();
  await b.login(e, PASSWORD, { deviceName: 'laptop' });
  b.importLocalStorage(
    { ...firstRun, 'mdoc_math-basics': base.replace('What is 2 + 2? :: 4', 'What is 2 + 2? :: four') },
    { samples },
  );
  for (const c of [a, b]) c.connect();
  await Promise.all([a.synced(), b.synced()]);
  await a.syncNow();
  await b.syncNow();
  const want = `${base.replace('What is 2 + 2? :: 4', 'What is 2 + 2? :: four')}\nWhat is 10 + 10? :: 20`;
  for (const [who, c] of [['a', a], ['b', b]]) {
    await waitFor(`${who} merged`, () => c.deck('math-basics')?.markdown === want);
    const deck = c.deck('math-basics');
    assert.equal(deck.name, 'Elementary Math Fun', who);
    assert.equal(deck.metadata.originalMarkdown, want, who);
    const fronts = deck.cards.map((card) => card.front);
    assert.equal(new Set(fronts).size, fronts.length, `${who}: a card twice: ${fronts}`);
    assert.ok(fronts.includes('What is 10 + 10?'), who);
    assert.equal(Object.values(c.decks()).filter((d) => d.name === 'Untitled Deck').length, 0, who);
  }
  assert.deepEqual(a.deck('math-basics').cards, b.deck('math-basics').cards);
  await Promise.all([a.close(), b.close()]);
});

test('an edit on one connected device is pushed to the other over the WebSocket', async () => {
  const e = email();
  const a = await open();
  await a.register(e, PASSWORD);
  a.createDeck({ id: 'd1', name: 'Colors', emoji: '🎨', markdown: 'Red :: Rojo\n' });
  a.connect();
  await a.synced();
  const b = await open();
  await b.login(e, PASSWORD);
  b.connect();
  await b.synced();
  assert.equal(b.deck('d1').markdown, 'Red :: Rojo\n');
  const remote = new Promise((resolve) => b.on('change', (ev) => ev.origin === 'remote' && resolve()));
  const t0 = Date.now();
  a.editMarkdown('d1', 'Red :: Rojo\nBlue :: Azul\n');
  await remote;
  await waitFor('the push', () => b.deck('d1').markdown === 'Red :: Rojo\nBlue :: Azul\n', 5000);
  assert.ok(Date.now() - t0 < 5000);
  await Promise.all([a.close(), b.close()]);
});

test('offline edits survive a restart and merge with concurrent edits on reconnect', async () => {
  const e = email();
  const a = await open();
  await a.register(e, PASSWORD);
  a.createDeck({ id: 'd1', name: 'Math', emoji: '➕', markdown: '2+2 :: 4\n' });
  a.connect();
  await a.synced();

  const storage = memoryStorage();
  const b = await open({ storage });
  await b.login(e, PASSWORD);
  b.connect();
  await b.synced();
  b.disconnect();
  assert.equal(b.status, 'offline');
  b.editMarkdown('d1', '1+1 :: 2\n2+2 :: 4\n');
  b.recordReview({ deckId: 'd1', cardId: 'c-2plus2', correct: true, responseMs: 900 });
  assert.ok(b.pendingChanges > 0);
  await b.close();

  a.editMarkdown('d1', '2+2 :: 4\n3+3 :: 6\n');
  a.recordReview({ deckId: 'd1', cardId: 'c-2plus2', correct: false, responseMs: 2000 });
  await a.synced();

  // The same storage, a new process of the app: the session and the edits are there.
  const b2 = await open({ storage });
  assert.equal(b2.user.email, e);
  assert.equal(b2.deck('d1').markdown, '1+1 :: 2\n2+2 :: 4\n');
  b2.connect();
  await b2.synced();
  await waitFor('a to see b2', () => a.deck('d1').markdown === b2.deck('d1').markdown);
  assert.equal(a.deck('d1').markdown, '1+1 :: 2\n2+2 :: 4\n3+3 :: 6\n');
  for (const client of [a, b2]) {
    const p = client.progress()['c-2plus2'];
    assert.equal(p.stats.views, 2);
    assert.equal(p.stats.correctCount, 1);
    assert.equal(p.stats.incorrectCount, 1);
  }
  assert.deepEqual(a.exportData(), b2.exportData());
  await Promise.all([a.close(), b2.close()]);
});

test('an edit reaches the server only once it is in local storage (WebSocket and HTTP)', async () => {
  // Were it sent first, a tab killed before its save completes would leave
  // the server a change this device's next start does not have, under the
  // actor it reuses: its next change would collide with it.
  for (const [transport, opts] of [['ws', {}], ['http', { WebSocket: null }]]) {
    const e = email();
    const store = memoryStorage();
    let gate = null;
    const held = {
      ...store,
      // While `gate` is set, saving a document hangs (a slow or dying disk).
      set: async (key, value) => {
        if (gate && key.includes('/doc/')) await gate.promise;
        return store.set(key, value);
      },
    };
    const a = await open({ storage: held, ...opts });
    await a.register(e, PASSWORD);
    a.createDeck({ id: 'd1', name: 'Colors', emoji: '🎨', markdown: 'Red :: Rojo\n' });
    a.connect();
    await a.synced();
    const b = await open(opts);
    await b.login(e, PASSWORD);
    b.connect();
    await b.synced();

    let release;
    gate = { promise: new Promise((r) => { release = r; }) };
    a.editMarkdown('d1', 'Red :: Rojo\nBlue :: Azul\n');
    a.recordReview({ deckId: 'd1', cardId: 'c-red', correct: true, responseMs: 700 });
    await new Promise((r) => setTimeout(r, 1500));
    await b.syncNow();
    assert.equal(b.deck('d1').markdown, 'Red :: Rojo\n', `${transport}: sent before it was saved`);
    assert.equal(b.progress()['c-red'], undefined, `${transport}: review sent before it was saved`);

    gate = null;
    release();
    await waitFor(`${transport}: the edit once saved`,
      () => b.deck('d1').markdown === 'Red :: Rojo\nBlue :: Azul\n' && b.progress()['c-red']?.stats.views === 1);
    await Promise.all([a.close(), b.close()]);
  }
});

/** A WebSocket that never gets through (a proxy that blocks upgrades). */
class BlockedWebSocket {
  constructor() {
    this.readyState = 0;
    setTimeout(() => { this.readyState = 3; this.onerror?.({}); this.onclose?.({ code: 1006 }); }, 10);
  }
  send() { throw new Error('not open'); }
  close() {}
}

test('when the WebSocket cannot connect, the client syncs over HTTP and reports synced', async () => {
  const e = email();
  const a = await open({ WebSocket: BlockedWebSocket });
  await a.register(e, PASSWORD);
  a.star('public-solar-system');
  const statuses = [];
  a.on('status', (s) => statuses.push(s));
  a.connect();
  await a.synced();
  const b = await open({ WebSocket: BlockedWebSocket });
  await b.login(e, PASSWORD);
  b.connect();
  await b.synced();
  assert.deepEqual(b.starred(), ['public-solar-system']);
  // Later edits keep flowing over HTTP (polling), in both directions.
  b.unstar('public-solar-system');
  await waitFor('the unstar to reach a', () => a.starred().length === 0, 20_000);
  assert.ok(statuses.includes('connecting') && statuses.includes('synced'), statuses.join(','));
  await Promise.all([a.close(), b.close()]);
});

/** A WebSocket whose handshake never ends: neither `open` nor `close`. */
class HangingWebSocket {
  static made = 0;
  constructor() {
    HangingWebSocket.made += 1;
    this.readyState = 0;
  }
  send() { throw new Error('not open'); }
  close() { this.readyState = 3; }
}

test('a WebSocket that never opens is given up: the client syncs over HTTP and tries the socket again', async () => {
  const a = await open({ WebSocket: HangingWebSocket, timeouts: { connectMs: 300 } });
  await a.register(email(), PASSWORD);
  a.star('public-solar-system');
  a.connect();
  await a.synced({ timeoutMs: 10_000 });
  await waitFor('a second try of the socket', () => HangingWebSocket.made >= 2, 10_000);
  await a.close();
});

test('an HTTP call that gets no answer is given up with a network error', async () => {
  const net = await import('node:net');
  const held = [];
  const silent = net.createServer((socket) => held.push(socket));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const c = await SyncClient.open({
      server: `http://127.0.0.1:${silent.address().port}`,
      storage: memoryStorage(),
      WebSocket,
      timeouts: { requestMs: 300 },
    });
    const t0 = Date.now();
    await assert.rejects(c.login(email(), PASSWORD), (e) => e instanceof SyncClientError && e.code === 'network');
    assert.ok(Date.now() - t0 < 5_000, `gave up after ${Date.now() - t0} ms`);
    await c.close();
  } finally {
    for (const s of held) s.destroy();
    silent.close();
  }
});

test('tokens are refreshed automatically: syncing works after the access token expired', async () => {
  const e = email();
  const a = await open({ WebSocket: null });
  await a.register(e, PASSWORD);
  a.setPreference('theme', 'dark');
  await a.syncNow();
  await new Promise((r) => setTimeout(r, (ACCESS_TTL_SECS + 1) * 1000));
  a.setPreferences({ gameSettings: { showHints: false } });
  await a.syncNow();
  const b = await open({ WebSocket: null });
  await b.login(e, PASSWORD);
  await b.syncNow();
  assert.equal(b.preferences().theme, 'dark');
  assert.equal(b.preferences().gameSettings.showHints, false);
  await Promise.all([a.close(), b.close()]);
});

test('logout erases the local data; a session revoked elsewhere turns the status to error', async () => {
  const e = email();
  const storage = memoryStorage();
  const a = await open({ storage, WebSocket: null });
  await a.register(e, PASSWORD);
  a.createDeck({ id: 'd1', name: 'Mine' });
  await a.syncNow();
  // Another device revokes a's session (DELETE /user/sessions/{id}).
  const other = await call(w.url, 'POST', '/auth/login', { body: { email: e, password: await prehash(e, PASSWORD) } });
  assert.equal(other.status, 200);
  const list = await call(w.url, 'GET', '/user/sessions', { token: other.json.access_token });
  const mine = list.json.sessions.find((s) => !s.current);
  assert.equal((await call(w.url, 'DELETE', `/user/sessions/${mine.session_id}`, { token: other.json.access_token })).status, 204);
  const statuses = [];
  a.on('status', (s) => statuses.push(s));
  a.editMarkdown('d1', 'offline work is kept');
  await assert.rejects(a.syncNow(), (err) => err instanceof SyncClientError && err.status === 401);
  assert.equal(a.status, 'error');
  assert.ok(statuses.includes('error'));
  assert.equal(a.deck('d1').markdown, 'offline work is kept', 'local data stays until logout');
  await a.logout();
  assert.equal(a.user, null);
  assert.throws(() => a.decks(), (err) => err.code === 'unauthorized');
  assert.deepEqual(await storage.keys('u/'), []);
  assert.equal(await storage.get('session'), undefined);
  const again = await open({ storage });
  assert.equal(again.user, null);
  await Promise.all([a.close(), again.close()]);
});

test('typed errors: bad input and wrong password never crash the client', async () => {
  const a = await open();
  await assert.rejects(a.login(email(), 'nope'), (err) => err instanceof SyncClientError && err.code === 'invalid_credentials');
  assert.throws(() => a.decks(), (err) => err.code === 'unauthorized');
  await a.register(email(), PASSWORD);
  assert.throws(() => a.createDeck({ id: '', name: 'x' }), (err) => err instanceof SyncClientError && err.code === 'validation_failed');
  assert.throws(() => a.editMarkdown('missing', 'x'), (err) => err.code === 'deck_not_found');
  assert.throws(() => a.setPreference('theme', 'neon'), (err) => err.code === 'validation_failed');
  assert.throws(() => a.importLocalStorage({ myflashplay_decks: '{not json' }), (err) => err.code === 'local_storage');
  assert.throws(() => a.importLocalStorage({ myflashplay_decks: 42 }), (err) => err.code === 'validation_failed');
  // The wasm instance is still alive after every refusal.
  a.createDeck({ id: 'ok', name: 'Fine' });
  assert.equal(a.deck('ok').name, 'Fine');
  await a.close();
});
