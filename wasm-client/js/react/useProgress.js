import { useSyncStore } from './context.js';

/**
 * Card progress, `progress[cardId]` → the app's `CardProgress`: counts
 * from every device's reviews, the SM-2 schedule replayed from all of
 * them. Filled from play without any call: each game session the app
 * saves turns its card results into reviews. `recordReview` adds one
 * answer directly.
 *
 * @example
 * const { progress } = useProgress();
 * const due = deck.cards.filter((c) => (progress[c.id]?.spacedRepetition.nextReview ?? '') <= now);
 */
export function useProgress() {
  const store = useSyncStore();
  return {
    progress: store.cached('progress', () => store.client.progress()),
    recordReview: (review) => store.write((c) => c.recordReview(review)),
  };
}
