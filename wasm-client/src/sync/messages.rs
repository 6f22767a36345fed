//! The automerge-repo network protocol v1, as CBOR maps exactly as
//! `@automerge/automerge-repo` and its WebSocket adapter send them, plus the
//! `changes-since` / `changes` pair of our manifest (see [`super::manifest`]).
//!
//! Decoding is bounded: the input is capped at [`MAX_FRAME_BYTES`], strings,
//! lists and nesting have fixed caps, nothing is preallocated from a length
//! the peer declared, and every failure is a [`MessageError`], never a panic.
//! Unknown map keys are skipped (newer clients add fields), unknown
//! `type`s are refused.

use super::manifest::{Manifest, ManifestEntry};
use super::peer_id::{PeerId, PeerIdError};
use crate::{DocumentId, DocumentIdError};
use automerge::ChangeHash;
use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};

/// Largest frame (WebSocket message or HTTP body) we decode: docs/api.md's limit.
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// Largest answer a device accepts from its own server: answers carry
/// whole documents to a new device, so they may exceed what a device may
/// send (the server is authenticated and trusted not to be hostile, but a
/// cap still bounds memory).
pub const MAX_SERVER_ANSWER_BYTES: usize = 64 << 20;
/// Most messages in one `POST /sync` batch.
pub const MAX_BATCH_MESSAGES: usize = 1024;
/// Most entries in any list or map inside a message (heads, versions, ...).
const MAX_LIST: usize = 1024;
/// Longest string field we keep (error texts, session ids, storage ids).
const MAX_TEXT: usize = 1024;
/// Deepest nesting we skip through in unknown fields.
const MAX_DEPTH: u32 = 16;

/// The protocol version we speak and select.
pub const PROTOCOL_VERSION: &str = "1";

/// What a peer says about itself in `join` / `peer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    /// The peer's storage id, if it has persistent storage.
    pub storage_id: Option<String>,
    /// True for peers that keep nothing (e.g. a browser tab without storage).
    pub is_ephemeral: bool,
}

/// The body of `request` and `sync`: an Automerge sync message for one
/// document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMessage {
    /// Who sent it.
    pub sender_id: PeerId,
    /// Who it is for.
    pub target_id: PeerId,
    /// The document.
    pub document_id: DocumentId,
    /// The Automerge sync message bytes (check them with
    /// [`super::check::check_sync_message`] before Automerge sees them).
    pub data: Vec<u8>,
}

/// One storage id's heads in `remote-heads-changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHeads {
    /// Heads as the sending repo spells them (opaque strings to us).
    pub heads: Vec<String>,
    /// Milliseconds since the epoch, from the sender's clock.
    pub timestamp: u64,
}

/// Every message of protocol v1 we understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoMessage {
    /// First message of a client: who it is and what it speaks.
    Join {
        /// The client.
        sender_id: PeerId,
        /// Protocol versions offered (we select `"1"`).
        supported_protocol_versions: Vec<String>,
        /// Optional self-description.
        peer_metadata: Option<PeerMetadata>,
    },
    /// The server's answer to `join`.
    Peer {
        /// The server.
        sender_id: PeerId,
        /// The client.
        target_id: PeerId,
        /// Always `"1"` here.
        selected_protocol_version: String,
        /// The server's self-description.
        peer_metadata: Option<PeerMetadata>,
    },
    /// "Do you have this document?" with a first sync message.
    Request(DocMessage),
    /// A sync message for a document both sides are syncing.
    Sync(DocMessage),
    /// The answer to a `request` for a document the other side lacks.
    DocUnavailable {
        /// Who answers.
        sender_id: PeerId,
        /// Who asked.
        target_id: PeerId,
        /// The document.
        document_id: DocumentId,
    },
    /// Application data relayed to other peers, never stored.
    Ephemeral {
        /// Who sent it.
        sender_id: PeerId,
        /// Who it is for.
        target_id: PeerId,
        /// The document it is about.
        document_id: DocumentId,
        /// The sender's session (dedup with `count`).
        session_id: String,
        /// Increases per message within a session.
        count: u64,
        /// Opaque payload.
        data: Vec<u8>,
    },
    /// An error. Without `document_id` it is fatal and the sender closes
    /// the connection after it. With `document_id` (our extension) it is
    /// the refusal of part of one document's sync: the connection stays
    /// open and the receiver restarts that document's sync state.
    Error {
        /// Who reports it (older adapters omit it).
        sender_id: Option<PeerId>,
        /// Whom it concerns (older adapters omit it).
        target_id: Option<PeerId>,
        /// Human-readable text.
        message: String,
        /// The document whose sync message was (partly) refused.
        document_id: Option<DocumentId>,
        /// A stable machine-readable reason (e.g. `change_refused`).
        reason: Option<String>,
    },
    /// The client goes away.
    Leave {
        /// The client.
        sender_id: PeerId,
    },
    /// Subscribe to or unsubscribe from remote heads of storage ids.
    RemoteSubscriptionChange {
        /// Who sent it.
        sender_id: PeerId,
        /// Who it is for.
        target_id: PeerId,
        /// Storage ids to add.
        add: Vec<String>,
        /// Storage ids to remove.
        remove: Vec<String>,
    },
    /// Heads of a document at other storage ids changed.
    RemoteHeadsChanged {
        /// Who sent it.
        sender_id: PeerId,
        /// Who it is for.
        target_id: PeerId,
        /// The document.
        document_id: DocumentId,
        /// Storage id → its heads.
        new_heads: Vec<(String, RemoteHeads)>,
    },
    /// Ours: "which documents changed after sequence number `since`?"
    ChangesSince {
        /// The device.
        sender_id: PeerId,
        /// The server.
        target_id: PeerId,
        /// The last `seq` the device saw (0 at first).
        since: u64,
    },
    /// Ours: the answer to `changes-since`.
    Changes {
        /// The server.
        sender_id: PeerId,
        /// The device.
        target_id: PeerId,
        /// The changed documents.
        manifest: Manifest,
    },
}

