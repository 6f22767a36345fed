//! The `/auth/*` and `/user/*` endpoints of API.md: validate at the edge,
//! then call the `Account` and `UserStore` objects.

use super::account::{self, CredentialCall, Identity, NowCall, PasswordCall};
use super::config::Config;
use super::user_store::{self, CreateSession, RefreshSession, SessionCall, SessionGrant, Whoami};
use super::{http, random, rpc};
use crate::api_error::{ApiError, ErrorCode};
use crate::auth::bodies::{
    parse_json, CredentialsBody, DeleteAccountBody, PasswordChangeBody, ProfileBody, RefreshBody,
};
use crate::auth::refresh::RefreshToken;
use crate::auth::tokens::{self, Claims};
use crate::auth::AuthError;
use crate::time::iso8601;
use serde::de::DeserializeOwned;
use serde_json::json;
use worker::{Env, Method, Request, Response, Stub};

type Answer = Result<Response, ApiError>;

/// `/auth/{register,login,refresh,logout,validate}`.
pub(crate) async fn auth(op: &str, req: &mut Request, env: &Env) -> Answer {
    let config = Config::load(env)?;
    match op {
        "register" => register(req, env, &config).await,
        "login" => login(req, env, &config).await,
        "refresh" => refresh(req, env, &config).await,
        "logout" => {
            let (claims, store) = authenticate(req, env, &config).await?;
            let _: serde_json::Value = rpc::call(&store, "session/revoke", &call(&claims)).await?;
            http::no_content()
        }
        _ => validate(req, env, &config).await,
    }
}

async fn register(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let now_ms = random::now_ms();
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
    let grant = open_session(env, config, &who, creds.device_name, now_ms).await?;
    tokens(201, config, grant, now_ms)
}

async fn login(req: &mut Request, env: &Env, config: &Config) -> Answer {
    let creds = body::<CredentialsBody>(req).await?.validate()?;
    let now_ms = random::now_ms();
    let ip = rpc::stub(env, account::BINDING, &format!("ip:{}", client_ip(req)))?;
    let _: serde_json::Value = rpc::call(&ip, "ip/check", &NowCall { now_ms }).await?;
    let acct = rpc::stub(env, account::BINDING, creds.email.as_str())?;
    let outcome: Result<Identity, ApiError> = rpc::call(
        &acct,
        "login",
        &CredentialCall {
            email: creds.email.to_string(),
            prehash: creds.prehash_text(),
            now_ms,
        },
    )
    .await;
    let who = match outcome {
        Ok(who) => who,
        Err(e) => {
            if e.code == ErrorCode::InvalidCredentials {
                let _: serde_json::Value = rpc::call(&ip, "ip/fail", &NowCall { now_ms }).await?;
            }
            return Err(e);
        }
    };
    let grant = open_session(env, config, &who, creds.device_name, now_ms).await?;
    tokens(200, config, grant, now_ms)
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
    let config = Config::load(env)?;
    let (claims, store) = authenticate(req, env, &config).await?;
    let prehash = body::<DeleteAccountBody>(req).await?.validate()?;
    let me: Whoami = rpc::call(&store, "session/check", &call(&claims)).await?;
    let acct = rpc::stub(env, account::BINDING, &me.email)?;
    let _: Identity = rpc::call(
        &acct,
        "delete",
        &CredentialCall {
            email: me.email.clone(),
            prehash: prehash.text(),
            now_ms: random::now_ms(),
        },
    )
    .await?;
    let _: serde_json::Value = rpc::call(&store, "erase", &call(&claims)).await?;
    http::no_content()
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
    let claims = tokens::verify(&config.secret, &token, random::now_ms() / 1000)?;
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
        },
    )
    .await
}

fn tokens(status: u16, config: &Config, grant: SessionGrant, now_ms: u64) -> Answer {
    let (access, _) = tokens::issue(
        &config.secret,
        &grant.user_id,
        &grant.session_id,
        now_ms / 1000,
        config.access_ttl_secs,
    )?;
    http::json(
        status,
        &json!({
            "user_id": grant.user_id,
            "email": grant.email,
            "access_token": access,
            "refresh_token": grant.refresh_token,
            "token_type": "Bearer",
            "expires_in": config.access_ttl_secs,
            "session_id": grant.session_id,
            "root_document_id": grant.root_document_id,
        }),
    )
}

async fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let bytes = http::json_body(req).await?;
    Ok(parse_json(&bytes)?)
}

/// `CF-Connecting-IP` (set by Cloudflare; locally by workerd), else a
/// shared bucket so the per-IP back-off still applies.
fn client_ip(req: &Request) -> String {
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
