//! Checkouts: create, read, list, cancel.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::ids::{CheckoutId, CheckoutKind};
use paymux_domain::{
    CheckoutStatus, Currency, EventFlag, EventSource, EventType, Money, StatusInput, TransitionFlag,
};
use paymux_providers::model::{CheckoutRequest, Customer, LineItem, ProviderCheckout};
use paymux_providers::{Operation, ProviderError};
use paymux_schema::db::checkout::{Checkout, CheckoutFilter};
use paymux_schema::db::event::Event;
use paymux_schema::db::{truncate_to_micros, write_transaction};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::Authenticated;
use crate::breaker::{Admission, Policy};
use crate::error::ApiError;
use crate::idempotency;
use crate::merchants::{ConfiguredProvider, Merchant};
use crate::routes::events::{json_column, utc};
use crate::routes::json::{deserialize_optional_time, parse_body};
use crate::routes::list::{ListOut, ListParams};
use crate::state::AppState;

/// A checkout as the API shows it.
#[derive(Debug, Serialize)]
pub struct CheckoutOut {
    pub id: String,
    pub object: &'static str,
    pub merchant: String,
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    pub status: String,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    /// What the payments received add up to (minor units); `succeeded` once it reaches
    /// `amount`, `partially_paid` below.
    pub amount_received: i64,
    pub amount_refunded: i64,
    pub redirect_url: Option<String>,
    pub client_action: serde_json::Value,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: serde_json::Value,
    pub metadata: serde_json::Value,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub livemode: bool,
    /// The providers routing called, in order; the last is `provider`.
    pub providers_tried: Vec<String>,
}

impl From<Checkout> for CheckoutOut {
    fn from(checkout: Checkout) -> CheckoutOut {
        // Checkouts from before routing recorded it went to one provider only.
        let providers_tried = checkout
            .providers_tried
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_else(|| vec![checkout.provider.clone()]);
        CheckoutOut {
            providers_tried,
            client_action: json_column(checkout.client_action.as_deref()),
            customer: json_column(checkout.customer.as_deref()),
            metadata: json_column(checkout.metadata.as_deref()),
            id: checkout.id,
            object: "checkout",
            merchant: checkout.merchant,
            provider: checkout.provider,
            provider_checkout_id: checkout.provider_checkout_id,
            status: checkout.status,
            amount: checkout.amount,
            currency: checkout.currency,
            amount_received: checkout.amount_received,
            amount_refunded: checkout.amount_refunded,
            redirect_url: checkout.redirect_url,
            reference: checkout.reference,
            description: checkout.description,
            expires_at: checkout.expires_at.map(utc),
            created_at: utc(checkout.created_at),
            livemode: checkout.livemode,
        }
    }
}

/// The body of `POST /v1/checkouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutIn {
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: Currency,
    /// The provider to use; routing picks one when absent.
    pub provider: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: Option<Customer>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    #[serde(default, deserialize_with = "deserialize_optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub items: Vec<LineItem>,
    /// Provider-only fields, by provider id; only the chosen provider's entry is passed on.
    pub provider_options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A checkout request whose body is valid whatever the config says. Which providers may serve
/// it is decided later ([`candidates`]), after a replay has been ruled out, so that a config
/// change never alters the answer an Idempotency-Key already has.
struct Plan {
    amount: Money,
    input: CheckoutIn,
    success_url: Option<Url>,
    cancel_url: Option<Url>,
}

impl Plan {
    /// The request as `provider_id` gets it: only its own `provider_options`.
    fn request_for(
        &self,
        provider_id: &str,
        checkout_id: CheckoutId,
        idempotency_key: String,
    ) -> CheckoutRequest {
        let input = &self.input;
        CheckoutRequest {
            checkout_id,
            amount: self.amount,
            reference: input.reference.clone(),
            description: input.description.clone(),
            customer: input.customer.clone(),
            success_url: self.success_url.clone(),
            cancel_url: self.cancel_url.clone(),
            expires_at: input.expires_at,
            metadata: input.metadata.clone(),
            items: input.items.clone(),
            provider_options: input
                .provider_options
                .as_ref()
                .and_then(|options| options.get(provider_id).cloned()),
            idempotency_key,
        }
    }
}

