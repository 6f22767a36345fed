// Uses every export of @myflashplay/sync-client with its declared types;
// `tsc -p tests/types` must pass (scripts/test.sh runs it). Never executed.
import {
  SyncClient,
  SyncClientError,
  indexedDbStorage,
  memoryStorage,
  init,
  prehash,
  type AchievementProgress,
  type CardProgress,
  type ChangeEvent,
  type ConflictSet,
  type DeletedDeck,
  type HistoryEntry,
  type HistoryPage,
  type Deck,
  type DeckFields,
  type DeckInput,
  type ExportData,
  type GameSession,
  type ImportSummary,
  type Json,
  type LocalStorageEntries,
  type ReviewEvent,
  type ReviewInput,
  type SyncClientOptions,
  type SyncStatus,
  type SyncStorage,
  type StoredPreferences,
  type User,
} from '../../wasm-client/js/index.js';

export async function useWholeApi(snapshot: LocalStorageEntries): Promise<ExportData> {
  await init();
  const hashed: string = await prehash('kid@example.com', 'secret');
  const storage: SyncStorage = typeof indexedDB === 'undefined' ? memoryStorage() : indexedDbStorage('myflashplay-sync');
  // An app's own storage: the id names it for the tabs' Web Locks.
  const map = new Map<string, Uint8Array | string>();
  const own: SyncStorage = {
    id: 'app-store',
    get: async (k) => map.get(k),
    set: async (k, v) => { map.set(k, v); },
    delete: async (k) => { map.delete(k); },
    keys: async (prefix) => [...map.keys()].filter((k) => k.startsWith(prefix)),
  };
  const storageId: string | undefined = own.id ?? storage.id;
  const options: SyncClientOptions = { server: 'https://sync.example', storage, deviceName: 'tablet', autoConnect: false };
  const client = await SyncClient.open(options);
  const offStatus = client.on('status', (s: SyncStatus, detail?: SyncClientError) => {
    if (s === 'error') console.warn(detail?.code, hashed.length);
  });
  const offChange = client.on('change', (e: ChangeEvent) => console.log(e.origin === 'remote'));
  client.on('error', (e: SyncClientError) => console.error(e.code, e.status));

  const user: User = await client.register('kid@example.com', 'secret', { deviceName: 'tablet' });
  const registered = await client.register('kid2@example.com', 'secret');
  const codes: string[] = registered.recoveryCodes;
  const recovered: User = await client.recover(user.email, codes[0], 'new secret', { deviceName: 'tablet' });
  const fresh: string[] = await client.regenerateRecoveryCodes('new secret');
  console.log(recovered.userId, fresh.length);
  await client.login(user.email, 'secret');
  client.connect();
  await client.synced({ timeoutMs: 10_000 });
  await client.syncNow();
  const pending: number = client.pendingChanges;
  const me: User | null = client.user;
  console.log(pending, me?.userId, client.peerId, client.status);

  client.importLocalStorage(snapshot);
  client.importLocalStorage(window.localStorage);
  const back: LocalStorageEntries = client.exportLocalStorage();

  const deck: DeckInput = { id: 'd1', name: 'Animals', emoji: '🐙', markdown: 'Cat :: Meow\n' };
  client.createDeck(deck);
  const fields: DeckFields = { name: 'Sea animals', metadata: { tags: ['sea'] }, settings: { studyMode: 'spaced' } };
  client.updateDeck('d1', fields);
  client.editMarkdown('d1', 'Cat :: Meow\nFish :: Blub\n');
  const decks: Record<string, Deck> = client.decks();
  const one: Deck | undefined = client.deck('d1');
  client.on('pending', (n: number) => console.log(n));
  console.log(Object.keys(decks), one?.markdown, back);

  const review: ReviewInput = { deckId: 'd1', cardId: 'c1', correct: true, responseMs: 1200, quality: 4 };
  const reviewId: string = client.recordReview(review);
  const progress: Record<string, CardProgress> = client.progress();
  console.log(reviewId, progress['c1']?.spacedRepetition.stage);

  const session: GameSession = {
    id: 's1', deckId: 'd1', deckName: 'Animals', mode: 'quiz', startTime: new Date().toISOString(),
    score: { points: 10, accuracy: 100, correctAnswers: 1, totalQuestions: 1, streak: 1, bestStreak: 1 },
    details: { cardResults: [], bonuses: [{ type: 'perfect', points: 5, description: 'Perfect' }], difficulty: 'easy', hintsUsed: 0 },
  };
  client.recordSession(session);
  const sessions: Record<string, GameSession> = client.sessions();

  const achievement: AchievementProgress = { achievementId: 'first-deck', progress: 1, maxProgress: 1 };
  client.setAchievement(achievement);
  const achievements: Record<string, AchievementProgress> = client.achievements();

  client.star('public-1');
  client.unstar('public-1');
  const starred: string[] = client.starred();

  const prefs: StoredPreferences = { theme: 'dark', gameSettings: { showHints: false } };
  client.setPreferences(prefs);
  const value: Json = { nested: [1, 'two', null] };
  client.setPreference('custom', value);
  const current: StoredPreferences = client.preferences();
  console.log(sessions, achievements, starred, current.theme);

  const page: HistoryPage = client.deckHistory('d1', { limit: 10 });
  const entry: HistoryEntry | undefined = page.entries[0];
  if (entry) {
    const then: Deck = client.deckAt('d1', entry.version);
    const inserted: number = entry.summary.chars_inserted;
    console.log(then.name, inserted, entry.device_name, entry.at);
    client.restoreDeck('d1', entry.version);
  }
  if (page.next_before) client.deckHistory('d1', { before: page.next_before });
  const nameConflict: Json[] | undefined = client.deck('d1')?.conflicts?.name;
  const prefConflict: Json[] | undefined = client.preferences().conflicts?.['gameSettings.showHints'];
  const allConflicts: ConflictSet = client.conflicts();
  client.on('conflict', (c: ConflictSet) => console.log(Object.keys(c.decks), c.preferences));
  console.log(nameConflict, prefConflict, allConflicts.decks);
  client.deleteDeck('d1');
  const gone: DeletedDeck[] = client.deletedDecks();
  console.log(gone[0]?.deleted_at, gone[0]?.device_name);
  client.undeleteDeck('d1');
  client.deleteDeck('d1');
  try {
    client.editMarkdown('d1', 'x');
  } catch (e) {
    if (e instanceof SyncClientError) console.log(e.code);
  }
  const all: ExportData = client.exportData();
  const firstReview: ReviewEvent | undefined = all.reviews[0];
  const restored: ImportSummary = await client.importData(all);
  console.log(firstReview?.id, restored.added.decks, restored.account.decks, Object.keys(all.deleted_decks));
  offStatus();
  offChange();
  client.disconnect();
  await client.flushStorage();
  await client.logout({ keepLocalData: false });
  await client.close();
  console.log(storageId);
  return all;
}
