//! Slows down password guessing: per account and per client address, repeated sign-in failures
//! within a window earn a growing wait (answered 429 with `Retry-After`).
//!
//! Kept in process: each instance counts its own failures, so behind N instances an attacker
//! gets at most N times the budget, still a handful of guesses a minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures forgiven before waits begin.
const FREE_FAILURES_ACCOUNT: u32 = 5;
const FREE_FAILURES_ADDRESS: u32 = 20;
/// A quiet window after which failures are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most; the oldest windows are dropped first beyond this.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Sign-in failure counts by key (`account:NAME`, `addr:IP`).
#[derive(Default)]
pub struct Limiter {
    entries: Mutex<HashMap<String, Failures>>,
}

fn wait_after(count: u32, free: u32) -> Option<Duration> {
    let over = count.checked_sub(free).filter(|o| *o > 0)?;
    // 1 s, 2 s, 4 s, … up to 15 minutes.
    let secs = 1u64.checked_shl((over - 1).min(20)).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}

impl Limiter {
    /// How long the caller must still wait before another attempt for these keys, if at all.
    pub fn blocked(&self, account: &str, address: &str, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().ok()?;
        [account_key(account), address_key(address)]
            .iter()
            .filter_map(|k| entries.get(k))
            .filter_map(|f| f.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max()
    }

    /// Records a failed sign-in.
    pub fn failed(&self, account: &str, address: &str, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, f| now.duration_since(f.last) < WINDOW);
        }
        for (key, free) in [
            (account_key(account), FREE_FAILURES_ACCOUNT),
            (address_key(address), FREE_FAILURES_ADDRESS),
        ] {
            let f = entries.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            if now.duration_since(f.last) > WINDOW {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
            f.blocked_until = wait_after(f.count, free).map(|w| now + w);
        }
    }

    /// A successful sign-in clears the account's failures (not the address's: one good
    /// password must not reset a spray across other accounts).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&account_key(account));
        }
    }
}

fn account_key(account: &str) -> String {
    format!("account:{account}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures_and_success_clears_the_account() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES_ACCOUNT {
            assert_eq!(l.blocked("maria", "10.0.0.1", t0), None);
            l.failed("maria", "10.0.0.1", t0);
        }
        assert_eq!(l.blocked("maria", "10.0.0.1", t0), None);
        l.failed("maria", "10.0.0.1", t0);
        assert_eq!(
            l.blocked("maria", "10.0.0.2", t0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            l.blocked("other", "10.0.0.2", t0),
            None,
            "other accounts are free"
        );
        l.failed("maria", "10.0.0.1", t0);
        assert_eq!(l.blocked("maria", "x", t0), Some(Duration::from_secs(2)));
        assert_eq!(l.blocked("maria", "x", t0 + Duration::from_secs(3)), None);
        l.succeeded("maria");
        assert_eq!(l.blocked("maria", "x", t0), None);
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..=FREE_FAILURES_ADDRESS {
            l.failed(&format!("user{i}"), "10.9.9.9", t0);
        }
        assert!(l.blocked("fresh-account", "10.9.9.9", t0).is_some());
        assert!(l.blocked("fresh-account", "10.9.9.8", t0).is_none());
    }

    #[test]
    fn waits_are_capped() {
        assert_eq!(wait_after(1000, 5), Some(MAX_WAIT));
        assert_eq!(wait_after(3, 5), None);
    }
}
