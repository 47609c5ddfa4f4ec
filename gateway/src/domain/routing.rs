//! Routing a checkout: which of the merchant's providers may take it ([`candidates`], a pure
//! choice), then calling them in order ([`route`]) with failover, circuit breakers and the
//! idempotency key pinned before each call.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, Money};
use paymux_providers::ProviderError;
use paymux_providers::model::{CheckoutRequest, CreatedCheckout, Customer, LineItem};
use url::Url;

use crate::breaker::{Admission, Outcome, Policy};
use crate::idempotency::Key;
use crate::merchants::{ConfiguredProvider, Merchant};
use crate::state::AppState;
use crate::store::StoreError;

/// A checkout as the storefront asked for it, valid whatever the config says. Which providers
/// may serve it is decided later ([`candidates`]), after a replay has been ruled out, so that a
/// config change never alters the answer an Idempotency-Key already has.
#[derive(Debug, Clone)]
pub struct Order {
    pub amount: Money,
    /// The provider to use; routing picks one when absent.
    pub provider: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: Option<Customer>,
    pub success_url: Option<Url>,
    pub cancel_url: Option<Url>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub items: Vec<LineItem>,
    /// Provider-only fields, by provider id; only the chosen provider's entry is passed on.
    pub provider_options: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Order {
    /// The request as `provider_id` gets it: only its own `provider_options`.
    pub fn request_for(
        &self,
        provider_id: &str,
        checkout_id: CheckoutId,
        idempotency_key: String,
    ) -> CheckoutRequest {
        CheckoutRequest {
            checkout_id,
            amount: self.amount,
            reference: self.reference.clone(),
            description: self.description.clone(),
            customer: self.customer.clone(),
            success_url: self.success_url.clone(),
            cancel_url: self.cancel_url.clone(),
            expires_at: self.expires_at,
            metadata: self.metadata.clone(),
            items: self.items.clone(),
            provider_options: self
                .provider_options
                .as_ref()
                .and_then(|options| options.get(provider_id).cloned()),
            idempotency_key,
        }
    }
}

/// Why a checkout could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// A field of the request no provider can take, named.
    #[error("{message}")]
    Invalid { param: String, message: String },
    /// A provider paymux knows that the merchant has not configured (or no longer has).
    #[error("{0}")]
    NotEnabled(String),
    /// A provider the merchant has switched off.
    #[error("{0}")]
    Disabled(String),
    /// The named provider's circuit is open, or every candidate's.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after: Duration,
    },
    /// Every provider tried failed, and created nothing.
    #[error("{0}")]
    AllFailed(String),
    /// The provider's own answer: a refusal, or an outcome nobody knows. `advice` says what a
    /// retry under the same Idempotency-Key does, when the outcome is unknown.
    #[error("{error}")]
    Provider {
        error: ProviderError,
        advice: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> RoutingError {
    RoutingError::Invalid {
        param: param.into(),
        message: message.into(),
    }
}

/// A provider that may be tried: its id and how the merchant configured it.
pub type Candidate = (String, ConfiguredProvider);

/// The provider an order names, if the merchant may use it for its currency. A name paymux
/// does not know at all is a mistake in the request; a provider it knows that the merchant has
/// not configured is not enabled.
fn named_provider(
    merchant: &Merchant,
    name: &str,
    order: &Order,
    known: &[&str],
) -> Result<ConfiguredProvider, RoutingError> {
    let provider = merchant.providers.get(name).ok_or_else(|| {
        if known.contains(&name) {
            RoutingError::NotEnabled(format!(
                "provider `{name}` is not configured for this merchant"
            ))
        } else {
            invalid(
                "provider",
                format!(
                    "unknown provider `{name}`; paymux knows {}",
                    known.join(", ")
                ),
            )
        }
    })?;
    if !provider.enabled {
        return Err(RoutingError::Disabled(format!(
            "provider `{name}` is disabled for this merchant"
        )));
    }
    let currency = order.amount.currency;
    if !provider.currencies.contains(&currency) {
        return Err(invalid(
            "currency",
            format!("{name} does not take {currency} for this merchant"),
        ));
    }
    Ok(provider.clone())
}

/// The merchant's enabled providers that take the currency, can create checkouts and accept
/// the order's fields (Pakhi Pay needs the customer's name and email), by priority (then id).
/// Circuits are looked at when each is tried.
fn routed_candidates(merchant: &Merchant, order: &Order) -> Result<Vec<Candidate>, RoutingError> {
    let currency = order.amount.currency;
    let mut refusals = vec![];
    let mut candidates = vec![];
    for (id, provider) in &merchant.providers {
        if !provider.enabled || !provider.currencies.contains(&currency) {
            continue;
        }
        // Validation does not depend on the id: any well-formed one does.
        let request = order.request_for(id, CheckoutId::generate(), String::new());
        match provider.adapter.validate_checkout(&request) {
            Ok(()) => candidates.push((id.clone(), provider.clone())),
            Err(error) => refusals.push((id.clone(), error)),
        }
    }
    candidates.sort_by(|(a_id, a), (b_id, b)| (a.priority, a_id).cmp(&(b.priority, b_id)));
    if !candidates.is_empty() {
        return Ok(candidates);
    }
    let Some((_, first)) = refusals.first() else {
        return Err(invalid(
            "currency",
            format!("no enabled provider of this merchant takes {currency}"),
        ));
    };
    let param = match first {
        ProviderError::InvalidRequest {
            param: Some(param), ..
        } => param.clone(),
        _ => "provider".to_owned(),
    };
    let reasons: Vec<String> = refusals
        .iter()
        .map(|(id, error)| format!("{id}: {error}"))
        .collect();
    Err(invalid(
        param,
        format!(
            "no enabled provider of this merchant can take this checkout ({})",
            reasons.join("; ")
        ),
    ))
}

/// The providers a new attempt may try, in order, under the merchant's config of the moment
/// (and the clock: `expires_at` must still be ahead). `known` are the providers paymux knows.
pub fn candidates(
    merchant: &Merchant,
    order: &Order,
    known: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, RoutingError> {
    if order.expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Err(invalid("expires_at", "expires_at must be in the future"));
    }
    if let Some(options) = &order.provider_options
        && let Some((unknown, _)) = options
            .iter()
            .find(|(id, _)| !merchant.providers.contains_key(*id))
    {
        return Err(invalid(
            format!("provider_options.{unknown}"),
            format!("`{unknown}` is not a provider of this merchant"),
        ));
    }
    match order.provider.as_deref() {
        Some(name) => Ok(vec![(
            name.to_owned(),
            named_provider(merchant, name, order, known)?,
        )]),
        None => routed_candidates(merchant, order),
    }
}

/// The provider an earlier attempt under the same Idempotency-Key may have created the
/// checkout at. It is used even if now disabled (or its circuit open, or the currency no longer
/// routed to it): only it can return what it created, and routing elsewhere could leave two
/// live checkouts. Only a provider removed from the config cannot be reached.
fn pinned_provider(merchant: &Merchant, provider_id: &str) -> Result<Candidate, RoutingError> {
    merchant
        .providers
        .get(provider_id)
        .map(|provider| (provider_id.to_owned(), provider.clone()))
        .ok_or_else(|| {
            RoutingError::NotEnabled(format!(
                "an earlier attempt under this Idempotency-Key reached `{provider_id}`, which is \
                 no longer configured for this merchant"
            ))
        })
}

/// What the storefront is told after `provider_id` left the outcome of a create unknown and
/// the request had an Idempotency-Key: what a retry under it does with that provider.
fn retry_advice(provider_id: &str, provider: &ConfiguredProvider) -> String {
    let unknown = format!("; whether {provider_id} created the checkout is unknown");
    if provider.adapter.idempotent_create() {
        format!(
            "{unknown}. Retrying with the same Idempotency-Key is safe: the retry goes back to \
             {provider_id} with the same idempotency key and returns the checkout it created, if \
             it created one"
        )
    } else {
        format!(
            "{unknown}. A retry with the same Idempotency-Key goes back to {provider_id} only, \
             but {provider_id} takes no idempotency key and may create a second payment link; \
             only the one paymux returns is ever shown to the payer"
        )
    }
}

/// What routing did for one checkout.
pub struct Routed {
    pub provider_id: String,
    pub created: CreatedCheckout,
    /// Every provider called, in order; the last is `provider_id`.
    pub tried: Vec<String>,
}

/// What [`route`] works with.
pub struct Routing<'a> {
    pub state: &'a AppState,
    pub merchant: &'a Merchant,
    pub order: &'a Order,
    pub policy: Policy,
    /// The checkout's id: also the idempotency key providers get, the same on every retry
    /// under one Idempotency-Key, so a provider that dedupes makes one checkout.
    pub checkout_id: CheckoutId,
    pub key: Option<&'a Key>,
}

