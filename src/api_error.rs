//! The one JSON error shape of the HTTP edge (docs/api.md, "Conventions").
//!
//! Inner layers return their own `thiserror` enums; the Worker maps them to
//! an [`ApiError`] here, and only here do HTTP status codes exist.

use serde::Serialize;

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
        }
    }

    /// A 429 that tells the client how long to wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many attempts; retry in {retry_after} s"),
            retry_after: Some(retry_after.max(1)),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
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

impl ErrorCode {
    /// The code for its wire string (used when a Durable Object's error
    /// answer is relayed by the Worker).
    pub fn parse(s: &str) -> Option<Self> {
        use ErrorCode::*;
        [
            BadRequest,
            InvalidJson,
            ValidationFailed,
            Unauthorized,
            InvalidToken,
            TokenExpired,
            InvalidCredentials,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            EmailTaken,
            PayloadTooLarge,
            UnsupportedMediaType,
            RateLimited,
            Internal,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        let code = match &e {
            A::InvalidJson(_) => ErrorCode::InvalidJson,
            A::Validation(_) => ErrorCode::ValidationFailed,
            A::Unauthorized => ErrorCode::Unauthorized,
            A::InvalidToken => ErrorCode::InvalidToken,
            A::TokenExpired => ErrorCode::TokenExpired,
            A::InvalidCredentials => ErrorCode::InvalidCredentials,
            A::EmailTaken => ErrorCode::EmailTaken,
            A::RateLimited(secs) => return ApiError::rate_limited(*secs),
            A::SessionNotFound => ErrorCode::NotFound,
            A::Misconfigured(_) | A::Internal(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::*;
    use crate::auth::AuthError;

    #[test]
    fn every_code_parses_back() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::EmailTaken,
            ErrorCode::RateLimited,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
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
