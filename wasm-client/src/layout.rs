//! How a user's data is laid out in Automerge documents (docs/design.md §3).
//!
//! - **root** (one per user, id `derive(["root", user])`): `preferences`,
//!   `starred` (public deck id → bool), `achievements` (id → record),
//!   `decks` (deck id → `{documentId, name, emoji, deleted}`),
//!   `sessionMonths` (`YYYY-MM` → document id), `localStorage` (the app's
//!   wrapper fields such as `version`, kept for a faithful export).
//! - **deck** (one per deck, id `derive(["deck", user, deck])`): `deckId`,
//!   `name`, `description`, `emoji`, `markdown` (Text), `metadata`,
//!   `settings`, `extra`, `deleted`, a `firstMarkdown/<actor>` marker per
//!   first version of the text (see [`first_markdown`]), `cards` (JSON
//!   text) only in decks an older version wrote (cards are now derived from
//!   the markdown when read, see [`crate::cards`]), and the
//!   deck's progress: `progressBase` (card id → imported `CardProgress`),
//!   `counters` (`card|field|actor` → counter) and `reviews` (list of
//!   review events).
//! - **sessions** (one per month, id `derive(["sessions", user, "YYYY-MM"])`):
//!   `sessions` (session id → `GameSession`).
//!
//! Every document starts with a deterministic genesis change (see
//! [`genesis`]) and carries `schema` and `kind`. Readers take what they
//! understand from any schema; writers refuse a document whose schema is
//! newer than [`SCHEMA`] rather than write an older layout into it.
//!
//! **Invariant:** every map that two devices could both create is created
//! by a genesis change, never lazily, so offline devices never produce
//! conflicting objects for the same path; where a conflict is still
//! possible (two devices add the same new map key), readers merge all
//! conflicting values ([`json::read_prop`]).

pub mod first_markdown;
pub mod genesis;
pub mod json;
pub mod markdown;

use crate::DocumentId;

/// Version of this layout, stored in every document as `schema`.
pub const SCHEMA: i64 = 1;

/// What a document holds (`kind` in the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// The user's root document.
    Root,
    /// One deck with its progress.
    Deck,
    /// A month of game sessions.
    Sessions,
}

impl DocKind {
    /// The `kind` string stored in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Root => "root",
            DocKind::Deck => "deck",
            DocKind::Sessions => "sessions",
        }
    }
}

/// The root document's id for a user.
pub fn root_id(user_id: &str) -> DocumentId {
    DocumentId::derive(&["root", user_id])
}

/// The document id of one of a user's decks.
pub fn deck_doc_id(user_id: &str, deck_id: &str) -> DocumentId {
    DocumentId::derive(&["deck", user_id, deck_id])
}

/// The document id of a user's sessions for a month (`YYYY-MM`).
pub fn sessions_doc_id(user_id: &str, month: &str) -> DocumentId {
    DocumentId::derive(&["sessions", user_id, month])
}