/// Tries the candidates in order, or only the provider the idempotency key is pinned to. A
/// provider whose circuit is open is passed over (or, named explicitly, is unavailable); one
/// that fails before anything can have been created gives way to the next; any other failure
/// ends the request. Before each call the key is pinned to the provider called ([`Key::pin`]),
/// so that a retry after anything but a failure that created nothing goes back to it.
pub async fn route(routing: Routing<'_>) -> Result<Routed, RoutingError> {
    let pinned = routing
        .key
        .and_then(|key| key.providers_tried.as_deref())
        .and_then(<[String]>::split_last);
    let (candidates, mut tried) = match pinned {
        Some((last, earlier)) => (
            vec![pinned_provider(routing.merchant, last)?],
            earlier.to_vec(),
        ),
        None => {
            let known = routing.state.live.provider_ids();
            let found = candidates(routing.merchant, routing.order, &known, Utc::now())?;
            (found, vec![])
        }
    };
    let mut skipped = Skipped::default();
    for (provider_id, provider) in candidates {
        match attempt(
            &routing,
            pinned.is_some(),
            &provider_id,
            &provider,
            &mut tried,
        )
        .await?
        {
            Attempt::Created(created) => {
                return Ok(Routed {
                    provider_id,
                    created,
                    tried,
                });
            }
            Attempt::CircuitOpen { retry_after } => skipped.open(provider_id, retry_after),
            Attempt::NothingCreated(error) => skipped.failed(&provider_id, &error),
        }
    }
    // Nothing was created anywhere: a retry may route afresh. Should this write fail, the key
    // stays pinned to a provider that created nothing, which only narrows the retry.
    if let Some(key) = routing.key
        && !skipped.failures.is_empty()
        && let Err(error) = key.pin(routing.state, None).await
    {
        tracing::warn!(%error, "could not unpin an idempotency key");
    }
    Err(skipped.into_error())
}

