//! A [`Replica`]: one device's copy of a user's documents, with typed edits.
//!
//! Every edit is one Automerge commit per document it touches, written with
//! the device's own actor id and the time the caller set with
//! [`Replica::set_now`]. Edits write the narrowest path (one map key, one
//! text splice, one counter increment), so concurrent edits of different
//! things never conflict. How concurrent edits of the *same* thing resolve:
//!
//! - deck fields, preferences: last writer wins per field (Automerge's
//!   deterministic choice of the greater operation id);
//! - markdown: character-level merge, both edits kept;
//! - delete vs edit of a deck: **delete wins**. Deleting sets a tombstone
//!   flag in the index and the deck document; a concurrent edit does not
//!   touch the flag, so the deck stays deleted. The edit is kept in the deck
//!   document and shows again if the deck is created anew with the same id;
//! - star vs unstar of the same public deck at the same time: **star wins**
//!   (both values survive as a conflict and a reader sees any `true`);
//!   an unstar that has seen the star replaces it;
//! - reviews and game sessions: every one is kept (list append, map key by
//!   id); counts are counters, the SM-2 schedule is derived ([`crate::sm2`]);
//! - achievement progress: the highest progress and the earliest unlock
//!   win.

mod conflicts;
mod deck_pass;
mod decks;
mod devices;
mod export;
mod export_writer;
mod history;
mod import;
mod local_storage;
mod progress;
mod progress_edit;
mod root;
mod sessions;

pub use conflicts::CONFLICTS_KEY;
pub use deck_pass::DeckInPass;
pub use devices::{device_key, DEVICE_KEY_PREFIX, UNKNOWN_DEVICE};
pub use export_writer::{ExportText, ExportWriter};
pub use history::{
    DeletedDeck, HistoryEntry, HistoryPage, Summary, DEFAULT_LIMIT as HISTORY_DEFAULT_LIMIT,
    MAX_LIMIT as HISTORY_MAX_LIMIT,
};
pub use local_storage::LocalStorage;
pub use progress::ReviewInput;

use crate::layout::{self, genesis, DocKind};
use crate::model::{limits, ModelError};
use crate::{Docs, DocumentId};
use automerge::transaction::{CommitOptions, Transaction};
use automerge::{
    ActorId, Automerge, AutomergeError, ObjId, ObjType, ReadDoc, Value as AmValue, ROOT,
};

