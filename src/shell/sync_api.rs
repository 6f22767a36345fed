//! The `/sync/*` endpoints of docs/api.md: the WebSocket (bearer subprotocol or
//! single-use ticket), `POST /sync` batches, the changes feed and the JSON
//! views. Each authenticates, then forwards to the caller's own
//! `UserStore`.

use super::config::Config;
use super::user_store::{self, DeckCall, DeckOp, SessionCall, ViewCall};
use super::{accounts_api, http, observe, random, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::refresh::{OpaqueToken, TokenKind};
use crate::auth::tokens;
use crate::auth::AuthError;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// The subprotocol the server selects.
pub(crate) const SUBPROTOCOL: &str = "myflashplay-sync.v1";

type Answer = Result<Response, ApiError>;

/// `GET /sync/ws`.
pub(crate) async fn websocket(req: &Request, env: &Env, request_id: &str) -> Answer {
    let upgrade = req.headers().get("upgrade").ok().flatten();
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "this endpoint takes a WebSocket upgrade",
        ));
    }
    let config = Config::load(env)?;
    let headers = Headers::new();
    headers
        .set("upgrade", "websocket")
        .map_err(http::internal)?;
    headers
        .set(observe::FORWARDED_ID, request_id)
        .map_err(http::internal)?;
    let protocols = req
        .headers()
        .get("sec-websocket-protocol")
        .ok()
        .flatten()
        .unwrap_or_default();
    let offered: Vec<&str> = protocols.split(',').map(str::trim).collect();
    let bearer = offered.iter().find_map(|p| p.strip_prefix("bearer."));
    let ticket = req.url().ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
    });
    let user_id = match (bearer, ticket) {
        (Some(token), _) => {
            if !offered.contains(&SUBPROTOCOL) {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("offer the {SUBPROTOCOL} subprotocol"),
                ));
            }
            let claims = tokens::verify(&config.keys, token, random::now_ms() / 1000)?;
            headers
                .set("x-mfp-sid", &claims.sid)
                .map_err(http::internal)?;
            headers
                .set("x-mfp-subprotocol", "1")
                .map_err(http::internal)?;
            claims.sub
        }
        (None, Some(ticket)) => {
            let t = OpaqueToken::parse_kind(TokenKind::Ticket, &ticket)?;
            headers
                .set("x-mfp-ticket", &format!("{}:{}", t.session_id, t.hash()))
                .map_err(http::internal)?;
            if offered.contains(&SUBPROTOCOL) {
                headers
                    .set("x-mfp-subprotocol", "1")
                    .map_err(http::internal)?;
            }
            t.user_id.to_string()
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "authenticate with the bearer subprotocol or a ticket",
            ))
        }
    };
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let forward = Request::new_with_init("https://object/ws", &init).map_err(http::internal)?;
    let stub = rpc::stub(env, user_store::BINDING, &user_id)?;
    let res = stub
        .fetch_with_request(forward)
        .await
        .map_err(http::internal)?;
    if res.status_code() == 101 {
        return Ok(res);
    }
    Err(rpc::relay_error_response(res).await)
}

/// `POST /sync/ticket`.
pub(crate) async fn ticket(req: &Request, env: &Env) -> Answer {
    let (claims, store) = accounts_api::authenticated(req, env).await?;
    let answer: serde_json::Value =
        rpc::call(&store, "sync/ticket", &session_call(&claims.sid)).await?;
    http::json(200, &answer)
}

/// `POST /sync`: `application/cbor`, at most 1 MiB.
pub(crate) async fn batch(req: &mut Request, env: &Env) -> Answer {
    let (claims, store) = accounts_api::authenticated(req, env).await?;
    let ctype = req.headers().get("content-type").ok().flatten();
    if !ctype.is_some_and(|c| c.trim().eq_ignore_ascii_case("application/cbor")) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be application/cbor",
        ));
    }
    let body = http::body_bytes(req).await?;
    let headers = Headers::new();
    headers
        .set("x-mfp-sid", &claims.sid)
        .map_err(http::internal)?;
    let mut init = RequestInit::new();
    let array = worker::js_sys::Uint8Array::from(body.as_slice());
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(array.into()));
    let forward =
        Request::new_with_init("https://object/sync/batch", &init).map_err(http::internal)?;
    let res = store
        .fetch_with_request(forward)
        .await
        .map_err(http::internal)?;
    // A refusal keeps the object's answer (same error shape) so that its
    // reason reaches the request's log line.
    if res.status_code() == 200 || res.headers().has(observe::REJECTION).unwrap_or(false) {
        return Ok(res);
    }
    Err(rpc::relay_error_response(res).await)
}

/// `GET /sync/changes?since=<seq>`.
pub(crate) async fn changes(req: &Request, env: &Env) -> Answer {
    let (claims, store) = accounts_api::authenticated(req, env).await?;
    let since = match req.url().ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "since")
            .map(|(_, v)| v.into_owned())
    }) {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "since must be a non-negative integer",
            )
        })?,
    };
    let mut call = session_call(&claims.sid);
    call.since = Some(since);
    let answer: serde_json::Value = rpc::call(&store, "sync/changes", &call).await?;
    http::json(200, &answer)
}

/// `GET|POST /sync/{decks,achievements,progress,starred,preferences,full}`.
pub(crate) async fn view(req: &mut Request, env: &Env, name: &str) -> Answer {
    let (claims, store) = accounts_api::authenticated(req, env).await?;
    let body = if req.method() == Method::Post {
        let bytes = http::json_body(req).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::from(AuthError::InvalidJson(e.to_string())))?;
        Some(value)
    } else {
        None
    };
    let call = ViewCall {
        session: session_call(&claims.sid),
        view: (name != "full").then(|| name.to_owned()),
        body,
    };
    let answer: serde_json::Value = rpc::call(&store, "sync/view", &call).await?;
    http::json(200, &answer)
}

/// `/sync/decks/{deck_id}` (`?version=`), `…/history?limit=&before=`,
/// `POST …/restore {version}`, `POST …/undelete {}`,
/// `GET /sync/decks/deleted`.
pub(crate) async fn deck(
    req: &mut Request,
    env: &Env,
    deck_id: Option<&str>,
    op: DeckOp,
) -> Answer {
    let (claims, store) = accounts_api::authenticated(req, env).await?;
    let bad = |m: &str| ApiError::new(ErrorCode::ValidationFailed, m.to_owned());
    if let Some(id) = deck_id {
        if id.is_empty() || id.len() > myflashplay_client::model::limits::MAX_ID_BYTES {
            return Err(bad("deck_id must have 1..=128 bytes"));
        }
    }
    let query: Vec<(String, String)> = req
        .url()
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let limit = match param("limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=myflashplay_client::replica::HISTORY_MAX_LIMIT).contains(&n) => Some(n),
            _ => return Err(bad("limit must be an integer from 1 to 100")),
        },
    };
    let mut version = param("version");
    if op == DeckOp::Restore {
        let bytes = http::json_body(req).await?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::from(AuthError::InvalidJson(e.to_string())))?;
        version = Some(
            body.get("version")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad("version is required"))?
                .to_owned(),
        );
    }
    let call = DeckCall {
        session: session_call(&claims.sid),
        op,
        deck_id: deck_id.map(str::to_owned),
        version,
        limit,
        before: param("before"),
    };
    let answer: serde_json::Value = rpc::call(&store, "sync/deck", &call).await?;
    http::json(200, &answer)
}

fn session_call(sid: &str) -> SessionCall {
    SessionCall {
        sid: sid.to_owned(),
        now_ms: random::now_ms(),
        ..SessionCall::default()
    }
}
