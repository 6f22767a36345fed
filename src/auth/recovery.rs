//! Recovery codes: the way back into an account without email. A set of
//! [`CODE_COUNT`] one-time codes is shown once (at registration, or when a
//! signed-in user asks for a new set) and stored only as hashes, in the
//! `Account` object of the email, through the [`Sql`] trait.
//!
//! A code is 80 random bits written as 16 characters of Crockford's base32
//! in four groups (`7xk2-m9qd-4hzt-a0vw`): easy to copy by hand, and
//! forgiving when typed back (case, spaces, dashes, `i`/`l` for `1`, `o`
//! for `0`). 80 random bits need no slow hash; the hash is salted with the
//! user id so equal codes of two accounts never look alike.

use crate::store::{Sql, SqlError, SqlValue};
use sha2::{Digest, Sha256};

/// Codes in a set.
pub const CODE_COUNT: usize = 10;
/// Random bytes per code (80 bits).
pub const CODE_BYTES: usize = 10;
/// Characters of a normalized code.
const CODE_CHARS: usize = 16;
/// Longest text accepted as a code (anything longer is not one).
pub const MAX_CODE_INPUT: usize = 64;

/// Crockford's base32, lower case: no `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The table the `Account` object keeps the hashes in.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS recovery_codes (
  hash TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  used_at INTEGER
)";

/// A recovery code, normalized (16 characters of [`ALPHABET`]).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl RecoveryCode {
    /// A code from 10 random bytes (5 bits per character).
    pub fn from_random(bytes: [u8; CODE_BYTES]) -> Self {
        let mut bits: u128 = 0;
        for b in bytes {
            bits = (bits << 8) | u128::from(b);
        }
        let text = (0..CODE_CHARS)
            .rev()
            .map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
            .collect();
        Self(text)
    }

    /// What a person typed, if it can be a code: case, spaces and dashes
    /// are ignored, `i`/`l` read as `1` and `o` as `0`. `None` otherwise
    /// (the caller treats that like a wrong code).
    pub fn parse(input: &str) -> Option<Self> {
        if input.len() > MAX_CODE_INPUT {
            return None;
        }
        let mut out = String::with_capacity(CODE_CHARS);
        for c in input.chars() {
            let c = match c.to_ascii_lowercase() {
                ' ' | '-' | '\t' => continue,
                'i' | 'l' => '1',
                'o' => '0',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return None,
            };
            out.push(c);
        }
        (out.len() == CODE_CHARS).then_some(Self(out))
    }

    /// The code as shown to the user: four groups of four.
    pub fn display(&self) -> String {
        let chunks: Vec<&str> = (0..4).map(|i| &self.0[i * 4..i * 4 + 4]).collect();
        chunks.join("-")
    }

    /// The stored form: hex SHA-256 over a domain tag, the user id and the
    /// normalized code.
    pub fn hash(&self, user_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"myflashplay-recovery-v1:");
        h.update(user_id.as_bytes());
        h.update(b":");
        h.update(self.0.as_bytes());
        crate::hex::encode(&h.finalize())
    }
}

/// A new set of codes from `CODE_COUNT * CODE_BYTES` random bytes.
pub fn generate(random: &[u8; CODE_COUNT * CODE_BYTES]) -> Vec<RecoveryCode> {
    random
        .chunks_exact(CODE_BYTES)
        .map(|c| {
            let mut b = [0u8; CODE_BYTES];
            b.copy_from_slice(c);
            RecoveryCode::from_random(b)
        })
        .collect()
}

/// Replaces the stored set with `codes` (the old codes stop working).
pub fn replace(
    sql: &impl Sql,
    user_id: &str,
    codes: &[RecoveryCode],
    now_ms: u64,
) -> Result<(), SqlError> {
    sql.transaction(|db| {
        db.exec("DELETE FROM recovery_codes", &[])?;
        for code in codes {
            db.exec(
                "INSERT OR IGNORE INTO recovery_codes (hash, created_at) VALUES (?, ?)",
                &[code.hash(user_id).into(), SqlValue::Integer(now_ms as i64)],
            )?;
        }
        Ok(())
    })
}