/// How one candidate answered, when routing may go on to the next.
enum Attempt {
    Created(CreatedCheckout),
    CircuitOpen { retry_after: Duration },
    NothingCreated(ProviderError),
}

/// Calls one candidate, unless its circuit is open (a pinned provider is called whatever its
/// circuit says), and records what became of it in the breakers and metrics. A failure that
/// ends routing is the error.
async fn attempt(
    routing: &Routing<'_>,
    pinned: bool,
    provider_id: &str,
    provider: &ConfiguredProvider,
    tried: &mut Vec<String>,
) -> Result<Attempt, RoutingError> {
    let (state, merchant) = (routing.state, routing.merchant);
    let decision = |outcome| {
        state
            .metrics
            .routing_decision(&merchant.id, provider_id, outcome)
    };
    let admission = if pinned {
        Admission::Allowed
    } else {
        let now = Instant::now();
        state
            .breakers
            .admit(&merchant.id, provider_id, routing.policy, now)
            .await
    };
    if let Admission::Refused { retry_after } = admission {
        decision("circuit_open");
        if routing.order.provider.is_some() {
            return Err(RoutingError::Unavailable {
                message: format!(
                    "{provider_id} is failing for this merchant (its circuit is open); retry later"
                ),
                retry_after,
            });
        }
        return Ok(Attempt::CircuitOpen { retry_after });
    }
    tried.push(provider_id.to_owned());
    if let Some(key) = routing.key {
        key.pin(state, Some(tried)).await?;
    }
    let checkout_id = routing.checkout_id;
    let request = routing
        .order
        .request_for(provider_id, checkout_id, checkout_id.to_string());
    let answer = provider.adapter.create_checkout(&request).await;
    tell_circuit(routing, provider_id, admission, &answer).await;
    let error = match answer {
        Ok(created) => {
            decision("created");
            return Ok(Attempt::Created(created));
        }
        Err(error) => error,
    };
    if error.nothing_created() && !pinned {
        tracing::warn!(provider = %provider_id, %error, "provider failed; trying the next");
        decision("failed");
        return Ok(Attempt::NothingCreated(error));
    }
    let advice = if error.outcome_unknown() {
        decision("outcome_unknown");
        routing.key.map(|_| retry_advice(provider_id, provider))
    } else {
        decision("refused");
        None
    };
    Err(RoutingError::Provider { error, advice })
}

