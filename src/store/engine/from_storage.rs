//! Sync answers read from storage, without Automerge loading the document.
//!
//! Two messages need nothing but what the `documents` and `chunks` tables
//! hold:
//!
//! - **a peer that has nothing** (no heads, no `have`, v2 flags): the
//!   answer is the whole document, and the stored chunks are what our own
//!   Automerge saved (a snapshot and its deltas, which `load_incremental`
//!   takes concatenated), so they go as they are instead of a `load` and a
//!   `save` (a fresh device, a stock client opening an account: every
//!   document, cold or warm);
//! - **a peer whose heads are the stored heads** and that sends no change:
//!   it is acknowledged (or answered with our heads, if this sync state
//!   never answered) without loading a document that is not in memory,
//!   nor running Automerge's sync round on one that is (a reconnect).
//!
//! Both mirror what `receive_sync_message` then `generate_sync_message` do
//! with these messages, state included (the tests below hold them against
//! Automerge's own answers), with two differences that change nothing
//! either side ends with: the whole-document answer's `have` says "nothing
//! beyond our heads" (which the peer holds once it applied the message)
//! where Automerge sends a Bloom filter of every change, so a change the
//! peer makes next is sent at once in both cases (here without the
//! filter's false positives); and `sent_hashes` stays empty (it only spares
//! a resend). Anything else takes the usual path.

use super::{chunks, heads_from_blob, uint, Engine};
use crate::store::error::StoreError;
use crate::store::sql::{Sql, SqlValue};
use automerge::sync::{
    BloomFilter, Capability, ChunkList, Have, Message, MessageFlags, MessageVersion, State,
};
use automerge::ChangeHash;
use myflashplay_client::sync::{DocMessage, PeerId, RepoMessage};
use myflashplay_client::DocumentId;

/// Largest stored form sent as it is (a larger document goes the usual
/// way, as one `save()`).
const MAX_STORED_ANSWER_BYTES: u64 = 4 << 20;

/// What the `documents` row says of a stored document.
struct Stored {
    heads: Vec<ChangeHash>,
    bytes: u64,
}

impl<S: Sql> Engine<S> {
    /// Answers `message` of `peer` about `id` from storage when it can
    /// (the module's two cases); `None` means: take the usual path.
    pub(super) fn answer_from_storage(
        &mut self,
        peer: &PeerId,
        id: &DocumentId,
        message: &Message,
    ) -> Result<Option<Vec<RepoMessage>>, StoreError> {
        if !message.changes.is_empty() || !message.need.is_empty() || message.have.len() > 1 {
            return Ok(None);
        }
        let flags = message.flags;
        if flags.is_some_and(|f| f.contains(MessageFlags::READ_ONLY)) {
            return Ok(None);
        }
        let fresh_start = message.have.first().is_none_or(|h| h.last_sync.is_empty());
        let has_nothing = message.heads.is_empty()
            && message
                .have
                .iter()
                .all(|h| h.last_sync.is_empty() && h.bloom.to_bytes().is_empty())
            && flags.is_some();
        let stored = match self.docs.get(id) {
            // In memory: only when storage holds all of it (it does after
            // every message; a document started empty is not stored yet).
            Some(l) if l.doc.get_heads() != l.persisted_heads => return Ok(None),
            Some(l) => Some(Stored {
                heads: l.persisted_heads.clone(),
                bytes: l.stored_bytes(),
            }),
            None => self.stored(id)?,
        };
        let Some(stored) = stored else {
            return Ok(None);
        };
        if stored.heads.is_empty() {
            return Ok(None);
        }
        // Automerge's heads are sorted; so are the stored ones.
        let acknowledged = message.heads == stored.heads;
        // Their last sync must be known to us, or Automerge answers with a
        // reset: only heads we hold at the top are known without the
        // document.
        let last_sync_known = message
            .have
            .iter()
            .flat_map(|h| &h.last_sync)
            .all(|h| stored.heads.contains(h));
        if !(has_nothing || acknowledged && last_sync_known)
            || has_nothing && stored.bytes > MAX_STORED_ANSWER_BYTES
        {
            return Ok(None);
        }
        let whole = if has_nothing {
            Some(chunks::read_all(&self.sql, id)?)
        } else {
            None
        };
        let state = self.state(peer, id)?;
        if state.needs_reset || state.read_only {
            return Ok(None);
        }
        if fresh_start {
            // As `apply`: a peer starting afresh restarts ours too.
            *state = State::new();
        }
        receive(state, message, &stored.heads);
        let reply = match whole {
            Some(bytes) => Some(whole_document(state, &stored.heads, bytes)),
            None => acknowledge(state, &stored.heads),
        };
        let key = (peer.clone(), *id);
        self.note_hint(&key);
        Ok(Some(
            reply
                .map(|m| {
                    RepoMessage::Sync(DocMessage {
                        sender_id: self.server_id.clone(),
                        target_id: peer.clone(),
                        document_id: *id,
                        data: m.encode(),
                    })
                })
                .into_iter()
                .collect(),
        ))
    }