/// Why bytes are not a message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Over [`MAX_FRAME_BYTES`].
    #[error("message of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed CBOR, or a value of the wrong CBOR type.
    #[error("malformed CBOR at byte {position}: {reason}")]
    Cbor {
        /// Offset of the failure.
        position: usize,
        /// What went wrong (fixed text).
        reason: &'static str,
    },
    /// A list, map or string over its cap, or nesting too deep.
    #[error("field {0} is over its size limit")]
    TooBig(&'static str),
    /// The same key twice in one map.
    #[error("duplicate key {0}")]
    DuplicateKey(&'static str),
    /// A field the message type requires is absent.
    #[error("{kind} message lacks {field}")]
    MissingField {
        /// The message type.
        kind: &'static str,
        /// The missing key.
        field: &'static str,
    },
    /// A `type` we do not know.
    #[error("unknown message type")]
    UnknownType,
    /// A `senderId` / `targetId` that is not a peer id.
    #[error("bad peer id: {0}")]
    PeerId(#[from] PeerIdError),
    /// A `documentId` that is not bs58check of 16 bytes.
    #[error("bad document id: {0}")]
    DocumentId(#[from] DocumentIdError),
    /// A head in our manifest that is not 32 bytes.
    #[error("bad change hash in manifest")]
    ChangeHash,
    /// Bytes after the message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
}

impl RepoMessage {
    /// The `join` a connection opens with (this protocol version, no
    /// metadata).
    pub fn join(sender: &PeerId) -> Self {
        Self::Join {
            sender_id: sender.clone(),
            supported_protocol_versions: vec![PROTOCOL_VERSION.to_owned()],
            peer_metadata: None,
        }
    }

    /// The `type` string on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Join { .. } => "join",
            Self::Peer { .. } => "peer",
            Self::Request(_) => "request",
            Self::Sync(_) => "sync",
            Self::DocUnavailable { .. } => "doc-unavailable",
            Self::Ephemeral { .. } => "ephemeral",
            Self::Error { .. } => "error",
            Self::Leave { .. } => "leave",
            Self::RemoteSubscriptionChange { .. } => "remote-subscription-change",
            Self::RemoteHeadsChanged { .. } => "remote-heads-changed",
            Self::ChangesSince { .. } => "changes-since",
            Self::Changes { .. } => "changes",
        }
    }

    /// The sender, when the message names one.
    pub fn sender_id(&self) -> Option<&PeerId> {
        match self {
            Self::Join { sender_id, .. }
            | Self::Peer { sender_id, .. }
            | Self::DocUnavailable { sender_id, .. }
            | Self::Ephemeral { sender_id, .. }
            | Self::Leave { sender_id }
            | Self::RemoteSubscriptionChange { sender_id, .. }
            | Self::RemoteHeadsChanged { sender_id, .. }
            | Self::ChangesSince { sender_id, .. }
            | Self::Changes { sender_id, .. } => Some(sender_id),
            Self::Request(m) | Self::Sync(m) => Some(&m.sender_id),
            Self::Error { sender_id, .. } => sender_id.as_ref(),
        }
    }

    /// The recipient, when the message names one (`join`/`leave` do not).
    pub fn target_id(&self) -> Option<&PeerId> {
        match self {
            Self::Join { .. } | Self::Leave { .. } => None,
            Self::Peer { target_id, .. }
            | Self::DocUnavailable { target_id, .. }
            | Self::Ephemeral { target_id, .. }
            | Self::RemoteSubscriptionChange { target_id, .. }
            | Self::RemoteHeadsChanged { target_id, .. }
            | Self::ChangesSince { target_id, .. }
            | Self::Changes { target_id, .. } => Some(target_id),
            Self::Request(m) | Self::Sync(m) => Some(&m.target_id),
            Self::Error { target_id, .. } => target_id.as_ref(),
        }
    }

    /// One message as a CBOR map (one WebSocket frame).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        self.encode_into(&mut e);
        e.into_writer()
    }

    /// A `POST /sync` body: a CBOR array of messages.
    pub fn encode_batch(messages: &[RepoMessage]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        written(e.array(messages.len() as u64));
        for m in messages {
            m.encode_into(&mut e);
        }
        e.into_writer()
    }

    /// One message from a frame; the whole frame must be that message.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        check_size(bytes, MAX_FRAME_BYTES)?;
        Self::decode_unchecked_size(bytes)
    }

    /// A message from the server (up to [`MAX_SERVER_ANSWER_BYTES`]).
    pub fn decode_from_server(bytes: &[u8]) -> Result<Self, MessageError> {
        check_size(bytes, MAX_SERVER_ANSWER_BYTES)?;
        Self::decode_unchecked_size(bytes)
    }

    fn decode_unchecked_size(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut r = Reader::new(bytes);
        let msg = r.message()?;
        r.finish()?;
        Ok(msg)
    }

    /// A `POST /sync` body: a CBOR array of at most [`MAX_BATCH_MESSAGES`].
    pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Self>, MessageError> {
        check_size(bytes, MAX_FRAME_BYTES)?;
        Self::decode_batch_unchecked_size(bytes)
    }

    /// The server's answer to a `POST /sync` batch (up to
    /// [`MAX_SERVER_ANSWER_BYTES`]).
    pub fn decode_batch_from_server(bytes: &[u8]) -> Result<Vec<Self>, MessageError> {
        check_size(bytes, MAX_SERVER_ANSWER_BYTES)?;
        Self::decode_batch_unchecked_size(bytes)
    }

    fn decode_batch_unchecked_size(bytes: &[u8]) -> Result<Vec<Self>, MessageError> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        r.list("batch", MAX_BATCH_MESSAGES, |r| {
            out.push(r.message()?);
            Ok(())
        })?;
        r.finish()?;
        Ok(out)
    }

    fn encode_into(&self, e: &mut Encoder<Vec<u8>>) {
        let mut fields: Vec<(&str, Value<'_>)> = vec![("type", Value::Text(self.kind()))];
        if let Some(s) = self.sender_id() {
            fields.push(("senderId", Value::Text(s.as_str())));
        }
        if let Some(t) = self.target_id() {
            fields.push(("targetId", Value::Text(t.as_str())));
        }
        let doc_text;
        match self {
            Self::Join {
                supported_protocol_versions,
                peer_metadata,
                ..
            } => {
                fields.push((
                    "supportedProtocolVersions",
                    Value::Texts(supported_protocol_versions),
                ));
                if let Some(m) = peer_metadata {
                    fields.push(("peerMetadata", Value::Metadata(m)));
                }
            }
            Self::Peer {
                selected_protocol_version,
                peer_metadata,
                ..
            } => {
                fields.push((
                    "selectedProtocolVersion",
                    Value::Text(selected_protocol_version),
                ));
                if let Some(m) = peer_metadata {
                    fields.push(("peerMetadata", Value::Metadata(m)));
                }
            }
            Self::Request(m) | Self::Sync(m) => {
                doc_text = m.document_id.to_string();
                fields.push(("documentId", Value::Text(&doc_text)));
                fields.push(("data", Value::Bytes(&m.data)));
            }
            Self::DocUnavailable { document_id, .. } => {
                doc_text = document_id.to_string();
                fields.push(("documentId", Value::Text(&doc_text)));
            }
            Self::Ephemeral {
                document_id,
                session_id,
                count,
                data,
                ..
            } => {
                doc_text = document_id.to_string();
                fields.push(("documentId", Value::Text(&doc_text)));
                fields.push(("sessionId", Value::Text(session_id)));
                fields.push(("count", Value::Uint(*count)));
                fields.push(("data", Value::Bytes(data)));
            }
            Self::Error {
                message,
                document_id,
                reason,
                ..
            } => {
                if let Some(id) = document_id {
                    doc_text = id.to_string();
                    fields.push(("documentId", Value::Text(&doc_text)));
                }
                fields.push(("message", Value::Text(message)));
                if let Some(r) = reason {
                    fields.push(("reason", Value::Text(r)));
                }
            }
            Self::Leave { .. } => {}
            Self::RemoteSubscriptionChange { add, remove, .. } => {
                fields.push(("add", Value::Texts(add)));
                fields.push(("remove", Value::Texts(remove)));
            }
            Self::RemoteHeadsChanged {
                document_id,
                new_heads,
                ..
            } => {
                doc_text = document_id.to_string();
                fields.push(("documentId", Value::Text(&doc_text)));
                fields.push(("newHeads", Value::NewHeads(new_heads)));
            }
            Self::ChangesSince { since, .. } => fields.push(("since", Value::Uint(*since))),
            Self::Changes { manifest, .. } => {
                fields.push(("seq", Value::Uint(manifest.seq)));
                fields.push(("documents", Value::Manifest(&manifest.documents)));
            }
        }
        written(e.map(fields.len() as u64));
        for (k, v) in fields {
            written(e.str(k));
            v.encode(e);
        }
    }
}

