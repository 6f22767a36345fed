//! The `GET /user/export` view of a replica.

use super::{progress, Replica, ReplicaError};
use crate::layout;
use serde_json::{Map, Value};

impl Replica {
    /// All data in the `GET /user/export` shape: `{preferences, decks,
    /// progress, achievements, starred, sessions}`. Deleted decks and their
    /// progress are left out; documents this device has not received yet
    /// are skipped.
    pub fn export(&self) -> Result<Value, ReplicaError> {
        let mut out = Map::new();
        out.insert("preferences".into(), Value::Object(self.preferences()?));
        out.insert("decks".into(), Value::Object(self.live_decks()?));
        out.insert(
            "progress".into(),
            Value::Object(progress::progress_of_all(self, true)?),
        );
        out.insert("achievements".into(), Value::Object(self.achievements()?));
        out.insert(
            "starred".into(),
            Value::Array(self.starred()?.into_iter().map(Value::String).collect()),
        );
        out.insert("sessions".into(), Value::Object(self.sessions()?));
        Ok(Value::Object(out))
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
