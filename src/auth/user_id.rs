//! The user id: a UUID v7 minted by the `Account` object at registration,
//! the name of the user's `UserStore` and part of every document id.

use myflashplay_client::{layout, DocumentId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user id, parsed once where it enters (a verified token, a refresh
/// token or ticket, an `Account` answer) and passed typed from there on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Uuid);

impl UserId {
    /// A UUID v7: time-ordered, from `now_ms` and 10 random bytes.
    pub fn new(now_ms: u64, random: [u8; 10]) -> Self {
        Self(uuid::Builder::from_unix_timestamp_millis(now_ms, &random).into_uuid())
    }

    /// Any UUID text (hyphenated or simple), else `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }

    /// The UUID.
    pub fn uuid(self) -> Uuid {
        self.0
    }

    /// The id of the user's root document: the one place it is derived
    /// on the server.
    pub fn root_document_id(self) -> DocumentId {
        layout::root_id(&self.to_string())
    }
}

impl From<Uuid> for UserId {
    fn from(u: Uuid) -> Self {
        Self(u)
    }
}

impl std::fmt::Display for UserId {
    /// The hyphenated form, as stored and as documents derive from it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| "not a user id".to_owned())
    }
}

impl From<UserId> for String {
    fn from(u: UserId) -> Self {
        u.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_v7_and_time_ordered() {
        let a = UserId::new(1_700_000_000_000, [0xff; 10]);
        let b = UserId::new(1_700_000_000_001, [0; 10]);
        assert_eq!(a.uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn parses_both_forms_and_prints_hyphenated() {
        let a = UserId::new(1_700_000_000_000, [7; 10]);
        let text = a.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(UserId::parse(&text), Some(a));
        assert_eq!(UserId::parse(&a.uuid().simple().to_string()), Some(a));
        assert_eq!(UserId::parse("health"), None);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<UserId>("\"x\"").is_err());
    }

    #[test]
    fn the_root_document_is_the_clients_root() {
        let a = UserId::new(1, [1; 10]);
        assert_eq!(
            a.root_document_id(),
            DocumentId::derive(&["root", &a.to_string()])
        );
    }
}
