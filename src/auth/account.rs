//! The rules of one `Account` object over the [`Sql`] trait: the
//! credential row (email, user id, argon2id PHC), the back-off row
//! ([`Lockout`]), the hashed recovery codes ([`recovery`]) and, for the
//! `ip:` names, the registration window ([`limits`]).
//!
//! **Invariant:** no clock or randomness of its own: the caller passes
//! `now_ms` and a [`Draw`] of random bytes.

use super::lockout::{self, Lockout, Policy};
use super::recovery::{self, RecoveryCode, CODE_BYTES, CODE_COUNT};
use super::{password, AuthError, Prehash, UserId};
use crate::limits;
use crate::store::sql::{text_at, uint_at};
use crate::store::{Sql, SqlError, SqlValue};
use serde::{Deserialize, Serialize};

const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        email TEXT NOT NULL,
        user_id TEXT NOT NULL,
        phc TEXT NOT NULL,
        created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lockout (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        failures INTEGER NOT NULL,
        last_failure_ms INTEGER NOT NULL,
        locked_until_ms INTEGER NOT NULL)",
    recovery::SCHEMA,
    limits::REGISTRATIONS_SCHEMA,
];

/// Creates the tables (idempotent).
pub fn create_schema(sql: &impl Sql) -> Result<(), SqlError> {
    STATEMENTS.iter().try_for_each(|stmt| sql.exec(stmt, &[]))
}

/// Random bytes an account call may spend (drawn by the caller).
#[derive(Clone)]
pub struct Draw {
    /// The user id's random part (registration).
    pub user_id: [u8; 10],
    /// The argon2 salt of a new password.
    pub salt: [u8; 16],
    /// A new set of recovery codes.
    pub codes: [u8; CODE_COUNT * CODE_BYTES],
}

/// The account's identity, answered on success; a new set of recovery
/// codes (shown once) after registration or a replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The user.
    pub user_id: UserId,
    /// The normalized email.
    pub email: String,
    /// New codes, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

struct Credentials {
    email: String,
    user_id: UserId,
    phc: String,
}

impl Credentials {
    fn identity(self) -> Identity {
        Identity {
            user_id: self.user_id,
            email: self.email,
            recovery_codes: None,
        }
    }
}

fn credentials(sql: &impl Sql) -> Result<Option<Credentials>, AuthError> {
    let rows = sql.query("SELECT email, user_id, phc FROM account WHERE id = 1", &[])?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let user_id =
        UserId::parse(text_at(r, 1)).ok_or_else(|| AuthError::Internal("stored user id".into()))?;
    Ok(Some(Credentials {
        email: text_at(r, 0).to_owned(),
        user_id,
        phc: text_at(r, 2).to_owned(),
    }))
}

/// The back-off row (the default when there is none).
pub fn backoff(sql: &impl Sql) -> Result<Option<Lockout>, AuthError> {
    let rows = sql.query(
        "SELECT failures, last_failure_ms, locked_until_ms FROM lockout WHERE id = 1",
        &[],
    )?;
    Ok(rows.first().map(|r| Lockout {
        failures: u32::try_from(uint_at(r, 0)).unwrap_or(u32::MAX),
        last_failure_ms: uint_at(r, 1),
        locked_until_ms: uint_at(r, 2),
    }))
}

fn save_backoff(sql: &impl Sql, l: &Lockout) -> Result<(), SqlError> {
    sql.exec(
        "INSERT OR REPLACE INTO lockout (id, failures, last_failure_ms, locked_until_ms)
         VALUES (1, ?, ?, ?)",
        &[
            SqlValue::uint(u64::from(l.failures)),
            SqlValue::uint(l.last_failure_ms),
            SqlValue::uint(l.locked_until_ms),
        ],
    )
}

fn set_password(sql: &impl Sql, new: &Prehash, salt: &[u8; 16]) -> Result<(), AuthError> {
    let phc = password::hash(new, salt)?;
    sql.exec("UPDATE account SET phc = ? WHERE id = 1", &[phc.into()])?;
    Ok(())
}

/// Stores a new set of recovery codes (replacing the old one) and returns
/// them for display; only their hashes stay.
fn new_codes(
    sql: &impl Sql,
    user_id: UserId,
    random: &[u8; CODE_COUNT * CODE_BYTES],
    now_ms: u64,
) -> Result<Vec<String>, AuthError> {
    let codes = recovery::generate(random);
    recovery::replace(sql, &user_id.to_string(), &codes, now_ms)?;
    Ok(codes.iter().map(RecoveryCode::display).collect())
}

/// Creates the account with its first recovery codes. The caller runs it
/// with nothing awaited between the check and the insert, so two
/// concurrent registrations cannot both succeed.
pub fn register(
    sql: &impl Sql,
    email: &str,
    prehash: &Prehash,
    now_ms: u64,
    draw: &Draw,
) -> Result<Identity, AuthError> {
    if credentials(sql)?.is_some() {
        return Err(AuthError::EmailTaken);
    }
    let user_id = UserId::new(now_ms, draw.user_id);
    let phc = password::hash(prehash, &draw.salt)?;
    sql.exec(
        "INSERT INTO account (id, email, user_id, phc, created_at) VALUES (1, ?, ?, ?, ?)",
        &[
            email.into(),
            user_id.to_string().into(),
            phc.into(),
            SqlValue::uint(now_ms),
        ],
    )?;
    Ok(Identity {
        user_id,
        email: email.to_owned(),
        recovery_codes: Some(new_codes(sql, user_id, &draw.codes, now_ms)?),
    })
}

