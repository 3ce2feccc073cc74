//! Per-key token-bucket rate limiting: login and registration attempts per client IP,
//! wrong passwords per account, uploads and sent events per user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::api::error::{Error, Result};
use crate::config::RateLimit;

pub struct RateLimiter {
    enabled: bool,
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Above this many tracked keys, full (idle) buckets are dropped.
const MAX_TRACKED_KEYS: usize = 10_000;

impl RateLimiter {
    pub fn new(enabled: bool, limit: &RateLimit) -> Self {
        Self {
            enabled,
            per_second: limit.per_second,
            burst: f64::from(limit.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or fails with `M_LIMIT_EXCEEDED` and how long to wait.
    pub fn check(&self, key: &str) -> Result<()> {
        self.take(key, true)
    }

    /// Fails like [`check`](Self::check) would, without taking a token: for limits that
    /// only count failures (wrong passwords), recorded afterwards with [`record`](Self::record).
    pub fn peek(&self, key: &str) -> Result<()> {
        self.take(key, false)
    }

    /// Takes a token for `key` whether or not one is left.
    pub fn record(&self, key: &str) {
        let _ = self.take(key, true);
    }

    /// Like [`check`](Self::check), at a rate of this key's own (an admin's override);
    /// a rate of zero never limits.
    pub fn check_at(&self, key: &str, per_second: f64, burst: f64) -> Result<()> {
        if per_second <= 0.0 || burst <= 0.0 {
            return Ok(());
        }
        self.take_at(key, true, per_second, burst)
    }

    fn take(&self, key: &str, consume: bool) -> Result<()> {
        self.take_at(key, consume, self.per_second, self.burst)
    }

    fn take_at(&self, key: &str, consume: bool, per_second: f64, burst: f64) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| Error::internal("rate limiter poisoned"))?;
        if buckets.len() > MAX_TRACKED_KEYS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            if consume {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            let wait_ms = ((1.0 - bucket.tokens) / per_second * 1000.0).ceil() as u64;
            Err(Error::limit_exceeded(wait_ms.max(1)))
        }
    }
}

/// Takes one of the sender's event tokens: the configured rate, or the admin's override.
pub fn check_send(
    state: &crate::app::AppState,
    sender: &crate::auth::session::Sender,
) -> Result<()> {
    let key = sender.user_id.as_str();
    match sender.ratelimit_override {
        // An override keeps a bucket of its own, keyed by its rate, so a new
        // override starts with a full burst instead of inheriting the tokens
        // left under the old rate, and deleting it returns the user to the
        // bucket the configured rate left them.
        Some(o) => state.message_limiter.check_at(
            &format!("{key}|{}/{}", o.messages_per_second, o.burst_count),
            o.messages_per_second as f64,
            o.burst_count as f64,
        ),
        None => state.message_limiter.check(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_hint() {
        let limiter = RateLimiter::new(
            true,
            &RateLimit {
                per_second: 0.5,
                burst: 2,
            },
        );
        limiter.check("ip").unwrap();
        limiter.check("ip").unwrap();
        let err = limiter.check("ip").unwrap_err();
        assert_eq!(err.errcode(), "M_LIMIT_EXCEEDED");
        match err {
            Error::Matrix { extra, .. } => {
                let ms = extra["retry_after_ms"].as_u64().unwrap();
                assert!(ms > 1000 && ms <= 2000, "{ms}");
            }
            other => panic!("{other:?}"),
        }
        limiter.check("other-ip").unwrap();
    }

    #[test]
    fn peek_does_not_consume() {
        let limiter = RateLimiter::new(
            true,
            &RateLimit {
                per_second: 0.01,
                burst: 1,
            },
        );
        for _ in 0..3 {
            limiter.peek("user").unwrap();
        }
        limiter.record("user");
        assert!(limiter.peek("user").is_err());
    }

    #[test]
    fn an_override_has_its_own_rate_and_zero_means_unlimited() {
        let limiter = RateLimiter::new(
            true,
            &RateLimit {
                per_second: 0.001,
                burst: 1,
            },
        );
        for _ in 0..50 {
            limiter.check_at("admin", 0.0, 0.0).unwrap();
        }
        limiter.check_at("bot", 0.001, 3.0).unwrap();
        limiter.check_at("bot", 0.001, 3.0).unwrap();
        limiter.check_at("bot", 0.001, 3.0).unwrap();
        assert!(limiter.check_at("bot", 0.001, 3.0).is_err());
    }

    #[test]
    fn disabled_never_limits() {
        let limiter = RateLimiter::new(
            false,
            &RateLimit {
                per_second: 0.001,
                burst: 1,
            },
        );
        for _ in 0..10 {
            limiter.check("ip").unwrap();
        }
    }
}
