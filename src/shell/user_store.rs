//! `UserStore`: one Durable Object per user (addressed by the `sub` of a
//! verified token), holding the profile, the sessions and the user's
//! documents in its SQLite storage.
//!
//! Every call but opening a session, a refresh and the health probe names
//! the caller's session; a revoked or unknown session is refused here
//! (`auth::sessions::authorize`), so logout and revocation take effect at
//! once. The session rules are in `auth::sessions`, the documents' in the
//! engine; this file dispatches [`StoreCall`]s and does the I/O.

mod acts;
mod batch;
mod documents;
mod history;
mod maintenance;
mod sockets;
mod sync;

use super::calls::{SocketAuth, StoreCall};
use super::do_sql::DoSql;
use super::{clock, config, http, observe, random, rpc};
use crate::api_error::{close, ApiError};
use crate::auth::sessions::{self, Whoami};
use crate::auth::tickets;
use crate::auth::{AuthError, SessionId};
use crate::limits::{self, Budget};
use crate::store::{self, Engine};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

#[durable_object]
pub struct UserStore {
    state: State,
    env: Env,
    db: DoSql,
    /// A maintenance alarm is known to be pending.
    alarm_set: Cell<bool>,
    /// The sync engine, opened on first use (and again after hibernation).
    engine: RefCell<Option<Engine<DoSql>>>,
    /// The user's request budget (HTTP calls; kept in memory: one object
    /// per user sees every call of that user).
    budget: RefCell<Budget>,
    /// `REQUESTS_PER_USER_PER_MINUTE`.
    budget_per_minute: u64,
    /// Sessions a WebSocket frame found live, and when: a socket's next
    /// frames skip the two queries until
    /// `sessions::LAST_SEEN_GRANULARITY_MS` has passed. Every call into
    /// the object (any revocation is one) empties it before and after,
    /// and so does the alarm: no frame is let through on an answer older
    /// than the last call.
    live_frames: RefCell<BTreeMap<SessionId, u64>>,
}

impl DurableObject for UserStore {
    fn new(state: State, env: Env) -> Self {
        let db = DoSql::of(&state);
        if let Err(e) = sessions::create_schema(&db) {
            worker::console_error!("user store schema: {e}");
        }
        let budget_per_minute = config::var_u64(
            &env,
            "REQUESTS_PER_USER_PER_MINUTE",
            limits::DEFAULT_REQUESTS_PER_USER_PER_MINUTE,
        );
        Self {
            state,
            env,
            db,
            alarm_set: Cell::new(false),
            engine: RefCell::new(None),
            budget: RefCell::new(Budget::default()),
            budget_per_minute,
            live_frames: RefCell::new(BTreeMap::new()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.live_frames.borrow_mut().clear();
        let outcome = match rpc::read_call::<StoreCall>(&mut req).await {
            Ok(call) => {
                let set_alarm = !call.leaves_nothing();
                let outcome = self.route(call, &mut req).await;
                if set_alarm {
                    self.ensure_alarm().await;
                }
                outcome
            }
            Err(e) => Err(e),
        };
        // Again once the call is done: a frame checked while it awaited
        // must not outlive what it did.
        self.live_frames.borrow_mut().clear();
        observe::note_memory();
        Ok(outcome.unwrap_or_else(|e| http::error_response(&e)))
    }

    async fn alarm(&self) -> Result<Response> {
        self.live_frames.borrow_mut().clear();
        if let Err(e) = self.maintain().await {
            http::log_cause(&e);
            worker::console_error!("maintenance: {}", e.code.as_str());
        }
        observe::note_memory();
        Response::empty()
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        match message {
            WebSocketIncomingMessage::Binary(bytes) => {
                self.on_frame(&ws, &bytes).await;
                observe::note_memory();
            }
            WebSocketIncomingMessage::String(_) => {
                self.close_socket(&ws, close::UNSUPPORTED, "binary frames only");
                self.on_close(&ws, close::UNSUPPORTED);
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
        self.on_close(&ws, u16::try_from(code).unwrap_or(close::ABNORMAL));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.on_close(&ws, close::ABNORMAL);
        Ok(())
    }
}

type Answer = std::result::Result<Response, ApiError>;

impl UserStore {
    async fn route(&self, call: StoreCall, req: &mut Request) -> Answer {
        if !call.is_probe() {
            self.spend()?;
        }
        let now = clock::now_ms();
        match call {
            StoreCall::Health => http::json(
                200,
                &serde_json::json!({"sqlite": i32::from(store::probe(&self.db)?)}),
            ),
            StoreCall::OpenSession(new) => {
                if new.revoke_all {
                    self.close_session_sockets(None);
                }
                let grant =
                    sessions::open(&self.db, &new, now, random::bytes()?, random::bytes()?)?;
                self.ensure_root(grant.user_id)?;
                http::json(200, &grant)
            }
            StoreCall::Refresh {
                session,
                hash,
                refresh_ttl_ms,
            } => {
                let rotated = sessions::rotate(
                    &self.db,
                    &session,
                    &hash,
                    refresh_ttl_ms,
                    now,
                    random::bytes()?,
                );
                if rotated
                    .as_ref()
                    .is_err_and(|e| *e == AuthError::RefreshReused)
                {
                    self.close_session_sockets(Some(&session));
                    worker::console_warn!("refresh token reuse: session revoked");
                }
                http::json(200, &rotated?)
            }
            StoreCall::Socket {
                auth,
                subprotocol,
                request_id,
            } => {
                let session = match auth {
                    SocketAuth::Token { session } => session,
                    SocketAuth::Ticket { session, hash } => {
                        tickets::consume_ticket(&self.db, &session, &hash, now)?;
                        session
                    }
                };
                self.live(&session, now)?;
                self.accept_socket(session, subprotocol, request_id, now)
            }
            StoreCall::Session { session, act } => {
                let me = self.live(&session, now)?;
                self.act(me, session, act, req, now).await
            }
        }
    }

    /// The live-session check, on every call and frame of a session.
    fn live(&self, session: &SessionId, now: u64) -> std::result::Result<Whoami, ApiError> {
        Ok(sessions::authorize(&self.db, session, now)?)
    }

    /// [`UserStore::live`] for a WebSocket frame: answered from
    /// `live_frames` while its entry is fresh.
    fn live_frame(&self, session: &SessionId, now: u64) -> std::result::Result<(), ApiError> {
        let fresh = self
            .live_frames
            .borrow()
            .get(session)
            .is_some_and(|at| now.saturating_sub(*at) < sessions::LAST_SEEN_GRANULARITY_MS);
        if !fresh {
            self.live(session, now)?;
            self.live_frames.borrow_mut().insert(session.clone(), now);
        }
        Ok(())
    }

    /// One unit of the user's request budget (`429` when spent).
    fn spend(&self) -> std::result::Result<(), ApiError> {
        self.budget
            .borrow_mut()
            .take(
                "user",
                self.budget_per_minute,
                limits::MINUTE_MS,
                clock::now_ms(),
            )
            .map_err(ApiError::rate_limited)
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
            .map_err(ApiError::internal)?;
        sessions::create_schema(&self.db)?;
        http::json(200, &serde_json::json!({}))
    }
}
