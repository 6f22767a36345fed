// A tiny static server for the demo: `/pkg/*` from wasm-client/pkg (the
// built package), everything else from wasm-client/demo, and
// `/config.json` naming the sync server. Used by the browser test and by
// `node wasm-client/demo/serve.mjs --server http://127.0.0.1:8787`.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const roots = { '/pkg/': path.join(here, '..', 'pkg'), '/': here };
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

/**
 * Starts the server; resolves to `{url, close(), setServer(url)}`. `port` 0
 * picks one. `setServer` changes what `/config.json` names (a test starts
 * this first, then the Worker with this origin allowed).
 */
export function startStatic({ server, port = 0, host = '127.0.0.1' }) {
  let current = server;
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'content-type': types['.json'], 'cache-control': 'no-store' });
      res.end(JSON.stringify({ server: current }));
      return;
    }
    const prefix = url.pathname.startsWith('/pkg/') ? '/pkg/' : '/';
    const rel = decodeURIComponent(url.pathname.slice(prefix.length)) || 'index.html';
    const file = path.resolve(roots[prefix], rel);
    if (!file.startsWith(path.resolve(roots[prefix]) + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, {
        'content-type': types[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    srv.on('error', reject);
    srv.listen(port, host, () => {
      const { port: p } = srv.address();
      resolve({
        url: `http://${host}:${p}`,
        setServer: (s) => { current = s; },
        close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const s = await startStatic({
    server: arg('--server', 'http://127.0.0.1:8787'),
    port: Number(arg('--port', '5173')),
  });
  console.log(`demo on ${s.url} (sync server ${arg('--server', 'http://127.0.0.1:8787')})`);
}
