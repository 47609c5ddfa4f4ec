//! A checkout's life after routing: the row a routed order becomes, what a provider reports
//! when asked (`?refresh=true`) or when canceling, applied through the status machine.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use paymux_domain::{CheckoutId, CheckoutStatus, EventSource, EventType, StatusInput};
use paymux_providers::model::ProviderCheckout;
use paymux_providers::{Operation, ProviderError};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use paymux_schema::db::{DbConnection, truncate_to_micros};

use super::events::{self, Recording};
use super::routing::{Order, Routed};
use crate::merchants::{ConfiguredProvider, Merchant};
use crate::state::AppState;
use crate::store::StoreError;

/// Why a checkout could not be looked up or canceled at its provider.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("no such checkout: `{0}`")]
    NotFound(String),
    /// The checkout's provider is no longer configured for the merchant.
    #[error("provider `{0}` is no longer configured for this merchant")]
    ProviderGone(String),
    /// Only a checkout that received nothing can be canceled.
    #[error("a checkout that is {status} cannot be canceled{}", if status.is_paid() { ": it has received money, which only a refund returns" } else { "" })]
    NotCancelable { status: CheckoutStatus },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for CheckoutError {
    fn from(error: diesel::result::Error) -> CheckoutError {
        CheckoutError::Store(error.into())
    }
}

/// The row an order routed to a provider becomes. Without an expiry of its own, a checkout
/// expires `default_expiry` after creation: paymux expires it then ([`super::expiry`]), so none
/// stays open forever.
pub fn new_row(
    merchant: &Merchant,
    id: CheckoutId,
    order: &Order,
    routed: Routed,
    default_expiry: TimeDelta,
) -> Checkout {
    let now = truncate_to_micros(Utc::now());
    let created = routed.created;
    // Serializing these plain structs cannot fail; an absent value is no column.
    let json = |value: serde_json::Value| Some(Json(value)).filter(|json| !json.0.is_null());
    Checkout {
        id,
        merchant: merchant.id.clone(),
        provider: routed.provider_id,
        provider_checkout_id: created.provider_checkout_id,
        status: created.status,
        amount: order.amount.minor,
        currency: order.amount.currency,
        amount_refunded: 0,
        amount_received: 0,
        reference: order.reference.clone(),
        description: order.description.clone(),
        customer: json(serde_json::to_value(&order.customer).unwrap_or_default()),
        success_url: order.success_url.as_ref().map(|url| url.to_string()),
        cancel_url: order.cancel_url.as_ref().map(|url| url.to_string()),
        metadata: order.metadata.clone().map(|metadata| Json(metadata.into())),
        items: (!order.items.is_empty())
            .then(|| json(serde_json::to_value(&order.items).unwrap_or_default()))
            .flatten(),
        redirect_url: created.redirect_url,
        client_action: created.client_action.map(Json),
        expires_at: Some(truncate_to_micros(
            created
                .expires_at
                .or(order.expires_at)
                .unwrap_or_else(|| Utc::now() + default_expiry),
        )),
        livemode: created.livemode,
        created_at: now,
        updated_at: now,
        providers_tried: Some(Json(routed.tried)),
    }
}

/// The merchant's checkout that `id` names; `None` for a missing one, another merchant's, or
/// text that is no checkout id: each caller answers those with its own "not found".
pub async fn find(
    state: &AppState,
    merchant: &str,
    id: &str,
) -> Result<Option<Checkout>, StoreError> {
    let Ok(checkout_id) = CheckoutId::parse(id) else {
        return Ok(None);
    };
    let merchant = merchant.to_owned();
    state
        .store(move |conn| Ok(Checkout::find(conn, &merchant, &checkout_id)?))
        .await
}

/// The adapter serving `checkout`, which must still be configured for the merchant.
pub fn provider_of(
    merchant: &Merchant,
    checkout: &Checkout,
) -> Result<ConfiguredProvider, CheckoutError> {
    merchant
        .providers
        .get(&checkout.provider)
        .cloned()
        .ok_or_else(|| CheckoutError::ProviderGone(checkout.provider.clone()))
}

fn provider_checkout_id(
    checkout: &Checkout,
    operation: Operation,
) -> Result<String, CheckoutError> {
    checkout
        .provider_checkout_id
        .clone()
        .ok_or_else(|| ProviderError::unsupported("this checkout's provider", operation).into())
}

/// Asks the provider for the checkout's status and applies what it says; a change found this
/// way is recorded as an event of its own (SKN Pay sends no webhook for an expiry, a webhook
/// may have been lost).
pub async fn refresh(
    state: &AppState,
    merchant: &Merchant,
    checkout: Checkout,
) -> Result<Checkout, CheckoutError> {
    let provider = provider_of(merchant, &checkout)?;
    let Some(lookups) = provider.adapter.lookups() else {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Retrieve).into());
    };
    let remote = lookups
        .retrieve(&provider_checkout_id(&checkout, Operation::Retrieve)?)
        .await?;
    apply_reported(state, checkout, remote, Report::Lookup).await
}

/// Cancels at the provider, then records the status it reports. A canceled checkout is
/// returned unchanged; one that received money cannot be canceled.
pub async fn cancel(
    state: &AppState,
    merchant: &Merchant,
    checkout: Checkout,
) -> Result<Checkout, CheckoutError> {
    if checkout.status == CheckoutStatus::Canceled {
        return Ok(checkout);
    }
    if !checkout.status.awaits_payment() {
        return Err(CheckoutError::NotCancelable {
            status: checkout.status,
        });
    }
    let provider = provider_of(merchant, &checkout)?;
    let Some(cancels) = provider.adapter.cancels() else {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Cancel).into());
    };
    // Canceling is idempotent: one key per checkout, whatever the client sent, so that a key
    // reused across checkouts can never fetch another checkout's answer from the provider.
    let idempotency_key = format!("cancel_{}", checkout.id);
    let remote = cancels
        .cancel(
            &provider_checkout_id(&checkout, Operation::Cancel)?,
            &idempotency_key,
        )
        .await?;
    apply_reported(state, checkout, remote, Report::CancelAnswer).await
}

