//! The store engine's errors. HTTP statuses are chosen by the shell.

use super::sql::SqlError;
use myflashplay_client::sync::CheckError;
use myflashplay_client::DocumentId;

/// Why the store refused or failed an input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed; nothing was acknowledged.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// A sync message failed the hostile-input check (docs/design.md §6).
    #[error("sync message for {0} refused: {1}")]
    Check(DocumentId, CheckError),
    /// Automerge could not decode a message that passed the check.
    #[error("sync message for {0} undecodable")]
    Decode(DocumentId),
    /// Automerge refused to apply it; the document is unchanged.
    #[error("sync message for {0} not applied")]
    Apply(DocumentId),
    /// A change names an actor the document does not know (Automerge
    /// would panic applying it).
    #[error("sync message for {0} names unknown actors")]
    UnknownActor(DocumentId),
    /// A change names the device of an actor other than its own.
    #[error("sync message for {0} names another actor's device")]
    ForeignDevice(DocumentId),
    /// A message whose `senderId` is not the authenticated peer.
    #[error("senderId does not match the connection's peer")]
    SenderMismatch,
    /// Stored bytes that Automerge cannot load (should never happen: we
    /// store only bytes our own Automerge produced).
    #[error("stored document {0} does not load")]
    Corrupt(DocumentId),
}

impl StoreError {
    /// True when the peer sent something bad (as opposed to a failure of
    /// ours): the shell answers with an `error` message / 4xx.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Check(..)
                | Self::Decode(_)
                | Self::Apply(_)
                | Self::UnknownActor(_)
                | Self::ForeignDevice(_)
                | Self::SenderMismatch
        )
    }
}

impl StoreError {
    /// Every [`StoreError::reason`], and the reason of a change refused for
    /// crashing the store (`CHANGE_REFUSED`, an answer rather than an
    /// error), for the shell to check a reason it relays against.
    pub const REASONS: &'static [&'static str] = &[
        "sql",
        "check",
        "decode",
        "apply",
        "unknown_actor",
        "foreign_device",
        "change_refused",
        "sender_mismatch",
        "corrupt",
    ];

    /// A stable short name of the kind of error, for logs and metrics
    /// (never the message, which names a document).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Sql(_) => "sql",
            Self::Check(..) => "check",
            Self::Decode(_) => "decode",
            Self::Apply(_) => "apply",
            Self::UnknownActor(_) => "unknown_actor",
            Self::ForeignDevice(_) => "foreign_device",
            Self::SenderMismatch => "sender_mismatch",
            Self::Corrupt(_) => "corrupt",
        }
    }
}
