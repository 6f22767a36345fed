//! Runs one device against the store until neither has anything to send:
//! the request/response exchange of `POST /sync`, in memory.
//!
//! In [`sync_until_quiet`] every message crosses the wire encoding (CBOR
//! frames), so byte counts are real and the codec is exercised: the fixture
//! runner, the benchmark and tests. [`sync_until_quiet_routed`] hands the
//! messages over as values: the server's own edits (JSON view writes,
//! imports), where nothing crosses a wire.

use super::engine::Engine;
use super::error::StoreError;
use super::sql::Sql;
use myflashplay_client::sync::{ClientError, MessageError, PeerId, RepoMessage, SyncClient};
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
    /// CBOR bytes sent by the device (0 when nothing was encoded).
    pub bytes_up: usize,
    /// CBOR bytes sent by the server to this device (0 when nothing was
    /// encoded).
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
    run(now, client, docs, server, &mut |_| {}, true)
}

/// [`sync_until_quiet`] without the wire encoding, handing every message
/// the server addresses to another peer (a push to the user's other live
/// devices) to `others`.
pub fn sync_until_quiet_routed<S: Sql>(
    now: u64,
    client: &mut SyncClient,
    docs: &mut Docs,
    server: &mut Engine<S>,
    others: &mut dyn FnMut(RepoMessage),
) -> Result<SyncReport, DriverError> {
    run(now, client, docs, server, others, false)
}

/// The one routing rule for the engine's replies to a message from
/// `sender`: `(to the sender, to other peers)`; a reply without a target
/// goes to the sender.
pub fn split_replies(
    replies: Vec<RepoMessage>,
    sender: &PeerId,
) -> (Vec<RepoMessage>, Vec<RepoMessage>) {
    replies
        .into_iter()
        .partition(|m| m.target_id().is_none_or(|t| t == sender))
}

/// A message as the other side receives it: through its CBOR frame when
/// `encode` (its size added to `bytes`), else as it is.
fn carry(msg: RepoMessage, encode: bool, bytes: &mut usize) -> Result<RepoMessage, DriverError> {
    if !encode {
        return Ok(msg);
    }
    let frame = msg.encode();
    *bytes += frame.len();
    Ok(RepoMessage::decode(&frame)?)
}

fn run<S: Sql>(
    now: u64,
    client: &mut SyncClient,
    docs: &mut Docs,
    server: &mut Engine<S>,
    others: &mut dyn FnMut(RepoMessage),
    encode: bool,
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
            report.messages_up += 1;
            let msg = carry(msg, encode, &mut report.bytes_up)?;
            let replies = server.handle_message(now, client.peer_id(), msg)?;
            let (mine, theirs) = split_replies(replies, client.peer_id());
            down.extend(mine);
            theirs.into_iter().for_each(&mut *others);
        }
        for msg in down {
            report.messages_down += 1;
            let msg = carry(msg, encode, &mut report.bytes_down)?;
            client.handle_message(docs, msg)?;
        }
        up = client.poll_messages(docs);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(target: &str) -> RepoMessage {
        RepoMessage::ChangesSince {
            sender_id: PeerId::new("server".to_owned()).unwrap(),
            target_id: PeerId::new(target.to_owned()).unwrap(),
            since: 0,
        }
    }

    #[test]
    fn replies_split_by_target_and_untargeted_go_back() {
        let me = PeerId::new("me".to_owned()).unwrap();
        let untargeted = RepoMessage::Leave {
            sender_id: PeerId::new("server".to_owned()).unwrap(),
        };
        let (mine, others) = split_replies(vec![to("me"), to("other"), untargeted, to("me")], &me);
        assert_eq!(mine.len(), 3);
        assert_eq!(others, vec![to("other")]);
    }
}
