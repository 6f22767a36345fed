// Raw protocol peers for `make bench-compare`: automerge-repo v1 messages
// (CBOR over a WebSocket) and Automerge's sync protocol driven by hand, no
// Repo. One workload per process.
//
//   node tests/bench/raw-peers.mjs relay <conns.json> <iterations>        (W3)
//   node tests/bench/raw-peers.mjs closed-loop <conns.json> <changes>     (W6)
//
// conns.json: [{url, protocols?}] (relay: two connections of one user).
// Prints one JSON line with the figures.
import fs from 'node:fs';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import * as A from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from '@automerge/automerge-repo';
import { statCpu } from './proc.mjs';

// The stock client's own framing (cbor-x without typed-array tags or records).
const { encode, decode } = cbor;

const DEADLINE_MS = Number(process.env.BENCH_CLIENT_TIMEOUT_MS ?? 300_000);
/** Every peer, for what a timeout prints. */
const allPeers = [];
setTimeout(() => {
  const stuck = allPeers.filter((p) => p.waiters.size > 0 || !p.server);
  console.error(`raw peers: timed out; ${stuck.length} of ${allPeers.length} peers still waiting (for an acknowledgement, or for the server's peer message)`);
  for (const p of stuck.slice(0, 5)) console.error(`  ${JSON.stringify(p.describe())}`);
  process.exit(3);
}, DEADLINE_MS).unref();

const sameHeads = (a, b) => a && b && a.length === b.length && a.every((h) => b.includes(h));

/** One peer: a socket, the documents it syncs and the heads the server advertised for each. */
class RawPeer {
  constructor({ url, protocols }) {
    this.url = url;
    this.protocols = protocols;
    this.id = `raw-${crypto.randomBytes(6).toString('hex')}`;
    this.docs = new Map(); // documentId → {doc, state, serverHeads}
    this.waiters = new Set();
    this.log = []; // the last frames, for a timeout's report
    allPeers.push(this);
  }

  note(dir, documentId, bytes, heads) {
    this.log.push({ at: Math.round(performance.now()), dir, doc: documentId?.slice(0, 6), bytes, heads: heads?.map((h) => h.slice(0, 6)) });
    if (this.log.length > 8) this.log.shift();
  }

  describe() {
    const docs = [...this.docs.entries()].map(([id, d]) => ({
      id: id.slice(0, 6),
      heads: A.getHeads(d.doc).map((h) => h.slice(0, 6)),
      serverHeads: d.serverHeads?.map((h) => h.slice(0, 6)),
    }));
    return { id: this.id, now: Math.round(performance.now()), socket: this.ws?.readyState, joined: this.server !== undefined, docs, log: this.log };
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url, this.protocols, { maxPayload: 64 << 20 });
      this.ws.binaryType = 'nodebuffer';
      this.ws.on('error', reject);
      this.ws.on('close', (code, reason) => {
        if (!this.closing) {
          console.error(`raw peer: socket closed ${code} ${reason}`);
          process.exit(1);
        }
      });
      this.ws.on('open', () => {
        this.note('open');
        this.ws.send(encode({ type: 'join', senderId: this.id, supportedProtocolVersions: ['1'], peerMetadata: { isEphemeral: true } }));
      });
      this.ws.on('message', (data) => {
        const m = decode(data);
        if (m.type === 'peer') {
          this.server = m.senderId;
          resolve();
        } else if (m.type === 'sync') {
          this.receive(m.documentId, new Uint8Array(m.data));
        } else if (m.type === 'error') {
          console.error(`raw peer: server error: ${m.message}`);
          process.exit(1);
        } else {
          this.note(m.type, m.documentId);
        }
      });
    });
  }

  close() {
    this.closing = true;
    this.ws.close();
  }

  /** A new document of this peer's (its first change made here). */
  create(initial) {
    const { documentId } = parseAutomergeUrl(generateAutomergeUrl());
    this.docs.set(documentId, { doc: A.from(initial), state: A.initSyncState(), serverHeads: null });
    this.send(documentId, 'sync');
    return documentId;
  }

  /** A document this peer does not have yet: asks the server for it. */
  request(documentId) {
    this.docs.set(documentId, { doc: A.init(), state: A.initSyncState(), serverHeads: null });
    this.send(documentId, 'request');
  }

  change(documentId, fn) {
    const d = this.docs.get(documentId);
    d.doc = A.change(d.doc, fn);
    this.send(documentId, 'sync');
  }

  send(documentId, type) {
    const d = this.docs.get(documentId);
    const [state, msg] = A.generateSyncMessage(d.doc, d.state);
    d.state = state;
    if (msg) {
      this.note('out', documentId, msg.length);
      this.ws.send(encode({ type, senderId: this.id, targetId: this.server, documentId, data: msg }));
    }
  }

  receive(documentId, data) {
    const d = this.docs.get(documentId);
    if (!d) return;
    d.serverHeads = A.decodeSyncMessage(data).heads;
    this.note('in', documentId, data.length, d.serverHeads);
    [d.doc, d.state] = A.receiveSyncMessage(d.doc, d.state, data);
    this.send(documentId, 'sync');
    for (const w of this.waiters) w();
  }

  heads(documentId) {
    return A.getHeads(this.docs.get(documentId).doc);
  }

  /** Resolves once `pred()` holds (checked after every message). */
  until(pred) {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => {
      const w = () => {
        if (pred()) {
          this.waiters.delete(w);
          resolve();
        }
      };
      this.waiters.add(w);
    });
  }

  acked(documentId) {
    return this.until(() => sameHeads(this.docs.get(documentId).serverHeads, this.heads(documentId)));
  }
}