/// Uses up `code` if it is one of the set and unused: `true` then, and it
/// never works again. `false` for a wrong or used code.
pub fn consume(
    sql: &impl Sql,
    user_id: &str,
    code: &RecoveryCode,
    now_ms: u64,
) -> Result<bool, SqlError> {
    let hash = code.hash(user_id);
    let rows = sql.query(
        "SELECT hash FROM recovery_codes WHERE hash = ? AND used_at IS NULL",
        &[hash.clone().into()],
    )?;
    if rows.is_empty() {
        return Ok(false);
    }
    sql.exec(
        "UPDATE recovery_codes SET used_at = ? WHERE hash = ?",
        &[SqlValue::Integer(now_ms as i64), hash.into()],
    )?;
    Ok(true)
}

/// Unused codes left.
pub fn remaining(sql: &impl Sql) -> Result<u64, SqlError> {
    let rows = sql.query(
        "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL",
        &[],
    )?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::as_i64)
        .map_or(0, |n| n.max(0) as u64))
}

/// Forgets every code (the account is deleted).
pub fn clear(sql: &impl Sql) -> Result<(), SqlError> {
    sql.exec("DELETE FROM recovery_codes", &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite;

    fn db() -> Sqlite {
        let db = Sqlite::in_memory().unwrap();
        db.exec(SCHEMA, &[]).unwrap();
        db
    }

    fn set(seed: u8) -> Vec<RecoveryCode> {
        let mut r = [0u8; CODE_COUNT * CODE_BYTES];
        for (i, b) in r.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(seed);
        }
        generate(&r)
    }

    #[test]
    fn codes_are_distinct_and_shown_in_groups() {
        let codes = set(1);
        assert_eq!(codes.len(), CODE_COUNT);
        let shown: std::collections::BTreeSet<String> = codes.iter().map(|c| c.display()).collect();
        assert_eq!(shown.len(), CODE_COUNT);
        for s in &shown {
            assert_eq!(s.len(), 19);
            assert_eq!(s.matches('-').count(), 3);
        }
        assert_eq!(
            RecoveryCode::from_random([0xff; CODE_BYTES]).display(),
            "zzzz-zzzz-zzzz-zzzz"
        );
        assert_eq!(
            RecoveryCode::from_random([0; CODE_BYTES]).display(),
            "0000-0000-0000-0000"
        );
    }

    #[test]
    fn typing_is_forgiven_but_not_guessed() {
        let code = set(2).remove(0);
        let shown = code.display();
        assert_eq!(RecoveryCode::parse(&shown), Some(code.clone()));
        assert_eq!(
            RecoveryCode::parse(&format!(" {} ", shown.to_uppercase().replace('-', " "))),
            Some(code)
        );
        assert_eq!(
            RecoveryCode::parse("OOOO-IIII-LLLL-1111"),
            RecoveryCode::parse("0000111111111111")
        );
        for bad in [
            "",
            "abcd",
            "abcd-efgh-jkmn-pqrsx",
            "abcd-efgh-jkmn-pqru",
            "äbcd-efgh-jkmn-pqrs",
        ] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad}");
        }
        assert_eq!(RecoveryCode::parse(&"a".repeat(1000)), None);
    }

    #[test]
    fn hashes_depend_on_the_user() {
        let code = set(3).remove(0);
        assert_ne!(code.hash("u1"), code.hash("u2"));
        assert_eq!(code.hash("u1").len(), 64);
        assert!(!code.hash("u1").contains(&code.0));
    }

    #[test]
    fn a_code_works_once_and_a_new_set_replaces_the_old() {
        let db = db();
        let old = set(4);
        replace(&db, "u", &old, 1).unwrap();
        assert_eq!(remaining(&db).unwrap(), 10);
        // Only hashes are stored.
        let rows = db.query("SELECT hash FROM recovery_codes", &[]).unwrap();
        for code in &old {
            assert!(rows.iter().all(|r| r[0].as_str() != Some(code.0.as_str())));
        }
        assert!(consume(&db, "u", &old[0], 2).unwrap());
        assert!(!consume(&db, "u", &old[0], 3).unwrap(), "used twice");
        assert!(
            !consume(&db, "other-user", &old[1], 3).unwrap(),
            "another user's salt"
        );
        assert_eq!(remaining(&db).unwrap(), 9);

        let new = set(5);
        replace(&db, "u", &new, 4).unwrap();
        assert!(!consume(&db, "u", &old[1], 5).unwrap(), "old set revoked");
        assert!(consume(&db, "u", &new[1], 5).unwrap());
        clear(&db).unwrap();
        assert!(!consume(&db, "u", &new[2], 6).unwrap());
        assert_eq!(remaining(&db).unwrap(), 0);
    }
}
