//! The device side of sync: one [`SyncClient`] per device, talking to the
//! user's server peer over [`RepoMessage`]s.
//!
//! Sans-IO: the caller moves messages. A sync round is:
//! 1. Send [`SyncClient::poll_messages`] followed by [`SyncClient::start`],
//!    the `changes-since` manifest question: placed last, it is answered
//!    after the server applied what this batch pushes, so the answer's
//!    `seq` already covers this device's own changes.
//! 2. Feed every answer to [`SyncClient::handle_message`], then send what
//!    [`SyncClient::poll_messages`] returns; repeat until it returns nothing
//!    ([`SyncClient::is_quiet`]).
//!
//! Only documents that changed on the server since the last round (from
//! the manifest) or locally since they were last in agreement are synced,
//! so a reconnect with nothing new costs one small round trip whatever the
//! number of documents.

use super::check::{check_sync_message, CheckError, Limits};
use super::manifest::Manifest;
use super::messages::{DocMessage, RepoMessage};
use super::peer_id::PeerId;
use crate::{Docs, DocumentId};
use automerge::sync::{Message, State, SyncDoc};
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The peer id the server uses until a `peer` message names another.
pub const SERVER_PEER_ID: &str = "myflashplay-server";

/// Why a message from the server was not applied. The document's sync
/// state is reset, so the next round starts that document afresh.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The sync message failed the hostile-input check.
    #[error("sync message for {0} refused: {1}")]
    Check(DocumentId, CheckError),
    /// Automerge could not decode the sync message.
    #[error("sync message for {0} undecodable: {1}")]
    Decode(DocumentId, automerge::sync::ReadMessageError),
    /// Automerge refused to apply it.
    #[error("sync message for {0} not applied: {1}")]
    Apply(DocumentId, Box<automerge::AutomergeError>),
    /// The server sent an `error` message.
    #[error("server error: {0}")]
    Server(String),
    /// The server refused part of this document's sync message (an
    /// `error` naming the document); its sync state was reset.
    #[error("sync of {0} refused by the server: {1}")]
    Refused(DocumentId, String),
}

/// Sync messages a document may send without progress (neither side's
/// heads moved) before its sync state restarts from scratch: a round that
/// went astray (a lost frame, a state that no longer matches the server's)
/// starts over instead of looping.
pub const MAX_IDLE_MESSAGES: u32 = 8;

/// What a device keeps between sessions so that the next round is cheap:
/// the last manifest `seq` and the heads both sides agreed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientState {
    /// The server's `seq` after the last completed round.
    pub last_seq: u64,
    /// Per document, the heads the server was known to have.
    pub synced_heads: BTreeMap<DocumentId, Vec<ChangeHash>>,
}

/// A document's heads on both sides at its last message, and how many
/// messages it sent since they last moved.
#[derive(Debug, Default)]
struct Idle {
    ours: Vec<ChangeHash>,
    theirs: Option<Vec<ChangeHash>>,
    sent: u32,
}

/// The sync driver of one device.
#[derive(Debug)]
pub struct SyncClient {
    peer_id: PeerId,
    server_id: PeerId,
    saved: ClientState,
    states: BTreeMap<DocumentId, State>,
    /// Documents in the current round that are not yet in agreement.
    active: BTreeSet<DocumentId>,
    /// The manifest `seq` to remember once every active document settles.
    pending_seq: Option<u64>,
    /// Changes were sent after the last manifest answer: the server's
    /// `seq` moved past it, so the round ends with one more (small)
    /// manifest question instead of leaving the next reconnect to re-list
    /// them.
    pushed: bool,
    /// Per active document: the heads of both sides at its last message,
    /// and how many messages it sent since they last moved.
    idle: BTreeMap<DocumentId, Idle>,
    /// Documents the server refused part of, with the local heads then:
    /// not offered again until they change or the next connection, so a
    /// change the server will not take does not loop.
    refused: BTreeMap<DocumentId, Vec<ChangeHash>>,
}

impl SyncClient {
    /// A device that has never synced.
    pub fn new(peer_id: PeerId) -> Self {
        Self::from_state(peer_id, ClientState::default())
    }

    /// A device resuming with what [`SyncClient::state`] returned earlier.
    pub fn from_state(peer_id: PeerId, saved: ClientState) -> Self {
        let server_id = PeerId::new(SERVER_PEER_ID).unwrap_or_else(|_| peer_id.clone());
        Self {
            peer_id,
            server_id,
            saved,
            states: BTreeMap::new(),
            active: BTreeSet::new(),
            pending_seq: None,
            pushed: false,
            idle: BTreeMap::new(),
            refused: BTreeMap::new(),
        }
    }

