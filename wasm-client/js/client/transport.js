// The transport: a WebSocket of automerge-repo frames while it is up, HTTP
// rounds (`POST /sync`) while it is down, reconnects with backoff, and a
// stalled round asked again. Nothing leaves before the local save of what
// it carries completed.
import { SyncClientError } from './errors.js';
import { core } from './wasm.js';

const SUBPROTOCOL = 'myflashplay-sync.v1';
export const BACKOFF_FIRST_MS = 500;
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
/**
 * A WebSocket not open by then is given up as failed (then HTTP, and
 * another try after the back-off): a handshake that hangs (a proxy, a
 * restarting server) fires neither `open` nor `close`.
 */
const CONNECT_TIMEOUT_MS = 10_000;

export class Transport {
  #server;
  #WebSocket;
  #connectMs;
  #connectTimer = null;
  #account;
  #host;
  #wanted = false;
  #ws = null;
  #roundAnswered = false;
  #wsFailures = 0;
  #reconnectTimer = null;
  #stallTimer = null;
  /** Stalls in a row without a frame from the server. */
  #stalls = 0;
  #pollTimer = null;
  #httpBusy = null;
  #onOnline = () => { if (this.#wanted) this.reconnectNow(); };
  #onOffline = () => {
    this.#close();
    this.#host.setStatus('offline');
  };

  /**
   * `account`: tokens and `POST /sync`. `host`: `device()` (the open
   * Device or null), `saved()` (resolves once local writes are done),
   * `persist()`, `emit(event, ...)`, `remoteChange()` (after a change
   * from the server), `setStatus(status, detail)`,
   * `status()`, `progressed()`.
   */
  constructor({ server, WebSocket, connectMs, account, host }) {
    this.#server = server;
    this.#WebSocket = WebSocket;
    this.#connectMs = connectMs ?? CONNECT_TIMEOUT_MS;
    this.#account = account;
    this.#host = host;
  }

  /** Whether the client is meant to stay connected. */
  get wanted() { return this.#wanted; }

  start() {
    this.#wanted = true;
    if (typeof window !== 'undefined' && window.addEventListener) {
      window.addEventListener('online', this.#onOnline);
      window.addEventListener('offline', this.#onOffline);
    }
    this.reconnectNow();
  }

  stop() {
    this.#wanted = false;
    if (typeof window !== 'undefined' && window.removeEventListener) {
      window.removeEventListener('online', this.#onOnline);
      window.removeEventListener('offline', this.#onOffline);
    }
    this.#close();
  }

  #close() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#stallTimer);
    clearTimeout(this.#connectTimer);
    this.#reconnectTimer = null;
    this.#pollTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) detach(ws);
  }

  #online() {
    return !(typeof navigator !== 'undefined' && navigator.onLine === false);
  }

  /** Drops the transport and opens a fresh one (a new sign-in, an import). */
  reconnectNow() {
    this.#close();
    if (!this.#wanted || !this.#host.device()) return;
    if (!this.#online()) {
      this.#host.setStatus('offline');
      return;
    }
    this.#host.setStatus('connecting');
    if (this.#WebSocket) {
      this.#openWs().catch((e) => this.#failed(e));
    } else {
      this.#pollHttp();
    }
  }

  async #openWs() {
    const token = await this.#account.freshToken();
    if (!this.#wanted) return;
    const url = `${this.#server.replace(/^http/, 'ws')}/sync/ws`;
    const ws = new this.#WebSocket(url, [SUBPROTOCOL, `bearer.${token}`]);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#roundAnswered = false;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => {
      if (this.#ws !== ws || ws.readyState === 1) return;
      this.#ws = null;
      detach(ws);
      this.#failed(new SyncClientError('network', `WebSocket not open after ${this.#connectMs} ms`));
    }, this.#connectMs);
    ws.onopen = () => {
      clearTimeout(this.#connectTimer);
      const device = this.#host.device();
      if (this.#ws !== ws || !device) return;
      this.#send(ws, [device.join()]);
      // No `peer` answer (a lost frame): the stall timer starts over.
      this.#stalls = 0;
      this.#armStall(ws);
    };
    ws.onmessage = (ev) => this.#onFrame(ws, ev.data);
    ws.onerror = () => { /* onclose follows */ };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#failed(new SyncClientError('network', 'WebSocket closed'));
    };
  }

  #send(ws, frames) {
    if (ws.readyState !== 1) return;
    for (const f of frames) ws.send(f);
  }

  #onFrame(ws, data) {
    const device = this.#host.device();
    if (this.#ws !== ws || !device) return;
    const bytes = new Uint8Array(data);
    this.#stalls = 0;
    let received;
    try {
      received = core(() => device.receive(bytes));
    } catch (e) {
      this.#host.emit('error', e);
      if (e.code === 'server_error' || e.code === 'protocol') ws.close();
      this.#afterReceive(ws, false);
      return;
    }
    if (received.kind === 'peer') {
      this.#wsFailures = 0;
      this.#whenSaved(ws, (d) => this.#send(ws, [d.start()]));
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
  #drain(ws, device) {
    for (let i = 0; i < 4; i++) {
      const frames = device.poll();
      if (frames.length === 0) break;
      this.#send(ws, frames);
    }
  }

  #afterReceive(ws, changed) {
    this.#host.persist();
    if (changed) this.#host.remoteChange();
    this.#whenSaved(ws, (device) => {
      this.#drain(ws, device);
      this.#host.persist();
      clearTimeout(this.#stallTimer);
      if (this.#roundAnswered && device.isQuiet()) {
        this.#host.setStatus('synced');
        this.#host.progressed();
        return;
      }
      if (this.#host.status() !== 'synced') this.#host.setStatus('connecting');
      this.#host.progressed();
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
      this.#whenSaved(ws, (d) => {
        if (this.#roundAnswered && d.isQuiet()) return;
        this.#stalls += 1;
        if (this.#stalls >= MAX_STALLS || (!this.#roundAnswered && this.#stalls >= 4)) {
          ws.close();
          return;
        }
        if (this.#stalls >= 2) d.restart();
        this.#send(ws, [d.start()]);
        this.#drain(ws, d);
        this.#armStall(ws);
      });
    }, STALL_MS);
  }

  /** Runs `fn(device)` once saved, if `ws` is still this client's open socket. */
  #whenSaved(ws, fn) {
    this.#host.saved().then(() => {
      const device = this.#host.device();
      if (this.#ws === ws && ws.readyState === 1 && device) fn(device);
    });
  }

  /** After a local edit: send it now if a transport is up. */
  flush() {
    if (this.#ws && this.#ws.readyState === 1 && this.#roundAnswered) {
      const ws = this.#ws;
      this.#whenSaved(ws, (device) => {
        this.#drain(ws, device);
        // Whatever was sent may be lost: the stall timer asks again.
        this.#armStall(ws);
      });
    } else if (this.#wanted && !this.#ws && this.#online() && this.#host.status() !== 'error') {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = setTimeout(() => this.#pollHttp(), 50);
    }
  }

  #failed(err) {
    if (!this.#wanted) return;
    this.#wsFailures += 1;
    if (err?.status === 401 || this.#host.status() === 'error') {
      this.#host.setStatus('error', err);
      return;
    }
    if (!this.#online()) {
      this.#host.setStatus('offline');
      return;
    }
    // Not synced while the server is out of reach: a later `synced` says
    // both sides hold the same heads again.
    this.#host.setStatus('connecting');
    // HTTP fallback while the WebSocket is down (proxies that block it, or
    // a server restart): one round now, then polling until it is back.
    this.#pollHttp();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.#wsFailures - 1));
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (this.#wanted && !this.#ws) {
        clearTimeout(this.#pollTimer);
        this.#openWs().catch((e) => this.#failed(e));
      }
    }, delay * (0.75 + Math.random() / 2));
  }

  #pollHttp() {
    clearTimeout(this.#pollTimer);
    this.httpRound()
      .catch((e) => {
        if (e instanceof SyncClientError && e.code === 'network') this.#host.setStatus('offline');
        else if (e instanceof SyncClientError && e.status === 401) this.#host.setStatus('error', e);
        else this.#host.emit('error', e);
      })
      .finally(() => {
        if (this.#wanted && !this.#ws && this.#host.status() !== 'error') {
          clearTimeout(this.#pollTimer);
          this.#pollTimer = setTimeout(() => this.#pollHttp(), HTTP_POLL_MS);
        }
      });
  }

  /** `POST /sync` batches until neither side has anything to say. */
  httpRound() {
    this.#httpBusy ??= (async () => {
      try {
        let first = true;
        for (let i = 0; i < HTTP_MAX_ROUND_TRIPS; i++) {
          await this.#host.saved();
          if (!this.#host.device()) return;
          const body = this.#host.device().pollBatch(first);
          first = false;
          if (!body) break;
          const answer = await this.#account.postSync(body);
          const device = this.#host.device();
          if (!device) return;
          const received = core(() => device.receiveBatch(answer));
          for (const e of received.errors) this.#host.emit('error', new SyncClientError('sync_refused', e));
          const changed = received.changed;
          received.free();
          this.#host.persist();
          if (changed) this.#host.remoteChange();
        }
        if (this.#host.device()?.isQuiet() && !this.#ws) this.#host.setStatus('synced');
        this.#host.progressed();
      } finally {
        this.#httpBusy = null;
      }
    })();
    return this.#httpBusy;
  }
}

/** Closes a socket this client no longer listens to. */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  // Closing a socket that is still connecting makes Node's `ws` emit an
  // 'error' event afterwards; without a listener that error is thrown.
  ws.onerror = () => {};
  try { ws.close(); } catch { /* already closed */ }
}
