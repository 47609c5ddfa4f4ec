//! Rate limits: token buckets refilled at `requests_per_second` up to `burst`, one per merchant
//! API key, and for rejected webhooks one per merchant and provider and one per client address.
//! Buckets live in this process's memory and survive a config reload (new limits apply to the
//! tokens already there). With `[redis] url`, the API keys' buckets are shared by every node
//! ([`crate::shared`]) and these decide only while Redis does not answer; the rejected
//! webhooks' and sign-ins' buckets stay each process's own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::settings::RateLimitSettings;
use crate::shared::Redis;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by a SHA-256 (of an API key, a client address …: plain keys are never kept).
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
    /// Most buckets kept. Past it, buckets that have refilled are dropped (a full bucket is
    /// the same as none); if every one is still in use, new keys share one overflow bucket, so
    /// that a client with many addresses cannot grow the map.
    capacity: usize,
    shared: Option<Arc<Redis>>,
}

impl Default for RateLimiter {
    /// For API keys: only configured keys get this far, so the map stays as small as the
    /// config.
    fn default() -> Self {
        RateLimiter::with_capacity(usize::MAX)
    }
}

/// The key new clients share once the map is full.
const OVERFLOW: [u8; 32] = [0xff; 32];

impl RateLimiter {
    pub fn with_capacity(capacity: usize) -> RateLimiter {
        RateLimiter {
            buckets: Mutex::default(),
            capacity,
            shared: None,
        }
    }

    /// For API keys, with buckets shared through `redis` when it is given.
    pub fn shared_by(redis: Option<Arc<Redis>>) -> RateLimiter {
        RateLimiter {
            shared: redis,
            ..RateLimiter::default()
        }
    }

    /// [`RateLimiter::take`] from the bucket every node shares, while Redis answers.
    pub async fn take_shared(
        &self,
        key_hash: [u8; 32],
        limit: RateLimitSettings,
    ) -> Result<(), Duration> {
        if let Some(redis) = &self.shared
            && let Some(verdict) = redis.take(&key_hash, limit).await
        {
            return verdict;
        }
        self.take(key_hash, limit, Instant::now())
    }

    /// Takes one token from the key's bucket, or says how long until one is there.
    pub fn take(
        &self,
        key_hash: [u8; 32],
        limit: RateLimitSettings,
        now: Instant,
    ) -> Result<(), Duration> {
        let burst = f64::from(limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key_hash = key_hash;
        if buckets.len() >= self.capacity && !buckets.contains_key(&key_hash) {
            buckets.retain(|_, bucket| {
                let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
                bucket.tokens + elapsed * limit.requests_per_second < burst
            });
            if buckets.len() >= self.capacity {
                key_hash = OVERFLOW;
            }
        }
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

    #[test]
    fn a_full_map_drops_refilled_buckets_then_shares_one_overflow_bucket() {
        let limiter = RateLimiter::with_capacity(2);
        let limit = RateLimitSettings {
            requests_per_second: 1.0,
            burst: 1,
        };
        let start = Instant::now();
        assert_eq!(limiter.take([1; 32], limit, start), Ok(()));
        assert_eq!(limiter.take([2; 32], limit, start), Ok(()));
        // Both buckets are empty, so both are kept: a third key shares the overflow bucket.
        assert_eq!(limiter.take([3; 32], limit, start), Ok(()));
        assert!(limiter.take([4; 32], limit, start).is_err());
        assert!(limiter.take([1; 32], limit, start).is_err());
        // A second later every bucket has refilled: they are dropped, and new keys get their own.
        let later = start + Duration::from_secs(1);
        assert_eq!(limiter.take([5; 32], limit, later), Ok(()));
        assert_eq!(limiter.take([6; 32], limit, later), Ok(()));
        assert!(limiter.take([5; 32], limit, later).is_err());
    }
}
