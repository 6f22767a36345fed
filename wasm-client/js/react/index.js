// @myflashplay/sync-client/react: React bindings shaped like MyFlashPlay's
// own hooks. Types: index.d.ts. Guide: the package README.
export { SyncProvider } from './SyncProvider.js';
export { SyncStore } from './store.js';
export { useDecks } from './useDecks.js';
export { usePreferences, DEFAULT_PREFERENCES } from './usePreferences.js';
export { useProgress } from './useProgress.js';
export { useSessions } from './useSessions.js';
export { useAchievements } from './useAchievements.js';
export { useStarred } from './useStarred.js';
export { useSyncAccount } from './useSyncAccount.js';
export { useSyncStatus } from './useSyncStatus.js';
