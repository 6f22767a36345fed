//! Calls from the Worker into a Durable Object: JSON in, JSON out, errors
//! in the contract shape both ways, so an object's refusal reaches the
//! client unchanged.

use super::http;
use crate::api_error::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Stub};

/// The stub of the object named `name` in namespace `binding`.
pub(crate) fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub, ApiError> {
    env.durable_object(binding)
        .and_then(|ns| ns.id_from_name(name)?.get_stub())
        .map_err(http::internal)
}

/// POSTs `body` to the object's `op` and decodes the JSON answer.
pub(crate) async fn call<T: DeserializeOwned>(
    stub: &Stub,
    op: &str,
    body: &impl Serialize,
) -> Result<T, ApiError> {
    let text = serde_json::to_string(body).map_err(http::internal)?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(http::internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(text.into()));
    let req =
        Request::new_with_init(&format!("https://object/{op}"), &init).map_err(http::internal)?;
    let mut res = stub.fetch_with_request(req).await.map_err(http::internal)?;
    if res.status_code() == 200 {
        return res.json().await.map_err(http::internal);
    }
    Err(relay_error(&mut res).await)
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

/// The error an object answered, in the contract shape.
pub(crate) async fn relay_error_response(mut res: Response) -> ApiError {
    relay_error(&mut res).await
}

async fn relay_error(res: &mut Response) -> ApiError {
    let retry_after = res
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let parsed: Option<ErrorBody> = res.json().await.ok();
    match parsed.and_then(|b| ErrorCode::parse(&b.error.code).map(|c| (c, b.error.message))) {
        Some((code, message)) => ApiError {
            code,
            message,
            retry_after,
        },
        None => http::internal(format!("object answered {}", res.status_code())),
    }
}

/// Decodes an object's request body, answering `internal` on a mismatch:
/// only the Worker calls objects, so a bad body is our bug, not input.
pub(crate) async fn object_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    req.json().await.map_err(http::internal)
}
