//! Calls from the Worker into a Durable Object (the enums of
//! [`super::calls`]): JSON in, JSON out, errors in the contract shape both
//! ways, so an object's refusal reaches the client unchanged.

use super::calls::CALL_HEADER;
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::UserId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Stub};

/// The `UserStore` namespace's binding in `wrangler.toml`.
const USER_STORE: &str = "USER_STORE";
/// The `Account` namespace's binding in `wrangler.toml`.
const ACCOUNT: &str = "ACCOUNT";
/// The `UserStore` that `/health` probes (no user owns it: a user's is
/// named by a UUID).
const HEALTH_OBJECT: &str = "health";

/// The `UserStore` of `user`: a [`UserId`] comes from a verified token, a
/// refresh token or ticket, or an `Account`'s answer, never from input.
pub(crate) fn user_store(env: &Env, user: UserId) -> Result<Stub, ApiError> {
    stub(env, USER_STORE, &user.to_string())
}

/// The `UserStore` that `/health` probes.
pub(crate) fn health_store(env: &Env) -> Result<Stub, ApiError> {
    stub(env, USER_STORE, HEALTH_OBJECT)
}

/// The `Account` of a normalized email.
pub(crate) fn account(env: &Env, email: &str) -> Result<Stub, ApiError> {
    stub(env, ACCOUNT, email)
}

/// The `Account` object of a client address (`ip:<address>`: emails hold
/// no `:`, so the name spaces cannot meet).
pub(crate) fn address(env: &Env, ip: &str) -> Result<Stub, ApiError> {
    stub(env, ACCOUNT, &format!("ip:{ip}"))
}

fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub, ApiError> {
    env.durable_object(binding)
        .and_then(|ns| ns.id_from_name(name)?.get_stub())
        .map_err(ApiError::internal)
}

/// POSTs `call` as JSON and decodes the JSON answer.
pub(crate) async fn call<T: DeserializeOwned>(
    stub: &Stub,
    call: &impl Serialize,
) -> Result<T, ApiError> {
    let mut res = relay(stub, call).await?;
    res.json().await.map_err(ApiError::internal)
}

/// POSTs `call` as JSON; a 200 answer comes back unread (a streamed one,
/// the export or a view, stays a stream: read here it would be held whole
/// in the isolate's memory, parsed), any other as the error it names.
pub(crate) async fn relay(stub: &Stub, call: &impl Serialize) -> Result<Response, ApiError> {
    let text = serde_json::to_string(call).map_err(ApiError::internal)?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(ApiError::internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(text.into()));
    let res = send(stub, init).await?;
    if res.status_code() == 200 {
        return Ok(res);
    }
    Err(relay_error(res).await)
}

/// Sends `call` in [`CALL_HEADER`] beside the request's own payload (a
/// WebSocket upgrade, a CBOR body): `headers` and `body` as given. The
/// object's answer is returned as it is.
pub(crate) async fn call_beside(
    stub: &Stub,
    call: &impl Serialize,
    method: Method,
    headers: Headers,
    body: Option<worker::wasm_bindgen::JsValue>,
) -> Result<Response, ApiError> {
    let text = serde_json::to_string(call).map_err(ApiError::internal)?;
    headers
        .set(CALL_HEADER, &text)
        .map_err(ApiError::internal)?;
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_body(body);
    send(stub, init).await
}

async fn send(stub: &Stub, init: RequestInit) -> Result<Response, ApiError> {
    let req = Request::new_with_init("https://object/", &init).map_err(ApiError::internal)?;
    stub.fetch_with_request(req)
        .await
        .map_err(ApiError::internal)
}

/// The call a request into an object carries: [`CALL_HEADER`] if set,
/// else the JSON body. A bad call is `internal`: only the Worker calls
/// objects, so it is our bug, not input.
pub(crate) async fn read_call<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    match req.headers().get(CALL_HEADER).ok().flatten() {
        Some(text) => serde_json::from_str(&text).map_err(ApiError::internal),
        None => req.json().await.map_err(ApiError::internal),
    }
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
pub(crate) async fn relay_error(mut res: Response) -> ApiError {
    let retry_after = res
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let parsed: Option<ErrorBody> = res.json().await.ok();
    match parsed.and_then(|b| ErrorCode::parse(&b.error.code).map(|c| (c, b.error.message))) {
        Some((code, message)) => ApiError {
            retry_after,
            ..ApiError::new(code, message)
        },
        None => ApiError::internal(format!("object answered {}", res.status_code())),
    }
}
