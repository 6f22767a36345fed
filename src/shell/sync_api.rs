//! The `/sync/*` endpoints of docs/api.md: the WebSocket (bearer subprotocol or
//! single-use ticket), `POST /sync` batches, the changes feed and the JSON
//! views. Each authenticates, then forwards to the caller's own
//! `UserStore`.

use super::caller::{self, Caller};
use super::calls::{DeckOp, SessionAct, SocketAuth, StoreCall, SUBPROTOCOL};
use super::config::Config;
use super::{clock, http, observe, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::refresh::{OpaqueToken, TokenKind};
use crate::auth::tokens;
use crate::auth::AuthError;
use crate::views::View;
use worker::{Env, Headers, Method, Request, Response};

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
    let subprotocol = offered.contains(&SUBPROTOCOL);
    let (user_id, auth) = match (bearer, ticket) {
        (Some(token), _) => {
            if !subprotocol {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("offer the {SUBPROTOCOL} subprotocol"),
                ));
            }
            let claims = tokens::verify(&config.keys, token, clock::now_ms() / 1000)?;
            let caller = Caller::of(&claims)?;
            (
                caller.user_id,
                SocketAuth::Token {
                    session: caller.session,
                },
            )
        }
        (None, Some(ticket)) => {
            let t = OpaqueToken::parse_kind(TokenKind::Ticket, &ticket)?;
            let hash = t.hash();
            (
                t.user_id,
                SocketAuth::Ticket {
                    session: t.session_id,
                    hash,
                },
            )
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "authenticate with the bearer subprotocol or a ticket",
            ))
        }
    };
    let call = StoreCall::Socket {
        auth,
        subprotocol,
        request_id: request_id.to_owned(),
    };
    let headers = Headers::new();
    headers
        .set("upgrade", "websocket")
        .map_err(ApiError::internal)?;
    let stub = rpc::user_store(env, user_id)?;
    let res = rpc::call_beside(&stub, &call, Method::Get, headers, None).await?;
    if res.status_code() == 101 {
        return Ok(res);
    }
    Err(rpc::relay_error(res).await)
}

/// `POST /sync/ticket`.
pub(crate) async fn ticket(req: &Request, env: &Env) -> Answer {
    let (caller, store) = caller::authenticated(req, env).await?;
    caller.ask(&store, SessionAct::Ticket).await
}

/// `POST /sync`: `application/cbor`, at most 1 MiB.
pub(crate) async fn batch(req: &mut Request, env: &Env) -> Answer {
    let (caller, store) = caller::authenticated(req, env).await?;
    let ctype = req.headers().get("content-type").ok().flatten();
    if !ctype.is_some_and(|c| c.trim().eq_ignore_ascii_case("application/cbor")) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be application/cbor",
        ));
    }
    let body = http::body_bytes(req).await?;
    let array = worker::js_sys::Uint8Array::from(body.as_slice());
    let call = caller.call(SessionAct::Batch);
    let res = rpc::call_beside(
        &store,
        &call,
        Method::Post,
        Headers::new(),
        Some(array.into()),
    )
    .await?;
    // A refusal keeps the object's answer (same error shape) so that its
    // reason reaches the request's log line.
    if res.status_code() == 200 || res.headers().has(observe::REJECTION).unwrap_or(false) {
        return Ok(res);
    }
    Err(rpc::relay_error(res).await)
}

/// `GET /sync/changes?since=<seq>`.
pub(crate) async fn changes(req: &Request, env: &Env) -> Answer {
    let (caller, store) = caller::authenticated(req, env).await?;
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
    caller.ask(&store, SessionAct::Changes { since }).await
}

/// `GET|POST /sync/{decks,achievements,progress,starred,preferences,full}`
/// (`view: None` for `full`).
pub(crate) async fn view(req: &mut Request, env: &Env, view: Option<View>) -> Answer {
    let (caller, store) = caller::authenticated(req, env).await?;
    let body = if req.method() == Method::Post {
        let bytes = http::json_body(req).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::from(AuthError::InvalidJson(e.to_string())))?;
        Some(value)
    } else {
        None
    };
    caller.ask(&store, SessionAct::View { view, body }).await
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
    let (caller, store) = caller::authenticated(req, env).await?;
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
    let act = SessionAct::Deck {
        op,
        deck_id: deck_id.map(str::to_owned),
        version,
        limit,
        before: param("before"),
    };
    caller.ask(&store, act).await
}
