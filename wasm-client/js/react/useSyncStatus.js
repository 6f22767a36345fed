import { useSyncStore } from './context.js';

/**
 * For a sync chip: `status` (`signed-out`, `local` without a server, or
 * `offline` | `connecting` | `synced` | `error` signed in),
 * `pendingChanges` (documents the server has not confirmed yet) and
 * `lastError` (`{code, message}` or null). Updated from the client's
 * `status` and `pending` events alone: no polling.
 *
 * @example
 * function SyncChip() {
 *   const { status, pendingChanges } = useSyncStatus();
 *   return <span className="chip">{status}, {pendingChanges} pending</span>;
 * }
 */
export function useSyncStatus() {
  const store = useSyncStore();
  return { status: store.status, pendingChanges: store.pendingChanges, lastError: store.lastError };
}
