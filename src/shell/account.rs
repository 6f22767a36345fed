//! `Account`: one Durable Object per normalized email (credentials, the
//! hashed recovery codes and the per-email login back-off), and, under
//! names `ip:<address>`, the per-IP back-off and registration window.
//! Emails never contain `:`, so the two name spaces cannot meet.

use super::do_sql::DoSql;
use super::maintenance::Schedule;
use super::{http, random, rpc};
use crate::api_error::ApiError;
use crate::auth::lockout::{self, Lockout, Policy};
use crate::auth::recovery::{self, RecoveryCode, CODE_BYTES, CODE_COUNT};
use crate::auth::{password, session_id, AuthError, Prehash};
use crate::limits;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, SqlStorage, State,
};

/// The binding name in `wrangler.toml`.
pub(crate) const BINDING: &str = "ACCOUNT";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS account (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  email TEXT NOT NULL,
  user_id TEXT NOT NULL,
  phc TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lockout (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  failures INTEGER NOT NULL,
  last_failure_ms INTEGER NOT NULL,
  locked_until_ms INTEGER NOT NULL
);";

#[durable_object]
pub struct Account {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// The same storage through the `Sql` trait (recovery codes, limits).
    db: DoSql,
}

/// What the Worker sends for register, login, verify and delete.
#[derive(Serialize, Deserialize)]
pub(crate) struct CredentialCall {
    pub email: String,
    pub prehash: String,
    pub now_ms: u64,
}

/// What the Worker sends to change a password.
#[derive(Serialize, Deserialize)]
pub(crate) struct PasswordCall {
    pub old_prehash: String,
    pub new_prehash: String,
    pub now_ms: u64,
}

/// A time-only call (the per-IP back-off).
#[derive(Serialize, Deserialize)]
pub(crate) struct NowCall {
    pub now_ms: u64,
}

/// What the Worker sends to recover an account with a code.
#[derive(Serialize, Deserialize)]
pub(crate) struct RecoverCall {
    pub code: String,
    pub new_prehash: String,
    pub now_ms: u64,
}

/// A registration attempt from one address (`ip/register`).
#[derive(Serialize, Deserialize)]
pub(crate) struct RegistrationCall {
    pub limit: u64,
    pub now_ms: u64,
}

/// The account's identity, answered on success; a new set of recovery
/// codes (shown once) after registration or `recovery/replace`.
#[derive(Serialize, Deserialize)]
pub(crate) struct Identity {
    pub user_id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct AccountRow {
    email: String,
    user_id: String,
    phc: String,
}

impl DurableObject for Account {
    fn new(state: State, env: Env) -> Self {
        let storage = state.storage();
        let sql = storage.sql();
        for schema in [SCHEMA, recovery::SCHEMA, limits::REGISTRATIONS_SCHEMA] {
            if let Err(e) = sql.exec(schema, None) {
                worker::console_error!("account schema: {e}");
            }
        }
        let raw: &worker::wasm_bindgen::JsValue = storage.as_raw().as_ref();
        let db = DoSql::new(sql.clone(), raw.clone());
        Self {
            state,
            env,
            sql,
            db,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let outcome = self.route(&mut req).await;
        if let Err(e) = self.schedule_expiry().await {
            worker::console_error!("back-off expiry: {}", e.code.as_str());
        }
        Ok(outcome.unwrap_or_else(|e| http::error_response(&e)))
    }

    /// Deletes the back-off row once it is old and no wait runs, or
    /// moves the alarm to when that will be.
    async fn alarm(&self) -> Result<Response> {
        let now_ms = random::now_ms();
        match self.expiry_at().ok().flatten() {
            Some(at) if at <= now_ms => {
                let deleted = self
                    .sql
                    .exec("DELETE FROM lockout", None)
                    .map(|c| c.rows_written())
                    .unwrap_or(0);
                worker::console_log!(
                    "{}",
                    serde_json::json!({"type": "maintenance", "object": "Account", "backoff_rows_deleted": deleted})
                );
            }
            Some(_) => {
                if let Err(e) = self.schedule_expiry().await {
                    worker::console_error!("back-off expiry: {}", e.code.as_str());
                }
            }
            None => {}
        }
        Response::empty()
    }
}

impl Account {
    async fn route(&self, req: &mut Request) -> std::result::Result<Response, ApiError> {
        let op = req.path();
        match op.as_str() {
            "/register" => self.register(rpc::object_body(req).await?),
            "/login" => self.login(rpc::object_body(req).await?),
            "/password" => self.change_password(rpc::object_body(req).await?),
            "/delete" => self.delete(rpc::object_body(req).await?),
            "/recover" => self.recover(rpc::object_body(req).await?),
            "/recovery/replace" => self.replace_codes(rpc::object_body(req).await?),
            "/ip/register" => self.ip_register(rpc::object_body(req).await?),
            "/ip/check" => self.ip_check(rpc::object_body(req).await?),
            "/ip/fail" => self.ip_fail(rpc::object_body(req).await?),
            _ => Err(http::internal(format!("account: unknown op {op}"))),
        }
    }

    /// Creates the account. Nothing awaits between the existence check and
    /// the insert, so two concurrent registrations cannot both succeed.
    fn register(&self, call: CredentialCall) -> std::result::Result<Response, ApiError> {
        let prehash = Prehash::parse(&call.prehash)?;
        if self.row()?.is_some() {
            return Err(AuthError::EmailTaken.into());
        }
        let user_id = session_id::new_user_id(call.now_ms, random::bytes()?).to_string();
        let phc = password::hash(&prehash, &random::bytes()?)?;
        self.sql
            .exec(
                "INSERT INTO account (id, email, user_id, phc, created_at) VALUES (1, ?, ?, ?, ?)",
                vec![
                    call.email.clone().into(),
                    user_id.clone().into(),
                    phc.into(),
                    (call.now_ms as i64).into(),
                ],
            )
            .map_err(http::internal)?;
        let codes = self.new_codes(&user_id, call.now_ms)?;
        http::json(
            200,
            &Identity {
                user_id,
                email: call.email,
                recovery_codes: Some(codes),
            },
        )
    }

    /// Stores a new set of recovery codes (replacing the old one) and
    /// returns them for display; only their hashes stay here.
    fn new_codes(&self, user_id: &str, now_ms: u64) -> std::result::Result<Vec<String>, ApiError> {
        let random: [u8; CODE_COUNT * CODE_BYTES] = random::bytes()?;
        let codes = recovery::generate(&random);
        recovery::replace(&self.db, user_id, &codes, now_ms).map_err(http::internal)?;
        Ok(codes.iter().map(RecoveryCode::display).collect())
    }

    /// `POST /user/recovery-codes`: the password confirms it.
    fn replace_codes(&self, call: CredentialCall) -> std::result::Result<Response, ApiError> {
        let row = self.check_password(&call.prehash, call.now_ms)?;
        let codes = self.new_codes(&row.user_id, call.now_ms)?;
        http::json(
            200,
            &Identity {
                user_id: row.user_id,
                email: row.email,
                recovery_codes: Some(codes),
            },
        )
    }

    /// `POST /auth/recover`: a valid unused code sets the new password and
    /// is used up. A wrong, used or malformed code (or an unknown email)
    /// fails like a wrong password, under the same back-off.
    fn recover(&self, call: RecoverCall) -> std::result::Result<Response, ApiError> {
        let new = Prehash::parse(&call.new_prehash)?;
        let state = self.lockout()?;
        if let Some(secs) = state.retry_after(call.now_ms) {
            return Err(AuthError::RateLimited(secs).into());
        }
        let row = self.row()?;
        let used = match (&row, RecoveryCode::parse(&call.code)) {
            (Some(r), Some(code)) => recovery::consume(&self.db, &r.user_id, &code, call.now_ms)
                .map_err(http::internal)?,
            _ => false,
        };
        let Some(row) = row.filter(|_| used) else {
            self.save_lockout(&state.fail(&lockout::PER_EMAIL, call.now_ms))?;
            return Err(AuthError::InvalidCredentials.into());
        };
        let phc = password::hash(&new, &random::bytes()?)?;
        self.sql
            .exec("UPDATE account SET phc = ? WHERE id = 1", vec![phc.into()])
            .map_err(http::internal)?;
        self.save_lockout(&Lockout::default())?;
        identity(row)
    }

    fn login(&self, call: CredentialCall) -> std::result::Result<Response, ApiError> {
        let row = self.check_password(&call.prehash, call.now_ms)?;
        identity(row)
    }

    fn change_password(&self, call: PasswordCall) -> std::result::Result<Response, ApiError> {
        let new = Prehash::parse(&call.new_prehash)?;
        let row = self.check_password(&call.old_prehash, call.now_ms)?;
        let phc = password::hash(&new, &random::bytes()?)?;
        self.sql
            .exec("UPDATE account SET phc = ? WHERE id = 1", vec![phc.into()])
            .map_err(http::internal)?;
        identity(row)
    }

    fn delete(&self, call: CredentialCall) -> std::result::Result<Response, ApiError> {
        let row = self.check_password(&call.prehash, call.now_ms)?;
        self.sql
            .exec("DELETE FROM account; DELETE FROM lockout;", None)
            .map_err(http::internal)?;
        recovery::clear(&self.db).map_err(http::internal)?;
        identity(row)
    }

    /// Verifies under the per-email back-off. An unknown email verifies
    /// against a dummy hash and fails the same way, in the same time.
    fn check_password(
        &self,
        prehash: &str,
        now_ms: u64,
    ) -> std::result::Result<AccountRow, ApiError> {
        let prehash = Prehash::parse(prehash)?;
        let state = self.lockout()?;
        if let Some(secs) = state.retry_after(now_ms) {
            return Err(AuthError::RateLimited(secs).into());
        }
        let row = self.row()?;
        let phc = row.as_ref().map_or(password::DUMMY_PHC, |r| r.phc.as_str());
        let ok = password::verify(phc, &prehash);
        match row {
            Some(row) if ok => {
                if state.failures > 0 {
                    self.save_lockout(&Lockout::default())?;
                }
                Ok(row)
            }
            _ => {
                self.save_lockout(&state.fail(&lockout::PER_EMAIL, now_ms))?;
                Err(AuthError::InvalidCredentials.into())
            }
        }
    }

    /// One registration attempt from this address, within the limit.
    fn ip_register(&self, call: RegistrationCall) -> std::result::Result<Response, ApiError> {
        match limits::admit_registration(&self.db, call.limit, call.now_ms)
            .map_err(http::internal)?
        {
            Ok(()) => http::json(200, &serde_json::json!({})),
            Err(secs) => Err(ApiError::rate_limited(secs)),
        }
    }

    fn ip_check(&self, call: NowCall) -> std::result::Result<Response, ApiError> {
        match self.lockout()?.retry_after(call.now_ms) {
            Some(secs) => Err(AuthError::RateLimited(secs).into()),
            None => http::json(200, &serde_json::json!({})),
        }
    }

    fn ip_fail(&self, call: NowCall) -> std::result::Result<Response, ApiError> {
        let next = self.lockout()?.fail(&IP_POLICY, call.now_ms);
        self.save_lockout(&next)?;
        http::json(200, &serde_json::json!({}))
    }

    fn row(&self) -> std::result::Result<Option<AccountRow>, ApiError> {
        let rows: Vec<AccountRow> = self
            .sql
            .exec("SELECT email, user_id, phc FROM account WHERE id = 1", None)
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        Ok(rows.into_iter().next())
    }

    fn lockout(&self) -> std::result::Result<Lockout, ApiError> {
        Ok(self.lockout_row()?.unwrap_or_default())
    }

    fn lockout_row(&self) -> std::result::Result<Option<Lockout>, ApiError> {
        let rows: Vec<Lockout> = self
            .sql
            .exec(
                "SELECT failures, last_failure_ms, locked_until_ms FROM lockout WHERE id = 1",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(http::internal)?;
        Ok(rows.into_iter().next())
    }

    fn save_lockout(&self, l: &Lockout) -> std::result::Result<(), ApiError> {
        self.sql
            .exec(
                "INSERT OR REPLACE INTO lockout (id, failures, last_failure_ms, locked_until_ms)
                 VALUES (1, ?, ?, ?)",
                vec![
                    (l.failures as i64).into(),
                    (l.last_failure_ms as i64).into(),
                    (l.locked_until_ms as i64).into(),
                ],
            )
            .map(|_| ())
            .map_err(http::internal)
    }
}

const IP_POLICY: Policy = lockout::PER_IP;

impl Account {
    /// When the back-off row may go: `BACKOFF_RETENTION_SECS` after the
    /// last failure and not before a running wait ends. `None`: no row.
    fn expiry_at(&self) -> std::result::Result<Option<u64>, ApiError> {
        let retention = Schedule::load(&self.env).backoff_retention_ms;
        Ok(self
            .lockout_row()?
            .map(|l| (l.last_failure_ms + retention).max(l.locked_until_ms)))
    }

    /// Sets the alarm to the row's expiry (a no-op without a row).
    async fn schedule_expiry(&self) -> std::result::Result<(), ApiError> {
        let Some(at) = self.expiry_at()? else {
            return Ok(());
        };
        let delay = at.saturating_sub(random::now_ms()).max(1);
        self.state
            .storage()
            .set_alarm(delay as i64)
            .await
            .map_err(http::internal)
    }
}

/// The answer of every successful credential check.
fn identity(row: AccountRow) -> std::result::Result<Response, ApiError> {
    http::json(
        200,
        &Identity {
            user_id: row.user_id,
            email: row.email,
            recovery_codes: None,
        },
    )
}
