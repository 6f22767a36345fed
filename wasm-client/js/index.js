// MyFlashPlay sync client: the wasm core (documents, merge, protocol) plus
// the I/O it deliberately lacks: HTTP, WebSocket, timers, local storage.
// Types: index.d.ts. Guide: README.md.
import initWasm, { Device, prehash as wasmPrehash, rootDocumentId } from './core/myflashplay_client.js';
import { indexedDbStorage, memoryStorage } from './storage.js';

export { indexedDbStorage, memoryStorage };

const SUBPROTOCOL = 'myflashplay-sync.v1';
const REFRESH_MARGIN_MS = 60_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const HTTP_POLL_MS = 5_000;
const HTTP_MAX_ROUND_TRIPS = 100;
// A WebSocket round that goes silent before every document settled is
// asked again (`changes-since` plus fresh sync messages) after this long.
const STALL_MS = 1_000;
// From the second stall in a row on, every document's sync state restarts
// (a frame was lost in one direction or the other: whatever it carried is
// sent again); after this many the socket is closed and reopened.
const MAX_STALLS = 6;
// The user id a client without a server keeps its (local-only) data under.
const LOCAL_USER = 'local';

/** An error with a stable `code` (docs/api.md codes, plus the client's own). */
export class SyncClientError extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = 'SyncClientError';
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}

let ready;
/** Loads the wasm core once. `wasm`: bytes, a URL or a compiled module. */
export function init(wasm) {
  ready ??= load(wasm).catch((e) => {
    ready = undefined;
    throw e;
  });
  return ready;
}

async function load(wasm) {
  if (wasm !== undefined) return initWasm({ module_or_path: wasm });
  const url = new URL('./core/myflashplay_client_bg.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    // Node: fetch() does not read files.
    const fs = await import(/* @vite-ignore */ 'node:fs/promises');
    return initWasm({ module_or_path: await fs.readFile(url) });
  }
  return initWasm({ module_or_path: url });
}

/** The password prehash of docs/api.md (argon2id; ~0.5 s). */
export async function prehash(email, password) {
  await init();
  return core(() => wasmPrehash(email, password));
}

/** Calls into wasm; its errors become SyncClientError. */
function core(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && e.name === 'SyncClientError') {
      throw new SyncClientError(e.code ?? 'internal', e.message);
    }
    throw e;
  }
}

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A device's Automerge actor and protocol peer id, drawn at random. */
const newIdentity = () => ({ actor: hex(randomBytes(16)), peerId: `mfp-${hex(randomBytes(8))}` });

// Tabs. Every client open on one storage (a browser profile's tabs) holds a
// slot of its own through the Web Locks API: its own actor, peer id,
// document copies and sync state. Tabs thus never overwrite each other's
// saved documents nor make changes under one actor, and a tab opened later
// takes in what a closed tab left unsent. Without Web Locks (Node): slot 0.
const MAX_SLOTS = 64;

const lockName = (storage, name) => `myflashplay-sync:${storage.id ?? 'storage'}:${name}`;

/** Runs `fn` holding the exclusive lock `name` of `storage`. */
function withLock(storage, name, fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(lockName(storage, name), fn) : fn();
}

/**
 * Runs `fn` holding slot `slot`'s lock if no client holds it now; false
 * (without running it) if one does.
 */
async function ifIdle(storage, slot, fn) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return false;
  return locks.request(lockName(storage, `slot:${slot}`), { ifAvailable: true },
    async (lock) => (lock ? (await fn(), true) : false));
}

/** The first free slot, held until `release()`. */
async function claimSlot(storage) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return { slot: 0, release() {} };
  for (let slot = 0; slot < MAX_SLOTS; slot++) {
    const claimed = await new Promise((resolve, reject) => {
      locks.request(lockName(storage, `slot:${slot}`), { ifAvailable: true }, (lock) => {
        if (!lock) return resolve(null);
        return new Promise((release) => resolve({ slot, release }));
      }).catch(reject);
    });
    if (claimed) return claimed;
  }
  throw new SyncClientError('storage', `more than ${MAX_SLOTS} clients share this storage`);
}

function entriesOf(input) {
  // A Storage (window.localStorage) or a plain key → string object.
  if (input && typeof input.key === 'function' && typeof input.length === 'number') {
    const out = {};
    for (let i = 0; i < input.length; i++) {
      const k = input.key(i);
      if (k !== null) out[k] = input.getItem(k);
    }
    return out;
  }
  if (!input || typeof input !== 'object') {
    throw new SyncClientError('validation_failed', 'localStorage entries must be an object');
  }
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== 'string') {
      throw new SyncClientError('validation_failed', `localStorage value of ${k} is not a string`);
    }
  }
  return input;
}

