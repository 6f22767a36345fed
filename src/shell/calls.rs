//! The object protocol: every call from the Worker into a Durable Object,
//! one serde-tagged enum per class. The Worker builds a call only from
//! what it has verified (a token's `sub` and `sid`, a refresh token or
//! ticket it parsed, an `Account`'s answer); the object trusts it and
//! reads its own clock.
//!
//! A call travels as the JSON body of a `POST`, except where the request
//! itself is the payload (the WebSocket upgrade, a CBOR batch): then it
//! travels in [`CALL_HEADER`], the same JSON.

use crate::auth::sessions::NewSession;
use crate::auth::{Prehash, SessionId};
use crate::views::View;
use serde::{Deserialize, Serialize};

/// The WebSocket subprotocol the server selects (the client offers it).
pub(crate) const SUBPROTOCOL: &str = "myflashplay-sync.v1";

/// The header that carries a call beside a non-JSON payload.
pub(crate) const CALL_HEADER: &str = "x-mfp-call";

/// A call into a `UserStore`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum StoreCall {
    /// `/health`: a round trip into the object's SQLite.
    Health,
    /// A registration, login or recovery opens a session.
    OpenSession(NewSession),
    /// `POST /auth/refresh`: rotate the session's refresh token.
    Refresh {
        session: SessionId,
        /// The presented token's hash.
        hash: String,
        refresh_ttl_ms: u64,
    },
    /// `GET /sync/ws` (the upgrade request carries the call).
    Socket {
        auth: SocketAuth,
        /// The client offered the `myflashplay-sync.v1` subprotocol.
        subprotocol: bool,
        /// The Worker's request id, for the session's log line.
        request_id: String,
    },
    /// Anything on behalf of a session; refused unless it is live.
    Session { session: SessionId, act: SessionAct },
}

/// How a socket's session was shown.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub(crate) enum SocketAuth {
    /// A verified access token (bearer subprotocol).
    Token { session: SessionId },
    /// A single-use ticket (its hash; the object uses it up).
    Ticket { session: SessionId, hash: String },
}

/// What a session asks of its `UserStore`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub(crate) enum SessionAct {
    /// `GET /auth/validate` and the check before a password call.
    Check,
    /// Logout (`None`: the caller's own session) or
    /// `DELETE /user/sessions/{id}`.
    Revoke { target: Option<SessionId> },
    /// `GET /user/sessions`.
    List,
    /// After a password change: every other session ends.
    RevokeOthers,
    /// `GET /user/profile`.
    Profile,
    /// `PUT /user/profile`.
    SetProfile { display_name: Option<String> },
    /// `GET /user/export`.
    Export,
    /// `POST /user/import`: the export to merge.
    Import { data: serde_json::Value },
    /// `POST /sync/ticket`.
    Ticket,
    /// `GET /sync/changes?since=`.
    Changes { since: u64 },
    /// `GET|POST /sync/{view}` (`None`: `/sync/full`); `body` for a write.
    View {
        view: Option<View>,
        body: Option<serde_json::Value>,
    },
    /// `/sync/decks/{deck_id}` (`?version=`), `…/history`, `…/restore`,
    /// `…/undelete` and `/sync/decks/deleted` (no `deck_id`).
    Deck {
        op: DeckOp,
        #[serde(default)]
        deck_id: Option<String>,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        before: Option<String>,
    },
    /// `POST /sync` (the CBOR body is the request's).
    Batch,
    /// `DELETE /user/account`, after the `Account` checked the password.
    Erase,
}

/// What a deck call asks for.
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeckOp {
    /// The deck now, or at `version`.
    Get,
    /// A page of its history.
    History,
    /// Restore `version`.
    Restore,
    /// The deleted decks (no `deck_id`).
    Deleted,
    /// Bring a deleted deck back.
    Undelete,
}

/// A call into an `Account` (named by the email, or `ip:<address>`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum AccountCall {
    /// Creates the account.
    Register { email: String, prehash: Prehash },
    /// Checks the password.
    Login { prehash: Prehash },
    /// A new password, confirmed with the old one.
    ChangePassword { old: Prehash, new: Prehash },
    /// Deletes the account, confirmed with the password.
    Delete { prehash: Prehash },
    /// A new set of recovery codes, confirmed with the password.
    ReplaceCodes { prehash: Prehash },
    /// A recovery code sets a new password.
    Recover { code: String, new_prehash: Prehash },
    /// (`ip:` objects) refused while the address backs off.
    AddressCheck,
    /// (`ip:` objects) a wrong password or code from the address.
    AddressFailed,
    /// (`ip:` objects) one registration, within `limit` an hour.
    AddressRegisters { limit: u64 },
}

impl StoreCall {
    /// Calls that spend none of the user's request budget and set no
    /// maintenance alarm.
    pub(crate) fn is_probe(&self) -> bool {
        matches!(self, Self::Health)
    }

    /// Calls after which no maintenance alarm is set (nothing is left).
    pub(crate) fn leaves_nothing(&self) -> bool {
        matches!(
            self,
            Self::Health
                | Self::Session {
                    act: SessionAct::Erase,
                    ..
                }
        )
    }
}
