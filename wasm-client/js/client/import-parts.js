// What the client takes in from outside: the app's localStorage entries
// and an export split into `POST /user/import` bodies.
import { SyncClientError } from './errors.js';

/** A Storage (window.localStorage) or a plain key → string object, checked. */
export function entriesOf(input) {
  if (input && typeof input.key === 'function' && typeof input.length === 'number') {
    const out = {};
    for (let i = 0; i < input.length; i++) {
      const k = input.key(i);
      if (k !== null) out[k] = input.getItem(k);
    }
    return out;
  }
  if (!input || typeof input !== 'object') {
    throw new SyncClientError('validation_failed', 'localStorage entries must be an object');
  }
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== 'string') {
      throw new SyncClientError('validation_failed', `localStorage value of ${k} is not a string`);
    }
  }
  return input;
}

/**
 * Import parts stay well under the server's 1 MiB body limit: each part is
 * one request whose merge costs the server about a second per 100 KB of
 * markdown, so small parts keep every request short.
 */
const IMPORT_PART_BYTES = 256 * 1024;
export const IMPORT_ATTEMPTS = 3;

/**
 * Splits an export into import bodies of at most IMPORT_PART_BYTES: the
 * root data (preferences, starred, achievements) first, sessions in
 * chunks, then decks grouped with their progress and review events, so a
 * deck's progress and reviews always arrive together (the server restores
 * a card from both at once). A single deck larger than a part is sent
 * alone (the server answers 413 if it is over 1 MiB).
 */
export function importParts(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new SyncClientError('validation_failed', 'an export is an object');
  }
  const size = (v) => new TextEncoder().encode(JSON.stringify(v)).length;
  const parts = [];
  let current = {};
  let currentSize = 2;
  const add = (piece) => {
    const s = size(piece);
    if (currentSize + s > IMPORT_PART_BYTES && Object.keys(current).length > 0) {
      parts.push(current);
      current = {};
      currentSize = 2;
    }
    for (const [k, v] of Object.entries(piece)) {
      if (Array.isArray(v)) current[k] = [...(current[k] ?? []), ...v];
      else if (v && typeof v === 'object' && k !== 'preferences') current[k] = { ...current[k], ...v };
      else current[k] = v;
    }
    currentSize += s;
  };
  const root = {};
  for (const k of ['preferences', 'starred', 'achievements']) if (data[k] !== undefined) root[k] = data[k];
  add(root);
  for (const [id, session] of Object.entries(data.sessions ?? {})) add({ sessions: { [id]: session } });
  const groups = new Map();
  const group = (deckId) => {
    if (!groups.has(deckId)) groups.set(deckId, { progress: {}, reviews: [] });
    return groups.get(deckId);
  };
  for (const key of ['decks', 'deleted_decks']) {
    for (const [id, deck] of Object.entries(data[key] ?? {})) group(id)[key] = { [id]: deck };
  }
  for (const [card, p] of Object.entries(data.progress ?? {})) group(p?.deckId).progress[card] = p;
  for (const r of data.reviews ?? []) group(r?.deckId).reviews.push(r);
  for (const g of groups.values()) add(g);
  if (Object.keys(current).length > 0) parts.push(current);
  return parts;
}
