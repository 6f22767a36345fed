// automerge-repo's own sync server configuration (as its
// automerge-repo-sync-server package sets one up): a Repo on the
// filesystem storage adapter, the WebSocket server adapter, and a share
// policy that announces nothing (it answers what peers ask for).
// `make bench-compare` runs it beside our Worker and samod.
//
//   node tests/bench/node-server.mjs <port> <data-dir>
//
// Prints `listening <port>` once it accepts connections.
import { WebSocketServer } from 'ws';
import { Repo } from '@automerge/automerge-repo';
import { NodeWSServerAdapter } from '@automerge/automerge-repo-network-websocket';
import { NodeFSStorageAdapter } from '@automerge/automerge-repo-storage-nodefs';

const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  console.error('usage: node-server.mjs <port> <data-dir>');
  process.exit(2);
}
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(port), maxPayload: 64 << 20 });
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${port}`,
  sharePolicy: async () => false,
});
wss.on('listening', () => console.log(`listening ${port}`));
const stop = async () => {
  await repo.shutdown();
  wss.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
