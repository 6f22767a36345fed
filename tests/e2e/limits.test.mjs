// Traffic limits end to end, with small limits set by --var: registrations
// per address per hour, requests per address per minute, requests per
// user per minute. Over a limit: 429 rate_limited with Retry-After, and
// another user's sync goes on unaffected meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startWorker, call } from './harness.mjs';

const REGISTRATIONS = 3;
const PER_IP = 40;
const PER_USER = 30;
let w;
before(async () => {
  w = await startWorker({
    vars: {
      JWT_SECRET: crypto.randomBytes(32).toString('base64url'),
      REGISTRATIONS_PER_IP_PER_HOUR: String(REGISTRATIONS),
      REQUESTS_PER_IP_PER_MINUTE: String(PER_IP),
      REQUESTS_PER_USER_PER_MINUTE: String(PER_USER),
    },
  });
});
after(async () => { await w?.stop(); });

let n = 0;
const email = () => `lim.${process.pid}.${Date.now()}.${n++}@example.com`;
const from = (addr) => ({ 'cf-connecting-ip': addr });
// Addresses used once each, so only the budget under test is spent.
const fresh = () => from(`203.0.113.${(n++ % 250) + 1}`);
const register = (headers, address = email()) => call(w.url, 'POST', '/auth/register', {
  body: { email: address, password: crypto.randomBytes(32).toString('base64url') },
  headers,
});

function expectLimited(r) {
  assert.equal(r.status, 429, JSON.stringify(r.json));
  assert.equal(r.json.error.code, 'rate_limited');
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After ${r.headers.get('retry-after')}`);
  return retry;
}

/** A user who keeps syncing: writes a deck and reads it back, timed. */
async function syncOnce(token, i) {
  const started = performance.now();
  const deck = { id: `d${i}`, name: `Deck ${i}`, emoji: '📘', markdown: `q${i} :: a${i}\n` };
  const wrote = await call(w.url, 'POST', '/sync/decks', { body: { data: [deck] }, token, headers: fresh() });
  assert.equal(wrote.status, 200, JSON.stringify(wrote.json));
  assert.equal(wrote.json.data.find((d) => d.id === deck.id)?.markdown, deck.markdown);
  return performance.now() - started;
}

test('registrations per address per hour', async () => {
  const addr = from('192.0.2.77');
  const made = [];
  for (let i = 0; i < REGISTRATIONS; i++) {
    const r = await register(addr);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    made.push(r.json);
  }
  const refusedEmail = email();
  const retry = expectLimited(await register(addr, refusedEmail));
  assert.ok(retry > 3500 && retry <= 3600, `Retry-After ${retry}`);
  // Refused before any account was made: that email registers from
  // another address.
  assert.equal((await register(fresh(), refusedEmail)).status, 201);
  // A user registered from that address syncs as usual.
  await syncOnce(made[0].access_token, 0);
});

test('requests per address: a flood gets 429 while another user syncs', async () => {
  const other = await register(fresh());
  assert.equal(other.status, 201);
  const quiet = [];
  for (let i = 0; i < 5; i++) quiet.push(await syncOnce(other.json.access_token, i));
  const flooder = from('192.0.2.99');
  const flood = Array.from({ length: PER_IP * 2 }, () => call(w.url, 'GET', '/health', { headers: flooder }));
  const times = [];
  for (let i = 5; i < 10; i++) times.push(await syncOnce(other.json.access_token, i));
  const answers = await Promise.all(flood);
  const limited = answers.filter((r) => r.status === 429);
  assert.ok(limited.length >= PER_IP - 5, `${limited.length} of ${answers.length} refused`);
  assert.ok(answers.filter((r) => r.status === 200).length <= PER_IP + 2);
  for (const r of limited) expectLimited(r);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`other user's sync (write + read back), median of 5: ${median(quiet).toFixed(0)} ms quiet, `
    + `${median(times).toFixed(0)} ms during the flood`);
  // Generous: 2 shared cores; a flood that queued others would take seconds.
  assert.ok(median(times) < 1000, `median ${median(times)} ms`);
});

test('requests per user: one user over budget, another unaffected', async () => {
  const heavy = await register(fresh());
  const calm = await register(fresh());
  const answers = [];
  // From a new address each time: only the user's own budget is spent.
  for (let i = 0; i < PER_USER + 10; i++) {
    answers.push(await call(w.url, 'GET', '/sync/decks', { token: heavy.json.access_token, headers: fresh() }));
  }
  const limited = answers.filter((r) => r.status === 429);
  assert.ok(limited.length >= 5, `${limited.length} refused`);
  for (const r of limited) expectLimited(r);
  await syncOnce(calm.json.access_token, 0);
});
