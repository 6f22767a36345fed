//! The `/auth/*` and `/user/*` endpoints of docs/api.md: validate at the edge,
//! then call the `Account` and `UserStore` objects.

use super::caller::{authenticate, client_ip, Caller};
use super::calls::{AccountCall, SessionAct, StoreCall};
use super::config::{self, Config};
use super::{clock, http, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::account::Identity;
use crate::auth::bodies::{
    parse_json, CredentialsBody, DeleteAccountBody, PasswordChangeBody, ProfileBody, RecoverBody,
    RefreshBody,
};
use crate::auth::refresh::RefreshToken;
use crate::auth::sessions::{Grant, NewSession, Whoami};
use crate::auth::tokens;
use crate::auth::{AuthError, Prehash, SessionId};
use crate::limits;
use crate::time::iso8601;
use serde::de::DeserializeOwned;
use serde_json::json;
use worker::{Env, Method, Request, Response, Stub};

type Answer = Result<Response, ApiError>;

/// `/auth/{register,login,recover,refresh,logout,validate}`.
pub(crate) async fn auth(op: &str, req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    match op {
        "register" => register(req, env, &config).await,
        "login" => login(req, env, &config).await,
        "recover" => recover(req, env, &config).await,
        "refresh" => refresh(req, env, &config).await,
        "logout" => {
            let (me, store) = authenticate(req, env, &config).await?;
            me.tell(&store, SessionAct::Revoke { target: None }).await
        }
        _ => validate(req, env, &config).await,
    }
}

/// Registration: the address's hourly window first (each registration
/// costs an argon2 hash), then the account; the answer is `Tokens` plus
/// the recovery codes, shown this once.
async fn register(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let ip = rpc::address(env, &client_ip(req))?;
    let limit = config::var_u64(
        env,
        "REGISTRATIONS_PER_IP_PER_HOUR",
        limits::DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR,
    );
    let _: serde_json::Value = rpc::call(&ip, &AccountCall::AddressRegisters { limit }).await?;
    let acct = rpc::account(env, creds.email.as_str())?;
    let register = AccountCall::Register {
        email: creds.email.to_string(),
        prehash: creds.prehash,
    };
    let who: Identity = rpc::call(&acct, &register).await?;
    let grant = open_session(env, config, &who, creds.device_name, false).await?;
    let mut answer = tokens_json(config, grant)?;
    answer["recovery_codes"] = json!(who.recovery_codes.unwrap_or_default());
    http::json(201, &answer)
}

async fn login(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let call = AccountCall::Login {
        prehash: creds.prehash,
    };
    let who = guarded(req, env, creds.email.as_str(), &call).await?;
    let grant = open_session(env, config, &who, creds.device_name, false).await?;
    tokens(200, config, grant)
}

/// A credential check (`login`, `recover`) by the account of `email`
/// under the per-address back-off: refused while the address is locked
/// out, and every wrong password or code counts toward it.
async fn guarded(
    req: &Request,
    env: &Env,
    email: &str,
    call: &AccountCall,
) -> Result<Identity, ApiError> {
    let ip = rpc::address(env, &client_ip(req))?;
    let _: serde_json::Value = rpc::call(&ip, &AccountCall::AddressCheck).await?;
    let acct = rpc::account(env, email)?;
    let outcome: Result<Identity, ApiError> = rpc::call(&acct, call).await;
    if let Err(e) = &outcome {
        if e.code == ErrorCode::InvalidCredentials {
            let _: serde_json::Value = rpc::call(&ip, &AccountCall::AddressFailed).await?;
        }
    }
    outcome
}

/// `POST /auth/recover`: a recovery code sets a new password; every older
/// session is revoked and a new one opened. Wrong codes count toward the
/// same per-email and per-address back-off as wrong passwords.
async fn recover(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let r = body::<RecoverBody>(req).await?.validate()?;
    let call = AccountCall::Recover {
        code: r.code,
        new_prehash: r.new_prehash,
    };
    let who = guarded(req, env, r.email.as_str(), &call).await?;
    let grant = open_session(env, config, &who, r.device_name, true).await?;
    tokens(200, config, grant)
}

/// `POST /user/recovery-codes`: a new set replacing the old one, confirmed
/// with the password.
pub(crate) async fn recovery_codes(req: &mut Request, env: &Env) -> Answer {
    let (_, _, who) =
        with_password(req, env, |prehash| AccountCall::ReplaceCodes { prehash }).await?;
    http::json(
        200,
        &json!({ "recovery_codes": who.recovery_codes.unwrap_or_default() }),
    )
}

async fn refresh(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let token = RefreshToken::parse(&body::<RefreshBody>(req).await?.refresh_token)?;
    let store = rpc::user_store(env, token.user_id)?;
    let call = StoreCall::Refresh {
        hash: token.hash(),
        session: token.session_id,
        refresh_ttl_ms: config.refresh_ttl_secs * 1000,
    };
    let grant: Grant = rpc::call(&store, &call).await?;
    tokens(200, config, grant)
}

async fn validate(req: &Request, env: &Env, config: &Config) -> Answer {
    let (caller, store) = authenticate(req, env, config).await?;
    let me: Whoami = rpc::call(&store, &caller.call(SessionAct::Check)).await?;
    http::json(
        200,
        &json!({
            "user_id": me.user_id,
            "email": me.email,
            "session_id": caller.session,
            "expires_at": iso8601(caller.exp * 1000),
        }),
    )
}

/// `GET|PUT /user/profile`.
pub(crate) async fn profile(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    let act = if req.method() == Method::Put {
        let display_name = body::<ProfileBody>(req).await?.validate()?;
        SessionAct::SetProfile { display_name }
    } else {
        SessionAct::Profile
    };
    caller.ask(&store, act).await
}

/// `GET /user/sessions`.
pub(crate) async fn list_sessions(req: &Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    caller.ask(&store, SessionAct::List).await
}

/// `DELETE /user/sessions/{id}`: only sessions of the caller's own store
/// can be named, so another user's session id is simply not found.
pub(crate) async fn revoke_session(req: &Request, env: &Env, id: &str) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    let target = SessionId::parse(id).ok_or(AuthError::SessionNotFound)?;
    let act = SessionAct::Revoke {
        target: Some(target),
    };
    caller.tell(&store, act).await
}

