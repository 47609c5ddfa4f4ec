//! paymux expires checkouts itself: SKN Pay sends no expiry webhook, and Skipify, Kwik and
//! Pakhi Pay checkouts may have no expiry of their own, so an unpaid checkout could otherwise
//! stay open forever.

use chrono::NaiveDateTime;
use paymux_domain::{CheckoutId, EventSource, EventType, NormalizedEvent};
use paymux_schema::db::DbConnection;
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::write_transaction;

use super::events::{self, Handling, Recording};
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
            .store(move |conn| write_transaction(conn, |conn| expire(conn, &merchant, &id, now)))
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
    let recording = Recording {
        merchant: checkout.merchant.clone(),
        provider: checkout.provider.clone(),
        source: EventSource::Paymux,
        receipt: None,
        received_at: now,
        handling: Handling::default(),
    };
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
    let recorded = events::record(conn, &recording, event, Some(checkout))?;
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