fn parse_url(field: &str, text: Option<&str>) -> Result<Option<Url>, ApiError> {
    text.map(|text| {
        Url::parse(text)
            .map_err(|error| ApiError::invalid(field, format!("`{field}` is not a URL: {error}")))
    })
    .transpose()
}

/// The provider a request names, if the merchant may use it for this currency. A name paymux
/// does not know at all is a mistake in the request (400, with the names it knows); a provider
/// it knows that the merchant has not configured is a 403.
fn named_provider(
    merchant: &Merchant,
    name: &str,
    currency: Currency,
    known: &[&str],
) -> Result<ConfiguredProvider, ApiError> {
    let provider = merchant.providers.get(name).ok_or_else(|| {
        if known.contains(&name) {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "provider_not_enabled",
                format!("provider `{name}` is not configured for this merchant"),
            )
            .with_param("provider")
        } else {
            ApiError::invalid(
                "provider",
                format!(
                    "unknown provider `{name}`; paymux knows {}",
                    known.join(", ")
                ),
            )
        }
    })?;
    if !provider.enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "provider_disabled",
            format!("provider `{name}` is disabled for this merchant"),
        )
        .with_param("provider"));
    }
    if !provider.currencies.contains(&currency) {
        return Err(ApiError::invalid(
            "currency",
            format!("{name} does not take {currency} for this merchant"),
        ));
    }
    Ok(provider.clone())
}

/// Routing: the merchant's enabled providers that take the currency, can create checkouts and
/// accept the request's fields (Pakhi Pay needs the customer's name and email), by priority
/// (then id). Circuits are looked at when each is tried.
fn routed_candidates(
    merchant: &Merchant,
    currency: Currency,
    accepts: impl Fn(&str, &ConfiguredProvider) -> Result<(), ProviderError>,
) -> Result<Vec<(String, ConfiguredProvider)>, ApiError> {
    let mut refusals = vec![];
    let mut candidates = vec![];
    for (id, provider) in &merchant.providers {
        if !provider.enabled
            || !provider.currencies.contains(&currency)
            || !provider.adapter.capabilities().supports(Operation::Create)
        {
            continue;
        }
        match accepts(id, provider) {
            Ok(()) => candidates.push((id.clone(), provider.clone())),
            Err(error) => refusals.push((id.clone(), error)),
        }
    }
    candidates.sort_by(|(a_id, a), (b_id, b)| (a.priority, a_id).cmp(&(b.priority, b_id)));
    if !candidates.is_empty() {
        return Ok(candidates);
    }
    let Some((_, first)) = refusals.first() else {
        return Err(ApiError::invalid(
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
    Err(ApiError::invalid(
        param,
        format!(
            "no enabled provider of this merchant can take this checkout ({})",
            reasons.join("; ")
        ),
    ))
}

/// Checks what the body alone decides; see [`Plan`].
fn plan(input: CheckoutIn) -> Result<Plan, ApiError> {
    if input.amount <= 0 || input.amount > Money::MAX_MINOR {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "amount must be a positive integer of minor units, at most {}",
                Money::MAX_MINOR
            ),
        ));
    }
    if !input.items.is_empty() {
        let mut total: i64 = 0;
        for (index, item) in input.items.iter().enumerate() {
            if item.quantity == 0 || item.unit_amount < 0 {
                return Err(ApiError::invalid(
                    format!("items[{index}]"),
                    "items need a quantity of at least 1 and a non-negative unit_amount",
                ));
            }
            total = item
                .unit_amount
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| total.checked_add(line))
                .ok_or_else(|| ApiError::invalid("items", "the items' total overflows"))?;
        }
        if total != input.amount {
            return Err(ApiError::invalid(
                "items",
                format!(
                    "the items add up to {total}, not the amount {}",
                    input.amount
                ),
            ));
        }
    }
    Ok(Plan {
        amount: Money::new(input.amount, input.currency),
        success_url: parse_url("success_url", input.success_url.as_deref())?,
        cancel_url: parse_url("cancel_url", input.cancel_url.as_deref())?,
        input,
    })
}

