//! One user's sessions, kept in that user's `UserStore` over the [`Sql`]
//! trait: sessions with rotating refresh tokens (an old token presented
//! again revokes its session), the live-session check that every call on
//! behalf of a session passes first, `last_seen_at`, and what maintenance
//! deletes; the tables of the user's profile (`profile.rs`) and tickets
//! (`tickets.rs`) too.
//!
//! Tables: `profile` (one row), `sessions` (the current refresh token's
//! hash per session), `refresh_history` (hashes a session rotated away
//! from, to recognise a reused token), `tickets` (hashes, 60 s).
//!
//! **Invariant:** no clock or randomness of its own: the caller passes
//! `now_ms` and the random bytes of new ids and secrets.

use super::profile::{self, Profile};
use super::refresh::OpaqueToken;
use super::{AuthError, SessionId, UserId};
use crate::store::sql::{text_at, uint_at};
use crate::store::{Row, Sql, SqlError, SqlValue};
use crate::time::iso8601;
use serde::{Deserialize, Serialize};

/// `last_seen_at` is written at most this often per session.
pub const LAST_SEEN_GRANULARITY_MS: u64 = 60_000;
const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS profile (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        user_id TEXT NOT NULL,
        email TEXT NOT NULL,
        display_name TEXT,
        created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY,
        device_name TEXT,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        refresh_hash TEXT NOT NULL,
        refresh_expires_at INTEGER NOT NULL,
        rotation INTEGER NOT NULL DEFAULT 0,
        revoked_at INTEGER)",
    "CREATE TABLE IF NOT EXISTS refresh_history (
        hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        rotated_at INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS tickets (
        hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL)",
];

/// Stores created before `rotated_at` existed; fails harmlessly after.
const UPGRADES: &[&str] =
    &["ALTER TABLE refresh_history ADD COLUMN rotated_at INTEGER NOT NULL DEFAULT 0"];

/// Creates the tables (idempotent) and upgrades older ones.
pub fn create_schema(sql: &impl Sql) -> Result<(), SqlError> {
    for stmt in STATEMENTS {
        sql.exec(stmt, &[])?;
    }
    for stmt in UPGRADES {
        let _ = sql.exec(stmt, &[]);
    }
    Ok(())
}

/// Who a live session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    /// The user.
    pub user_id: UserId,
    /// The account's email.
    pub email: String,
    /// The session's device name: it names the changes the server makes
    /// for this session in history. Kept inside the object.
    #[serde(skip)]
    pub device_name: Option<String>,
}

/// History's name for a session that gave no device name.
const UNNAMED_DEVICE: &str = "unnamed device";

impl Whoami {
    /// The name history shows for changes the server makes for this
    /// session.
    pub fn device(&self) -> &str {
        match self.device_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name,
            _ => UNNAMED_DEVICE,
        }
    }
}

/// A new or rotated session: what the Worker needs to answer `Tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The user.
    pub user_id: UserId,
    /// The account's email.
    pub email: String,
    /// The session.
    pub session_id: SessionId,
    /// The new refresh token (only its hash stays here).
    pub refresh_token: String,
}

/// A session as `GET /user/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session.
    pub session_id: SessionId,
    /// The name the device gave at login.
    pub device_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to [`LAST_SEEN_GRANULARITY_MS`].
    pub last_seen_at: String,
    /// The caller's own session.
    pub current: bool,
}

/// A login or registration (or, with `revoke_all`, an account recovery).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewSession {
    /// The user the `Account` object answered.
    pub user_id: UserId,
    /// The account's email.
    pub email: String,
    /// The name the device gave.
    pub device_name: Option<String>,
    /// How long its refresh token lives.
    pub refresh_ttl_ms: u64,
    /// Revoke every existing session first (account recovery).
    #[serde(default)]
    pub revoke_all: bool,
}

/// Rows deleted by [`sweep`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Revoked or expired sessions.
    pub sessions: u64,
    /// Rotated-away hashes older than a refresh token lives.
    pub refresh_history: u64,
    /// Expired tickets, or those of deleted sessions.
    pub tickets: u64,
}

struct SessionRow {
    id: String,
    device_name: Option<String>,
    created_at: u64,
    last_seen_at: u64,
    refresh_hash: String,
    refresh_expires_at: u64,
    revoked: bool,
}

const SESSION_COLUMNS: &str = "session_id, device_name, created_at, last_seen_at, refresh_hash,
    refresh_expires_at, revoked_at";

