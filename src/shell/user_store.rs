//! `UserStore`: one Durable Object per user (addressed by the `sub` of a
//! verified token), holding the profile and sessions (and, with the sync
//! engine, the user's documents) in its SQLite storage.
//!
//! Every op but `session/create`, `session/refresh` and the health probe
//! names the caller's session id first; a revoked or unknown session is
//! refused here, so logout and revocation take effect at once.

mod maintenance;
mod sync;

pub(crate) use sync::{ImportCall, ViewCall};

use super::do_sql::DoSql;
use super::{config, http, random, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::refresh::{OpaqueToken, RefreshToken, TokenKind};
use crate::auth::{session_id, AuthError};
use crate::limits::{self, Budget};
use crate::store::Engine;
use crate::time::iso8601;
use myflashplay_client::DocumentId;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, SqlStorage, State,
    WebSocket, WebSocketIncomingMessage,
};

/// The binding name in `wrangler.toml`.
pub(crate) const BINDING: &str = "USER_STORE";

/// `last_seen_at` is written at most this often per session.
const LAST_SEEN_GRANULARITY_MS: u64 = 60_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS profile (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  user_id TEXT NOT NULL,
  email TEXT NOT NULL,
  display_name TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  device_name TEXT,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  refresh_hash TEXT NOT NULL,
  refresh_expires_at INTEGER NOT NULL,
  rotation INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_history (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  rotated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tickets (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);";

#[durable_object]
pub struct UserStore {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// A maintenance alarm is known to be pending.
    alarm_set: Cell<bool>,
    /// The sync engine, opened on first use (and again after hibernation).
    engine: RefCell<Option<Engine<DoSql>>>,
    /// The user's request budget (HTTP calls; kept in memory: one object
    /// per user sees every call of that user).
    budget: RefCell<Budget>,
    /// `REQUESTS_PER_USER_PER_MINUTE`.
    budget_per_minute: u64,
}

/// `session/create`: a login or registration.
#[derive(Serialize, Deserialize)]
pub(crate) struct CreateSession {
    pub user_id: String,
    pub email: String,
    pub device_name: Option<String>,
    pub refresh_ttl_ms: u64,
    pub now_ms: u64,
    /// Revoke every existing session first (account recovery).
    #[serde(default)]
    pub revoke_all: bool,
}

/// `session/refresh`: rotate a refresh token.
#[derive(Serialize, Deserialize)]
pub(crate) struct RefreshSession {
    pub session_id: String,
    pub hash: String,
    pub refresh_ttl_ms: u64,
    pub now_ms: u64,
}

/// Any op on behalf of a session; `target` and `display_name` for the ops
/// that take them.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SessionCall {
    pub sid: String,
    pub now_ms: u64,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub since: Option<u64>,
}

/// A new or rotated session, as the Worker needs it to answer `Tokens`.
#[derive(Serialize, Deserialize)]
pub(crate) struct SessionGrant {
    pub user_id: String,
    pub email: String,
    pub session_id: String,
    pub refresh_token: String,
    pub root_document_id: String,
}

/// Who the session belongs to.
#[derive(Serialize, Deserialize)]
pub(crate) struct Whoami {
    pub user_id: String,
    pub email: String,
}

#[derive(Deserialize)]
struct ProfileRow {
    user_id: String,
    email: String,
    display_name: Option<String>,
    created_at: f64,
}

#[derive(Deserialize)]
struct SessionRow {
    session_id: String,
    device_name: Option<String>,
    created_at: f64,
    last_seen_at: f64,
    refresh_hash: String,
    refresh_expires_at: f64,
    revoked_at: Option<f64>,
}

impl DurableObject for UserStore {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            worker::console_error!("user store schema: {e}");
        }
        // Stores created before `rotated_at` existed (fails harmlessly once
        // the column is there).
        let _ = sql.exec(
            "ALTER TABLE refresh_history ADD COLUMN rotated_at INTEGER NOT NULL DEFAULT 0",
            None,
        );
        let budget_per_minute = config::var_u64(
            &env,
            "REQUESTS_PER_USER_PER_MINUTE",
            limits::DEFAULT_REQUESTS_PER_USER_PER_MINUTE,
        );
        Self {
            state,
            env,
            sql,
            alarm_set: Cell::new(false),
            engine: RefCell::new(None),
            budget: RefCell::new(Budget::default()),
            budget_per_minute,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let op = req.path();
        let outcome = self.route(&mut req).await;
        if op != "/internal/health" && op != "/erase" {
            self.ensure_alarm().await;
        }
        Ok(outcome.unwrap_or_else(|e| http::error_response(&e)))
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.maintain().await {
            worker::console_error!("maintenance: {}", e.code.as_str());
        }
        Response::empty()
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        match message {
            WebSocketIncomingMessage::Binary(bytes) => self.on_frame(&ws, &bytes).await,
            WebSocketIncomingMessage::String(_) => {
                sync::reject_text(&ws);
                self.on_close(&ws, sync::CLOSE_TEXT);
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.on_close(&ws, u16::try_from(code).unwrap_or(1006));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.on_close(&ws, 1006);
        Ok(())
    }
}

type Answer = std::result::Result<Response, ApiError>;

impl UserStore {
    async fn route(&self, req: &mut Request) -> Answer {
        let op = req.path();
        if op != "/internal/health" {
            self.spend()?;
        }
        match op.as_str() {
            "/internal/health" => self.health(),
            "/ws" => self.accept_socket(req),
            "/sync/batch" => self.sync_batch(req).await,
            "/session/create" => self.create_session(rpc::object_body(req).await?),
            "/import" => {
                let call: ImportCall = rpc::object_body(req).await?;
                let me = self.authorize(&call.session)?;
                self.import(&me.user_id, &call.data)
            }
            "/session/refresh" => self.refresh(rpc::object_body(req).await?),
            "/sync/view" => {
                let call: ViewCall = rpc::object_body(req).await?;
                let me = self.authorize(&call.session)?;
                self.view(&me.user_id, &call)
            }
            "/erase" => {
                let call: SessionCall = rpc::object_body(req).await?;
                self.authorize(&call)?;
                self.erase().await
            }
            _ => {
                let call: SessionCall = rpc::object_body(req).await?;
                let me = self.authorize(&call)?;
                match op.as_str() {
                    "/session/check" => http::json(200, &me),
                    "/session/revoke" => self.revoke(&call),
                    "/sessions/list" => self.list_sessions(&call),
                    "/sessions/revoke-others" => self.revoke_others(&call),
                    "/profile/get" => self.profile(),
                    "/profile/put" => self.put_profile(&call),
                    "/export" => self.export(&me.user_id, &me.email),
                    "/sync/ticket" => self.create_ticket(&call, &me.user_id),
                    "/sync/changes" => self.changes(call.since.unwrap_or(0)),
                    _ => Err(http::internal(format!("user store: unknown op {op}"))),
                }
            }
        }
    }

    fn health(&self) -> Answer {
        #[derive(Deserialize)]
        struct Probe {
            one: i64,
        }
        let probe: Probe = self
            .sql
            .exec("SELECT 1 AS one", None)
            .and_then(|c| c.one())
            .map_err(http::internal)?;
        http::json(200, &serde_json::json!({"sqlite": probe.one}))
    }

    /// One unit of the user's request budget (`429` when spent).
    fn spend(&self) -> std::result::Result<(), ApiError> {
        self.budget
            .borrow_mut()
            .take(
                "user",
                self.budget_per_minute,
                limits::MINUTE_MS,
                random::now_ms(),
            )
            .map_err(ApiError::rate_limited)
    }

    fn create_session(&self, call: CreateSession) -> Answer {
        if call.revoke_all {
            self.close_session_sockets(None);
            self.sql
                .exec(
                    "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL",
                    vec![(call.now_ms as i64).into()],
                )
                .map_err(http::internal)?;
        }
        // Idempotent: a registration whose first session failed still gets
        // its profile on the next login.
        self.sql
            .exec(
                "INSERT OR IGNORE INTO profile (id, user_id, email, created_at) VALUES (1, ?, ?, ?)",
                vec![
                    call.user_id.clone().into(),
                    call.email.clone().into(),
                    (call.now_ms as i64).into(),
                ],
            )
            .map_err(http::internal)?;
        let profile = self
            .profile_row()?
            .ok_or_else(|| http::internal("no profile"))?;
        let sid = session_id::new_session_id(random::bytes()?);
        let token = self.new_refresh(&profile.user_id, &sid)?;
        self.sql
            .exec(
                "INSERT INTO sessions (session_id, device_name, created_at, last_seen_at,
                   refresh_hash, refresh_expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    sid.clone().into(),
                    call.device_name.into(),
                    (call.now_ms as i64).into(),
                    (call.now_ms as i64).into(),
                    token.hash().into(),
                    ((call.now_ms + call.refresh_ttl_ms) as i64).into(),
                ],
            )
            .map_err(http::internal)?;
        http::json(200, &grant(&profile, sid, &token))
    }

    /// Rotates the refresh token. A token seen before (an old one, reused)
    /// revokes the whole session: someone else may hold it.
    fn refresh(&self, call: RefreshSession) -> Answer {
        let profile = self.profile_row()?.ok_or(AuthError::InvalidToken)?;
        let session = self
            .session_row(&call.session_id)?
            .ok_or(AuthError::InvalidToken)?;
        if session.revoked_at.is_some() {
            return Err(AuthError::InvalidToken.into());
        }
        if session.refresh_hash != call.hash {
            if self.was_issued(&call.hash, &call.session_id)? {
                self.revoke_session(&call.session_id, call.now_ms)?;
                worker::console_warn!("refresh token reuse: session revoked");
            }
            return Err(AuthError::InvalidToken.into());
        }
        if session.refresh_expires_at as u64 <= call.now_ms {
            return Err(AuthError::InvalidToken.into());
        }
        let token = self.new_refresh(&profile.user_id, &session.session_id)?;
        self.sql
            .exec(
                "INSERT OR IGNORE INTO refresh_history (hash, session_id, rotated_at)
                 VALUES (?, ?, ?)",
                vec![
                    session.refresh_hash.into(),
                    session.session_id.clone().into(),
                    (call.now_ms as i64).into(),
                ],
            )
            .map_err(http::internal)?;
        self.sql
            .exec(
                "UPDATE sessions SET refresh_hash = ?, refresh_expires_at = ?,
                   rotation = rotation + 1, last_seen_at = ? WHERE session_id = ?",
                vec![
                    token.hash().into(),
                    ((call.now_ms + call.refresh_ttl_ms) as i64).into(),
                    (call.now_ms as i64).into(),
                    session.session_id.clone().into(),
                ],
            )
            .map_err(http::internal)?;
        http::json(200, &grant(&profile, session.session_id, &token))
    }

    /// The caller's identity, if its session is live.
    fn authorize(&self, call: &SessionCall) -> std::result::Result<Whoami, ApiError> {
        let profile = self.profile_row()?.ok_or(AuthError::InvalidToken)?;
        let session = self
            .session_row(&call.sid)?
            .ok_or(AuthError::InvalidToken)?;
        if session.revoked_at.is_some() {
            return Err(AuthError::InvalidToken.into());
        }
        if call.now_ms.saturating_sub(session.last_seen_at as u64) > LAST_SEEN_GRANULARITY_MS {
            self.sql
                .exec(
                    "UPDATE sessions SET last_seen_at = ? WHERE session_id = ?",
                    vec![(call.now_ms as i64).into(), call.sid.clone().into()],
                )
                .map_err(http::internal)?;
        }
        Ok(Whoami {
            user_id: profile.user_id,
            email: profile.email,
        })
    }

    fn revoke(&self, call: &SessionCall) -> Answer {
        let target = call.target.as_deref().unwrap_or(&call.sid);
        match self.session_row(target)? {
            Some(s) if s.revoked_at.is_none() => {
                self.revoke_session(target, call.now_ms)?;
                self.close_session_sockets(Some(target));
                http::json(200, &serde_json::json!({}))
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such session")),
        }
    }

    fn revoke_others(&self, call: &SessionCall) -> Answer {
        for ws in self.state.get_websockets() {
            let att: Option<sync::Attachment> = ws.deserialize_attachment().ok().flatten();
            if att.is_some_and(|a| a.sid != call.sid) {
                let _ = ws.close(Some(1008), Some("session revoked"));
            }
        }
        self.sql
            .exec(
                "UPDATE sessions SET revoked_at = ? WHERE session_id != ? AND revoked_at IS NULL",
                vec![(call.now_ms as i64).into(), call.sid.clone().into()],
            )
            .map_err(http::internal)?;
        http::json(200, &serde_json::json!({}))
    }

    fn list_sessions(&self, call: &SessionCall) -> Answer {
        let rows: Vec<SessionRow> = self
            .sql
            .exec(
                "SELECT * FROM sessions WHERE revoked_at IS NULL ORDER BY created_at, session_id",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        let sessions: Vec<_> = rows
            .into_iter()
            .map(|s| {
                serde_json::json!({
                    "session_id": s.session_id,
                    "device_name": s.device_name,
                    "created_at": iso8601(s.created_at as u64),
                    "last_seen_at": iso8601(s.last_seen_at as u64),
                    "current": s.session_id == call.sid,
                })
            })
            .collect();
        http::json(200, &serde_json::json!({ "sessions": sessions }))
    }

    fn profile(&self) -> Answer {
        let p = self.profile_row()?.ok_or(AuthError::InvalidToken)?;
        http::json(200, &profile_json(&p))
    }

    fn put_profile(&self, call: &SessionCall) -> Answer {
        self.sql
            .exec(
                "UPDATE profile SET display_name = ? WHERE id = 1",
                vec![call.display_name.clone().into()],
            )
            .map_err(http::internal)?;
        self.profile()
    }

    /// Erases everything this object stores, then recreates the empty
    /// schema so later calls (old tokens) are refused, not failed.
    async fn erase(&self) -> Answer {
        self.close_session_sockets(None);
        self.engine.replace(None);
        let _ = self.state.storage().delete_alarm().await;
        self.alarm_set.set(false);
        self.state
            .storage()
            .delete_all()
            .await
            .map_err(http::internal)?;
        self.sql.exec(SCHEMA, None).map_err(http::internal)?;
        http::json(200, &serde_json::json!({}))
    }

    /// A single-use ticket for `/sync/ws?ticket=` (for clients, like
    /// browsers and stock automerge-repo, that cannot set headers).
    fn create_ticket(&self, call: &SessionCall, user_id: &str) -> Answer {
        let uid = uuid::Uuid::try_parse(user_id).map_err(http::internal)?;
        let ticket = OpaqueToken::of_kind(TokenKind::Ticket, uid, &call.sid, random::bytes()?);
        self.sql
            .exec(
                "DELETE FROM tickets WHERE expires_at <= ?",
                vec![(call.now_ms as i64).into()],
            )
            .map_err(http::internal)?;
        self.sql
            .exec(
                "INSERT INTO tickets (hash, session_id, expires_at) VALUES (?, ?, ?)",
                vec![
                    ticket.hash().into(),
                    call.sid.clone().into(),
                    ((call.now_ms + sync::TICKET_TTL_MS) as i64).into(),
                ],
            )
            .map_err(http::internal)?;
        http::json(
            200,
            &serde_json::json!({
                "ticket": ticket.encode(),
                "expires_in": sync::TICKET_TTL_MS / 1000,
            }),
        )
    }

    /// Takes a ticket (`<session id>:<hash>`) out of the table: valid once.
    fn consume_ticket(&self, ticket: &str, now_ms: u64) -> std::result::Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Row {
            expires_at: f64,
        }
        let (sid, hash) = ticket.split_once(':').ok_or(AuthError::InvalidToken)?;
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT expires_at FROM tickets WHERE hash = ? AND session_id = ?",
                vec![hash.into(), sid.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        self.sql
            .exec("DELETE FROM tickets WHERE hash = ?", vec![hash.into()])
            .map_err(http::internal)?;
        match rows.first() {
            Some(r) if r.expires_at as u64 > now_ms => Ok(sid.to_owned()),
            _ => Err(AuthError::InvalidToken.into()),
        }
    }

    fn new_refresh(&self, user_id: &str, sid: &str) -> std::result::Result<RefreshToken, ApiError> {
        let uid = uuid::Uuid::try_parse(user_id).map_err(http::internal)?;
        Ok(RefreshToken::new(uid, sid, random::bytes()?))
    }

    fn was_issued(&self, hash: &str, sid: &str) -> std::result::Result<bool, ApiError> {
        let n = self.count(
            "SELECT COUNT(*) AS n FROM refresh_history WHERE hash = ? AND session_id = ?",
            vec![hash.into(), sid.into()],
        )?;
        Ok(n > 0)
    }

    /// The `n` of a `SELECT COUNT(*) AS n` query.
    fn count(
        &self,
        query: &str,
        args: Vec<worker::SqlStorageValue>,
    ) -> std::result::Result<u64, ApiError> {
        #[derive(Deserialize)]
        struct N {
            n: f64,
        }
        let n: N = self
            .sql
            .exec(query, args)
            .and_then(|c| c.one())
            .map_err(http::internal)?;
        Ok(n.n as u64)
    }

    fn revoke_session(&self, sid: &str, now_ms: u64) -> std::result::Result<(), ApiError> {
        self.sql
            .exec(
                "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
                vec![(now_ms as i64).into(), sid.into()],
            )
            .map(|_| ())
            .map_err(http::internal)
    }

    fn profile_row(&self) -> std::result::Result<Option<ProfileRow>, ApiError> {
        let rows: Vec<ProfileRow> = self
            .sql
            .exec(
                "SELECT user_id, email, display_name, created_at FROM profile WHERE id = 1",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        Ok(rows.into_iter().next())
    }

    fn session_row(&self, sid: &str) -> std::result::Result<Option<SessionRow>, ApiError> {
        let rows: Vec<SessionRow> = self
            .sql
            .exec(
                "SELECT * FROM sessions WHERE session_id = ?",
                vec![sid.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        Ok(rows.into_iter().next())
    }
}

fn root_document_id(user_id: &str) -> String {
    DocumentId::derive(&["root", user_id]).to_string()
}

fn grant(profile: &ProfileRow, session_id: String, token: &RefreshToken) -> SessionGrant {
    SessionGrant {
        user_id: profile.user_id.clone(),
        email: profile.email.clone(),
        session_id,
        refresh_token: token.encode(),
        root_document_id: root_document_id(&profile.user_id),
    }
}

fn profile_json(p: &ProfileRow) -> serde_json::Value {
    serde_json::json!({
        "user_id": p.user_id,
        "email": p.email,
        "display_name": p.display_name,
        "created_at": iso8601(p.created_at as u64),
        "root_document_id": root_document_id(&p.user_id),
    })
}
