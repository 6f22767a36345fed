//! The workers-rs shell: the Worker's fetch entry point and the Durable
//! Object classes. **Invariant:** no merge or auth logic lives here; it
//! parses requests, calls the sans-IO core and writes responses.

mod account;
mod accounts_api;
mod caller;
mod calls;
mod clock;
mod config;
mod cors;
mod do_sql;
mod http;
mod limits;
mod maintenance;
mod observe;
mod random;
mod rpc;
mod sync_api;
mod user_store;

use crate::api_error::{ApiError, ErrorCode};
use calls::DeckOp;
use worker::{event, Context, Env, Method, Request, Response, Result};

#[global_allocator]
static ALLOCATOR: crate::alloc_count::Counting = crate::alloc_count::Counting;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = observe::start(&req);
    let origin = req.headers().get("origin").ok().flatten();
    let allowed = cors::allowed_origin(&env, origin.as_deref());
    let outcome = if req.method() == Method::Options {
        cors::preflight(allowed.as_deref())
    } else {
        match limits::spend(&req, &env) {
            Ok(()) => route(req, &env, &started.id).await,
            Err(e) => Err(e),
        }
    };
    let response = outcome.unwrap_or_else(|err| http::error_response(&err));
    let response = cors::decorate(response, allowed.as_deref());
    Ok(observe::finish(&env, started, response).await)
}

async fn route(
    mut req: Request,
    env: &Env,
    request_id: &str,
) -> std::result::Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let allow = |methods: &[Method]| -> std::result::Result<(), ApiError> {
        if methods.contains(&method) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method:?} is not allowed on {path}"),
            ))
        }
    };
    match segments.as_slice() {
        ["health"] => {
            allow(&[Method::Get])?;
            health(env).await
        }
        ["auth", op] => {
            let method_ok = match *op {
                "register" | "login" | "recover" | "refresh" | "logout" => &[Method::Post][..],
                "validate" => &[Method::Get][..],
                _ => return Err(not_found()),
            };
            allow(method_ok)?;
            accounts_api::auth(op, &mut req, env).await
        }
        ["user", "profile"] => {
            allow(&[Method::Get, Method::Put])?;
            accounts_api::profile(&mut req, env).await
        }
        ["user", "sessions"] => {
            allow(&[Method::Get])?;
            accounts_api::list_sessions(&req, env).await
        }
        ["user", "sessions", id] => {
            allow(&[Method::Delete])?;
            accounts_api::revoke_session(&req, env, id).await
        }
        ["user", "recovery-codes"] => {
            allow(&[Method::Post])?;
            accounts_api::recovery_codes(&mut req, env).await
        }
        ["user", "import"] => {
            allow(&[Method::Post])?;
            accounts_api::import(&mut req, env).await
        }
        ["user", "password"] => {
            allow(&[Method::Post])?;
            accounts_api::change_password(&mut req, env).await
        }
        ["user", "account"] => {
            allow(&[Method::Delete])?;
            accounts_api::delete_account(&mut req, env).await
        }
        ["sync", "ws"] => {
            allow(&[Method::Get])?;
            sync_api::websocket(&req, env, request_id).await
        }
        ["sync", "ticket"] => {
            allow(&[Method::Post])?;
            sync_api::ticket(&req, env).await
        }
        ["sync"] => {
            allow(&[Method::Post])?;
            sync_api::batch(&mut req, env).await
        }
        ["sync", "changes"] => {
            allow(&[Method::Get])?;
            sync_api::changes(&req, env).await
        }
        ["sync", "decks", "deleted"] => {
            allow(&[Method::Get])?;
            sync_api::deck(&mut req, env, None, DeckOp::Deleted).await
        }
        ["sync", "decks", id] => {
            allow(&[Method::Get])?;
            sync_api::deck(&mut req, env, Some(id), DeckOp::Get).await
        }
        ["sync", "decks", id, op] => {
            let (method, op) = match *op {
                "history" => (Method::Get, DeckOp::History),
                "restore" => (Method::Post, DeckOp::Restore),
                "undelete" => (Method::Post, DeckOp::Undelete),
                _ => return Err(not_found()),
            };
            allow(&[method])?;
            sync_api::deck(&mut req, env, Some(id), op).await
        }
        ["sync", name] => {
            allow(&[Method::Get, Method::Post])?;
            let view = match *name {
                "full" => None,
                name => Some(crate::views::View::parse(name).ok_or_else(not_found)?),
            };
            sync_api::view(&mut req, env, view).await
        }
        ["user", "export"] => {
            allow(&[Method::Get])?;
            accounts_api::export(&req, env).await
        }
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// Answers only after a round trip into a `UserStore` object's SQLite.
async fn health(env: &Env) -> std::result::Result<Response, ApiError> {
    let stub = rpc::health_store(env)?;
    let probe: serde_json::Value = rpc::call(&stub, &calls::StoreCall::Health).await?;
    if probe["sqlite"] != 1 {
        return Err(ApiError::new(ErrorCode::Internal, "storage probe failed"));
    }
    http::json(
        200,
        &serde_json::json!({"status": "ok", "version": crate::VERSION}),
    )
}