fn session_row(r: &Row) -> SessionRow {
    SessionRow {
        id: text_at(r, 0).to_owned(),
        device_name: r.get(1).and_then(SqlValue::as_str).map(str::to_owned),
        created_at: uint_at(r, 2),
        last_seen_at: uint_at(r, 3),
        refresh_hash: text_at(r, 4).to_owned(),
        refresh_expires_at: uint_at(r, 5),
        revoked: !matches!(r.get(6), None | Some(SqlValue::Null)),
    }
}

fn session(sql: &impl Sql, id: &SessionId) -> Result<Option<SessionRow>, AuthError> {
    let rows = sql.query(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?"),
        &[id.as_str().into()],
    )?;
    Ok(rows.first().map(session_row))
}

fn grant(profile: Profile, session_id: SessionId, token: &OpaqueToken) -> Grant {
    Grant {
        user_id: profile.user_id,
        email: profile.email,
        session_id,
        refresh_token: token.encode(),
    }
}

/// Opens a session: the profile is made on first use (so a registration
/// whose first session failed still gets it at the next login).
/// `session_random` names the session, `secret` is its refresh token's.
pub fn open(
    sql: &impl Sql,
    new: &NewSession,
    now_ms: u64,
    session_random: [u8; 16],
    secret: [u8; 32],
) -> Result<Grant, AuthError> {
    let now = SqlValue::uint(now_ms);
    sql.transaction(|db| {
        if new.revoke_all {
            db.exec(
                "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL",
                std::slice::from_ref(&now),
            )?;
        }
        db.exec(
            "INSERT OR IGNORE INTO profile (id, user_id, email, created_at) VALUES (1, ?, ?, ?)",
            &[
                new.user_id.to_string().into(),
                new.email.as_str().into(),
                now.clone(),
            ],
        )?;
        let profile =
            profile::profile(db)?.ok_or_else(|| AuthError::Internal("no profile".into()))?;
        let sid = SessionId::new(session_random);
        let token = OpaqueToken::new(profile.user_id, &sid, secret);
        let device = new
            .device_name
            .as_deref()
            .map_or(SqlValue::Null, SqlValue::from);
        db.exec(
            "INSERT INTO sessions (session_id, device_name, created_at, last_seen_at,
               refresh_hash, refresh_expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            &[
                sid.as_str().into(),
                device,
                now.clone(),
                now.clone(),
                token.hash().into(),
                SqlValue::uint(now_ms.saturating_add(new.refresh_ttl_ms)),
            ],
        )?;
        Ok(grant(profile, sid, &token))
    })
}

/// Rotates the refresh token of `session_id` whose hash is `presented`:
/// a new token replaces it, the old hash goes to the history. A hash the
/// session rotated away from (an old token, used again: someone else may
/// hold it) revokes the session and fails with
/// [`AuthError::RefreshReused`]; any other mismatch, a revoked or expired
/// session fails with [`AuthError::InvalidToken`].
pub fn rotate(
    sql: &impl Sql,
    session_id: &SessionId,
    presented: &str,
    refresh_ttl_ms: u64,
    now_ms: u64,
    secret: [u8; 32],
) -> Result<Grant, AuthError> {
    let profile = profile::profile(sql)?.ok_or(AuthError::InvalidToken)?;
    let s = session(sql, session_id)?.ok_or(AuthError::InvalidToken)?;
    if s.revoked {
        return Err(AuthError::InvalidToken);
    }
    if s.refresh_hash != presented {
        let seen = sql.query(
            "SELECT 1 FROM refresh_history WHERE hash = ? AND session_id = ?",
            &[presented.into(), session_id.as_str().into()],
        )?;
        if seen.is_empty() {
            return Err(AuthError::InvalidToken);
        }
        revoke_row(sql, session_id, now_ms)?;
        return Err(AuthError::RefreshReused);
    }
    if s.refresh_expires_at <= now_ms {
        return Err(AuthError::InvalidToken);
    }
    let token = OpaqueToken::new(profile.user_id, session_id, secret);
    let now = SqlValue::uint(now_ms);
    sql.transaction(|db| {
        db.exec(
            "INSERT OR IGNORE INTO refresh_history (hash, session_id, rotated_at) VALUES (?, ?, ?)",
            &[s.refresh_hash.into(), s.id.as_str().into(), now.clone()],
        )?;
        db.exec(
            "UPDATE sessions SET refresh_hash = ?, refresh_expires_at = ?,
               rotation = rotation + 1, last_seen_at = ? WHERE session_id = ?",
            &[
                token.hash().into(),
                SqlValue::uint(now_ms.saturating_add(refresh_ttl_ms)),
                now.clone(),
                s.id.as_str().into(),
            ],
        )?;
        Ok::<_, AuthError>(())
    })?;
    Ok(grant(profile, session_id.clone(), &token))
}

