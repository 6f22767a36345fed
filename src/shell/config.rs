//! The Worker's configuration: `wrangler.toml` vars and the JWT secrets.

use crate::api_error::ApiError;
use crate::auth::tokens::Keys;
use worker::Env;

/// Defaults when a var is absent: 15-minute access, 30-day refresh tokens.
const DEFAULT_ACCESS_TTL_SECS: u64 = 900;
pub(crate) const DEFAULT_REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;

/// What the account endpoints need from the environment.
pub(crate) struct Config {
    /// `JWT_SECRET` signs; `JWT_SECRET_PREVIOUS` is still accepted.
    pub keys: Keys,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

impl Config {
    /// Fails (with a clear `internal` error, never a panic) when
    /// `JWT_SECRET` is missing or short, or `JWT_SECRET_PREVIOUS` is set
    /// but short: no token is issued or accepted then.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        let current = secret(env, "JWT_SECRET");
        let previous = secret(env, "JWT_SECRET_PREVIOUS");
        let keys = Keys::new(current.as_deref(), previous.as_deref()).map_err(|e| {
            worker::console_error!("{e}");
            ApiError::from(e)
        })?;
        Ok(Self {
            keys,
            access_ttl_secs: var_u64(env, "ACCESS_TOKEN_TTL_SECS", DEFAULT_ACCESS_TTL_SECS),
            refresh_ttl_secs: var_u64(env, "REFRESH_TOKEN_TTL_SECS", DEFAULT_REFRESH_TTL_SECS),
        })
    }
}

/// A secret, or a plain var of that name (local runs may set either).
fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .or_else(|| env.var(name).ok())
        .map(|s| s.to_string())
}

/// A positive integer var, or `default` when absent or malformed.
pub(crate) fn var_u64(env: &Env, name: &str, default: u64) -> u64 {
    env.var(name)
        .ok()
        .and_then(|v| v.to_string().trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