/// The providers a new attempt may try, in order, under the merchant's config of the moment
/// (and the clock: `expires_at` must still be ahead).
fn candidates(
    merchant: &Merchant,
    plan: &Plan,
    known: &[&str],
) -> Result<Vec<(String, ConfiguredProvider)>, ApiError> {
    let input = &plan.input;
    if let Some(expires_at) = input.expires_at
        && expires_at <= Utc::now()
    {
        return Err(ApiError::invalid(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    if let Some(options) = &input.provider_options
        && let Some((unknown, _)) = options
            .iter()
            .find(|(id, _)| !merchant.providers.contains_key(*id))
    {
        return Err(ApiError::invalid(
            format!("provider_options.{unknown}"),
            format!("`{unknown}` is not a provider of this merchant"),
        ));
    }
    match input.provider.as_deref() {
        Some(name) => Ok(vec![(
            name.to_owned(),
            named_provider(merchant, name, input.currency, known)?,
        )]),
        None => routed_candidates(merchant, input.currency, |id, provider| {
            // Validation does not depend on the id: any well-formed one does.
            let request = plan.request_for(id, CheckoutId::generate(), String::new());
            provider.adapter.validate_checkout(&request)
        }),
    }
}

/// The provider an earlier attempt under the same Idempotency-Key may have created the
/// checkout at. It is used even if now disabled (or its circuit open, or the currency no longer
/// routed to it): only it can return what it created, and routing elsewhere could leave two
/// live checkouts. Disabling keeps new checkouts away, as for refunds and cancels of existing
/// ones. Only a provider removed from the config cannot be reached.
fn pinned_provider(merchant: &Merchant, provider_id: &str) -> Result<ConfiguredProvider, ApiError> {
    merchant.providers.get(provider_id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "provider_not_enabled",
            format!(
                "an earlier attempt under this Idempotency-Key reached `{provider_id}`, which is \
                 no longer configured for this merchant"
            ),
        )
    })
}

/// What the storefront is told after `provider_id` left the outcome of a create unknown and
/// the request had an Idempotency-Key: what a retry under it does with that provider.
fn retry_advice(provider_id: &str, provider: &ConfiguredProvider) -> String {
    let unknown = format!("; whether {provider_id} created the checkout is unknown");
    if provider.adapter.capabilities().idempotent_create {
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

fn json_text<T: Serialize>(value: &Option<T>) -> Result<Option<String>, ApiError> {
    value
        .as_ref()
        .map(|value| serde_json::to_string(value).map_err(ApiError::internal))
        .transpose()
}

/// What routing did for one checkout.
struct Routed {
    provider_id: String,
    created: paymux_providers::model::CreatedCheckout,
    /// Every provider called, in order; the last is `provider_id`.
    tried: Vec<String>,
}

fn provider_unavailable(message: String, retry_after: Duration) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        message,
    )
    .with_retry_after(retry_after)
}

/// Tries the candidates in order, or only the provider the idempotency key is pinned to. A
/// provider whose circuit is open is passed over (or, named explicitly, answers 503); one that
/// fails before anything can have been created gives way to the next; any other failure ends
/// the request. Before each call the key is pinned to the provider called ([`Key::pin`]), so
/// that a retry after anything but a failure that created nothing goes back to it.
///
/// [`Key::pin`]: idempotency::Key::pin
async fn route(
    state: &AppState,
    merchant: &Merchant,
    plan: &Plan,
    policy: Policy,
    checkout_id: CheckoutId,
    key: Option<&idempotency::Key>,
) -> Result<Routed, ApiError> {
    let pinned = key
        .and_then(|key| key.providers_tried.as_deref())
        .and_then(<[String]>::split_last);
    let (candidates, mut tried) = match pinned {
        Some((last, earlier)) => (
            vec![(last.clone(), pinned_provider(merchant, last)?)],
            earlier.to_vec(),
        ),
        None => (
            candidates(merchant, plan, &state.live.provider_ids())?,
            vec![],
        ),
    };
    let (is_pinned, named) = (pinned.is_some(), plan.input.provider.is_some());
    let mut failures = vec![];
    let mut open = vec![];
    let mut soonest = Duration::MAX;
    for (provider_id, provider) in candidates {
        let decision = |outcome| {
            state
                .metrics
                .routing_decision(&merchant.id, &provider_id, outcome)
        };
        let admission = if is_pinned {
            Admission::Allowed
        } else {
            state
                .breakers
                .admit(&merchant.id, &provider_id, policy, Instant::now())
        };
        if let Admission::Refused { retry_after } = admission {
            decision("circuit_open");
            if named {
                return Err(provider_unavailable(
                    format!(
                        "{provider_id} is failing for this merchant (its circuit is open); retry later"
                    ),
                    retry_after,
                ));
            }
            soonest = soonest.min(retry_after);
            open.push(provider_id);
            continue;
        }
        tried.push(provider_id.clone());
        if let Some(key) = key {
            key.pin(state, Some(&tried)).await?;
        }
        let request = plan.request_for(&provider_id, checkout_id, checkout_id.to_string());
        let error = match provider.adapter.create_checkout(&request).await {
            Ok(created) => {
                state
                    .breakers
                    .succeeded(&merchant.id, &provider_id, Utc::now());
                decision("created");
                return Ok(Routed {
                    provider_id,
                    created,
                    tried,
                });
            }
            Err(error) => error,
        };
        if error.is_provider_failure() {
            state.breakers.failed(
                &merchant.id,
                &provider_id,
                &error.to_string(),
                policy,
                Instant::now(),
                Utc::now(),
            );
        } else if admission == Admission::Trial {
            state.breakers.trial_answered(&merchant.id, &provider_id);
        }
        if error.nothing_created() && !is_pinned {
            tracing::warn!(provider = %provider_id, %error, "provider failed; trying the next");
            decision("failed");
            failures.push(format!("{provider_id}: {error}"));
            continue;
        }
        let unknown = error.outcome_unknown();
        let mut answer = ApiError::from(error);
        if unknown {
            decision("outcome_unknown");
            if key.is_some() {
                answer
                    .message
                    .push_str(&retry_advice(&provider_id, &provider));
            }
        } else {
            decision("refused");
        }
        return Err(answer);
    }
    // Nothing was created anywhere: a retry may route afresh. Should this write fail, the key
    // stays pinned to a provider that created nothing, which only narrows the retry.
    if let Some(key) = key
        && !failures.is_empty()
        && let Err(error) = key.pin(state, None).await
    {
        tracing::warn!(%error, "could not unpin an idempotency key");
    }
    if failures.is_empty() {
        return Err(provider_unavailable(
            format!(
                "every provider that can take this checkout is failing for this merchant \
                 (circuits open: {}); retry later",
                open.join(", ")
            ),
            soonest,
        ));
    }
    let mut message = format!(
        "no provider could take the checkout: {}",
        failures.join("; ")
    );
    if !open.is_empty() {
        message.push_str(&format!(" (circuits open: {})", open.join(", ")));
    }
    Err(ApiError::new(
        StatusCode::BAD_GATEWAY,
        "provider_error",
        message,
    ))
}

/// `POST /v1/checkouts`.
pub async fn create_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let plan = plan(parse_body(&body)?)?;
    let Authenticated(merchant, config) = merchant;
    let policy = config.policy();
    let default_expiry = config.settings.checkouts.default_expiry();
    let fresh_id = CheckoutId::generate().to_string();
    let state_for_work = state.clone();
    let owner = merchant.id.clone();
    idempotency::run(
        &state,
        &config,
        &owner,
        &request,
        &body,
        fresh_id,
        move |resource_id, key| async move {
            let state = state_for_work;
            let checkout_id = CheckoutId::parse(&resource_id).map_err(ApiError::internal)?;
            // The checkout id is the idempotency key providers get: the same on every retry
            // under one Idempotency-Key, so a provider that dedupes makes one checkout.
            let routed = route(&state, &merchant, &plan, policy, checkout_id, key.as_ref()).await?;
            let (created, input) = (routed.created, &plan.input);
            let now = truncate_to_micros(Utc::now());
            let row = Checkout {
                id: resource_id,
                merchant: merchant.id.clone(),
                provider: routed.provider_id,
                provider_checkout_id: created.provider_checkout_id,
                status: created.status.as_str().to_owned(),
                amount: plan.amount.minor,
                currency: plan.amount.currency.code().to_owned(),
                amount_refunded: 0,
                amount_received: 0,
                reference: input.reference.clone(),
                description: input.description.clone(),
                customer: json_text(&input.customer)?,
                success_url: input.success_url.clone(),
                cancel_url: input.cancel_url.clone(),
                metadata: json_text(&input.metadata)?,
                items: if input.items.is_empty() {
                    None
                } else {
                    json_text(&Some(&input.items))?
                },
                redirect_url: created.redirect_url,
                client_action: json_text(&created.client_action)?,
                // Without an expiry of its own, a checkout expires after the configured
                // time: paymux expires it then (`jobs`), so none stays open forever.
                expires_at: Some(truncate_to_micros(
                    created
                        .expires_at
                        .or(input.expires_at)
                        .unwrap_or_else(|| Utc::now() + default_expiry),
                )),
                livemode: created.livemode,
                created_at: now,
                updated_at: now,
                providers_tried: json_text(&Some(&routed.tried))?,
            };
            let body = serde_json::to_string(&CheckoutOut::from(row.clone()))
                .map_err(ApiError::internal)?;
            let stored = body.clone();
            state
                .db(move |conn| {
                    write_transaction(conn, |conn| {
                        Checkout::insert(conn, &row)?;
                        if let Some(key) = &key {
                            key.complete(conn, StatusCode::CREATED, &stored)?;
                        }
                        Ok::<_, ApiError>(())
                    })
                })
                .await?;
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

/// `GET /v1/checkouts/{id}`; `?refresh=true` asks the provider for the current status first.
pub async fn get_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let refresh = params.one_of("refresh", &["true", "false"])?.as_deref() == Some("true");
    params.finish()?;
    let checkout = find_checkout(&state, &merchant.0, &path).await?;
    let checkout = if refresh {
        refresh_from_provider(&state, &merchant.0, checkout).await?
    } else {
        checkout
    };
    Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)))
}