/// Verifies the password under the per-email back-off: refused while a
/// wait runs, a failure counts toward it, a success clears it. An
/// unknown email verifies against a dummy hash and fails the same way, in
/// the same time.
pub fn login(sql: &impl Sql, prehash: &Prehash, now_ms: u64) -> Result<Identity, AuthError> {
    Ok(check_password(sql, prehash, now_ms)?.identity())
}

fn check_password(
    sql: &impl Sql,
    prehash: &Prehash,
    now_ms: u64,
) -> Result<Credentials, AuthError> {
    let state = waited(sql, now_ms)?;
    let row = credentials(sql)?;
    let phc = row.as_ref().map_or(password::DUMMY_PHC, |r| r.phc.as_str());
    let ok = password::verify(phc, prehash);
    match row {
        Some(row) if ok => {
            if state.failures > 0 {
                save_backoff(sql, &Lockout::default())?;
            }
            Ok(row)
        }
        _ => {
            save_backoff(sql, &state.fail(&lockout::PER_EMAIL, now_ms))?;
            Err(AuthError::InvalidCredentials)
        }
    }
}

/// The back-off state, or [`AuthError::RateLimited`] while a wait runs.
fn waited(sql: &impl Sql, now_ms: u64) -> Result<Lockout, AuthError> {
    let state = backoff(sql)?.unwrap_or_default();
    match state.retry_after(now_ms) {
        Some(secs) => Err(AuthError::RateLimited(secs)),
        None => Ok(state),
    }
}

/// Sets a new password after checking the old one.
pub fn change_password(
    sql: &impl Sql,
    old: &Prehash,
    new: &Prehash,
    now_ms: u64,
    salt: &[u8; 16],
) -> Result<Identity, AuthError> {
    let row = check_password(sql, old, now_ms)?;
    set_password(sql, new, salt)?;
    Ok(row.identity())
}

/// Deletes the account (credentials, back-off, codes) after checking the
/// password.
pub fn delete(sql: &impl Sql, prehash: &Prehash, now_ms: u64) -> Result<Identity, AuthError> {
    let row = check_password(sql, prehash, now_ms)?;
    sql.exec("DELETE FROM account", &[])?;
    sql.exec("DELETE FROM lockout", &[])?;
    recovery::clear(sql)?;
    Ok(row.identity())
}

/// A new set of recovery codes replacing the old one, confirmed with the
/// password.
pub fn replace_codes(
    sql: &impl Sql,
    prehash: &Prehash,
    now_ms: u64,
    draw: &Draw,
) -> Result<Identity, AuthError> {
    let row = check_password(sql, prehash, now_ms)?;
    let codes = new_codes(sql, row.user_id, &draw.codes, now_ms)?;
    Ok(Identity {
        recovery_codes: Some(codes),
        ..row.identity()
    })
}

/// A valid unused code sets the new password and is used up. A wrong,
/// used or malformed code (or an unknown email) fails like a wrong
/// password, under the same back-off.
pub fn recover(
    sql: &impl Sql,
    code: &str,
    new: &Prehash,
    now_ms: u64,
    salt: &[u8; 16],
) -> Result<Identity, AuthError> {
    let state = waited(sql, now_ms)?;
    let row = credentials(sql)?;
    let used = match (&row, RecoveryCode::parse(code)) {
        (Some(r), Some(code)) => recovery::consume(sql, &r.user_id.to_string(), &code, now_ms)?,
        _ => false,
    };
    let Some(row) = row.filter(|_| used) else {
        save_backoff(sql, &state.fail(&lockout::PER_EMAIL, now_ms))?;
        return Err(AuthError::InvalidCredentials);
    };
    set_password(sql, new, salt)?;
    save_backoff(sql, &Lockout::default())?;
    Ok(row.identity())
}

/// The per-address back-off (an `ip:` object): refused while it runs.
pub fn address_check(sql: &impl Sql, now_ms: u64) -> Result<(), AuthError> {
    waited(sql, now_ms).map(|_| ())
}

/// One failed credential check from the address.
pub fn address_failed(sql: &impl Sql, now_ms: u64) -> Result<(), AuthError> {
    let next = backoff(sql)?.unwrap_or_default().fail(&PER_ADDRESS, now_ms);
    Ok(save_backoff(sql, &next)?)
}

/// The per-address back-off policy.
const PER_ADDRESS: Policy = lockout::PER_IP;

/// One registration attempt from the address, within `limit` an hour.
pub fn address_registers(sql: &impl Sql, limit: u64, now_ms: u64) -> Result<(), AuthError> {
    limits::admit_registration(sql, limit, now_ms)?.map_err(AuthError::RateLimited)
}

/// When the back-off row may go: `retention_ms` after the last failure
/// and not before a running wait ends. `None`: no row.
pub fn backoff_expiry(sql: &impl Sql, retention_ms: u64) -> Result<Option<u64>, AuthError> {
    Ok(backoff(sql)?.map(|l| (l.last_failure_ms + retention_ms).max(l.locked_until_ms)))
}

/// Deletes the back-off row if it expired by `now_ms`; `true` if it did.
pub fn expire_backoff(sql: &impl Sql, now_ms: u64, retention_ms: u64) -> Result<bool, AuthError> {
    match backoff_expiry(sql, retention_ms)? {
        Some(at) if at <= now_ms => {
            sql.exec("DELETE FROM lockout", &[])?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
#[path = "account/tests.rs"]
mod tests;
