//! paymux expires checkouts itself: SKN Pay sends no expiry webhook, and Skipify, Kwik and
//! Pakhi Pay checkouts may have no expiry of their own, so an unpaid checkout could otherwise
//! stay open forever.

use chrono::NaiveDateTime;
use paymux_domain::{CheckoutId, EventSource, EventType, NormalizedEvent};
use paymux_schema::db::DbConnection;
use paymux_schema::db::checkout::Checkout;

use super::events::{self, Recording};
use crate::live::LiveConfig;
use crate::state::AppState;
use crate::store::StoreError;

/// Checkouts expired per run at most; the next run takes the rest.
const BATCH: i64 = 500;

/// Expires the checkouts past their `expires_at` that received nothing, each with a
/// `payment.expired` event of paymux's own (`paymux:expired:<checkout id>`, so stored once
/// whichever server gets there first: the checkout is locked and checked again), then cancels
/// them at the provider where it can (SKN Pay), so that the link stops taking payment. A
/// payment that still arrives is applied and flagged, as for any closed checkout. Returns how
/// many were expired.
pub async fn expire_due(
    state: &AppState,
    config: &LiveConfig,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let due = state
        .store(move |conn| Ok::<_, StoreError>(Checkout::past_expiry(conn, now, BATCH)?))
        .await?;
    let mut expired = 0;
    for checkout in due {
        let (merchant, id) = (checkout.merchant.clone(), checkout.id);
        let applied = state
            .write(move |conn| expire(conn, &merchant, &id, now))
            .await?;
        let Some(checkout) = applied else { continue };
        expired += 1;
        cancel_at_provider(config, &checkout).await;
    }
    Ok(expired)
}

/// Expires one checkout, if it still received nothing; returns it as it is now.
fn expire(
    conn: &mut DbConnection,
    merchant: &str,
    checkout_id: &CheckoutId,
    now: NaiveDateTime,
) -> Result<Option<Checkout>, StoreError> {
    let Some(checkout) = Checkout::find_for_update(conn, merchant, checkout_id)? else {
        return Ok(None);
    };
    let Some(expires_at) = checkout.expires_at.filter(|at| *at <= now) else {
        return Ok(None);
    };
    if !checkout.status.awaits_payment() {
        return Ok(None);
    }
    let recording = Recording::for_checkout(&checkout, EventSource::Paymux, now);
    let event = NormalizedEvent {
        event_type: EventType::PaymentExpired,
        provider_event_id: format!("paymux:expired:{}", checkout.id),
        provider_payment_id: checkout.provider_checkout_id.clone(),
        checkout_hint: None,
        reference: checkout.reference.clone(),
        amount: None,
        fee: None,
        occurred_at: expires_at.and_utc(),
        livemode: checkout.livemode,
        details: serde_json::json!({ "reason": "expires_at passed with nothing received" }),
    };
    let recorded = events::record(conn, &recording, &event, Some(checkout))?;
    Ok(recorded.checkout)
}

/// Cancels an expired checkout at its provider, when the provider can cancel.
async fn cancel_at_provider(config: &LiveConfig, checkout: &Checkout) {
    let provider = config
        .merchants
        .get(&checkout.merchant)
        .and_then(|merchant| merchant.providers.get(&checkout.provider).cloned());
    let (Some(provider), Some(provider_checkout_id)) = (provider, &checkout.provider_checkout_id)
    else {
        return;
    };
    let Some(cancels) = provider.adapter.cancels() else {
        return;
    };
    // The same key as a cancel through the API: one cancel per checkout at the provider.
    let key = format!("cancel_{}", checkout.id);
    if let Err(error) = cancels.cancel(provider_checkout_id, &key).await {
        tracing::warn!(
            checkout_id = %checkout.id,
            %error,
            "an expired checkout could not be canceled at its provider; a later payment is applied and flagged"
        );
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};
    use paymux_domain::{CheckoutStatus, EventSource, EventType};
    use paymux_schema::db;

    use super::*;
    use crate::domain::routing::Order;
    use crate::domain::test_support::{
        TestState, events_of, insert_checkout, insert_paid, order, reload,
    };

    #[tokio::test]
    async fn a_past_due_checkout_that_received_nothing_is_expired_once_with_an_event() {
        let test = TestState::new();
        let conn = &mut test.conn();
        // Provider `fake` is not the demo merchant's: no cancel is sent anywhere.
        let past_due = Order {
            expires_at: Some(Utc::now() - TimeDelta::hours(1)),
            ..order(1_000)
        };
        let due = insert_checkout(conn, "fake", &past_due);
        let paid = insert_paid(conn, "fake", &past_due);
        let later = insert_checkout(conn, "fake", &order(1_000));

        let config = test.state.config();
        let expire = || expire_due(&test.state, &config, db::now());
        assert_eq!(expire().await.unwrap(), 1);
        assert_eq!(expire().await.unwrap(), 0, "expired once");

        assert_eq!(reload(conn, &due).status, CheckoutStatus::Expired);
        assert_eq!(reload(conn, &paid).status, CheckoutStatus::Succeeded);
        assert_eq!(reload(conn, &later).status, CheckoutStatus::Open);
        let events = events_of(conn, &due);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentExpired);
        assert_eq!(events[0].source, EventSource::Paymux);
        assert_eq!(
            events[0].provider_event_id,
            format!("paymux:expired:{}", due.id)
        );
    }
}
