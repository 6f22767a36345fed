//! The `/auth/*` and `/user/*` endpoints of docs/api.md: validate at the edge,
//! then call the `Account` and `UserStore` objects.

use super::account::{
    self, CredentialCall, Identity, NowCall, PasswordCall, RecoverCall, RegistrationCall,
};
use super::config::{self, Config};
use super::user_store::{
    self, CreateSession, ImportCall, RefreshSession, SessionCall, SessionGrant, Whoami,
};
use super::{http, random, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::bodies::{
    parse_json, CredentialsBody, DeleteAccountBody, PasswordChangeBody, ProfileBody, RecoverBody,
    RefreshBody,
};
use crate::auth::refresh::RefreshToken;
use crate::auth::tokens::{self, Claims};
use crate::auth::AuthError;
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
            let (claims, store) = authenticate(req, env, &config).await?;
            let _: serde_json::Value = rpc::call(&store, "session/revoke", &call(&claims)).await?;
            http::no_content()
        }
        _ => validate(req, env, &config).await,
    }
}

/// Registration: the address's hourly window first (each registration
/// costs an argon2 hash), then the account; the answer is `Tokens` plus
/// the recovery codes, shown this once.
async fn register(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let now_ms = random::now_ms();
    let ip = rpc::stub(env, account::BINDING, &format!("ip:{}", client_ip(req)))?;
    let limit = config::var_u64(
        env,
        "REGISTRATIONS_PER_IP_PER_HOUR",
        limits::DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR,
    );
    let _: serde_json::Value =
        rpc::call(&ip, "ip/register", &RegistrationCall { limit, now_ms }).await?;
    let acct = rpc::stub(env, account::BINDING, creds.email.as_str())?;
    let who: Identity = rpc::call(
        &acct,
        "register",
        &CredentialCall {
            email: creds.email.to_string(),
            prehash: creds.prehash_text(),
            now_ms,
        },
    )
    .await?;
    let grant = open_session(env, config, &who, creds.device_name, now_ms, false).await?;
    let mut answer = tokens_json(config, grant, now_ms)?;
    answer["recovery_codes"] = json!(who.recovery_codes.unwrap_or_default());
    http::json(201, &answer)
}

async fn login(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let now_ms = random::now_ms();
    let call = CredentialCall {
        email: creds.email.to_string(),
        prehash: creds.prehash_text(),
        now_ms,
    };
    let who = guarded(req, env, creds.email.as_str(), "login", &call, now_ms).await?;
    let grant = open_session(env, config, &who, creds.device_name, now_ms, false).await?;
    tokens(200, config, grant, now_ms)
}

/// A credential check (`login`, `recover`) by the account of `email`
/// under the per-address back-off: refused while the address is locked
/// out, and every wrong password or code counts toward it.
async fn guarded(
    req: &Request,
    env: &Env,
    email: &str,
    op: &str,
    body: &impl serde::Serialize,
    now_ms: u64,
) -> Result<Identity, ApiError> {
    let ip = rpc::stub(env, account::BINDING, &format!("ip:{}", client_ip(req)))?;
    let _: serde_json::Value = rpc::call(&ip, "ip/check", &NowCall { now_ms }).await?;
    let acct = rpc::stub(env, account::BINDING, email)?;
    let outcome: Result<Identity, ApiError> = rpc::call(&acct, op, body).await;
    if let Err(e) = &outcome {
        if e.code == ErrorCode::InvalidCredentials {
            let _: serde_json::Value = rpc::call(&ip, "ip/fail", &NowCall { now_ms }).await?;
        }
    }
    outcome
}

/// `POST /auth/recover`: a recovery code sets a new password; every older
/// session is revoked and a new one opened. Wrong codes count toward the
/// same per-email and per-address back-off as wrong passwords.
async fn recover(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let r = body::<RecoverBody>(req).await?.validate()?;
    let now_ms = random::now_ms();
    let call = RecoverCall {
        code: r.code,
        new_prehash: r.new_prehash.text(),
        now_ms,
    };
    let who = guarded(req, env, r.email.as_str(), "recover", &call, now_ms).await?;
    let grant = open_session(env, config, &who, r.device_name, now_ms, true).await?;
    tokens(200, config, grant, now_ms)
}