/// How a provider's report of a checkout's status reached paymux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// paymux asked (`?refresh=true`): a change found this way is recorded as an event.
    Lookup,
    /// The answer to paymux's own cancel; the provider's webhook records the event.
    CancelAnswer,
}

/// Applies the status a provider reports to the checkout, through the status machine.
async fn apply_reported(
    state: &AppState,
    checkout: Checkout,
    remote: ProviderCheckout,
    report: Report,
) -> Result<Checkout, CheckoutError> {
    if checkout.provider_checkout_id.as_deref() != Some(remote.provider_checkout_id.as_str()) {
        return Err(ProviderError::MalformedPayload(
            "the provider answered about another payment than this checkout's".to_owned(),
        )
        .into());
    }
    // A provider reporting its checkout paid reports the checkout's amount paid, by a payment
    // it does not name: counted as such, once, with whatever a webhook counted already.
    let event_type = match remote.status {
        CheckoutStatus::Succeeded => EventType::PaymentSucceeded,
        status => match StatusInput::reported(status) {
            Some(StatusInput::Event(event_type)) => event_type,
            _ => return Ok(checkout),
        },
    };
    state
        .write_waiting(move |conn| {
            let now = truncate_to_micros(Utc::now());
            let row = Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
                .ok_or_else(|| CheckoutError::NotFound(checkout.id.to_string()))?;
            Ok(apply_report(conn, row, event_type, report, now)?)
        })
        .await
}

/// Records what the provider reported, once per change: nothing when an event of that type is
/// stored already (the webhook, or an earlier lookup, saw it first) or when it would not move
/// the checkout. A cancel's answer moves the checkout; its event is the provider's webhook.
fn apply_report(
    conn: &mut DbConnection,
    mut checkout: Checkout,
    event_type: EventType,
    report: Report,
    now: NaiveDateTime,
) -> Result<Checkout, StoreError> {
    if report == Report::CancelAnswer {
        checkout.apply(conn, StatusInput::Event(event_type), now)?;
        return Ok(checkout);
    }
    if Event::exists_for_checkout(conn, &checkout.id, event_type)? {
        return Ok(checkout);
    }
    let moves = match event_type {
        EventType::PaymentSucceeded => !checkout.status.is_paid(),
        other => {
            paymux_domain::next_status(checkout.status, StatusInput::Event(other)).status
                != checkout.status
        }
    };
    if !moves {
        return Ok(checkout);
    }
    let recording = Recording::for_checkout(&checkout, EventSource::ProviderLookup, now);
    let event = events::lookup_event(&checkout, event_type, now);
    let recorded = events::record(conn, &recording, &event, Some(checkout.clone()))?;
    Ok(recorded.checkout.unwrap_or(checkout))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use paymux_domain::Currency;

    use super::*;
    use crate::domain::test_support::{
        Fake, TestState, configured, events_of, insert_checkout, insert_paid, merchant, order,
    };

    /// A merchant whose provider `fake` reports its checkouts `reported` when asked.
    fn reporting(reported: CheckoutStatus) -> Merchant {
        let fake = Fake {
            reported,
            ..Fake::default()
        };
        merchant(vec![(
            "fake",
            configured(Arc::new(fake), 0, &[Currency::Usd]),
        )])
    }

    #[tokio::test]
    async fn a_lookup_that_finds_the_checkout_paid_records_the_success_once() {
        let test = TestState::new();
        let shop = reporting(CheckoutStatus::Succeeded);
        let checkout = insert_checkout(&mut test.conn(), "fake", &order(1_000));
        let refreshed = refresh(&test.state, &shop, checkout.clone()).await.unwrap();
        assert_eq!(refreshed.status, CheckoutStatus::Succeeded);
        assert_eq!(refreshed.amount_received, 1_000);
        let again = refresh(&test.state, &shop, refreshed).await.unwrap();
        assert_eq!(again.amount_received, 1_000, "counted once");

        let events = events_of(&mut test.conn(), &checkout);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].source, EventSource::ProviderLookup);
    }

    #[tokio::test]
    async fn a_lookup_applies_an_expiry_and_records_nothing_when_nothing_changed() {
        let test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "fake", &order(1_000));
        let open = reporting(CheckoutStatus::Open);
        let expired = reporting(CheckoutStatus::Expired);
        let unchanged = refresh(&test.state, &open, checkout.clone()).await.unwrap();
        assert_eq!(unchanged.status, CheckoutStatus::Open);
        assert!(events_of(&mut test.conn(), &checkout).is_empty());

        let refreshed = refresh(&test.state, &expired, checkout.clone())
            .await
            .unwrap();
        assert_eq!(refreshed.status, CheckoutStatus::Expired);
        let events = events_of(&mut test.conn(), &checkout);
        let types: Vec<_> = events.iter().map(|event| event.event_type).collect();
        assert_eq!(types, [EventType::PaymentExpired]);
    }

    #[tokio::test]
    async fn a_checkout_that_received_money_is_not_canceled() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let paid = insert_paid(conn, "fake", &order(1_000));
        // The fake cannot cancel: reaching it would be an Unsupported error instead.
        let refused = cancel(&test.state, &reporting(CheckoutStatus::Canceled), paid).await;
        assert!(matches!(
            refused,
            Err(CheckoutError::NotCancelable {
                status: CheckoutStatus::Succeeded
            })
        ));
    }
}
