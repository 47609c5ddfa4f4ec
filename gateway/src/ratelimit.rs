//! Rate limits: a token bucket per merchant API key, refilled at `requests_per_second` up to
//! `burst`. Like circuit breakers, buckets live in this process's memory: they survive a
//! config reload (new limits apply to the tokens already there), and each process behind a
//! load balancer counts its own share.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::settings::RateLimitSettings;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by the SHA-256 of the API key (plain keys are never kept). Only configured keys
/// get this far, so the map stays as small as the config.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl RateLimiter {
    /// Takes one token from the key's bucket, or says how long until one is there.
    pub fn take(
        &self,
        key_hash: [u8; 32],
        limit: RateLimitSettings,
        now: Instant,
    ) -> Result<(), Duration> {
        let burst = f64::from(limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(key_hash).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.requests_per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.requests_per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimitSettings {
            requests_per_second: 2.0,
            burst: 3,
        };
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take([1; 32], limit, start), Ok(()));
        }
        assert_eq!(
            limiter.take([1; 32], limit, start),
            Err(Duration::from_millis(500))
        );
        // Another key has a bucket of its own.
        assert_eq!(limiter.take([2; 32], limit, start), Ok(()));
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.take([1; 32], limit, later), Ok(()));
        assert!(limiter.take([1; 32], limit, later).is_err());
        // A long pause fills the bucket to its burst, no further.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take([1; 32], limit, much_later), Ok(()));
        }
        assert!(limiter.take([1; 32], limit, much_later).is_err());
    }
}
