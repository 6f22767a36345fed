//! MyFlashPlay's shared core: the data model, the Automerge document layout,
//! the sync protocol and the client password prehash.
//!
//! **Invariant:** no I/O, no clock and no randomness of its own: callers pass
//! time and random bytes in, so the same code runs natively, in the Worker
//! and in the browser.
#![warn(missing_docs)]

pub mod cards;
pub mod document_id;
#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod js;
pub mod layout;
pub mod model;
pub mod prehash;
pub mod replica;
pub mod sm2;
pub mod sync;
pub mod version;

pub use document_id::{DocumentId, DocumentIdError};
pub use replica::{Replica, ReplicaError};

/// A replica's documents: every Automerge document of one user it holds,
/// by id. Deterministic iteration order keeps sync and exports stable.
pub type Docs = std::collections::BTreeMap<DocumentId, automerge::Automerge>;
