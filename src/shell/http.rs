//! Request and response helpers shared by the Worker and the Durable
//! Objects: JSON answers, the error shape, body limits, bearer tokens.

use crate::api_error::{ApiError, ErrorCode};
use crate::shell::clock;
use crate::streams::{Streams, Swept};
use serde::Serialize;
use worker::{Headers, Request, Response};

/// Request bodies larger than this are refused (docs/api.md Limits: the
/// same 1 MiB as a sync frame or batch).
pub(crate) const MAX_BODY_BYTES: usize = myflashplay_client::sync::MAX_FRAME_BYTES;

/// A JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let text = serde_json::to_string(body).map_err(ApiError::internal)?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(ApiError::internal)?;
    Response::ok(text)
        .map(|r| r.with_status(status).with_headers(headers))
        .map_err(ApiError::internal)
}

/// A JSON answer of `len` bytes sent as `pieces` yields them (one too
/// large to hold twice). `x-mfp-streamed` tells the front to pass the
/// stream on as it is (`observe::finish`).
pub(crate) fn json_pieces(
    status: u16,
    len: usize,
    pieces: impl Iterator<Item = Vec<u8>> + 'static,
) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(ApiError::internal)?;
    headers
        .set(STREAMED, &len.to_string())
        .map_err(ApiError::internal)?;
    // The pieces are made while the answer streams out, after the call
    // returned: the memory they took is noted once the last is made.
    let noted = std::iter::from_fn(|| {
        crate::shell::observe::note_memory();
        None
    });
    // Held by the isolate's `Streams`, not by the stream: dropped with the
    // last piece, or when the client stops reading (`sweep_streams`).
    let held = STREAMS.with(|s| {
        s.borrow_mut()
            .hold(Box::new(pieces.chain(noted)), clock::now_ms())
    });
    // Small pieces (a view's, one per deck) go out joined: each piece is
    // a chunk passed through the object, the front and the client.
    let mut failed = false;
    let joined = std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let next = || held.next_piece(clock::now_ms());
        let mut out = match next() {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(Swept) => {
                failed = true;
                return Some(Err(swept()));
            }
        };
        while out.len() < JOINED_BYTES {
            match next() {
                Ok(Some(p)) => out.extend_from_slice(&p),
                Ok(None) => break,
                Err(Swept) => {
                    failed = true;
                    return Some(Err(swept()));
                }
            }
        }
        Some(Ok(out))
    });
    Response::from_stream(futures_util::stream::iter(joined))
        .map(|r| r.with_status(status).with_headers(headers))
        .map_err(ApiError::internal)
}

fn swept() -> worker::Error {
    worker::Error::RustError("a streamed answer not read for a minute was dropped".into())
}

thread_local! {
    /// The isolate's streamed answers whose pieces are still held.
    static STREAMS: std::cell::RefCell<Streams> = std::cell::RefCell::new(Streams::default());
}

/// Drops the pieces of streamed answers no client has pulled for a
/// minute (`streams::IDLE_MS`); called after every call into an object.
pub(crate) fn sweep_streams() {
    let dropped = STREAMS.with(|s| s.borrow_mut().sweep(clock::now_ms()));
    if dropped > 0 {
        worker::console_warn!(
            "{{\"type\":\"streams_dropped\",\"answers\":{dropped},\"live_bytes\":{}}}",
            crate::alloc_count::live_bytes()
        );
    }
}

/// Pieces of a streamed answer are joined up to this size.
const JOINED_BYTES: usize = 256 << 10;

/// The internal header of a streamed answer: its length in bytes.
pub(crate) const STREAMED: &str = "x-mfp-streamed";

/// An empty 204.
pub(crate) fn no_content() -> Result<Response, ApiError> {
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(ApiError::internal)
}

/// The error as `{"error": {...}}` with its status (and `Retry-After`);
/// an internal error's cause goes to the log here.
pub(crate) fn error_response(err: &ApiError) -> Response {
    log_cause(err);
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    if let Some(secs) = err.retry_after {
        let _ = headers.set("retry-after", &secs.to_string());
    }
    match Response::ok(err.to_json()) {
        Ok(r) => r.with_status(err.status()).with_headers(headers),
        Err(_) => Response::error("internal", 500).unwrap_or_else(|_| {
            // Only reachable if the runtime cannot build any Response.
            Response::empty().expect("the runtime can build a response")
        }),
    }
}

/// Logs what went wrong inside, if anything (never sent to the client).
pub(crate) fn log_cause(err: &ApiError) {
    if let Some(cause) = &err.cause {
        worker::console_error!("internal error: {cause}");
    }
}

/// Reads a JSON body: `application/json` only, at most 1 MiB.
pub(crate) async fn json_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let ctype = req.headers().get("content-type").ok().flatten();
    let is_json = ctype.as_deref().is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    body_bytes(req).await
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] (by the declared
/// length first, so an oversized upload is not buffered to be judged).
pub(crate) async fn body_bytes(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the body could not be read"))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(req: &Request) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "authentication required"))?;
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}
