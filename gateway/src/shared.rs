//! State several nodes share through Redis (`[redis] url`): the API keys' rate limits and the
//! circuit breakers. Each is one Lua script, so a decision is atomic across nodes, and timed by
//! Redis's own clock, so nodes whose clocks disagree still agree.
//!
//! Redis is a help, never a dependency: when it does not answer (within `[redis]
//! answer_within_ms`), the caller decides with its own in-process state, and afterwards one
//! caller a second ([`RETRY_AFTER`]) asks Redis again while the others decide on their own, so
//! that a Redis that is down or hangs holds up one request a second at most. Going down and
//! coming back are logged once each; `/readyz` and `/metrics` say which it is now. A decision
//! that timed out may still be carried out by Redis later: at worst a token taken twice, or a
//! trial call nobody makes, which keeps that circuit open for one more cooldown.
//!
//! Keys start with `[redis] prefix`, so deployments sharing one Redis share nothing. Needs
//! Redis 5 or later (the scripts read TIME, then write).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge, Registry};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{TcpSettings, socket2};
use redis::{IntoConnectionInfo, Script};

use crate::settings::{RateLimitSettings, RoutingSettings};

/// How long a node decides on its own after Redis failed to answer, before one caller asks
/// again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a connection to Redis may go unanswered before it is taken for dead.
const DEAD_AFTER: Duration = Duration::from_secs(5);
/// How long Redis keeps a circuit nobody touches: a day, so that keys do not pile up.
const CIRCUIT_TTL_MS: u64 = 86_400_000;

/// A token bucket: KEYS[1] the bucket; ARGV rate (tokens per second), burst. Answers 0 when a
/// token was taken, else the milliseconds until one is there.
const BUCKET: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
";

/// A circuit: KEYS[1] the circuit; ARGV[1] what happened (`admit`, `failed`, `succeeded`,
/// `answered`), ARGV[2] the failure threshold, ARGV[3] the cooldown in milliseconds, ARGV[4]
/// the key's time to live. Every answer is a pair: `admit` answers {0, 0} allowed, {1, 0} the
/// trial call, {2, wait_ms} refused; the others {0, 0}. The same rules as the breakers' own
/// circuits.
const CIRCUIT: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local op = ARGV[1]
local threshold = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened') or '0')
if op == 'admit' then
  if opened == 0 then return {0, 0} end
  if now - opened < cooldown then return {2, cooldown - (now - opened)} end
  local trial = tonumber(redis.call('HGET', KEYS[1], 'trial') or '0')
  if trial > 0 and now - trial < cooldown then return {2, cooldown - (now - trial)} end
  redis.call('HSET', KEYS[1], 'trial', now)
  return {1, 0}
elseif op == 'failed' then
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if opened > 0 or failures >= threshold then
    redis.call('HSET', KEYS[1], 'opened', now)
    redis.call('HDEL', KEYS[1], 'trial')
  end
elseif op == 'succeeded' then
  redis.call('DEL', KEYS[1])
  return {0, 0}
elseif op == 'answered' then
  redis.call('HDEL', KEYS[1], 'trial')
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {0, 0}
";

/// What the shared circuit says of a call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Allowed as the half-open circuit's one trial call.
    Trial,
    Refused(Duration),
}

/// What happened to a call, as the shared circuit is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Failed,
    Succeeded,
    /// The trial call got an answer that says nothing of the provider's health.
    Answered,
}

impl CallOutcome {
    const fn op(self) -> &'static str {
        match self {
            CallOutcome::Failed => "failed",
            CallOutcome::Succeeded => "succeeded",
            CallOutcome::Answered => "answered",
        }
    }
}

/// The link to Redis every node's limits and circuits go through.
pub struct Redis {
    connection: ConnectionManager,
    /// What every key starts with.
    prefix: String,
    /// How long a caller waits for Redis before deciding on its own.
    answer_within: Duration,
    bucket: Script,
    circuit: Script,
    /// Whether Redis answered last time it was asked.
    up: AtomicBool,
    /// Until when (ms since `epoch`) nobody asks Redis after a failure.
    quiet_until_ms: AtomicU64,
    epoch: Instant,
    /// `paymux_redis_up`: 1 while Redis answers.
    up_gauge: IntGauge,
    /// `paymux_redis_fallbacks_total`: decisions taken on a node's own.
    fallbacks: IntCounter,
}

