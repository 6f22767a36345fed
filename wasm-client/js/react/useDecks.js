import { useSyncStore } from './context.js';

/**
 * The app's `useDecks`, same shape: `decks` (those the app lists, or its
 * samples while it lists none), `isLoading`, `error`, `getDeck(id)` →
 * `Deck | null`, `addDeck(deck)` → `{success: true} | {success: false,
 * error}`, `updateDeck(id, updates)` and `deleteDeck(id)` (errors go to
 * `error`). Decks come from the data the provider holds: the app's
 * localStorage logged out, the account signed in; their markdown merges
 * across devices and their cards (parsed from it) carry ids that are the
 * same on every device.
 *
 * @example
 * // src/hooks/useDecks.ts: the app's hook becomes
 * export { useDecks } from '@myflashplay/sync-client/react';
 *
 * const { decks, isLoading, addDeck } = useDecks();
 * const result = addDeck(newDeck);
 * if (!result.success) console.error(result.error);
 */
export function useDecks() {
  const store = useSyncStore();
  const fail = (e) => {
    store.setError('deck', e);
    return e?.message ?? String(e);
  };
  return {
    decks: store.listedDecks(),
    isLoading: !store.ready,
    error: store.deckError,
    getDeck: (id) => store.allDecks()[id] ?? null,
    addDeck: (deck) => {
      try {
        store.write((c) => c.createDeck(deck));
        return { success: true };
      } catch (e) {
        return { success: false, error: fail(e) };
      }
    },
    updateDeck: (id, updates) => {
      if (!store.allDecks()[id]) {
        fail(new Error('Deck not found'));
        return;
      }
      // As the app: the editor's text (metadata.originalMarkdown) is the
      // deck; lastModified is set here.
      const { id: _id, metadata, ...fields } = updates ?? {};
      const markdown = metadata?.originalMarkdown ?? fields.markdown;
      if (markdown !== undefined) {
        // The text is the deck; cards are parsed from it.
        fields.markdown = markdown;
        delete fields.cards;
      }
      try {
        store.write((c) => c.updateDeck(id, fields));
      } catch (e) {
        fail(e);
      }
    },
    deleteDeck: (id) => {
      try {
        store.write((c) => c.deleteDeck(id));
      } catch (e) {
        fail(e);
      }
    },
  };
}
