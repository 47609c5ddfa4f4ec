//! Background jobs, run every `[jobs] interval_secs` while the server runs: expiring checkouts
//! nobody paid, and deleting what the retention settings let go. Each run reads the config of
//! the moment, so a reload applies to the next run. Every job is safe on several servers at
//! once: each change is decided by the database (a checkout is locked and checked again before
//! it is expired; an expiry's event id is derived from the checkout, so it is stored once).

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use paymux_domain::{CheckoutStatus, EventSource, EventType, StatusInput};
use paymux_providers::Operation;
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::event::Event;
use paymux_schema::db::idempotency::IdempotencyRecord;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::{DbConnection, truncate_to_micros, write_transaction};

use crate::error::ApiError;
use crate::idempotency;
use crate::live::LiveConfig;
use crate::state::AppState;

/// Checkouts expired per run at most; the next run takes the rest.
const EXPIRY_BATCH: i64 = 500;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    pub checkouts_expired: usize,
    pub rejected_receipts_deleted: usize,
    pub idempotency_keys_deleted: usize,
}

/// Runs the jobs every interval, the first time one interval after start, until the task is
/// dropped.
pub async fn run_forever(state: AppState) {
    loop {
        let interval = state.config().settings.jobs.interval_secs;
        tokio::time::sleep(Duration::from_secs(interval)).await;
        match run_once(&state).await {
            Ok(run) if run != Run::default() => tracing::info!(?run, "background jobs ran"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "background jobs failed; next run will retry"),
        }
    }
}

/// One run of every job.
pub async fn run_once(state: &AppState) -> Result<Run, ApiError> {
    let config = state.config();
    let now = truncate_to_micros(Utc::now());
    let checkouts_expired = expire_checkouts(state, &config, now).await?;
    let retention = config.settings.retention;
    let rejected_cutoff = now - TimeDelta::days(i64::from(retention.rejected_receipts_days));
    let (rejected_receipts_deleted, idempotency_keys_deleted) = state
        .db(move |conn| {
            Ok((
                WebhookReceipt::delete_rejected_before(conn, rejected_cutoff)?,
                IdempotencyRecord::purge_created_before(conn, now - idempotency::RETENTION)?,
            ))
        })
        .await?;
    Ok(Run {
        checkouts_expired,
        rejected_receipts_deleted,
        idempotency_keys_deleted,
    })
}

/// Expires the checkouts past their `expires_at` that received nothing, with a
/// `payment.expired` event of paymux's own (SKN Pay, Pakhi Pay, Kwik and Skipify send no
/// expiry of their own, or none for checkouts without an expiry time), then cancels them at
/// the provider where it can (SKN Pay), so that the link stops taking payment. A payment that
/// still arrives is applied and flagged, as for any closed checkout.
async fn expire_checkouts(
    state: &AppState,
    config: &LiveConfig,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let due = state
        .db(move |conn| Ok(Checkout::past_expiry(conn, now, EXPIRY_BATCH)?))
        .await?;
    let mut expired = 0;
    for checkout in due {
        let applied = state
            .db(move |conn| {
                write_transaction(conn, |conn| {
                    expire(conn, &checkout.merchant, &checkout.id, now)
                })
            })
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
    checkout_id: &str,
    now: NaiveDateTime,
) -> Result<Option<Checkout>, ApiError> {
    let Some(mut checkout) = Checkout::find_for_update(conn, merchant, checkout_id)? else {
        return Ok(None);
    };
    let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
    let Some(expires_at) = checkout.expires_at.filter(|at| *at <= now) else {
        return Ok(None);
    };
    if !status.awaits_payment() {
        return Ok(None);
    }
    checkout.apply(conn, StatusInput::Event(EventType::PaymentExpired), now)?;
    let event = Event::about_checkout(
        &checkout,
        EventType::PaymentExpired,
        format!("paymux:expired:{}", checkout.id),
        EventSource::Paymux,
        &serde_json::json!({ "reason": "expires_at passed with nothing received" }),
        expires_at,
        now,
    );
    Event::insert_if_new(conn, &event)?;
    Ok(Some(checkout))
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
    if !provider.adapter.capabilities().supports(Operation::Cancel) {
        return;
    }
    // The same key as a cancel through the API: one cancel per checkout at the provider.
    let key = format!("cancel_{}", checkout.id);
    if let Err(error) = provider.adapter.cancel(provider_checkout_id, &key).await {
        tracing::warn!(
            checkout_id = %checkout.id,
            %error,
            "an expired checkout could not be canceled at its provider; a later payment is applied and flagged"
        );
    }
}
