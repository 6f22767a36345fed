//! The `GET /user/export` view of a replica.

use super::{progress, Replica, ReplicaError};
use crate::layout;
use serde_json::{Map, Value};

impl Replica {
    /// All data in the `GET /user/export` shape: `{preferences, decks,
    /// progress, achievements, starred, sessions, reviews, deleted_decks}`.
    /// `decks` and `progress` are what the user sees (deleted decks and
    /// their progress left out); `deleted_decks` (id → `Deck`) and
    /// `reviews` (every review event of every deck, with its id, sorted by
    /// `at` then id) carry what `POST /user/import` needs to restore an
    /// account. Documents this device has not received yet are skipped.
    pub fn export(&self) -> Result<Value, ReplicaError> {
        let mut out = Map::new();
        out.insert("preferences".into(), Value::Object(self.preferences()?));
        out.insert("decks".into(), Value::Object(self.live_decks()?));
        // One read of every deck's review events serves both.
        let (progress, reviews) = self.progress_and_reviews()?;
        out.insert("progress".into(), Value::Object(progress));
        out.insert("achievements".into(), Value::Object(self.achievements()?));
        out.insert(
            "starred".into(),
            Value::Array(self.starred()?.into_iter().map(Value::String).collect()),
        );
        out.insert("sessions".into(), Value::Object(self.sessions()?));
        out.insert("reviews".into(), Value::Array(reviews));
        out.insert("deleted_decks".into(), Value::Object(self.deleted_decks()?));
        Ok(Value::Object(out))
    }

    /// Every review event of every deck in the index (deleted ones too) as
    /// `{id, deckId, cardId, at, device, correct, responseMs, quality?}`,
    /// sorted by `at`, then id.
    pub fn review_events(&self) -> Result<Vec<Value>, ReplicaError> {
        Ok(self.progress_and_reviews()?.1)
    }

    /// The progress of the live decks' cards ([`Replica::progress`]) and
    /// [`Replica::review_events`], from one read of each deck document's
    /// review events.
    fn progress_and_reviews(&self) -> Result<(Map<String, Value>, Vec<Value>), ReplicaError> {
        let mut progress = Map::new();
        let mut reviews = Vec::new();
        for (deck_id, entry) in self.deck_entries()? {
            let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
            let Some(doc) = self.doc_of(&doc_id, layout::DocKind::Deck)? else {
                continue;
            };
            let events = progress::review_events(doc, doc_id)?;
            if !entry.deleted && !self.deck_doc_deleted(doc_id)? {
                progress.extend(progress::deck_progress_with(
                    doc, doc_id, &deck_id, &events,
                )?);
            }
            for mut e in events {
                e.remove("inBase");
                e.insert("deckId".into(), Value::String(deck_id.clone()));
                reviews.push(Value::Object(e));
            }
        }
        reviews.sort_by(|a, b| {
            (a["at"].as_str(), a["id"].as_str()).cmp(&(b["at"].as_str(), b["id"].as_str()))
        });
        Ok((progress, reviews))
    }

    /// Deleted decks (not progress-only) whose document is here, id →
    /// `Deck`.
    pub fn deleted_decks(&self) -> Result<Map<String, Value>, ReplicaError> {
        let mut decks = Map::new();
        for (deck_id, entry) in self.deck_entries()? {
            let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
            if entry.progress_only || !(entry.deleted || self.deck_doc_deleted(doc_id)?) {
                continue;
            }
            if let Some(deck) = self.deck_json(doc_id)? {
                decks.insert(deck_id, deck);
            }
        }
        Ok(decks)
    }

    /// The decks a user sees (neither deleted nor progress-only), id →
    /// `Deck` with `markdown`.
    pub fn decks(&self) -> Result<Map<String, Value>, ReplicaError> {
        self.live_decks()
    }

    /// Progress of every card of the live decks, card id → `CardProgress`
    /// (counts summed over devices, schedule replayed from the reviews).
    pub fn progress(&self) -> Result<Map<String, Value>, ReplicaError> {
        progress::progress_of_all(self, true)
    }

    /// Decks that are neither deleted nor progress-only, id → `Deck`.
    pub(super) fn live_decks(&self) -> Result<Map<String, Value>, ReplicaError> {
        let mut decks = Map::new();
        for (deck_id, entry) in self.deck_entries()? {
            let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
            if entry.deleted || entry.progress_only || self.deck_doc_deleted(doc_id)? {
                continue;
            }
            if let Some(deck) = self.deck_json(doc_id)? {
                decks.insert(deck_id, deck);
            }
        }
        Ok(decks)
    }
}
