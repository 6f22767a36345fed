//! The store's tables, created idempotently when the engine opens.
//!
//! - `documents`: one row per document: its heads, the `seq` of its last
//!   change, byte counts that drive compaction.
//! - `chunks`: the document bytes. `kind` is `snapshot` (a full `save()`)
//!   or `incremental` (`save_after` output); `key` orders them (the `seq`
//!   at write time); `part` splits values over 1 MiB (a Durable Object
//!   value is at most 2 MB).
//! - `sync_states`: Automerge's persistent sync state per (peer, document),
//!   a hint that is dropped on any error.
//! - `peers`: when each peer last sent a message (maintenance drops the
//!   sync states of peers unseen for long).
//! - `meta`: the user's change sequence as stores before 2026-12 kept it
//!   (no longer written: the sequence is the highest `documents.seq`).
//! - `in_flight` / `poisoned`: the crash marker of docs/design.md §6, one
//!   per (peer, document), naming the message or the one change being
//!   applied. A marker found when the store opens counts one crash in
//!   `poisoned.crashes` of what it names: a message with a crash is applied
//!   one change at a time, a change with two alone is refused (see
//!   `engine/admission.rs`); a success deletes the row.

pub(crate) const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY,
        heads BLOB NOT NULL,
        seq INTEGER NOT NULL,
        snapshot_bytes INTEGER NOT NULL,
        incremental_bytes INTEGER NOT NULL,
        chunk_count INTEGER NOT NULL,
        updated_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS documents_seq ON documents (seq)",
    "CREATE TABLE IF NOT EXISTS chunks (
        document_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key INTEGER NOT NULL,
        part INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (document_id, kind, key, part))",
    "CREATE TABLE IF NOT EXISTS sync_states (
        peer_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (peer_id, document_id))",
    "CREATE TABLE IF NOT EXISTS peers (
        peer_id TEXT PRIMARY KEY,
        last_seen_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS in_flight (
        peer_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        hash BLOB NOT NULL,
        started_at INTEGER NOT NULL,
        PRIMARY KEY (peer_id, document_id))",
    "CREATE TABLE IF NOT EXISTS poisoned (
        hash BLOB PRIMARY KEY,
        peer_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        crashes INTEGER NOT NULL DEFAULT 1)",
];

/// Crashes of a change applied alone after which it is refused.
pub(crate) const CRASHES_BEFORE_REFUSAL: i64 = 2;

/// Changes to stores created by an older version; each fails harmlessly
/// once applied. Rows an older version wrote name whole messages: such a
/// message is now applied one change at a time, not refused.
pub(crate) const UPGRADES: &[&str] =
    &["ALTER TABLE poisoned ADD COLUMN crashes INTEGER NOT NULL DEFAULT 2"];
