//! Response helpers shared by the Worker and the Durable Objects.

use crate::api_error::{ApiError, ErrorCode};
use serde::Serialize;
use worker::{Headers, Response};

/// A JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let text = serde_json::to_string(body).map_err(internal)?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(internal)?;
    Response::ok(text)
        .map(|r| r.with_status(status).with_headers(headers))
        .map_err(internal)
}

/// The error as `{"error": {...}}` with its status (and `Retry-After`).
pub(crate) fn error_response(err: &ApiError) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    if let Some(secs) = err.retry_after {
        let _ = headers.set("retry-after", &secs.to_string());
    }
    match Response::ok(err.to_json()) {
        Ok(r) => r.with_status(err.status()).with_headers(headers),
        Err(_) => Response::empty()
            .map(|r| r.with_status(500))
            .unwrap_or_else(|_| unreachable_response()),
    }
}

/// A platform fault, logged and reported as `internal` without details.
pub(crate) fn internal(err: impl std::fmt::Display) -> ApiError {
    worker::console_error!("internal error: {err}");
    ApiError::new(ErrorCode::Internal, "internal error")
}

fn unreachable_response() -> Response {
    // `Response::empty` only fails if the JS runtime cannot build a Response,
    // in which case nothing we return matters.
    Response::error("internal", 500).expect("the runtime can build a response")
}
