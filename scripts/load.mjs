// `make load`: N simulated learners against the Worker under `wrangler dev`
// on this machine. Each learner is the browser package (wasm-client/pkg) in
// Node, as an app would use it. Accounts (one deck each) are created first,
// untimed. Then every learner logs in (spread over LOAD_RAMP_SECONDS), and
// in the timed phase opens the WebSocket and syncs, then, with a think time
// of 2-5 s between actions (a child playing), records reviews, edits its
// deck, reads a JSON view or reconnects, until the time is up.
//
// Prints p50/p95/p99 per operation, the error rate and the throughput;
// login (argon2id in the client and again in the server, on the same two
// cores as everything else) is reported apart from the sync operations.
// Exits non-zero if any request or operation failed.
//
// Settings (environment): LOAD_LEARNERS (50), LOAD_SECONDS (60),
// LOAD_RAMP_SECONDS (logins spread over this; default 0.15 s a learner), LOAD_URL (an
// already running Worker instead of starting one), LOAD_JSON (write the
// figures to this file too), LOAD_WORKER_LOG (write wrangler's output to
// this file; LOAD_LOG_LEVEL=log adds the Worker's own lines).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startWorker, root } from '../tests/e2e/harness.mjs';

const N = Number(process.env.LOAD_LEARNERS ?? 50);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
// Logins arrive at about 7 a second (argon2id twice on two shared cores):
// a burst of hundreds queues in workerd for seconds, and wrangler dev's
// local proxy then resets waiting connections (a 503 "Your worker
// restarted mid-request"), which no deployment has.
const RAMP_MS = Number(process.env.LOAD_RAMP_SECONDS ?? Math.max(5, N * 0.15)) * 1000;
const THINK_MS = [2000, 5000];
const SYNC_OPS = ['connect', 'review', 'edit', 'view', 'reconnect'];
// One action in ten reconnects, two read a view, two edit, five review.
const ACTIONS = ['review', 'review', 'review', 'review', 'review', 'edit', 'edit', 'view', 'view', 'reconnect'];
const OP_TIMEOUT_MS = 30_000;

const pkgDir = path.join(root, 'wasm-client', 'pkg', 'index.js');
if (!fs.existsSync(pkgDir)) {
  console.error('wasm-client/pkg is missing: run `make test` (or `make web`) first');
  process.exit(2);
}
const { SyncClient, memoryStorage, prehash } = await import(pkgDir);

const samples = new Map(); // op → [ms]
const errors = new Map(); // op → count
const errorKinds = new Map(); // description → count
let httpRequests = 0;
let httpErrors = 0;
let framesIn = 0;
let framesOut = 0;

function record(op, ms) {
  if (!samples.has(op)) samples.set(op, []);
  samples.get(op).push(ms);
}

function fail(op, what) {
  errors.set(op, (errors.get(op) ?? 0) + 1);
  errorKinds.set(`${op}: ${what}`, (errorKinds.get(`${op}: ${what}`) ?? 0) + 1);
}

/** The package's fetch, counting every HTTP answer (and every error). */
async function countingFetch(url, init) {
  httpRequests += 1;
  const res = await fetch(url, init);
  if (res.status >= 400) {
    httpErrors += 1;
    const what = `http ${init?.method ?? 'GET'} ${new URL(url).pathname}: ${res.status} ${(await res.clone().text()).slice(0, 120)}`;
    errorKinds.set(what, (errorKinds.get(what) ?? 0) + 1);
  }
  return res;
}

/** The package's WebSocket, counting closes the server chose for a fault. */
class CountingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on('message', () => { framesIn += 1; });
    this.on('close', (code) => {
      if (code === 1003 || code === 1008 || code === 1009 || code === 1011) fail('websocket', `closed ${code}`);
    });
    this.on('unexpected-response', (_req, res) => fail('websocket', `upgrade ${res.statusCode}`));
  }

  send(...args) {
    framesOut += 1;
    return super.send(...args);
  }
}

