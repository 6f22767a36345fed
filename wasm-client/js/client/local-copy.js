// The device's copy of the user's documents in local storage: this tab
// slot's documents and sync state, the other slots' taken in, and the
// queue of writes that everything sent waits for.
import { SyncClientError } from './errors.js';
import { Device, core } from './wasm.js';
import { ifIdle, newIdentity, unhex } from './slots.js';

export class LocalCopy {
  #storage;
  #slot;
  #identity;
  #emit;
  #device = null;
  #writes = Promise.resolve();
  /** Local writes that failed so far. */
  #writeFailures = 0;

  /** `emit(event, ...)` reports errors of damaged copies and failed writes. */
  constructor({ storage, slot, identity, emit }) {
    this.#storage = storage;
    this.#slot = slot;
    this.#identity = identity;
    this.#emit = emit;
  }

  /** The open Device, or null. */
  get device() { return this.#device; }

  get peerId() { return this.#identity.peerId; }

  /** Resolves once the writes queued so far are done. */
  writes() { return this.#writes; }

  /**
   * Opens `userId`'s documents (changes named by `deviceName`): this
   * slot's copies, merged with those of
   * the other slots. A slot no client holds is taken in for good: its
   * documents are merged, saved in this slot, and only then deleted.
   */
  async open(userId, samples, deviceName) {
    const device = core(() => new Device(userId, unhex(this.#identity.actor), this.#identity.peerId));
    core(() => device.setDeviceName(deviceName));
    if (samples) core(() => device.setSamples(JSON.stringify(samples)));
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
        this.persist(userId);
        await this.saved();
        // Deleted only once all of it is saved here.
        if (this.#writeFailures !== failures) return;
        for (const key of keys) await this.#storage.delete(key);
      });
      if (!idle) await loadSlot(docs, false);
    }
    this.persist(userId);
  }

  /** This client's keys of the user's data. */
  #prefix(userId) {
    return `u/${userId}/s${this.#slot}/`;
  }

  /** Queues the changed documents and the sync state for local storage. */
  persist(userId) {
    if (!this.#device || !userId) return;
    const prefix = this.#prefix(userId);
    for (const [id, bytes] of this.#device.takeDirty()) this.queueWrite(`${prefix}doc/${id}`, bytes);
    this.queueWrite(`${prefix}sync`, this.#device.syncState());
  }

  queueWrite(key, value) {
    this.#writes = this.#writes
      .then(() => this.#storage.set(key, value))
      .catch((e) => {
        this.#writeFailures += 1;
        this.#emit('error', new SyncClientError('storage', `saving ${key}: ${e?.message ?? e}`));
      });
  }

  /**
   * Resolves once every local write queued so far (and any queued while
   * waiting) is done. Nothing leaves this device before it is saved here:
   * otherwise a tab killed in between would leave the server a change the
   * next start does not have, under the actor that start reuses.
   */
  async saved() {
    let writes;
    do {
      writes = this.#writes;
      await writes;
    } while (writes !== this.#writes);
  }

  /** Frees the open Device (after its writes). */
  async close() {
    await this.#writes;
    this.#device?.free();
    this.#device = null;
  }

  /**
   * Erases `userId`'s documents from this storage and draws a new actor:
   * the server holds this one's changes to the erased documents, and new
   * changes under it would reuse their numbers (a later login on this
   * device then never settles). The other slots' identities go too: their
   * next client draws new ones.
   */
  async erase(userId) {
    for (const key of await this.#storage.keys(`u/${userId}/`)) await this.#storage.delete(key);
    this.#identity = newIdentity();
    for (const key of await this.#storage.keys('device/')) await this.#storage.delete(key);
    await this.#storage.set(`device/${this.#slot}`, JSON.stringify(this.#identity));
  }
}
