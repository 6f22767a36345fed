//! The workers-rs shell: the Worker's fetch entry point and the Durable
//! Object classes. **Invariant:** no merge or auth logic lives here; it
//! parses requests, calls the sans-IO core and writes responses.

mod account;
mod http;
mod user_store;

use crate::api_error::{ApiError, ErrorCode};
use worker::{event, Context, Env, Method, Request, Response, Result};

/// Name of the `UserStore` object that `/health` probes (no user owns it).
const HEALTH_OBJECT: &str = "health";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let outcome = route(req, env).await;
    Ok(match outcome {
        Ok(response) => response,
        Err(err) => http::error_response(&err),
    })
}

async fn route(req: Request, env: Env) -> std::result::Result<Response, ApiError> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Get, "/health") => health(&env).await,
        (_, "/health") => Err(method_not_allowed()),
        _ => Err(ApiError::new(ErrorCode::NotFound, "no such route")),
    }
}

/// Answers only after a round trip into a `UserStore` object's SQLite.
async fn health(env: &Env) -> std::result::Result<Response, ApiError> {
    let stub = env
        .durable_object(user_store::BINDING)
        .and_then(|ns| ns.id_from_name(HEALTH_OBJECT)?.get_stub())
        .map_err(http::internal)?;
    let mut answer = stub
        .fetch_with_str("https://user-store/internal/health")
        .await
        .map_err(http::internal)?;
    if answer.status_code() != 200 {
        return Err(ApiError::new(ErrorCode::Internal, "storage probe failed"));
    }
    let probe: serde_json::Value = answer.json().await.map_err(http::internal)?;
    if probe["sqlite"] != 1 {
        return Err(ApiError::new(ErrorCode::Internal, "storage probe failed"));
    }
    http::json(
        200,
        &serde_json::json!({"status": "ok", "version": crate::VERSION}),
    )
}

fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed")
}
