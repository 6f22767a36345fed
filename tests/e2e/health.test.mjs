// The Worker starts under workerd, /health proves a Durable Object SQLite
// round trip, errors have the contract's shape, restarts are quick and no
// process is left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startWorker, call, groupAlive, root } from './harness.mjs';

const crateVersion = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8')
  .match(/\[package\][\s\S]*?\nversion = "([^"]+)"/)[1];

let worker;
before(async () => { worker = await startWorker(); });
after(async () => { await worker?.stop(); });

test('GET /health answers ok with the crate version', async () => {
  const r = await call(worker.url, 'GET', '/health');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok', version: crateVersion });
  assert.match(r.headers.get('content-type'), /application\/json/);
});

test('unknown route is a JSON 404', async () => {
  const r = await call(worker.url, 'GET', '/no/such/route');
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
  assert.equal(typeof r.json.error.message, 'string');
});

test('wrong method on /health is a JSON 405', async () => {
  const r = await call(worker.url, 'POST', '/health', { body: {} });
  assert.equal(r.status, 405);
  assert.equal(r.json.error.code, 'method_not_allowed');
});

test('restart on the same state answers /health again, and stop leaves nothing', async () => {
  const first = worker;
  await first.stop();
  assert.equal(groupAlive(first.pid), false, 'wrangler/workerd still running after stop');
  worker = await startWorker({ stateDir: first.stateDir });
  console.log(`# restart: /health 200 after ${worker.readyMs} ms`);
  const r = await call(worker.url, 'GET', '/health');
  assert.equal(r.status, 200);
});
