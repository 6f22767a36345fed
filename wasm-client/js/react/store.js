// The state behind the React bindings, without React: which client the
// app's data lives in (a local-only one logged out, the account's signed
// in), and the two-way mirror between that client and the app's own
// localStorage keys, so the app's code that reads and writes localStorage
// directly keeps working. Hooks read from here; SyncProvider owns one.
import { SyncClient, SyncClientError, memoryStorage } from '../index.js';

/** The app's keys besides `mdoc_*` (its code writes exactly these). */
const NAMED_KEYS = new Set([
  'mdoc_index',
  'myflashplay_sessions',
  'myflashplay_achievements',
  'myflashplay_preferences',
  'starred_public_decks',
  'myflashplay_daily_streak',
  'myflashplay_last_played',
  'myflashplay-ui-theme',
  'myflashplay-first-time-language',
  'myflashplay_progress',
]);
/** Raw strings the client keeps as they are (see importLocalStorage). */
const RAW_KEYS = new Set([
  'myflashplay_daily_streak',
  'myflashplay_last_played',
  'myflashplay-ui-theme',
  'myflashplay-first-time-language',
]);
/**
 * Written by the client from the reviews (the app's progress page reads it;
 * the app itself never writes it), so never read back in.
 */
const OUTPUT_ONLY = 'myflashplay_progress';
/** The user id of the first account this device's logged-out data went into. */
export const MIGRATED_KEY = 'myflashplay-sync:migrated';
/** Logged-out data kept aside while an account it did not go into is signed in. */
export const STASH_KEY = 'myflashplay-sync:logged-out';
/** The signed-in user id, for the app's other tabs to follow a sign-in or sign-out. */
export const USER_KEY = 'myflashplay-sync:user';

/** A key of the app's data (not its backups, logs or our own keys). */
export function isAppKey(key) {
  if (NAMED_KEYS.has(key)) return true;
  return key.startsWith('mdoc_') && !key.includes('_backup_');
}

const parse = (s) => {
  if (typeof s !== 'string') return undefined;
  try { return JSON.parse(s); } catch { return undefined; }
};

