// The three servers `make bench-compare` measures, behind one shape:
// start on a free loopback port with a storage directory, `cpuMs()` of the
// process that does the work (from /proc), `restart()` on the same storage,
// `stop()`, and `user()`: how a client of one account connects.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startWorker, freePort, root } from '../e2e/harness.mjs';
import { statCpu } from './proc.mjs';

/** utime + stime of a process (all its threads), in ms. */
export function cpuMs(pid) {
  return statCpu(`/proc/${pid}/stat`).ms;
}

/**
 * utime + stime of each of a process's threads, summed by thread name, in
 * ms: workerd's isolate thread is `workerd`, V8's background threads (its
 * optimizing wasm compiler, concurrent GC) `V8 DefaultWorke`.
 */
export function threadCpuMs(pid) {
  const out = {};
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const { name, ms } = statCpu(`/proc/${pid}/task/${t}/stat`);
      out[name] = (out[name] ?? 0) + ms;
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

/** The processes named `comm` in process group `pgid`. */
function groupProcesses(pgid, comm) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (name === comm && Number(f[2]) === pgid) out.push(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/**
 * wrangler dev (harness) with the workerd process that runs the Worker.
 * wrangler 4 starts two: one listens on the public port and proxies (its
 * proxy worker), the other runs ours (miniflare's, with the inspector and
 * an entry socket on a port of its own choosing).
 */
async function startWrangler(opts) {
  const w = await startWorker({ logLevel: 'warn', timeoutMs: 300_000, ...opts });
  const runtime = groupProcesses(w.pid, 'workerd').filter((pid) => {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return !args.includes(`--socket-addr=entry=127.0.0.1:${w.port}`) && args.some((a) => a.startsWith('--inspector-addr'));
  });
  if (runtime.length !== 1) {
    await w.stop();
    throw new Error(`expected one workerd process running the Worker under wrangler dev, found ${runtime.length}`);
  }
  return { w, workerd: runtime[0] };
}

const prehash = () => crypto.randomBytes(32).toString('base64url');

/**
 * fetch, again once if the connection it reused was closed by the other
 * side while idle (wrangler's proxy closes idle keep-alive connections a
 * little before Node forgets them: "other side closed", the request never
 * reached the Worker).
 */
async function call(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (e?.cause?.code !== 'UND_ERR_SOCKET') throw e;
    return fetch(url, init);
  }
}

async function post(url, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await call(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`POST ${new URL(url).pathname}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Our Worker under workerd: accounts, tickets for the stock client, the bearer subprotocol for raw peers. */
export async function startOurs(dir) {
  let { w, workerd } = await startWrangler({ stateDir: dir });
  const ws = () => w.url.replace(/^http/, 'ws');
  return {
    name: 'ours',
    cpuMs: () => cpuMs(workerd),
    threadCpuMs: () => threadCpuMs(workerd),
    async restart() {
      await w.stop();
      ({ w, workerd } = await startWrangler({ stateDir: dir }));
    },
    stop: () => w.stop(),
    async user() {
      const email = `bench.${crypto.randomBytes(6).toString('hex')}@example.com`;
      const password = prehash();
      let tokens = await post(`${w.url}/auth/register`, { email, password, device_name: 'bench' });
      const fresh = async () => {
        const r = await call(`${w.url}/auth/validate`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        if (r.status === 401) tokens = await post(`${w.url}/auth/login`, { email, password, device_name: 'bench' });
        return tokens.access_token;
      };
      return {
        /** A URL for the stock client: a ticket is the only way it can authenticate. */
        async stockUrl() {
          const { ticket } = await post(`${w.url}/sync/ticket`, {}, await fresh());
          return `${ws()}/sync/ws?ticket=${ticket}`;
        },
        async raw() {
          return { url: `${ws()}/sync/ws`, protocols: ['myflashplay-sync.v1', `bearer.${await fresh()}`] };
        },
      };
    },
  };
}

/** The floor: an echoing Durable Object under the same wrangler dev and workerd (tests/bench/floor/). */
export async function startFloor(dir) {
  const { w, workerd } = await startWrangler({ stateDir: dir, config: path.join(root, 'tests/bench/floor/wrangler.toml') });
  return { name: 'floor', url: w.url.replace(/^http/, 'ws'), cpuMs: () => cpuMs(workerd), stop: () => w.stop() };
}

/** A server process that prints `listening <port>` when ready. */
async function startProcess(name, cmd, args, dir) {
  const port = await freePort();
  const spawnIt = async () => {
    const child = spawn(cmd, [...args, String(port), dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready:\n${log}`)), 60_000);
      child.stdout.on('data', (d) => {
        log += d;
        if (log.includes(`listening ${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr.on('data', (d) => { log += d; });
      child.on('exit', (code) => reject(new Error(`${name} exited ${code}:\n${log}`)));
    });
    child.exited = new Promise((r) => child.on('exit', r));
    return child;
  };
  const stopIt = async (child) => {
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await child.exited;
    clearTimeout(timer);
  };
  let child = await spawnIt();
  const url = `ws://127.0.0.1:${port}/`;
  return {
    name,
    cpuMs: () => cpuMs(child.pid),
    threadCpuMs: () => threadCpuMs(child.pid),
    async restart() {
      await stopIt(child);
      child = await spawnIt();
    },
    stop: () => stopIt(child),
    // No accounts: every client connects as itself.
    async user() {
      return { stockUrl: async () => url, raw: async () => ({ url }) };
    },
  };
}

export const SAMOD_BIN = path.join(root, 'tests/bench/samod-server/target/release/samod-bench-server');

export const startSamod = (dir) => startProcess('samod', SAMOD_BIN, [], dir);
export const startNode = (dir) => startProcess('node', process.execPath, [path.join(root, 'tests/bench/node-server.mjs')], dir);
