//! Refresh tokens: 256 random bits, stored only as a SHA-256 hash, rotated
//! on every use. The token names its user and session so the Worker can
//! route it to the right `UserStore` without a lookup table.

use super::AuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PREFIX: &str = "mfr1";

/// A parsed refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The user whose `UserStore` holds the session.
    pub user_id: Uuid,
    /// The session it refreshes.
    pub session_id: String,
    secret: [u8; 32],
}

impl RefreshToken {
    /// A new token for a session from 32 random bytes.
    pub fn new(user_id: Uuid, session_id: &str, secret: [u8; 32]) -> Self {
        Self {
            user_id,
            session_id: session_id.to_owned(),
            secret,
        }
    }

    /// `mfr1.<user id>.<session id>.<secret>`; opaque to clients.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}",
            self.user_id.simple(),
            self.session_id,
            URL_SAFE_NO_PAD.encode(self.secret)
        )
    }

    /// Parses what [`RefreshToken::encode`] wrote; anything else is invalid.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let mut parts = s.split('.');
        let (Some(PREFIX), Some(user), Some(session), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::InvalidToken);
        };
        let user_id = Uuid::try_parse(user).map_err(|_| AuthError::InvalidToken)?;
        if !super::session_id::is_session_id(session) {
            return Err(AuthError::InvalidToken);
        }
        let secret: [u8; 32] = URL_SAFE_NO_PAD
            .decode(secret)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(AuthError::InvalidToken)?;
        Ok(Self {
            user_id,
            session_id: session.to_owned(),
            secret,
        })
    }

    /// What the store keeps: hex SHA-256 of the secret (it is random and
    /// long, so a fast hash suffices).
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.secret))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = RefreshToken::new(
            Uuid::from_u128(7),
            "s_0123456789abcdef0123456789abcdef",
            [3; 32],
        );
        let parsed = RefreshToken::parse(&t.encode()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.hash(), t.hash());
        assert_eq!(t.hash().len(), 64);
    }

    #[test]
    fn rejects_tampering() {
        let t = RefreshToken::new(
            Uuid::from_u128(7),
            "s_0123456789abcdef0123456789abcdef",
            [3; 32],
        )
        .encode();
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
