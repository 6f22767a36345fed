//! One path for a device's sync message: admission (checked, decoded and
//! hashed once), apply (under a crash marker), persistence and fan-out.
//!
//! **The crash guard.** Applying changes is the one thing that can crash
//! the store (an Automerge panic; or the instance dying for reasons of its
//! own: a deploy, an eviction, a kill). Before changes are applied, a
//! marker naming them is written and [`Step::MakeDurable`] hands the caller
//! the effect "make these rows durable, then [`Engine::resume`]": the
//! replies exist only past that point, so the step cannot be skipped. A
//! marker found when the store opens counts one crash for what it names
//! (`poisoned.crashes`). Then:
//!
//! - a message with one crash, or holding a change with one, is *split*:
//!   its changes are applied one at a time, each under its own marker, so a
//!   crash names one change and every other change goes through (stock
//!   automerge-repo clients cannot split a message themselves);
//! - a change that crashed the store twice on its own is skipped; the
//!   device gets an `error` naming the document with reason
//!   [`CHANGE_REFUSED`] and both sides reset that document's sync state;
//! - success forgives earlier crashes; every refusal and every finished
//!   message clears its marker, so none outlives its message.

use super::{int, Engine, Loaded, MAX_DIRTY_HINTS};
use crate::store::actors;
use crate::store::error::StoreError;
use crate::store::schema::CRASHES_BEFORE_REFUSAL;
use crate::store::sql::Sql;
use automerge::sync::{ChunkList, Message, State, SyncDoc};
use automerge::{ActorId, Automerge};
use myflashplay_client::sync::{admit_device_message, DocMessage, PeerId, RepoMessage};
use myflashplay_client::DocumentId;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The reason of the `error` that refuses a change which crashed the
/// store twice (docs/api.md).
pub const CHANGE_REFUSED: &str = "change_refused";

/// What a crash marker names: a whole message or one change chunk.
pub(super) type Hash = [u8; 32];

fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// The next thing to do with a message.
#[must_use = "a marked message is applied only by `resume`, once its marker is durable"]
pub enum Step {
    /// Handled: send each message to its `targetId`.
    Done(Vec<RepoMessage>),
    /// A crash marker was written: make it durable (a Durable Object
    /// awaits `storage.sync()`), then call [`Engine::resume`] with this.
    MakeDurable(Box<Pending>),
}

impl Step {
    /// This step with `pushes` after its messages, as a caller sends them
    /// (a step that is not done yet is left as it is).
    pub fn followed_by(self, pushes: Vec<RepoMessage>) -> Self {
        match self {
            Step::Done(mut out) => {
                out.extend(pushes);
                Step::Done(out)
            }
            marked => marked,
        }
    }
}

/// A message admitted and marked, waiting for its marker to be durable.
pub struct Pending {
    peer: PeerId,
    id: DocumentId,
    message: Message,
    /// The marker key of the whole message.
    hash: Hash,
    new_actors: BTreeSet<ActorId>,
    plan: Plan,
    /// Crashed markers that went through: forgiven when stored.
    forgive: Vec<Hash>,
    /// Changes skipped for crashing twice.
    refused: usize,
    /// What the marker written for it names now, if any.
    marker: Option<Hash>,
}

enum Plan {
    /// Apply the message at once.
    Whole,
    /// Apply its change chunks one by one; `next` is the one marked now.
    Split { next: usize },
}

