// JWT key rotation end to end: the same stored state served by workerd
// with JWT_SECRET = K1, then K2 with JWT_SECRET_PREVIOUS = K1, then K2
// alone, as the README's runbook does it. Nobody is logged out by the
// rotation; a token naming an unknown key is refused with invalid_token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { startWorker, tempStateDir, call } from './harness.mjs';

const K1 = crypto.randomBytes(32).toString('base64url');
const K2 = crypto.randomBytes(32).toString('base64url');
const stateDir = tempStateDir();
let w;
after(async () => { await w?.stop(); });

async function serve(vars) {
  await w?.stop();
  w = await startWorker({ stateDir, vars });
}

const header = (t) => JSON.parse(Buffer.from(t.split('.')[0], 'base64url').toString());
const claims = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());
const validate = (token) => call(w.url, 'GET', '/auth/validate', { token });

function sign(payload, key, kid) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b({ alg: 'HS256', typ: 'JWT', kid })}.${b(payload)}`;
  return `${unsigned}.${crypto.createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

function openSocket(token) {
  const ws = new WebSocket(`${w.url.replace('http', 'ws')}/sync/ws`, ['myflashplay-sync.v1', `bearer.${token}`]);
  return new Promise((resolve, reject) => {
    ws.once('open', () => { ws.close(); resolve(true); });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.once('error', reject);
  });
}

test('rotate: previous key accepted, unknown kid refused, refresh works, nobody logged out', async () => {
  await serve({ JWT_SECRET: K1 });
  const e = `rot.${process.pid}.${Date.now()}@example.com`;
  const reg = await call(w.url, 'POST', '/auth/register', { body: { email: e, password: crypto.randomBytes(32).toString('base64url') } });
  assert.equal(reg.status, 201);
  const old = reg.json;
  const kid1 = header(old.access_token).kid;
  assert.match(kid1, /^[0-9a-f]{16}$/);
  assert.ok(!K1.includes(kid1));

  // Step 1 of the runbook: the new key becomes current, the old one previous.
  await serve({ JWT_SECRET: K2, JWT_SECRET_PREVIOUS: K1 });
  const v = await validate(old.access_token);
  assert.equal(v.status, 200, JSON.stringify(v.json));
  assert.equal(v.json.user_id, old.user_id);
  assert.equal(await openSocket(old.access_token), true);
  const sync = await call(w.url, 'GET', '/sync/decks', { token: old.access_token });
  assert.equal(sync.status, 200);

  // A refresh (opaque token, no key involved) gives a token of the new key.
  const r = await call(w.url, 'POST', '/auth/refresh', { body: { refresh_token: old.refresh_token } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const kid2 = header(r.json.access_token).kid;
  assert.notEqual(kid2, kid1);
  assert.equal((await validate(r.json.access_token)).status, 200);

  // A token naming a key the server does not have: refused, whatever its
  // signature; one naming a known key but signed with another: refused.
  const c = claims(r.json.access_token);
  for (const forged of [sign(c, K2, '0123456789abcdef'), sign(c, K1, kid2), sign(c, crypto.randomBytes(32), kid1)]) {
    const f = await validate(forged);
    assert.equal(f.status, 401);
    assert.equal(f.json.error.code, 'invalid_token');
  }

  // Step 3: once the old access tokens have expired, the old key goes.
  await serve({ JWT_SECRET: K2 });
  const gone = await validate(old.access_token);
  assert.equal(gone.status, 401);
  assert.equal(gone.json.error.code, 'invalid_token');
  assert.equal((await validate(r.json.access_token)).status, 200);
  // Even a client that missed the whole rotation only refreshes.
  const late = await call(w.url, 'POST', '/auth/refresh', { body: { refresh_token: r.json.refresh_token } });
  assert.equal(late.status, 200);
  assert.equal(header(late.json.access_token).kid, kid2);
});
