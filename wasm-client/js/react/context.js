// The store shared by the hooks, and the subscription that re-renders a
// component whenever the data or the sync state changed.
import { createContext, useContext, useSyncExternalStore } from 'react';

export const SyncContext = createContext(null);

/** The provider's store; re-renders on every change. For the hooks. */
export function useSyncStore() {
  const store = useContext(SyncContext);
  if (!store) throw new Error('@myflashplay/sync-client/react: wrap the app in <SyncProvider>');
  useSyncExternalStore(store.subscribe, store.getVersion, store.getVersion);
  return store;
}
