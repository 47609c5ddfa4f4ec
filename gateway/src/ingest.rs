//! The webhook ingest pipeline, written once for every provider.
//!
//! `POST /webhooks/{merchant}/{provider}` takes the raw bytes, verifies them with that
//! merchant's adapter, parses them into normalized events, links each event to its checkout
//! (provider payment id, then our checkout id echoed in metadata, then the order reference),
//! inserts the events (a redelivery stores nothing new), applies the status machine, and
//! commits the receipt, the events and the checkout updates in one transaction. Only then does
//! it answer what the provider expects. A rejected webhook keeps its receipt with the reason
//! and gets a 4xx; a database failure gets a 5xx so that the provider retries.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use paymux_providers::model::{WebhookOutcome, WebhookReply, WebhookRequest};
use paymux_providers::{Confirmation, ProviderError};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::{ReceiptOutcome, WebhookReceipt};
use paymux_schema::db::{DbConnection, truncate_to_micros, write_transaction};
use paymux_schema::{
    CheckoutStatus, EventFlag, EventId, EventType, NormalizedEvent, ReceiptId, StatusInput,
    TransitionFlag,
};

use crate::error::ApiError;
use crate::state::AppState;

/// Request headers never stored with a receipt: they may carry credentials of other systems.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// `POST /webhooks/{merchant}/{provider}`.
#[tracing::instrument(skip_all, fields(merchant = %path.0, provider = %path.1))]
pub async fn receive_webhook(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant_id, provider_id) = path.into_inner();
    let headers = request_headers(&request);
    let received_at = Utc::now();
    // A disabled provider's webhooks are still verified, stored and applied (money may have
    // moved through checkouts made before it was switched off); their events are flagged.
    let (adapter, disabled) = match state
        .config()
        .merchants
        .get(&merchant_id)
        .and_then(|merchant| merchant.providers.get(&provider_id).cloned())
    {
        Some(provider) => (Some(provider.adapter), !provider.enabled),
        None => (None, false),
    };
    // What is stored leaves out shared secrets; what is verified is what was received.
    let (stored_headers, stored_body) = match &adapter {
        Some(adapter) => {
            let kept: Vec<_> = headers
                .iter()
                .filter(|(name, _)| !adapter.is_secret_header(name))
                .cloned()
                .collect();
            (
                kept,
                adapter.redact_body(&body).unwrap_or_else(|| body.to_vec()),
            )
        }
        None => (headers.clone(), body.to_vec()),
    };
    let mut receipt = WebhookReceipt {
        id: ReceiptId::generate().to_string(),
        merchant: merchant_id.clone(),
        provider: provider_id.clone(),
        headers: serde_json::to_string(&headers_object(&stored_headers))
            .map_err(ApiError::internal)?,
        body: stored_body,
        outcome: ReceiptOutcome::Rejected.as_str().to_owned(),
        reason: None,
        event_count: 0,
        received_at: truncate_to_micros(received_at),
    };
    let Some(adapter) = adapter else {
        let message =
            format!("no provider `{provider_id}` is configured for merchant `{merchant_id}`");
        store_rejection(&state, receipt, &message).await?;
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    };

    let request_view = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    let events = match adapter
        .verify_webhook(&request_view, received_at)
        .and_then(|()| adapter.parse_webhook(&body))
    {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(reason = %error, "webhook rejected");
            store_rejection(&state, receipt, &error.to_string()).await?;
            return Ok(reply(
                adapter.webhook_reply(&WebhookOutcome::Rejected(&error)),
            ));
        }
    };

    // Some providers' successes count only once their own API confirms them (Pakhi Pay). An
    // event stored before is a redelivery: it is not asked about again.
    let to_confirm: Vec<String> = events
        .iter()
        .filter(|event| adapter.needs_confirmation(event))
        .map(|event| event.provider_event_id.clone())
        .collect();
    let (merchant_for_lookup, provider_for_lookup) = (merchant_id.clone(), provider_id.clone());
    let already_stored = if to_confirm.is_empty() {
        vec![]
    } else {
        state
            .db(move |conn| {
                let mut stored = vec![];
                for id in to_confirm {
                    let event = Event::find_by_provider_event_id(
                        conn,
                        &merchant_for_lookup,
                        &provider_for_lookup,
                        &id,
                    )?;
                    if event.is_some() {
                        stored.push(id);
                    }
                }
                Ok(stored)
            })
            .await
            .map_err(not_stored)?
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
                refuted.push(format!(
                    "{} {}: {reason}",
                    event.event_type, event.provider_event_id
                ));
            }
            // The event itself cannot be confirmed (its amount cannot even be asked about):
            // a rejection like any malformed webhook.
            Err(
                error @ (ProviderError::MalformedPayload(_) | ProviderError::InvalidRequest { .. }),
            ) => {
                tracing::warn!(reason = %error, "webhook rejected by its confirmation");
                store_rejection(&state, receipt, &error.to_string()).await?;
                return Ok(reply(
                    adapter.webhook_reply(&WebhookOutcome::Rejected(&error)),
                ));
            }
            Err(error) => {
                // Nothing is decided: keep the receipt, and let the provider deliver again.
                let reason = format!("could not confirm with the provider: {error}");
                store_rejection(&state, receipt, &reason).await?;
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "webhook_not_confirmed",
                    reason,
                ));
            }
        }
    }

    let refuses_when_closed = adapter.refuses_payment_when_closed();
    let stored = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                store_events(
                    conn,
                    &mut receipt,
                    &provider_id,
                    confirmed,
                    &refuted,
                    Handling {
                        refuses_when_closed,
                        disabled,
                    },
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
fn store_events(
    conn: &mut DbConnection,
    receipt: &mut WebhookReceipt,
    provider_id: &str,
    events: Vec<NormalizedEvent>,
    refuted: &[String],
    handling: Handling,
) -> Result<Stored, ApiError> {
    receipt.outcome = ReceiptOutcome::Accepted.as_str().to_owned();
    WebhookReceipt::insert(conn, receipt)?;
    let mut stored = 0;
    let mut refusal = None;
    for event in events {
        let now = truncate_to_micros(Utc::now());
        let mut checkout = link_checkout(conn, &receipt.merchant, provider_id, &event)?;
        let mut details = event.details.clone();
        // A provider whose payment paymux's reply decides (SpankPay refunds the payer when it
        // is refused) is refused a success for a closed checkout, which is then recorded as the
        // failure it becomes; a redelivery is refused again.
        let mut event_type = event.event_type;
        let closed_status = match &checkout {
            Some(checkout) => {
                let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
                // Past its expiry, though no expiry event has said so yet, counts as expired.
                let lapsed = checkout.expires_at.is_some_and(|at| at <= now);
                match status {
                    CheckoutStatus::Canceled | CheckoutStatus::Expired => Some(status),
                    status if status.accepts_payment() && lapsed => Some(CheckoutStatus::Expired),
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
            if let Some(object) = details.as_object_mut() {
                object.insert(
                    "reason".to_owned(),
                    serde_json::Value::from(reason.as_str()),
                );
            }
            EventFlag::RefusedAfterClose.add_to(&mut details);
            refusal = Some(reason);
        }
        let mut row = Event {
            id: EventId::generate().to_string(),
            event_type: event_type.as_str().to_owned(),
            merchant: receipt.merchant.clone(),
            provider: provider_id.to_owned(),
            provider_event_id: event.provider_event_id.clone(),
            checkout_id: checkout.as_ref().map(|checkout| checkout.id.clone()),
            provider_payment_id: event.provider_payment_id.clone(),
            reference: event.reference.clone(),
            amount: event.amount.map(|money| money.minor),
            currency: event.amount.map(|money| money.currency.code().to_owned()),
            fee: event.fee,
            occurred_at: truncate_to_micros(event.occurred_at),
            received_at: receipt.received_at,
            livemode: event.livemode,
            details: String::new(),
            receipt_id: Some(receipt.id.clone()),
        };
        // The first delivery wins; a redelivery changes neither events nor checkouts.
        if Event::find_by_provider_event_id(
            conn,
            &row.merchant,
            provider_id,
            &row.provider_event_id,
        )?
        .is_some()
        {
            continue;
        }
        if let Some(checkout) = checkout.as_mut() {
            let fully_refunded = checkout.amount_refunded >= checkout.amount;
            let input = StatusInput::from_event(event_type, fully_refunded);
            let transition = checkout.apply(conn, input, now)?;
            if transition.flag == Some(TransitionFlag::SuccessAfterCancel) {
                EventFlag::SuccessAfterCancel.add_to(&mut details);
            }
        } else if event.event_type != EventType::CheckoutAbandoned {
            EventFlag::NoCheckout.add_to(&mut details);
        }
        row.details = serde_json::to_string(&details).map_err(ApiError::internal)?;
        if Event::insert_if_new(conn, &row)? {
            stored += 1;
        }
    }
    receipt.event_count = stored;
    let outcome = if !refuted.is_empty() {
        receipt.reason = Some(refuted.join("; "));
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

/// The checkout an event concerns: by the provider's payment id, then by our checkout id
/// echoed back in metadata, then by the merchant's order reference. For events that move money
/// (a success, a refund) the last two only match a checkout that the provider knows under the
/// event's payment id, or under none yet: a payment made outside paymux that reuses an order
/// reference must not pay a paymux checkout.
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
        found = Checkout::find(conn, merchant, checkout_id)?
            .filter(|checkout| checkout.provider == provider && same_payment(checkout));
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
