// A stock automerge-repo client (npm @automerge/automerge-repo and
// @automerge/automerge-repo-network-websocket, none of our code): connects
// to the Worker with a ticket URL, finds the user's root document, prints
// what it sees, writes one change, and waits until the server has it.
//
//   node tests/interop/stock-client.mjs <ws-url-with-ticket> <root-document-id> <theme>
//
// Prints one JSON line: {"seen": <root document as JSON>, "wrote": {"theme": ...}}.
import { Repo } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';

const [wsUrl, rootId, theme] = process.argv.slice(2);
if (!wsUrl || !rootId || !theme) {
  console.error('usage: stock-client.mjs <ws-url> <root-document-id> <theme>');
  process.exit(2);
}
const timeout = setTimeout(() => {
  console.error('stock client: timed out');
  process.exit(3);
}, 30_000);

// A ticket is single use: no reconnect attempt may race the first one
// (the adapter retries on an interval until the socket opens).
const adapter = new WebSocketClientAdapter(wsUrl, 60_000);
const repo = new Repo({ network: [adapter], isEphemeral: true });
const handle = await repo.find(`automerge:${rootId}`);
const seen = handle.doc();
handle.change((d) => { d.preferences.theme = theme; });

// The server answers our sync message with its own once it has applied
// (and stored) the change; wait for the heads it reports to include ours.
const { getHeads } = await import('@automerge/automerge');
const mine = getHeads(handle.doc());
await new Promise((resolve) => {
  const check = () => {
    const remote = handle.getSyncInfo?.(adapter.remotePeerId)?.lastHeads
      ?? handle.getRemoteHeads?.(adapter.remotePeerId);
    if (remote && mine.every((h) => remote.includes(h))) resolve();
    else setTimeout(check, 50);
  };
  check();
  // Without remote-heads tracking, a quiet second after our change is the fallback.
  setTimeout(resolve, 3000);
});
console.log(JSON.stringify({ seen, wrote: { theme } }));
clearTimeout(timeout);
await repo.shutdown();
process.exit(0);