/// `POST /user/password`: every other session is revoked.
pub(crate) async fn change_password(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    let (old, new) = body::<PasswordChangeBody>(req).await?.validate()?;
    let me: Whoami = rpc::call(&store, &caller.call(SessionAct::Check)).await?;
    let acct = rpc::account(env, &me.email)?;
    let _: Identity = rpc::call(&acct, &AccountCall::ChangePassword { old, new }).await?;
    caller.tell(&store, SessionAct::RevokeOthers).await
}

/// `DELETE /user/account`: credentials first, then the user's data, so a
/// wrong password erases nothing.
pub(crate) async fn delete_account(req: &mut Request, env: &Env) -> Answer {
    let (caller, store, _) =
        with_password(req, env, |prehash| AccountCall::Delete { prehash }).await?;
    caller.tell(&store, SessionAct::Erase).await
}

/// A signed-in call confirmed with the password (`{password}` body): the
/// user's `Account` object checks it under the login back-off and runs
/// the call `op` makes of it. Returns the caller, their `UserStore` and
/// the answer.
async fn with_password(
    req: &mut Request,
    env: &Env,
    op: impl FnOnce(Prehash) -> AccountCall,
) -> Result<(Caller, Stub, Identity), ApiError> {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    let prehash = body::<DeleteAccountBody>(req).await?.validate()?;
    let me: Whoami = rpc::call(&store, &caller.call(SessionAct::Check)).await?;
    let acct = rpc::account(env, &me.email)?;
    let who: Identity = rpc::call(&acct, &op(prehash)).await?;
    Ok((caller, store, who))
}

/// `POST /user/import`: the body of a `GET /user/export`, merged in.
pub(crate) async fn import(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    let bytes = http::json_body(req).await?;
    let data: serde_json::Value = parse_json(&bytes)?;
    if !data.is_object() {
        return Err(AuthError::Validation("the body must be an export object".into()).into());
    }
    caller.ask(&store, SessionAct::Import { data }).await
}

/// `GET /user/export`.
pub(crate) async fn export(req: &Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (caller, store) = authenticate(req, env, &config).await?;
    caller.ask(&store, SessionAct::Export).await
}

async fn open_session(
    env: &Env,
    config: &Config,
    who: &Identity,
    device_name: Option<String>,
    revoke_all: bool,
) -> Result<Grant, ApiError> {
    let store = rpc::user_store(env, who.user_id)?;
    let call = StoreCall::OpenSession(NewSession {
        user_id: who.user_id,
        email: who.email.clone(),
        device_name,
        refresh_ttl_ms: config.refresh_ttl_secs * 1000,
        revoke_all,
    });
    rpc::call(&store, &call).await
}

fn tokens(status: u16, config: &Config, grant: Grant) -> Answer {
    http::json(status, &tokens_json(config, grant)?)
}

/// The `Tokens` object of docs/api.md for a new or rotated session.
fn tokens_json(config: &Config, grant: Grant) -> Result<serde_json::Value, ApiError> {
    let (access, _) = tokens::issue(
        &config.keys.current,
        grant.user_id,
        &grant.session_id,
        clock::now_ms() / 1000,
        config.access_ttl_secs,
    )?;
    Ok(json!({
            "user_id": grant.user_id,
            "email": grant.email,
            "access_token": access,
            "refresh_token": grant.refresh_token,
            "token_type": "Bearer",
            "expires_in": config.access_ttl_secs,
            "session_id": grant.session_id,
            "root_document_id": grant.user_id.root_document_id().to_string(),
    }))
}

async fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let bytes = http::json_body(req).await?;
    Ok(parse_json(&bytes)?)
}
