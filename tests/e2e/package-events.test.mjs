// The browser package's core additions for the React bindings, from its
// built output in Node against the real Worker: a client without a server
// (local only), the `pending` event that lets a status chip settle from
// events alone, and a device that signs out (erasing its copy) and back in
// with edits made before its first sync.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, root } from './harness.mjs';

const { SyncClient, SyncClientError, memoryStorage } = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const samples = JSON.parse(fs.readFileSync(path.join(root, 'fixtures', 'app', 'sample-decks.json'), 'utf8'));
const sampleEntries = Object.fromEntries(samples.map((s) => [`mdoc_${s.id}`, s.markdown]));
const PASSWORD = 'a long enough password';
let w;
before(async () => {
  w = await startWorker({ vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url') } });
});
after(async () => { await w?.stop(); });
let n = 0;
const email = () => `events.${process.pid}.${Date.now()}.${n++}@example.com`;

test('without a server the client is local only: status local, data kept in its storage, no sign-in', async () => {
  const storage = memoryStorage();
  const c = await SyncClient.open({ storage, samples });
  assert.equal(c.status, 'local');
  assert.equal(c.user, null);
  c.importLocalStorage(sampleEntries);
  c.createDeck({ id: 'd1', name: 'Farm', markdown: 'Cow :: Moo\n' });
  assert.equal(c.deck('math-basics').name, 'Elementary Math Fun');
  assert.equal(c.exportLocalStorage().mdoc_d1, 'Cow :: Moo\n');
  await assert.rejects(c.login('kid@example.com', PASSWORD), (e) => e instanceof SyncClientError && e.code === 'no_server');
  c.connect(); // nothing to connect to
  assert.equal(c.status, 'local');
  await c.close();
  const again = await SyncClient.open({ storage });
  assert.equal(again.deck('d1').markdown, 'Cow :: Moo\n', 'kept in its storage');
  await again.close();
  await assert.rejects(SyncClient.open({ server: 'ftp://x' }), (e) => e.code === 'validation_failed');
});

test('status and pending events alone bring a chip to "synced, 0 pending"', async () => {
  const c = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });
  let chip = `${c.status}, ${c.pendingChanges} pending`;
  const seen = [];
  let status = c.status;
  let pending = c.pendingChanges;
  const show = () => { chip = `${status}, ${pending} pending`; seen.push(chip); };
  c.on('status', (s) => { status = s; show(); });
  c.on('pending', (p) => { pending = p; show(); });
  await c.register(email(), PASSWORD);
  c.importLocalStorage(sampleEntries);
  assert.ok(seen.some((s) => /, [1-9]\d* pending$/.test(s)), `edits raise pending: ${seen}`);
  c.connect();
  const end = Date.now() + 15_000;
  while (chip !== 'synced, 0 pending' && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(chip, 'synced, 0 pending', seen.join(' | '));
  assert.equal(c.pendingChanges, 0);
  await c.close();
});

test('signed out (copy erased) and back in on the same device, edits before the first sync settle', async () => {
  const e = email();
  const c = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket, samples });
  await c.register(e, PASSWORD);
  c.connect();
  c.importLocalStorage(sampleEntries);
  c.createDeck({ id: 'd1', name: 'Farm', markdown: 'Cow :: Moo\n' });
  await c.synced({ timeoutMs: 20_000 });
  const actorBefore = c.peerId;
  await c.logout();
  await c.login(e, PASSWORD);
  // The same documents again, under this device's new actor, before any sync.
  c.importLocalStorage(sampleEntries);
  c.connect();
  await c.synced({ timeoutMs: 20_000 });
  assert.equal(c.deck('d1').markdown, 'Cow :: Moo\n');
  assert.equal(c.pendingChanges, 0);
  assert.notEqual(c.peerId, actorBefore, 'a new identity after the erase');
  await c.close();
});

test('closing while the socket is still connecting raises nothing afterwards', async () => {
  // Node's `ws` reports an 'error' after close() on a connecting socket; a
  // client that dropped its listener first threw it as an uncaught exception.
  let made = 0;
  const errors = [];
  const onUncaught = (e) => errors.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    for (let i = 0; i < 3; i++) {
      let closing;
      class Watched extends WebSocket {
        constructor(...args) {
          super(...args);
          made++;
          queueMicrotask(() => { closing = c.close(); });
        }
      }
      const c = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket: Watched });
      await c.register(email(), PASSWORD);
      c.connect();
      const end = Date.now() + 5_000;
      while (!closing && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      await closing;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assert.equal(made, 3);
  assert.deepEqual(errors.map(String), []);
});
