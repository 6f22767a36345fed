// The normalizations that `exportLocalStorage()` documents (see
// wasm-client/src/replica/local_storage.rs), applied to both sides of a
// comparison, and nothing else:
// - values are compared as parsed JSON (so `100.0` and `100` are equal),
//   markdown (`mdoc_<id>`) as text;
// - arrays keyed by id are sorted: sessions by startTime then id,
//   achievements by achievementId, mdoc_index by lastModified then id,
//   myflashplay_decks.decks by id;
// - `mdoc_<id>_backup_<n>` keys and keys the app does not own are dropped.
const KNOWN = new Set(['myflashplay_preferences', 'myflashplay_decks', 'myflashplay_scores',
  'myflashplay_progress', 'myflashplay_achievements', 'mdoc_index', 'starred_public_decks']);

const by = (...fields) => (a, b) => {
  for (const f of fields) {
    const x = String(a?.[f] ?? '');
    const y = String(b?.[f] ?? '');
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
};

export function normalizeLocalStorage(entries) {
  const out = {};
  for (const [key, value] of Object.entries(entries)) {
    const isMdoc = key.startsWith('mdoc_') && key !== 'mdoc_index';
    if (isMdoc && key.includes('_backup_')) continue;
    if (!isMdoc && !KNOWN.has(key)) continue;
    if (isMdoc) {
      out[key] = value;
      continue;
    }
    const v = JSON.parse(value);
    if (key === 'myflashplay_scores' && Array.isArray(v.sessions)) v.sessions.sort(by('startTime', 'id'));
    if (key === 'myflashplay_achievements' && Array.isArray(v.achievements)) v.achievements.sort(by('achievementId'));
    if (key === 'myflashplay_decks' && Array.isArray(v.decks)) v.decks.sort(by('id'));
    if (key === 'mdoc_index' && Array.isArray(v)) v.sort(by('lastModified', 'id'));
    out[key] = v;
  }
  return out;
}