    /// The stored heads (sorted, as Automerge's) and size of `id`.
    fn stored(&self, id: &DocumentId) -> Result<Option<Stored>, StoreError> {
        let rows = self.sql.query(
            "SELECT heads, snapshot_bytes, incremental_bytes FROM documents WHERE id = ?",
            &[id.to_string().into()],
        )?;
        Ok(rows.first().map(|r| {
            let mut heads = heads_from_blob(r.first().and_then(SqlValue::as_bytes).unwrap_or(&[]));
            heads.sort();
            Stored {
                heads,
                bytes: uint(r.get(1)) + uint(r.get(2)),
            }
        }))
    }
}

/// `receive_sync_message` of a message without changes or needs whose
/// heads are empty or ours (`ours`): every head is known.
fn receive(state: &mut State, message: &Message, ours: &[ChangeHash]) {
    state.in_flight = false;
    if let Some(flags) = message.flags {
        let mut caps = vec![Capability::MessageV2];
        if flags.contains(MessageFlags::SUPPORTS_SYNC_RESET) {
            caps.push(Capability::SyncReset);
        }
        state.their_capabilities = Some(caps);
        if flags.contains(MessageFlags::SYNC_RESET) {
            state.sent_hashes.clear();
        }
        state.peer_read_only = false;
    }
    // Every hash we sent is an ancestor of our heads: with heads equal to
    // ours they hold them all; with none, they hold nothing (and the
    // state starts over below).
    state.sent_hashes.clear();
    if message.heads == ours {
        state.last_sent_heads = ours.to_vec();
    }
    state.shared_heads.clone_from(&message.heads);
    if message.heads.is_empty() {
        state.last_sent_heads = Vec::new();
    }
    state.their_have = Some(message.have.clone());
    state.their_heads = Some(message.heads.clone());
    state.their_need = Some(Vec::new());
}

/// A `have` saying we hold nothing beyond `heads`.
fn nothing_since(heads: &[ChangeHash]) -> Have {
    Have {
        last_sync: heads.to_vec(),
        bloom: BloomFilter::from_hashes(std::iter::empty::<ChangeHash>()),
    }
}

/// Our flags: we understand a sync reset.
fn our_flags() -> Option<MessageFlags> {
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    Some(flags)
}

/// `generate_sync_message` for a peer that has nothing: the whole
/// document (the stored `bytes`) with our heads.
fn whole_document(state: &mut State, ours: &[ChangeHash], bytes: Vec<u8>) -> Message {
    state.have_responded = true;
    state.last_sent_heads = ours.to_vec();
    state.in_flight = true;
    Message {
        heads: ours.to_vec(),
        need: Vec::new(),
        have: vec![nothing_since(ours)],
        changes: ChunkList::from(bytes),
        flags: our_flags(),
        version: MessageVersion::V2,
    }
}

