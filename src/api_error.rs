//! The one JSON error shape of the HTTP edge (docs/api.md, "Conventions").
//!
//! Inner layers return their own `thiserror` enums; every one of them maps
//! to an [`ApiError`] here, and only here do HTTP status codes and
//! WebSocket close codes exist (a close code follows from the error's
//! [`ErrorCode`]).

use crate::auth::AuthError;
use crate::store::{DriverError, SqlError, StoreError};
use crate::views::ViewError;
use myflashplay_client::sync::MessageError;
use myflashplay_client::ReplicaError;
use serde::Serialize;

/// WebSocket close codes (RFC 6455 §7.4.1) the server uses.
pub mod close {
    /// The peer broke the protocol or its session ended.
    pub const POLICY: u16 = 1008;
    /// A text frame (the protocol is binary only).
    pub const UNSUPPORTED: u16 = 1003;
    /// A frame over the limit.
    pub const TOO_BIG: u16 = 1009;
    /// A fault of ours.
    pub const SERVER_FAULT: u16 = 1011;
    /// The connection ended without a close frame (reported, never sent).
    pub const ABNORMAL: u16 = 1006;
}

/// A stable, documented error code. Clients match on the string, never on
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the request is malformed in a way no other code names.
    BadRequest,
    /// 400: the body is not valid JSON for the endpoint.
    InvalidJson,
    /// 400: the JSON is well-formed but a value breaks a rule.
    ValidationFailed,
    /// 401: no credentials were given.
    Unauthorized,
    /// 401: the token is malformed, forged or revoked.
    InvalidToken,
    /// 401: the token was valid but has expired.
    TokenExpired,
    /// 401: email and password do not match an account.
    InvalidCredentials,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such route or resource.
    NotFound,
    /// 405: the route exists with other methods.
    MethodNotAllowed,
    /// 409: an account with this email exists.
    EmailTaken,
    /// 413: the body or a field is over its limit.
    PayloadTooLarge,
    /// 415: the body's content type is not the one the endpoint takes.
    UnsupportedMediaType,
    /// 429: too many attempts; `Retry-After` says when to come back.
    RateLimited,
    /// 500: a fault of ours; bad input must never produce it.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailTaken => "email_taken",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest | Self::InvalidJson | Self::ValidationFailed => 400,
            Self::Unauthorized | Self::InvalidToken | Self::TokenExpired => 401,
            Self::InvalidCredentials => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::EmailTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
        }
    }

    /// The WebSocket close code for an error of this kind.
    pub fn close_code(self) -> u16 {
        match self {
            Self::Internal => close::SERVER_FAULT,
            Self::PayloadTooLarge => close::TOO_BIG,
            Self::UnsupportedMediaType => close::UNSUPPORTED,
            _ => close::POLICY,
        }
    }

    /// Every code.
    pub const ALL: [ErrorCode; 15] = [
        Self::BadRequest,
        Self::InvalidJson,
        Self::ValidationFailed,
        Self::Unauthorized,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::EmailTaken,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::Internal,
    ];

    /// The code for its wire string (used when a Durable Object's error
    /// answer is relayed by the Worker).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// Human text; never contains secrets or another user's data.
    pub message: String,
    /// Seconds to wait, sent as `Retry-After` with [`ErrorCode::RateLimited`].
    pub retry_after: Option<u64>,
    /// What went wrong inside, for the log only (never sent): set on
    /// [`ErrorCode::Internal`] errors.
    pub cause: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// A fault of ours: the client reads `internal error`, the log `cause`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::Internal, "internal error")
        }
    }

    /// A 429 that tells the client how long to wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many attempts; retry in {retry_after} s"),
            retry_after: Some(retry_after.max(1)),
            cause: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The WebSocket close code.
    pub fn close_code(&self) -> u16 {
        self.code.close_code()
    }

    /// `{"error": {"code", "message"}}`.
    pub fn to_json(&self) -> String {
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"error":{"code":"internal","message":"error serialization"}}"#.to_owned()
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_the_contract() {
        let e = ApiError::new(ErrorCode::EmailTaken, "an account with this email exists");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "email_taken");
        assert_eq!(v["error"]["message"], "an account with this email exists");
        assert_eq!(e.status(), 409);
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let e = ApiError::rate_limited(0);
        assert_eq!(e.status(), 429);
        assert_eq!(e.retry_after, Some(1));
    }

    #[test]
    fn message_is_escaped() {
        let e = ApiError::new(ErrorCode::BadRequest, "quote \" and\nnewline");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"]["message"], "quote \" and\nnewline");
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as A;
        let code = match &e {
            A::InvalidJson(_) => ErrorCode::InvalidJson,
            A::Validation(_) => ErrorCode::ValidationFailed,
            A::Unauthorized => ErrorCode::Unauthorized,
            A::InvalidToken | A::RefreshReused => ErrorCode::InvalidToken,
            A::TokenExpired => ErrorCode::TokenExpired,
            A::InvalidCredentials => ErrorCode::InvalidCredentials,
            A::EmailTaken => ErrorCode::EmailTaken,
            A::RateLimited(secs) => return ApiError::rate_limited(*secs),
            A::SessionNotFound => ErrorCode::NotFound,
            // The operator's fault: the message says what to fix.
            A::Misconfigured(_) => ErrorCode::Internal,
            A::Internal(_) => return ApiError::internal(e),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> Self {
        ApiError::internal(e)
    }
}

