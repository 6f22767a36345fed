import { createElement, useEffect, useState } from 'react';
import { SyncContext } from './context.js';
import { SyncStore } from './store.js';

/**
 * The root of the bindings: opens the data once and gives it to every hook
 * below. Until the data is open (the wasm loaded, the local data read) it
 * renders `fallback`; its first render after that shows the data.
 *
 * Logged out, the data is the app's own localStorage (read and written as
 * the app does); signed in, the learner's account, mirrored both ways into
 * the app's localStorage keys so the app's direct localStorage code keeps
 * working. `server` absent: local only (status `local`).
 *
 * @example
 * // src/main.tsx
 * import { SyncProvider } from '@myflashplay/sync-client/react';
 * import { sampleMarkdownDecks } from './data/sample-decks';
 *
 * root.render(
 *   <SyncProvider server={import.meta.env.VITE_SYNC_URL} samples={sampleMarkdownDecks}>
 *     <RouterProvider router={router} />
 *   </SyncProvider>,
 * );
 */
export function SyncProvider({ children, fallback = null, store: given, onError, ...options }) {
  const [store] = useState(() => given ?? new SyncStore(options));
  const [ready, setReady] = useState(store.ready);
  useEffect(() => {
    let live = true;
    store.open().then(
      () => { if (live) setReady(true); },
      (e) => {
        store.setError('account', e);
        onError?.(e);
      },
    );
    return () => { live = false; };
  }, [store]);
  return createElement(SyncContext.Provider, { value: store }, ready ? children : fallback);
}
