// Structured logs end to end: requests of every route family, successful
// and failing, each answered with an `x-request-id` and logged as exactly
// one JSON line with the documented fields; a WebSocket session logged when
// it ends; and none of the account's secrets or content anywhere in the
// Worker's output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';
import { encode as cbor } from 'cbor-x';
import { startWorker, root } from './harness.mjs';

const pkg = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const { SyncClient, memoryStorage } = pkg;

const tag = crypto.randomBytes(6).toString('hex');
const EMAIL = `Obs.Secret.${tag}@Example.com`;
const PASSWORD = `correct horse ${tag}`;
const DECK_TEXT = `Zebra${tag} :: Cebra${tag}`;
const DISPLAY_NAME = `Kid ${tag}`;
const CLIENT_IP = '203.0.113.77';
const ORIGIN = 'http://localhost:5173';

let w;
before(async () => {
  w = await startWorker({
    logLevel: 'log',
    vars: { JWT_SECRET: crypto.randomBytes(32).toString('base64url') },
  });
});
after(async () => { await w?.stop(); });

/** Every answer seen: request id → what the log line must say. */
const seen = new Map();
/** Values that must never appear in the output. */
const secrets = new Set([EMAIL, EMAIL.toLowerCase(), EMAIL.split('@')[0], PASSWORD, DECK_TEXT, `Zebra${tag}`, DISPLAY_NAME, CLIENT_IP,
  `tablet ${tag}`, `laptop ${tag}`, `Animals ${tag}`]);

function remember(res, bytesOut, expect) {
  const id = res.headers.get('x-request-id');
  assert.match(id ?? '', /^[0-9a-f]{32}$/, `x-request-id on ${expect.route}`);
  assert.ok(!seen.has(id), 'request ids are unique');
  seen.set(id, { ...expect, bytesOut });
  return id;
}

/** A fetch that records each answer (for the package's own requests). */
async function recordingFetch(url, init = {}) {
  const res = await fetch(url, init);
  const body = Buffer.from(await res.arrayBuffer());
  const u = new URL(url);
  remember(res, body.length, { method: init.method ?? 'GET', route: templateOf(u.pathname), status: res.status, errorCode: errorCodeOf(res.status, body) });
  return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
}

function templateOf(p) {
  if (p.startsWith('/user/sessions/')) return '/user/sessions/:id';
  return p;
}

function errorCodeOf(status, body) {
  if (status < 400) return null;
  return JSON.parse(body.toString()).error.code;
}

/** One raw call, checked against its expected template, status and code. */
async function hit(method, pathname, { route, status, code = null, token, body, raw, headers = {} }) {
  const h = { 'cf-connecting-ip': CLIENT_IP, ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = raw;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(w.url + pathname, { method, headers: h, body: payload });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, status, `${method} ${pathname}: ${bytes}`);
  const errorCode = errorCodeOf(res.status, bytes);
  assert.equal(errorCode, code, `${method} ${pathname}`);
  remember(res, bytes.length, { method, route: route ?? pathname, status, errorCode });
  const text = bytes.toString();
  return text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null;
}

/** The Worker's JSON lines of one type. */
function linesOf(type) {
  return w.log().split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((l) => l?.type === type);
}

