// MyFlashPlay sync client: the wasm core (documents, merge, protocol) plus
// the I/O it deliberately lacks: HTTP, WebSocket, timers, local storage.
// Types: index.d.ts. Guide: README.md. This file is the public class; its
// parts live in client/: accounts and tokens (account.js), the transport
// (transport.js), the local copy (local-copy.js), tab slots (slots.js),
// what comes in from outside (import-parts.js), the conflicts already
// announced (conflicts.js), the wasm core (wasm.js).
import { indexedDbStorage, memoryStorage } from './storage.js';
import { SyncClientError, parseJson } from './client/errors.js';
import { init, prehash, core, rootDocumentId } from './client/wasm.js';
import { claimSlot, slotIdentity } from './client/slots.js';
import { Account } from './client/account.js';
import { Transport, BACKOFF_FIRST_MS } from './client/transport.js';
import { LocalCopy } from './client/local-copy.js';
import { entriesOf, importParts, IMPORT_ATTEMPTS } from './client/import-parts.js';
import { ConflictWatch } from './client/conflicts.js';

export { indexedDbStorage, memoryStorage, SyncClientError, init, prehash };

// The user id a client without a server keeps its (local-only) data under.
const LOCAL_USER = 'local';
const OPEN_KEY = Symbol('SyncClient.open');