/// Tells `provider_id`'s circuit what a call's answer says of the provider's health: a success
/// closes it, a provider failure counts, and any other answer to the trial call lets the next
/// call be the trial.
async fn tell_circuit<T>(
    routing: &Routing<'_>,
    provider_id: &str,
    admission: Admission,
    answer: &Result<T, ProviderError>,
) {
    let reason = match answer {
        Err(error) if error.is_provider_failure() => Some(error.to_string()),
        _ => None,
    };
    let outcome = match (answer, &reason) {
        (Ok(_), _) => Outcome::Succeeded,
        (Err(_), Some(reason)) => Outcome::Failed(reason),
        (Err(_), None) if admission == Admission::Trial => Outcome::TrialAnswered,
        (Err(_), None) => return,
    };
    routing
        .state
        .breakers
        .record(&routing.merchant.id, provider_id, outcome, routing.policy)
        .await;
}

/// The candidates passed over: their circuits open, or failed with nothing created.
#[derive(Default)]
struct Skipped {
    failures: Vec<String>,
    open: Vec<String>,
    soonest: Option<Duration>,
}

impl Skipped {
    fn open(&mut self, provider_id: String, retry_after: Duration) {
        self.soonest = Some(
            self.soonest
                .map_or(retry_after, |soonest| soonest.min(retry_after)),
        );
        self.open.push(provider_id);
    }

    fn failed(&mut self, provider_id: &str, error: &ProviderError) {
        self.failures.push(format!("{provider_id}: {error}"));
    }

