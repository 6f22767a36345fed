//! The session id: `s_` and 32 hex digits of caller-supplied randomness.

use serde::{Deserialize, Serialize};

/// A session id, parsed once where it enters (a verified access token, a
/// refresh token or ticket, a path) and passed typed from there on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// A new id from 16 random bytes.
    pub fn new(random: [u8; 16]) -> Self {
        Self(format!("s_{}", crate::hex::encode(&random)))
    }

    /// Exactly the shape [`SessionId::new`] makes, else `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 34
            && s.starts_with("s_")
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SessionId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| "not a session id".to_owned())
    }
}

impl From<SessionId> for String {
    fn from(s: SessionId) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_shape() {
        let s = SessionId::new([0xab; 16]);
        assert_eq!(SessionId::parse(s.as_str()), Some(s.clone()));
        assert_eq!(SessionId::parse("s_XYZ"), None);
        assert_eq!(SessionId::parse(&s.as_str().to_uppercase()), None);
        assert!(serde_json::from_str::<SessionId>("\"s_1\"").is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), s);
    }
}