impl<S: Sql> Engine<S> {
    /// Admits a `sync`/`request` message: the hostile-input check (with
    /// the bounded inflate of its compressed parts), the hash, decoding and
    /// the actor check, once. A message without changes is handled at
    /// once; one with changes comes back marked.
    pub(super) fn admit_sync(
        &mut self,
        now: u64,
        peer: &PeerId,
        m: DocMessage,
        is_request: bool,
    ) -> Result<Step, StoreError> {
        let id = m.document_id;
        let (summary, plain) = match admit_device_message(&m.data) {
            Ok(admitted) => admitted,
            Err(e) => return self.reject(peer, &id, StoreError::Check(id, e)),
        };
        let Ok(message) = Message::decode(&plain) else {
            return self.reject(peer, &id, StoreError::Decode(id));
        };
        if let Some(out) = self.answer_from_storage(peer, &id, &message)? {
            return Ok(Step::Done(out));
        }
        if !self.load(&id)? {
            // `request` is a pull: answer that we lack it. `sync` means the
            // peer holds the document: start an empty one (it is stored
            // once changes arrive).
            if summary.chunks == 0 && is_request {
                return Ok(Step::Done(vec![RepoMessage::DocUnavailable {
                    sender_id: self.server_id.clone(),
                    target_id: peer.clone(),
                    document_id: id,
                }]));
            }
            let tick = self.tick;
            self.docs.insert(id, Loaded::empty(tick));
        }
        if actors::check_device_claims(message.changes.iter()).is_err() {
            return self.reject(peer, &id, StoreError::ForeignDevice(id));
        }
        let loaded = self.docs.get(&id).ok_or(StoreError::Corrupt(id))?;
        let Ok(new_actors) =
            actors::check_changes(&loaded.actors, &loaded.doc, message.changes.iter())
        else {
            return self.reject(peer, &id, StoreError::UnknownActor(id));
        };
        let chunks: Vec<Hash> = message.changes.iter().map(sha256).collect();
        // A one-change message is marked by its change: its crashes are
        // that change's.
        let hash = match chunks.as_slice() {
            [one] => *one,
            _ => sha256(&m.data),
        };
        let mut pending = Pending {
            peer: peer.clone(),
            id,
            message,
            hash,
            new_actors,
            plan: Plan::Whole,
            forgive: Vec::new(),
            refused: 0,
            marker: None,
        };
        // Nothing is applied before a marker is durable, so nothing is
        // pushed early here: what a push would carry comes back in order.
        let mut early = Vec::new();
        let mut collect = |m: Vec<RepoMessage>| early.extend(m);
        let step = if chunks.is_empty() {
            self.apply(&mut pending)?;
            self.finish(now, pending, &mut collect).map(Step::Done)?
        } else if self.crashes(&hash) > 0 || chunks.iter().any(|c| self.crashes(c) > 0) {
            pending.plan = Plan::Split { next: 0 };
            self.mark_next_chunk(now, pending, &mut collect)?
        } else {
            self.mark(now, &mut pending, hash)?;
            Step::MakeDurable(Box::new(pending))
        };
        Ok(step.followed_by(early))
    }

    /// Goes on with a message whose marker the caller made durable. Once
    /// the changes are applied, what the user's other live peers are sent
    /// of them goes to `push` at once, before the changes are stored: they
    /// hold the sender's changes, not the server's acknowledgement (the
    /// reply to the sender comes back in [`Step::Done`], after the store's
    /// transaction, so workerd's output gate holds it until durable). A
    /// push that outlives a failed write or a crash only gives another
    /// device a change its sender still holds unacknowledged and sends
    /// again; sync states that believe it sent are dropped with it.
    pub fn resume(
        &mut self,
        now: u64,
        mut pending: Pending,
        push: &mut dyn FnMut(Vec<RepoMessage>),
    ) -> Result<Step, StoreError> {
        if !self.load(&pending.id)? {
            let tick = self.tick;
            self.docs.insert(pending.id, Loaded::empty(tick));
        }
        match pending.plan {
            Plan::Whole => {
                self.apply(&mut pending)?;
                self.finish(now, pending, push).map(Step::Done)
            }
            Plan::Split { next } => {
                let chunk = pending.message.changes.iter().nth(next).map(<[u8]>::to_vec);
                let loaded = self
                    .docs
                    .get_mut(&pending.id)
                    .ok_or(StoreError::Corrupt(pending.id))?;
                if let Some(chunk) = chunk {
                    if loaded.doc.load_incremental(&chunk).is_err() {
                        let (peer, id) = (pending.peer.clone(), pending.id);
                        self.docs.remove(&id);
                        return self.reject(&peer, &id, StoreError::Apply(id));
                    }
                    let h = sha256(&chunk);
                    if self.crashes(&h) > 0 {
                        pending.forgive.push(h);
                    }
                }
                pending.plan = Plan::Split { next: next + 1 };
                self.mark_next_chunk(now, pending, push)
            }
        }
    }