impl From<StoreError> for ApiError {
    /// A refused message is the peer's fault (`bad_request`), anything
    /// else ours.
    fn from(e: StoreError) -> Self {
        if e.is_rejection() {
            ApiError::new(ErrorCode::BadRequest, e.to_string())
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<MessageError> for ApiError {
    /// Bytes that are not a message we accept: the peer's fault.
    fn from(e: MessageError) -> Self {
        let code = match e {
            MessageError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::BadRequest,
        };
        ApiError::new(code, format!("malformed message: {e}"))
    }
}

impl From<DriverError> for ApiError {
    /// The server's own device against its engine: any failure is ours.
    fn from(e: DriverError) -> Self {
        ApiError::internal(e)
    }
}

impl From<ReplicaError> for ApiError {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::Automerge(_) | ReplicaError::Layout { .. } => ApiError::internal(e),
            ReplicaError::DeckNotFound(_) | ReplicaError::VersionNotFound(_) => {
                ApiError::new(ErrorCode::NotFound, e.to_string())
            }
            _ => ApiError::new(ErrorCode::ValidationFailed, e.to_string()),
        }
    }
}

impl From<ViewError> for ApiError {
    fn from(e: ViewError) -> Self {
        match e {
            ViewError::UnknownVersion | ViewError::Shape(_) => {
                ApiError::new(ErrorCode::ValidationFailed, e.to_string())
            }
            ViewError::Replica(r) => r.into(),
            ViewError::Automerge(a) => ApiError::internal(a),
        }
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::*;

    #[test]
    fn every_code_parses_back() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
        // `ALL` is every variant: this match fails to compile when one is
        // added, until the list (and this match) name it.
        for code in ErrorCode::ALL {
            match code {
                ErrorCode::BadRequest
                | ErrorCode::InvalidJson
                | ErrorCode::ValidationFailed
                | ErrorCode::Unauthorized
                | ErrorCode::InvalidToken
                | ErrorCode::TokenExpired
                | ErrorCode::InvalidCredentials
                | ErrorCode::Forbidden
                | ErrorCode::NotFound
                | ErrorCode::MethodNotAllowed
                | ErrorCode::EmailTaken
                | ErrorCode::PayloadTooLarge
                | ErrorCode::UnsupportedMediaType
                | ErrorCode::RateLimited
                | ErrorCode::Internal => {}
            }
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn close_codes_follow_the_kind() {
        assert_eq!(ApiError::internal("x").close_code(), close::SERVER_FAULT);
        assert_eq!(
            ApiError::new(ErrorCode::BadRequest, "x").close_code(),
            close::POLICY
        );
        assert_eq!(
            ApiError::new(ErrorCode::PayloadTooLarge, "x").close_code(),
            close::TOO_BIG
        );
    }

    #[test]
    fn malformed_messages_are_the_peers_fault() {
        let too_big = myflashplay_client::sync::RepoMessage::decode(&vec![0u8; (1 << 20) + 1]);
        let e = ApiError::from(too_big.unwrap_err());
        assert_eq!(
            (e.code, e.close_code()),
            (ErrorCode::PayloadTooLarge, close::TOO_BIG)
        );
        let garbage = myflashplay_client::sync::RepoMessage::decode(&[0xff, 0x00]);
        let e = ApiError::from(garbage.unwrap_err());
        assert_eq!(
            (e.code, e.close_code()),
            (ErrorCode::BadRequest, close::POLICY)
        );
        assert!(e.message.starts_with("malformed message: "));
    }

    #[test]
    fn internal_errors_keep_their_cause_out_of_the_answer() {
        let e: ApiError = AuthError::Internal("sql: no such table".into()).into();
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.to_json().contains("sql"));
        assert_eq!(e.cause.as_deref(), Some("internal: sql: no such table"));
        let e: ApiError = AuthError::RefreshReused.into();
        assert_eq!(e, AuthError::InvalidToken.into());
    }

    #[test]
    fn auth_errors_map_to_contract_codes() {
        let e: ApiError = AuthError::RateLimited(42).into();
        assert_eq!((e.status(), e.retry_after), (429, Some(42)));
        let e: ApiError = AuthError::InvalidCredentials.into();
        assert_eq!((e.status(), e.code.as_str()), (401, "invalid_credentials"));
        let e: ApiError = AuthError::Validation("x".into()).into();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
    }
}
