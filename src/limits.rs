//! Traffic limits, sans-IO: a request budget per key (token bucket, held
//! in memory by whoever owns the key) and the registrations of one client
//! address per hour (a sliding window kept in SQL through [`Sql`]).
//!
//! **Invariant:** no clock of its own; callers pass the time. A refusal is
//! the number of seconds to wait, which the edge sends as `Retry-After`.

use crate::store::{Sql, SqlError, SqlValue};
use std::collections::HashMap;

/// Defaults of docs/api.md v1.1 when the vars are absent.
pub const DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR: u64 = 20;
/// See [`DEFAULT_REGISTRATIONS_PER_IP_PER_HOUR`].
pub const DEFAULT_REQUESTS_PER_IP_PER_MINUTE: u64 = 600;
/// Per user: the same rate as one address; a user's devices share it.
pub const DEFAULT_REQUESTS_PER_USER_PER_MINUTE: u64 = 600;

/// The window of the request budgets.
pub const MINUTE_MS: u64 = 60_000;
/// The window of the registration limit.
pub const HOUR_MS: u64 = 3_600_000;

/// Keys a [`Budget`] remembers at most; past that, keys whose bucket is
/// full again are forgotten (they would start full anyway).
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests still allowed (refilled continuously).
    tokens: f64,
    at_ms: u64,
}

/// A budget of `limit` requests per `window_ms` per key: a token bucket
/// that holds `limit` and refills at `limit / window_ms`, so a client may
/// burst up to the limit and then goes on at the average rate.
#[derive(Debug, Default)]
pub struct Budget {
    buckets: HashMap<String, Bucket>,
}

impl Budget {
    /// Takes one request for `key`: `Err(seconds to wait)` when the key's
    /// budget is spent. The limit is passed on every call, so a changed
    /// setting applies at once.
    pub fn take(&mut self, key: &str, limit: u64, window_ms: u64, now_ms: u64) -> Result<(), u64> {
        let capacity = limit.max(1) as f64;
        let per_ms = capacity / window_ms.max(1) as f64;
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(key) {
            self.forget_full(capacity, per_ms, now_ms);
        }
        let b = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(capacity);
        b.at_ms = b.at_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - b.tokens) / per_ms;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    /// Drops the keys whose bucket has refilled; if every key is still
    /// busy, starts over (a flood of distinct keys must not grow memory).
    fn forget_full(&mut self, capacity: f64, per_ms: f64, now_ms: u64) {
        self.buckets
            .retain(|_, b| b.tokens + now_ms.saturating_sub(b.at_ms) as f64 * per_ms < capacity);
        if self.buckets.len() >= MAX_KEYS {
            self.buckets.clear();
        }
    }

    /// Keys remembered (for tests).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// The table of registration times, in the per-address `Account` object.
pub const REGISTRATIONS_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS registrations (at INTEGER NOT NULL)";

/// Admits one registration attempt from the address whose object holds
/// `sql`, at most `limit` per sliding hour: `Ok(Err(seconds))` when over,
/// until the oldest attempt in the window is an hour old.
pub fn admit_registration(
    sql: &impl Sql,
    limit: u64,
    now_ms: u64,
) -> Result<Result<(), u64>, SqlError> {
    let since = now_ms.saturating_sub(HOUR_MS) as i64;
    sql.exec(
        "DELETE FROM registrations WHERE at <= ?",
        &[SqlValue::Integer(since)],
    )?;
    let rows = sql.query("SELECT COUNT(*), MIN(at) FROM registrations", &[])?;
    let row = rows.first();
    let count = row
        .and_then(|r| r.first())
        .and_then(SqlValue::as_i64)
        .unwrap_or(0)
        .max(0) as u64;
    if count >= limit.max(1) {
        let oldest = row
            .and_then(|r| r.get(1))
            .and_then(SqlValue::as_i64)
            .unwrap_or(now_ms as i64)
            .max(0) as u64;
        let wait_ms = (oldest + HOUR_MS).saturating_sub(now_ms);
        return Ok(Err(wait_ms.div_ceil(1000).max(1)));
    }
    sql.exec(
        "INSERT INTO registrations (at) VALUES (?)",
        &[SqlValue::Integer(now_ms as i64)],
    )?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite;

    #[test]
    fn a_budget_allows_a_burst_then_the_average_rate() {
        let mut b = Budget::default();
        let t = 1_000_000;
        for _ in 0..600 {
            assert!(b.take("ip", 600, MINUTE_MS, t).is_ok());
        }
        assert_eq!(b.take("ip", 600, MINUTE_MS, t), Err(1));
        // Another key is not affected.
        assert!(b.take("other", 600, MINUTE_MS, t).is_ok());
        // 150 ms later one request (10 per second) is allowed again.
        assert!(b.take("ip", 600, MINUTE_MS, t + 150).is_ok());
        assert!(b.take("ip", 600, MINUTE_MS, t + 150).is_err());
        // A small limit waits longer.
        for _ in 0..3 {
            assert!(b.take("slow", 3, MINUTE_MS, t).is_ok());
        }
        assert_eq!(b.take("slow", 3, MINUTE_MS, t), Err(20));
        assert!(b.take("slow", 3, MINUTE_MS, t + 19_000).is_err());
        assert!(b.take("slow", 3, MINUTE_MS, t + 20_001).is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let mut b = Budget::default();
        for i in 0..(MAX_KEYS * 3) {
            let _ = b.take(&format!("k{i}"), 10, MINUTE_MS, 5);
        }
        assert!(b.len() <= MAX_KEYS);
        assert!(!b.is_empty());
    }

    #[test]
    fn registrations_slide_over_the_hour() {
        let db = Sqlite::in_memory().unwrap();
        db.exec(REGISTRATIONS_SCHEMA, &[]).unwrap();
        let t0 = 10 * HOUR_MS;
        for i in 0..3 {
            assert_eq!(admit_registration(&db, 3, t0 + i * 1000).unwrap(), Ok(()));
        }
        // Full: wait until the first attempt is an hour old.
        assert_eq!(admit_registration(&db, 3, t0 + 10_000).unwrap(), Err(3590));
        assert_eq!(
            admit_registration(&db, 3, t0 + HOUR_MS - 1).unwrap(),
            Err(1)
        );
        assert_eq!(admit_registration(&db, 3, t0 + HOUR_MS).unwrap(), Ok(()));
        assert!(admit_registration(&db, 3, t0 + HOUR_MS).unwrap().is_err());
        // A raised limit applies at once.
        assert_eq!(admit_registration(&db, 10, t0 + HOUR_MS).unwrap(), Ok(()));
    }
}
