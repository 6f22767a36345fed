//! Single-use WebSocket tickets (`POST /sync/ticket`, then
//! `/sync/ws?ticket=`), kept as hashes in the user's `UserStore` (the
//! `tickets` table of [`super::sessions`]).

use super::refresh::{OpaqueToken, TokenKind};
use super::{AuthError, SessionId, UserId};
use crate::store::sql::uint_at;
use crate::store::{Sql, SqlValue};
use serde::{Deserialize, Serialize};

/// A ticket for `/sync/ws?ticket=`: single use, valid 60 s.
pub const TICKET_TTL_MS: u64 = 60_000;

/// A new ticket, as `POST /sync/ticket` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketAnswer {
    /// `mft1.…`, opaque to clients.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// A single-use ticket for `/sync/ws?ticket=` (for clients, like browsers
/// and stock automerge-repo, that cannot set headers). Expired tickets go.
pub fn issue_ticket(
    sql: &impl Sql,
    user_id: UserId,
    session_id: &SessionId,
    now_ms: u64,
    secret: [u8; 32],
) -> Result<TicketAnswer, AuthError> {
    let ticket = OpaqueToken::of_kind(TokenKind::Ticket, user_id, session_id, secret);
    sql.exec(
        "DELETE FROM tickets WHERE expires_at <= ?",
        &[SqlValue::uint(now_ms)],
    )?;
    sql.exec(
        "INSERT INTO tickets (hash, session_id, expires_at) VALUES (?, ?, ?)",
        &[
            ticket.hash().into(),
            session_id.as_str().into(),
            SqlValue::uint(now_ms + TICKET_TTL_MS),
        ],
    )?;
    Ok(TicketAnswer {
        ticket: ticket.encode(),
        expires_in: TICKET_TTL_MS / 1000,
    })
}

/// Takes the ticket of `session_id` whose hash is `hash` out of the table:
/// valid once, and only before it expires.
pub fn consume_ticket(
    sql: &impl Sql,
    session_id: &SessionId,
    hash: &str,
    now_ms: u64,
) -> Result<(), AuthError> {
    let rows = sql.query(
        "SELECT expires_at FROM tickets WHERE hash = ? AND session_id = ?",
        &[hash.into(), session_id.as_str().into()],
    )?;
    sql.exec("DELETE FROM tickets WHERE hash = ?", &[hash.into()])?;
    match rows.first() {
        Some(r) if uint_at(r, 0) > now_ms => Ok(()),
        _ => Err(AuthError::InvalidToken),
    }
}
