//! CORS for the origins listed in `ALLOWED_ORIGINS` (comma list).

use super::http;
use crate::api_error::{ApiError, ErrorCode};
use worker::{Env, Headers, Response};

/// The request's origin if the deployment allows it.
pub(crate) fn allowed_origin(env: &Env, origin: Option<&str>) -> Option<String> {
    let origin = origin?;
    let list = env.var("ALLOWED_ORIGINS").ok()?.to_string();
    list.split(',')
        .map(str::trim)
        .any(|o| !o.is_empty() && o == origin)
        .then(|| origin.to_owned())
}

/// Answers a preflight without authentication: 204 for an allowed origin,
/// 403 otherwise.
pub(crate) fn preflight(allowed: Option<&str>) -> Result<Response, ApiError> {
    let Some(_) = allowed else {
        return Err(ApiError::new(ErrorCode::Forbidden, "origin not allowed"));
    };
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(ApiError::internal);
    set(
        "access-control-allow-methods",
        "GET, POST, PUT, DELETE, OPTIONS",
    )?;
    set(
        "access-control-allow-headers",
        "authorization, content-type",
    )?;
    set("access-control-max-age", "86400")?;
    Ok(http::no_content()?.with_headers(headers))
}

/// Adds the CORS headers to any answer for an allowed origin.
pub(crate) fn decorate(response: Response, allowed: Option<&str>) -> Response {
    let Some(origin) = allowed else {
        return response;
    };
    // A 101 WebSocket answer's headers are immutable; leave it as it is.
    if response.status_code() == 101 {
        return response;
    }
    let headers = response.headers().clone();
    let _ = headers.set("access-control-allow-origin", origin);
    let _ = headers.append("vary", "Origin");
    let _ = headers.set("access-control-expose-headers", "retry-after, x-request-id");
    response.with_headers(headers)
}
