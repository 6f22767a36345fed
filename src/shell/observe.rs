//! The shell side of [`crate::telemetry`]: each request gets an id (sent
//! back as `x-request-id`), is timed and measured, and ends in one JSON log
//! line (`console.log`, one object a line) plus one Analytics Engine data
//! point. Where the dataset cannot record (no binding, a failed write) or
//! `METRICS_ECHO` is `1` (local development, where workerd accepts the
//! write but keeps nothing), the data point goes into the log line too.

use super::{clock, http, random};
use crate::telemetry::{self, DataPoint, MemoryLine, RequestLine, SocketLine};
use std::cell::Cell;
use worker::{AnalyticsEngineDataPointBuilder, Env, Headers, Request, Response, ResponseBody};

/// The answer header naming the request (docs/api.md v1.1).
pub(crate) const REQUEST_ID: &str = "x-request-id";
/// A `UserStore` batch answer: changes stored (read, then removed here).
pub(crate) const CHANGES: &str = "x-mfp-changes";
/// A `UserStore` batch answer: why it refused the batch.
pub(crate) const REJECTION: &str = "x-mfp-rejection";
/// Internal headers start with this and never reach a client.
const INTERNAL_PREFIX: &str = "x-mfp-";
/// The Analytics Engine binding in `wrangler.toml`.
const BINDING: &str = "METRICS";

/// A request being served.
pub(crate) struct Started {
    pub id: String,
    method: &'static str,
    route: String,
    bytes_in: u64,
    at_ms: u64,
}

/// Notes the request's arrival.
pub(crate) fn start(req: &Request) -> Started {
    let bytes_in = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Started {
        id: new_request_id(),
        method: telemetry::method_name(req.method().as_ref()),
        route: telemetry::route_template(&req.path()),
        bytes_in,
        at_ms: clock::now_ms(),
    }
}

fn new_request_id() -> String {
    let bytes = random::bytes::<16>().unwrap_or_else(|_| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&clock::now_ms().to_be_bytes());
        b
    });
    telemetry::request_id(bytes)
}

/// Adds `x-request-id`, drops internal headers, measures the answer and
/// writes the request's line and data point.
pub(crate) async fn finish(env: &Env, started: Started, mut response: Response) -> Response {
    let status = response.status_code();
    let mut line = RequestLine {
        kind: "request",
        request_id: started.id,
        method: started.method,
        route: started.route,
        status,
        error_code: None,
        duration_ms: 0,
        bytes_in: started.bytes_in,
        bytes_out: 0,
        changes_applied: None,
        rejection: None,
        metrics: None,
    };
    // A 101's headers are immutable: the object that accepted the socket
    // set `x-request-id` itself.
    let response = if status == 101 {
        response
    } else {
        let old = response.headers().clone();
        let headers = Headers::new();
        let mut streamed = None;
        for (name, value) in old.entries() {
            match name.as_str() {
                CHANGES => line.changes_applied = value.parse().ok(),
                REJECTION => line.rejection = rejection_reason(&value),
                http::STREAMED => streamed = value.parse::<u64>().ok(),
                n if n.starts_with(INTERNAL_PREFIX) => {}
                _ => {
                    let _ = headers.append(&name, &value);
                }
            }
        }
        let _ = headers.set(REQUEST_ID, &line.request_id);
        let rebuilt = match (streamed, response.body()) {
            // An answer too large to hold (the export) passes as a stream.
            (Some(len), ResponseBody::Stream(stream)) => {
                line.bytes_out = len;
                Response::from_body(ResponseBody::Stream(stream.clone()))
            }
            _ => {
                let body = response.bytes().await.unwrap_or_default();
                line.bytes_out = body.len() as u64;
                if status >= 400 {
                    line.error_code = telemetry::error_code_of(&body);
                }
                if body.is_empty() {
                    Response::empty()
                } else {
                    Response::from_bytes(body)
                }
            }
        };
        match rebuilt {
            Ok(r) => r.with_status(status).with_headers(headers),
            Err(_) => response,
        }
    };
    line.duration_ms = clock::now_ms().saturating_sub(started.at_ms);
    let point = line.data_point();
    line.metrics = echo(env, &point);
    log(&line);
    response
}

/// Writes a WebSocket session's line and data point.
pub(crate) fn socket_closed(env: &Env, mut line: SocketLine) {
    let point = line.data_point();
    line.metrics = echo(env, &point);
    log(&line);
}

thread_local! {
    /// The wasm memory last logged by [`note_memory`].
    static MEMORY_LOGGED: Cell<u64> = const { Cell::new(0) };
}

/// Logs a [`MemoryLine`] when the isolate's wasm memory grew since the
/// last one (an object calls it after each request, frame and alarm): the
/// operator's view of the isolate's 128 MB, and what the heavy-learner
/// bench reads.
pub(crate) fn note_memory() {
    super::http::sweep_streams();
    let now = wasm_memory_bytes();
    if now <= MEMORY_LOGGED.with(Cell::get) {
        return;
    }
    MEMORY_LOGGED.with(|c| c.set(now));
    log(&MemoryLine {
        kind: "memory",
        wasm_memory_bytes: now,
        documents_loaded_bytes: crate::store::cache::isolate_loaded_bytes(),
        live_bytes: crate::alloc_count::live_bytes(),
    });
}

#[cfg(target_arch = "wasm32")]
fn wasm_memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65_536
}

#[cfg(not(target_arch = "wasm32"))]
fn wasm_memory_bytes() -> u64 {
    0
}

/// The reasons an object may name (anything else is not repeated).
pub(crate) fn rejection_reason(s: &str) -> Option<&'static str> {
    crate::store::StoreError::REASONS
        .iter()
        .find(|r| **r == s)
        .copied()
}

/// Records the point; returns it when it must also go to the log line.
fn echo(env: &Env, point: &DataPoint) -> Option<DataPoint> {
    let recorded = env.analytics_engine(BINDING).is_ok_and(|dataset| {
        AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs.iter().cloned())
            .doubles(point.doubles.iter().copied())
            .write_to(&dataset)
            .is_ok()
    });
    let always = env
        .var("METRICS_ECHO")
        .is_ok_and(|v| v.to_string().trim() == "1");
    (!recorded || always).then(|| point.clone())
}

fn log(line: &impl serde::Serialize) {
    if let Ok(text) = serde_json::to_string(line) {
        worker::console_log!("{text}");
    }
}
