// The package's one error type, and the JSON reading every module shares.

/** An error with a stable `code` (docs/api.md codes, plus the client's own). */
export class SyncClientError extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = 'SyncClientError';
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}

/** JSON text → value; null for anything else or malformed text. */
export function parseJson(v) {
  if (typeof v !== 'string') return null;
  try { return JSON.parse(v); } catch { return null; }
}