export class SyncClient {
  #server;
  #storage;
  #fetch;
  #WebSocket;
  #deviceName;
  #identity;
  #slot;
  #releaseSlot;
  #session = null;
  #samples = null;
  #device = null;
  #status = 'offline';
  #listeners = { status: new Set(), change: new Set(), error: new Set(), pending: new Set() };
  /** `pendingChanges` as last announced by a `pending` event. */
  #lastPending = 0;
  /** Internal: called whenever sync progressed (for `synced()`). */
  #progress = new Set();
  #wanted = false;
  #ws = null;
  #roundAnswered = false;
  #wsFailures = 0;
  #reconnectTimer = null;
  #stallTimer = null;
  /** Stalls in a row without a frame from the server. */
  #stalls = 0;
  #pollTimer = null;
  #refreshTimer = null;
  #refreshing = null;
  #httpBusy = null;
  #writes = Promise.resolve();
  /** Local writes that failed so far. */
  #writeFailures = 0;
  #onOnline = () => { if (this.#wanted) this.#reconnectNow(); };
  #onOffline = () => this.#goOffline();

  /** Use `SyncClient.open`. */
  constructor(key, parts) {
    if (key !== OPEN_KEY) throw new TypeError('use SyncClient.open()');
    this.#server = parts.server;
    this.#storage = parts.storage;
    this.#fetch = parts.fetch;
    this.#WebSocket = parts.WebSocket;
    this.#deviceName = parts.deviceName;
    this.#identity = parts.identity;
    this.#samples = parts.samples ?? null;
    this.#slot = parts.slot;
    this.#releaseSlot = parts.release;
  }

