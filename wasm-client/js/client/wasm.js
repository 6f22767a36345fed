// The wasm core (documents, merge, protocol): loaded once, its errors
// turned into SyncClientError.
import initWasm, { Device, prehash as wasmPrehash, rootDocumentId } from '../core/myflashplay_client.js';
import { SyncClientError } from './errors.js';

export { Device, rootDocumentId };

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
  const url = new URL('../core/myflashplay_client_bg.wasm', import.meta.url);
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
export function core(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && e.name === 'SyncClientError') {
      throw new SyncClientError(e.code ?? 'internal', e.message);
    }
    throw e;
  }
}
