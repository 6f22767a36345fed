//! Opaque secrets handed to clients: refresh tokens (rotated on every use)
//! and WebSocket tickets (single use, 60 s). 256 random bits, stored only as
//! a SHA-256 hash. The token names its user and session so the Worker can
//! route it to the right `UserStore` without a lookup table.

use super::{AuthError, SessionId, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// What an opaque token is for; each kind has its own prefix, so one can
/// never be used as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `mfr1`: a refresh token.
    Refresh,
    /// `mft1`: a single-use WebSocket ticket.
    Ticket,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Refresh => "mfr1",
            Self::Ticket => "mft1",
        }
    }
}

/// A parsed refresh token.
pub type RefreshToken = OpaqueToken;

/// A parsed refresh token or ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueToken {
    /// What the token is for.
    pub kind: TokenKind,
    /// The user whose `UserStore` holds the session.
    pub user_id: UserId,
    /// The session it refreshes.
    pub session_id: SessionId,
    secret: [u8; 32],
}

impl OpaqueToken {
    /// A new refresh token for a session from 32 random bytes.
    pub fn new(user_id: UserId, session_id: &SessionId, secret: [u8; 32]) -> Self {
        Self::of_kind(TokenKind::Refresh, user_id, session_id, secret)
    }

    /// A new token of `kind` for a session from 32 random bytes.
    pub fn of_kind(
        kind: TokenKind,
        user_id: UserId,
        session_id: &SessionId,
        secret: [u8; 32],
    ) -> Self {
        Self {
            kind,
            user_id,
            session_id: session_id.clone(),
            secret,
        }
    }

    /// `<prefix>.<user id>.<session id>.<secret>`; opaque to clients.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.kind.prefix(),
            self.user_id.uuid().simple(),
            self.session_id,
            URL_SAFE_NO_PAD.encode(self.secret)
        )
    }

    /// Parses a refresh token; anything else is invalid.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        Self::parse_kind(TokenKind::Refresh, s)
    }

    /// Parses what [`OpaqueToken::encode`] wrote for `kind`.
    pub fn parse_kind(kind: TokenKind, s: &str) -> Result<Self, AuthError> {
        if s.len() > 160 {
            return Err(AuthError::InvalidToken);
        }
        let mut parts = s.split('.');
        let (Some(prefix), Some(user), Some(session), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::InvalidToken);
        };
        if prefix != kind.prefix() {
            return Err(AuthError::InvalidToken);
        }
        let user_id = UserId::parse(user).ok_or(AuthError::InvalidToken)?;
        let session_id = SessionId::parse(session).ok_or(AuthError::InvalidToken)?;
        let secret: [u8; 32] = URL_SAFE_NO_PAD
            .decode(secret)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(AuthError::InvalidToken)?;
        Ok(Self {
            kind,
            user_id,
            session_id,
            secret,
        })
    }

    /// What the store keeps: hex SHA-256 of the secret (it is random and
    /// long, so a fast hash suffices).
    pub fn hash(&self) -> String {
        crate::hex::encode(&Sha256::digest(self.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid() -> UserId {
        UserId::from(uuid::Uuid::from_u128(7))
    }

    fn sid() -> SessionId {
        SessionId::parse("s_0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn round_trip() {
        let t = RefreshToken::new(uid(), &sid(), [3; 32]);
        let parsed = RefreshToken::parse(&t.encode()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.hash(), t.hash());
        assert_eq!(t.hash().len(), 64);
    }

    #[test]
    fn kinds_do_not_mix() {
        let ticket = OpaqueToken::of_kind(TokenKind::Ticket, uid(), &sid(), [1; 32]).encode();
        assert!(ticket.starts_with("mft1."));
        assert!(OpaqueToken::parse(&ticket).is_err());
        assert!(OpaqueToken::parse_kind(TokenKind::Ticket, &ticket).is_ok());
        let refresh = OpaqueToken::new(uid(), &sid(), [1; 32]).encode();
        assert!(OpaqueToken::parse_kind(TokenKind::Ticket, &refresh).is_err());
    }

    #[test]
    fn rejects_tampering() {
        let t = RefreshToken::new(uid(), &sid(), [3; 32]).encode();
        for bad in [
            String::new(),
            t.replace("mfr1", "mfr2"),
            format!("{t}.x"),
            t[..t.len() - 2].to_string(),
            t.replace(".s_", ".x_"),
        ] {
            assert!(RefreshToken::parse(&bad).is_err(), "{bad}");
        }
    }
}
