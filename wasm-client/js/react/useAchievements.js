import { useSyncStore } from './context.js';

/**
 * Achievement progress (the app's `AchievementProgress[]`), merged over
 * devices: the highest progress and the earliest unlock win.
 * `setAchievement` writes one; the app's achievement manager writing
 * `myflashplay_achievements` has the same effect.
 *
 * @example
 * const { achievements } = useAchievements();
 * const unlocked = achievements.filter((a) => a.unlockedAt);
 */
export function useAchievements() {
  const store = useSyncStore();
  return {
    achievements: store.cached('achievements', () => Object.values(store.client.achievements())),
    setAchievement: (achievement) => store.write((c) => c.setAchievement(achievement)),
  };
}
