//! The webhook ingest pipeline, written once for every provider.
//!
//! `POST /webhooks/{merchant}/{provider}` takes the raw bytes, verifies them with that
//! merchant's adapter, parses them into normalized events, links each event to its checkout
//! (provider payment id, then our checkout id echoed in metadata, then the order reference),
//! inserts the events (a redelivery stores nothing new), applies the status machine, and
//! commits the receipt, the events and the checkout updates in one transaction. Only then does
//! it answer what the provider expects. A rejected webhook keeps its receipt with the reason
//! and gets a 4xx; a database failure gets a 5xx so that the provider retries.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::{
    CheckoutStatus, EventFlag, EventId, EventSource, EventType, Money, NormalizedEvent, ReceiptId,
    StatusInput, TransitionFlag,
};
use paymux_providers::model::{WebhookOutcome, WebhookReply, WebhookRequest};
use paymux_providers::{Confirmation, Provider, ProviderError, json};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::{ReceiptOutcome, WebhookReceipt};
use paymux_schema::db::refund::Refund;
use paymux_schema::db::{DbConnection, truncate_to_micros, write_transaction};
use sha2::{Digest, Sha256};

use crate::client_address::client_address;
use crate::error::ApiError;
use crate::live::LiveConfig;
use crate::merchants::key_hash;
use crate::state::AppState;

/// Request headers never stored with a receipt: they may carry credentials of other systems.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// How much of a rejected webhook's body its receipt keeps: enough to see what it was, while
/// a flood of large forgeries stays small on disk.
pub const REJECTED_BODY_PREFIX: usize = 4096;

/// `POST /webhooks/{merchant}/{provider}`.
#[tracing::instrument(skip_all, fields(merchant = %path.0, provider = %path.1))]
pub async fn receive_webhook(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant_id, provider_id) = path.into_inner();
    let config = state.config();
    let inbound = Inbound {
        client: client_address(&request, &state.live.started().server.trusted_proxies),
        headers: request_headers(&request),
        received_at: Utc::now(),
        merchant: merchant_id,
        provider: provider_id,
    };
    // A disabled provider's webhooks are still verified, stored and applied (money may have
    // moved through checkouts made before it was switched off); their events are flagged.
    let configured = config
        .merchants
        .get(&inbound.merchant)
        .and_then(|merchant| merchant.providers.get(&inbound.provider).cloned());
    let Some(provider) = configured else {
        let message = format!(
            "no provider `{}` is configured for merchant `{}`",
            inbound.provider, inbound.merchant
        );
        let stored = state.cpu(move || StoredBody::of(&body, None)).await?;
        reject(&state, &config, &inbound, None, stored, &message).await?;
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    };
    let adapter = provider.adapter;
    let checked = {
        let (adapter, headers) = (adapter.clone(), inbound.headers.clone());
        let received_at = inbound.received_at;
        state
            .cpu(move || check(adapter.as_ref(), &headers, &body, received_at))
            .await?
    };
    let events = match checked.events {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(reason = %error, "webhook rejected");
            reject(
                &state,
                &config,
                &inbound,
                Some(adapter.as_ref()),
                checked.body,
                &error.to_string(),
            )
            .await?;
            return Ok(reply(
                adapter.webhook_reply(&WebhookOutcome::Rejected(&error)),
            ));
        }
    };
    let (confirmed, refuted) = match confirm(&state, &inbound, adapter.as_ref(), events).await {
        Ok(confirmed) => confirmed,
        Err(Unconfirmable::Rejected(error)) => {
            tracing::warn!(reason = %error, "webhook rejected by its confirmation");
            reject(
                &state,
                &config,
                &inbound,
                Some(adapter.as_ref()),
                checked.body,
                &error.to_string(),
            )
            .await?;
            return Ok(reply(
                adapter.webhook_reply(&WebhookOutcome::Rejected(&error)),
            ));
        }
        Err(Unconfirmable::Undecided(reason)) => {
            // Nothing is decided: keep the receipt, whole (the webhook is authentic), and let
            // the provider deliver again.
            let receipt = inbound.receipt(adapter.as_ref(), checked.body, ReceiptOutcome::Accepted);
            store_rejection(&state, receipt, &reason).await?;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook_not_confirmed",
                reason,
            ));
        }
    };

    let handling = Handling {
        refuses_when_closed: adapter.refuses_payment_when_closed(),
        disabled: !provider.enabled,
    };
    let mut receipt = inbound.receipt(adapter.as_ref(), checked.body, ReceiptOutcome::Accepted);
    let provider_id = inbound.provider.clone();
    let stored = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                store_events(
                    conn,
                    &mut receipt,
                    &provider_id,
                    confirmed,
                    &refuted,
                    handling,
                )
            })
        })
        .await
        .map_err(not_stored)?;
    tracing::info!(new_events = stored.new_events, "webhook stored");
    // A refuted success is kept (as its flagged receipt), not lost: it is acknowledged too.
    let outcome = match (&stored.refusal, stored.outcome) {
        (Some(reason), _) => WebhookOutcome::Refused { reason },
        (None, ReceiptOutcome::Duplicate) => WebhookOutcome::Duplicate,
        (None, _) => WebhookOutcome::Stored,
    };
    Ok(reply(adapter.webhook_reply(&outcome)))
}

