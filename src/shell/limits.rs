//! The per-address request budget at the edge (`REQUESTS_PER_IP_PER_MINUTE`),
//! checked before any routing, so a flood is refused without reaching a
//! Durable Object and other users' calls never wait behind it.
//!
//! The budget lives in the isolate's memory: exact under `wrangler dev`
//! (one isolate), per isolate in production (Cloudflare may run several
//! per location). The registration window (per address, per hour) and the
//! per-user budget are kept by Durable Objects and are exact everywhere.

use super::{caller, config};
use crate::api_error::ApiError;
use crate::limits::{Budget, DEFAULT_REQUESTS_PER_IP_PER_MINUTE, MINUTE_MS};
use std::cell::RefCell;
use worker::{Env, Request};

thread_local! {
    static PER_IP: RefCell<Budget> = RefCell::new(Budget::default());
}

/// One request of the caller's address: `rate_limited` when its budget is
/// spent.
pub(crate) fn spend(req: &Request, env: &Env) -> Result<(), ApiError> {
    let limit = config::var_u64(
        env,
        "REQUESTS_PER_IP_PER_MINUTE",
        DEFAULT_REQUESTS_PER_IP_PER_MINUTE,
    );
    let ip = caller::client_ip(req);
    let now_ms = super::clock::now_ms();
    PER_IP
        .with(|b| b.borrow_mut().take(&ip, limit, MINUTE_MS, now_ms))
        .map_err(ApiError::rate_limited)
}
