// One device running the built package (wasm-client/pkg) in Node over a
// WebSocket, driven by the kill test (tests/e2e_kill.rs) on stdin/stdout,
// one JSON object per line. Not a test file of its own.
//
//   node tests/e2e/kill-device.mjs <server> <email> <password> <name>
//
// It stars `<name>-<n>` every 100-400 ms. Commands: `burst <k>` stars k
// at once (one large sync message); `stop` stops editing, waits until
// synced and reports. Output: {ev:'status', status, t} on every status
// change (t: epoch ms), {ev:'error', code}, and {ev:'done', edits, starred,
// status, pending} or {ev:'done', error}.
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';
import { root } from './harness.mjs';

const [server, email, password, name] = process.argv.slice(2);
const { SyncClient, memoryStorage } = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const client = await SyncClient.open({ server, storage: memoryStorage(), WebSocket });
client.on('status', (status) => say({ ev: 'status', status, t: Date.now() }));
client.on('error', (e) => say({ ev: 'error', code: e?.code ?? 'error' }));
await client.login(email, password, { deviceName: name });
client.connect();

let edits = 0;
let editing = true;
const star = () => client.star(`${name}-${edits++}`);
const tick = () => {
  if (!editing) return;
  star();
  setTimeout(tick, 100 + Math.random() * 300);
};
tick();

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'burst') {
    for (let i = 0; i < Number(arg); i++) star();
  } else if (cmd === 'stop') {
    editing = false;
    try {
      await client.synced({ timeoutMs: 120_000 });
      say({ ev: 'done', edits, starred: client.starred().length, status: client.status, pending: client.pendingChanges });
    } catch (e) {
      say({ ev: 'done', edits, error: String(e?.message ?? e), status: client.status });
    }
    await client.close();
    process.exit(0);
  }
});