/// The live-session check: who `session_id` belongs to, if it is live
/// (else [`AuthError::InvalidToken`]); notes `last_seen_at` at most once
/// per [`LAST_SEEN_GRANULARITY_MS`].
pub fn authorize(sql: &impl Sql, session_id: &SessionId, now_ms: u64) -> Result<Whoami, AuthError> {
    let profile = profile::profile(sql)?.ok_or(AuthError::InvalidToken)?;
    let s = session(sql, session_id)?.ok_or(AuthError::InvalidToken)?;
    if s.revoked {
        return Err(AuthError::InvalidToken);
    }
    if now_ms.saturating_sub(s.last_seen_at) > LAST_SEEN_GRANULARITY_MS {
        sql.exec(
            "UPDATE sessions SET last_seen_at = ? WHERE session_id = ?",
            &[SqlValue::uint(now_ms), session_id.as_str().into()],
        )?;
    }
    Ok(Whoami {
        user_id: profile.user_id,
        email: profile.email,
        device_name: s.device_name,
    })
}

fn revoke_row(sql: &impl Sql, id: &SessionId, now_ms: u64) -> Result<(), SqlError> {
    sql.exec(
        "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
        &[SqlValue::uint(now_ms), id.as_str().into()],
    )
}

/// Revokes a live session of this user ([`AuthError::SessionNotFound`]
/// for an unknown or already revoked one).
pub fn revoke(sql: &impl Sql, target: &SessionId, now_ms: u64) -> Result<(), AuthError> {
    match session(sql, target)? {
        Some(s) if !s.revoked => Ok(revoke_row(sql, target, now_ms)?),
        _ => Err(AuthError::SessionNotFound),
    }
}

/// Revokes every session but `keep` (after a password change).
pub fn revoke_others(sql: &impl Sql, keep: &SessionId, now_ms: u64) -> Result<(), AuthError> {
    sql.exec(
        "UPDATE sessions SET revoked_at = ? WHERE session_id != ? AND revoked_at IS NULL",
        &[SqlValue::uint(now_ms), keep.as_str().into()],
    )?;
    Ok(())
}

/// The live sessions, oldest first; `current` marks the caller's.
pub fn list(sql: &impl Sql, current: &SessionId) -> Result<Vec<SessionInfo>, AuthError> {
    let rows = sql.query(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE revoked_at IS NULL
             ORDER BY created_at, session_id"
        ),
        &[],
    )?;
    rows.iter()
        .map(session_row)
        .map(|s| {
            let session_id = SessionId::parse(&s.id)
                .ok_or_else(|| AuthError::Internal("stored session id".into()))?;
            Ok(SessionInfo {
                current: &session_id == current,
                session_id,
                device_name: s.device_name,
                created_at: iso8601(s.created_at),
                last_seen_at: iso8601(s.last_seen_at),
            })
        })
        .collect()
}

/// How many sessions are live.
pub fn live(sql: &impl Sql) -> Result<u64, AuthError> {
    count(
        sql,
        "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL",
        &[],
    )
}

fn count(sql: &impl Sql, query: &str, params: &[SqlValue]) -> Result<u64, AuthError> {
    let rows = sql.query(query, params)?;
    Ok(rows.first().map_or(0, |r| uint_at(r, 0)))
}

/// Maintenance: deletes revoked and expired sessions, refresh history
/// older than a refresh token lives (or of deleted sessions), and expired
/// tickets (or those of deleted sessions).
pub fn sweep(sql: &impl Sql, now_ms: u64, refresh_ttl_ms: u64) -> Result<Swept, AuthError> {
    const SESSIONS: &str = "FROM sessions WHERE revoked_at IS NOT NULL OR refresh_expires_at <= ?";
    const HISTORY: &str = "FROM refresh_history WHERE rotated_at <= ?
        OR session_id NOT IN (SELECT session_id FROM sessions)";
    const TICKETS: &str = "FROM tickets WHERE expires_at <= ?
        OR session_id NOT IN (SELECT session_id FROM sessions)";
    let now = [SqlValue::uint(now_ms)];
    let old = [SqlValue::uint(now_ms.saturating_sub(refresh_ttl_ms))];
    let mut swept = Swept::default();
    for (table, params, n) in [
        (SESSIONS, &now, &mut swept.sessions),
        (HISTORY, &old, &mut swept.refresh_history),
        (TICKETS, &now, &mut swept.tickets),
    ] {
        *n = count(sql, &format!("SELECT COUNT(*) {table}"), params)?;
        sql.exec(&format!("DELETE {table}"), params)?;
    }
    Ok(swept)
}

#[cfg(test)]
#[path = "sessions/tests.rs"]
mod tests;
