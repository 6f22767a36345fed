//! Runs one device against the store until neither has anything to send:
//! the request/response exchange of `POST /sync`, in memory.
//!
//! Every message crosses the wire encoding (CBOR frames), so byte counts
//! are real and the codec is exercised. Used by the fixture runner, the
//! benchmark and tests; the Worker shell does the same over HTTP.

use super::engine::Engine;
use super::error::StoreError;
use super::sql::Sql;
use myflashplay_client::sync::{ClientError, MessageError, RepoMessage, SyncClient};
use myflashplay_client::Docs;

/// A round trip cap: sync of a document converges in a handful of rounds;
/// more means a bug, not a slow network.
const MAX_ROUND_TRIPS: usize = 64;

/// What one [`sync_until_quiet`] cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Request/response exchanges (HTTP round trips).
    pub round_trips: usize,
    /// Messages sent by the device.
    pub messages_up: usize,
    /// Messages sent by the server to this device.
    pub messages_down: usize,
    /// CBOR bytes sent by the device.
    pub bytes_up: usize,
    /// CBOR bytes sent by the server to this device.
    pub bytes_down: usize,
}

/// Why a sync run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The server refused or failed a message.
    #[error("server: {0}")]
    Store(#[from] StoreError),
    /// The device refused a message from the server.
    #[error("device: {0}")]
    Client(#[from] ClientError),
    /// A message did not survive its own encoding.
    #[error("codec: {0}")]
    Codec(#[from] MessageError),
    /// Still talking after [`MAX_ROUND_TRIPS`].
    #[error("no quiescence after {0} round trips")]
    NoQuiescence(usize),
}

/// Syncs `docs` (the device's documents, driven by `client`) with `server`
/// until quiet: asks the manifest, pulls documents changed on the server
/// (including ones the device lacks), pushes local changes.
pub fn sync_until_quiet<S: Sql>(
    now: u64,
    client: &mut SyncClient,
    docs: &mut Docs,
    server: &mut Engine<S>,
) -> Result<SyncReport, DriverError> {
    sync_until_quiet_routed(now, client, docs, server, &mut |_| {})
}

/// [`sync_until_quiet`], handing every message the server addresses to
/// another peer (a push to the user's other live devices) to `others`.
pub fn sync_until_quiet_routed<S: Sql>(
    now: u64,
    client: &mut SyncClient,
    docs: &mut Docs,
    server: &mut Engine<S>,
    others: &mut dyn FnMut(RepoMessage),
) -> Result<SyncReport, DriverError> {
    let mut report = SyncReport::default();
    let mut up = client.poll_messages(docs);
    up.push(client.start());
    while !up.is_empty() {
        if report.round_trips == MAX_ROUND_TRIPS {
            return Err(DriverError::NoQuiescence(MAX_ROUND_TRIPS));
        }
        report.round_trips += 1;
        let mut down = Vec::new();
        for msg in up {
            let frame = msg.encode();
            report.messages_up += 1;
            report.bytes_up += frame.len();
            let msg = RepoMessage::decode(&frame)?;
            for reply in server.handle_message(now, client.peer_id(), msg)? {
                if reply.target_id() == Some(client.peer_id()) {
                    down.push(reply);
                } else {
                    others(reply);
                }
            }
        }
        for msg in down {
            let frame = msg.encode();
            report.messages_down += 1;
            report.bytes_down += frame.len();
            client.handle_message(docs, RepoMessage::decode(&frame)?)?;
        }
        up = client.poll_messages(docs);
    }
    Ok(report)
}
