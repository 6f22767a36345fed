//! The Worker's configuration: `wrangler.toml` vars and the JWT secret.

use crate::api_error::ApiError;
use crate::auth::tokens::Secret;
use worker::Env;

/// Defaults when a var is absent: 15-minute access, 30-day refresh tokens.
const DEFAULT_ACCESS_TTL_SECS: u64 = 900;
pub(crate) const DEFAULT_REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;

/// What the account endpoints need from the environment.
pub(crate) struct Config {
    pub secret: Secret,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

impl Config {
    /// Fails (with a clear `internal` error, never a panic) when
    /// `JWT_SECRET` is missing or short: no token is issued or accepted then.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        let secret = env.secret("JWT_SECRET").ok().map(|s| s.to_string());
        let secret = Secret::new(secret.as_deref()).map_err(|e| {
            worker::console_error!("{e}");
            ApiError::from(e)
        })?;
        Ok(Self {
            secret,
            access_ttl_secs: var_u64(env, "ACCESS_TOKEN_TTL_SECS", DEFAULT_ACCESS_TTL_SECS),
            refresh_ttl_secs: var_u64(env, "REFRESH_TOKEN_TTL_SECS", DEFAULT_REFRESH_TTL_SECS),
        })
    }
}

/// A positive integer var, or `default`.
pub(crate) fn var_u64(env: &Env, name: &str, default: u64) -> u64 {
    env.var(name)
        .ok()
        .and_then(|v| v.to_string().trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
