//! The store engine (`Engine`): one user's documents, sync with that user's
//! devices, persistence over [`Sql`].
//!
//! Driving it: the shell calls [`Engine::open`] when the Durable Object
//! starts, then [`Engine::admit`] for each decoded [`RepoMessage`] of an
//! authenticated peer; a [`Step::MakeDurable`] asks it to make the crash
//! marker durable and call [`Engine::resume`]; a [`Step::Done`] holds the
//! messages to send, each to its `targetId` (the sender, or another of the
//! user's live peers when a change must be pushed). Replies to the sender
//! are returned only after the writes they depend on happened; pushes of a
//! change to the other live peers go to `resume`'s `push` as soon as it is
//! applied, before it is stored.
//!
//! **Invariants:** no I/O besides the [`Sql`] it is given; no clock (the
//! caller passes `now` in ms); only bytes our own Automerge produced are
//! stored, never the client's raw bytes; every sync message passes
//! `check_sync_message` before Automerge sees it, once (see [`admission`]).

use super::actors;
use super::cache::{self, DocCache};
use super::chunks::{self, INCREMENTAL, SNAPSHOT};
use super::error::StoreError;
use super::schema;
use super::sql::{Sql, SqlError, SqlValue};
use automerge::sync::{State, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash};
use myflashplay_client::sync::{
    DocMessage, Manifest, ManifestEntry, PeerId, RepoMessage, PROTOCOL_VERSION, SERVER_PEER_ID,
};
use myflashplay_client::{Docs, DocumentId};
use std::collections::{BTreeMap, BTreeSet};

mod admission;
mod from_storage;
mod maintenance;
pub use admission::{Pending, Step, CHANGE_REFUSED};
pub use maintenance::Maintenance;

/// Compact when a document has this many chunks.
pub const MAX_CHUNKS: u64 = 64;

/// Changed sync hints kept in memory before they are written anyway.
const MAX_DIRTY_HINTS: usize = 1_024;

/// A document in memory with what is known of its stored form. The cache
/// ([`super::cache`]) holds them within the isolate's memory budget;
/// everything in memory is also stored after each message, so evicting one
/// costs only a reload.
pub(crate) struct Loaded {
    doc: Automerge,
    /// Heads of what the chunks hold: `save_after` writes only the rest.
    persisted_heads: Vec<ChangeHash>,
    snapshot_bytes: u64,
    incremental_bytes: u64,
    chunk_count: u64,
    /// Tick of the last use, for eviction.
    last_used: u64,
    /// Actors of its changes (see [`super::actors`]).
    actors: BTreeSet<ActorId>,
}

impl Loaded {
    /// Bytes of its stored form (what the cache's estimate scales).
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.snapshot_bytes + self.incremental_bytes
    }

    /// Tick of its last use.
    pub(crate) fn last_used(&self) -> u64 {
        self.last_used
    }
}

/// One user's store.
pub struct Engine<S: Sql> {
    sql: S,
    server_id: PeerId,
    seq: u64,
    docs: DocCache,
    states: BTreeMap<(PeerId, DocumentId), State>,
    /// The latest sync-state hint per (peer, doc), stored or not: unchanged
    /// hints are not rewritten.
    hints: BTreeMap<(PeerId, DocumentId), Vec<u8>>,
    /// Hints changed since they were stored: written with the next write
    /// that happens anyway, when the peer leaves, or by
    /// [`Engine::flush_hints`], so a message that changes no document
    /// writes nothing.
    dirty_hints: BTreeSet<(PeerId, DocumentId)>,
    /// Peers whose stored hints were all read into `hints` (one query per
    /// peer, not one per document).
    hints_read: BTreeSet<PeerId>,
    live_peers: BTreeSet<PeerId>,
    /// When each peer's `last_seen_at` was last written (see
    /// [`maintenance`]).
    seen: BTreeMap<PeerId, u64>,
    /// Crashes counted per marker key (the `poisoned` table, in memory).
    suspects: BTreeMap<admission::Hash, i64>,
    /// Markers found at open: applies a crash interrupted.
    interrupted: u64,
    tick: u64,
}