/// A webhook request as it arrived.
struct Inbound {
    merchant: String,
    provider: String,
    /// Every header but [`UNSTORED_HEADERS`]: what the adapter verifies.
    headers: Vec<(String, String)>,
    received_at: DateTime<Utc>,
    client: Option<IpAddr>,
}

impl Inbound {
    /// The receipt of this request, its body kept as `outcome` allows, without the headers
    /// that carry a shared secret.
    fn receipt(
        &self,
        adapter: &dyn Provider,
        body: StoredBody,
        outcome: ReceiptOutcome,
    ) -> WebhookReceipt {
        let kept: Vec<_> = self
            .headers
            .iter()
            .filter(|(name, _)| !adapter.is_secret_header(name))
            .cloned()
            .collect();
        self.receipt_with(&kept, body, outcome)
    }

    fn receipt_with(
        &self,
        headers: &[(String, String)],
        mut body: StoredBody,
        outcome: ReceiptOutcome,
    ) -> WebhookReceipt {
        if outcome == ReceiptOutcome::Rejected {
            body.truncate();
        }
        WebhookReceipt {
            id: ReceiptId::generate().to_string(),
            merchant: self.merchant.clone(),
            provider: self.provider.clone(),
            headers: serde_json::Value::Object(headers_object(headers)).to_string(),
            body: body.bytes,
            outcome: outcome.as_str().to_owned(),
            reason: None,
            event_count: 0,
            received_at: truncate_to_micros(self.received_at),
            body_length: body.length,
            body_sha256: Some(body.sha256),
            duplicate_of: None,
            checkout_id: None,
        }
    }
}

/// A body as its receipt may keep it: without shared secrets, with its length and hash.
struct StoredBody {
    bytes: Vec<u8>,
    length: i64,
    /// Hex SHA-256 of `bytes`.
    sha256: String,
}

impl StoredBody {
    /// `raw` as stored: redacted by `adapter` when it carries a shared secret (Skipify's), so
    /// neither the bytes nor their hash can give the secret away.
    fn of(raw: &[u8], adapter: Option<&dyn Provider>) -> StoredBody {
        let bytes = adapter
            .and_then(|adapter| adapter.redact_body(raw))
            .unwrap_or_else(|| raw.to_vec());
        StoredBody {
            length: i64::try_from(raw.len()).unwrap_or(i64::MAX),
            sha256: hex_sha256(&bytes),
            bytes,
        }
    }

