//! Back-off after failed logins, per email and per client IP. Pure policy:
//! the Durable Object stores the [`Lockout`] and passes the time in.

use serde::{Deserialize, Serialize};

/// How strict one kind of key is.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free_failures: u32,
    /// The first wait, doubled with each further failure.
    pub base_secs: u64,
    /// The longest wait.
    pub max_secs: u64,
    /// Failures older than this are forgotten.
    pub forget_after_secs: u64,
}

/// Per email: 5 tries, then 30 s, 60 s, … up to 15 minutes.
pub const PER_EMAIL: Policy = Policy {
    free_failures: 5,
    base_secs: 30,
    max_secs: 900,
    forget_after_secs: 3600,
};

/// Per client IP (many emails from one address): 20 tries, then the same.
pub const PER_IP: Policy = Policy {
    free_failures: 20,
    base_secs: 30,
    max_secs: 900,
    forget_after_secs: 3600,
};

/// The stored state of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    /// Consecutive failures not yet forgotten.
    pub failures: u32,
    /// Time of the last failure (ms).
    pub last_failure_ms: u64,
    /// No attempt is judged before this time (ms).
    pub locked_until_ms: u64,
}

impl Lockout {
    /// `Some(seconds to wait)` while locked.
    pub fn retry_after(&self, now_ms: u64) -> Option<u64> {
        (self.locked_until_ms > now_ms).then(|| (self.locked_until_ms - now_ms).div_ceil(1000))
    }

    /// The state after one more failure at `now_ms`.
    pub fn fail(self, policy: &Policy, now_ms: u64) -> Self {
        let stale = now_ms.saturating_sub(self.last_failure_ms) > policy.forget_after_secs * 1000;
        let failures = if stale {
            1
        } else {
            self.failures.saturating_add(1)
        };
        let locked_until_ms = match failures.checked_sub(policy.free_failures) {
            Some(over) if over > 0 => {
                let wait = policy
                    .base_secs
                    .saturating_mul(1u64 << (over - 1).min(20))
                    .min(policy.max_secs);
                now_ms + wait * 1000
            }
            _ => 0,
        };
        Self {
            failures,
            last_failure_ms: now_ms,
            locked_until_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_doubling_waits() {
        let mut l = Lockout::default();
        let t = 1_000_000;
        for _ in 0..5 {
            l = l.fail(&PER_EMAIL, t);
            assert_eq!(l.retry_after(t), None);
        }
        l = l.fail(&PER_EMAIL, t);
        assert_eq!(l.retry_after(t), Some(30));
        l = l.fail(&PER_EMAIL, t);
        assert_eq!(l.retry_after(t), Some(60));
        for _ in 0..30 {
            l = l.fail(&PER_EMAIL, t);
        }
        assert_eq!(l.retry_after(t), Some(900));
        assert_eq!(l.retry_after(t + 900_000), None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let mut l = Lockout::default();
        for _ in 0..5 {
            l = l.fail(&PER_EMAIL, 0);
        }
        l = l.fail(&PER_EMAIL, 3_600_001);
        assert_eq!(l.failures, 1);
        assert_eq!(l.retry_after(3_600_001), None);
    }
}
