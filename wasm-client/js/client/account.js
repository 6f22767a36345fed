// Accounts and tokens: sign-in calls, the session's tokens, their refresh
// (one at a time across the tabs sharing a storage) and authenticated JSON
// calls. Holds no documents; the client decides what a sign-in opens.
import { SyncClientError, parseJson } from './errors.js';
import { prehash } from './wasm.js';
import { withLock } from './slots.js';

const REFRESH_MARGIN_MS = 60_000;
/** An HTTP call whose answer has not begun by then is given up (`#send`). */
const REQUEST_TIMEOUT_MS = 30_000;

export class Account {
  #server;
  #fetch;
  #requestMs;
  #storage;
  #deviceName;
  #host;
  #session = null;
  #refreshTimer = null;
  #refreshing = null;

  /**
   * `host`: `saveSession(text)` queues the session for local storage,
   * `writes()` resolves once queued local writes are done, `wanted()` says
   * whether the client is meant to stay connected, `ended(err)` is told when
   * the server ended the session, `error(err)` of a failed background
   * refresh.
   */
  constructor({ server, fetch, requestMs, storage, deviceName, host }) {
    this.#server = server;
    this.#fetch = fetch;
    this.#requestMs = requestMs ?? REQUEST_TIMEOUT_MS;
    this.#storage = storage;
    this.#deviceName = deviceName;
    this.#host = host;
  }

  /** The saved session (tokens and who), or null. */
  get session() { return this.#session; }

  /** Takes a session saved by an earlier client. */
  resume(session) { this.#session = session; }

  /** Forgets the session here (the server's side is `logout`). */
  forget() {
    clearTimeout(this.#refreshTimer);
    this.#session = null;
  }

  /** Register or log in: the tokens answered by `path`. */
  async authenticate(path, email, password, options) {
    if (!this.#server) throw new SyncClientError('no_server', 'this client has no server: local only');
    const hashed = await prehash(email, password);
    return this.signIn(path, {
      email,
      password: hashed,
      device_name: options?.deviceName ?? this.#deviceName,
    });
  }

  /** A new password through a recovery code: the tokens of a new session. */
  async recover(email, code, newPassword, options) {
    const hashed = await prehash(email, newPassword);
    return this.signIn('/auth/recover', {
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
    const answer = await this.api('POST', '/user/recovery-codes', { password: hashed }, true);
    return answer.recovery_codes;
  }

  /** Ends the session on the server; a failure to reach it is not an error. */
  async logout() {
    try {
      await this.api('POST', '/auth/logout', {}, true);
    } catch (e) {
      if (!(e instanceof SyncClientError)) throw e;
    }
  }

  /** The name this device's session has (and its changes in history). */
  get deviceName() { return this.#deviceName; }

  /** Calls a sign-in route and keeps its tokens; returns them. */
  async signIn(path, body) {
    const tokens = await this.api('POST', path, body, false);
    this.#deviceName = body.device_name;
    this.#setTokens(tokens);
    return tokens;
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
    this.#host.saveSession(JSON.stringify(this.#session));
    this.scheduleRefresh();
  }

  /** Refreshes the tokens ahead of expiry while the client stays connected. */
  scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.#session || !this.#host.wanted()) return;
    const due = Math.max(1000, this.#session.expiresAt - Date.now() - this.#margin());
    this.#refreshTimer = setTimeout(() => {
      this.refresh().catch((e) => this.#host.error(e));
    }, due);
  }

  stopRefresh() { clearTimeout(this.#refreshTimer); }

  /** Refresh this long before expiry: a minute, or a quarter of short lifetimes. */
  #margin() {
    return Math.min(REFRESH_MARGIN_MS, (this.#session?.ttlMs ?? 0) / 4);
  }

  /** An access token good for at least the refresh margin. */
  async freshToken() {
    if (!this.#session) throw new SyncClientError('unauthorized', 'not logged in');
    if (this.#session.expiresAt - Date.now() > this.#margin()) return this.#session.accessToken;
    return this.refresh();
  }

  /**
   * Rotates the tokens: one refresh at a time in this client, and across
   * the tabs sharing its storage (which share the login): under their
   * common lock, a token another tab already rotated is taken from storage
   * instead of being spent again, which the server would take for a stolen
   * token and answer by ending the session.
   */
  refresh() {
    this.#refreshing ??= withLock(this.#storage, 'refresh', async () => {
      await this.#host.writes();
      const mine = this.#session;
      if (!mine?.refreshToken) throw new SyncClientError('unauthorized', 'not logged in');
      const stored = parseJson(await this.#storage.get('session'));
      if (stored?.userId === mine.userId && stored.refreshToken && stored.refreshToken !== mine.refreshToken) {
        this.#session = stored;
        this.scheduleRefresh();
        if (stored.expiresAt - Date.now() > this.#margin()) return stored.accessToken;
      }
      const refreshToken = this.#session.refreshToken;
      try {
        const t = await this.api('POST', '/auth/refresh', { refresh_token: refreshToken }, false);
        if (this.#session?.refreshToken === refreshToken) this.#setTokens(t);
        await this.#host.writes();
        return this.#session.accessToken;
      } catch (e) {
        // A 401: the session is over (revoked, expired, password changed).
        if (e instanceof SyncClientError && e.status === 401) this.#host.ended(e);
        throw e;
      }
    }).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /**
   * `fetch`, given up when its answer (the headers) has not come within
   * `requestMs`: a call that hangs would otherwise hold the client (a
   * token refresh, a sync round) for good. The body of a large answer
   * (an export) is read without a limit.
   */
  async #send(url, init) {
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => {
        abort?.abort();
        reject(new Error(`no answer within ${this.#requestMs} ms`));
      }, this.#requestMs);
    });
    try {
      return await Promise.race([this.#fetch(url, abort ? { ...init, signal: abort.signal } : init), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** JSON call; authenticated calls refresh the token once on 401. */
  async api(method, path, body, auth, retried = false) {
    const headers = { 'content-type': 'application/json' };
    if (auth) headers.authorization = `Bearer ${await this.freshToken()}`;
    let res;
    try {
      res = await this.#send(this.#server + path, {
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
      await this.refresh();
      return this.api(method, path, body, auth, true);
    }
    if (!res.ok) throw httpError(json, res.status);
    return json;
  }

  /** `POST /sync` with a CBOR batch; the answer's bytes. */
  async postSync(body, retried = false) {
    const token = await this.freshToken();
    let res;
    try {
      res = await this.#send(`${this.#server}/sync`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cbor' },
        body,
      });
    } catch (e) {
      throw new SyncClientError('network', `POST /sync: ${e?.message ?? e}`);
    }
    if (res.status === 401 && !retried) {
      await this.refresh();
      return this.postSync(body, true);
    }
    if (!res.ok) throw httpError(parseJson(await res.text()), res.status);
    return new Uint8Array(await res.arrayBuffer());
  }
}

/** The API's error body as a SyncClientError. */
function httpError(json, status) {
  const err = json?.error;
  return new SyncClientError(err?.code ?? 'http_error', err?.message ?? `HTTP ${status}`, status);
}