    /// Keeps only the first [`REJECTED_BODY_PREFIX`] bytes.
    fn truncate(&mut self) {
        self.bytes.truncate(REJECTED_BODY_PREFIX);
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What [`check`] found.
struct Checked {
    events: Result<Vec<NormalizedEvent>, ProviderError>,
    body: StoredBody,
}

/// Everything done to a webhook before it is known to be authentic, run off the async
/// workers: the nesting is bounded before the adapter reads the body, so its verification and
/// parsing are linear and shallow whatever anyone sends.
fn check(
    adapter: &dyn Provider,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Checked {
    let stored = StoredBody::of(body, Some(adapter));
    let request = WebhookRequest { headers, body };
    let events = json::check_depth(body, json::MAX_DEPTH)
        .map_err(|error| ProviderError::MalformedPayload(error.to_string()))
        .and_then(|()| adapter.verify_webhook(&request, now))
        .and_then(|()| adapter.parse_webhook(body));
    Checked {
        events,
        body: stored,
    }
}

/// Stores a rejected webhook's receipt, unless rejections of this merchant and provider or
/// of this client are over their limit: then nothing is stored and the answer is a 429.
/// Webhooks that verify never get here, so a flood of forgeries cannot crowd them out.
async fn reject(
    state: &AppState,
    config: &LiveConfig,
    inbound: &Inbound,
    adapter: Option<&dyn Provider>,
    body: StoredBody,
    reason: &str,
) -> Result<(), ApiError> {
    let limit = config.settings.webhook_limits.bucket();
    // Paths that name no configured merchant or provider share one bucket: made-up paths
    // must not each get a bucket of their own.
    let endpoint = match adapter {
        Some(_) => format!("webhook\0{}\0{}", inbound.merchant, inbound.provider),
        None => "webhook\0unconfigured".to_owned(),
    };
    let mut buckets = vec![key_hash(&endpoint)];
    if let Some(client) = inbound.client {
        buckets.push(key_hash(&format!("client\0{client}")));
    }
    let now = std::time::Instant::now();
    for bucket in buckets {
        if let Err(wait) = state.rejections.take(bucket, limit, now) {
            tracing::warn!(client = ?inbound.client, "rejected webhooks over their limit: refused unstored");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many rejected webhooks for this endpoint or from this client; retry later",
            )
            .with_retry_after(wait));
        }
    }
    let receipt = match adapter {
        Some(adapter) => inbound.receipt(adapter, body, ReceiptOutcome::Rejected),
        None => inbound.receipt_with(&inbound.headers, body, ReceiptOutcome::Rejected),
    };
    store_rejection(state, receipt, reason).await
}

/// Why a webhook's events could not be confirmed.
enum Unconfirmable {
    /// The event cannot even be asked about: a rejection like any malformed webhook.
    Rejected(ProviderError),
    /// The provider's API could not be asked: nothing is decided.
    Undecided(String),
}

/// Some providers' successes count only once their own API confirms them (Pakhi Pay). An
/// event stored before is a redelivery: it is not asked about again. Returns the events to
/// store and the refuted ones, with why.
async fn confirm(
    state: &AppState,
    inbound: &Inbound,
    adapter: &dyn Provider,
    events: Vec<NormalizedEvent>,
) -> Result<(Vec<NormalizedEvent>, Vec<Refuted>), Unconfirmable> {
    let to_confirm: Vec<String> = events
        .iter()
        .filter(|event| adapter.needs_confirmation(event))
        .map(|event| event.provider_event_id.clone())
        .collect();
    let already_stored = if to_confirm.is_empty() {
        vec![]
    } else {
        let (merchant, provider) = (inbound.merchant.clone(), inbound.provider.clone());
        state
            .db(move |conn| {
                let mut stored = vec![];
                for id in to_confirm {
                    if Event::find_by_provider_event_id(conn, &merchant, &provider, &id)?.is_some()
                    {
                        stored.push(id);
                    }
                }
                Ok(stored)
            })
            .await
            .map_err(|error| Unconfirmable::Undecided(not_stored(error).message))?
    };
    let mut confirmed = Vec::with_capacity(events.len());
    let mut refuted = vec![];
    for event in events {
        if !adapter.needs_confirmation(&event) || already_stored.contains(&event.provider_event_id)
        {
            confirmed.push(event);
            continue;
        }
        match adapter.confirm(&event).await {
            Ok(Confirmation::Confirmed) => confirmed.push(event),
            Ok(Confirmation::Refuted { reason }) => {
                tracing::warn!(%reason, provider_event_id = %event.provider_event_id, "webhook not confirmed by the provider");
                refuted.push(Refuted { event, reason });
            }
            Err(
                error @ (ProviderError::MalformedPayload(_) | ProviderError::InvalidRequest { .. }),
            ) => {
                return Err(Unconfirmable::Rejected(error));
            }
            Err(error) => {
                return Err(Unconfirmable::Undecided(format!(
                    "could not confirm with the provider: {error}"
                )));
            }
        }
    }
    Ok((confirmed, refuted))
}

/// An event the provider's own API contradicted, and what it said.
struct Refuted {
    event: NormalizedEvent,
    reason: String,
}

impl Refuted {
    fn describe(&self) -> String {
        format!(
            "{} {}: {}",
            self.event.event_type, self.event.provider_event_id, self.reason
        )
    }
}

/// A database failure while taking a webhook: the provider must deliver again, as nothing was
/// stored.
fn not_stored(error: ApiError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_not_stored",
        format!(
            "the webhook could not be stored; retry later ({})",
            error.code
        ),
    )
}