fn int(v: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn uint(v: Option<&SqlValue>) -> u64 {
    v.and_then(SqlValue::as_i64)
        .and_then(|i| u64::try_from(i).ok())
        .unwrap_or(0)
}

fn heads_blob(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn heads_from_blob(b: &[u8]) -> Vec<ChangeHash> {
    b.chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

impl<S: Sql> Engine<S> {
    /// Opens the store: creates the tables, reads the change sequence and
    /// counts a crash for any in-flight marker left behind (see
    /// [`admission`]). Documents load lazily.
    pub fn open(sql: S, now: u64) -> Result<Self, StoreError> {
        for stmt in schema::STATEMENTS {
            sql.exec(stmt, &[])?;
        }
        for stmt in schema::UPGRADES {
            let _ = sql.exec(stmt, &[]);
        }
        let interrupted = uint(
            sql.query("SELECT COUNT(*) FROM in_flight", &[])?
                .first()
                .and_then(|r| r.first()),
        );
        sql.transaction(|sql| {
            sql.exec(
                "INSERT INTO poisoned (hash, peer_id, document_id, at, crashes)
                 SELECT hash, peer_id, document_id, ?, 1 FROM in_flight WHERE true
                 ON CONFLICT (hash) DO UPDATE SET crashes = crashes + 1, at = excluded.at",
                &[int(now)],
            )?;
            sql.exec("DELETE FROM in_flight", &[])
        })?;
        // The highest `seq` of a document row: every stored change writes
        // its document's row with the new `seq` (and compaction keeps it),
        // and rows are never deleted. Stores written before that also kept
        // it in `meta`: the higher of the two.
        let seq = uint(
            sql.query(
                "SELECT MAX(s) FROM (SELECT MAX(seq) AS s FROM documents
                 UNION ALL SELECT value FROM meta WHERE key = 'seq')",
                &[],
            )?
            .first()
            .and_then(|r| r.first()),
        );
        let suspects = sql
            .query("SELECT hash, crashes FROM poisoned", &[])?
            .iter()
            .filter_map(|r| {
                let hash = admission::Hash::try_from(r.first()?.as_bytes()?).ok()?;
                Some((hash, r.get(1)?.as_i64()?))
            })
            .collect();
        let server_id = PeerId::new(SERVER_PEER_ID).map_err(|_| SqlError("server id".into()))?;
        Ok(Self {
            sql,
            server_id,
            seq,
            docs: DocCache::default(),
            states: BTreeMap::new(),
            hints: BTreeMap::new(),
            dirty_hints: BTreeSet::new(),
            hints_read: BTreeSet::new(),
            live_peers: BTreeSet::new(),
            seen: BTreeMap::new(),
            suspects,
            interrupted,
            tick: 0,
        })
    }

    /// How many applies the last crash interrupted (markers found when the
    /// store opened), for the operator's log.
    pub fn interrupted(&self) -> u64 {
        self.interrupted
    }

    /// The server's peer id (`senderId` of its messages).
    pub fn server_id(&self) -> &PeerId {
        &self.server_id
    }

    /// The user's change sequence: bumped on every stored change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The database (tests count its statements).
    pub fn sql(&self) -> &S {
        &self.sql
    }

    /// Gives the database back (e.g. to reopen it as a restart would).
    pub fn into_sql(self) -> S {
        self.sql
    }

    /// Handles one message from the authenticated peer `peer` at once:
    /// [`Engine::admit`], then [`Engine::resume`] right after each
    /// marker. Only for a [`Sql`] whose writes are durable when they return
    /// (SQLite in tests and tools) or for messages the server made itself;
    /// a Durable Object drives [`Engine::admit`] and makes each marker
    /// durable in between.
    pub fn handle_message(
        &mut self,
        now: u64,
        peer: &PeerId,
        msg: RepoMessage,
    ) -> Result<Vec<RepoMessage>, StoreError> {
        let mut step = self.admit(now, peer, msg)?;
        loop {
            match step {
                Step::Done(out) => return Ok(out),
                Step::MakeDurable(pending) => {
                    let mut pushes = Vec::new();
                    step = self
                        .resume(now, *pending, &mut |m| pushes.extend(m))?
                        .followed_by(pushes);
                }
            }
        }
    }

    /// Takes one message from the authenticated peer `peer`. Either it is
    /// handled ([`Step::Done`]: send each message to its `targetId`), or
    /// it carries changes and comes back marked ([`Step::MakeDurable`]).
    pub fn admit(&mut self, now: u64, peer: &PeerId, msg: RepoMessage) -> Result<Step, StoreError> {
        if msg.sender_id().is_some_and(|s| s != peer) {
            return Err(StoreError::SenderMismatch);
        }
        self.note_peer(now, peer)?;
        let out: Result<Vec<RepoMessage>, StoreError> = match msg {
            RepoMessage::Request(m) => return self.admit_sync(now, peer, m, true),
            RepoMessage::Sync(m) => return self.admit_sync(now, peer, m, false),
            RepoMessage::Join {
                supported_protocol_versions,
                ..
            } => {
                if !supported_protocol_versions
                    .iter()
                    .any(|v| v == PROTOCOL_VERSION)
                {
                    return Ok(Step::Done(vec![RepoMessage::Error {
                        sender_id: Some(self.server_id.clone()),
                        target_id: Some(peer.clone()),
                        message: "unsupported protocol version".into(),
                        document_id: None,
                        reason: None,
                    }]));
                }
                // A (re)connection: the device restarts its sync states,
                // and so does the server (stored hints stay).
                self.live_peers.insert(peer.clone());
                self.states.retain(|(p, _), _| p != peer);
                Ok(vec![RepoMessage::Peer {
                    sender_id: self.server_id.clone(),
                    target_id: peer.clone(),
                    selected_protocol_version: PROTOCOL_VERSION.into(),
                    peer_metadata: None,
                }])
            }
            RepoMessage::Leave { .. } => {
                self.flush_hints(Some(peer))?;
                self.live_peers.remove(peer);
                self.states.retain(|(p, _), _| p != peer);
                self.hints.retain(|(p, _), _| p != peer);
                self.hints_read.remove(peer);
                Ok(vec![])
            }
            RepoMessage::ChangesSince { since, .. } => Ok(vec![RepoMessage::Changes {
                sender_id: self.server_id.clone(),
                target_id: peer.clone(),
                manifest: self.changes_since(since)?,
            }]),
            RepoMessage::Ephemeral {
                document_id,
                session_id,
                count,
                data,
                ..
            } => Ok(self
                .live_peers
                .iter()
                .filter(|p| *p != peer)
                .map(|p| RepoMessage::Ephemeral {
                    sender_id: peer.clone(),
                    target_id: p.clone(),
                    document_id,
                    session_id: session_id.clone(),
                    count,
                    data: data.clone(),
                })
                .collect()),
            _ => Ok(vec![]),
        };
        out.map(Step::Done)
    }

    /// Documents changed after `since`, in `seq` order.
    pub fn changes_since(&self, since: u64) -> Result<Manifest, StoreError> {
        let rows = self.sql.query(
            "SELECT id, seq, heads FROM documents WHERE seq > ? ORDER BY seq",
            &[int(since)],
        )?;
        let documents = rows
            .iter()
            .filter_map(|r| {
                let id = r.first()?.as_str()?.parse().ok()?;
                Some(ManifestEntry {
                    document_id: id,
                    seq: uint(r.get(1)),
                    heads: heads_from_blob(r.get(2)?.as_bytes()?),
                })
            })
            .collect();
        Ok(Manifest {
            seq: self.seq,
            documents,
        })
    }

    /// Rewrites every stored document as one snapshot.
    pub fn force_compact(&mut self, now: u64) -> Result<(), StoreError> {
        for id in self.document_ids()? {
            if self.load(&id)? {
                self.compact(now, &id)?;
            }
        }
        Ok(())
    }

    /// Every stored document, loaded (for export and tests).
    pub fn export_docs(&mut self) -> Result<Docs, StoreError> {
        let ids = self.document_ids()?;
        self.export_some(&ids)
    }

    /// The named documents that are stored (e.g. only the root, for the
    /// views that read nothing else), loaded.
    pub fn export_some(&mut self, ids: &[DocumentId]) -> Result<Docs, StoreError> {
        let mut out = Docs::new();
        for id in ids.iter().copied() {
            if self.load(&id)? {
                if let Some(l) = self.docs.get(&id) {
                    out.insert(id, l.doc.clone());
                }
            }
        }
        Ok(out)
    }

    /// Document `id` for a one-off read (the export): a copy of the one in
    /// memory, or loaded from storage without entering the cache (a pass
    /// over every document would evict what the devices work on); `None`
    /// when not stored.
    pub fn read_document(&self, id: &DocumentId) -> Result<Option<Automerge>, StoreError> {
        if let Some(l) = self.docs.get(id) {
            return Ok(Some(l.doc.clone()));
        }
        let bytes = chunks::read_all(&self.sql, id)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Automerge::load(&bytes)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(*id))
    }

    /// Drops the in-memory copies of documents (they reload lazily), as a
    /// memory-pressure valve or to measure cold loads.
    pub fn unload_all(&mut self) {
        self.docs.clear();
    }

    /// Loads document `id` from storage now rather than on its first
    /// message (warm-up, and to measure cold loads); false if not stored.
    pub fn preload(&mut self, id: &DocumentId) -> Result<bool, StoreError> {
        self.load(id)
    }

    fn document_ids(&self) -> Result<Vec<DocumentId>, StoreError> {
        Ok(self
            .sql
            .query("SELECT id FROM documents ORDER BY id", &[])?
            .iter()
            .filter_map(|r| r.first()?.as_str()?.parse().ok())
            .collect())
    }

    /// Loads `id` into memory if stored; false when it does not exist.
    fn load(&mut self, id: &DocumentId) -> Result<bool, StoreError> {
        self.tick += 1;
        if let Some(l) = self.docs.get_mut(id) {
            l.last_used = self.tick;
            return Ok(true);
        }
        let rows = self.sql.query(
            "SELECT snapshot_bytes, incremental_bytes, chunk_count FROM documents WHERE id = ?",
            &[id.to_string().into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let snapshot_bytes = uint(row.first());
        let incremental_bytes = uint(row.get(1));
        self.docs
            .make_room(cache::estimate(snapshot_bytes + incremental_bytes), None);
        let bytes = chunks::read_all(&self.sql, id)?;
        let doc = Automerge::load(&bytes).map_err(|_| StoreError::Corrupt(*id))?;
        self.docs.insert(
            *id,
            Loaded {
                persisted_heads: doc.get_heads(),
                doc,
                snapshot_bytes,
                incremental_bytes,
                chunk_count: uint(row.get(2)),
                last_used: self.tick,
                actors: actors::known_actors(&bytes),
            },
        );
        Ok(true)
    }

    /// Documents currently in memory.
    pub fn loaded_count(&self) -> usize {
        self.docs.len()
    }

    /// Estimated memory of the documents in memory (see [`cache`]).
    pub fn loaded_bytes(&self) -> u64 {
        self.docs.held_bytes()
    }

    fn state(&mut self, peer: &PeerId, id: &DocumentId) -> Result<&mut State, StoreError> {
        let key = (peer.clone(), *id);
        if !self.states.contains_key(&key) {
            self.read_hints(peer)?;
            let state = self
                .hints
                .get(&key)
                .and_then(|b| State::decode(b).ok())
                .unwrap_or_default();
            self.states.insert(key.clone(), state);
        }
        Ok(self.states.entry(key).or_default())
    }

    /// Reads every stored hint of `peer` into `hints`, once (those changed
    /// in memory since are newer and stay).
    fn read_hints(&mut self, peer: &PeerId) -> Result<(), StoreError> {
        if self.hints_read.contains(peer) {
            return Ok(());
        }
        let rows = self.sql.query(
            "SELECT document_id, state FROM sync_states WHERE peer_id = ?",
            &[peer.as_str().into()],
        )?;
        for r in rows {
            let (Some(id), Some(state)) = (
                r.first()
                    .and_then(SqlValue::as_str)
                    .and_then(|s| s.parse::<DocumentId>().ok()),
                r.get(1).and_then(SqlValue::as_bytes),
            ) else {
                continue;
            };
            self.hints
                .entry((peer.clone(), id))
                .or_insert_with(|| state.to_vec());
        }
        self.hints_read.insert(peer.clone());
        Ok(())
    }

    /// Notes the hint of (peer, doc) from its current sync state: kept in
    /// memory, written later (`dirty_hints`).
    fn note_hint(&mut self, key: &(PeerId, DocumentId)) {
        let hint = self.states.get(key).map(State::encode).unwrap_or_default();
        if self.hints.get(key) != Some(&hint) {
            self.hints.insert(key.clone(), hint);
            self.dirty_hints.insert(key.clone());
        }
    }

    /// Writes the changed hints (all, or only `peer`'s) as part of the
    /// caller's transaction.
    fn write_hints(
        sql: &S,
        hints: &BTreeMap<(PeerId, DocumentId), Vec<u8>>,
        dirty: &BTreeSet<(PeerId, DocumentId)>,
        peer: Option<&PeerId>,
    ) -> Result<(), StoreError> {
        for key in dirty.iter().filter(|k| peer.is_none_or(|p| k.0 == *p)) {
            if let Some(hint) = hints.get(key) {
                sql.exec(
                    "INSERT OR REPLACE INTO sync_states (peer_id, document_id, state) VALUES (?, ?, ?)",
                    &[key.0.as_str().into(), key.1.to_string().into(), hint.as_slice().into()],
                )?;
            }
        }
        Ok(())
    }

    /// Writes the sync hints changed in memory (all, or only `peer`'s), in
    /// one transaction. The shell calls it at the end of an HTTP batch and
    /// the alarm; a peer's `leave` does it for that peer. Hints lost in a
    /// crash only make the next sync with that peer start further back.
    pub fn flush_hints(&mut self, peer: Option<&PeerId>) -> Result<(), StoreError> {
        if !self
            .dirty_hints
            .iter()
            .any(|k| peer.is_none_or(|p| k.0 == *p))
        {
            return Ok(());
        }
        let (hints, dirty) = (&self.hints, &self.dirty_hints);
        self.sql
            .transaction(|sql| Self::write_hints(sql, hints, dirty, peer))?;
        self.dirty_hints.retain(|k| peer.is_some_and(|p| k.0 != *p));
        Ok(())
    }

    /// Forgets the sync state of (peer, doc): the next message starts over.
    fn reset_state(&mut self, peer: &PeerId, id: &DocumentId) -> Result<(), StoreError> {
        self.states.remove(&(peer.clone(), *id));
        self.hints.remove(&(peer.clone(), *id));
        self.dirty_hints.remove(&(peer.clone(), *id));
        self.sql.exec(
            "DELETE FROM sync_states WHERE peer_id = ? AND document_id = ?",
            &[peer.as_str().into(), id.to_string().into()],
        )?;
        Ok(())
    }

    /// Refuses a message: the peer's sync state starts afresh, and a crash
    /// marker written for it goes, since the
    /// message will not be applied: a marker left behind would count as a
    /// crash at the next start of the object.
    fn reject<T>(
        &mut self,
        peer: &PeerId,
        id: &DocumentId,
        err: StoreError,
    ) -> Result<T, StoreError> {
        self.sql.exec(
            "DELETE FROM in_flight WHERE peer_id = ? AND document_id = ?",
            &[peer.as_str().into(), id.to_string().into()],
        )?;
        self.reset_state(peer, id)?;
        Err(err)
    }

    /// The next sync message to `peer` for `id`. Its flags tell the device
    /// that we take v2 messages: where we have nothing (or far less than
    /// it), it sends the whole document compressed, which the admission
    /// inflates within its bound
    /// ([`admit_device_message`](myflashplay_client::sync::admit_device_message)).
    fn generate(&mut self, peer: &PeerId, id: &DocumentId) -> Option<RepoMessage> {
        let loaded = self.docs.get(id)?;
        let state = self.states.get_mut(&(peer.clone(), *id))?;
        let message = loaded.doc.generate_sync_message(state)?;
        Some(RepoMessage::Sync(DocMessage {
            sender_id: self.server_id.clone(),
            target_id: peer.clone(),
            document_id: *id,
            data: message.encode(),
        }))
    }

    /// Writes what changed in `loaded` since its persisted heads: a delta,
    /// or a new snapshot when the deltas grew to the snapshot's size or
    /// number [`MAX_CHUNKS`]. Part of the caller's transaction.
    fn persist(
        sql: &S,
        now: u64,
        seq: u64,
        id: &DocumentId,
        loaded: Option<&mut Loaded>,
    ) -> Result<(), StoreError> {
        let Some(loaded) = loaded else {
            return Err(StoreError::Corrupt(*id));
        };
        if loaded.snapshot_bytes == 0 {
            // Nothing stored yet (a document that arrived whole, or its
            // first change): a snapshot, without encoding a delta first.
            Self::write_snapshot(sql, seq, id, loaded)?;
        } else {
            let delta = loaded.doc.save_after(&loaded.persisted_heads);
            let delta_len = delta.len() as u64;
            if loaded.incremental_bytes + delta_len >= loaded.snapshot_bytes
                || loaded.chunk_count + 1 >= MAX_CHUNKS
            {
                Self::write_snapshot(sql, seq, id, loaded)?;
            } else {
                chunks::write(sql, id, INCREMENTAL, seq, &delta)?;
                loaded.incremental_bytes += delta_len;
                loaded.chunk_count += 1;
            }
        }
        loaded.persisted_heads = loaded.doc.get_heads();
        Self::write_row(sql, now, seq, id, loaded)
    }

    fn write_snapshot(
        sql: &S,
        key: u64,
        id: &DocumentId,
        loaded: &mut Loaded,
    ) -> Result<(), StoreError> {
        let snapshot = loaded.doc.save();
        chunks::delete_all(sql, id)?;
        chunks::write(sql, id, SNAPSHOT, key, &snapshot)?;
        loaded.snapshot_bytes = snapshot.len() as u64;
        loaded.incremental_bytes = 0;
        loaded.chunk_count = 1;
        Ok(())
    }

    fn write_row(
        sql: &S,
        now: u64,
        seq: u64,
        id: &DocumentId,
        loaded: &Loaded,
    ) -> Result<(), StoreError> {
        sql.exec(
            "INSERT OR REPLACE INTO documents (id, heads, seq, snapshot_bytes, incremental_bytes, chunk_count, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                id.to_string().into(),
                heads_blob(&loaded.persisted_heads).into(),
                int(seq),
                int(loaded.snapshot_bytes),
                int(loaded.incremental_bytes),
                int(loaded.chunk_count),
                int(now),
            ],
        )?;
        Ok(())
    }

    fn compact(&mut self, now: u64, id: &DocumentId) -> Result<(), StoreError> {
        let seq = self.seq;
        let Some(loaded) = self.docs.get_mut(id) else {
            return Ok(());
        };
        let sql = &self.sql;
        let result = sql.transaction(|sql| {
            // Keep the document's own seq: compaction is not a change.
            let doc_seq = uint(
                sql.query(
                    "SELECT seq FROM documents WHERE id = ?",
                    &[id.to_string().into()],
                )?
                .first()
                .and_then(|r| r.first()),
            );
            Self::write_snapshot(sql, seq.max(doc_seq), id, loaded)?;
            loaded.persisted_heads = loaded.doc.get_heads();
            Self::write_row(sql, now, doc_seq, id, loaded)
        });
        self.docs.reaccount(id);
        self.docs.make_room(0, Some(id));
        result
    }
}