/// Why an edit or a read was refused. The documents are unchanged then.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The input broke the model's rules.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    /// No such deck here (never created, deleted, or not synced yet).
    #[error("deck {0:?} not found")]
    DeckNotFound(String),
    /// The account already has [`limits::MAX_DECKS`] decks.
    #[error("too many decks (limit {})", limits::MAX_DECKS)]
    TooManyDecks,
    /// A preference path that is empty, too deep or malformed.
    #[error("bad preference path {0:?}")]
    BadPath(String),
    /// A document lacks part of the layout (written by something else).
    #[error("document {doc} has no {what}")]
    Layout {
        /// The document.
        doc: DocumentId,
        /// What is missing.
        what: &'static str,
    },
    /// A localStorage value is not what the app writes.
    #[error("localStorage key {key:?}: {reason}")]
    LocalStorage {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A user id or actor id that cannot be used.
    #[error("bad identity: {0}")]
    Identity(&'static str),
    /// A deck version that does not name a state of this deck held here
    /// (well-formed, but unknown: another deck's, or not synced yet).
    #[error("version not found for deck {0:?}")]
    VersionNotFound(String),
    /// A version string that is not one this API issues.
    #[error("malformed version")]
    BadVersion,
    /// The document was written by a newer layout; this version reads it
    /// as best it can but does not write to it.
    #[error("document {doc} has schema {schema}, newer than {}", layout::SCHEMA)]
    NewerSchema {
        /// The document.
        doc: DocumentId,
        /// Its schema.
        schema: i64,
    },
}

/// One device's documents of one user, and the edits it can make.
#[derive(Debug)]
pub struct Replica {
    user_id: String,
    actor: ActorId,
    docs: Docs,
    now_ms: i64,
    /// The app's bundled sample decks, by id (see [`Replica::set_samples`]).
    samples: std::collections::BTreeMap<String, crate::model::SampleDeck>,
    /// This device's name, recorded in the root on its first write (see
    /// [`Replica::set_device_name`]).
    device_name: Option<String>,
    /// Whether the root is known to hold `device_name` for this actor.
    device_recorded: bool,
}

impl Replica {
    /// A fresh device: only the root document's genesis. `actor` is this
    /// device's Automerge actor id (random bytes the caller drew, 1..=32).
    pub fn new(user_id: &str, actor: &[u8]) -> Result<Self, ReplicaError> {
        Self::from_docs(user_id, actor, Docs::new())
    }

    /// A device reloaded from its stored documents (or handed documents
    /// received by sync). Adds the root genesis if the root is missing.
    pub fn from_docs(user_id: &str, actor: &[u8], docs: Docs) -> Result<Self, ReplicaError> {
        if user_id.is_empty() || user_id.len() > limits::MAX_ID_BYTES {
            return Err(ReplicaError::Identity("user id must have 1..=128 bytes"));
        }
        if actor.is_empty() || actor.len() > 32 || actor == genesis::GENESIS_ACTOR {
            return Err(ReplicaError::Identity(
                "actor id must have 1..=32 bytes and not be the genesis actor",
            ));
        }
        let mut replica = Replica {
            user_id: user_id.to_string(),
            actor: ActorId::from(actor),
            docs,
            now_ms: 0,
            samples: Default::default(),
            device_name: None,
            device_recorded: false,
        };
        replica.ensure_doc(DocKind::Root, user_id, replica.root_id())?;
        Ok(replica)
    }

    /// The time written into the following commits and used as "now" for
    /// defaults such as `lastModified`, Unix milliseconds.
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The app's bundled sample decks (its `sampleMarkdownDecks`). A deck
    /// created or imported with a sample's id starts from the sample's
    /// markdown as its first version, the same change on every device, so
    /// two devices that edited the sample differently merge their edits
    /// instead of holding two copies; a first-run localStorage import
    /// names those decks as the app shows them.
    pub fn set_samples(&mut self, samples: Vec<crate::model::SampleDeck>) {
        self.samples = samples.into_iter().map(|s| (s.id.clone(), s)).collect();
    }

    /// The user.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// This device's actor id, hex (how review events name their device).
    pub fn actor_hex(&self) -> String {
        self.actor.to_hex_string()
    }

    /// The root document's id.
    pub fn root_id(&self) -> DocumentId {
        layout::root_id(&self.user_id)
    }

    /// The documents, for saving and syncing.
    pub fn docs(&self) -> &Docs {
        &self.docs
    }

    /// The documents, for a sync driver that adds or merges documents.
    pub fn docs_mut(&mut self) -> &mut Docs {
        &mut self.docs
    }

    /// Gives the documents back.
    pub fn into_docs(self) -> Docs {
        self.docs
    }

    fn now_iso(&self) -> String {
        crate::model::timestamp::format_ms(self.now_ms)
    }

    /// The document `id`, created from its genesis if this device lacks it.
    /// An empty document (a placeholder a sync driver made before any
    /// change arrived) counts as missing: writing into it without genesis
    /// would create objects that conflict with everyone else's.
    fn ensure_doc(&mut self, kind: DocKind, key: &str, id: DocumentId) -> Result<(), ReplicaError> {
        if self.docs.get(&id).is_none_or(Automerge::is_empty) {
            let mut doc = genesis::create(kind, key, self.actor.clone())?;
            if let Some(mut placeholder) = self.docs.remove(&id) {
                doc.merge(&mut placeholder)?;
            }
            self.docs.insert(id, doc);
        }
        Ok(())
    }

    /// A document of `kind` held here; `None` when absent or not (yet)
    /// of that kind, e.g. a placeholder still waiting for its changes.
    fn doc_of(&self, id: &DocumentId, kind: DocKind) -> Result<Option<&Automerge>, ReplicaError> {
        Ok(match self.docs.get(id) {
            Some(doc) if get_str(doc, &ROOT, "kind")?.as_deref() == Some(kind.as_str()) => {
                Some(doc)
            }
            _ => None,
        })
    }

    fn root(&self) -> Result<&Automerge, ReplicaError> {
        let id = self.root_id();
        self.docs.get(&id).ok_or(ReplicaError::Layout {
            doc: id,
            what: "root document",
        })
    }

    /// Runs `f` in one transaction on document `id` and commits it with this
    /// device's actor and time; on error nothing is committed. The first
    /// write of a named device also records its name (see [`devices`]).
    fn edit<O>(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut Transaction<'_>, &EditCx) -> Result<O, ReplicaError>,
    ) -> Result<O, ReplicaError> {
        self.edit_with(id, None, f)
    }

    /// [`Replica::edit`] with a change message (how history tells a
    /// restore or a deletion from an ordinary edit).
    fn edit_with<O>(
        &mut self,
        id: DocumentId,
        message: Option<&str>,
        f: impl FnOnce(&mut Transaction<'_>, &EditCx) -> Result<O, ReplicaError>,
    ) -> Result<O, ReplicaError> {
        let out = self.commit_edit(id, message, f)?;
        self.record_device()?;
        Ok(out)
    }

    fn commit_edit<O>(
        &mut self,
        id: DocumentId,
        message: Option<&str>,
        f: impl FnOnce(&mut Transaction<'_>, &EditCx) -> Result<O, ReplicaError>,
    ) -> Result<O, ReplicaError> {
        let cx = EditCx {
            doc: id,
            now_iso: self.now_iso(),
            actor_hex: self.actor_hex(),
        };
        let time = self.now_ms.div_euclid(1000);
        let doc = self.docs.get_mut(&id).ok_or(ReplicaError::Layout {
            doc: id,
            what: "document",
        })?;
        let schema = match doc.get(ROOT, "schema")? {
            Some((AmValue::Scalar(s), _)) => s.as_i64().unwrap_or(0),
            _ => 0,
        };
        if schema > layout::SCHEMA {
            return Err(ReplicaError::NewerSchema { doc: id, schema });
        }
        doc.set_actor(self.actor.clone());
        let mut tx = doc.transaction();
        match f(&mut tx, &cx) {
            Ok(out) => {
                let mut opts = CommitOptions::default().with_time(time);
                if let Some(m) = message {
                    opts = opts.with_message(m.to_string());
                }
                tx.commit_with(opts);
                Ok(out)
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }
}

/// What an edit closure may need besides the transaction.
struct EditCx {
    doc: DocumentId,
    now_iso: String,
    actor_hex: String,
}

impl EditCx {
    fn missing(&self, what: &'static str) -> ReplicaError {
        ReplicaError::Layout {
            doc: self.doc,
            what,
        }
    }
}

/// The object at `parent[key]` if it is one of `t`'s kind.
fn obj_at<D: ReadDoc>(
    doc: &D,
    parent: &ObjId,
    key: &str,
    t: ObjType,
) -> Result<Option<ObjId>, AutomergeError> {
    Ok(match doc.get(parent, key)? {
        Some((AmValue::Object(found), id)) if found == t => Some(id),
        _ => None,
    })
}

/// A top-level map or text of a document, or a layout error naming it.
fn top<D: ReadDoc>(
    doc: &D,
    key: &'static str,
    t: ObjType,
    id: DocumentId,
) -> Result<ObjId, ReplicaError> {
    obj_at(doc, &ROOT, key, t)?.ok_or(ReplicaError::Layout { doc: id, what: key })
}

/// A string scalar at `obj[key]`.
fn get_str<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<Option<String>, AutomergeError> {
    Ok(match doc.get(obj, key)? {
        Some((AmValue::Scalar(s), _)) => s.as_str().map(str::to_string),
        _ => None,
    })
}

/// A boolean scalar at `obj[key]`.
fn get_bool<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<Option<bool>, AutomergeError> {
    Ok(match doc.get(obj, key)? {
        Some((AmValue::Scalar(s), _)) => s.as_bool(),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