/// What [`store_events`] did.
struct Stored {
    outcome: ReceiptOutcome,
    new_events: i32,
    /// Why a payment was refused, for the provider's reply.
    refusal: Option<String>,
}

/// What the provider's config says about handling its events.
#[derive(Debug, Clone, Copy)]
struct Handling {
    /// See `Provider::refuses_payment_when_closed`.
    refuses_when_closed: bool,
    /// The provider is disabled for the merchant: events are flagged `disabled_provider`.
    disabled: bool,
}

/// Stores the receipt, then each event not stored before, linked and applied to its checkout.
/// A redelivery of events all stored already keeps no second copy of the body: its receipt
/// points at the one that has it.
fn store_events(
    conn: &mut DbConnection,
    receipt: &mut WebhookReceipt,
    provider_id: &str,
    events: Vec<NormalizedEvent>,
    refuted: &[Refuted],
    handling: Handling,
) -> Result<Stored, ApiError> {
    let mut new_events = Vec::with_capacity(events.len());
    let mut first_receipt = None;
    for event in events {
        match Event::find_by_provider_event_id(
            conn,
            &receipt.merchant,
            provider_id,
            &event.provider_event_id,
        )? {
            Some(stored) => first_receipt = first_receipt.or(stored.receipt_id),
            // One body may name an event twice: the first wins, as for a redelivery.
            None if new_events
                .iter()
                .any(|new: &NormalizedEvent| new.provider_event_id == event.provider_event_id) => {}
            None => new_events.push(event),
        }
    }
    if new_events.is_empty()
        && refuted.is_empty()
        && let Some(first) = first_receipt
    {
        receipt.body = vec![];
        receipt.duplicate_of = Some(first);
    }
    // An unconfirmed success is not stored as an event, so its receipt names the checkout.
    if let Some(refuted) = refuted.first() {
        receipt.checkout_id = link_checkout(conn, &receipt.merchant, provider_id, &refuted.event)?
            .map(|checkout| checkout.id);
    }
    WebhookReceipt::insert(conn, receipt)?;
    let mut stored = 0;
    let mut refusal = None;
    for event in new_events {
        let (row, refused) = record_event(conn, receipt, provider_id, event, handling)?;
        refusal = refusal.or(refused);
        if Event::insert_if_new(conn, &row)? {
            stored += 1;
        }
    }
    receipt.event_count = stored;
    let outcome = if !refuted.is_empty() {
        let reasons: Vec<String> = refuted.iter().map(Refuted::describe).collect();
        receipt.reason = Some(reasons.join("; "));
        ReceiptOutcome::Unconfirmed
    } else if stored == 0 {
        ReceiptOutcome::Duplicate
    } else {
        ReceiptOutcome::Accepted
    };
    receipt.outcome = outcome.as_str().to_owned();
    WebhookReceipt::record_outcome(
        conn,
        &receipt.id,
        &receipt.outcome,
        receipt.reason.as_deref(),
        stored,
    )?;
    Ok(Stored {
        outcome,
        new_events: stored,
        refusal,
    })
}

