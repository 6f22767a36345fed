// Recovery codes end to end against the real Worker under workerd: issued
// once at registration, each works once, wrong codes back off like wrong
// passwords, recovery ends every older session and keeps the data; a new
// set replaces the old; the browser package exposes all of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, call, root } from './harness.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, SyncClientError, memoryStorage } = pkg;

let w;
before(async () => { w = await startWorker({ vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url') } }); });
after(async () => { await w?.stop(); });

const prehash = () => crypto.randomBytes(32).toString('base64url');
let n = 0;
const email = () => `rec.${process.pid}.${Date.now()}.${n++}@example.com`;
// Each test its own client address, so the per-address back-off of one
// test does not reach the others.
const ip = () => ({ 'cf-connecting-ip': `198.51.100.${(n++ % 250) + 1}` });
const post = (p, body, opts = {}) => call(w.url, 'POST', p, { body, ...opts });
const get = (p, token) => call(w.url, 'GET', p, { token });
const CODE = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/;

function expectError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.json)}`);
  assert.equal(r.json?.error?.code, code);
}

async function register() {
  const e = email();
  const p = prehash();
  const r = await post('/auth/register', { email: e, password: p, device_name: 'tablet' }, { headers: ip() });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { email: e, password: p, tokens: r.json, codes: r.json.recovery_codes };
}

test('registration answers Tokens plus ten distinct codes, shown only then', async () => {
  const a = await register();
  assert.equal(a.codes.length, 10);
  assert.equal(new Set(a.codes).size, 10);
  for (const c of a.codes) assert.match(c, CODE);
  assert.equal(typeof a.tokens.access_token, 'string');
  const login = await post('/auth/login', { email: a.email, password: a.password }, { headers: ip() });
  assert.equal(login.status, 200);
  assert.equal(login.json.recovery_codes, undefined);
  const views = [
    await get('/user/profile', a.tokens.access_token),
    await get('/user/export', a.tokens.access_token),
    await get('/user/sessions', a.tokens.access_token),
  ];
  for (const v of views) {
    assert.equal(v.status, 200);
    const text = JSON.stringify(v.json);
    for (const c of a.codes) assert.ok(!text.includes(c), 'a code appears after registration');
  }
});

test('a code recovers the account once: new password, every older session revoked, data intact', async () => {
  const a = await register();
  const t1 = a.tokens;
  const deck = { id: 'colors', name: 'Colors', emoji: '🎨', markdown: 'Red :: Rojo\n' };
  const wrote = await post('/sync/decks', { data: [deck] }, { token: t1.access_token });
  assert.equal(wrote.status, 200, JSON.stringify(wrote.json));
  const t2 = (await post('/auth/login', { email: a.email, password: a.password, device_name: 'phone' }, { headers: ip() })).json;
  // A live WebSocket of an older session is closed too.
  const ws = new WebSocket(`${w.url.replace('http', 'ws')}/sync/ws`, ['myflashplay-sync.v1', `bearer.${t2.access_token}`]);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));

  const newPassword = prehash();
  const code = a.codes[3].toUpperCase().replaceAll('-', ' '); // typed back loosely
  const r = await post('/auth/recover', { email: a.email, code, new_password: newPassword, device_name: 'laptop' }, { headers: ip() });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.user_id, t1.user_id);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.recovery_codes, undefined);
  assert.equal(await closed, 1008);

  for (const t of [t1, t2]) {
    expectError(await get('/auth/validate', t.access_token), 401, 'invalid_token');
    expectError(await post('/auth/refresh', { refresh_token: t.refresh_token }), 401, 'invalid_token');
  }
  const sessions = await get('/user/sessions', r.json.access_token);
  assert.deepEqual(sessions.json.sessions.map((s) => s.device_name), ['laptop']);
  expectError(await post('/auth/login', { email: a.email, password: a.password }, { headers: ip() }), 401, 'invalid_credentials');
  assert.equal((await post('/auth/login', { email: a.email, password: newPassword }, { headers: ip() })).status, 200);

  const decks = await get('/sync/decks', r.json.access_token);
  assert.equal(decks.json.data.find((d) => d.id === 'colors')?.markdown, deck.markdown);

  // The same code a second time: refused like a wrong password.
  const again = await post('/auth/recover', { email: a.email, code: a.codes[3], new_password: prehash() }, { headers: ip() });
  expectError(again, 401, 'invalid_credentials');
  // Another code of the set still works.
  const other = await post('/auth/recover', { email: a.email, code: a.codes[4], new_password: prehash() }, { headers: ip() });
  assert.equal(other.status, 200);
});

test('wrong codes count in the same back-off as wrong passwords', async () => {
  const a = await register();
  const addr = ip();
  const wrong = ['0000-0000-0000-0000', 'not a code', a.codes[0].slice(0, -1) + (a.codes[0].endsWith('z') ? 'y' : 'z')];
  // Five free failures per email: three wrong codes and two wrong passwords.
  for (const code of wrong) {
    expectError(await post('/auth/recover', { email: a.email, code, new_password: prehash() }, { headers: addr }), 401, 'invalid_credentials');
  }
  for (let i = 0; i < 2; i++) {
    expectError(await post('/auth/login', { email: a.email, password: prehash() }, { headers: addr }), 401, 'invalid_credentials');
  }
  const sixth = await post('/auth/recover', { email: a.email, code: '1111-1111-1111-1111', new_password: prehash() }, { headers: addr });
  expectError(sixth, 401, 'invalid_credentials');
  // Now locked: a right code and the right password both wait.
  const locked = await post('/auth/recover', { email: a.email, code: a.codes[0], new_password: prehash() }, { headers: addr });
  expectError(locked, 429, 'rate_limited');
  assert.ok(Number(locked.headers.get('retry-after')) >= 1);
  expectError(await post('/auth/login', { email: a.email, password: a.password }, { headers: addr }), 429, 'rate_limited');
  // An unknown email answers exactly like a wrong code.
  const unknown = await post('/auth/recover', { email: email(), code: a.codes[0], new_password: prehash() }, { headers: ip() });
  expectError(unknown, 401, 'invalid_credentials');
  // A new password that is not a prehash is refused before any check.
  expectError(await post('/auth/recover', { email: a.email, code: a.codes[0], new_password: 'plain' }, { headers: ip() }), 400, 'validation_failed');
});

test('a new set replaces the old one and needs the password', async () => {
  const a = await register();
  const token = a.tokens.access_token;
  expectError(await post('/user/recovery-codes', { password: prehash() }, { token }), 401, 'invalid_credentials');
  expectError(await post('/user/recovery-codes', { password: a.password }), 401, 'unauthorized');
  const r = await post('/user/recovery-codes', { password: a.password }, { token });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.recovery_codes.length, 10);
  assert.ok(r.json.recovery_codes.every((c) => CODE.test(c) && !a.codes.includes(c)));
  const old = await post('/auth/recover', { email: a.email, code: a.codes[0], new_password: prehash() }, { headers: ip() });
  expectError(old, 401, 'invalid_credentials');
  const fresh = await post('/auth/recover', { email: a.email, code: r.json.recovery_codes[0], new_password: prehash() }, { headers: ip() });
  assert.equal(fresh.status, 200);
});

test('the browser package: register shows the codes, recover and regenerate', async () => {
  const e = email();
  const a = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });
  const user = await a.register(e, 'first password', { deviceName: 'kid tablet' });
  assert.equal(user.recoveryCodes.length, 10);
  a.createDeck({ id: 'd1', name: 'Animals', emoji: '🐘', markdown: 'Cat :: Gato\n' });
  a.connect();
  await a.synced();

  const b = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });
  const back = await b.recover(e, user.recoveryCodes[0], 'second password', { deviceName: 'parent phone' });
  assert.equal(back.userId, user.userId);
  assert.equal(back.recoveryCodes, undefined);
  b.connect();
  await b.synced();
  assert.equal(b.deck('d1').markdown, 'Cat :: Gato\n');
  await assert.rejects(
    b.recover(e, user.recoveryCodes[0], 'third password'),
    (err) => err instanceof SyncClientError && err.code === 'invalid_credentials' && err.status === 401,
  );
  const fresh = await b.regenerateRecoveryCodes('second password');
  assert.equal(fresh.length, 10);
  // Each wrong password counts once: three of them stay under the five
  // free failures, so the right password still logs in.
  for (let i = 0; i < 3; i++) {
    await assert.rejects(b.regenerateRecoveryCodes('wrong'), (err) => err.code === 'invalid_credentials');
  }
  const c = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });
  assert.equal((await c.login(e, 'second password')).userId, user.userId);
  await c.close();
  await Promise.all([a.close(), b.close()]);
});
