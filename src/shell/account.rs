//! `Account`: one Durable Object per normalized email (credentials, the
//! hashed recovery codes and the per-email login back-off), and, under
//! names `ip:<address>`, the per-IP back-off and registration window.
//! Emails never contain `:`, so the two name spaces cannot meet.
//!
//! The rules are `auth::account`'s; this file dispatches [`AccountCall`]s,
//! draws the randomness and keeps the back-off row's expiry alarm.

use super::calls::AccountCall;
use super::do_sql::DoSql;
use super::maintenance::Schedule;
use super::{clock, http, random, rpc};
use crate::api_error::ApiError;
use crate::auth::account::{self, Draw, Identity};
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct Account {
    state: State,
    env: Env,
    db: DoSql,
}

impl DurableObject for Account {
    fn new(state: State, env: Env) -> Self {
        let db = DoSql::of(&state);
        if let Err(e) = account::create_schema(&db) {
            worker::console_error!("account schema: {e}");
        }
        Self { state, env, db }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let outcome = match rpc::read_call::<AccountCall>(&mut req).await {
            Ok(call) => self.route(call),
            Err(e) => Err(e),
        };
        if let Err(e) = self.schedule_expiry().await {
            http::log_cause(&e);
        }
        Ok(outcome.unwrap_or_else(|e| http::error_response(&e)))
    }

    /// Deletes the back-off row once it is old and no wait runs, or
    /// moves the alarm to when that will be.
    async fn alarm(&self) -> Result<Response> {
        let retention = Schedule::load(&self.env).backoff_retention_ms;
        match account::expire_backoff(&self.db, clock::now_ms(), retention) {
            Ok(true) => worker::console_log!(
                "{}",
                serde_json::json!({"type": "maintenance", "object": "Account", "backoff_rows_deleted": 1})
            ),
            Ok(false) => {
                if let Err(e) = self.schedule_expiry().await {
                    http::log_cause(&e);
                }
            }
            Err(e) => http::log_cause(&ApiError::from(e)),
        }
        Response::empty()
    }
}

impl Account {
    /// Runs the call; nothing awaits inside, so two calls to one account
    /// (two registrations of one email) cannot interleave.
    fn route(&self, call: AccountCall) -> std::result::Result<Response, ApiError> {
        let now = clock::now_ms();
        let db = &self.db;
        let who: Identity = match call {
            AccountCall::Register { email, prehash } => {
                account::register(db, &email, &prehash, now, &draw()?)?
            }
            AccountCall::Login { prehash } => account::login(db, &prehash, now)?,
            AccountCall::ChangePassword { old, new } => {
                account::change_password(db, &old, &new, now, &random::bytes()?)?
            }
            AccountCall::Delete { prehash } => account::delete(db, &prehash, now)?,
            AccountCall::ReplaceCodes { prehash } => {
                account::replace_codes(db, &prehash, now, &draw()?)?
            }
            AccountCall::Recover { code, new_prehash } => {
                account::recover(db, &code, &new_prehash, now, &random::bytes()?)?
            }
            AccountCall::AddressCheck => return done(account::address_check(db, now)),
            AccountCall::AddressFailed => return done(account::address_failed(db, now)),
            AccountCall::AddressRegisters { limit } => {
                return done(account::address_registers(db, limit, now))
            }
        };
        http::json(200, &who)
    }

    /// Sets the alarm to the back-off row's expiry (a no-op without one).
    async fn schedule_expiry(&self) -> std::result::Result<(), ApiError> {
        let retention = Schedule::load(&self.env).backoff_retention_ms;
        let Some(at) = account::backoff_expiry(&self.db, retention)? else {
            return Ok(());
        };
        let delay = at.saturating_sub(clock::now_ms()).max(1);
        self.state
            .storage()
            .set_alarm(delay as i64)
            .await
            .map_err(ApiError::internal)
    }
}

/// The randomness a registration or a new set of codes may spend.
fn draw() -> std::result::Result<Draw, ApiError> {
    Ok(Draw {
        user_id: random::bytes()?,
        salt: random::bytes()?,
        codes: random::bytes()?,
    })
}

/// `{}` for a call that answers nothing but success.
fn done(
    outcome: std::result::Result<(), crate::auth::AuthError>,
) -> std::result::Result<Response, ApiError> {
    outcome?;
    http::json(200, &serde_json::json!({}))
}