/// The row of a new event, linked to its checkout and applied to it; and why the payment was
/// refused, when it was.
fn record_event(
    conn: &mut DbConnection,
    receipt: &WebhookReceipt,
    provider_id: &str,
    event: NormalizedEvent,
    handling: Handling,
) -> Result<(Event, Option<String>), ApiError> {
    let now = truncate_to_micros(Utc::now());
    let mut checkout = link_checkout(conn, &receipt.merchant, provider_id, &event)?;
    let mut details = event.details.clone();
    // A provider whose payment paymux's reply decides (SpankPay refunds the payer when it is
    // refused) is refused a success for a closed checkout, which is then recorded as the
    // failure it becomes; a redelivery is refused again.
    let mut event_type = event.event_type;
    let mut refusal = None;
    let closed_status = match &checkout {
        Some(checkout) => {
            let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
            // Past its expiry, though no expiry event has said so yet, counts as expired.
            let lapsed = checkout.expires_at.is_some_and(|at| at <= now);
            match status {
                CheckoutStatus::Canceled | CheckoutStatus::Expired => Some(status),
                // A checkout paid in part is never expired: the rest is welcome.
                status if status.awaits_payment() && lapsed => Some(CheckoutStatus::Expired),
                _ => None,
            }
        }
        None => None,
    };
    if handling.disabled {
        EventFlag::DisabledProvider.add_to(&mut details);
    }
    if let Some(status) = closed_status
        && handling.refuses_when_closed
        && event_type == EventType::PaymentSucceeded
    {
        let reason = format!("the checkout is {status}: the payment is refused");
        event_type = EventType::PaymentFailed;
        note(&mut details, "reason", &reason);
        EventFlag::RefusedAfterClose.add_to(&mut details);
        refusal = Some(reason);
    }
    let mut amount = event.amount;
    if let Some(checkout) = checkout.as_mut() {
        let transition = match event_type {
            EventType::PaymentSucceeded => {
                let paid = checkout.record_payment(
                    conn,
                    event.provider_payment_id.as_deref(),
                    event.amount,
                    now,
                )?;
                if let Some(reason) = paid.not_counted {
                    EventFlag::NotCounted.add_to(&mut details);
                    note(&mut details, "not_counted", reason.describe());
                }
                if paid.overpaid {
                    EventFlag::Overpaid.add_to(&mut details);
                }
                paid.transition
            }
            EventType::PaymentRefunded => {
                // The provider confirms a refund paymux made: it carries that refund's amount.
                if amount.is_none()
                    && let Some(refund) = Refund::unconfirmed_of(conn, &checkout.id)?
                {
                    amount = Some(Money::new(refund.amount, checkout.due()?.currency));
                    note(&mut details, "refund_id", &refund.id);
                }
                let fully_refunded = checkout.amount_refunded >= checkout.amount_received;
                let input = StatusInput::from_event(event_type, fully_refunded);
                Some(checkout.apply(conn, input, now)?)
            }
            other => Some(checkout.apply(conn, StatusInput::from_event(other, false), now)?),
        };
        if transition.and_then(|transition| transition.flag)
            == Some(TransitionFlag::SuccessAfterCancel)
        {
            EventFlag::SuccessAfterCancel.add_to(&mut details);
        }
    } else if event.event_type != EventType::CheckoutAbandoned {
        EventFlag::NoCheckout.add_to(&mut details);
    }
    let row = Event {
        id: EventId::generate().to_string(),
        event_type: event_type.as_str().to_owned(),
        merchant: receipt.merchant.clone(),
        provider: provider_id.to_owned(),
        provider_event_id: event.provider_event_id,
        checkout_id: checkout.map(|checkout| checkout.id),
        provider_payment_id: event.provider_payment_id,
        reference: event.reference,
        amount: amount.map(|money| money.minor),
        currency: amount.map(|money| money.currency.code().to_owned()),
        fee: event.fee,
        occurred_at: truncate_to_micros(event.occurred_at),
        received_at: receipt.received_at,
        livemode: event.livemode,
        details: serde_json::to_string(&details).map_err(ApiError::internal)?,
        receipt_id: Some(receipt.id.clone()),
        source: EventSource::Provider.as_str().to_owned(),
    };
    Ok((row, refusal))
}

