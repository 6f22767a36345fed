import { useSyncStore } from './context.js';

/** The app's default preferences (its usePreferences defaults). */
export const DEFAULT_PREFERENCES = {
  version: '1.0.0',
  theme: 'auto',
  colorScheme: 'rainbow',
  soundEnabled: true,
  animationsEnabled: true,
  fontSize: 'medium',
  language: 'en-US',
  accessibility: { highContrast: false, reducedMotion: false, screenReaderMode: false },
  gameSettings: { defaultDifficulty: 'medium', showHints: true, autoAdvance: false, timerWarning: true },
  lastUpdated: new Date().toISOString(),
};

/** Stored preferences over the defaults. */
export function withDefaults(stored) {
  return {
    ...DEFAULT_PREFERENCES,
    ...stored,
    accessibility: { ...DEFAULT_PREFERENCES.accessibility, ...stored?.accessibility },
    gameSettings: { ...DEFAULT_PREFERENCES.gameSettings, ...stored?.gameSettings },
  };
}

/**
 * The app's `usePreferences`, same shape: `preferences` (complete: the
 * stored ones over the app's defaults), `updatePreferences(updates)`
 * (merges, bumps `lastUpdated`) and `setPreferences(value | prev => value)`.
 * Only the fields that changed are written, so two devices changing
 * different preferences both keep theirs.
 *
 * @example
 * // src/hooks/usePreferences.ts: the app's hook becomes
 * export { usePreferences } from '@myflashplay/sync-client/react';
 *
 * const { preferences, updatePreferences } = usePreferences();
 * updatePreferences({ soundEnabled: !preferences.soundEnabled });
 */
export function usePreferences() {
  const store = useSyncStore();
  const preferences = store.cached('preferences', () => withDefaults(store.client.preferences()));
  const setPreferences = (value) => {
    const next = typeof value === 'function' ? value(withDefaults(store.client.preferences())) : value;
    store.setPreferences(next);
  };
  return {
    preferences,
    updatePreferences: (updates) => setPreferences((prev) => ({
      ...prev,
      ...updates,
      lastUpdated: new Date().toISOString(),
    })),
    setPreferences,
  };
}
