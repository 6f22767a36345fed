//! The sync protocol: automerge-repo v1 messages, hostile-input checks on
//! Automerge sync bytes, the change manifest and the device-side driver.
//!
//! **Invariant:** no I/O; the caller moves [`RepoMessage`]s between peers.

pub mod check;
pub mod client;
pub mod manifest;
pub mod messages;
pub mod peer_id;

pub use check::{
    admit_device_message, check_sync_message, inflate_sync_message, CheckError, Limits, SyncSummary,
};
pub use client::{ClientError, ClientState, SyncClient, SERVER_PEER_ID};
pub use manifest::{Manifest, ManifestEntry};
pub use messages::{
    DocMessage, MessageError, PeerMetadata, RemoteHeads, RepoMessage, MAX_BATCH_MESSAGES,
    MAX_FRAME_BYTES, MAX_SERVER_ANSWER_BYTES, PROTOCOL_VERSION,
};
pub use peer_id::{PeerId, PeerIdError};
