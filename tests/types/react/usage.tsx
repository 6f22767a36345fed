// The React bindings used as the MyFlashPlay app uses its own hooks, with
// the app's types (app-types.ts): its objects go in and come back without
// casts. `tsc -p tests/types/react` must pass (scripts/test.sh runs it).
// Never executed.
import { useState } from 'react';
import {
  SyncProvider,
  SyncStore,
  useAchievements,
  useDecks,
  useProgress,
  usePreferences,
  useSessions,
  useStarred,
  useSyncAccount,
  useSyncStatus,
  DEFAULT_PREFERENCES,
} from '../../../wasm-client/js/react/index.js';
import type {
  AppAchievementProgress,
  AppCardProgress,
  AppDeck,
  AppGameSession,
  AppSampleDeck,
  AppUseDecks,
  AppUsePreferences,
  AppUserPreferences,
} from './app-types.js';

// The bindings' hooks stand in for the app's own: same call, same shape.
export const useAppDecks: () => AppUseDecks = useDecks;
export const useAppPreferences: () => AppUsePreferences = usePreferences;
const defaults: AppUserPreferences = DEFAULT_PREFERENCES;

declare const sampleMarkdownDecks: AppSampleDeck[];
declare const created: AppDeck;
declare const played: AppGameSession;

export function Root({ children }: { children: React.ReactNode }) {
  return (
    <SyncProvider server="http://127.0.0.1:8787" samples={sampleMarkdownDecks} deviceName="tablet" fallback={<p>…</p>}>
      {children}
    </SyncProvider>
  );
}

export function LocalOnly() {
  const store = new SyncStore({ samples: sampleMarkdownDecks });
  return <SyncProvider store={store}><DecksPage /></SyncProvider>;
}

function DecksPage() {
  const { decks, isLoading, error, getDeck, addDeck, updateDeck, deleteDeck } = useDecks();
  const list: AppDeck[] = decks;
  const one: AppDeck | null = getDeck('math-basics');
  const result: { success: boolean; error?: string } = addDeck(created);
  if (!result.success) console.error(result.error);
  // The edit page's update: the whole deck with its new text.
  updateDeck(created.id, { ...created, metadata: { ...created.metadata, originalMarkdown: 'Q :: A\n' } });
  deleteDeck(created.id);
  const { preferences, updatePreferences, setPreferences } = usePreferences();
  const prefs: AppUserPreferences = preferences;
  updatePreferences({ soundEnabled: !prefs.soundEnabled, language: 'vi-VI' });
  setPreferences((prev: AppUserPreferences) => ({ ...prev, fontSize: 'large' }));
  setPreferences(defaults);
  // @ts-expect-error: a font size outside the app's union is refused
  updatePreferences({ fontSize: 'huge' });
  const progress: Record<string, AppCardProgress> = useProgress().progress;
  useProgress().recordReview({ deckId: created.id, cardId: created.cards[0].id, correct: true, responseMs: 900 });
  const { sessions, recordSession } = useSessions();
  const all: AppGameSession[] = sessions;
  recordSession(played);
  const achievements: AppAchievementProgress[] = useAchievements().achievements;
  const { starred, setStarred } = useStarred();
  setStarred((prev) => [...prev, 'public-vietnamese-art']);
  return (
    <ul data-loading={isLoading} data-error={error ?? ''}>
      {list.map((d) => <li key={d.id}>{d.emoji} {d.name} ({d.cards.length})</li>)}
      <li>{one?.name} {Object.keys(progress).length} {all.length} {achievements.length} {starred.length}</li>
    </ul>
  );
}

export function SignIn() {
  const { user, signIn, register, signOut } = useSyncAccount();
  const { status, pendingChanges, lastError } = useSyncStatus();
  const [email, setEmail] = useState('');
  if (user) return <button onClick={() => signOut({ keepLocalCopy: false })}>{user.email}</button>;
  return (
    <form onSubmit={(e) => { e.preventDefault(); signIn(email, 'pw').catch(() => {}); }}>
      <input value={email} onChange={(e) => setEmail(e.target.value)} />
      <button type="button" onClick={() => register(email, 'pw')}>Register</button>
      <span>{status}, {pendingChanges} pending {lastError?.code}</span>
    </form>
  );
}