async function timed(op, fn) {
  const t0 = performance.now();
  try {
    await fn();
    record(op, performance.now() - t0);
    return true;
  } catch (e) {
    fail(op, e?.code ?? e?.message ?? String(e));
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

async function main() {
  let worker = null;
  let url = process.env.LOAD_URL;
  if (!url) {
    worker = await startWorker({
      logLevel: process.env.LOAD_LOG_LEVEL ?? 'warn',
      vars: {
        JWT_SECRET: crypto.randomBytes(32).toString('base64url'),
        // Every learner comes from 127.0.0.1: the per-IP traffic limits
        // are for the open internet, not for this test.
        REGISTRATIONS_PER_IP_PER_HOUR: '1000000',
        REQUESTS_PER_IP_PER_MINUTE: '1000000',
      },
    });
    url = worker.url;
  }
  const run = crypto.randomBytes(4).toString('hex');
  const learners = Array.from({ length: N }, (_, i) => ({
    email: `learner${i}.${run}@load.example`,
    password: `learner ${i} password`,
  }));
  try {
    console.log(`load: ${N} learners, ${SECONDS} s, against ${url}`);
    // Set-up (not timed): each learner's account with one deck, four at a time.
    const setupStart = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < learners.length) {
        const l = learners[next++];
        const c = await SyncClient.open({ server: url, storage: memoryStorage(), WebSocket: null });
        await c.register(l.email, l.password, { deviceName: 'setup' });
        c.createDeck({ id: 'd1', name: 'Times tables', emoji: '✖️', markdown: '2 × 3 :: 6\n4 × 5 :: 20\n' });
        await c.syncNow();
        await c.close();
      }
    }));
    console.log(`set-up: ${N} accounts in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

    // Login phase: every learner logs in, spread over the ramp. Logins
    // (argon2id in this process and in workerd) are timed apart: their CPU
    // would otherwise show up as latency of the sync operations.
    const loginStart = performance.now();
    const clients = await Promise.all(learners.map((l, i) => logIn(url, l, i)));
    const loginSeconds = (performance.now() - loginStart) / 1000;
    // Timed phase: sync operations only.
    const start = performance.now();
    const end = start + SECONDS * 1000;
    httpRequests = 0;
    framesIn = 0;
    framesOut = 0;
    await Promise.all(clients.map((c) => c && learn(url, c, end)));
    const elapsed = (performance.now() - start) / 1000;
    console.log(`login phase: ${N} logins in ${loginSeconds.toFixed(1)} s`);
    report(elapsed);
  } finally {
    if (worker && process.env.LOAD_WORKER_LOG) fs.writeFileSync(process.env.LOAD_WORKER_LOG, worker.log());
    await worker?.stop();
  }
  const failed = [...errors.values()].reduce((a, b) => a + b, 0) + httpErrors;
  process.exit(failed > 0 ? 1 : 0);
}

async function logIn(url, l, i) {
  await sleep(Math.random() * RAMP_MS);
  const storage = memoryStorage();
  const c = await SyncClient.open({ server: url, storage, WebSocket: CountingWebSocket, fetch: countingFetch, deviceName: `learner ${i}` });
  c.on('error', (e) => fail('client', e?.code ?? e?.message ?? 'error'));
  const loginStart = performance.now();
  try {
    await c.login(l.email, l.password);
    record('login', performance.now() - loginStart);
    return { c, storage };
  } catch (e) {
    fail('login', e?.code ?? String(e));
    await c.close();
    return null;
  }
}

async function learn(url, { c, storage }, end) {
  // Learners start their sessions spread over the first think time.
  await sleep(Math.random() * THINK_MS[1]);
  const ok = await timed('connect', async () => {
    c.connect();
    await c.synced({ timeoutMs: OP_TIMEOUT_MS });
  });
  if (!ok) {
    await c.close();
    return;
  }
  let lines = 2;
  let card = 0;
  while (performance.now() + THINK_MS[0] < end) {
    await sleep(THINK_MS[0] + Math.random() * (THINK_MS[1] - THINK_MS[0]));
    if (performance.now() >= end) break;
    const action = pick(ACTIONS);
    if (action === 'review') {
      await timed('review', async () => {
        c.recordReview({ deckId: 'd1', cardId: `c${card++ % 20}`, correct: Math.random() < 0.7, responseMs: 500 + Math.floor(Math.random() * 4000) });
        await c.synced({ timeoutMs: OP_TIMEOUT_MS });
      });
    } else if (action === 'edit') {
      lines += 1;
      await timed('edit', async () => {
        const md = c.deck('d1').markdown;
        c.editMarkdown('d1', `${md}${lines} × 3 :: ${lines * 3}\n`);
        await c.synced({ timeoutMs: OP_TIMEOUT_MS });
      });
    } else if (action === 'view') {
      await timed('view', async () => {
        const session = JSON.parse(await storage.get('session'));
        const res = await countingFetch(`${url}/sync/decks`, { headers: { authorization: `Bearer ${session.accessToken}` } });
        const body = await res.json();
        if (res.status !== 200 || !Array.isArray(body.data)) throw new Error(`view answered ${res.status}`);
      });
    } else {
      await timed('reconnect', async () => {
        c.disconnect();
        c.connect();
        await c.synced({ timeoutMs: OP_TIMEOUT_MS });
      });
    }
  }
  c.disconnect();
  await c.close();
}

function report(elapsed) {
  const rows = [];
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  let syncOps = 0;
  let syncErrors = 0;
  const figures = { learners: N, seconds: SECONDS, ops: {} };
  for (const op of ['login', ...SYNC_OPS]) {
    const s = (samples.get(op) ?? []).slice().sort((a, b) => a - b);
    const e = errors.get(op) ?? 0;
    if (SYNC_OPS.includes(op)) {
      syncOps += s.length + e;
      syncErrors += e;
    }
    figures.ops[op] = { count: s.length, errors: e, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99) };
    rows.push(`| ${op.padEnd(9)} | ${String(s.length).padStart(6)} | ${String(e).padStart(6)} | ${fmt(percentile(s, 50)).padStart(5)} | ${fmt(percentile(s, 95)).padStart(5)} | ${fmt(percentile(s, 99)).padStart(5)} |`);
  }
  const other = [...errors.entries()].filter(([op]) => op !== 'login' && !SYNC_OPS.includes(op));
  const otherCount = other.reduce((a, [, n]) => a + n, 0);
  const allSync = SYNC_OPS.flatMap((op) => samples.get(op) ?? []).sort((a, b) => a - b);
  const errorRate = (syncErrors + otherCount + httpErrors) / Math.max(1, syncOps + (samples.get('login')?.length ?? 0));
  figures.sync = { count: allSync.length, p50: percentile(allSync, 50), p95: percentile(allSync, 95), p99: percentile(allSync, 99) };
  figures.errorRate = errorRate;
  figures.opsPerSec = syncOps / elapsed;
  figures.httpPerSec = httpRequests / elapsed;
  figures.httpErrors = httpErrors;
  figures.framesPerSec = (framesIn + framesOut) / elapsed;

  console.log(`\n${N} learners, ${elapsed.toFixed(0)} s (latency in ms); load average now ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
  console.log('| operation | count  | errors |  p50  |  p95  |  p99  |');
  console.log('|-----------|--------|--------|-------|-------|-------|');
  for (const r of rows) console.log(r);
  console.log(`| all sync  | ${String(allSync.length).padStart(6)} | ${String(syncErrors).padStart(6)} | ${fmt(figures.sync.p50).padStart(5)} | ${fmt(figures.sync.p95).padStart(5)} | ${fmt(figures.sync.p99).padStart(5)} |`);
  console.log(`throughput: ${figures.opsPerSec.toFixed(1)} sync operations/s, ${figures.httpPerSec.toFixed(1)} HTTP requests/s, ${figures.framesPerSec.toFixed(1)} WebSocket frames/s`);
  console.log(`errors: ${(errorRate * 100).toFixed(2)}% (${syncErrors} sync operations, ${httpErrors} HTTP answers >= 400, ${otherCount} client or socket errors)`);
  for (const [what, n] of errorKinds) console.log(`  ${n} × ${what}`);
  const p95ok = figures.sync.p95 < 200;
  console.log(`thresholds: 0 errors ${errorRate === 0 ? 'met' : 'MISSED'}; sync p95 < 200 ms ${p95ok ? 'met' : 'MISSED'}`);
  if (process.env.LOAD_JSON) fs.writeFileSync(process.env.LOAD_JSON, JSON.stringify(figures, null, 2));
}

await main();