test('every request is one JSON log line with its fields; nothing secret is logged', async () => {
  const prehash = await pkg.prehash(EMAIL, PASSWORD);
  secrets.add(prehash);

  // Health, unknown route, preflight.
  await hit('GET', '/health', { status: 200 });
  await hit('GET', `/no/such/${tag}`, { route: '/:id/:id/:id', status: 404, code: 'not_found' });
  await hit('OPTIONS', '/sync/decks', { status: 204, headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
  await hit('OPTIONS', '/sync/decks', { status: 403, code: 'forbidden', headers: { origin: 'https://evil.example' } });

  // A device (the browser package) registers, creates a deck and syncs
  // over the WebSocket; its own requests are recorded too.
  const opened = [];
  class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.on('upgrade', (res) => opened.push(res.headers['x-request-id']));
    }
  }
  const device = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket: RecordingWebSocket, fetch: recordingFetch });
  await device.register(EMAIL, PASSWORD, { deviceName: `tablet ${tag}` });
  device.createDeck({ id: 'd1', name: `Animals ${tag}`, emoji: '🦓', markdown: `${DECK_TEXT}\n` });
  device.connect();
  await device.synced();
  device.recordReview({ deckId: 'd1', cardId: 'c1', correct: true, responseMs: 800 });
  await device.synced();
  device.disconnect();
  assert.equal(opened.length, 1);
  assert.match(opened[0], /^[0-9a-f]{32}$/, 'the 101 carries x-request-id');
  seen.set(opened[0], { method: 'GET', route: '/sync/ws', status: 101, errorCode: null, bytesOut: 0 });
  await device.close();

  // Accounts, successful and failing.
  await hit('POST', '/auth/register', { status: 409, code: 'email_taken', body: { email: EMAIL, password: prehash } });
  await hit('POST', '/auth/login', { status: 401, code: 'invalid_credentials', body: { email: EMAIL, password: crypto.randomBytes(32).toString('base64url') } });
  await hit('POST', '/auth/login', { status: 400, code: 'validation_failed', body: { email: EMAIL, password: PASSWORD } });
  const tokens = await hit('POST', '/auth/login', { status: 200, body: { email: EMAIL, password: prehash, device_name: `laptop ${tag}` } });
  secrets.add(tokens.access_token).add(tokens.refresh_token);
  const refreshed = await hit('POST', '/auth/refresh', { status: 200, body: { refresh_token: tokens.refresh_token } });
  secrets.add(refreshed.access_token).add(refreshed.refresh_token);
  await hit('POST', '/auth/refresh', { status: 401, code: 'invalid_token', body: { refresh_token: tokens.refresh_token } });
  // The reuse revoked that session: log in again.
  const t = await hit('POST', '/auth/login', { status: 200, body: { email: EMAIL, password: prehash } });
  secrets.add(t.access_token).add(t.refresh_token);
  const token = t.access_token;
  await hit('GET', '/auth/validate', { status: 200, token });
  await hit('GET', '/auth/validate', { status: 401, code: 'unauthorized' });
  await hit('GET', '/auth/validate', { status: 401, code: 'invalid_token', token: `${token}x` });

  // Profile and sessions.
  await hit('GET', '/user/profile', { status: 200, token });
  await hit('PUT', '/user/profile', { status: 200, token, body: { display_name: DISPLAY_NAME } });
  await hit('PUT', '/user/profile', { status: 415, code: 'unsupported_media_type', token, raw: 'x', headers: { 'content-type': 'text/plain' } });
  const { sessions } = await hit('GET', '/user/sessions', { status: 200, token });
  const other = sessions.find((s) => !s.current);
  await hit('DELETE', `/user/sessions/${other.session_id}`, { route: '/user/sessions/:id', status: 204, token });
  await hit('DELETE', `/user/sessions/${tag}`, { route: '/user/sessions/:id', status: 404, code: 'not_found', token });
  await hit('POST', '/user/password', { status: 401, code: 'invalid_credentials', token, body: { old_password: crypto.randomBytes(32).toString('base64url'), new_password: prehash } });
  await hit('GET', '/user/export', { status: 200, token });
  await hit('POST', '/user/export', { status: 405, code: 'method_not_allowed', token });

  // Sync: views, batches, the changes feed, tickets and a WebSocket.
  const decks = await hit('GET', '/sync/decks', { status: 200, token });
  assert.ok(decks.data[0].markdown.includes(DECK_TEXT));
  const mine = decks.data;
  mine[0].markdown = `${DECK_TEXT}\nLion${tag} :: León\n`;
  secrets.add(`Lion${tag}`);
  await hit('POST', '/sync/decks', { status: 200, token, body: { base_version: decks.version, data: mine } });
  await hit('POST', '/sync/decks', { status: 400, code: 'invalid_json', token, raw: '{nope', headers: { 'content-type': 'application/json' } });
  await hit('GET', '/sync/full', { status: 200, token });
  await hit('GET', `/sync/${tag}`, { route: '/sync/:id', status: 404, code: 'not_found', token });
  await hit('GET', '/sync/changes?since=0', { route: '/sync/changes', status: 200, token });
  await hit('GET', '/sync/changes?since=abc', { route: '/sync/changes', status: 400, code: 'validation_failed', token });
  await hit('POST', '/sync', { status: 200, token, raw: Buffer.from([0x80]), headers: { 'content-type': 'application/cbor' } });
  await hit('POST', '/sync', { status: 415, code: 'unsupported_media_type', token, raw: 'x', headers: { 'content-type': 'text/plain' } });
  await hit('POST', '/sync', { status: 400, code: 'bad_request', token, raw: Buffer.from([0xff, 0x00]), headers: { 'content-type': 'application/cbor' } });
  // Well-formed, but the sync bytes fail the engine's check.
  const refusedBatch = cbor([{ type: 'sync', senderId: `obs-${tag}`, targetId: 'myflashplay-server', documentId: t.root_document_id, data: Buffer.from('not automerge') }]);
  await hit('POST', '/sync', { status: 400, code: 'bad_request', token, raw: refusedBatch, headers: { 'content-type': 'application/cbor' } });
  const { ticket } = await hit('POST', '/sync/ticket', { status: 200, token });
  secrets.add(ticket);
  await hit('GET', '/sync/ws', { status: 400, code: 'bad_request', token });
  const wsId = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${w.url.replace('http', 'ws')}/sync/ws?ticket=${encodeURIComponent(ticket)}`, { headers: { 'cf-connecting-ip': CLIENT_IP } });
    let id;
    ws.on('upgrade', (res) => { id = res.headers['x-request-id']; });
    ws.on('open', () => ws.close(1000));
    ws.on('close', () => resolve(id));
    ws.on('error', reject);
  });
  assert.match(wsId ?? '', /^[0-9a-f]{32}$/);
  seen.set(wsId, { method: 'GET', route: '/sync/ws', status: 101, errorCode: null, bytesOut: 0 });
  await new Promise((resolve) => {
    const ws = new WebSocket(`${w.url.replace('http', 'ws')}/sync/ws?ticket=${encodeURIComponent(ticket)}`);
    ws.on('unexpected-response', (_req, res) => {
      assert.equal(res.statusCode, 401, 'a used ticket is refused');
      const id = res.headers['x-request-id'];
      let n = 0;
      res.on('data', (d) => { n += d.length; });
      res.on('end', () => {
        seen.set(id, { method: 'GET', route: '/sync/ws', status: 401, errorCode: 'invalid_token', bytesOut: n });
        resolve();
      });
    });
    ws.on('error', () => {});
  });

  // Logout, then deleting the account (wrong password first).
  const t2 = await hit('POST', '/auth/login', { status: 200, body: { email: EMAIL, password: prehash } });
  secrets.add(t2.access_token).add(t2.refresh_token);
  await hit('POST', '/auth/logout', { status: 204, token, body: {} });
  await hit('GET', '/user/profile', { status: 401, code: 'invalid_token', token });
  await hit('DELETE', '/user/account', { status: 401, code: 'invalid_credentials', token: t2.access_token, body: { password: crypto.randomBytes(32).toString('base64url') } });
  await hit('DELETE', '/user/account', { status: 204, token: t2.access_token, body: { password: prehash } });

  // The lines reach the output shortly after the answers.
  const deadline = Date.now() + 10_000;
  let lines;
  for (;;) {
    lines = linesOf('request');
    const ours = lines.filter((l) => seen.has(l.request_id)).length;
    const sockets = linesOf('websocket');
    if ((ours >= seen.size && sockets.length >= 2) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  // Exactly one line per request, with the documented fields.
  const byId = new Map();
  for (const line of lines) {
    assert.ok(!byId.has(line.request_id), `one line per request: ${line.request_id}`);
    byId.set(line.request_id, line);
  }
  // Besides ours, only the harness's readiness probes (GET /health).
  const probes = lines.filter((l) => !seen.has(l.request_id));
  for (const p of probes) assert.deepEqual([p.method, p.route, p.status], ['GET', '/health', 200], JSON.stringify(p));
  const missing = [...seen].filter(([id]) => !byId.has(id)).map(([, want]) => `${want.method} ${want.route} ${want.status}`);
  assert.deepEqual(missing, [], 'a line for every request');
  assert.equal(lines.length - probes.length, seen.size, 'one line per request');
  for (const [id, want] of seen) {
    const line = byId.get(id);
    assert.ok(line, `a line for ${want.method} ${want.route} (${want.status})`);
    assert.equal(line.method, want.method);
    assert.equal(line.route, want.route);
    assert.equal(line.status, want.status, `${want.method} ${want.route}`);
    assert.equal(line.error_code, want.errorCode, `${want.method} ${want.route}`);
    assert.equal(line.bytes_out, want.bytesOut, `${want.method} ${want.route} bytes_out`);
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(line.duration_ms >= 0);
    assert.equal(typeof line.bytes_in, 'number');
    // Locally the Analytics Engine keeps nothing: the point is echoed.
    assert.equal(line.metrics.blobs[0], 'http');
    assert.equal(line.metrics.blobs[1], line.route);
    assert.equal(line.metrics.doubles[0], line.status);
  }
  const batch = lines.find((l) => l.route === '/sync' && l.status === 200);
  assert.equal(batch.changes_applied, 0);
  const refused = lines.filter((l) => l.route === '/sync' && l.status === 400);
  assert.deepEqual(refused.map((l) => l.rejection ?? null).sort(), ['check', null], 'a malformed batch has no engine reason; a refused one has');
  assert.ok(lines.every((l) => !Object.keys(l).some((k) => k.startsWith('x-mfp'))));

  // WebSocket sessions: the device's (it synced a deck and a review) and
  // the ticket one (opened, closed at once).
  const sockets = linesOf('websocket');
  const deviceLine = sockets.find((s) => s.request_id === opened[0]);
  assert.ok(deviceLine, 'the device session is logged when it ends');
  assert.ok(deviceLine.messages_in >= 2 && deviceLine.messages_out >= 1, JSON.stringify(deviceLine));
  assert.ok(deviceLine.bytes_in > 0 && deviceLine.bytes_out > 0);
  assert.ok(deviceLine.documents >= 2, 'root and deck');
  assert.ok(deviceLine.changes_applied >= 2, JSON.stringify(deviceLine));
  assert.equal(typeof deviceLine.close_code, 'number');
  const ticketLine = sockets.find((s) => s.request_id === wsId);
  assert.ok(ticketLine, 'the ticket session is logged');
  assert.equal(ticketLine.close_code, 1000);
  assert.equal(ticketLine.messages_in, 0);

  // Nothing secret anywhere in the output, in any form.
  const out = w.log();
  for (const s of secrets) {
    assert.ok(s && !out.includes(s), `the output contains a secret (${s.slice(0, 4)}…)`);
    assert.ok(!out.includes(encodeURIComponent(s)), 'nor its URL-encoded form');
  }
});
