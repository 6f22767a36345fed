// Tabs. Every client open on one storage (a browser profile's tabs) holds a
// slot of its own through the Web Locks API: its own actor, peer id,
// document copies and sync state. Tabs thus never overwrite each other's
// saved documents nor make changes under one actor, and a tab opened later
// takes in what a closed tab left unsent. Without Web Locks (Node): slot 0.
import { SyncClientError, parseJson } from './errors.js';

const MAX_SLOTS = 64;

export const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
export const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));
/** A device's Automerge actor and protocol peer id, drawn at random. */
export const newIdentity = () => ({ actor: hex(randomBytes(16)), peerId: `mfp-${hex(randomBytes(8))}` });

const lockName = (storage, name) => `myflashplay-sync:${storage.id ?? 'storage'}:${name}`;

/** Runs `fn` holding the exclusive lock `name` of `storage`. */
export function withLock(storage, name, fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(lockName(storage, name), fn) : fn();
}

/**
 * Runs `fn` holding slot `slot`'s lock if no client holds it now; false
 * (without running it) if one does.
 */
export async function ifIdle(storage, slot, fn) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return false;
  return locks.request(lockName(storage, `slot:${slot}`), { ifAvailable: true },
    async (lock) => (lock ? (await fn(), true) : false));
}

/** The first free slot, held until `release()`. */
export async function claimSlot(storage) {
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

/** This slot's identity from storage, drawn and saved on first use. */
export async function slotIdentity(storage, slot) {
  let identity = parseJson(await storage.get(`device/${slot}`));
  if (!identity?.actor || !identity?.peerId) {
    identity = newIdentity();
    await storage.set(`device/${slot}`, JSON.stringify(identity));
  }
  return identity;
}
