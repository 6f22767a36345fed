//! Peer ids as automerge-repo sends them in `senderId` / `targetId`.

use std::fmt;

/// A peer id: a short opaque string chosen by the peer (automerge-repo uses
/// random strings; our server uses a fixed one). Checked at the edge so
/// that the engine never stores or logs an unbounded string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(String);

/// Why a string is not a peer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// Empty, or longer than [`PeerId::MAX_LEN`] bytes.
    #[error("peer id must hold 1 to {max} bytes, not {0}", max = PeerId::MAX_LEN)]
    BadLength(usize),
    /// Holds control characters, which no automerge-repo peer sends.
    #[error("peer id holds control characters")]
    ControlCharacter,
}

impl PeerId {
    /// automerge-repo ids are ~20 characters; 128 leaves room for prefixes.
    pub const MAX_LEN: usize = 128;

    /// Checks length and characters.
    pub fn new(id: impl Into<String>) -> Result<Self, PeerIdError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(PeerIdError::BadLength(id.len()));
        }
        if id.chars().any(char::is_control) {
            return Err(PeerIdError::ControlCharacter);
        }
        Ok(Self(id))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.0)
    }
}

impl std::str::FromStr for PeerId {
    type Err = PeerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(PeerId::new("peer-abc").is_ok());
        assert_eq!(PeerId::new(""), Err(PeerIdError::BadLength(0)));
        assert_eq!(
            PeerId::new("x".repeat(129)),
            Err(PeerIdError::BadLength(129))
        );
        assert_eq!(PeerId::new("a\nb"), Err(PeerIdError::ControlCharacter));
    }
}