    /// Marks the next change of a split message that has not crashed twice
    /// (skipping those); after the last one, applies the rest of the
    /// message (heads, need, have) and finishes.
    fn mark_next_chunk(
        &mut self,
        now: u64,
        mut pending: Pending,
        push: &mut dyn FnMut(Vec<RepoMessage>),
    ) -> Result<Step, StoreError> {
        let Plan::Split { mut next } = pending.plan else {
            return Err(StoreError::Corrupt(pending.id));
        };
        let hashes: Vec<Hash> = pending.message.changes.iter().map(sha256).collect();
        let chunks: Vec<&[u8]> = pending.message.changes.iter().collect();
        let doc = &self
            .docs
            .get(&pending.id)
            .ok_or(StoreError::Corrupt(pending.id))?
            .doc;
        while let Some(h) = hashes.get(next) {
            // A change the document already holds (an earlier, interrupted
            // pass stored it) is not applied again.
            let held = chunks.get(next).is_some_and(|c| {
                automerge::Change::from_bytes(c.to_vec())
                    .is_ok_and(|c| doc.get_change_meta_by_hash(&c.hash()).is_some())
            });
            if held {
                next += 1;
                continue;
            }
            if self.crashes(h) < CRASHES_BEFORE_REFUSAL {
                pending.plan = Plan::Split { next };
                self.mark(now, &mut pending, *h)?;
                return Ok(Step::MakeDurable(Box::new(pending)));
            }
            pending.refused += 1;
            next += 1;
        }
        // The whole message is forgiven, unless its key is the key of a
        // change refused just now (a one-change message is marked by that
        // change's hash, which must stay counted, or a resend would crash
        // again).
        let refused_itself =
            hashes.contains(&pending.hash) && self.crashes(&pending.hash) >= CRASHES_BEFORE_REFUSAL;
        if self.crashes(&pending.hash) > 0 && !refused_itself {
            pending.forgive.push(pending.hash);
        }
        // The changes are in (or refused): what remains is the exchange.
        pending.message.changes = ChunkList::empty();
        self.apply(&mut pending)?;
        self.finish(now, pending, push).map(Step::Done)
    }

    /// Applies the message (or what remains of it) to the document and the
    /// peer's sync state.
    fn apply(&mut self, pending: &mut Pending) -> Result<(), StoreError> {
        let (peer, id) = (pending.peer.clone(), pending.id);
        let message = std::mem::replace(&mut pending.message, empty_message());
        if matches!(pending.plan, Plan::Whole) && self.crashes(&pending.hash) > 0 {
            pending.forgive.push(pending.hash);
        }
        let mut state = std::mem::take(self.state(&peer, &id)?);
        if message.have.first().is_some_and(|h| h.last_sync.is_empty()) {
            // The peer starts from a fresh sync state (it reconnected, lost
            // a frame or was refused): so does the server, or changes it
            // believes already sent would never be sent again.
            state = State::new();
        }
        let loaded = self.docs.get_mut(&id).ok_or(StoreError::Corrupt(id))?;
        if loaded
            .doc
            .receive_sync_message(&mut state, message)
            .is_err()
        {
            self.docs.remove(&id);
            return self.reject(&peer, &id, StoreError::Apply(id));
        }
        loaded
            .actors
            .extend(std::mem::take(&mut pending.new_actors));
        self.states.insert((peer, id), state);
        Ok(())
    }

    /// Fan-out and persistence of an applied message: the user's other
    /// live peers are sent the new changes (`push`, before anything is
    /// stored: see [`Engine::resume`]); the document's new changes and the
    /// peer's sync hint are stored with the marker cleared and crashes
    /// forgiven, in one transaction; then the reply to the sender.
    fn finish(
        &mut self,
        now: u64,
        pending: Pending,
        push: &mut dyn FnMut(Vec<RepoMessage>),
    ) -> Result<Vec<RepoMessage>, StoreError> {
        let Pending {
            peer,
            id,
            forgive,
            refused,
            marker,
            ..
        } = pending;
        let loaded = self.docs.get(&id).ok_or(StoreError::Corrupt(id))?;
        if loaded.doc.get_heads() != loaded.persisted_heads {
            let pushes = self.fan_out(&peer, &id)?;
            if !pushes.is_empty() {
                push(pushes);
            }
        }
        self.persist_applied(now, &peer, &id, marker, &forgive)?;
        let mut out = Vec::new();
        if refused > 0 {
            self.reset_state(&peer, &id)?;
            out.push(RepoMessage::Error {
                sender_id: Some(self.server_id.clone()),
                target_id: Some(peer.clone()),
                message: format!(
                    "{refused} change(s) of this document crashed the server twice and were refused"
                ),
                document_id: Some(id),
                reason: Some(CHANGE_REFUSED.into()),
            });
        } else if let Some(reply) = self.generate(&peer, &id) {
            out.push(reply);
        }
        Ok(out)
    }