/** CPU of this process's main thread (its JavaScript), in ms; undefined off Linux. */
function mainThreadCpuMs() {
  try {
    return statCpu(`/proc/self/task/${process.pid}/stat`).ms;
  } catch {
    return undefined;
  }
}

/**
 * Warms this process up before anything is measured: V8 compiles
 * Automerge's wasm again with its optimizing tier on background threads
 * once its functions run hot, which takes a few seconds of CPU (2-2.5 s
 * of the 4-4.5 s this process took for W6's 1,000 changes, with either
 * server) on the same two cores as the server. Two local documents (no
 * server involved) are changed and synced the way the peers do, then the
 * process waits until its CPU clock is still. Returns what it took.
 */
async function warmUp(rounds = Number(process.env.BENCH_CLIENT_WARMUP ?? 400)) {
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  let a = A.from({ n: 0, log: [] });
  let b = A.init();
  let [sa, sb] = [A.initSyncState(), A.initSyncState()];
  for (let i = 1; i <= rounds; i++) {
    a = A.change(a, (d) => { d.n = i; d.log.push(i); });
    for (let hop = 0; hop < 4; hop++) {
      let msg;
      [sa, msg] = A.generateSyncMessage(a, sa);
      if (msg) {
        const data = new Uint8Array(decode(encode({ type: 'sync', data: msg })).data);
        A.decodeSyncMessage(data);
        [b, sb] = A.receiveSyncMessage(b, sb, data);
      }
      let reply;
      [sb, reply] = A.generateSyncMessage(b, sb);
      if (!msg && !reply) break;
      if (reply) [a, sa] = A.receiveSyncMessage(a, sa, reply);
    }
    if (i % 20 === 0) [a, b, sa, sb] = [A.from({ n: 0, log: [] }), A.init(), A.initSyncState(), A.initSyncState()];
    A.getHeads(a);
  }
  // Still: under 10 ms of CPU in 250 ms (the background compiles done),
  // or 20 s at most.
  const cpuNow = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
  for (let last = cpuNow(), waited = 0; waited < 20_000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuNow();
    if (now - last < 10) break;
    last = now;
  }
  const cpu = process.cpuUsage(cpu0);
  return { warmupMs: performance.now() - t, warmupCpuMs: (cpu.user + cpu.system) / 1000 };
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** W3: A changes a document B has open; the time until B holds the change. */
async function relay([connsFile, iterations]) {
  const [ca, cb] = JSON.parse(fs.readFileSync(connsFile, 'utf8'));
  const warm = await warmUp();
  const a = new RawPeer(ca);
  const b = new RawPeer(cb);
  await a.open();
  await b.open();
  const id = a.create({ n: 0 });
  await a.acked(id);
  b.request(id);
  await b.until(() => sameHeads(b.heads(id), a.heads(id)));
  const samples = [];
  // A's change acknowledged to A (after B held it, or when it came).
  const acks = [];
  for (let i = 1; i <= Number(iterations); i++) {
    const t = performance.now();
    a.change(id, (d) => { d.n = i; });
    const target = a.heads(id);
    await b.until(() => target.every((h) => b.heads(id).includes(h)));
    samples.push(performance.now() - t);
    await a.acked(id);
    acks.push(performance.now() - t);
    await b.acked(id);
  }
  a.close();
  b.close();
  console.log(JSON.stringify({ p50: percentile(samples, 50), p95: percentile(samples, 95), ackP50: percentile(acks, 50), n: samples.length, ...warm }));
}

/** W6: every connection is one user changing its own document, the next change once the last is acknowledged. */
async function closedLoop([connsFile, changes]) {
  const conns = JSON.parse(fs.readFileSync(connsFile, 'utf8'));
  const warm = await warmUp();
  const peers = conns.map((c) => new RawPeer(c));
  await Promise.all(peers.map((p) => p.open()));
  const acks = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  await Promise.all(peers.map(async (p) => {
    let id = null;
    for (let i = 0; i < Number(changes); i++) {
      const t = performance.now();
      if (id === null) id = p.create({ n: 0, log: [] });
      else p.change(id, (d) => { d.n = i; d.log.push(i); });
      await p.acked(id);
      acks.push(performance.now() - t);
    }
  }));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const p of peers) p.close();
  console.log(JSON.stringify({
    changesPerSec: acks.length / (wall / 1000),
    ackP50: percentile(acks, 50),
    ackP95: percentile(acks, 95),
    // In a closed loop the mean is users / rate (Little's law); a p50
    // under the mean means uneven waits.
    ackMean: acks.reduce((a, b) => a + b, 0) / acks.length,
    // This process's CPU (all its threads) while the loop ran.
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    // Of it, the main thread's: every change and acknowledgement passes
    // through it, so no server can make the loop faster than n / this.
    clientMainThreadCpuMs: main0 === undefined ? undefined : mainThreadCpuMs() - main0,
    n: acks.length,
    wallMs: wall,
    ...warm,
  }));
}

const modes = { relay, 'closed-loop': closedLoop };
const [mode, ...args] = process.argv.slice(2);
if (!modes[mode]) {
  console.error('usage: raw-peers.mjs relay|closed-loop <conns.json> <n>');
  process.exit(2);
}
try {
  await modes[mode](args);
  process.exit(0);
} catch (e) {
  console.error(`raw peers (${mode}): ${e?.stack ?? e}`);
  process.exit(1);
}