/** Equal as the app reads them: raw keys byte for byte, JSON keys by value. */
function sameValue(key, a, b) {
  if (a === b) return true;
  if (a === null || b === null || key.startsWith('mdoc_') && key !== 'mdoc_index' || RAW_KEYS.has(key)) return false;
  const x = parse(a);
  const y = parse(b);
  return x !== undefined && y !== undefined && deepEqual(x, y);
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** The app's entries of a Storage, key → string. */
function appEntries(ls) {
  const out = {};
  for (let i = 0; i < ls.length; i++) {
    const k = ls.key(i);
    if (k !== null && isAppKey(k)) out[k] = ls.getItem(k);
  }
  return out;
}

// --------------------------------------------------------------- capture
// The app writes localStorage directly in many places. Storage.prototype's
// setItem/removeItem are wrapped once (for this window's localStorage
// only) and report the app's keys to the store that listens; the store's
// own mirror writes are not reported.
let listener = null;
let mirroring = 0;
let wrapped = false;

function wrapStorage(ls) {
  if (wrapped) return;
  wrapped = true;
  const proto = Object.getPrototypeOf(ls);
  const { setItem, removeItem } = proto;
  proto.setItem = function setItemMirrored(key, value) {
    setItem.call(this, key, value);
    if (this === ls && !mirroring && listener && isAppKey(String(key))) listener(String(key), String(value));
  };
  proto.removeItem = function removeItemMirrored(key) {
    removeItem.call(this, key);
    if (this === ls && !mirroring && listener && isAppKey(String(key))) listener(String(key), null);
  };
}

/** Leaf paths (`a.b`) whose values differ between `next` and `current`. */
function changedPaths(next, current, prefix = '', out = []) {
  for (const [k, v] of Object.entries(next ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    const old = current?.[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old)) {
      changedPaths(v, old, path, out);
    } else if (!deepEqual(v, old) && v !== undefined) {
      out.push([path, v]);
    }
  }
  return out;
}

/**
 * Records each card result of `sessions` as a review of that card (cards
 * of decks held here only), so progress and SM-2 fill from play.
 */
function reviewsOf(client, sessions) {
  if (sessions.length === 0) return;
  const decks = client.decks();
  for (const s of sessions) {
    const deck = decks[s?.deckId];
    const results = s?.details?.cardResults;
    if (!deck || !Array.isArray(results)) continue;
    const ids = new Set(deck.cards.map((c) => c.id));
    for (const r of results) {
      if (!ids.has(r?.cardId)) continue;
      client.recordReview({
        deckId: deck.id,
        cardId: r.cardId,
        correct: r.wasCorrect === true,
        responseMs: Math.max(0, Math.round((Number(r.timeSpent) || 0) * 1000)),
        at: s.endTime ?? s.startTime,
      });
    }
  }
}

/** `importLocalStorage`, key by key when the whole fails (one bad key then costs only itself). */
function importTolerant(client, entries, onError) {
  try {
    client.importLocalStorage(entries);
  } catch (e) {
    for (const [k, v] of Object.entries(entries)) {
      try { client.importLocalStorage({ [k]: v }); } catch (err) { onError(err); }
    }
    if (!(e instanceof SyncClientError)) onError(e);
  }
}

/**
 * The bindings' store. `options`: `server` (none: local only), `storage`,
 * `samples`, `deviceName`, `wasm`, `localStorage` (default
 * window.localStorage). Call `open()` once.
 */
export class SyncStore {
  #opts;
  #ls;
  #samples;
  #account = null;
  #client = null;
  #offClient = [];
  #last = {};
  #version = 0;
  #subs = new Set();
  #cache = new Map();
  #queued = new Map();
  #flushing = false;
  #mirrorTimer = null;
  #opening = null;
  #status = 'signed-out';
  #seedOnSync = false;
  #switching = Promise.resolve();
  #pending = 0;
  deckError = null;
  lastError = null;
  ready = false;

  #listener = (key, value) => this.#captured(key, value);

  constructor(options = {}) {
    this.#opts = options;
    this.#ls = options.localStorage ?? globalThis.localStorage;
    this.#samples = options.samples ?? [];
    wrapStorage(this.#ls);
    listener = this.#listener;
    globalThis.addEventListener?.('storage', this.#onStorage);
  }

  /**
   * Another tab wrote the app's keys. Logged out, this tab's in-memory
   * client takes it in (localStorage is the data); signed in, that tab's
   * own client syncs it and the mirror brings it here.
   */
  #onStorage = (e) => {
    if (e.storageArea !== this.#ls || !e.key || !this.ready) return;
    if (e.key === USER_KEY) {
      this.#switching = this.#switching.then(() => this.#follow(e.newValue)).catch((err) => this.setError('account', err));
      return;
    }
    if (!isAppKey(e.key)) return;
    if (this.#client && this.#client !== this.#account) this.#captured(e.key, e.newValue);
  };

  /**
   * Another tab signed in (`userId`) or out (null): this tab follows, with
   * a fresh account client (which restores the stored session, or has none).
   */
  async #follow(userId) {
    if (!this.#opts.server || (this.user?.userId ?? null) === userId) return;
    const old = this.#account;
    if (userId === null) await this.#useLocal();
    else this.#detach();
    await old?.close();
    this.#account = await this.#openAccount();
    if (this.#account.user) await this.#useAccount(false);
  }

  /** The account's client (it restores a stored session). */
  #openAccount() {
    const { server, storage, deviceName, wasm } = this.#opts;
    const ws = 'WebSocket' in this.#opts ? { WebSocket: this.#opts.WebSocket } : {};
    return SyncClient.open({ server, storage, deviceName, wasm, samples: this.#samples, ...ws });
  }

  /** Opens the clients; resolves when the data can be read. */
  open() {
    this.#opening ??= (async () => {
      if (this.#opts.server) this.#account = await this.#openAccount();
      if (this.#account?.user) await this.#useAccount(false);
      else await this.#useLocal();
      this.ready = true;
      this.#bump();
    })();
    return this.#opening;
  }

  // ------------------------------------------------------------ reading

  /** For useSyncExternalStore. */
  subscribe = (fn) => {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  };

  getVersion = () => this.#version;

  /** The client the data lives in now (local-only or the account's). */
  get client() { return this.#client; }
  get user() { return this.#client === this.#account ? this.#account?.user ?? null : null; }
  /** `signed-out` (logged out), `local` (no server), or the account client's status. */
  get status() { return this.#status; }
  get pendingChanges() { return this.#pending; }

  /** `fn()` once per version (the client is read once per change). */
  cached(name, fn) {
    const hit = this.#cache.get(name);
    if (hit && hit.version === this.#version) return hit.value;
    const value = fn();
    this.#cache.set(name, { version: this.#version, value });
    return value;
  }

  allDecks() { return this.cached('decks', () => this.#client.decks()); }

  /** The decks the app lists (its `mdoc_index`, in order), else its samples. */
  listedDecks() {
    return this.cached('listed', () => {
      const all = this.allDecks();
      const index = parse(this.#last.mdoc_index) ?? [];
      const listed = index.map((e) => all[e.id]).filter(Boolean);
      if (listed.length > 0) return listed;
      return this.#samples.map((s) => all[s.id]).filter(Boolean);
    });
  }

  // ------------------------------------------------------------ writing

  /**
   * Runs `fn(client)`; the app's keys in localStorage follow at once, as
   * when the app wrote them itself. Errors are thrown.
   */
  write(fn) {
    try {
      return fn(this.#client);
    } finally {
      clearTimeout(this.#mirrorTimer);
      this.#mirrorTimer = null;
      this.#mirror();
    }
  }

  setError(kind, e) {
    const err = e == null ? null : { code: e.code ?? 'error', message: e.message ?? String(e) };
    if (kind === 'deck') this.deckError = err?.message ?? null;
    else this.lastError = err;
    this.#bump();
  }

  /** Game sessions recorded, each card result a review. */
  recordSessions(sessions) {
    this.write((c) => {
      const known = c.sessions();
      const fresh = sessions.filter((s) => s?.id && !known[s.id]);
      for (const s of fresh) c.recordSession(s);
      reviewsOf(c, fresh);
    });
  }

  /** Writes the preferences that differ from those held. */
  setPreferences(next) {
    this.write((c) => {
      for (const [path, value] of changedPaths(next, c.preferences())) c.setPreference(path, value);
    });
  }

  // ------------------------------------------------------------ account

  async signIn(email, password) { return this.#authenticate('login', email, password); }
  async register(email, password) { return this.#authenticate('register', email, password); }

  async #authenticate(how, email, password) {
    if (!this.#account) {
      const e = new SyncClientError('no_server', 'no sync server configured: local only');
      this.setError('account', e);
      throw e;
    }
    try {
      await this.#account[how](email, password);
    } catch (e) {
      this.setError('account', e);
      throw e;
    }
    this.setError('account', null);
    await this.#useAccount(true);
    // Once the session is saved, the app's other tabs follow.
    await this.#account.flushStorage();
    this.#withMirroring(() => this.#ls.setItem(USER_KEY, this.#account.user.userId));
    return this.#account.user;
  }

  /**
   * Signs out. By default the account's copy leaves this device (its
   * synced documents and the app's keys); the app goes on logged out with
   * what it had before (or afresh). `keepLocalCopy`: the account's data
   * stays here as the logged-out data.
   */
  async signOut(options) {
    if (!this.#account?.user) return;
    const keep = options?.keepLocalCopy === true;
    this.#flushCaptured();
    const stash = parse(this.#ls.getItem(STASH_KEY));
    const entries = keep ? appEntries(this.#ls) : (stash ?? {});
    this.#detach();
    this.#replaceAppKeys(entries);
    this.#withMirroring(() => this.#ls.removeItem(STASH_KEY));
    // Local first: the hooks never read a logged-out account client.
    await this.#useLocal();
    await this.#account.logout({ keepLocalData: keep });
    this.#withMirroring(() => this.#ls.removeItem(USER_KEY));
  }

  /** Frees both clients. */
  async close() {
    this.#detach();
    clearTimeout(this.#mirrorTimer);
    if (this.#client && this.#client !== this.#account) await this.#client.close();
    await this.#account?.close();
    this.#client = null;
    if (listener === this.#listener) listener = null;
    globalThis.removeEventListener?.('storage', this.#onStorage);
  }

  // ------------------------------------------------------------ modes

  /** Logged out: a local-only client in memory, fed from localStorage. */
  async #useLocal() {
    const local = await SyncClient.open({ server: null, storage: memoryStorage(), wasm: this.#opts.wasm, samples: this.#samples });
    const entries = appEntries(this.#ls);
    delete entries[OUTPUT_ONLY];
    importTolerant(local, entries, (e) => this.setError('account', e));
    reviewsOf(local, parse(entries.myflashplay_sessions) ?? []);
    this.#attach(local, this.#opts.server ? 'signed-out' : 'local');
    // localStorage is the truth here: only later changes are written
    // (the first-run samples, for one).
    this.#last = local.exportLocalStorage();
    this.#seedSamples();
    this.#mirror();
  }

  /**
   * Signed in: the account's client. Signing in now, the device's
   * logged-out data goes into the first account ever signed in here (once);
   * for any other account it is kept aside until sign-out.
   */
  async #useAccount(signingIn) {
    const account = this.#account;
    this.#flushCaptured();
    if (signingIn) {
      const entries = appEntries(this.#ls);
      delete entries[OUTPUT_ONLY];
      // Untouched first-run samples carry nothing of the learner's: the
      // account has them already or seeds them after its first sync.
      for (const sample of this.#samples) {
        if (entries[`mdoc_${sample.id}`] === sample.markdown) delete entries[`mdoc_${sample.id}`];
      }
      const migratedTo = this.#ls.getItem(MIGRATED_KEY);
      if (migratedTo === null) {
        const known = account.sessions();
        importTolerant(account, entries, (e) => this.setError('account', e));
        const sessions = (parse(entries.myflashplay_sessions) ?? []).filter((s) => s?.id && !known[s.id]);
        reviewsOf(account, sessions);
        this.#withMirroring(() => this.#ls.setItem(MIGRATED_KEY, account.user.userId));
      } else if (this.#ls.getItem(STASH_KEY) === null && Object.keys(entries).length > 0) {
        this.#withMirroring(() => this.#ls.setItem(STASH_KEY, JSON.stringify(entries)));
      }
    }
    const previous = this.#client;
    this.#attach(account, account.status);
    if (previous && previous !== account) await previous.close();
    // Samples only once the account's own decks are here (first sync).
    this.#seedOnSync = true;
    // The account is the truth: the app's keys become its copy.
    this.#last = {};
    this.#replaceAppKeys(account.exportLocalStorage());
    account.connect();
    this.#bump();
  }

  #attach(client, status) {
    this.#detach();
    this.#client = client;
    this.#status = status;
    this.#pending = client === this.#account ? client.pendingChanges : 0;
    const isAccount = client === this.#account;
    this.#offClient = [
      client.on('change', () => this.#scheduleMirror()),
      client.on('error', (e) => this.setError('account', e)),
    ];
    if (isAccount) {
      this.#offClient.push(
        client.on('status', (s, detail) => {
          this.#status = s;
          if (s === 'synced' && this.#seedOnSync) {
            this.#seedOnSync = false;
            this.write(() => this.#seedSamples());
          }
          if (detail) this.lastError = { code: detail.code, message: detail.message };
          this.#bump();
        }),
        client.on('pending', (n) => {
          this.#pending = n;
          this.#bump();
        }),
      );
    }
  }

  #detach() {
    for (const off of this.#offClient) off();
    this.#offClient = [];
  }

  /** The app's first run, as its deck hook does it: samples while nothing is listed. */
  #seedSamples() {
    if (this.#samples.length === 0) return;
    const c = this.#client;
    const index = parse(c.exportLocalStorage().mdoc_index) ?? [];
    if (index.length > 0) return;
    const have = c.decks();
    const missing = this.#samples.filter((s) => !have[s.id]);
    if (missing.length === 0) return;
    c.importLocalStorage(Object.fromEntries(missing.map((s) => [`mdoc_${s.id}`, s.markdown])));
  }

  // ------------------------------------------------------------ mirror

  #bump() {
    this.#version += 1;
    for (const fn of [...this.#subs]) fn();
  }

  #withMirroring(fn) {
    mirroring += 1;
    try { return fn(); } finally { mirroring -= 1; }
  }

  /** The app's keys set to `entries` exactly (others of its keys removed). */
  #replaceAppKeys(entries) {
    const current = appEntries(this.#ls);
    const changed = [];
    this.#withMirroring(() => {
      for (const k of Object.keys(current)) {
        if (!(k in entries)) this.#ls.removeItem(k);
      }
      for (const [k, v] of Object.entries(entries)) {
        if (!sameValue(k, current[k] ?? null, v)) {
          this.#ls.setItem(k, v);
          changed.push(k);
        }
      }
    });
    this.#last = { ...entries };
    this.#announce(changed);
  }

  #scheduleMirror() {
    if (this.#mirrorTimer !== null) return;
    this.#mirrorTimer = setTimeout(() => {
      this.#mirrorTimer = null;
      this.#mirror();
    }, 0);
    this.#bump();
  }

  /** Client → localStorage: the keys whose exported value changed since last time. */
  #mirror() {
    if (!this.#client) return;
    const next = this.#client.exportLocalStorage();
    const changed = [];
    this.#withMirroring(() => {
      for (const k of new Set([...Object.keys(next), ...Object.keys(this.#last)])) {
        const v = next[k] ?? null;
        if (v === (this.#last[k] ?? null)) continue;
        if (sameValue(k, this.#ls.getItem(k), v)) continue;
        if (v === null) this.#ls.removeItem(k);
        else this.#ls.setItem(k, v);
        changed.push(k);
      }
    });
    this.#last = next;
    this.#announce(changed);
    this.#bump();
  }

  /**
   * Tells the app's own localStorage hooks (its useLocalStorage listens
   * for this event) that a key changed, so they re-render.
   */
  #announce(keys) {
    if (typeof window === 'undefined' || typeof CustomEvent === 'undefined') return;
    for (const key of keys) {
      const raw = this.#ls.getItem(key);
      if (raw === null) continue;
      const value = key.startsWith('mdoc_') && key !== 'mdoc_index' || RAW_KEYS.has(key) ? raw : parse(raw);
      if (value === undefined) continue;
      window.dispatchEvent(new CustomEvent('localStorage-update', { detail: { key, value } }));
    }
  }

  // ------------------------------------------------------------ capture

  #captured(key, value) {
    this.#queued.set(key, value);
    if (this.#flushing) return;
    this.#flushing = true;
    // The app writes a deck's text, then its index entry, in one go:
    // both are taken together.
    queueMicrotask(() => this.#flushCaptured());
  }

  /** localStorage → client: the app's direct writes since the last flush. */
  #flushCaptured() {
    this.#flushing = false;
    if (this.#queued.size === 0 || !this.#client) return;
    const writes = this.#queued;
    this.#queued = new Map();
    try {
      this.write((c) => this.#apply(c, writes));
    } catch (e) {
      this.setError('account', e);
    }
  }

  #apply(c, writes) {
    const decks = c.decks();
    const index = parse(this.#ls.getItem('mdoc_index')) ?? [];
    const entry = new Map(index.map((e) => [e?.id, e]));
    const sampleIds = new Set(this.#samples.map((s) => s.id));
    for (const [key, value] of writes) {
      if (!key.startsWith('mdoc_') || key === 'mdoc_index') continue;
      const id = key.slice(5);
      const have = decks[id];
      if (value === null) {
        if (have) c.deleteDeck(id);
      } else if (have) {
        if (have.markdown !== value) c.editMarkdown(id, value);
      } else if (!entry.has(id) && sampleIds.has(id)) {
        // A sample the app seeded (no index entry): named from the list.
        c.importLocalStorage({ [key]: value });
      } else {
        const e = entry.get(id);
        const when = typeof e?.lastModified === 'string' ? { createdAt: e.lastModified, lastModified: e.lastModified } : {};
        c.createDeck({ id, name: e?.name ?? 'Untitled Deck', emoji: e?.emoji ?? '📚', markdown: value, metadata: when });
      }
    }
    for (const [key, value] of writes) {
      if (key === 'mdoc_index') {
        const now = c.decks();
        for (const e of index) {
          const d = now[e?.id];
          if (d && (d.name !== e.name || d.emoji !== e.emoji)) c.updateDeck(e.id, { name: e.name, emoji: e.emoji });
        }
      } else if (key === 'starred_public_decks') {
        const next = new Set(parse(value) ?? []);
        const held = new Set(c.starred());
        for (const id of next) if (!held.has(id)) c.star(id);
        for (const id of held) if (!next.has(id)) c.unstar(id);
      } else if (key === 'myflashplay_sessions') {
        const sessions = parse(value);
        if (Array.isArray(sessions)) {
          const known = c.sessions();
          const fresh = sessions.filter((s) => s?.id && !known[s.id]);
          for (const s of fresh) c.recordSession(s);
          reviewsOf(c, fresh);
        }
      } else if (key === 'myflashplay_preferences') {
        const prefs = parse(value);
        if (prefs && typeof prefs === 'object') {
          for (const [path, v] of changedPaths(prefs, c.preferences())) c.setPreference(path, v);
        }
      } else if (value !== null && (key === 'myflashplay_achievements' || RAW_KEYS.has(key))) {
        c.importLocalStorage({ [key]: value });
      }
      // myflashplay_progress is the client's own output; removals of
      // achievements and raw keys stay local (the next change rewrites them).
    }
  }
}
