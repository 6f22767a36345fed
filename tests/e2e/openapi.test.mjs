// docs/openapi.yaml itself: a valid OpenAPI 3.1 document, every route of the
// Worker's router in it, every operation in it answered by the real Worker,
// and the answer checker refusing answers the file does not describe.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startWorker, call, root } from './harness.mjs';
import { spec, SPEC_PATH, routeOf, checkAnswer } from './openapi.mjs';

let w;
before(async () => { w = await startWorker(); });
after(async () => { await w?.stop(); });

test('the file is a valid OpenAPI 3.1 document', async () => {
  const res = await new Validator().validate(SPEC_PATH);
  assert.equal(res.valid, true, JSON.stringify(res.errors, null, 2));
  assert.match(spec.openapi, /^3\.1\./);
});

test("every arm of the Worker's router names a path of the file", () => {
  const router = fs.readFileSync(path.join(root, 'src', 'shell.rs'), 'utf8');
  const arms = [...router.matchAll(/^\s*\[((?:"[a-z-]+"|[a-z_]+)(?:, (?:"[a-z-]+"|[a-z_]+))*)\] =>/gm)]
    .map((m) => m[1].split(', '));
  assert.ok(arms.length >= 15, `found only ${arms.length} arms`);
  for (const arm of arms) {
    const sample = `/${arm.map((s) => (s.startsWith('"') ? s.slice(1, -1) : '[^/]+')).join('/')}`;
    const re = new RegExp(`^${sample}$`);
    const covered = Object.keys(spec.paths).some((p) => re.test(p) || routeOf(sample.replaceAll('[^/]+', 'x')) === p);
    assert.ok(covered, `router arm ${sample} has no path in docs/openapi.yaml`);
  }
});

test('every operation of the file is answered by the Worker (not "no such route")', async () => {
  for (const [template, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete'].includes(k))) {
      const pathname = template.replace(/\{[^}]+\}/g, 's_00000000000000000000000000000000');
      // No credentials: each answers its own refusal, which `call` checks
      // against the file too.
      const r = await call(w.url, method.toUpperCase(), pathname, method === 'get' ? {} : { body: {} });
      assert.notEqual(r.status, 404, `${method} ${template}: ${JSON.stringify(r.json)}`);
      assert.notEqual(r.status, 405, `${method} ${template}: ${JSON.stringify(r.json)}`);
      const open = template === '/health';
      assert.ok(open ? r.status === 200 : r.status >= 400 && r.status < 500, `${method} ${template} → ${r.status}`);
    }
  }
});

test('the checker refuses answers the file does not describe', () => {
  const h = (extra = {}) => new Headers({ 'x-request-id': 'abc', 'content-type': 'application/json', ...extra });
  const ok = { status: 'ok', version: '1.0.0' };
  checkAnswer('GET', '/health', 200, h(), ok);
  const refused = [
    () => checkAnswer('GET', '/health', 200, new Headers({ 'content-type': 'application/json' }), ok),
    () => checkAnswer('GET', '/health', 200, h(), { status: 'ok' }),
    () => checkAnswer('GET', '/health', 200, h(), { ...ok, extra: 1 }),
    () => checkAnswer('GET', '/unknown/route', 200, h(), ok),
    () => checkAnswer('PATCH', '/health', 200, h(), ok),
    () => checkAnswer('POST', '/auth/login', 401, h(), { error: { code: 'email_taken', message: 'x' } }),
    () => checkAnswer('POST', '/auth/login', 401, h(), { error: { code: 'no_such_code', message: 'x' } }),
    () => checkAnswer('POST', '/auth/login', 429, h(), { error: { code: 'rate_limited', message: 'x' } }),
    () => checkAnswer('POST', '/auth/logout', 204, h(), { unexpected: true }),
    () => checkAnswer('GET', '/user/sessions', 200, h(), { sessions: [{ session_id: 'nope' }] }),
  ];
  for (const [i, f] of refused.entries()) assert.throws(f, /openapi\.yaml/, `case ${i} was accepted`);
});