/// `POST /user/recovery-codes`: a new set replacing the old one, confirmed
/// with the password.
pub(crate) async fn recovery_codes(req: &mut Request, env: &Env) -> Answer {
    let (_, _, who) = with_password(req, env, "recovery/replace").await?;
    http::json(
        200,
        &json!({ "recovery_codes": who.recovery_codes.unwrap_or_default() }),
    )
}

async fn refresh(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let token = RefreshToken::parse(&body::<RefreshBody>(req).await?.refresh_token)?;
    let now_ms = random::now_ms();
    let store = rpc::stub(env, user_store::BINDING, &token.user_id.to_string())?;
    let grant: SessionGrant = rpc::call(
        &store,
        "session/refresh",
        &RefreshSession {
            session_id: token.session_id.clone(),
            hash: token.hash(),
            refresh_ttl_ms: config.refresh_ttl_secs * 1000,
            now_ms,
        },
    )
    .await?;
    tokens(200, config, grant, now_ms)
}

async fn validate(req: &Request, env: &Env, config: &Config) -> Answer {
    let (claims, store) = authenticate(req, env, config).await?;
    let me: Whoami = rpc::call(&store, "session/check", &call(&claims)).await?;
    http::json(
        200,
        &json!({
            "user_id": me.user_id,
            "email": me.email,
            "session_id": claims.sid,
            "expires_at": iso8601(claims.exp * 1000),
        }),
    )
}

/// `GET|PUT /user/profile`.
pub(crate) async fn profile(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let mut c = call(&claims);
    let op = if req.method() == Method::Put {
        c.display_name = body::<ProfileBody>(req).await?.validate()?;
        "profile/put"
    } else {
        "profile/get"
    };
    let p: serde_json::Value = rpc::call(&store, op, &c).await?;
    http::json(200, &p)
}

/// `GET /user/sessions`.
pub(crate) async fn list_sessions(req: &Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let list: serde_json::Value = rpc::call(&store, "sessions/list", &call(&claims)).await?;
    http::json(200, &list)
}

/// `DELETE /user/sessions/{id}`: only sessions of the caller's own store
/// can be named, so another user's session id is simply not found.
pub(crate) async fn revoke_session(req: &Request, env: &Env, id: &str) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let mut c = call(&claims);
    c.target = Some(id.to_owned());
    let _: serde_json::Value = rpc::call(&store, "session/revoke", &c).await?;
    http::no_content()
}

/// `POST /user/password`: every other session is revoked.
pub(crate) async fn change_password(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let (old, new) = body::<PasswordChangeBody>(req).await?.validate()?;
    let me: Whoami = rpc::call(&store, "session/check", &call(&claims)).await?;
    let acct = rpc::stub(env, account::BINDING, &me.email)?;
    let _: Identity = rpc::call(
        &acct,
        "password",
        &PasswordCall {
            old_prehash: old.text(),
            new_prehash: new.text(),
            now_ms: random::now_ms(),
        },
    )
    .await?;
    let _: serde_json::Value = rpc::call(&store, "sessions/revoke-others", &call(&claims)).await?;
    http::no_content()
}

/// `DELETE /user/account`: credentials first, then the user's data, so a
/// wrong password erases nothing.
pub(crate) async fn delete_account(req: &mut Request, env: &Env) -> Answer {
    let (claims, store, _) = with_password(req, env, "delete").await?;
    let _: serde_json::Value = rpc::call(&store, "erase", &call(&claims)).await?;
    http::no_content()
}