    /// This device's peer id.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// What to persist on the device between sessions.
    pub fn state(&self) -> &ClientState {
        &self.saved
    }

    /// The `join` a WebSocket connection opens with.
    pub fn join(&self) -> RepoMessage {
        RepoMessage::join(&self.peer_id)
    }

    /// Starts a round: the manifest question.
    pub fn start(&self) -> RepoMessage {
        RepoMessage::ChangesSince {
            sender_id: self.peer_id.clone(),
            target_id: self.server_id.clone(),
            since: self.saved.last_seq,
        }
    }

    /// True when no document of the round still needs a message.
    pub fn is_quiet(&self) -> bool {
        self.active.is_empty()
    }

    /// Forgets every document's sync state, so that the next messages
    /// start each exchange afresh. Done on every (re)connection (the
    /// `peer` answer to `join`) and by a transport that suspects a lost
    /// frame (a round that stalled): whatever was in flight is sent again.
    pub fn restart(&mut self) {
        self.states.clear();
        self.idle.clear();
        self.refused.clear();
    }

    /// Applies one message from the server to `docs`.
    pub fn handle_message(&mut self, docs: &mut Docs, msg: RepoMessage) -> Result<(), ClientError> {
        match msg {
            RepoMessage::Peer { sender_id, .. } => {
                // A new connection: the server's side starts afresh too.
                self.server_id = sender_id;
                self.restart();
            }
            RepoMessage::Changes { manifest, .. } => self.handle_manifest(docs, manifest),
            RepoMessage::Sync(m) | RepoMessage::Request(m) => self.handle_sync(docs, m)?,
            RepoMessage::DocUnavailable { document_id, .. } => {
                // The server lacks it: keep local content (the next poll
                // pushes it), drop a placeholder we made for the pull.
                if docs
                    .get(&document_id)
                    .is_some_and(|d| d.get_heads().is_empty())
                {
                    docs.remove(&document_id);
                }
                self.states.remove(&document_id);
                self.active.remove(&document_id);
            }
            RepoMessage::Error {
                message,
                document_id: Some(id),
                reason,
                ..
            } => {
                // The server refused (part of) what we sent for `id` and
                // reset its side: do the same, so the next round re-sends
                // whatever it still lacks.
                self.states.remove(&id);
                self.idle.remove(&id);
                self.saved.synced_heads.remove(&id);
                self.active.remove(&id);
                if let Some(doc) = docs.get(&id) {
                    self.refused.insert(id, doc.get_heads());
                }
                return Err(ClientError::Refused(id, reason.unwrap_or(message)));
            }
            RepoMessage::Error { message, .. } => return Err(ClientError::Server(message)),
            _ => {}
        }
        Ok(())
    }

    /// The messages to send now: one per document of the round that has
    /// something to say.
    pub fn poll_messages(&mut self, docs: &Docs) -> Vec<RepoMessage> {
        for (id, doc) in docs {
            let heads = doc.get_heads();
            if self.refused.get(id).is_some_and(|h| *h == heads) {
                continue;
            }
            self.refused.remove(id);
            if self.saved.synced_heads.get(id) != Some(&heads) {
                self.active.insert(*id);
            }
        }
        let mut out = Vec::new();
        let mut settled = Vec::new();
        for id in &self.active {
            let Some(doc) = docs.get(id) else {
                settled.push(*id);
                continue;
            };
            let heads = doc.get_heads();
            let state = self.states.entry(*id).or_default();
            let idle = self.idle.entry(*id).or_default();
            if idle.ours != heads || idle.theirs != state.their_heads {
                *idle = Idle {
                    ours: heads,
                    theirs: state.their_heads.clone(),
                    sent: 0,
                };
            } else if idle.sent >= MAX_IDLE_MESSAGES {
                *state = State::new();
                idle.sent = 0;
            }
            match doc.generate_sync_message(state) {
                Some(message) => {
                    idle.sent += 1;
                    self.pushed |= !message.changes.is_empty();
                    let pull = doc.get_heads().is_empty();
                    for data in split(whole_or_changes(doc, message)) {
                        let m = DocMessage {
                            sender_id: self.peer_id.clone(),
                            target_id: self.server_id.clone(),
                            document_id: *id,
                            data,
                        };
                        // An empty local document is a pull: `request` lets
                        // the server answer `doc-unavailable` instead of
                        // creating it.
                        out.push(if pull {
                            RepoMessage::Request(m)
                        } else {
                            RepoMessage::Sync(m)
                        });
                    }
                }
                None => {
                    let heads = doc.get_heads();
                    if state.their_heads.as_ref() == Some(&heads) {
                        self.saved.synced_heads.insert(*id, heads);
                        settled.push(*id);
                    }
                }
            }
        }
        for id in settled {
            self.active.remove(&id);
            self.idle.remove(&id);
        }
        if self.active.is_empty() {
            if let Some(seq) = self.pending_seq.take() {
                self.saved.last_seq = self.saved.last_seq.max(seq);
            }
            if out.is_empty() && self.pushed {
                self.pushed = false;
                out.push(self.start());
            }
        }
        out
    }

