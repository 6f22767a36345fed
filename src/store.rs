//! The store engine ([`Engine`]), the heart of a `UserStore` object: one
//! user's Automerge documents on SQLite, synced with the user's devices
//! over the automerge-repo protocol.
//!
//! **Invariant:** sans-IO and Worker-agnostic: it knows nothing of
//! `worker`, HTTP or WebSockets; it runs on any [`Sql`] and takes the time
//! as an argument. The Durable Object shell adapts it; native tests run it
//! on [`sqlite::Sqlite`].

mod actors;
pub mod cache;
mod chunks;
pub mod driver;
mod engine;
mod error;
mod schema;
pub mod sql;
#[cfg(not(target_arch = "wasm32"))]
pub mod sqlite;

pub use chunks::PART_BYTES;
pub use driver::{
    split_replies, sync_until_quiet, sync_until_quiet_routed, DriverError, SyncReport,
};
pub use engine::{Engine, Maintenance, Pending, Step, CHANGE_REFUSED, MAX_CHUNKS};
pub use error::StoreError;
pub use sql::{probe, Row, Sql, SqlError, SqlValue};
