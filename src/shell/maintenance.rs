//! When the objects' alarms run and what they keep: every interval and
//! retention is a `wrangler.toml` var (seconds), so an operator can tune it
//! and a test can make it short.

use super::config::var_u64;
use worker::Env;

/// The alarm settings of both object classes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// `MAINTENANCE_INTERVAL_SECS`: a `UserStore` in use runs maintenance
    /// this often (default daily).
    pub interval_ms: u64,
    /// `STALE_PEER_SECS`: sync states of a device unseen this long are
    /// dropped (default 90 days).
    pub stale_peer_ms: u64,
    /// `COMPACT_IDLE_SECS`: a document with several chunks and no change
    /// for this long is rewritten as one snapshot (default one hour).
    pub compact_idle_ms: u64,
    /// `BACKOFF_RETENTION_SECS`: an `Account` back-off row is deleted this
    /// long after its last failure, once no wait is running (default one
    /// hour: the back-off policy forgets failures after that anyway).
    pub backoff_retention_ms: u64,
}

/// Compactions per alarm; the rest wait for the next one (soon after).
pub(crate) const MAX_COMPACTIONS_PER_RUN: usize = 32;
/// The next run when compactions were left over.
pub(crate) const LEFTOVER_DELAY_MS: u64 = 60_000;

impl Schedule {
    pub(crate) fn load(env: &Env) -> Self {
        let secs = |name: &str, default: u64| var_u64(env, name, default).saturating_mul(1000);
        Self {
            interval_ms: secs("MAINTENANCE_INTERVAL_SECS", 24 * 3600),
            stale_peer_ms: secs("STALE_PEER_SECS", 90 * 24 * 3600),
            compact_idle_ms: secs("COMPACT_IDLE_SECS", 3600),
            backoff_retention_ms: secs("BACKOFF_RETENTION_SECS", 3600),
        }
    }
}