    fn handle_manifest(&mut self, docs: &mut Docs, manifest: Manifest) {
        // A manifest answers the question that starts a round (or asks
        // again after a stall): an exchange still unsettled then may have
        // lost a frame either way, and a sync state that believes its
        // changes are in flight would never send them again. Such
        // documents start afresh.
        for id in &self.active {
            self.states.remove(id);
            self.idle.remove(id);
        }
        for entry in manifest.documents {
            let doc = docs.entry(entry.document_id).or_default();
            let id = entry.document_id;
            if doc.get_heads() != entry.heads {
                self.active.insert(id);
                // Our sync state may believe the server still has the heads
                // of the last exchange and then stay silent: start afresh.
                self.states.remove(&id);
            } else if self.active.contains(&id) {
                // Both sides hold the same heads (the answer that would have
                // said so may have been lost): the document is in sync.
                self.saved.synced_heads.insert(id, entry.heads);
                self.active.remove(&id);
                self.states.remove(&id);
                self.idle.remove(&id);
            }
        }
        self.pending_seq = Some(manifest.seq);
        self.pushed = false;
    }

    fn handle_sync(&mut self, docs: &mut Docs, m: DocMessage) -> Result<(), ClientError> {
        let id = m.document_id;
        self.active.insert(id);
        let state = self.states.entry(id).or_default();
        let result = check_sync_message(&m.data, &Limits::FROM_SERVER)
            .map_err(|e| ClientError::Check(id, e))
            .and_then(|_| Message::decode(&m.data).map_err(|e| ClientError::Decode(id, e)))
            .and_then(|message| {
                let doc = docs.entry(id).or_default();
                doc.receive_sync_message(state, message)
                    .map_err(|e| ClientError::Apply(id, Box::new(e)))
            });
        if result.is_err() {
            *state = State::new();
            self.saved.synced_heads.remove(&id);
        }
        result
    }
}

/// Changes per message a device sends, well inside the server's limit
/// (`Limits::FROM_DEVICE`: 2,000 changes, 1 MiB).
const MAX_CHANGES_PER_PART: usize = 1_000;
/// Bytes of changes per message a device sends.
const MAX_CHANGE_BYTES_PER_PART: usize = 512 * 1024;

/// Splits a sync message whose changes would exceed what the server takes
/// in one message (a device back from weeks offline) into several, each
/// with the same heads, need and have and a run of the changes in their
/// causal order. The server applies them in order (a change whose
/// dependency comes later waits in Automerge's queue), so nothing is lost
/// and no message is refused for its size.
/// A message carrying the whole document (v2, once the server said it
/// takes them: one compressed chunk where the server has nothing) goes as
/// is; one too large for a frame carries the document's changes instead
/// (the same changes), which [`split`] then cuts into frames.
fn whole_or_changes(doc: &automerge::Automerge, mut message: Message) -> Message {
    let bytes: usize = message.changes.iter().map(<[u8]>::len).sum();
    let whole_document = message.changes.iter().any(|c| c.get(8) == Some(&0));
    if whole_document && bytes > MAX_CHANGE_BYTES_PER_PART {
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        message.changes = changes.into();
    }
    message
}

fn split(message: Message) -> Vec<Vec<u8>> {
    let total: usize = message.changes.iter().map(<[u8]>::len).sum();
    if message.changes.len() <= MAX_CHANGES_PER_PART && total <= MAX_CHANGE_BYTES_PER_PART {
        return vec![message.encode()];
    }
    let mut parts = Vec::new();
    let mut run: Vec<Vec<u8>> = Vec::new();
    let mut run_bytes = 0;
    let flush = |run: &mut Vec<Vec<u8>>, parts: &mut Vec<Vec<u8>>| {
        let part = Message {
            heads: message.heads.clone(),
            need: message.need.clone(),
            have: message.have.clone(),
            changes: std::mem::take(run).into(),
            flags: None,
            version: message.version.clone(),
        };
        parts.push(part.encode());
    };
    for change in message.changes.iter() {
        if !run.is_empty()
            && (run.len() == MAX_CHANGES_PER_PART
                || run_bytes + change.len() > MAX_CHANGE_BYTES_PER_PART)
        {
            flush(&mut run, &mut parts);
            run_bytes = 0;
        }
        run_bytes += change.len();
        run.push(change.to_vec());
    }
    if !run.is_empty() {
        flush(&mut run, &mut parts);
    }
    parts
}