  /** Opens the local storage and, if a session was saved, the user's data. */
  static async open(options) {
    const { server, storage, wasm, deviceName, autoConnect } = options ?? {};
    // No server: a local-only client (status `local`).
    if (server != null && (typeof server !== 'string' || !/^https?:\/\//.test(server))) {
      throw new SyncClientError('validation_failed', 'server must be an http(s) URL');
    }
    await init(wasm);
    let store = storage;
    if (store === undefined) {
      store = typeof indexedDB !== 'undefined' ? indexedDbStorage() : memoryStorage();
    } else if (typeof store === 'string') {
      store = indexedDbStorage(store);
    }
    const { slot, release } = await claimSlot(store);
    let identity = parseJson(await store.get(`device/${slot}`));
    if (!identity?.actor || !identity?.peerId) {
      identity = newIdentity();
      await store.set(`device/${slot}`, JSON.stringify(identity));
    }
    const ws = 'WebSocket' in (options ?? {}) ? options.WebSocket : globalThis.WebSocket;
    const client = new SyncClient(OPEN_KEY, {
      server: server == null ? null : server.replace(/\/+$/, ''),
      storage: store,
      fetch: options?.fetch ?? globalThis.fetch.bind(globalThis),
      WebSocket: ws ?? null,
      deviceName: deviceName ?? 'web',
      identity,
      slot,
      release,
      samples: options?.samples ?? null,
    });
    const session = parseJson(await store.get('session'));
    if (!client.#server) {
      client.#status = 'local';
      await client.#openDevice();
    } else if (session?.userId && session?.refreshToken) {
      client.#session = session;
      await client.#openDevice();
    }
    if (autoConnect) client.connect();
    return client;
  }

  // ---------------------------------------------------------------- state

  /** offline | connecting | synced | error | local (no server) */
  get status() { return this.#status; }

  /** The logged-in user, or null. */
  get user() {
    return this.#session ? { userId: this.#session.userId, email: this.#session.email } : null;
  }

  /** Documents with local changes the server has not confirmed yet. */
  get pendingChanges() { return this.#device ? this.#device.pendingDocuments() : 0; }

  /** This device's protocol peer id. */
  get peerId() { return this.#identity.peerId; }

  /** Subscribes; returns the unsubscribe function. */
  on(event, handler) {
    const set = this.#listeners[event];
    if (!set) throw new SyncClientError('validation_failed', `unknown event ${event}`);
    set.add(handler);
    return () => set.delete(handler);
  }

  // ------------------------------------------------------------- accounts

  /**
   * Creates an account (the password is prehashed here) and logs in. The
   * answer carries `recoveryCodes`: shown this once, for the parent to
   * keep (see the README).
   */
  async register(email, password, options) {
    return this.#authenticate('/auth/register', email, password, options);
  }

  /**
   * Sets a new password with one of the account's recovery codes (used up
   * by this) and logs in; every other session of the account ends.
   */
  async recover(email, code, newPassword, options) {
    const hashed = await prehash(email, newPassword);
    return this.#signIn('/auth/recover', {
      email,
      code,
      new_password: hashed,
      device_name: options?.deviceName ?? this.#deviceName,
    });
  }

  /** A new set of recovery codes (the old ones stop working). */
  async regenerateRecoveryCodes(password) {
    if (!this.#session) throw new SyncClientError('unauthorized', 'not logged in');
    const hashed = await prehash(this.#session.email, password);
    const answer = await this.#api('POST', '/user/recovery-codes', { password: hashed }, true);
    return answer.recovery_codes;
  }

  /** Logs in; this device then holds the user's data. */
  async login(email, password, options) {
    return this.#authenticate('/auth/login', email, password, options);
  }

  /**
   * Logs out: the server session ends, tokens are forgotten and (unless
   * `keepLocalData`) the user's documents are erased from this device.
   */
  async logout(options) {
    const session = this.#session;
    if (!session) return;
    this.disconnect();
    try {
      await this.#api('POST', '/auth/logout', {}, true);
    } catch (e) {
      if (!(e instanceof SyncClientError)) throw e;
    }
    await this.#writes;
    this.#session = null;
    this.#device?.free();
    this.#device = null;
    await this.#storage.delete('session');
    if (!options?.keepLocalData) {
      for (const key of await this.#storage.keys(`u/${session.userId}/`)) {
        await this.#storage.delete(key);
      }
      // A new actor: the server holds this one's changes to the erased
      // documents, and new changes under it would reuse their numbers
      // (a later login on this device then never settles). The other
      // slots' identities go too: their next client draws new ones.
      this.#identity = newIdentity();
      for (const key of await this.#storage.keys('device/')) await this.#storage.delete(key);
      await this.#storage.set(`device/${this.#slot}`, JSON.stringify(this.#identity));
    }
    this.#emit('change', { origin: 'local' });
    this.#announcePending();
  }

  async #authenticate(path, email, password, options) {
    if (!this.#server) throw new SyncClientError('no_server', 'this client has no server: local only');
    const hashed = await prehash(email, password);
    return this.#signIn(path, {
      email,
      password: hashed,
      device_name: options?.deviceName ?? this.#deviceName,
    });
  }

  async #signIn(path, body) {
    const tokens = await this.#api('POST', path, body, false);
    const switching = this.#session && this.#session.userId !== tokens.user_id;
    if (switching) this.disconnect();
    this.#setTokens(tokens);
    if (!this.#device || switching) await this.#openDevice();
    if (rootDocumentId(tokens.user_id) !== tokens.root_document_id) {
      this.#emit('error', new SyncClientError('layout', 'server and client disagree on the root document id'));
    }
    if (this.#wanted) this.#reconnectNow();
    this.#emit('change', { origin: 'remote' });
    return tokens.recovery_codes ? { ...this.user, recoveryCodes: tokens.recovery_codes } : this.user;
  }

  #setTokens(t) {
    this.#session = {
      userId: t.user_id,
      email: t.email,
      sessionId: t.session_id,
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      expiresAt: Date.now() + t.expires_in * 1000,
      ttlMs: t.expires_in * 1000,
    };
    this.#queueWrite('session', JSON.stringify(this.#session));
    this.#scheduleRefresh();
  }

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.#session || !this.#wanted) return;
    const due = Math.max(1000, this.#session.expiresAt - Date.now() - this.#margin());
    this.#refreshTimer = setTimeout(() => {
      this.#refresh().catch((e) => this.#emit('error', e));
    }, due);
  }

