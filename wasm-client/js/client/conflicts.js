// Which conflicts the learner has already been told about, so that a
// remote change announces only the ones it created.

export class ConflictWatch {
  /** The conflicts last seen (`field@deck/<id>` / `path@preferences` keys). */
  #known = new Set();

  /**
   * Records the current conflicts (`all`, as `Device.conflicts()` gives
   * them); returns those not seen before (`{decks: {id: {field: values}},
   * preferences: {path: values}}`), or null when there are none.
   */
  note(all) {
    const seen = new Set();
    const fresh = { decks: {}, preferences: {} };
    let any = false;
    for (const [deckId, fields] of Object.entries(all.decks)) {
      for (const [field, values] of Object.entries(fields)) {
        const key = `${field}@deck/${deckId}`;
        seen.add(key);
        if (this.#known.has(key)) continue;
        (fresh.decks[deckId] ??= {})[field] = values;
        any = true;
      }
    }
    for (const [path, values] of Object.entries(all.preferences)) {
      const key = `${path}@preferences`;
      seen.add(key);
      if (this.#known.has(key)) continue;
      fresh.preferences[path] = values;
      any = true;
    }
    this.#known = seen;
    return any ? fresh : null;
  }
}
