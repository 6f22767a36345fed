// The stock automerge-repo client side of `make bench-compare` (npm
// @automerge/automerge-repo + -network-websocket + -storage-nodefs, none of
// our code), one workload per process so that its CPU time is its own.
//
//   node tests/bench/stock-client.mjs generate <data.json> <decks> <cards>
//   node tests/bench/stock-client.mjs upload <ws-url> <data.json> <storage-dir>     (W1)
//   node tests/bench/stock-client.mjs open <ws-url> <root-id> <decks> <cards>        (W2, W5)
//   node tests/bench/stock-client.mjs reconnect <ws-url> <data.json> <storage-dir>  (W4)
//
// Prints one JSON line: {wallMs, cpuMs, bytesSent, bytesReceived, docs},
// then exits without `repo.shutdown()` (a server may have announced
// documents that never became ready, and shutdown then throws).
// A change counts as acknowledged when the server advertises heads equal
// to the client's for that document (decoded from its sync messages).
import fs from 'node:fs';
import * as A from '@automerge/automerge';
import { Repo, cbor } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

const DEADLINE_MS = Number(process.env.BENCH_CLIENT_TIMEOUT_MS ?? 300_000);
const [mode, ...args] = process.argv.slice(2);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
setTimeout(() => {
  console.error(`stock client (${mode}): timed out after ${DEADLINE_MS} ms`);
  process.exit(3);
}, DEADLINE_MS).unref();

/**
 * The stock adapter, counting the bytes of every frame it sends and
 * receives, and recording the heads the server advertises per document.
 * The frame is encoded exactly as the stock `send` does (one CBOR encode).
 */
class CountingAdapter extends WebSocketClientAdapter {
  bytesSent = 0;
  bytesReceived = 0;
  serverHeads = new Map();
  /** `trackHeads`: decode the server's sync messages for its heads (W1, W4 only: it costs client CPU). */
  constructor(url, trackHeads) {
    // A ticket is single use: no retry may race the first connect.
    super(url, 600_000);
    if (trackHeads) {
      this.on('message', (m) => {
        if (m.type === 'sync' && m.data) this.serverHeads.set(m.documentId, A.decodeSyncMessage(m.data).heads);
      });
    }
  }

  send(message) {
    if (!this.socket || this.socket.readyState !== 1) return super.send(message);
    const encoded = cbor.encode(message);
    this.bytesSent += encoded.byteLength;
    this.socket.send(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
  }

  receiveMessage(data) {
    this.bytesReceived += data.byteLength;
    super.receiveMessage(data);
  }
}

const sameHeads = (a, b) => a && b && a.length === b.length && a.every((h) => b.includes(h));

/** Resolves once the server advertised every handle's heads. */
async function acknowledged(adapter, handles) {
  for (;;) {
    const pending = handles.filter((h) => !sameHeads(adapter.serverHeads.get(h.documentId), A.getHeads(h.doc())));
    if (pending.length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function report(adapter, docs) {
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({
    wallMs: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    bytesSent: adapter?.bytesSent ?? 0,
    bytesReceived: adapter?.bytesReceived ?? 0,
    docs,
  }));
}

/** The account: 1 root (the deck index) and `decks` decks of `cards` card entries, one change each. */
async function generate([file, decks, cards]) {
  const repo = new Repo({ network: [], isEphemeral: true });
  const root = repo.create({ kind: 'root', schema: 1, decks: {} });
  const docs = [];
  for (let d = 0; d < Number(decks); d++) {
    const deck = repo.create({ kind: 'deck', schema: 1, name: `Deck ${d}`, emoji: '📚', cards: {} });
    for (let c = 0; c < Number(cards); c++) {
      deck.change((doc) => {
        doc.cards[`card-${d}-${c}`] = { front: `Question ${d}.${c}`, back: `Answer ${c}`, views: 0, correct: 0 };
      });
    }
    root.change((doc) => { doc.decks[`deck-${d}`] = { documentId: deck.documentId, name: `Deck ${d}` }; });
    docs.push(deck);
  }
  const out = [];
  for (const h of [root, ...docs]) {
    out.push({ id: h.documentId, bytes: Buffer.from(A.save(h.doc())).toString('base64') });
  }
  fs.writeFileSync(file, JSON.stringify({ root: root.documentId, docs: out }));
  report(null, out.length);
}

function importAll(repo, file) {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  return data.docs.map(({ id, bytes }) => repo.import(Buffer.from(bytes, 'base64'), { docId: id }));
}

/** W1: a device that has the account (created offline) connects and uploads it. */
async function upload([url, file, storageDir]) {
  const adapter = new CountingAdapter(url, true);
  const repo = new Repo({ network: [adapter], storage: new NodeFSStorageAdapter(storageDir) });
  const handles = importAll(repo, file);
  await acknowledged(adapter, handles);
  await repo.flush(handles.map((h) => h.documentId));
  report(adapter, handles.length);
}

/** W2, W5: a fresh device (nothing stored) opens the root, then every deck it lists. */
async function open([url, rootId, decks, cards]) {
  const adapter = new CountingAdapter(url, false);
  // The stock adapter calls itself ready after 1 s even without a peer,
  // and `find` then answers "unavailable": a busy server is not a missing
  // document, so wait for the server's `peer` first.
  const peered = new Promise((r) => adapter.once('peer-candidate', r));
  const repo = new Repo({ network: [adapter], isEphemeral: true });
  await peered;
  const root = await repo.find(rootId);
  const ids = Object.values(root.doc().decks).map((d) => d.documentId);
  if (ids.length !== Number(decks)) throw new Error(`root lists ${ids.length} decks, not ${decks}`);
  const handles = await Promise.all(ids.map((id) => repo.find(id)));
  for (const h of handles) {
    const n = Object.keys(h.doc().cards).length;
    if (n !== Number(cards)) throw new Error(`deck ${h.documentId} has ${n} cards, not ${cards}`);
  }
  report(adapter, handles.length + 1);
}

/** W4: the uploading device again (its storage), nothing new on either side. */
async function reconnect([url, file, storageDir]) {
  const adapter = new CountingAdapter(url, true);
  const repo = new Repo({ network: [adapter], storage: new NodeFSStorageAdapter(storageDir) });
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  const handles = await Promise.all(data.docs.map(({ id }) => repo.find(id)));
  await acknowledged(adapter, handles);
  report(adapter, handles.length);
}

const modes = { generate, upload, open, reconnect };
if (!modes[mode]) {
  console.error('usage: stock-client.mjs generate|upload|open|reconnect ...');
  process.exit(2);
}
try {
  await modes[mode](args);
  process.exit(0);
} catch (e) {
  console.error(`stock client (${mode}): ${e?.stack ?? e}`);
  process.exit(1);
}