impl std::fmt::Debug for Redis {
    /// Shows whether Redis answers, never the URL (it may hold a password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A link to `url` that connects on first use and again after every failure, so a node
    /// starts and serves whether Redis is up or not; its keys start with `prefix`, and a
    /// caller waits `answer_within` for each answer.
    pub fn connect(
        url: &str,
        prefix: &str,
        answer_within: Duration,
    ) -> Result<Redis, redis::RedisError> {
        // A connection whose peer vanished without a reset (a host gone, an address moved)
        // would otherwise stay until the kernel gives up on it, a quarter of an hour: keepalive
        // probes find an idle one dead, and unacknowledged data fails one within seconds, so
        // that the manager connects again.
        let tcp = TcpSettings::default()
            .set_nodelay(true)
            .set_user_timeout(DEAD_AFTER)
            .set_keepalive(
                socket2::TcpKeepalive::new()
                    .with_time(DEAD_AFTER)
                    .with_interval(Duration::from_secs(1)),
            );
        let info = url.into_connection_info()?.set_tcp_settings(tcp);
        let client = redis::Client::open(info)?;
        let metric = |error: prometheus::Error| {
            redis::RedisError::from((redis::ErrorKind::Client, "metrics", error.to_string()))
        };
        let up_gauge = IntGauge::new(
            "redis_up",
            "1 while Redis answers and rate limits and circuits are shared by every node; 0 \
             while this node decides on its own",
        )
        .map_err(metric)?;
        up_gauge.set(1);
        let fallbacks = IntCounter::new(
            "redis_fallbacks_total",
            "Rate-limit and circuit decisions this node took on its own because Redis did not \
             answer",
        )
        .map_err(metric)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(answer_within))
            .set_response_timeout(Some(answer_within))
            .set_number_of_retries(1);
        Ok(Redis {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: prefix.to_owned(),
            answer_within,
            bucket: Script::new(BUCKET),
            circuit: Script::new(CIRCUIT),
            up: AtomicBool::new(true),
            quiet_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            up_gauge,
            fallbacks,
        })
    }

    /// Adds this link's metrics to `/metrics`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.up_gauge.clone()))?;
        registry.register(Box::new(self.fallbacks.clone()))
    }

    /// Whether Redis answered the last decision asked of it.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Whether Redis answers a PING (at start, and for `/readyz`). A PING says nothing of
    /// whether the scripts run (a read-only replica answers it), so [`Redis::is_up`] is left
    /// to the decisions themselves.
    pub async fn ping(&self) -> bool {
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.answer_within,
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await;
        matches!(answer, Ok(Ok(_)))
    }

    /// Takes a token from the bucket of `key_hash`, shared by every node: `None` when Redis
    /// did not answer (the caller takes from its own bucket).
    pub async fn take(
        &self,
        key_hash: &[u8; 32],
        limit: RateLimitSettings,
    ) -> Option<Result<(), Duration>> {
        if !self.may_ask() {
            return None;
        }
        let key = format!("{}:bucket:{}", self.prefix, hex::encode(key_hash));
        let mut invocation = self.bucket.key(key);
        invocation.arg(limit.requests_per_second).arg(limit.burst);
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.answer_within,
            invocation.invoke_async::<u64>(&mut connection),
        )
        .await;
        let wait_ms = self.note(self.flatten(answer))?;
        Some(match wait_ms {
            0 => Ok(()),
            wait => Err(Duration::from_millis(wait)),
        })
    }

    /// Asks the shared circuit of `merchant` and `provider` whether a call may go: `None` when
    /// Redis did not answer.
    pub async fn admit(
        &self,
        merchant: &str,
        provider: &str,
        policy: &RoutingSettings,
    ) -> Option<Verdict> {
        let (verdict, wait_ms) = self
            .run_circuit::<(u8, u64)>(merchant, provider, "admit", policy)
            .await?;
        Some(match verdict {
            0 => Verdict::Allowed,
            1 => Verdict::Trial,
            _ => Verdict::Refused(Duration::from_millis(wait_ms)),
        })
    }

    /// Tells the shared circuit what became of a call; `false` when Redis did not hear it.
    pub async fn record(
        &self,
        merchant: &str,
        provider: &str,
        outcome: CallOutcome,
        policy: &RoutingSettings,
    ) -> bool {
        self.run_circuit::<(u8, u64)>(merchant, provider, outcome.op(), policy)
            .await
            .is_some()
    }

    async fn run_circuit<T: redis::FromRedisValue>(
        &self,
        merchant: &str,
        provider: &str,
        op: &str,
        policy: &RoutingSettings,
    ) -> Option<T> {
        if !self.may_ask() {
            return None;
        }
        let key = format!("{}:circuit:{merchant}:{provider}", self.prefix);
        let cooldown_ms = policy.cooldown_secs.saturating_mul(1000);
        let mut invocation = self.circuit.key(key);
        invocation
            .arg(op)
            .arg(policy.failure_threshold)
            .arg(cooldown_ms)
            .arg(CIRCUIT_TTL_MS.max(cooldown_ms.saturating_mul(2)));
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.answer_within,
            invocation.invoke_async::<T>(&mut connection),
        )
        .await;
        self.note(self.flatten(answer))
    }

    /// Whether this caller asks Redis: always while it answers; after a failure nobody for
    /// [`RETRY_AFTER`], then the one caller that moves the quiet window on.
    fn may_ask(&self) -> bool {
        let asks = self.is_up() || {
            let now = self.now_ms();
            let until = self.quiet_until_ms.load(Ordering::Relaxed);
            now >= until
                && self
                    .quiet_until_ms
                    .compare_exchange(
                        until,
                        now.saturating_add(retry_after_ms()),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
        };
        if !asks {
            self.fallbacks.inc();
        }
        asks
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A call's outcome, a timeout included, with its error as text.
    fn flatten<T>(
        &self,
        answer: Result<Result<T, redis::RedisError>, tokio::time::error::Elapsed>,
    ) -> Result<T, String> {
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.answer_within.as_millis()
            )),
        }
    }

    /// Records whether Redis answered, logging each change once.
    fn note<T>(&self, answer: Result<T, String>) -> Option<T> {
        match answer {
            Ok(value) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: limits and circuits are shared again");
                }
                self.up_gauge.set(1);
                Some(value)
            }
            Err(error) => {
                let until = self.now_ms().saturating_add(retry_after_ms());
                self.quiet_until_ms.store(until, Ordering::Relaxed);
                self.fallbacks.inc();
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "Redis does not answer: each node counts limits and circuits on its own until it does"
                    );
                }
                self.up_gauge.set(0);
                None
            }
        }
    }
}

fn retry_after_ms() -> u64 {
    u64::try_from(RETRY_AFTER.as_millis()).unwrap_or(u64::MAX)
}