/// Adds `name: value` to an event's details (an object).
fn note(details: &mut serde_json::Value, name: &str, value: &str) {
    if let Some(object) = details.as_object_mut() {
        object.insert(name.to_owned(), serde_json::Value::from(value));
    }
}

/// The checkout an event concerns: by the provider's payment id, then by our checkout id
/// echoed back in metadata, then by the merchant's order reference. For events that move money
/// (a success, a refund) the last two only match a checkout that the provider knows under the
/// event's payment id, or under none yet: a payment made outside paymux that reuses an order
/// reference must not pay a paymux checkout. A provider that knows the checkout by paymux's
/// own id (SpankPay, whose purchases are made from frame parameters carrying it) names the
/// checkout with it, whichever of its payments the event reports.
fn link_checkout(
    conn: &mut DbConnection,
    merchant: &str,
    provider: &str,
    event: &NormalizedEvent,
) -> Result<Option<Checkout>, ApiError> {
    let moves_money = matches!(
        event.event_type,
        EventType::PaymentSucceeded | EventType::PaymentRefunded
    );
    let same_payment = |checkout: &Checkout| {
        !moves_money
            || checkout.provider_checkout_id.is_none()
            || checkout.provider_checkout_id == event.provider_payment_id
    };
    let mut found = None;
    if let Some(payment_id) = &event.provider_payment_id {
        found = Checkout::find_by_provider_checkout_id(conn, merchant, provider, payment_id)?;
    }
    if found.is_none()
        && let Some(checkout_id) = &event.checkout_hint
    {
        found = Checkout::find(conn, merchant, checkout_id)?.filter(|checkout| {
            checkout.provider == provider
                && (same_payment(checkout)
                    || checkout.provider_checkout_id.as_deref() == Some(checkout.id.as_str()))
        });
    }
    if found.is_none()
        && let Some(reference) = &event.reference
    {
        found =
            Checkout::find_by_reference(conn, merchant, provider, reference)?.filter(same_payment);
    }
    match found {
        Some(checkout) => Ok(Checkout::find_for_update(conn, merchant, &checkout.id)?),
        None => Ok(None),
    }
}

async fn store_rejection(
    state: &AppState,
    mut receipt: WebhookReceipt,
    reason: &str,
) -> Result<(), ApiError> {
    receipt.outcome = ReceiptOutcome::Rejected.as_str().to_owned();
    receipt.reason = Some(reason.to_owned());
    state
        .db(move |conn| Ok(WebhookReceipt::insert(conn, &receipt)?))
        .await
}

fn request_headers(request: &HttpRequest) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn headers_object(headers: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        match object.get_mut(name) {
            Some(serde_json::Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                object.insert(name.clone(), serde_json::Value::from(value.as_str()));
            }
        }
    }
    object
}

fn reply(reply: WebhookReply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type(reply.content_type)
        .body(reply.body)
}
