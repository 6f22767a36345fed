// Local storage for the sync client: a small async key → value store.
// Values are strings (JSON) or Uint8Array (saved Automerge documents).
// `id` names the store for the Web Locks that clients sharing it (tabs)
// coordinate with: equal ids, same data.

/** IndexedDB, one database per name (one object store `kv`). Browsers. */
export function indexedDbStorage(name = 'myflashplay-sync') {
  let dbPromise;
  const db = () => {
    dbPromise ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('kv');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => {
        dbPromise = undefined;
        reject(req.error);
      };
    });
    return dbPromise;
  };
  const run = async (mode, fn) => {
    const tx = (await db()).transaction('kv', mode);
    const req = fn(tx.objectStore('kv'));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  };
  return {
    id: `indexeddb:${name}`,
    get: (key) => run('readonly', (s) => s.get(key)),
    set: async (key, value) => { await run('readwrite', (s) => s.put(value, key)); },
    delete: async (key) => { await run('readwrite', (s) => s.delete(key)); },
    keys: async (prefix) => {
      const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
      const keys = await run('readonly', (s) => s.getAllKeys(range));
      return keys.map(String);
    },
  };
}

/** In memory (Node, tests, or a browser without IndexedDB): lost on exit. */
export function memoryStorage() {
  const map = new Map();
  const copy = (v) => (v instanceof Uint8Array ? v.slice() : v);
  return {
    // Unique: no other client sees this map. (getRandomValues, unlike
    // randomUUID, also works on pages that are not a secure context.)
    id: `memory:${[...crypto.getRandomValues(new Uint8Array(8))].join('.')}`,
    get: async (key) => copy(map.get(key)),
    set: async (key, value) => { map.set(key, copy(value)); },
    delete: async (key) => { map.delete(key); },
    keys: async (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)).sort(),
  };
}