export class SyncClient {
  #server;
  #storage;
  #releaseSlot;
  #account;
  #transport;
  #local;
  #samples = null;
  #status = 'offline';
  #listeners = {
    status: new Set(), change: new Set(), error: new Set(), pending: new Set(), conflict: new Set(),
  };
  #conflicts = new ConflictWatch();
  /** `pendingChanges` as last announced by a `pending` event. */
  #lastPending = 0;
  /** Internal: called whenever sync progressed (for `synced()`). */
  #progress = new Set();

  /** Use `SyncClient.open`. */
  constructor(key, parts) {
    if (key !== OPEN_KEY) throw new TypeError('use SyncClient.open()');
    this.#server = parts.server;
    this.#storage = parts.storage;
    this.#samples = parts.samples ?? null;
    this.#releaseSlot = parts.release;
    const emit = (event, ...args) => this.#emit(event, ...args);
    this.#local = new LocalCopy({ storage: parts.storage, slot: parts.slot, identity: parts.identity, emit });
    this.#account = new Account({
      server: parts.server,
      fetch: parts.fetch,
      requestMs: parts.timeouts?.requestMs,
      storage: parts.storage,
      deviceName: parts.deviceName,
      host: {
        saveSession: (text) => this.#local.queueWrite('session', text),
        writes: () => this.#local.writes(),
        wanted: () => this.#transport.wanted,
        ended: (err) => this.#setStatus('error', err),
        error: (err) => this.#emit('error', err),
      },
    });
    this.#transport = new Transport({
      server: parts.server,
      WebSocket: parts.WebSocket,
      connectMs: parts.timeouts?.connectMs,
      account: this.#account,
      host: {
        device: () => this.#local.device,
        saved: () => this.#local.saved(),
        persist: () => this.#persist(),
        emit,
        remoteChange: () => this.#remoteChange(),
        setStatus: (status, detail) => this.#setStatus(status, detail),
        status: () => this.#status,
        progressed: () => this.#progressed(),
      },
    });
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
    const identity = await slotIdentity(store, slot);
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
      timeouts: options?.timeouts ?? {},
    });
    const session = parseJson(await store.get('session'));
    if (!client.#server) {
      client.#status = 'local';
      await client.#openDevice();
    } else if (session?.userId && session?.refreshToken) {
      client.#account.resume(session);
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
    const s = this.#account.session;
    return s ? { userId: s.userId, email: s.email } : null;
  }

  /** Documents with local changes the server has not confirmed yet. */
  get pendingChanges() { return this.#local.device ? this.#local.device.pendingDocuments() : 0; }

  /** This device's protocol peer id. */
  get peerId() { return this.#local.peerId; }

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
    return this.#signIn(() => this.#account.authenticate('/auth/register', email, password, options));
  }

  /**
   * Sets a new password with one of the account's recovery codes (used up
   * by this) and logs in; every other session of the account ends.
   */
  async recover(email, code, newPassword, options) {
    return this.#signIn(() => this.#account.recover(email, code, newPassword, options));
  }

  /** A new set of recovery codes (the old ones stop working). */
  async regenerateRecoveryCodes(password) {
    return this.#account.regenerateRecoveryCodes(password);
  }

  /** Logs in; this device then holds the user's data. */
  async login(email, password, options) {
    return this.#signIn(() => this.#account.authenticate('/auth/login', email, password, options));
  }

  /**
   * Logs out: the server session ends, tokens are forgotten and (unless
   * `keepLocalData`) the user's documents are erased from this device.
   */
  async logout(options) {
    const session = this.#account.session;
    if (!session) return;
    this.disconnect();
    await this.#account.logout();
    await this.#local.close();
    this.#account.forget();
    await this.#storage.delete('session');
    if (!options?.keepLocalData) await this.#local.erase(session.userId);
    this.#emit('change', { origin: 'local' });
    this.#announcePending();
  }

  /** Runs a sign-in call, then opens (or switches to) the user's data. */
  async #signIn(call) {
    const before = this.#account.session?.userId;
    const tokens = await call();
    // History names this device's changes as the session names it.
    const device = this.#local.device;
    if (device) core(() => device.setDeviceName(this.#account.deviceName));
    const switching = before !== undefined && before !== tokens.user_id;
    if (switching) {
      this.disconnect();
      this.#account.stopRefresh();
    }
    if (!this.#local.device || switching) await this.#openDevice();
    if (rootDocumentId(tokens.user_id) !== tokens.root_document_id) {
      this.#emit('error', new SyncClientError('layout', 'server and client disagree on the root document id'));
    }
    if (this.#transport.wanted) this.#transport.reconnectNow();
    this.#emit('change', { origin: 'remote' });
    return tokens.recovery_codes ? { ...this.user, recoveryCodes: tokens.recovery_codes } : this.user;
  }

  // ----------------------------------------------------------------- sync

  /** Keeps the device in sync: WebSocket, reconnect with backoff, HTTP fallback. */
  connect() {
    if (!this.#server) return;
    this.#transport.start();
    this.#account.scheduleRefresh();
  }

  /** Stops syncing (edits keep being saved locally). */
  disconnect() {
    if (!this.#server) return;
    this.#transport.stop();
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
    await this.#transport.httpRound();
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

  /** A remote change arrived: `change`, then `conflict` if it made new ones. */
  #remoteChange() {
    this.#emit('change', { origin: 'remote' });
    const fresh = this.#noteConflicts();
    if (fresh) this.#emit('conflict', fresh);
  }

  /** Records the current conflicts; the ones not seen before, or null. */
  #noteConflicts() {
    const device = this.#local.device;
    if (!device) return null;
    try {
      return this.#conflicts.note(JSON.parse(core(() => device.conflicts())));
    } catch (e) {
      this.#emit('error', e);
      return null;
    }
  }

  #emit(event, ...args) {
    for (const h of [...this.#listeners[event]]) {
      try { h(...args); } catch (e) { console.error(e); }
    }
  }

  // --------------------------------------------------------- local store

  async #openDevice() {
    await this.#local.open(this.#userId(), this.#samples, this.#account.deviceName);
    this.#noteConflicts();
  }

  /** Whose data this client holds: the logged-in user, or local-only data. */
  #userId() {
    return this.#account.session?.userId ?? (this.#server ? null : LOCAL_USER);
  }

  #persist() {
    this.#local.persist(this.#userId());
  }

  /** Resolves once every local change so far is in local storage. */
  flushStorage() { return this.#local.writes(); }

  #requireDevice() {
    const d = this.#local.device;
    if (!d) throw new SyncClientError('unauthorized', 'log in first');
    return d;
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
    this.#transport.flush();
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

  // ----------------------------------------------- history, offline too

  /**
   * A page of a deck's history, newest first: `{entries: [{version, at,
   * device_name, summary}], next_before?}`. `opts.limit` (default 20, at
   * most 100), `opts.before` (a `next_before`). Read from this device's
   * documents: works offline.
   */
  deckHistory(id, opts) {
    return this.#read((d) => d.deckHistory(id, opts?.limit ?? 0, opts?.before ?? undefined));
  }
  /** The deck as it was at `version` (a history entry's version). */
  deckAt(id, version) { return this.#read((d) => d.deckAt(id, version)); }
  /**
   * Makes the deck's markdown and fields what they were at `version`: one
   * new change that syncs and merges like any edit; progress is kept.
   */
  restoreDeck(id, version) { this.#edit((d) => d.restoreDeck(id, version)); }
  /** Deleted decks: `[{deck_id, name, deleted_at, device_name, version}]`. */
  deletedDecks() { return this.#read((d) => d.deletedDecks()); }
  /** Brings a deleted deck back with its progress. */
  undeleteDeck(id) { this.#edit((d) => d.undeleteDeck(id)); }
  /**
   * Every field two devices set concurrently whose values both survive:
   * `{decks: {id: {field: [values]}}, preferences: {path: [values]}}`.
   * Decks and preferences carry the same as `conflicts`.
   */
  conflicts() { return this.#read((d) => d.conflicts()); }

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
    if (this.#transport.wanted) this.#transport.reconnectNow();
    return { added, account };
  }

  /** One part; an import is idempotent, so a lost answer is simply retried. */
  async #importPart(part) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#account.api('POST', '/user/import', part, true);
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
    this.#account.stopRefresh();
    await this.#local.close();
    this.#releaseSlot();
  }
}
