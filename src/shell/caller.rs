//! Who is calling: the bearer token verified at the edge, its user and
//! session ids parsed once into a [`Caller`], and the caller's own
//! `UserStore`; and the client address the traffic limits key on.

use super::calls::{SessionAct, StoreCall};
use super::config::Config;
use super::{clock, http, rpc};
use crate::api_error::ApiError;
use crate::auth::tokens;
use crate::auth::{AuthError, SessionId, UserId};
use worker::{Env, Request, Response, Stub};

/// The caller of a signed-in request, from its verified access token:
/// the ids parsed once, here.
pub(crate) struct Caller {
    pub user_id: UserId,
    pub session: SessionId,
    /// The token's expiry (seconds since the epoch).
    pub exp: u64,
}

impl Caller {
    /// The ids of verified claims (a token of ours always has them).
    pub(crate) fn of(claims: &tokens::Claims) -> Result<Self, AuthError> {
        let (user_id, session) = claims.ids()?;
        Ok(Self {
            user_id,
            session,
            exp: claims.exp,
        })
    }

    /// Asks the caller's `UserStore` for `act`; its JSON answer is ours,
    /// passed on as it came (not parsed and written again: the export and
    /// the views of a heavy learner stream through).
    pub(crate) async fn ask(&self, store: &Stub, act: SessionAct) -> Result<Response, ApiError> {
        rpc::relay(store, &self.call(act)).await
    }

    /// Has the caller's `UserStore` do `act`; the answer is a 204.
    pub(crate) async fn tell(&self, store: &Stub, act: SessionAct) -> Result<Response, ApiError> {
        let _: serde_json::Value = rpc::call(store, &self.call(act)).await?;
        http::no_content()
    }

    /// The call `act` on behalf of this caller's session.
    pub(crate) fn call(&self, act: SessionAct) -> StoreCall {
        StoreCall::Session {
            session: self.session.clone(),
            act,
        }
    }
}

/// [`authenticate`] with the configuration loaded here.
pub(crate) async fn authenticated(req: &Request, env: &Env) -> Result<(Caller, Stub), ApiError> {
    let config = Config::load(env)?;
    authenticate(req, env, &config).await
}

/// Verifies the bearer token and returns the stub of the caller's own
/// `UserStore`: the object is named by the token's `sub`, never by input.
/// The store then refuses the token if its session was revoked.
pub(crate) async fn authenticate(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<(Caller, Stub), ApiError> {
    let token = http::bearer(req)?;
    let claims = tokens::verify(&config.keys, &token, clock::now_ms() / 1000)?;
    let caller = Caller::of(&claims)?;
    let store = rpc::user_store(env, caller.user_id)?;
    Ok((caller, store))
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
