// The floor of any pass that reads every document of an account in our
// runtime: loading them with stock Automerge's wasm (npm
// @automerge/automerge, its low-level handle: no materializing) in Node's
// V8, the engine workerd runs. The heavy-learner bench
// (tests/bench/workerd.rs) writes the saved documents to a directory and
// runs this; it prints one line per round (the first compiles the wasm).
//
//   node tests/bench/wasm-load-floor.mjs <dir of saved documents> [rounds]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// The package exports no way to load without materializing: its own
// low-level module, by path (the same file its Node entry initializes).
const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '../../node_modules/@automerge/automerge/dist/mjs');
await import(pathToFileURL(path.join(dist, 'entrypoints/fullfat_node.js')).href);
const { ApiHandler } = await import(pathToFileURL(path.join(dist, 'low_level.js')).href);

const [dir, rounds = '4'] = process.argv.slice(2);
const docs = fs.readdirSync(dir).map((f) => new Uint8Array(fs.readFileSync(path.join(dir, f))));
const times = [];
for (let r = 0; r < Number(rounds); r++) {
  const t = performance.now();
  for (const bytes of docs) ApiHandler.load(bytes, {}).free();
  times.push(performance.now() - t);
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({ docs: docs.length, roundsMs: times.map(Math.round), medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]) }));
