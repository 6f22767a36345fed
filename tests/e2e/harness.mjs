// Starts the real Worker under workerd (`wrangler dev`) for one test file:
// a free port, its own persistence directory, ready when /health answers,
// and a stop that leaves no process behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAnswer } from './openapi.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const wrangler = path.join(root, 'node_modules', '.bin', 'wrangler');

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const madeDirs = new Set();
// The state directories this process made go when it exits (a restart
// within one test file reuses its directory until then).
process.on('exit', () => {
  for (const dir of madeDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* left for the OS */ }
  }
});

/** A fresh directory for the Worker's local SQLite, removed at exit. */
export function tempStateDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-e2e-'));
  madeDirs.add(dir);
  return dir;
}

/**
 * Traffic limits raised for test suites: every test talks from 127.0.0.1
 * and many create dozens of accounts. A test of the limits passes its own.
 */
export const RAISED_LIMITS = {
  REGISTRATIONS_PER_IP_PER_HOUR: '100000',
  REQUESTS_PER_IP_PER_MINUTE: '1000000',
  REQUESTS_PER_USER_PER_MINUTE: '1000000',
};

/**
 * Starts `wrangler dev` and resolves once GET /health is 200. `vars` are
 * passed as `--var` (over [`RAISED_LIMITS`]). `logLevel` is wrangler's
 * (default `warn`); `log` shows the Worker's own `console.log` lines, e.g.
 * the structured request logs. `config` is another wrangler.toml than the
 * repo's (the benchmark's floor Worker).
 * @param {{stateDir?: string, vars?: Record<string,string>, timeoutMs?: number, logLevel?: string, config?: string}} opts
 */
export async function startWorker(opts = {}) {
  const stateDir = opts.stateDir ?? tempStateDir();
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = ['dev', '--local', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspectorPort), '--persist-to', stateDir,
    '--show-interactive-dev-session=false', '--log-level', opts.logLevel ?? 'warn'];
  if (opts.config) args.push('--config', opts.config);
  for (const [k, v] of Object.entries({ ...RAISED_LIMITS, ...opts.vars })) args.push('--var', `${k}:${v}`);
  const started = Date.now();
  const child = spawn(wrangler, args, {
    cwd: root,
    detached: true, // own process group: stop() takes workerd down with it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_LOG_PATH: path.join(stateDir, 'logs'),
      CI: 'true',
    },
  });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve(exited);
  }));

  const url = `http://127.0.0.1:${port}`;
  const deadline = started + (opts.timeoutMs ?? 180_000);
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited early (${JSON.stringify(exited)}):\n${log}`);
    if (Date.now() > deadline) {
      killGroup(child.pid, 'SIGKILL');
      throw new Error(`wrangler dev not ready after ${Date.now() - started} ms:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    port,
    stateDir,
    pid: child.pid,
    readyMs: Date.now() - started,
    log: () => log,
    /** Stops wrangler and workerd; resolves once the whole group is gone. */
    async stop() {
      if (!exited) {
        killGroup(child.pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000);
        await exit;
        clearTimeout(timer);
      }
      // wrangler may exit before its workerd child: wait for the group.
      for (let i = 0; i < 100 && groupAlive(child.pid); i++) {
        if (i === 50) killGroup(child.pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

/** True while any process of the group started for `pid` is alive. */
export function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * fetch + JSON body (null when there is none); every answer is checked
 * against docs/openapi.yaml (`openapi.mjs`).
 */
export async function call(base, method, pathname, { body, token, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = raw;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + pathname, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = { nonJson: text }; }
  }
  checkAnswer(method, pathname, res.status, res.headers, json);
  return { status: res.status, headers: res.headers, json };
}
