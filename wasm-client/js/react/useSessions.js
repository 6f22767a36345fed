import { useSyncStore } from './context.js';

/**
 * Game sessions (the app's `GameSession[]`, oldest first) from every
 * device. `recordSession(session)` saves one as the play page does, and
 * records its card results as reviews; the play page's own
 * `localStorage.setItem('myflashplay_sessions', ...)` has the same effect.
 *
 * @example
 * const { sessions } = useSessions();
 * const played = sessions.filter((s) => s.deckId === deck.id).length;
 */
export function useSessions() {
  const store = useSyncStore();
  const sessions = store.cached('sessions', () => Object.values(store.client.sessions())
    .sort((a, b) => (a.startTime < b.startTime ? -1 : a.startTime > b.startTime ? 1 : 0)));
  return {
    sessions,
    recordSession: (session) => store.recordSessions([session]),
  };
}
