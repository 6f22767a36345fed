// Durable Object alarms end to end, with the intervals made short by vars:
// the user's object deletes revoked sessions with their refresh-token
// history and tickets, drops the sync states of devices gone quiet and
// compacts idle documents; the Account object expires its back-off row.
// The tables shrink (read from the objects' SQLite files under the state
// directory) and the learner's data is intact afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, root, call } from './harness.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, memoryStorage } = pkg;

// The first alarm comes 10 s after the user's object is first used (time
// for the set-up below); devices unseen for 2 s are stale, documents idle
// for 1 s are compacted, back-off rows go 2 s after the last failure.
const VARS = {
  JWT_SECRET: crypto.randomBytes(32).toString('base64url'),
  MAINTENANCE_INTERVAL_SECS: '10',
  STALE_PEER_SECS: '2',
  COMPACT_IDLE_SECS: '1',
  BACKOFF_RETENTION_SECS: '2',
};

let w;
before(async () => { w = await startWorker({ vars: VARS }); });
after(async () => { await w?.stop(); });

/** Row counts of `tables`, summed over every object of `className`. */
function rows(className, tables) {
  const dir = path.join(w.stateDir, 'v3', 'do', `myflashplay-sync-${className}`);
  const script = `
import glob, json, sqlite3, sys
out = {t: 0 for t in sys.argv[2:]}
for f in glob.glob(sys.argv[1] + '/*.sqlite'):
    db = sqlite3.connect('file:' + f + '?mode=ro', uri=True)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for t in sys.argv[2:]:
        if t in names:
            out[t] += db.execute('SELECT COUNT(*) FROM ' + t).fetchone()[0]
    db.close()
print(json.dumps(out))`;
  return JSON.parse(execFileSync('python3', ['-c', script, dir, ...tables]).toString());
}

const USER_TABLES = ['sessions', 'refresh_history', 'tickets', 'sync_states', 'peers', 'chunks', 'documents'];

