import { useSyncStore } from './context.js';

/**
 * Starred public decks (ids), as the public decks page keeps them in
 * `starred_public_decks`: `starred`, `setStarred(ids | prev => ids)`,
 * `star(id)`, `unstar(id)`.
 *
 * @example
 * const { starred, setStarred } = useStarred();
 * const toggle = (id: string) =>
 *   setStarred((prev) => (prev.includes(id) ? prev.filter((x) => x !== id) : [...prev, id]));
 */
export function useStarred() {
  const store = useSyncStore();
  const starred = store.cached('starred', () => store.client.starred());
  return {
    starred,
    setStarred: (value) => store.write((c) => {
      const next = new Set(typeof value === 'function' ? value(c.starred()) : value);
      const held = new Set(c.starred());
      for (const id of next) if (!held.has(id)) c.star(id);
      for (const id of held) if (!next.has(id)) c.unstar(id);
    }),
    star: (id) => store.write((c) => c.star(id)),
    unstar: (id) => store.write((c) => c.unstar(id)),
  };
}
