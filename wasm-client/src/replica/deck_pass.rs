//! Reads that cover every deck (the `decks` and `progress` JSON views, the
//! deleted decks, what a JSON write changes) one deck document at a time,
//! as [`super::ExportWriter`] writes the export: a heavy learner's 200 deck
//! documents held together take hundreds of MB, over the 128 MB of a
//! Durable Object's isolate (docs/benchmarks.md).

use super::decks::IndexEntry;
use super::{layout, progress, DeletedDeck, DocKind, Replica, ReplicaError, CONFLICTS_KEY};
use crate::DocumentId;
use automerge::Automerge;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A review event as the export has it.
pub(super) type ReviewEvent = Map<String, Value>;

/// A deck of the index while [`Replica::each_deck`] holds its document.
pub struct DeckInPass {
    /// The deck's id.
    pub deck_id: String,
    /// Its document.
    pub doc_id: DocumentId,
    entry: IndexEntry,
}

impl Replica {
    /// Calls `f` for each deck of the index, in index order, while this
    /// replica holds that deck's document as `read` gives it (a deck whose
    /// document `read` does not have is skipped); each document leaves the
    /// replica when `f` returns, so one is held at a time. For a replica
    /// that holds the root and no deck documents.
    pub fn each_deck<E: From<ReplicaError>>(
        &mut self,
        mut read: impl FnMut(&DocumentId) -> Result<Option<Automerge>, E>,
        mut f: impl FnMut(&Replica, &DeckInPass) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut seen = BTreeSet::new();
        for (deck_id, entry) in self.deck_entries()? {
            let doc_id = layout::deck_doc_id(&self.user_id, &deck_id);
            if !seen.insert(doc_id) {
                continue;
            }
            let Some(doc) = read(&doc_id)? else {
                continue;
            };
            self.docs_mut().insert(doc_id, doc);
            let deck = DeckInPass {
                deck_id,
                doc_id,
                entry,
            };
            let done = f(self, &deck);
            self.docs_mut().remove(&doc_id);
            done?;
        }
        Ok(())
    }

    /// The deck as `Replica::export`'s `decks` has it (`None`: deleted or
    /// progress-only), with `conflicts` when `conflicts` and it has any.
    pub fn live_deck(
        &self,
        deck: &DeckInPass,
        conflicts: bool,
    ) -> Result<Option<Value>, ReplicaError> {
        let d = &deck.entry;
        if d.deleted || d.progress_only || self.deck_doc_deleted(deck.doc_id)? {
            return Ok(None);
        }
        let Some(mut json) = self.deck_json(deck.doc_id)? else {
            return Ok(None);
        };
        if conflicts {
            let found = self.deck_conflicts(&deck.deck_id)?;
            if let (false, Value::Object(m)) = (found.is_empty(), &mut json) {
                m.insert(CONFLICTS_KEY.into(), Value::Object(found));
            }
        }
        Ok(Some(json))
    }

    /// The deck's cards' progress as `Replica::export`'s `progress` has it
    /// (none for a deleted deck), card id → `CardProgress`.
    pub fn deck_progress(
        &self,
        deck: &DeckInPass,
    ) -> Result<BTreeMap<String, Value>, ReplicaError> {
        Ok(self.deck_progress_and_reviews(deck)?.0)
    }

    /// [`Replica::deck_progress`] and the deck's review events as
    /// `Replica::export`'s `reviews` has them (unsorted; deleted decks'
    /// too), from one read of its events.
    pub(super) fn deck_progress_and_reviews(
        &self,
        deck: &DeckInPass,
    ) -> Result<(BTreeMap<String, Value>, Vec<ReviewEvent>), ReplicaError> {
        let Some(doc) = self.doc_of(&deck.doc_id, DocKind::Deck)? else {
            return Ok((BTreeMap::new(), Vec::new()));
        };
        let events = progress::review_events(doc, deck.doc_id)?;
        let progress = if deck.entry.deleted || self.deck_doc_deleted(deck.doc_id)? {
            BTreeMap::new()
        } else {
            progress::deck_progress_with(doc, deck.doc_id, &deck.deck_id, &events)?
        };
        let reviews = events
            .into_iter()
            .map(|mut e| {
                e.remove("inBase");
                e.insert("deckId".into(), Value::String(deck.deck_id.clone()));
                e
            })
            .collect();
        Ok((progress, reviews))
    }

    /// The deck as `Replica::export`'s `deleted_decks` has it, if deleted
    /// (not progress-only).
    pub(super) fn deleted_deck_json(
        &self,
        deck: &DeckInPass,
    ) -> Result<Option<Value>, ReplicaError> {
        let d = &deck.entry;
        if d.progress_only || !(d.deleted || self.deck_doc_deleted(deck.doc_id)?) {
            return Ok(None);
        }
        self.deck_json(deck.doc_id)
    }

    /// The deck as [`Replica::deleted_deck_list`] lists it, if deleted;
    /// `names`: [`Replica::device_names`].
    pub fn deleted_deck_in_pass(
        &self,
        deck: &DeckInPass,
        names: &BTreeMap<String, String>,
    ) -> Result<Option<DeletedDeck>, ReplicaError> {
        self.deleted_deck(deck.deck_id.clone(), &deck.entry, names)
    }

    /// The deck's document, if it is here and a deck's.
    pub(super) fn deck_document(
        &self,
        deck: &DeckInPass,
    ) -> Result<Option<&Automerge>, ReplicaError> {
        self.doc_of(&deck.doc_id, DocKind::Deck)
    }
}