test('alarms shrink the maintenance tables and keep the learner data', { timeout: 120_000 }, async () => {
  const email = `alarm.${crypto.randomBytes(4).toString('hex')}@example.com`;
  const password = 'a long enough password';
  const open = () => SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });

  // Two devices of one learner, a deck edited several times.
  const a = await open();
  await a.register(email, password, { deviceName: 'tablet' });
  // A deck large enough that small edits are stored as deltas beside its
  // snapshot (a small one is rewritten whole on every change).
  const cards = Array.from({ length: 300 }, (_, i) => `${i} + ${i} :: ${2 * i}`).join('\n');
  a.createDeck({ id: 'd1', name: 'Colors', emoji: '🎨', markdown: `${cards}\nRed :: Rojo\n` });
  a.connect();
  await a.synced();
  const markdown = ['Red :: Rojo', 'Blue :: Azul', 'Green :: Verde', 'Black :: Negro', 'White :: Blanco'];
  for (let i = 2; i <= markdown.length; i++) {
    a.editMarkdown('d1', `${cards}\n${markdown.slice(0, i).join('\n')}\n`);
    a.recordReview({ deckId: 'd1', cardId: `c${i}`, correct: i % 2 === 0, responseMs: 500 * i });
    await a.synced();
  }
  const b = await open();
  await b.login(email, password, { deviceName: 'phone' });
  b.connect();
  await b.synced();
  assert.equal(b.deck('d1').markdown, `${cards}\n${markdown.join('\n')}\n`);
  await b.close();
  await a.close();

  // A third session that refreshed twice, took two tickets, then logged out.
  const hashed = await pkg.prehash(email, password);
  const login = await call(w.url, 'POST', '/auth/login', { body: { email, password: hashed } });
  assert.equal(login.status, 200);
  let refresh = login.json.refresh_token;
  let access;
  for (let i = 0; i < 2; i++) {
    const r = await call(w.url, 'POST', '/auth/refresh', { body: { refresh_token: refresh } });
    assert.equal(r.status, 200);
    refresh = r.json.refresh_token;
    access = r.json.access_token;
  }
  for (let i = 0; i < 2; i++) {
    assert.equal((await call(w.url, 'POST', '/sync/ticket', { token: access })).status, 200);
  }
  assert.equal((await call(w.url, 'POST', '/auth/logout', { token: access, body: {} })).status, 204);

  // A mistyped password: a back-off row for the email and one for the IP.
  const wrong = await call(w.url, 'POST', '/auth/login', { body: { email, password: crypto.randomBytes(32).toString('base64url') } });
  assert.equal(wrong.status, 401);

  const before = rows('UserStore', USER_TABLES);
  const lockoutBefore = rows('Account', ['lockout', 'account']);
  assert.ok(before.sessions >= 3, JSON.stringify(before));
  assert.ok(before.refresh_history >= 2, JSON.stringify(before));
  assert.ok(before.tickets >= 2, JSON.stringify(before));
  assert.ok(before.sync_states >= 2, JSON.stringify(before));
  assert.ok(before.chunks > before.documents, `documents with several chunks: ${JSON.stringify(before)}`);
  assert.ok(lockoutBefore.lockout >= 2, JSON.stringify(lockoutBefore));

  // Wait for the alarms (first one 10 s after first use).
  const deadline = Date.now() + 60_000;
  let now = before;
  let lockoutNow = lockoutBefore;
  for (;;) {
    now = rows('UserStore', USER_TABLES);
    lockoutNow = rows('Account', ['lockout', 'account']);
    const done = now.sessions === before.sessions - 1 && now.refresh_history === 0 && now.tickets === 0
      && now.sync_states === 0 && now.chunks === now.documents && lockoutNow.lockout === 0;
    if (done || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const report = JSON.stringify({ before, now, lockoutBefore, lockoutNow });
  assert.equal(now.sessions, before.sessions - 1, `the revoked session is deleted, the live ones stay: ${report}`);
  assert.equal(now.refresh_history, 0, report);
  assert.equal(now.tickets, 0, report);
  assert.equal(now.sync_states, 0, `devices unseen for 2 s lose their sync states: ${report}`);
  assert.equal(now.peers, 0, report);
  assert.equal(now.chunks, now.documents, `one snapshot per document: ${report}`);
  assert.equal(now.documents, before.documents, `no document is deleted: ${report}`);
  assert.equal(lockoutNow.lockout, 0, `back-off rows expire: ${report}`);
  assert.equal(lockoutNow.account, lockoutBefore.account, 'accounts stay');
  // The learner's data is intact: a new device gets every edit and review.
  const c = await open();
  await c.login(email, password, { deviceName: 'new laptop' });
  c.connect();
  await c.synced();
  assert.equal(c.deck('d1').markdown, `${cards}\n${markdown.join('\n')}\n`);
  const progress = c.progress();
  for (let i = 2; i <= markdown.length; i++) assert.ok(progress[`c${i}`], `review of c${i} kept`);
  // Editing after maintenance works as before.
  c.editMarkdown('d1', 'Purple :: Morado\n');
  await c.synced();
  await c.close();
  const again = await call(w.url, 'POST', '/auth/login', { body: { email, password: hashed } });
  const exported = await call(w.url, 'GET', '/user/export', { token: again.json.access_token });
  assert.equal(exported.status, 200);
  assert.equal(exported.json.decks.d1.markdown, 'Purple :: Morado\n');
});

test('the deployment smoke script passes against the Worker', async () => {
  const { smoke } = await import(path.join(root, 'scripts', 'smoke.mjs'));
  const email = `smoke.${crypto.randomBytes(4).toString('hex')}@example.com`;
  const password = 'smoke test password';
  const c = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket: null });
  await c.register(email, password);
  await c.close();
  const lines = [];
  await smoke(w.url, { email, password, log: (l) => lines.push(l) });
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, 8, lines.join('\n'));
});