    /// Stores what applying changed; true when the document did. On a
    /// failure memory is dropped (it is ahead of storage) to reload.
    fn persist_applied(
        &mut self,
        now: u64,
        peer: &PeerId,
        id: &DocumentId,
        marker: Option<Hash>,
        forgive: &[Hash],
    ) -> Result<bool, StoreError> {
        let key = (peer.clone(), *id);
        let loaded = self.docs.get(id).ok_or(StoreError::Corrupt(*id))?;
        let changed = loaded.doc.get_heads() != loaded.persisted_heads;
        // The peer's sync hint waits in memory: only a message that has
        // something else to write (or many hints waiting) writes them.
        self.note_hint(&key);
        let hints_due = self.dirty_hints.len() >= MAX_DIRTY_HINTS;
        if !changed && marker.is_none() && forgive.is_empty() && !hints_due {
            return Ok(false);
        }
        let seq = self.seq + 1;
        let (hints, dirty) = (&self.hints, &self.dirty_hints);
        let docs = &mut self.docs;
        let result = self.sql.transaction(|sql| {
            if changed {
                // The document's row carries `seq`: the user's sequence is
                // the highest of them (see `Engine::open`), one row less to
                // write per change.
                Self::persist(sql, now, seq, id, docs.get_mut(id))?;
            }
            Self::write_hints(sql, hints, dirty, None)?;
            if let Some(h) = marker {
                // Only its own: another message of this peer and document
                // admitted meanwhile keeps its marker.
                sql.exec(
                    "DELETE FROM in_flight WHERE peer_id = ? AND document_id = ? AND hash = ?",
                    &[
                        peer.as_str().into(),
                        id.to_string().into(),
                        h.as_slice().into(),
                    ],
                )?;
            }
            for h in forgive {
                sql.exec(
                    "DELETE FROM poisoned WHERE hash = ?",
                    &[h.as_slice().into()],
                )?;
            }
            Ok::<_, StoreError>(())
        });
        if let Err(e) = result {
            self.docs.remove(id);
            self.states.remove(&key);
            self.hints.remove(&key);
            self.dirty_hints.remove(&key);
            return Err(e);
        }
        self.dirty_hints.clear();
        // Its stored size changed: so did its share of the budget.
        self.docs.reaccount(id);
        self.docs.make_room(0, Some(id));
        for h in forgive {
            self.suspects.remove(h);
        }
        if changed {
            self.seq = seq;
        }
        Ok(changed)
    }

    /// Every other live peer hears of a change, including one that has not
    /// synced this document yet (a deck just created on another device) and
    /// one whose sync state is only stored (the object hibernated since):
    /// `state` loads or starts it.
    fn fan_out(&mut self, from: &PeerId, id: &DocumentId) -> Result<Vec<RepoMessage>, StoreError> {
        let others: Vec<PeerId> = self
            .live_peers
            .iter()
            .filter(|p| *p != from)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for other in others {
            self.state(&other, id)?;
            out.extend(self.generate(&other, id));
        }
        Ok(out)
    }

    /// Crashes counted against `hash` so far.
    fn crashes(&self, hash: &Hash) -> i64 {
        self.suspects.get(hash).copied().unwrap_or(0)
    }

    /// Writes the crash marker of (peer, doc): what is being applied now.
    fn mark(&self, now: u64, pending: &mut Pending, hash: Hash) -> Result<(), StoreError> {
        self.sql.exec(
            "INSERT OR REPLACE INTO in_flight (peer_id, document_id, hash, started_at) VALUES (?, ?, ?, ?)",
            &[
                pending.peer.as_str().into(),
                pending.id.to_string().into(),
                hash.as_slice().into(),
                int(now),
            ],
        )?;
        pending.marker = Some(hash);
        Ok(())
    }
}

fn empty_message() -> Message {
    Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::empty(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
}

impl Loaded {
    /// A document the store does not hold yet.
    fn empty(tick: u64) -> Self {
        Self {
            doc: Automerge::new(),
            persisted_heads: Vec::new(),
            snapshot_bytes: 0,
            incremental_bytes: 0,
            chunk_count: 0,
            last_used: tick,
            actors: BTreeSet::new(),
        }
    }
}