/// The merchant's checkout `id`, or a 404 (also for another merchant's).
pub async fn find_checkout(
    state: &AppState,
    merchant: &Merchant,
    id: &str,
) -> Result<Checkout, ApiError> {
    let checkout_id = CheckoutId::parse(id).map_err(|_| ApiError::not_found("checkout", id))?;
    let merchant_id = merchant.id.clone();
    state
        .db(move |conn| {
            Ok(Checkout::find(
                conn,
                &merchant_id,
                &checkout_id.to_string(),
            )?)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("checkout", id))
}

/// The adapter serving `checkout`, which must still be configured for the merchant.
pub fn provider_of(
    merchant: &Merchant,
    checkout: &Checkout,
) -> Result<ConfiguredProvider, ApiError> {
    merchant
        .providers
        .get(&checkout.provider)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "provider_not_enabled",
                format!(
                    "provider `{}` is no longer configured for this merchant",
                    checkout.provider
                ),
            )
        })
}

fn provider_checkout_id(checkout: &Checkout) -> Result<String, ApiError> {
    checkout.provider_checkout_id.clone().ok_or_else(|| {
        ApiError::from(ProviderError::unsupported(
            "this checkout's provider",
            Operation::Retrieve,
        ))
    })
}

/// How a provider's report of a checkout's status reached paymux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// paymux asked (`?refresh=true`): a change found this way may have no webhook at all (SKN
    /// Pay sends none for expiry, a webhook may have been lost), so it is recorded as an event.
    Lookup,
    /// The answer to paymux's own cancel; the provider's webhook records the event.
    CancelAnswer,
}

