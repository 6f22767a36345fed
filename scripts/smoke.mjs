// Smoke test of a deployment: `node scripts/smoke.mjs <base URL>`.
// Without credentials it only reads: /health answers ok with the version,
// every answer carries x-request-id, errors have the contract shape, an
// unauthenticated call is refused. With SMOKE_EMAIL and
// SMOKE_PASSWORD (an existing test account of that deployment) it also logs
// in, validates, reads the decks view and logs out. Exits non-zero on the
// first failure; prints one line per check.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export async function smoke(base, { email, password, log = console.log } = {}) {
  const url = base.replace(/\/+$/, '');
  const check = async (what, fn) => {
    const t0 = performance.now();
    await fn();
    log(`ok   ${what} (${(performance.now() - t0).toFixed(0)} ms)`);
  };
  const get = async (p, init = {}) => {
    const res = await fetch(url + p, init);
    const text = await res.text();
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f]{32}$/, `x-request-id on ${p}`);
    return { res, json: text ? JSON.parse(text) : null };
  };
  await check('GET /health', async () => {
    const { res, json } = await get('/health');
    assert.equal(res.status, 200);
    assert.equal(json.status, 'ok');
    assert.match(json.version, /^\d+\.\d+\.\d+/);
  });
  await check('unknown route: 404 not_found', async () => {
    const { res, json } = await get('/no-such-route');
    assert.equal(res.status, 404);
    assert.equal(json.error.code, 'not_found');
  });
  await check('GET /auth/validate without a token: 401 unauthorized', async () => {
    const { res, json } = await get('/auth/validate');
    assert.equal(res.status, 401);
    assert.equal(json.error.code, 'unauthorized');
  });
  await check('GET /sync/ws without an upgrade: 400 bad_request', async () => {
    const { res, json } = await get('/sync/ws');
    assert.equal(res.status, 400);
    assert.equal(json.error.code, 'bad_request');
  });
  if (!email || !password) {
    log('skip login checks (set SMOKE_EMAIL and SMOKE_PASSWORD)');
    return;
  }
  const pkgPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'wasm-client', 'pkg', 'index.js');
  const { prehash } = await import(pkgPath);
  let token;
  await check('POST /auth/login', async () => {
    const body = JSON.stringify({ email, password: await prehash(email, password), device_name: 'smoke test' });
    const { res, json } = await get('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200, JSON.stringify(json));
    token = json.access_token;
  });
  const auth = () => ({ headers: { authorization: `Bearer ${token}` } });
  await check('GET /auth/validate', async () => {
    const { res } = await get('/auth/validate', auth());
    assert.equal(res.status, 200);
  });
  await check('GET /sync/decks', async () => {
    const { res, json } = await get('/sync/decks', auth());
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(json.data));
  });
  await check('POST /auth/logout', async () => {
    const { res } = await get('/auth/logout', { method: 'POST', headers: { ...auth().headers, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 204);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const base = process.argv[2];
  if (!base) {
    console.error('usage: node scripts/smoke.mjs <base URL>');
    process.exit(2);
  }
  try {
    await smoke(base, { email: process.env.SMOKE_EMAIL, password: process.env.SMOKE_PASSWORD });
    console.log(`smoke: ${base} passed`);
  } catch (e) {
    console.error(`FAIL ${e.message}`);
    process.exit(1);
  }
}
