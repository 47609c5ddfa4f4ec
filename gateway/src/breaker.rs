//! Circuit breakers, one per merchant and provider: after `failure_threshold` provider failures
//! in a row a circuit opens and routing passes the provider over; after `cooldown_secs` one
//! trial call is let through (half-open), whose outcome closes or reopens it.
//!
//! Breakers are a health heuristic kept in memory, like rate limits: they survive a config
//! reload but not a restart. With `[redis] url` the decisions are shared by every node
//! ([`crate::shared`]), so failures seen by one node open the circuit on all; this process's
//! own circuits still record what it saw (for the views) and decide whenever Redis does not
//! answer. No correctness rule rests on them (those rest on the database).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::settings::RoutingSettings;
use crate::shared::{CallOutcome, Redis, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    /// The cooldown has passed: the next call is a trial.
    HalfOpen,
    Open,
}

impl CircuitState {
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Open => "open",
        }
    }

    /// The value of the `circuit_state` gauge: 0 closed, 1 half-open, 2 open.
    pub const fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

/// When circuits open and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub failure_threshold: u32,
    pub cooldown: Duration,
}

impl From<&RoutingSettings> for Policy {
    fn from(settings: &RoutingSettings) -> Policy {
        Policy {
            failure_threshold: settings.failure_threshold,
            cooldown: Duration::from_secs(settings.cooldown_secs),
        }
    }
}