/// Applies the status a provider reports to the checkout, through the status machine; a
/// change found by a lookup is recorded as an event of its own.
async fn apply_reported(
    state: &AppState,
    checkout: Checkout,
    remote: ProviderCheckout,
    report: Report,
) -> Result<Checkout, ApiError> {
    if checkout.provider_checkout_id.as_deref() != Some(remote.provider_checkout_id.as_str()) {
        return Err(ApiError::from(ProviderError::MalformedPayload(format!(
            "the provider answered about `{}`, not this checkout's payment",
            remote.provider_checkout_id
        ))));
    }
    // A provider reporting its checkout paid reports the checkout's amount paid, by a payment
    // it does not name: counted as such, once, with whatever a webhook counted already.
    let (event_type, input) = match remote.status {
        CheckoutStatus::Succeeded => (EventType::PaymentSucceeded, None),
        status => match StatusInput::reported(status) {
            Some(input @ StatusInput::Event(event_type)) => (event_type, Some(input)),
            _ => return Ok(checkout),
        },
    };
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let now = truncate_to_micros(Utc::now());
                let mut row = Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
                    .ok_or_else(|| ApiError::not_found("checkout", &checkout.id))?;
                let before = row.status.clone();
                let transition = match input {
                    Some(input) => Some(row.apply(conn, input, now)?),
                    None => row.record_payment(conn, None, None, now)?.transition,
                };
                if let Some(transition) = transition
                    && report == Report::Lookup
                    && row.status != before
                {
                    record_lookup_event(conn, &row, event_type, transition, now)?;
                }
                Ok(row)
            })
        })
        .await
}