    fn into_error(self) -> RoutingError {
        if self.failures.is_empty() {
            return RoutingError::Unavailable {
                message: format!(
                    "every provider that can take this checkout is failing for this merchant \
                     (circuits open: {}); retry later",
                    self.open.join(", ")
                ),
                retry_after: self.soonest.unwrap_or(Duration::MAX),
            };
        }
        let mut message = format!(
            "no provider could take the checkout: {}",
            self.failures.join("; ")
        );
        if !self.open.is_empty() {
            message.push_str(&format!(" (circuits open: {})", self.open.join(", ")));
        }
        RoutingError::AllFailed(message)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use paymux_domain::Currency::{self, Eur, Usd, Xcd};

    use super::*;
    use crate::domain::test_support::{Fake, MERCHANT, TestState, configured, merchant, order};

    /// The providers paymux knows, for these tests.
    const KNOWN: &[&str] = &["a", "b", "c", "d", "e", "sknpay"];

    fn fake(priority: u32, currencies: &[Currency]) -> ConfiguredProvider {
        configured(Arc::new(Fake::default()), priority, currencies)
    }

    fn disabled(priority: u32) -> ConfiguredProvider {
        ConfiguredProvider {
            enabled: false,
            ..fake(priority, &[Usd])
        }
    }

    fn ids(found: Result<Vec<Candidate>, RoutingError>) -> Vec<String> {
        found.unwrap().into_iter().map(|(id, _)| id).collect()
    }

    /// The request field a refusal names, failing on anything but an invalid request.
    fn invalid_param(found: Result<Vec<Candidate>, RoutingError>) -> String {
        match found {
            Err(RoutingError::Invalid { param, .. }) => param,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn routing_tries_the_enabled_providers_taking_the_currency_by_priority_then_id() {
        let shop = merchant(vec![
            ("e", fake(2, &[Usd])),
            ("a", fake(2, &[Usd])),
            ("b", fake(1, &[Usd, Eur])),
            ("c", disabled(0)),
            ("d", fake(0, &[Eur])),
        ]);
        let now = Utc::now();
        let dollars = candidates(&shop, &order(1_000), KNOWN, now);
        assert_eq!(ids(dollars), ["b", "a", "e"]);
        let euros = Order {
            amount: Money::new(1_000, Eur),
            ..order(0)
        };
        assert_eq!(ids(candidates(&shop, &euros, KNOWN, now)), ["d", "b"]);
        let xcd = Order {
            amount: Money::new(1_000, Xcd),
            ..order(0)
        };
        assert_eq!(
            invalid_param(candidates(&shop, &xcd, KNOWN, now)),
            "currency"
        );
    }

    #[test]
    fn a_provider_that_would_refuse_the_order_is_passed_over() {
        let picky = Arc::new(Fake {
            min_amount: 500,
            ..Fake::default()
        });
        let shop = merchant(vec![
            ("a", configured(picky.clone(), 0, &[Usd])),
            ("b", fake(1, &[Usd])),
        ]);
        let now = Utc::now();
        assert_eq!(
            ids(candidates(&shop, &order(1_000), KNOWN, now)),
            ["a", "b"]
        );
        assert_eq!(ids(candidates(&shop, &order(100), KNOWN, now)), ["b"]);

        let only_picky = merchant(vec![("a", configured(picky, 0, &[Usd]))]);
        match candidates(&only_picky, &order(100), KNOWN, now) {
            Err(RoutingError::Invalid { param, message }) => {
                assert_eq!(param, "amount");
                assert!(message.contains("a: below the fake's minimum"), "{message}");
            }
            other => panic!("expected an invalid amount, got {other:?}"),
        }
    }

    #[test]
    fn a_named_provider_is_the_only_candidate_when_the_merchant_may_use_it() {
        let shop = merchant(vec![
            ("a", fake(0, &[Usd])),
            ("b", fake(9, &[Usd])),
            ("c", disabled(0)),
            ("d", fake(0, &[Eur])),
        ]);
        let named = |name: &str| {
            let order = Order {
                provider: Some(name.to_owned()),
                ..order(1_000)
            };
            candidates(&shop, &order, KNOWN, Utc::now())
        };
        assert_eq!(ids(named("b")), ["b"]);
        assert!(matches!(named("c"), Err(RoutingError::Disabled(_))));
        assert!(matches!(named("sknpay"), Err(RoutingError::NotEnabled(_))));
        assert_eq!(invalid_param(named("paypal")), "provider");
        assert_eq!(invalid_param(named("d")), "currency");
    }

    #[test]
    fn an_order_past_its_expiry_or_with_options_for_a_stranger_is_refused() {
        let shop = merchant(vec![("a", fake(0, &[Usd]))]);
        let now = Utc::now();
        let expired = Order {
            expires_at: Some(now),
            ..order(1_000)
        };
        assert_eq!(
            invalid_param(candidates(&shop, &expired, KNOWN, now)),
            "expires_at"
        );
        let stranger = Order {
            provider_options: serde_json::json!({ "b": {} }).as_object().cloned(),
            ..order(1_000)
        };
        let param = invalid_param(candidates(&shop, &stranger, KNOWN, now));
        assert_eq!(param, "provider_options.b");
    }

    #[test]
    fn each_provider_gets_only_its_own_options() {
        let options = serde_json::json!({ "a": { "colour": "red" }, "b": { "size": 2 } });
        let order = Order {
            provider_options: options.as_object().cloned(),
            ..order(1_000)
        };
        let request = order.request_for("b", CheckoutId::generate(), "key".to_owned());
        assert_eq!(
            request.provider_options,
            Some(serde_json::json!({ "size": 2 }))
        );
        let none = order.request_for("c", CheckoutId::generate(), "key".to_owned());
        assert_eq!(none.provider_options, None);
    }

    /// One failure opens a circuit, for longer than any test runs.
    const POLICY: Policy = Policy {
        failure_threshold: 1,
        cooldown: Duration::from_secs(3600),
    };

    fn routing<'a>(state: &'a AppState, merchant: &'a Merchant, order: &'a Order) -> Routing<'a> {
        Routing {
            state,
            merchant,
            order,
            policy: POLICY,
            checkout_id: CheckoutId::generate(),
            key: None,
        }
    }

    #[tokio::test]
    async fn routing_passes_over_an_open_circuit_and_a_provider_that_created_nothing() {
        let test = TestState::new();
        let unreachable = Fake {
            create_failure: Some(ProviderError::Unreachable("connection refused".to_owned())),
            ..Fake::default()
        };
        let shop = merchant(vec![
            ("a", fake(0, &[Usd])),
            ("b", configured(Arc::new(unreachable), 1, &[Usd])),
            ("c", fake(2, &[Usd])),
        ]);
        let order = order(1_000);
        let breakers = &test.state.breakers;
        breakers.failed(MERCHANT, "a", "down", POLICY, Instant::now(), Utc::now());

        let routed = route(routing(&test.state, &shop, &order)).await.unwrap();
        assert_eq!(routed.provider_id, "c");
        assert_eq!(routed.tried, ["b", "c"]);
        let named = Order {
            provider: Some("a".to_owned()),
            ..order
        };
        let refused = route(routing(&test.state, &shop, &named)).await;
        assert!(matches!(refused, Err(RoutingError::Unavailable { .. })));
    }
}