/// A signed-in call confirmed with the password (`{password}` body): the
/// user's `Account` object checks it under the login back-off and runs
/// `op`. Returns the caller's claims, their `UserStore` and the answer.
async fn with_password(
    req: &mut Request,
    env: &Env,
    op: &str,
) -> Result<(Claims, Stub, Identity), ApiError> {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let prehash = body::<DeleteAccountBody>(req).await?.validate()?;
    let me: Whoami = rpc::call(&store, "session/check", &call(&claims)).await?;
    let acct = rpc::stub(env, account::BINDING, &me.email)?;
    let who: Identity = rpc::call(
        &acct,
        op,
        &CredentialCall {
            email: me.email.clone(),
            prehash: prehash.text(),
            now_ms: random::now_ms(),
        },
    )
    .await?;
    Ok((claims, store, who))
}

/// `POST /user/import`: the body of a `GET /user/export`, merged in.
pub(crate) async fn import(req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let bytes = http::json_body(req).await?;
    let data: serde_json::Value = parse_json(&bytes)?;
    if !data.is_object() {
        return Err(AuthError::Validation("the body must be an export object".into()).into());
    }
    let answer: serde_json::Value = rpc::call(
        &store,
        "import",
        &ImportCall {
            session: call(&claims),
            data,
        },
    )
    .await?;
    http::json(200, &answer)
}

/// `GET /user/export`.
pub(crate) async fn export(req: &Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let data: serde_json::Value = rpc::call(&store, "export", &call(&claims)).await?;
    http::json(200, &data)
}

/// [`authenticate`] with the configuration loaded here.
pub(crate) async fn authenticated(req: &Request, env: &Env) -> Result<(Claims, Stub), ApiError> {
    let config = Config::load(env)?;
    authenticate(req, env, &config).await
}

/// Verifies the bearer token and returns the stub of the caller's own
/// `UserStore`: the object is named by the token's `sub`, never by input.
/// The store then refuses the token if its session was revoked.
async fn authenticate(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<(Claims, Stub), ApiError> {
    let token = http::bearer(req)?;
    let claims = tokens::verify(&config.keys, &token, random::now_ms() / 1000)?;
    if uuid::Uuid::try_parse(&claims.sub).is_err() {
        return Err(AuthError::InvalidToken.into());
    }
    let store = rpc::stub(env, user_store::BINDING, &claims.sub)?;
    Ok((claims, store))
}

fn call(claims: &Claims) -> SessionCall {
    SessionCall {
        sid: claims.sid.clone(),
        now_ms: random::now_ms(),
        ..SessionCall::default()
    }
}

async fn open_session(
    env: &Env,
    config: &Config,
    who: &Identity,
    device_name: Option<String>,
    now_ms: u64,
    revoke_all: bool,
) -> Result<SessionGrant, ApiError> {
    let store = rpc::stub(env, user_store::BINDING, &who.user_id)?;
    rpc::call(
        &store,
        "session/create",
        &CreateSession {
            user_id: who.user_id.clone(),
            email: who.email.clone(),
            device_name,
            refresh_ttl_ms: config.refresh_ttl_secs * 1000,
            now_ms,
            revoke_all,
        },
    )
    .await
}

fn tokens(status: u16, config: &Config, grant: SessionGrant, now_ms: u64) -> Answer {
    http::json(status, &tokens_json(config, grant, now_ms)?)
}

/// The `Tokens` object of docs/api.md for a new or rotated session.
fn tokens_json(
    config: &Config,
    grant: SessionGrant,
    now_ms: u64,
) -> Result<serde_json::Value, ApiError> {
    let (access, _) = tokens::issue(
        &config.keys.current,
        &grant.user_id,
        &grant.session_id,
        now_ms / 1000,
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
            "root_document_id": grant.root_document_id,
    }))
}

async fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let bytes = http::json_body(req).await?;
    Ok(parse_json(&bytes)?)
}

/// `CF-Connecting-IP` (set by Cloudflare; locally by workerd), else a
/// shared bucket so the per-IP back-off still applies.
pub(crate) fn client_ip(req: &Request) -> String {
    req.headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .filter(|ip| {
            ip.len() <= 64
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
