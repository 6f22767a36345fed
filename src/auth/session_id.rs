//! Session ids and user ids minted from caller-supplied randomness and time.

use uuid::Uuid;

/// `s_` + 32 hex digits of randomness.
pub fn new_session_id(random: [u8; 16]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("s_{hex}")
}

/// True for exactly the shape [`new_session_id`] makes.
pub fn is_session_id(s: &str) -> bool {
    s.len() == 34
        && s.starts_with("s_")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A UUID v7 user id: time-ordered, from `now_ms` and 10 random bytes.
pub fn new_user_id(now_ms: u64, random: [u8; 10]) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(now_ms, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_v7_and_time_ordered() {
        let a = new_user_id(1_700_000_000_000, [0xff; 10]);
        let b = new_user_id(1_700_000_000_001, [0; 10]);
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn session_id_shape() {
        let s = new_session_id([0xab; 16]);
        assert!(is_session_id(&s));
        assert!(!is_session_id("s_XYZ"));
        assert!(!is_session_id(&s.to_uppercase()));
    }
}