/// `generate_sync_message` for a peer with our heads: nothing to send, so
/// nothing at all once this state has answered; else our heads, with an
/// empty summary of what we have since.
fn acknowledge(state: &mut State, ours: &[ChangeHash]) -> Option<Message> {
    if state.last_sent_heads == ours && state.have_responded {
        return None;
    }
    let supports_v2 = state
        .their_capabilities
        .as_ref()
        .is_some_and(|c| c.contains(&Capability::MessageV2));
    state.have_responded = true;
    state.last_sent_heads = ours.to_vec();
    state.in_flight = true;
    Some(Message {
        heads: ours.to_vec(),
        need: Vec::new(),
        have: vec![nothing_since(&state.shared_heads)],
        changes: ChunkList::empty(),
        flags: our_flags(),
        version: if supports_v2 {
            MessageVersion::V2
        } else {
            MessageVersion::V1
        },
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Automerge, ROOT};

    fn peer(s: &str) -> PeerId {
        PeerId::new(s).unwrap()
    }

    fn doc_id() -> DocumentId {
        DocumentId::from_bytes([7; 16])
    }

    fn sync(from: &PeerId, data: Vec<u8>, request: bool) -> RepoMessage {
        let m = DocMessage {
            sender_id: from.clone(),
            target_id: peer("server"),
            document_id: doc_id(),
            data,
        };
        if request {
            RepoMessage::Request(m)
        } else {
            RepoMessage::Sync(m)
        }
    }

    /// The server's sync messages among `replies`, decoded.
    fn answers(replies: Vec<RepoMessage>) -> Vec<Message> {
        replies
            .into_iter()
            .filter_map(|r| match r {
                RepoMessage::Sync(m) => Some(Message::decode(&m.data).unwrap()),
                _ => None,
            })
            .collect()
    }

    /// A device that made `rounds` x 5 changes, syncing after each round
    /// (so storage holds a snapshot and deltas), and the store it synced to.
    fn stored(rounds: i64) -> (Engine<Sqlite>, Automerge) {
        let mut server = Engine::open(Sqlite::in_memory().unwrap(), 1).unwrap();
        let device = peer("device");
        let mut doc = AutoCommit::new();
        let mut state = State::new();
        for round in 0..rounds {
            for k in 0..5 {
                doc.put(ROOT, format!("k{round}.{k}"), round * k).unwrap();
                doc.commit();
            }
            for _ in 0..10 {
                let Some(m) = doc.sync().generate_sync_message(&mut state) else {
                    break;
                };
                let out = server
                    .handle_message(2, &device, sync(&device, m.encode(), false))
                    .unwrap();
                for a in answers(out) {
                    doc.sync().receive_sync_message(&mut state, a).unwrap();
                }
            }
        }
        server.unload_all();
        (server, doc.document().clone())
    }

    /// Automerge's own answer to `m` and the state it keeps, from the
    /// stored bytes loaded.
    fn reference(server: &Engine<Sqlite>, state: &mut State, m: Message) -> Option<Message> {
        let mut doc = Automerge::load(&chunks::read_all(&server.sql, &doc_id()).unwrap()).unwrap();
        doc.receive_sync_message(state, m).unwrap();
        doc.generate_sync_message(state)
    }

    fn same_state_but_sent_hashes(ours: &State, automerge: &State) {
        let mut automerge = automerge.clone();
        automerge.sent_hashes.clear();
        assert_eq!(ours, &automerge);
    }

    #[test]
    fn a_peer_with_nothing_gets_the_stored_chunks_and_the_state_automerge_keeps() {
        let (mut server, device_doc) = stored(4);
        let fresh = peer("fresh");
        let mut doc = Automerge::new();
        let mut state = State::new();
        let mut reference_state = State::new();
        let first = doc.generate_sync_message(&mut state).unwrap();
        let expected = reference(&server, &mut reference_state, first.clone()).unwrap();
        let out = server
            .handle_message(3, &fresh, sync(&fresh, first.encode(), true))
            .unwrap();
        assert_eq!(server.loaded_count(), 0, "answered without loading");
        let [answer] = answers(out).try_into().unwrap();
        assert_eq!(answer.heads, expected.heads);
        assert_eq!(answer.need, expected.need);
        assert_eq!(answer.flags, expected.flags);
        assert_eq!(answer.version, MessageVersion::V2);
        assert_eq!(answer.have, vec![nothing_since(&expected.heads)]);
        same_state_but_sent_hashes(&server.states[&(fresh.clone(), doc_id())], &reference_state);
        // The peer loads it and acknowledges; nothing more is said.
        doc.receive_sync_message(&mut state, answer).unwrap();
        assert_eq!(doc.get_heads(), device_doc.get_heads());
        let ack = doc.generate_sync_message(&mut state).unwrap();
        assert_eq!(reference(&server, &mut reference_state, ack.clone()), None);
        let out = server
            .handle_message(4, &fresh, sync(&fresh, ack.encode(), false))
            .unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(server.loaded_count(), 0);
        same_state_but_sent_hashes(&server.states[&(fresh.clone(), doc_id())], &reference_state);
        assert_eq!(doc.generate_sync_message(&mut state), None);
        // Its next change goes out at once, as after Automerge's answer.
        doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "mine", 1).map(|_| ()))
            .unwrap();
        let next = doc.generate_sync_message(&mut state).unwrap();
        assert_eq!(next.changes.len(), 1);
    }

    #[test]
    fn a_peer_with_our_heads_gets_automerges_own_answer_without_a_load() {
        our_heads_answered(false);
    }

    #[test]
    fn a_loaded_document_answers_a_peer_with_our_heads_the_same() {
        our_heads_answered(true);
    }

    fn our_heads_answered(loaded: bool) {
        let (mut server, device_doc) = stored(3);
        if loaded {
            assert!(server.preload(&doc_id()).unwrap());
        }
        let expect_loaded = usize::from(loaded);
        let holder = peer("holder");
        let mut doc = device_doc.clone();
        let mut state = State::new();
        let mut reference_state = State::new();
        let first = doc.generate_sync_message(&mut state).unwrap();
        let expected = reference(&server, &mut reference_state, first.clone()).unwrap();
        let out = server
            .handle_message(3, &holder, sync(&holder, first.encode(), false))
            .unwrap();
        assert_eq!(server.loaded_count(), expect_loaded);
        let [answer] = answers(out).try_into().unwrap();
        assert_eq!(answer.clone().encode(), expected.encode(), "the same bytes");
        assert_eq!(server.states[&(holder.clone(), doc_id())], reference_state);
        doc.receive_sync_message(&mut state, answer).unwrap();
        if let Some(m) = doc.generate_sync_message(&mut state) {
            let expected = reference(&server, &mut reference_state, m.clone());
            let out = server
                .handle_message(4, &holder, sync(&holder, m.encode(), false))
                .unwrap();
            assert_eq!(
                answers(out)
                    .into_iter()
                    .map(Message::encode)
                    .collect::<Vec<_>>(),
                expected
                    .into_iter()
                    .map(Message::encode)
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(server.loaded_count(), expect_loaded);
    }

    #[test]
    fn anything_else_takes_the_usual_path() {
        let (mut server, device_doc) = stored(2);
        let other = peer("other");
        // A peer with a change of its own: loaded, applied, stored.
        let mut doc = AutoCommit::load(&device_doc.save()).unwrap();
        doc.put(ROOT, "theirs", 1).unwrap();
        doc.commit();
        let mut state = State::new();
        let m = doc.sync().generate_sync_message(&mut state).unwrap();
        let out = server
            .handle_message(3, &other, sync(&other, m.encode(), false))
            .unwrap();
        assert_eq!(server.loaded_count(), 1, "{out:?}");
        // A document the store does not hold is unavailable.
        let unknown = DocumentId::from_bytes([9; 16]);
        let first = Automerge::new()
            .generate_sync_message(&mut State::new())
            .unwrap();
        let out = server
            .handle_message(
                4,
                &other,
                RepoMessage::Request(DocMessage {
                    sender_id: other.clone(),
                    target_id: peer("server"),
                    document_id: unknown,
                    data: first.encode(),
                }),
            )
            .unwrap();
        assert!(matches!(
            out.as_slice(),
            [RepoMessage::DocUnavailable { .. }]
        ));
    }
}