  /** Refresh this long before expiry: a minute, or a quarter of short lifetimes. */
  #margin() {
    return Math.min(REFRESH_MARGIN_MS, (this.#session?.ttlMs ?? 0) / 4);
  }

  async #freshToken() {
    if (!this.#session) throw new SyncClientError('unauthorized', 'not logged in');
    if (this.#session.expiresAt - Date.now() > this.#margin()) return this.#session.accessToken;
    return this.#refresh();
  }

  /**
   * Rotates the tokens: one refresh at a time in this client, and across
   * the tabs sharing its storage (which share the login): under their
   * common lock, a token another tab already rotated is taken from storage
   * instead of being spent again, which the server would take for a stolen
   * token and answer by ending the session.
   */
  #refresh() {
    this.#refreshing ??= withLock(this.#storage, 'refresh', async () => {
      await this.#writes;
      const mine = this.#session;
      if (!mine?.refreshToken) throw new SyncClientError('unauthorized', 'not logged in');
      const stored = parseJson(await this.#storage.get('session'));
      if (stored?.userId === mine.userId && stored.refreshToken && stored.refreshToken !== mine.refreshToken) {
        this.#session = stored;
        this.#scheduleRefresh();
        if (stored.expiresAt - Date.now() > this.#margin()) return stored.accessToken;
      }
      const refreshToken = this.#session.refreshToken;
      try {
        const t = await this.#api('POST', '/auth/refresh', { refresh_token: refreshToken }, false);
        if (this.#session?.refreshToken === refreshToken) this.#setTokens(t);
        await this.#writes;
        return this.#session.accessToken;
      } catch (e) {
        if (e instanceof SyncClientError && e.status === 401) {
          // The session is over (revoked, expired, password changed).
          this.#setStatus('error', e);
        }
        throw e;
      }
    }).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** JSON call; authenticated calls refresh the token once on 401. */
  async #api(method, path, body, auth, retried = false) {
    const headers = { 'content-type': 'application/json' };
    if (auth) headers.authorization = `Bearer ${await this.#freshToken()}`;
    let res;
    try {
      res = await this.#fetch(this.#server + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new SyncClientError('network', `${method} ${path}: ${e?.message ?? e}`);
    }
    const text = await res.text();
    const json = text ? parseJson(text) : null;
    // A 401 about the token: refresh once and retry. Not a wrong password
    // (`invalid_credentials`): retrying would count it twice in the
    // server's back-off.
    if (auth && res.status === 401 && !retried && json?.error?.code !== 'invalid_credentials') {
      await this.#refresh();
      return this.#api(method, path, body, auth, true);
    }
    if (!res.ok) {
      const err = json?.error;
      throw new SyncClientError(err?.code ?? 'http_error', err?.message ?? `HTTP ${res.status}`, res.status);
    }
    return json;
  }

  // ----------------------------------------------------------------- sync

  /** Keeps the device in sync: WebSocket, reconnect with backoff, HTTP fallback. */
  connect() {
    if (!this.#server) return;
    this.#wanted = true;
    if (typeof window !== 'undefined' && window.addEventListener) {
      window.addEventListener('online', this.#onOnline);
      window.addEventListener('offline', this.#onOffline);
    }
    this.#scheduleRefresh();
    this.#reconnectNow();
  }

  /** Stops syncing (edits keep being saved locally). */
  disconnect() {
    if (!this.#server) return;
    this.#wanted = false;
    if (typeof window !== 'undefined' && window.removeEventListener) {
      window.removeEventListener('online', this.#onOnline);
      window.removeEventListener('offline', this.#onOffline);
    }
    this.#closeTransport();
    this.#setStatus('offline');
  }

  /** Resolves once everything local is on the server and the round is done. */
  synced(options) {
    const timeoutMs = options?.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#progress.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        if (this.#status === 'synced' && this.pendingChanges === 0) {
          done();
          resolve();
        }
      };
      this.#progress.add(check);
      const timer = setTimeout(() => {
        done();
        reject(new SyncClientError('timeout', `not synced after ${timeoutMs} ms (status ${this.#status})`));
      }, timeoutMs);
      check();
    });
  }

  /** One full HTTP sync round now (`POST /sync`), whatever the transport. */
  async syncNow() {
    this.#requireDevice();
    await this.#httpRound();
  }

  #goOffline() {
    this.#closeTransport();
    this.#setStatus('offline');
  }

  #closeTransport() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#stallTimer);
    this.#reconnectTimer = null;
    this.#pollTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Closing a socket that is still connecting makes Node's `ws` emit an
      // 'error' event afterwards; without a listener that error is thrown.
      ws.onerror = () => {};
      try { ws.close(); } catch { /* already closed */ }
    }
  }

  #online() {
    return !(typeof navigator !== 'undefined' && navigator.onLine === false);
  }

  #reconnectNow() {
    this.#closeTransport();
    if (!this.#wanted || !this.#device) return;
    if (!this.#online()) {
      this.#setStatus('offline');
      return;
    }
    this.#setStatus('connecting');
    if (this.#WebSocket) {
      this.#openWs().catch((e) => this.#transportFailed(e));
    } else {
      this.#pollHttp();
    }
  }

  async #openWs() {
    const token = await this.#freshToken();
    if (!this.#wanted) return;
    const url = `${this.#server.replace(/^http/, 'ws')}/sync/ws`;
    const ws = new this.#WebSocket(url, [SUBPROTOCOL, `bearer.${token}`]);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#roundAnswered = false;
    ws.onopen = () => {
      if (this.#ws !== ws || !this.#device) return;
      this.#send(ws, [this.#device.join()]);
      // No `peer` answer (a lost frame): the stall timer starts over.
      this.#stalls = 0;
      this.#armStall(ws);
    };
    ws.onmessage = (ev) => this.#onFrame(ws, ev.data);
    ws.onerror = () => { /* onclose follows */ };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#transportFailed(new SyncClientError('network', 'WebSocket closed'));
    };
  }