/// Stores the event a lookup found, unless the checkout has one of that type already: one
/// event per change, whether the webhook or the lookup saw it first.
fn record_lookup_event(
    conn: &mut paymux_schema::db::DbConnection,
    checkout: &Checkout,
    event_type: EventType,
    transition: paymux_domain::Transition,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    if Event::exists_for_checkout(conn, &checkout.id, event_type.as_str())? {
        return Ok(());
    }
    let payment_id = checkout.provider_checkout_id.clone().unwrap_or_default();
    let mut details = serde_json::json!({});
    if transition.flag == Some(TransitionFlag::SuccessAfterCancel) {
        EventFlag::SuccessAfterCancel.add_to(&mut details);
    }
    let event = Event::about_checkout(
        checkout,
        event_type,
        format!("paymux_lookup:{payment_id}:{event_type}"),
        EventSource::ProviderLookup,
        &details,
        now,
        now,
    );
    Event::insert_if_new(conn, &event)?;
    Ok(())
}

async fn refresh_from_provider(
    state: &AppState,
    merchant: &Merchant,
    checkout: Checkout,
) -> Result<Checkout, ApiError> {
    let provider = provider_of(merchant, &checkout)?;
    if !provider
        .adapter
        .capabilities()
        .supports(Operation::Retrieve)
    {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Retrieve).into());
    }
    let remote = provider
        .adapter
        .retrieve(&provider_checkout_id(&checkout)?)
        .await?;
    apply_reported(state, checkout, remote, Report::Lookup).await
}

/// `POST /v1/checkouts/{id}/cancel`: cancels at the provider, then records the status it
/// reports. Canceling a canceled checkout answers it unchanged.
pub async fn cancel_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let checkout = find_checkout(&state, &merchant.0, &path).await?;
    let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
    if status == CheckoutStatus::Canceled {
        return Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)));
    }
    if !status.awaits_payment() {
        let advice = if status.is_paid() {
            ": it has received money, which only a refund returns"
        } else {
            ""
        };
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "checkout_not_cancelable",
            format!("a checkout that is {status} cannot be canceled{advice}"),
        ));
    }
    let provider = provider_of(&merchant.0, &checkout)?;
    if !provider.adapter.capabilities().supports(Operation::Cancel) {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Cancel).into());
    }
    // Canceling is idempotent: one key per checkout, whatever the client sent, so that a key
    // reused across checkouts can never fetch another checkout's answer from the provider.
    let idempotency_key = format!("cancel_{}", checkout.id);
    let remote = provider
        .adapter
        .cancel(&provider_checkout_id(&checkout)?, &idempotency_key)
        .await?;
    let checkout = apply_reported(&state, checkout, remote, Report::CancelAnswer).await?;
    Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)))
}

/// `GET /v1/checkouts`: filters `status`, `provider`, `provider_checkout_id`, `reference`,
/// `created_gte`, `created_lt`.
pub async fn list_checkouts(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<CheckoutKind>()?;
    let statuses: Vec<&str> = CheckoutStatus::ALL.iter().map(|s| s.as_str()).collect();
    let filter = CheckoutFilter {
        status: params.one_of("status", &statuses)?,
        provider: params.text("provider"),
        provider_checkout_id: params.text("provider_checkout_id"),
        reference: params.text("reference"),
        created_gte: params.time("created_gte")?,
        created_lt: params.time("created_lt")?,
    };
    params.finish()?;
    let merchant_id = merchant.0.id.clone();
    let page = state
        .db(move |conn| Ok(Checkout::list(conn, &merchant_id, &filter, &page)?))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::from_page(page, CheckoutOut::from)))
}
