// A frame lost between device and server, in either direction: the built
// package (wasm-client/pkg) talks to the real Worker through a small
// WebSocket proxy that drops one chosen frame, and must still reach
// `synced` with the server holding its change.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { decode } from 'cbor-x';
import { startWorker, root, freePort } from './harness.mjs';

const { SyncClient, memoryStorage } = await import(path.join(root, 'wasm-client', 'pkg', 'index.js'));

let w;
let proxy;
before(async () => {
  w = await startWorker();
  proxy = await startProxy(w.port);
});
after(async () => {
  proxy?.close();
  await w?.stop();
});

/**
 * Forwards WebSocket connections to the Worker; `drop.up` / `drop.down`
 * (predicates over decoded messages) each drop the first matching frame
 * in that direction, then reset themselves. `dropped` counts drops.
 */
async function startProxy(workerPort) {
  const port = await freePort();
  const drop = { up: null, down: null };
  const dropped = { up: 0, down: 0 };
  const wss = new WebSocketServer({
    port,
    host: '127.0.0.1',
    handleProtocols: (protocols) => [...protocols][0],
  });
  const take = (dir, data) => {
    const pred = drop[dir];
    if (!pred) return false;
    let msg;
    try { msg = decode(data); } catch { return false; }
    if (!pred(msg)) return false;
    drop[dir] = null;
    dropped[dir] += 1;
    return true;
  };
  wss.on('connection', (client, req) => {
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const upstream = new WebSocket(`ws://127.0.0.1:${workerPort}${req.url}`, protocols);
    const queue = [];
    upstream.on('open', () => { for (const d of queue.splice(0)) upstream.send(d); });
    client.on('message', (data) => {
      if (take('up', data)) return;
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else queue.push(data);
    });
    upstream.on('message', (data) => {
      if (take('down', data)) return;
      if (client.readyState === WebSocket.OPEN) client.send(data);
    });
    const end = () => { client.close(); upstream.close(); };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise((r) => wss.on('listening', r));
  return { port, drop, dropped, close: () => wss.close() };
}

/** The package's WebSocket, pointed at the proxy instead of the Worker. */
const viaProxy = (workerPort, proxyPort) => class extends WebSocket {
  constructor(url, protocols) {
    super(url.replace(`:${workerPort}/`, `:${proxyPort}/`), protocols);
  }
};

const isSync = (m) => m?.type === 'sync';

test('a frame lost in either direction: the device still reaches synced and the server has its changes', async () => {
  const email = `lost.${process.pid}.${Date.now()}@example.com`;
  const client = await SyncClient.open({
    server: w.url,
    storage: memoryStorage(),
    WebSocket: viaProxy(w.port, proxy.port),
  });
  await client.register(email, 'correct horse battery', { deviceName: 'lossy' });
  client.connect();
  await client.synced({ timeoutMs: 20_000 });

  // Up: the frame carrying the change never reaches the server.
  let before = proxy.dropped.up;
  proxy.drop.up = isSync;
  client.star('lost-up');
  await waitForDrop('up', before);
  await client.synced({ timeoutMs: 20_000 });
  assert.equal(client.status, 'synced');

  // Down: the server's answer to the change never reaches the device.
  before = proxy.dropped.down;
  proxy.drop.down = isSync;
  client.star('lost-down');
  await waitForDrop('down', before);
  await client.synced({ timeoutMs: 20_000 });
  assert.equal(client.status, 'synced');
  assert.equal(client.pendingChanges, 0);

  // The server holds both (read by a second device, straight to the Worker).
  const other = await SyncClient.open({ server: w.url, storage: memoryStorage(), WebSocket });
  await other.login(email, 'correct horse battery', { deviceName: 'reader' });
  other.connect();
  await other.synced({ timeoutMs: 20_000 });
  assert.deepEqual(other.starred().sort(), ['lost-down', 'lost-up']);
  await Promise.all([client.close(), other.close()]);
});

async function waitForDrop(dir, before) {
  const end = Date.now() + 10_000;
  while (proxy.dropped[dir] === before) {
    if (Date.now() > end) throw new Error(`no ${dir} frame was dropped`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