impl Policy {
    /// The settings this policy was made of, as the shared circuits take them.
    fn settings(self) -> RoutingSettings {
        RoutingSettings {
            failure_threshold: self.failure_threshold,
            cooldown_secs: self.cooldown.as_secs(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Circuit {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    /// When the half-open trial call started; a trial that never reports back (its request
    /// was dropped) stops blocking others after a cooldown.
    trial_started: Option<Instant>,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    last_failure: Option<String>,
}

impl Circuit {
    fn state(&self, policy: Policy, now: Instant) -> CircuitState {
        match self.opened_at {
            None => CircuitState::Closed,
            Some(at) if now.saturating_duration_since(at) >= policy.cooldown => {
                CircuitState::HalfOpen
            }
            Some(_) => CircuitState::Open,
        }
    }
}

/// Whether a call may go to a provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the half-open circuit's one trial call: report its outcome with
    /// [`Breakers::succeeded`] or [`Breakers::failed`], or give it up with
    /// [`Breakers::trial_answered`].
    Trial,
    /// The circuit is open (or its trial call is running): try again after this long.
    Refused {
        retry_after: Duration,
    },
}

/// What became of a call to a provider, as its circuit is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Succeeded,
    /// A failure that says the provider is unwell, with why.
    Failed(&'a str),
    /// The trial call got an answer that says nothing of the provider's health (a refusal of
    /// that one request).
    TrialAnswered,
}

/// What the admin view shows of one circuit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CircuitView {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The last failure's message (provider errors never carry credentials).
    pub last_failure: Option<String>,
}

/// Every circuit of this process, by `(merchant, provider)`, and the nodes' shared ones when
/// Redis is configured.
#[derive(Debug, Default)]
pub struct Breakers {
    circuits: Mutex<HashMap<(String, String), Circuit>>,
    shared: Option<Arc<Redis>>,
}

impl Breakers {
    /// Circuits shared through `redis` when it is given, else this process's alone.
    pub fn shared_by(redis: Option<Arc<Redis>>) -> Breakers {
        Breakers {
            shared: redis,
            ..Breakers::default()
        }
    }

    /// Asks to call `provider` for `merchant`: the shared circuit decides while Redis answers,
    /// else this process's own ([`Breakers::admit_here`]).
    pub async fn admit(
        &self,
        merchant: &str,
        provider: &str,
        policy: Policy,
        now: Instant,
    ) -> Admission {
        if let Some(redis) = &self.shared
            && let Some(verdict) = redis.admit(merchant, provider, &policy.settings()).await
        {
            return match verdict {
                Verdict::Allowed => Admission::Allowed,
                Verdict::Trial => Admission::Trial,
                Verdict::Refused(retry_after) => Admission::Refused { retry_after },
            };
        }
        self.admit_here(merchant, provider, policy, now)
    }

    /// Records what became of a call: in this process's circuit, and in the shared one.
    pub async fn record(
        &self,
        merchant: &str,
        provider: &str,
        outcome: Outcome<'_>,
        policy: Policy,
    ) {
        let (now, at) = (Instant::now(), Utc::now());
        let shared = match outcome {
            Outcome::Succeeded => {
                self.succeeded(merchant, provider, at);
                CallOutcome::Succeeded
            }
            Outcome::Failed(reason) => {
                self.failed(merchant, provider, reason, policy, now, at);
                CallOutcome::Failed
            }
            Outcome::TrialAnswered => {
                self.trial_answered(merchant, provider);
                CallOutcome::Answered
            }
        };
        if let Some(redis) = &self.shared {
            redis
                .record(merchant, provider, shared, &policy.settings())
                .await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Circuit>> {
        // A panic while holding the lock leaves counters, not broken invariants.
        self.circuits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks this process's circuit: allowed while closed; while open, refused until the
    /// cooldown has passed, then allowed for one trial call at a time.
    pub fn admit_here(
        &self,
        merchant: &str,
        provider: &str,
        policy: Policy,
        now: Instant,
    ) -> Admission {
        let mut circuits = self.lock();
        let Some(circuit) = circuits.get_mut(&(merchant.to_owned(), provider.to_owned())) else {
            return Admission::Allowed;
        };
        let remaining = |since: Instant| policy.cooldown.saturating_sub(now - since);
        match circuit.state(policy, now) {
            CircuitState::Closed => Admission::Allowed,
            CircuitState::Open => Admission::Refused {
                retry_after: circuit.opened_at.map_or(policy.cooldown, remaining),
            },
            CircuitState::HalfOpen => match circuit.trial_started {
                Some(started) if now.saturating_duration_since(started) < policy.cooldown => {
                    Admission::Refused {
                        retry_after: remaining(started),
                    }
                }
                _ => {
                    circuit.trial_started = Some(now);
                    Admission::Trial
                }
            },
        }
    }

    /// A call succeeded: the circuit closes.
    fn succeeded(&self, merchant: &str, provider: &str, at: DateTime<Utc>) {
        let mut circuits = self.lock();
        let circuit = circuits
            .entry((merchant.to_owned(), provider.to_owned()))
            .or_default();
        circuit.consecutive_failures = 0;
        circuit.opened_at = None;
        circuit.trial_started = None;
        circuit.last_success_at = Some(at);
    }

    /// The trial call got an answer that says nothing of the provider's health (a refusal of
    /// that one request): the circuit stays half-open and the next call is the trial, instead
    /// of every call being refused for another cooldown.
    fn trial_answered(&self, merchant: &str, provider: &str) {
        if let Some(circuit) = self
            .lock()
            .get_mut(&(merchant.to_owned(), provider.to_owned()))
        {
            circuit.trial_started = None;
        }
    }

    /// A call failed in a way that says the provider is unwell: the circuit opens at the
    /// threshold, and again at once when the half-open trial fails.
    pub(crate) fn failed(
        &self,
        merchant: &str,
        provider: &str,
        reason: &str,
        policy: Policy,
        now: Instant,
        at: DateTime<Utc>,
    ) {
        let mut circuits = self.lock();
        let circuit = circuits
            .entry((merchant.to_owned(), provider.to_owned()))
            .or_default();
        circuit.consecutive_failures = circuit.consecutive_failures.saturating_add(1);
        circuit.last_failure_at = Some(at);
        circuit.last_failure = Some(reason.to_owned());
        if circuit.opened_at.is_some() || circuit.consecutive_failures >= policy.failure_threshold {
            circuit.opened_at = Some(now);
            circuit.trial_started = None;
        }
    }

    pub fn view(
        &self,
        merchant: &str,
        provider: &str,
        policy: Policy,
        now: Instant,
    ) -> CircuitView {
        let circuits = self.lock();
        let circuit = circuits
            .get(&(merchant.to_owned(), provider.to_owned()))
            .cloned()
            .unwrap_or_default();
        CircuitView {
            state: circuit.state(policy, now),
            consecutive_failures: circuit.consecutive_failures,
            last_success_at: circuit.last_success_at,
            last_failure_at: circuit.last_failure_at,
            last_failure: circuit.last_failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        failure_threshold: 2,
        cooldown: Duration::from_secs(30),
    };

    fn fail(breakers: &Breakers, now: Instant) {
        breakers.failed("m", "p", "503", POLICY, now, Utc::now());
    }

    #[test]
    fn a_circuit_opens_at_the_threshold_and_half_opens_after_the_cooldown() {
        let breakers = Breakers::default();
        let start = Instant::now();
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, start),
            Admission::Allowed
        );
        fail(&breakers, start);
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, start),
            Admission::Allowed
        );
        fail(&breakers, start);
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, start + Duration::from_secs(10)),
            Admission::Refused {
                retry_after: Duration::from_secs(20)
            }
        );
        let view = breakers.view("m", "p", POLICY, start);
        assert_eq!(view.state, CircuitState::Open);
        assert_eq!(view.consecutive_failures, 2);
        assert_eq!(view.last_failure.as_deref(), Some("503"));
        // Other merchants' circuits are their own.
        assert_eq!(
            breakers.admit_here("n", "p", POLICY, start),
            Admission::Allowed
        );

        let later = start + POLICY.cooldown;
        assert_eq!(
            breakers.view("m", "p", POLICY, later).state,
            CircuitState::HalfOpen
        );
        // One trial at a time.
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, later),
            Admission::Trial
        );
        assert!(matches!(
            breakers.admit_here("m", "p", POLICY, later),
            Admission::Refused { .. }
        ));
        breakers.succeeded("m", "p", Utc::now());
        let view = breakers.view("m", "p", POLICY, later);
        assert_eq!(view.state, CircuitState::Closed);
        assert_eq!(view.consecutive_failures, 0);
        assert!(view.last_success_at.is_some());
    }

    #[test]
    fn a_failed_trial_reopens_at_once_and_a_lost_trial_stops_blocking() {
        let breakers = Breakers::default();
        let start = Instant::now();
        fail(&breakers, start);
        fail(&breakers, start);
        let trial = start + POLICY.cooldown;
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, trial),
            Admission::Trial
        );
        fail(&breakers, trial);
        assert_eq!(
            breakers.view("m", "p", POLICY, trial).state,
            CircuitState::Open
        );
        // A trial that never reported back lets another through after a cooldown.
        let second = trial + POLICY.cooldown;
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, second),
            Admission::Trial
        );
        assert!(matches!(
            breakers.admit_here("m", "p", POLICY, second),
            Admission::Refused { .. }
        ));
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, second + POLICY.cooldown),
            Admission::Trial
        );
    }

    #[test]
    fn a_trial_answered_without_a_verdict_lets_the_next_call_be_the_trial() {
        let breakers = Breakers::default();
        let start = Instant::now();
        fail(&breakers, start);
        fail(&breakers, start);
        let trial = start + POLICY.cooldown;
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, trial),
            Admission::Trial
        );
        breakers.trial_answered("m", "p");
        assert_eq!(
            breakers.view("m", "p", POLICY, trial).state,
            CircuitState::HalfOpen
        );
        assert_eq!(
            breakers.admit_here("m", "p", POLICY, trial),
            Admission::Trial
        );
    }
}
