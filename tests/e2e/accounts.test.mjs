// Accounts and sessions end to end against the real Worker under workerd:
// every endpoint's success path and the hostile cases of issue 4.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startWorker, call } from './harness.mjs';

const SECRET = crypto.randomBytes(32).toString('base64url');
let w;
before(async () => { w = await startWorker({ vars: { JWT_SECRET: SECRET } }); });
after(async () => { await w?.stop(); });

// Any 43-char base64url string of 32 bytes is a valid prehash on the wire;
// the real clients compute it with argon2id (wasm-client), the server
// cannot tell the difference.
const prehash = () => crypto.randomBytes(32).toString('base64url');
let n = 0;
const email = (tag = 'user') => `${tag}.${process.pid}.${Date.now()}.${n++}@example.com`;
// A distinct client address per test keeps the per-IP back-off of one test
// from touching the others.
const ip = () => `192.0.2.${(n++ % 250) + 1}`;

const post = (path, body, opts = {}) => call(w.url, 'POST', path, { body, ...opts });
const get = (path, token, opts = {}) => call(w.url, 'GET', path, { token, ...opts });

async function register(opts = {}) {
  const e = opts.email ?? email();
  const p = opts.password ?? prehash();
  const r = await post('/auth/register', { email: e, password: p, device_name: opts.device ?? 'phone' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { email: e, password: p, tokens: r.json };
}

async function login(e, p, device = 'laptop') {
  const r = await post('/auth/login', { email: e, password: p, device_name: device }, { headers: { 'cf-connecting-ip': ip() } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

function expectError(r, status, code) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.json)}`);
  assert.equal(r.json?.error?.code, code);
  assert.equal(typeof r.json.error.message, 'string');
}

function jwt(payload, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b(header)}.${b(payload)}`;
  if (header.alg === 'none') return `${unsigned}.`;
  const sig = crypto.createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${sig}`;
}

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

describe('success paths', () => {
  test('register answers 201 Tokens with a UUID v7 user id', async () => {
    const { email: e, tokens: t } = await register({ email: '  Mixed.Case@Example.COM ' });
    assert.equal(e.trim().toLowerCase(), t.email);
    assert.match(t.user_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.expires_in, 900);
    assert.match(t.session_id, /^s_[0-9a-f]{32}$/);
    assert.equal(typeof t.refresh_token, 'string');
    assert.ok(t.root_document_id.length >= 20);
    const c = claimsOf(t.access_token);
    assert.equal(c.sub, t.user_id);
    assert.equal(c.sid, t.session_id);
    assert.equal(c.iss, 'myflashplay-sync');
    assert.equal(c.aud, 'myflashplay');
    assert.equal(c.exp - c.iat, 900);
  });

  test('login, validate, profile, sessions, refresh, logout', async () => {
    const a = await register();
    const t = await login(a.email.toUpperCase(), a.password);
    assert.equal(t.user_id, a.tokens.user_id);
    assert.equal(t.root_document_id, a.tokens.root_document_id);
    assert.notEqual(t.session_id, a.tokens.session_id);

    let r = await get('/auth/validate', t.access_token);
    assert.equal(r.status, 200);
    assert.equal(r.json.user_id, a.tokens.user_id);
    assert.equal(r.json.email, a.tokens.email);
    assert.equal(r.json.session_id, t.session_id);
    assert.ok(Date.parse(r.json.expires_at) > Date.now());

    r = await get('/user/profile', t.access_token);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['created_at', 'display_name', 'email', 'root_document_id', 'user_id']);
    assert.equal(r.json.display_name, null);
    assert.equal(r.json.root_document_id, a.tokens.root_document_id);
    r = await call(w.url, 'PUT', '/user/profile', { token: t.access_token, body: { display_name: 'Ana 🦊' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.display_name, 'Ana 🦊');
    r = await get('/user/profile', a.tokens.access_token);
    assert.equal(r.json.display_name, 'Ana 🦊');

    r = await get('/user/sessions', t.access_token);
    assert.equal(r.status, 200);
    assert.equal(r.json.sessions.length, 2);
    const current = r.json.sessions.filter((s) => s.current);
    assert.equal(current.length, 1);
    assert.equal(current[0].session_id, t.session_id);
    assert.equal(current[0].device_name, 'laptop');
    assert.ok(r.json.sessions.every((s) => s.created_at && s.last_seen_at));

    r = await post('/auth/refresh', { refresh_token: t.refresh_token });
    assert.equal(r.status, 200);
    assert.equal(r.json.session_id, t.session_id);
    assert.notEqual(r.json.refresh_token, t.refresh_token);
    const t2 = r.json;
    r = await get('/auth/validate', t2.access_token);
    assert.equal(r.status, 200);

    r = await post('/auth/logout', {}, { token: t2.access_token });
    assert.equal(r.status, 204);
    expectError(await get('/auth/validate', t2.access_token), 401, 'invalid_token');
    // The other device is untouched.
    assert.equal((await get('/auth/validate', a.tokens.access_token)).status, 200);
  });

  test('DELETE /user/sessions/{id} revokes that device at once', async () => {
    const a = await register();
    const t = await login(a.email, a.password);
    const r = await call(w.url, 'DELETE', `/user/sessions/${t.session_id}`, { token: a.tokens.access_token });
    assert.equal(r.status, 204);
    expectError(await get('/auth/validate', t.access_token), 401, 'invalid_token');
    expectError(await post('/auth/refresh', { refresh_token: t.refresh_token }), 401, 'invalid_token');
    const list = await get('/user/sessions', a.tokens.access_token);
    assert.deepEqual(list.json.sessions.map((s) => s.session_id), [a.tokens.session_id]);
  });

  test('export is authenticated and holds only this user', async () => {
    const a = await register();
    const r = await get('/user/export', a.tokens.access_token);
    assert.equal(r.status, 200);
    assert.equal(r.json.user_id, a.tokens.user_id);
    for (const k of ['decks', 'progress', 'achievements', 'starred', 'sessions', 'preferences']) assert.ok(k in r.json, k);
    expectError(await get('/user/export'), 401, 'unauthorized');
  });

  test('password change: new password works, old fails, other sessions revoked', async () => {
    const a = await register();
    const other = await login(a.email, a.password);
    const np = prehash();
    let r = await post('/user/password', { old_password: a.password, new_password: np }, { token: a.tokens.access_token });
    assert.equal(r.status, 204);
    expectError(await get('/auth/validate', other.access_token), 401, 'invalid_token');
    expectError(await post('/auth/refresh', { refresh_token: other.refresh_token }), 401, 'invalid_token');
    assert.equal((await get('/auth/validate', a.tokens.access_token)).status, 200, 'the changing session stays');
    expectError(await post('/auth/login', { email: a.email, password: a.password }, { headers: { 'cf-connecting-ip': ip() } }), 401, 'invalid_credentials');
    await login(a.email, np);
  });

  test('account deletion erases data; login and old tokens then fail; email is free again', async () => {
    const a = await register();
    const other = await login(a.email, a.password);
    let r = await call(w.url, 'DELETE', '/user/account', { token: a.tokens.access_token, body: { password: a.password } });
    assert.equal(r.status, 204);
    expectError(await post('/auth/login', { email: a.email, password: a.password }, { headers: { 'cf-connecting-ip': ip() } }), 401, 'invalid_credentials');
    expectError(await get('/auth/validate', a.tokens.access_token), 401, 'invalid_token');
    expectError(await get('/user/profile', other.access_token), 401, 'invalid_token');
    expectError(await post('/auth/refresh', { refresh_token: other.refresh_token }), 401, 'invalid_token');
    const again = await register({ email: a.email });
    assert.notEqual(again.tokens.user_id, a.tokens.user_id);
  });
});

describe('hostile cases', () => {
  test('wrong password and unknown email answer the same', async () => {
    const a = await register();
    const t0 = performance.now();
    const wrong = await post('/auth/login', { email: a.email, password: prehash() }, { headers: { 'cf-connecting-ip': ip() } });
    const t1 = performance.now();
    const unknown = await post('/auth/login', { email: email('nobody'), password: prehash() }, { headers: { 'cf-connecting-ip': ip() } });
    const t2 = performance.now();
    expectError(wrong, 401, 'invalid_credentials');
    expectError(unknown, 401, 'invalid_credentials');
    assert.deepEqual(wrong.json, unknown.json);
    console.log(`# login failure time: wrong password ${(t1 - t0).toFixed(0)} ms, unknown email ${(t2 - t1).toFixed(0)} ms`);
  });

  test('duplicate email, also in other case and with whitespace', async () => {
    const a = await register();
    for (const variant of [a.email, a.email.toUpperCase(), `  ${a.email}\t`, a.email.replace('example', 'EXAMPLE')]) {
      expectError(await post('/auth/register', { email: variant, password: prehash() }), 409, 'email_taken');
    }
  });

  test('malformed emails', async () => {
    for (const e of ['', 'plain', 'a@b', '@example.com', 'a@@example.com', 'a b@example.com', 'a@exa mple.com', `${'x'.repeat(250)}@example.com`, 'a:b@example.com']) {
      expectError(await post('/auth/register', { email: e, password: prehash() }), 400, 'validation_failed');
    }
    expectError(await post('/auth/register', { email: 42, password: prehash() }), 400, 'validation_failed');
  });

  test('password that is not a 43-char prehash', async () => {
    for (const p of ['hunter2', prehash() + 'A', prehash().slice(0, 42), '+'.repeat(43), `${prehash().slice(0, 42)}=`, '']) {
      expectError(await post('/auth/register', { email: email(), password: p }), 400, 'validation_failed');
      expectError(await post('/auth/login', { email: email(), password: p }, { headers: { 'cf-connecting-ip': ip() } }), 400, 'validation_failed');
    }
  });

  test('missing, invalid and wrongly shaped JSON', async () => {
    const raw = (body, ct = 'application/json') => call(w.url, 'POST', '/auth/register', { raw: body, headers: { 'content-type': ct } });
    expectError(await raw(''), 400, 'invalid_json');
    expectError(await raw('{"email": "a@b.co", '), 400, 'invalid_json');
    expectError(await raw('not json at all'), 400, 'invalid_json');
    expectError(await raw('{"email": "a@b.co"}'), 400, 'validation_failed');
    expectError(await raw('[1,2,3]'), 400, 'validation_failed');
    expectError(await raw('null'), 400, 'validation_failed');
  });

  test('wrong content type', async () => {
    const body = JSON.stringify({ email: email(), password: prehash() });
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      expectError(await call(w.url, 'POST', '/auth/register', { raw: body, headers: { 'content-type': ct } }), 415, 'unsupported_media_type');
    }
    expectError(await call(w.url, 'POST', '/auth/login', { raw: body }), 415, 'unsupported_media_type');
  });

  test('body over 1 MiB', async () => {
    const big = JSON.stringify({ email: email(), password: prehash(), device_name: 'x'.repeat(1024 * 1024) });
    expectError(await call(w.url, 'POST', '/auth/register', { raw: big, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
  });

  test('over-long device and display names', async () => {
    expectError(await post('/auth/register', { email: email(), password: prehash(), device_name: 'd'.repeat(101) }), 400, 'validation_failed');
    const a = await register();
    expectError(await call(w.url, 'PUT', '/user/profile', { token: a.tokens.access_token, body: { display_name: 'n'.repeat(101) } }), 400, 'validation_failed');
  });

  test('missing or malformed Authorization', async () => {
    expectError(await get('/auth/validate'), 401, 'unauthorized');
    expectError(await get('/user/profile', undefined, { headers: { authorization: 'Basic YTpi' } }), 401, 'invalid_token');
    expectError(await get('/user/profile', 'not-a-jwt'), 401, 'invalid_token');
  });

  test('token with alg none', async () => {
    const a = await register();
    const forged = jwt(claimsOf(a.tokens.access_token), '', { alg: 'none', typ: 'JWT' });
    expectError(await get('/auth/validate', forged), 401, 'invalid_token');
  });

  test('token signed with another secret, or tampered', async () => {
    const a = await register();
    const b = await register();
    const c = claimsOf(a.tokens.access_token);
    expectError(await get('/auth/validate', jwt(c, 'another-secret-another-secret-another')), 401, 'invalid_token');
    // Swap in another user's id without re-signing.
    const [h, , s] = a.tokens.access_token.split('.');
    const body = Buffer.from(JSON.stringify({ ...c, sub: b.tokens.user_id, sid: b.tokens.session_id })).toString('base64url');
    expectError(await get('/user/profile', `${h}.${body}.${s}`), 401, 'invalid_token');
  });

  test('expired token', async () => {
    const a = await register();
    const c = claimsOf(a.tokens.access_token);
    const now = Math.floor(Date.now() / 1000);
    expectError(await get('/auth/validate', jwt({ ...c, iat: now - 2000, exp: now - 1000 }, SECRET)), 401, 'token_expired');
    // The same claims, not expired, are accepted: the secret is right.
    assert.equal((await get('/auth/validate', jwt({ ...c, iat: now, exp: now + 60 }, SECRET))).status, 200);
  });

  test('token with wrong aud or iss', async () => {
    const a = await register();
    const c = claimsOf(a.tokens.access_token);
    expectError(await get('/auth/validate', jwt({ ...c, aud: 'someone-else' }, SECRET)), 401, 'invalid_token');
    expectError(await get('/auth/validate', jwt({ ...c, iss: 'evil' }, SECRET)), 401, 'invalid_token');
    expectError(await get('/auth/validate', jwt({ ...c, alg: 'HS512' }, SECRET, { alg: 'HS512', typ: 'JWT' })), 401, 'invalid_token');
  });

  test('token for a deleted user', async () => {
    const a = await register();
    const keep = a.tokens.access_token;
    const r = await call(w.url, 'DELETE', '/user/account', { token: keep, body: { password: a.password } });
    assert.equal(r.status, 204);
    expectError(await get('/user/profile', keep), 401, 'invalid_token');
    expectError(await get('/user/export', keep), 401, 'invalid_token');
  });

  test('deletion with a wrong password erases nothing', async () => {
    const a = await register();
    expectError(await call(w.url, 'DELETE', '/user/account', { token: a.tokens.access_token, body: { password: prehash() } }), 401, 'invalid_credentials');
    assert.equal((await get('/user/profile', a.tokens.access_token)).status, 200);
    await login(a.email, a.password);
  });

  test('reused refresh token revokes the session', async () => {
    const a = await register();
    const first = await post('/auth/refresh', { refresh_token: a.tokens.refresh_token });
    assert.equal(first.status, 200);
    expectError(await post('/auth/refresh', { refresh_token: a.tokens.refresh_token }), 401, 'invalid_token');
    // The thief's reuse also cut off the legitimate holder of the new token.
    expectError(await post('/auth/refresh', { refresh_token: first.json.refresh_token }), 401, 'invalid_token');
    expectError(await get('/auth/validate', first.json.access_token), 401, 'invalid_token');
  });

  test('refresh after logout, and garbage refresh tokens', async () => {
    const a = await register();
    assert.equal((await post('/auth/logout', {}, { token: a.tokens.access_token })).status, 204);
    expectError(await post('/auth/refresh', { refresh_token: a.tokens.refresh_token }), 401, 'invalid_token');
    for (const t of ['', 'garbage', 'mfr1.x.y.z', a.tokens.refresh_token.slice(0, -3) + 'AAA']) {
      expectError(await post('/auth/refresh', { refresh_token: t }), 401, 'invalid_token');
    }
  });

  test("another user's session id cannot be revoked", async () => {
    const a = await register();
    const b = await register();
    expectError(await call(w.url, 'DELETE', `/user/sessions/${b.tokens.session_id}`, { token: a.tokens.access_token }), 404, 'not_found');
    assert.equal((await get('/auth/validate', b.tokens.access_token)).status, 200);
    expectError(await call(w.url, 'DELETE', '/user/sessions/not-a-session', { token: a.tokens.access_token }), 404, 'not_found');
  });

  test("one user's data never appears in another's answers", async () => {
    const a = await register();
    const b = await register();
    await call(w.url, 'PUT', '/user/profile', { token: b.tokens.access_token, body: { display_name: 'Secret B' } });
    for (const path of ['/user/profile', '/user/sessions', '/user/export', '/auth/validate']) {
      const r = await get(path, a.tokens.access_token);
      assert.equal(r.status, 200);
      const text = JSON.stringify(r.json);
      for (const leak of [b.email, b.tokens.user_id, b.tokens.session_id, 'Secret B']) assert.ok(!text.includes(leak), `${path} leaks ${leak}`);
    }
  });

  test('lockout after repeated failures, per email', async () => {
    const a = await register();
    let r;
    for (let i = 0; i < 5; i++) {
      r = await post('/auth/login', { email: a.email, password: prehash() }, { headers: { 'cf-connecting-ip': ip() } });
      expectError(r, 401, 'invalid_credentials');
    }
    r = await post('/auth/login', { email: a.email, password: prehash() }, { headers: { 'cf-connecting-ip': ip() } });
    expectError(r, 401, 'invalid_credentials');
    // Locked now: even the right password waits.
    r = await post('/auth/login', { email: a.email, password: a.password }, { headers: { 'cf-connecting-ip': ip() } });
    expectError(r, 429, 'rate_limited');
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 30, `Retry-After ${retry}`);
  });

  test('lockout per client IP across many emails', async () => {
    const attacker = '198.51.100.7';
    for (let i = 0; i < 20; i++) {
      expectError(await post('/auth/login', { email: email('spray'), password: prehash() }, { headers: { 'cf-connecting-ip': attacker } }), 401, 'invalid_credentials');
    }
    expectError(await post('/auth/login', { email: email('spray'), password: prehash() }, { headers: { 'cf-connecting-ip': attacker } }), 401, 'invalid_credentials');
    const r = await post('/auth/login', { email: email('spray'), password: prehash() }, { headers: { 'cf-connecting-ip': attacker } });
    expectError(r, 429, 'rate_limited');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    // Someone else, from another address, is not affected.
    const a = await register();
    await login(a.email, a.password);
  });

  test('CORS preflight from an allowed and a disallowed origin', async () => {
    const pre = (origin) => call(w.url, 'OPTIONS', '/auth/login', {
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    let r = await pre('http://localhost:5173');
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(r.headers.get('access-control-allow-headers'), /authorization/);
    assert.match(r.headers.get('access-control-allow-methods'), /POST/);
    r = await pre('https://evil.example');
    expectError(r, 403, 'forbidden');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    // Actual requests carry the header for allowed origins only.
    r = await get('/health', undefined, { headers: { origin: 'http://localhost:5173' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    r = await get('/health', undefined, { headers: { origin: 'https://evil.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });

  test('wrong methods on account routes', async () => {
    expectError(await get('/auth/login'), 405, 'method_not_allowed');
    expectError(await call(w.url, 'PUT', '/auth/register', { body: {} }), 405, 'method_not_allowed');
    expectError(await call(w.url, 'POST', '/user/sessions', { body: {} }), 405, 'method_not_allowed');
    expectError(await get('/auth/nothing'), 404, 'not_found');
  });
});

describe('configuration', () => {
  test('a short JWT_SECRET refuses to issue tokens, clearly, without a panic', async () => {
    const weak = await startWorker({ vars: { JWT_SECRET: 'short' } });
    try {
      const r = await call(weak.url, 'POST', '/auth/register', { body: { email: email(), password: prehash() } });
      expectError(r, 500, 'internal');
      assert.match(r.json.error.message, /JWT_SECRET/);
      assert.equal((await call(weak.url, 'GET', '/health')).status, 200, 'the Worker keeps serving');
    } finally {
      await weak.stop();
    }
  });
});

test('server time of register and login (argon2id m=19 MiB, t=2, p=1)', async () => {
  const reg = [];
  const log = [];
  for (let i = 0; i < 5; i++) {
    const e = email('timing');
    const p = prehash();
    let t = performance.now();
    await register({ email: e, password: p });
    reg.push(performance.now() - t);
    t = performance.now();
    await login(e, p);
    log.push(performance.now() - t);
  }
  const med = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)].toFixed(0);
  console.log(`# register median ${med(reg)} ms, login median ${med(log)} ms (5 each, round trip on loopback)`);
  assert.equal(reg.length, 5);
});