/// Writing CBOR into a `Vec` cannot fail; this names that once.
fn written<T, E: std::fmt::Debug>(r: Result<T, E>) {
    if let Err(e) = r {
        unreachable!("CBOR encoding into a Vec failed: {e:?}");
    }
}

/// A field value to encode.
enum Value<'a> {
    Text(&'a str),
    Texts(&'a [String]),
    Bytes(&'a [u8]),
    Uint(u64),
    Metadata(&'a PeerMetadata),
    NewHeads(&'a [(String, RemoteHeads)]),
    Manifest(&'a [ManifestEntry]),
}

impl Value<'_> {
    fn encode(&self, e: &mut Encoder<Vec<u8>>) {
        match self {
            Value::Text(s) => written(e.str(s)),
            Value::Texts(list) => {
                written(e.array(list.len() as u64));
                for s in *list {
                    written(e.str(s));
                }
            }
            Value::Bytes(b) => written(e.bytes(b)),
            Value::Uint(n) => written(e.u64(*n)),
            Value::Metadata(m) => {
                let n = 1 + u64::from(m.storage_id.is_some());
                written(e.map(n));
                if let Some(s) = &m.storage_id {
                    written(e.str("storageId").and_then(|e| e.str(s)));
                }
                written(e.str("isEphemeral").and_then(|e| e.bool(m.is_ephemeral)));
            }
            Value::NewHeads(list) => {
                written(e.map(list.len() as u64));
                for (storage, h) in *list {
                    written(e.str(storage).and_then(|e| e.map(2)));
                    written(e.str("heads").and_then(|e| e.array(h.heads.len() as u64)));
                    for head in &h.heads {
                        written(e.str(head));
                    }
                    written(e.str("timestamp").and_then(|e| e.u64(h.timestamp)));
                }
            }
            Value::Manifest(list) => {
                written(e.array(list.len() as u64));
                for entry in *list {
                    written(e.map(3));
                    written(
                        e.str("documentId")
                            .and_then(|e| e.str(&entry.document_id.to_string())),
                    );
                    written(e.str("seq").and_then(|e| e.u64(entry.seq)));
                    written(
                        e.str("heads")
                            .and_then(|e| e.array(entry.heads.len() as u64)),
                    );
                    for h in &entry.heads {
                        written(e.bytes(&h.0));
                    }
                }
            }
        }
    }
}

fn check_size(bytes: &[u8], max: usize) -> Result<(), MessageError> {
    if bytes.len() > max {
        return Err(MessageError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// The fields of any message, collected before the `type` is known (CBOR
/// maps may come in any key order).
#[derive(Default)]
struct Fields<'b> {
    kind: Option<&'b str>,
    sender_id: Option<&'b str>,
    target_id: Option<&'b str>,
    document_id: Option<&'b str>,
    data: Option<&'b [u8]>,
    supported_versions: Option<Vec<String>>,
    selected_version: Option<&'b str>,
    peer_metadata: Option<Option<PeerMetadata>>,
    session_id: Option<&'b str>,
    count: Option<u64>,
    message: Option<&'b str>,
    reason: Option<&'b str>,
    add: Option<Vec<String>>,
    remove: Option<Vec<String>>,
    new_heads: Option<Vec<(String, RemoteHeads)>>,
    since: Option<u64>,
    seq: Option<u64>,
    documents: Option<Vec<ManifestEntry>>,
}

/// Stores a decoded field, refusing a second occurrence of the key.
fn set<T>(slot: &mut Option<T>, key: &'static str, value: T) -> Result<(), MessageError> {
    if slot.is_some() {
        return Err(MessageError::DuplicateKey(key));
    }
    *slot = Some(value);
    Ok(())
}

fn need<T>(v: Option<T>, kind: &'static str, field: &'static str) -> Result<T, MessageError> {
    v.ok_or(MessageError::MissingField { kind, field })
}

fn peer(v: Option<&str>, kind: &'static str, field: &'static str) -> Result<PeerId, MessageError> {
    Ok(PeerId::new(need(v, kind, field)?)?)
}

fn doc_id(v: Option<&str>, kind: &'static str) -> Result<DocumentId, MessageError> {
    Ok(need(v, kind, "documentId")?.parse()?)
}

impl<'b> Fields<'b> {
    fn into_message(self) -> Result<RepoMessage, MessageError> {
        let kind_text = self.kind.ok_or(MessageError::MissingField {
            kind: "message",
            field: "type",
        })?;
        let kind: &'static str = match kind_text {
            "join" => "join",
            "peer" => "peer",
            "request" => "request",
            "sync" => "sync",
            "doc-unavailable" => "doc-unavailable",
            "ephemeral" => "ephemeral",
            "error" => "error",
            "leave" => "leave",
            "remote-subscription-change" => "remote-subscription-change",
            "remote-heads-changed" => "remote-heads-changed",
            "changes-since" => "changes-since",
            "changes" => "changes",
            _ => return Err(MessageError::UnknownType),
        };
        let sender = || peer(self.sender_id, kind, "senderId");
        let target = || peer(self.target_id, kind, "targetId");
        Ok(match kind {
            "join" => RepoMessage::Join {
                sender_id: sender()?,
                supported_protocol_versions: need(
                    self.supported_versions,
                    kind,
                    "supportedProtocolVersions",
                )?,
                peer_metadata: self.peer_metadata.flatten(),
            },
            "peer" => RepoMessage::Peer {
                sender_id: sender()?,
                target_id: target()?,
                selected_protocol_version: need(
                    self.selected_version,
                    kind,
                    "selectedProtocolVersion",
                )?
                .to_owned(),
                peer_metadata: self.peer_metadata.flatten(),
            },
            "request" | "sync" => {
                let m = DocMessage {
                    sender_id: sender()?,
                    target_id: target()?,
                    document_id: doc_id(self.document_id, kind)?,
                    data: need(self.data, kind, "data")?.to_vec(),
                };
                if kind == "sync" {
                    RepoMessage::Sync(m)
                } else {
                    RepoMessage::Request(m)
                }
            }
            "doc-unavailable" => RepoMessage::DocUnavailable {
                sender_id: sender()?,
                target_id: target()?,
                document_id: doc_id(self.document_id, kind)?,
            },
            "ephemeral" => RepoMessage::Ephemeral {
                sender_id: sender()?,
                target_id: target()?,
                document_id: doc_id(self.document_id, kind)?,
                session_id: need(self.session_id, kind, "sessionId")?.to_owned(),
                count: need(self.count, kind, "count")?,
                data: need(self.data, kind, "data")?.to_vec(),
            },
            "error" => RepoMessage::Error {
                sender_id: self.sender_id.map(PeerId::new).transpose()?,
                target_id: self.target_id.map(PeerId::new).transpose()?,
                message: need(self.message, kind, "message")?.to_owned(),
                document_id: self.document_id.map(str::parse).transpose()?,
                reason: self.reason.map(str::to_owned),
            },
            "leave" => RepoMessage::Leave {
                sender_id: sender()?,
            },
            "remote-subscription-change" => RepoMessage::RemoteSubscriptionChange {
                sender_id: sender()?,
                target_id: target()?,
                add: self.add.unwrap_or_default(),
                remove: self.remove.unwrap_or_default(),
            },
            "remote-heads-changed" => RepoMessage::RemoteHeadsChanged {
                sender_id: sender()?,
                target_id: target()?,
                document_id: doc_id(self.document_id, kind)?,
                new_heads: need(self.new_heads, kind, "newHeads")?,
            },
            "changes-since" => RepoMessage::ChangesSince {
                sender_id: sender()?,
                target_id: target()?,
                since: need(self.since, kind, "since")?,
            },
            _ => RepoMessage::Changes {
                sender_id: sender()?,
                target_id: target()?,
                manifest: Manifest {
                    seq: need(self.seq, kind, "seq")?,
                    documents: need(self.documents, kind, "documents")?,
                },
            },
        })
    }
}

/// A bounded CBOR reader over one frame.
struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Self {
            d: Decoder::new(bytes),
        }
    }

    fn cbor(&self, reason: &'static str) -> MessageError {
        MessageError::Cbor {
            position: self.d.position(),
            reason,
        }
    }

    fn finish(&self) -> Result<(), MessageError> {
        if self.d.position() != self.d.input().len() {
            return Err(MessageError::TrailingBytes);
        }
        Ok(())
    }

    fn datatype(&self) -> Result<Type, MessageError> {
        self.d.datatype().map_err(|_| self.cbor("truncated"))
    }

    fn text(&mut self, field: &'static str, max: usize) -> Result<&'b str, MessageError> {
        let s = self
            .d
            .str()
            .map_err(|_| self.cbor("expected a text string"))?;
        if s.len() > max {
            return Err(MessageError::TooBig(field));
        }
        Ok(s)
    }

    /// A byte string; automerge-repo sends `Uint8Array`s, which some CBOR
    /// encoders tag with 64 (RFC 8746 uint8 array).
    fn bytes(&mut self) -> Result<&'b [u8], MessageError> {
        if self.datatype()? == Type::Tag {
            let tag = self.d.tag().map_err(|_| self.cbor("bad tag"))?;
            if tag != Tag::new(64) {
                return Err(self.cbor("unexpected tag"));
            }
        }
        self.d
            .bytes()
            .map_err(|_| self.cbor("expected a byte string"))
    }

    /// An unsigned number; JavaScript numbers may arrive as floats.
    fn uint(&mut self) -> Result<u64, MessageError> {
        match self.datatype()? {
            Type::F16 | Type::F32 | Type::F64 => {
                let f = self.d.f64().map_err(|_| self.cbor("expected a number"))?;
                if !(0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    return Err(self.cbor("number out of range"));
                }
                Ok(f as u64)
            }
            _ => self
                .d
                .u64()
                .map_err(|_| self.cbor("expected an unsigned integer")),
        }
    }

    fn boolean(&mut self) -> Result<bool, MessageError> {
        self.d.bool().map_err(|_| self.cbor("expected a boolean"))
    }

    /// True (and consumed) when the next value is `null` or `undefined`,
    /// which JavaScript encoders emit for absent optional fields.
    fn absent(&mut self) -> Result<bool, MessageError> {
        match self.datatype()? {
            Type::Null | Type::Undefined => {
                self.d.skip().map_err(|_| self.cbor("truncated"))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Calls `item` for each element of an array of at most `max`.
    fn list(
        &mut self,
        field: &'static str,
        max: usize,
        mut item: impl FnMut(&mut Self) -> Result<(), MessageError>,
    ) -> Result<(), MessageError> {
        let len = self.d.array().map_err(|_| self.cbor("expected an array"))?;
        self.items(field, max, len, |r| item(r))
    }

    /// Calls `entry` for each key of a map of at most `max` entries; the
    /// callback reads the value.
    fn map(
        &mut self,
        field: &'static str,
        max: usize,
        mut entry: impl FnMut(&mut Self, &'b str) -> Result<(), MessageError>,
    ) -> Result<(), MessageError> {
        let len = self.d.map().map_err(|_| self.cbor("expected a map"))?;
        self.items(field, max, len, |r| {
            let key = r.text(field, MAX_TEXT)?;
            entry(r, key)
        })
    }

    fn items(
        &mut self,
        field: &'static str,
        max: usize,
        len: Option<u64>,
        mut item: impl FnMut(&mut Self) -> Result<(), MessageError>,
    ) -> Result<(), MessageError> {
        match len {
            Some(n) => {
                if n > max as u64 {
                    return Err(MessageError::TooBig(field));
                }
                for _ in 0..n {
                    item(self)?;
                }
            }
            None => {
                let mut n = 0usize;
                while self.datatype()? != Type::Break {
                    n += 1;
                    if n > max {
                        return Err(MessageError::TooBig(field));
                    }
                    item(self)?;
                }
                self.d.set_position(self.d.position() + 1);
            }
        }
        Ok(())
    }

    fn texts(&mut self, field: &'static str) -> Result<Vec<String>, MessageError> {
        let mut out = Vec::new();
        self.list(field, MAX_LIST, |r| {
            out.push(r.text(field, MAX_TEXT)?.to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// Skips one value of an unknown field, refusing deep nesting so that
    /// hostile input cannot exhaust the stack.
    fn skip(&mut self, depth: u32) -> Result<(), MessageError> {
        if depth > MAX_DEPTH {
            return Err(MessageError::TooBig("nesting"));
        }
        match self.datatype()? {
            Type::Array | Type::ArrayIndef => {
                self.list("unknown field", MAX_LIST, |r| r.skip(depth + 1))
            }
            Type::Map | Type::MapIndef => {
                let len = self.d.map().map_err(|_| self.cbor("expected a map"))?;
                self.items("unknown field", MAX_LIST, len, |r| {
                    r.skip(depth + 1)?;
                    r.skip(depth + 1)
                })
            }
            Type::Tag => {
                self.d.tag().map_err(|_| self.cbor("bad tag"))?;
                self.skip(depth + 1)
            }
            // Scalars, strings and byte strings (definite or chunked): no
            // nesting, and minicbor walks chunks without allocating.
            _ => self.d.skip().map_err(|_| self.cbor("malformed value")),
        }
    }

    fn metadata(&mut self) -> Result<Option<PeerMetadata>, MessageError> {
        if self.absent()? {
            return Ok(None);
        }
        let mut m = PeerMetadata::default();
        self.map("peerMetadata", MAX_LIST, |r, key| {
            match key {
                "storageId" => {
                    if !r.absent()? {
                        m.storage_id = Some(r.text("storageId", MAX_TEXT)?.to_owned());
                    }
                }
                "isEphemeral" => {
                    if !r.absent()? {
                        m.is_ephemeral = r.boolean()?;
                    }
                }
                _ => r.skip(1)?,
            }
            Ok(())
        })?;
        Ok(Some(m))
    }

    fn new_heads(&mut self) -> Result<Vec<(String, RemoteHeads)>, MessageError> {
        let mut out = Vec::new();
        self.map("newHeads", MAX_LIST, |r, storage| {
            let mut heads = None;
            let mut timestamp = None;
            r.map("newHeads", MAX_LIST, |r, key| match key {
                "heads" => set(&mut heads, "heads", r.texts("heads")?),
                "timestamp" => set(&mut timestamp, "timestamp", r.uint()?),
                _ => r.skip(2),
            })?;
            out.push((
                storage.to_owned(),
                RemoteHeads {
                    heads: need(heads, "remote-heads-changed", "heads")?,
                    timestamp: timestamp.unwrap_or(0),
                },
            ));
            Ok(())
        })?;
        Ok(out)
    }

    fn manifest_entries(&mut self) -> Result<Vec<ManifestEntry>, MessageError> {
        let mut out = Vec::new();
        self.list("documents", Manifest::MAX_DOCUMENTS, |r| {
            let mut document_id = None;
            let mut seq = None;
            let mut heads: Option<Vec<ChangeHash>> = None;
            r.map("documents", MAX_LIST, |r, key| match key {
                "documentId" => set(&mut document_id, "documentId", r.text("documentId", 64)?),
                "seq" => set(&mut seq, "seq", r.uint()?),
                "heads" => {
                    let mut list = Vec::new();
                    r.list("heads", MAX_LIST, |r| {
                        let h = ChangeHash::try_from(r.bytes()?)
                            .map_err(|_| MessageError::ChangeHash)?;
                        list.push(h);
                        Ok(())
                    })?;
                    set(&mut heads, "heads", list)
                }
                _ => r.skip(2),
            })?;
            out.push(ManifestEntry {
                document_id: doc_id(document_id, "changes")?,
                seq: need(seq, "changes", "seq")?,
                heads: need(heads, "changes", "heads")?,
            });
            Ok(())
        })?;
        Ok(out)
    }

    fn message(&mut self) -> Result<RepoMessage, MessageError> {
        let mut f = Fields::default();
        self.map("message", 64, |r, key| match key {
            "type" => set(&mut f.kind, "type", r.text("type", 64)?),
            "senderId" => set(&mut f.sender_id, "senderId", r.text("senderId", MAX_TEXT)?),
            "targetId" => set(&mut f.target_id, "targetId", r.text("targetId", MAX_TEXT)?),
            "documentId" => set(&mut f.document_id, "documentId", r.text("documentId", 64)?),
            "data" => set(&mut f.data, "data", r.bytes()?),
            "supportedProtocolVersions" => set(
                &mut f.supported_versions,
                "supportedProtocolVersions",
                r.texts("supportedProtocolVersions")?,
            ),
            "selectedProtocolVersion" => set(
                &mut f.selected_version,
                "selectedProtocolVersion",
                r.text("selectedProtocolVersion", 64)?,
            ),
            "peerMetadata" => set(&mut f.peer_metadata, "peerMetadata", r.metadata()?),
            "sessionId" => set(
                &mut f.session_id,
                "sessionId",
                r.text("sessionId", MAX_TEXT)?,
            ),
            "count" => set(&mut f.count, "count", r.uint()?),
            "message" => set(&mut f.message, "message", r.text("message", MAX_TEXT)?),
            "reason" => set(&mut f.reason, "reason", r.text("reason", 64)?),
            "add" => set(&mut f.add, "add", r.texts("add")?),
            "remove" => set(&mut f.remove, "remove", r.texts("remove")?),
            "newHeads" => set(&mut f.new_heads, "newHeads", r.new_heads()?),
            "since" => set(&mut f.since, "since", r.uint()?),
            "seq" => set(&mut f.seq, "seq", r.uint()?),
            "documents" => set(&mut f.documents, "documents", r.manifest_entries()?),
            _ => r.skip(1),
        })?;
        f.into_message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PeerId {
        PeerId::new(s).unwrap()
    }

    fn samples() -> Vec<RepoMessage> {
        let doc = DocumentId::from_bytes([9; 16]);
        let meta = PeerMetadata {
            storage_id: Some("store-1".into()),
            is_ephemeral: false,
        };
        vec![
            RepoMessage::Join {
                sender_id: p("dev"),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: Some(meta.clone()),
            },
            RepoMessage::Peer {
                sender_id: p("srv"),
                target_id: p("dev"),
                selected_protocol_version: "1".into(),
                peer_metadata: Some(PeerMetadata::default()),
            },
            RepoMessage::Request(DocMessage {
                sender_id: p("dev"),
                target_id: p("srv"),
                document_id: doc,
                data: vec![0x42, 0, 0, 0, 0],
            }),
            RepoMessage::Sync(DocMessage {
                sender_id: p("dev"),
                target_id: p("srv"),
                document_id: doc,
                data: vec![1, 2, 3],
            }),
            RepoMessage::DocUnavailable {
                sender_id: p("srv"),
                target_id: p("dev"),
                document_id: doc,
            },
            RepoMessage::Ephemeral {
                sender_id: p("dev"),
                target_id: p("srv"),
                document_id: doc,
                session_id: "s".into(),
                count: 3,
                data: vec![7],
            },
            RepoMessage::Error {
                sender_id: Some(p("srv")),
                target_id: None,
                message: "bad".into(),
                document_id: None,
                reason: None,
            },
            RepoMessage::Error {
                sender_id: Some(p("srv")),
                target_id: Some(p("dev")),
                message: "a change of this document crashed the server twice".into(),
                document_id: Some(doc),
                reason: Some("change_refused".into()),
            },
            RepoMessage::Leave {
                sender_id: p("dev"),
            },
            RepoMessage::RemoteSubscriptionChange {
                sender_id: p("dev"),
                target_id: p("srv"),
                add: vec!["a".into()],
                remove: vec![],
            },
            RepoMessage::RemoteHeadsChanged {
                sender_id: p("srv"),
                target_id: p("dev"),
                document_id: doc,
                new_heads: vec![(
                    "store-1".into(),
                    RemoteHeads {
                        heads: vec!["abc".into()],
                        timestamp: 1_700_000_000_000,
                    },
                )],
            },
            RepoMessage::ChangesSince {
                sender_id: p("dev"),
                target_id: p("srv"),
                since: 42,
            },
            RepoMessage::Changes {
                sender_id: p("srv"),
                target_id: p("dev"),
                manifest: Manifest {
                    seq: 43,
                    documents: vec![ManifestEntry {
                        document_id: doc,
                        seq: 43,
                        heads: vec![ChangeHash([5; 32])],
                    }],
                },
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            assert_eq!(RepoMessage::decode(&m.encode()).unwrap(), m, "{}", m.kind());
        }
        let all = samples();
        assert_eq!(
            RepoMessage::decode_batch(&RepoMessage::encode_batch(&all)).unwrap(),
            all
        );
    }

    /// A `sync` as a JavaScript encoder may write it: keys in another
    /// order, an unknown key, `undefined` storage id, tag-64 bytes.
    #[test]
    fn accepts_javascript_shapes() {
        let doc = DocumentId::from_bytes([1; 16]).to_string();
        let mut e = Encoder::new(Vec::new());
        e.map(6).unwrap();
        e.str("data")
            .unwrap()
            .tag(Tag::new(64))
            .unwrap()
            .bytes(&[1, 2])
            .unwrap();
        e.str("documentId").unwrap().str(&doc).unwrap();
        e.str("future")
            .unwrap()
            .array(2)
            .unwrap()
            .u8(1)
            .unwrap()
            .map(0)
            .unwrap();
        e.str("targetId").unwrap().str("srv").unwrap();
        e.str("type").unwrap().str("sync").unwrap();
        e.str("senderId").unwrap().str("dev").unwrap();
        let m = RepoMessage::decode(&e.into_writer()).unwrap();
        assert!(matches!(m, RepoMessage::Sync(ref d) if d.data == [1, 2]));

        let mut e = Encoder::new(Vec::new());
        e.map(4).unwrap();
        e.str("type").unwrap().str("join").unwrap();
        e.str("senderId").unwrap().str("dev").unwrap();
        e.str("supportedProtocolVersions")
            .unwrap()
            .array(1)
            .unwrap()
            .str("1")
            .unwrap();
        e.str("peerMetadata").unwrap().map(2).unwrap();
        e.str("storageId").unwrap().undefined().unwrap();
        e.str("isEphemeral").unwrap().bool(true).unwrap();
        match RepoMessage::decode(&e.into_writer()).unwrap() {
            RepoMessage::Join { peer_metadata, .. } => assert_eq!(
                peer_metadata,
                Some(PeerMetadata {
                    storage_id: None,
                    is_ephemeral: true
                })
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals() {
        let sync = samples()[3].encode();
        let mut trailing = sync.clone();
        trailing.push(0);
        assert_eq!(
            RepoMessage::decode(&trailing),
            Err(MessageError::TrailingBytes)
        );
        assert!(matches!(
            RepoMessage::decode(&sync[..sync.len() - 1]),
            Err(MessageError::Cbor { .. })
        ));
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(
            RepoMessage::decode(&big),
            Err(MessageError::TooLarge { .. })
        ));

        let enc = |f: &dyn Fn(&mut Encoder<Vec<u8>>)| {
            let mut e = Encoder::new(Vec::new());
            f(&mut e);
            e.into_writer()
        };
        let dup = enc(&|e| {
            e.map(2).unwrap();
            e.str("type").unwrap().str("leave").unwrap();
            e.str("type").unwrap().str("leave").unwrap();
        });
        assert_eq!(
            RepoMessage::decode(&dup),
            Err(MessageError::DuplicateKey("type"))
        );
        let missing = enc(&|e| {
            e.map(1).unwrap().str("type").unwrap().str("leave").unwrap();
        });
        assert_eq!(
            RepoMessage::decode(&missing),
            Err(MessageError::MissingField {
                kind: "leave",
                field: "senderId"
            })
        );
        let unknown = enc(&|e| {
            e.map(1)
                .unwrap()
                .str("type")
                .unwrap()
                .str("gossip")
                .unwrap();
        });
        assert_eq!(
            RepoMessage::decode(&unknown),
            Err(MessageError::UnknownType)
        );
        // A declared length of 2^60 entries: refused before any allocation.
        let huge = enc(&|e| {
            e.map(1)
                .unwrap()
                .str("add")
                .unwrap()
                .array(1 << 60)
                .unwrap();
        });
        assert_eq!(RepoMessage::decode(&huge), Err(MessageError::TooBig("add")));
        // 10,000 nested arrays in an unknown field.
        let mut deep = enc(&|e| {
            e.map(1).unwrap().str("x").unwrap();
        });
        deep.extend(std::iter::repeat_n(0x81u8, 10_000));
        deep.push(0);
        assert_eq!(
            RepoMessage::decode(&deep),
            Err(MessageError::TooBig("nesting"))
        );
    }
}
