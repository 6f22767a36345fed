//! Accounts and sessions, sans-IO: email and prehash validation, server
//! password hashing, access and refresh tokens, login back-off, recovery
//! codes, the rules of the `Account` object (`account.rs`) and of a
//! user's sessions, profile and tickets (`sessions.rs`, `profile.rs`,
//! `tickets.rs`) over the `Sql` trait, the user and
//! session id newtypes, and the request bodies of the `/auth/*` and
//! `/user/*` endpoints.
//!
//! **Invariant:** no clock or randomness of its own; the Worker passes them.

pub mod account;
pub mod bodies;
pub mod email;
mod hs256;
pub mod lockout;
pub mod password;
pub mod profile;
pub mod recovery;
pub mod refresh;
pub mod session_id;
pub mod sessions;
pub mod tickets;
pub mod tokens;
pub mod user_id;

pub use email::Email;
pub use password::Prehash;
pub use session_id::SessionId;
pub use user_id::UserId;

/// Why an account operation failed. Mapped to the wire in `api_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A value breaks a rule (email shape, prehash shape, lengths).
    #[error("{0}")]
    Validation(String),
    /// No credentials were given.
    #[error("authentication required")]
    Unauthorized,
    /// A token is malformed, forged, of another audience, or revoked.
    #[error("invalid or revoked token")]
    InvalidToken,
    /// The access token has expired; refresh it.
    #[error("token expired")]
    TokenExpired,
    /// Email and password do not match (also for unknown emails).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// An account with this email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Too many failures; wait this many seconds.
    #[error("too many attempts")]
    RateLimited(u64),
    /// A refresh token the session already rotated away from was used
    /// again: the session is revoked (someone else may hold the token).
    /// The client sees [`AuthError::InvalidToken`]'s answer.
    #[error("invalid or revoked token")]
    RefreshReused,
    /// The named session does not exist for this user.
    #[error("no such session")]
    SessionNotFound,
    /// The deployment lacks what it needs (e.g. `JWT_SECRET`).
    #[error("server misconfigured: {0}")]
    Misconfigured(String),
    /// A fault of ours.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<crate::store::SqlError> for AuthError {
    fn from(e: crate::store::SqlError) -> Self {
        Self::Internal(e.to_string())
    }
}