  #send(ws, frames) {
    if (ws.readyState !== 1) return;
    for (const f of frames) ws.send(f);
  }

  #onFrame(ws, data) {
    if (this.#ws !== ws || !this.#device) return;
    const bytes = new Uint8Array(data);
    this.#stalls = 0;
    let received;
    try {
      received = core(() => this.#device.receive(bytes));
    } catch (e) {
      this.#emit('error', e);
      if (e.code === 'server_error' || e.code === 'protocol') ws.close();
      this.#afterReceive(ws, false);
      return;
    }
    if (received.kind === 'peer') {
      this.#wsFailures = 0;
      this.#whenSaved(ws, () => this.#send(ws, [this.#device.start()]));
    }
    if (received.kind === 'changes') this.#roundAnswered = true;
    this.#afterReceive(ws, received.changed);
    received.free();
  }

  /**
   * Sends what the core has to say, then asks again: after an ack the
   * server may stay silent, and only a second poll sees that the document
   * settled (nothing else would trigger it).
   */
  #drain(ws) {
    for (let i = 0; i < 4; i++) {
      const frames = this.#device.poll();
      if (frames.length === 0) break;
      this.#send(ws, frames);
    }
  }

  #afterReceive(ws, changed) {
    this.#persist();
    if (changed) this.#emit('change', { origin: 'remote' });
    this.#whenSaved(ws, () => {
      this.#drain(ws);
      this.#persist();
      clearTimeout(this.#stallTimer);
      if (this.#roundAnswered && this.#device.isQuiet()) {
        this.#setStatus('synced');
        this.#progressed();
        return;
      }
      if (this.#status !== 'synced') this.#setStatus('connecting');
      this.#progressed();
      this.#armStall(ws);
    });
  }

  /**
   * A round that goes silent before every document settled asks again;
   * from the second stall in a row the sync states restart (whatever a
   * lost frame carried is sent again), and after MAX_STALLS the socket is
   * reopened. Re-armed until the round settles or a frame arrives.
   */
  #armStall(ws) {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = setTimeout(() => {
      this.#whenSaved(ws, () => {
        if (this.#roundAnswered && this.#device.isQuiet()) return;
        this.#stalls += 1;
        if (this.#stalls >= MAX_STALLS || (!this.#roundAnswered && this.#stalls >= 4)) {
          ws.close();
          return;
        }
        if (this.#stalls >= 2) this.#device.restart();
        this.#send(ws, [this.#device.start()]);
        this.#drain(ws);
        this.#armStall(ws);
      });
    }, STALL_MS);
  }

  /**
   * Resolves once every local write queued so far (and any queued while
   * waiting) is done. Nothing leaves this device before it is saved here:
   * otherwise a tab killed in between would leave the server a change the
   * next start does not have, under the actor that start reuses.
   */
  async #saved() {
    let writes;
    do {
      writes = this.#writes;
      await writes;
    } while (writes !== this.#writes);
  }

  /** Runs `fn` once saved, if `ws` is still this client's open socket. */
  #whenSaved(ws, fn) {
    this.#saved().then(() => {
      if (this.#ws === ws && ws.readyState === 1 && this.#device) fn();
    });
  }

  /** After a local edit: send it now if a transport is up. */
  #flush() {
    if (this.#ws && this.#ws.readyState === 1 && this.#roundAnswered) {
      const ws = this.#ws;
      this.#whenSaved(ws, () => {
        this.#drain(ws);
        // Whatever was sent may be lost: the stall timer asks again.
        this.#armStall(ws);
      });
    } else if (this.#wanted && !this.#ws && this.#online() && this.#status !== 'error') {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = setTimeout(() => this.#pollHttp(), 50);
    }
  }

  #transportFailed(err) {
    if (!this.#wanted) return;
    this.#wsFailures += 1;
    if (err?.status === 401 || this.#status === 'error') {
      this.#setStatus('error', err);
      return;
    }
    if (!this.#online()) {
      this.#setStatus('offline');
      return;
    }
    // Not synced while the server is out of reach: a later `synced` says
    // both sides hold the same heads again.
    this.#setStatus('connecting');
    // HTTP fallback while the WebSocket is down (proxies that block it, or
    // a server restart): one round now, then polling until it is back.
    this.#pollHttp();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.#wsFailures - 1));
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (this.#wanted && !this.#ws) {
        clearTimeout(this.#pollTimer);
        this.#openWs().catch((e) => this.#transportFailed(e));
      }
    }, delay * (0.75 + Math.random() / 2));
  }

  #pollHttp() {
    clearTimeout(this.#pollTimer);
    this.#httpRound()
      .catch((e) => {
        if (e instanceof SyncClientError && e.code === 'network') this.#setStatus('offline');
        else if (e instanceof SyncClientError && e.status === 401) this.#setStatus('error', e);
        else this.#emit('error', e);
      })
      .finally(() => {
        if (this.#wanted && !this.#ws && this.#status !== 'error') {
          clearTimeout(this.#pollTimer);
          this.#pollTimer = setTimeout(() => this.#pollHttp(), HTTP_POLL_MS);
        }
      });
  }

  /** `POST /sync` batches until neither side has anything to say. */
  #httpRound() {
    this.#httpBusy ??= (async () => {
      try {
        let first = true;
        for (let i = 0; i < HTTP_MAX_ROUND_TRIPS; i++) {
          await this.#saved();
          if (!this.#device) return;
          const body = this.#device.pollBatch(first);
          first = false;
          if (!body) break;
          const answer = await this.#postSync(body);
          if (!this.#device) return;
          const received = core(() => this.#device.receiveBatch(answer));
          for (const e of received.errors) this.#emit('error', new SyncClientError('sync_refused', e));
          const changed = received.changed;
          received.free();
          this.#persist();
          if (changed) this.#emit('change', { origin: 'remote' });
        }
        if (this.#device?.isQuiet() && !this.#ws) this.#setStatus('synced');
        this.#progressed();
      } finally {
        this.#httpBusy = null;
      }
    })();
    return this.#httpBusy;
  }

  async #postSync(body, retried = false) {
    const token = await this.#freshToken();
    let res;
    try {
      res = await this.#fetch(`${this.#server}/sync`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cbor' },
        body,
      });
    } catch (e) {
      throw new SyncClientError('network', `POST /sync: ${e?.message ?? e}`);
    }
    if (res.status === 401 && !retried) {
      await this.#refresh();
      return this.#postSync(body, true);
    }
    if (!res.ok) {
      const json = parseJson(await res.text());
      throw new SyncClientError(json?.error?.code ?? 'http_error', json?.error?.message ?? `HTTP ${res.status}`, res.status);
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  #setStatus(status, detail) {
    if (status === this.#status && detail === undefined) return;
    this.#status = status;
    this.#emit('status', status, detail);
    this.#progressed();
  }

  #progressed() {
    for (const h of [...this.#progress]) h();
    this.#announcePending();
  }

  /** A `pending` event whenever `pendingChanges` changed since the last one. */
  #announcePending() {
    const n = this.pendingChanges;
    if (n === this.#lastPending) return;
    this.#lastPending = n;
    this.#emit('pending', n);
  }

  #emit(event, ...args) {
    for (const h of [...this.#listeners[event]]) {
      try { h(...args); } catch (e) { console.error(e); }
    }
  }

  // --------------------------------------------------------- local store

  /**
   * Opens the user's documents: this slot's copies, merged with those of
   * the other slots. A slot no client holds is taken in for good: its
   * documents are merged, saved in this slot, and only then deleted.
   */
  async #openDevice() {
    const userId = this.#userId();
    const device = core(() => new Device(userId, unhex(this.#identity.actor), this.#identity.peerId));
    if (this.#samples) core(() => device.setSamples(JSON.stringify(this.#samples)));
    const userPrefix = `u/${userId}/`;
    const slots = new Map();
    for (const key of await this.#storage.keys(userPrefix)) {
      const m = /^s(\d+)\/doc\/(.+)$/.exec(key.slice(userPrefix.length));
      if (!m) continue;
      const slot = Number(m[1]);
      if (!slots.has(slot)) slots.set(slot, []);
      slots.get(slot).push({ key, id: m[2] });
    }
    const loadSlot = async (docs, own) => {
      for (const { key, id } of docs) {
        const bytes = await this.#storage.get(key);
        if (bytes === undefined) continue;
        try {
          core(() => device.loadDocument(id, bytes, own));
        } catch (e) {
          // A damaged local copy: the server's copy comes back on sync.
          this.#emit('error', e);
        }
      }
    };
    await loadSlot(slots.get(this.#slot) ?? [], true);
    const state = await this.#storage.get(`${this.#prefix(userId)}sync`);
    if (typeof state === 'string') {
      try { core(() => device.setSyncState(state)); } catch (e) { this.#emit('error', e); }
    }
    this.#device?.free();
    this.#device = device;
    for (const [slot, docs] of slots) {
      if (slot === this.#slot) continue;
      const idle = await ifIdle(this.#storage, slot, async () => {
        // Listed again under the lock: the slot's last client may have
        // saved more before it let go.
        const prefix = `${userPrefix}s${slot}/`;
        const keys = await this.#storage.keys(prefix);
        await loadSlot(keys.filter((k) => k.startsWith(`${prefix}doc/`))
          .map((key) => ({ key, id: key.slice(prefix.length + 4) })), false);
        const failures = this.#writeFailures;
        this.#persist();
        await this.#saved();
        // Deleted only once all of it is saved here.
        if (this.#writeFailures !== failures) return;
        for (const key of keys) await this.#storage.delete(key);
      });
      if (!idle) await loadSlot(docs, false);
    }
    this.#persist();
  }

  /** Whose data this client holds: the logged-in user, or local-only data. */
  #userId() {
    return this.#session?.userId ?? (this.#server ? null : LOCAL_USER);
  }

  /** This client's keys of the user's data. */
  #prefix(userId) {
    return `u/${userId}/s${this.#slot}/`;
  }

  /** Queues the changed documents and the sync state for local storage. */
  #persist() {
    const userId = this.#userId();
    if (!this.#device || !userId) return;
    const prefix = this.#prefix(userId);
    for (const [id, bytes] of this.#device.takeDirty()) this.#queueWrite(`${prefix}doc/${id}`, bytes);
    this.#queueWrite(`${prefix}sync`, this.#device.syncState());
  }

  #queueWrite(key, value) {
    this.#writes = this.#writes
      .then(() => this.#storage.set(key, value))
      .catch((e) => {
        this.#writeFailures += 1;
        this.#emit('error', new SyncClientError('storage', `saving ${key}: ${e?.message ?? e}`));
      });
  }

  /** Resolves once every local change so far is in local storage. */
  flushStorage() { return this.#writes; }

  #requireDevice() {
    if (!this.#device) throw new SyncClientError('unauthorized', 'log in first');
    return this.#device;
  }

  #read(fn) {
    const d = this.#requireDevice();
    return JSON.parse(core(() => fn(d)));
  }

  #edit(fn) {
    const d = this.#requireDevice();
    d.setNow(Date.now());
    const out = core(() => fn(d));
    this.#persist();
    this.#emit('change', { origin: 'local' });
    this.#announcePending();
    this.#flush();
    return out;
  }

  // ------------------------------------------------------------ the data

  /** Live decks, id → Deck (with markdown). */
  decks() { return this.#read((d) => d.decks()); }
  /** One deck, or undefined. */
  deck(id) { return this.decks()[id]; }
  createDeck(deck) { this.#edit((d) => d.createDeck(JSON.stringify(deck))); }
  updateDeck(id, fields) { this.#edit((d) => d.updateDeck(id, JSON.stringify(fields))); }
  editMarkdown(id, markdown) { this.#edit((d) => d.editMarkdown(id, markdown)); }
  deleteDeck(id) { this.#edit((d) => d.deleteDeck(id)); }

  /** Card id → CardProgress (counts from every device, SM-2 replayed). */
  progress() { return this.#read((d) => d.progress()); }
  recordReview(review) {
    return this.#edit((d) => d.recordReview(JSON.stringify(review), new Date().toISOString()));
  }

  /** Session id → GameSession. */
  sessions() { return this.#read((d) => d.sessions()); }
  recordSession(session) { this.#edit((d) => d.recordSession(JSON.stringify(session))); }

  /** Achievement id → AchievementProgress. */
  achievements() { return this.#read((d) => d.achievements()); }
  setAchievement(achievement) { this.#edit((d) => d.setAchievement(JSON.stringify(achievement))); }

  starred() { return this.#read((d) => d.starred()); }
  star(publicDeckId) { this.#edit((d) => d.star(publicDeckId)); }
  unstar(publicDeckId) { this.#edit((d) => d.unstar(publicDeckId)); }

  preferences() { return this.#read((d) => d.preferences()); }
  setPreferences(prefs) { this.#edit((d) => d.setPreferences(JSON.stringify(prefs))); }
  setPreference(path, value) { this.#edit((d) => d.setPreference(path, JSON.stringify(value))); }

  /** Everything, in the `GET /user/export` shape. */
  exportData() { return this.#read((d) => d.exportData()); }

  /**
   * Restores an export (`GET /user/export` or `exportData()`, e.g. a file
   * the learner kept) into the account on the server: `POST /user/import`,
   * in parts of about 256 KiB (each deck with its progress and reviews in
   * one part). Adds what the account lacks, overwrites nothing; the merged
   * data reaches this device by sync. Resolves to the summed `added`
   * counts and the last answer's `account` counts.
   */
  async importData(data) {
    const added = {};
    let account = {};
    for (const part of importParts(data)) {
      const answer = await this.#importPart(part);
      for (const [k, v] of Object.entries(answer.added ?? {})) added[k] = (added[k] ?? 0) + v;
      account = answer.account ?? account;
    }
    if (this.#wanted) this.#reconnectNow();
    return { added, account };
  }

  /** One part; an import is idempotent, so a lost answer is simply retried. */
  async #importPart(part) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#api('POST', '/user/import', part, true);
      } catch (e) {
        const transient = e instanceof SyncClientError && (e.code === 'network' || e.status >= 500);
        if (!transient || attempt >= IMPORT_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, BACKOFF_FIRST_MS * attempt));
      }
    }
  }

  /**
   * Imports the app's localStorage (a one-time migration per account).
   * `options.samples` is the app's bundled sample list (its
   * `sampleMarkdownDecks`): the first-run sample decks then get the names
   * the app shows, and each sample's text is the shared first version on
   * every device (see `open({samples})`).
   */
  importLocalStorage(entries, options) {
    const e = entriesOf(entries);
    if (options?.samples) {
      this.#samples = options.samples;
      this.#edit((d) => d.setSamples(JSON.stringify(options.samples)));
    }
    this.#edit((d) => d.importLocalStorage(JSON.stringify(e)));
  }

  /** The app's localStorage entries, key → stored string. */
  exportLocalStorage() { return this.#read((d) => d.exportLocalStorage()); }

  /** Stops syncing and frees the wasm memory of this client. */
  async close() {
    this.disconnect();
    clearTimeout(this.#refreshTimer);
    await this.#writes;
    this.#device?.free();
    this.#device = null;
    this.#releaseSlot();
  }
}

const OPEN_KEY = Symbol('SyncClient.open');

/**
 * Import parts stay well under the server's 1 MiB body limit: each part is
 * one request whose merge costs the server about a second per 100 KB of
 * markdown, so small parts keep every request short.
 */
const IMPORT_PART_BYTES = 256 * 1024;
const IMPORT_ATTEMPTS = 3;

/**
 * Splits an export into import bodies of at most IMPORT_PART_BYTES: the
 * root data (preferences, starred, achievements) first, sessions in
 * chunks, then decks grouped with their progress and review events, so a
 * deck's progress and reviews always arrive together (the server restores
 * a card from both at once). A single deck larger than a part is sent
 * alone (the server answers 413 if it is over 1 MiB).
 */
function importParts(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new SyncClientError('validation_failed', 'an export is an object');
  }
  const size = (v) => new TextEncoder().encode(JSON.stringify(v)).length;
  const parts = [];
  let current = {};
  let currentSize = 2;
  const add = (piece) => {
    const s = size(piece);
    if (currentSize + s > IMPORT_PART_BYTES && Object.keys(current).length > 0) {
      parts.push(current);
      current = {};
      currentSize = 2;
    }
    for (const [k, v] of Object.entries(piece)) {
      if (Array.isArray(v)) current[k] = [...(current[k] ?? []), ...v];
      else if (v && typeof v === 'object' && k !== 'preferences') current[k] = { ...current[k], ...v };
      else current[k] = v;
    }
    currentSize += s;
  };
  const root = {};
  for (const k of ['preferences', 'starred', 'achievements']) if (data[k] !== undefined) root[k] = data[k];
  add(root);
  for (const [id, session] of Object.entries(data.sessions ?? {})) add({ sessions: { [id]: session } });
  const groups = new Map();
  const group = (deckId) => {
    if (!groups.has(deckId)) groups.set(deckId, { progress: {}, reviews: [] });
    return groups.get(deckId);
  };
  for (const key of ['decks', 'deleted_decks']) {
    for (const [id, deck] of Object.entries(data[key] ?? {})) group(id)[key] = { [id]: deck };
  }
  for (const [card, p] of Object.entries(data.progress ?? {})) group(p?.deckId).progress[card] = p;
  for (const r of data.reviews ?? []) group(r?.deckId).reviews.push(r);
  for (const g of groups.values()) add(g);
  if (Object.keys(current).length > 0) parts.push(current);
  return parts;
}

function parseJson(v) {
  if (typeof v !== 'string') return null;
  try { return JSON.parse(v); } catch { return null; }
}
