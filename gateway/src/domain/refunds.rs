//! Refunds: reserved before the provider is called, settled after.
//!
//! In one write transaction the checkout is locked, what is already refunded or being refunded
//! is added up, and a refund that would pass what the checkout received is refused there, so
//! that no provider is ever asked to over-refund, even by concurrent requests. A provider's
//! refusal frees the amount again; a failure whose outcome is unknown keeps the reservation,
//! so a retry under the same Idempotency-Key completes this refund instead of making another.

use chrono::Utc;
use paymux_domain::{CheckoutStatus, Money, RefundId, RefundStatus};
use paymux_providers::model::{ProviderRefund, RefundRequest};
use paymux_providers::{Operation, ProviderError};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::refund::Refund;
use paymux_schema::db::{DbConnection, truncate_to_micros};

use super::checkouts::{CheckoutError, provider_of};
use super::events;
use crate::merchants::Merchant;
use crate::state::AppState;
use crate::store::StoreError;

/// Why a refund was not made.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    /// Only a checkout that received money can be refunded.
    #[error("a checkout that is {0} cannot be refunded")]
    NotRefundable(CheckoutStatus),
    /// More than what the checkout received and has not had refunded yet.
    #[error("{0}")]
    AmountTooLarge(String),
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RefundError {
    fn from(error: diesel::result::Error) -> RefundError {
        RefundError::Store(error.into())
    }
}

/// Refunds `requested` (or everything not refunded yet) of `checkout` as refund `refund_id`
/// (the same on every retry under one Idempotency-Key). `settled` runs in the transaction that
/// records the outcome, so that what the caller stores with it (the key's response) commits
/// with it.
pub async fn refund<S>(
    state: &AppState,
    merchant: &Merchant,
    checkout: Checkout,
    refund_id: RefundId,
    requested: Option<i64>,
    mut settled: S,
) -> Result<Refund, RefundError>
where
    S: FnMut(&mut DbConnection, &Refund) -> Result<(), StoreError> + Send + 'static,
{
    // A refunded checkout passes on to the amount check, which says that nothing is left.
    if !checkout.status.is_paid() {
        return Err(RefundError::NotRefundable(checkout.status));
    }
    let provider = provider_of(merchant, &checkout)?;
    let Some(refunds) = provider.adapter.refunds() else {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Refund).into());
    };
    let provider_checkout_id = checkout
        .provider_checkout_id
        .clone()
        .ok_or_else(|| ProviderError::unsupported(provider.adapter.id(), Operation::Refund))?;
    let reserved = {
        let checkout = checkout.clone();
        state
            .write(move |conn| reserve(conn, &checkout, refund_id, requested))
            .await?
    };
    let Reserved { refund, is_full } = reserved;
    if refund.status == RefundStatus::Succeeded {
        return finish(state, refund, settled).await;
    }
    if !is_full && !refunds.allows_partial() {
        let error = ProviderError::unsupported(provider.adapter.id(), Operation::PartialRefund);
        mark_failed(state, &checkout, refund.id, &error.to_string()).await?;
        return Err(error.into());
    }
    let outcome = refunds
        .refund(&RefundRequest {
            refund_id: refund.id,
            provider_checkout_id,
            amount: Money::new(refund.amount, refund.currency),
            is_full,
            idempotency_key: refund.id.to_string(),
        })
        .await;
    let provider_refund = match outcome {
        Ok(provider_refund) => provider_refund,
        // A definite refusal: nothing was refunded, the amount is free again.
        Err(error) if is_refusal(&error) => {
            mark_failed(state, &checkout, refund.id, &error.to_string()).await?;
            return Err(error.into());
        }
        // The provider may have refunded (a timeout, an outage, a reply lost): the
        // reservation stays, so the amount stays taken and a retry under the same key
        // completes this refund with the same provider idempotency key.
        Err(error) => return Err(error.into()),
    };
    state
        .write_waiting(move |conn| {
            let done = settle(conn, &checkout, &refund, &provider_refund)?;
            settled(conn, &done)?;
            Ok::<_, RefundError>(done)
        })
        .await
}

/// Records what the provider did with a reserved refund, and moves the checkout if it was
/// refunded. A refund's money counts once, however many runs reach this point.
fn settle(
    conn: &mut DbConnection,
    checkout: &Checkout,
    refund: &Refund,
    provider_refund: &ProviderRefund,
) -> Result<Refund, RefundError> {
    let now = truncate_to_micros(Utc::now());
    let mut checkout = Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
        .ok_or_else(|| CheckoutError::NotFound(checkout.id.to_string()))?;
    let current = Refund::find(conn, &checkout.merchant, &refund.id)?
        .ok_or(diesel::result::Error::NotFound)?;
    if current.status != RefundStatus::Succeeded {
        Refund::update_outcome(
            conn,
            &refund.id,
            provider_refund.status,
            provider_refund.provider_refund_id.as_deref(),
            None,
            now,
        )?;
        if provider_refund.status == RefundStatus::Succeeded {
            checkout.refund(conn, current.amount, now)?;
        }
    }
    let settled = Refund::find(conn, &checkout.merchant, &refund.id)?
        .ok_or(diesel::result::Error::NotFound)?;
    // Once per refund and status: a run that found it settled already records nothing new.
    events::record_refund(conn, &checkout, &settled, now)?;
    Ok(settled)
}

/// A refund done by an earlier run: its caller's work is settled with it.
async fn finish<S>(state: &AppState, refund: Refund, mut settled: S) -> Result<Refund, RefundError>
where
    S: FnMut(&mut DbConnection, &Refund) -> Result<(), StoreError> + Send + 'static,
{
    state
        .write_waiting(move |conn| {
            settled(conn, &refund)?;
            Ok::<_, RefundError>(refund.clone())
        })
        .await
}

/// A reserved refund, and whether it takes everything left (a full refund for the provider).
struct Reserved {
    refund: Refund,
    is_full: bool,
}

/// Reserves refund `refund_id` (or finds it, on a retry).
fn reserve(
    conn: &mut DbConnection,
    checkout: &Checkout,
    refund_id: RefundId,
    requested: Option<i64>,
) -> Result<Reserved, RefundError> {
    let checkout = Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
        .ok_or_else(|| CheckoutError::NotFound(checkout.id.to_string()))?;
    let now = truncate_to_micros(Utc::now());
    let committed = Refund::committed_total(conn, &checkout.id)?;
    // What was received can be refunded, for a checkout paid in part too.
    let remaining = checkout.amount_received - committed;
    let existing = Refund::find(conn, &checkout.merchant, &refund_id)?;
    if let Some(existing) = &existing
        && existing.status != RefundStatus::Failed
    {
        // A retry of a refund already reserved (or done) under this Idempotency-Key.
        return Ok(Reserved {
            refund: existing.clone(),
            is_full: remaining == 0,
        });
    }
    let amount = requested.unwrap_or(remaining);
    if amount <= 0 && requested.is_none() {
        return Err(RefundError::AmountTooLarge(
            "this checkout is already fully refunded".to_owned(),
        ));
    }
    if amount > remaining {
        return Err(RefundError::AmountTooLarge(format!(
            "a refund of {} exceeds the {} not yet refunded",
            Money::new(amount, checkout.currency),
            Money::new(remaining, checkout.currency)
        )));
    }
    let refund = Refund {
        id: refund_id,
        merchant: checkout.merchant.clone(),
        checkout_id: checkout.id,
        provider: checkout.provider.clone(),
        provider_refund_id: None,
        amount,
        currency: checkout.currency,
        status: RefundStatus::Pending,
        failure_reason: None,
        created_at: now,
        updated_at: now,
    };
    match existing {
        // A failed attempt under the same key: try again with the new reservation.
        Some(_) => {
            Refund::update_outcome(conn, &refund_id, RefundStatus::Pending, None, None, now)?
        }
        None => Refund::insert(conn, &refund)?,
    }
    Ok(Reserved {
        refund,
        is_full: amount == remaining,
    })
}

/// Whether the provider definitely refused the refund, so that no money moved.
fn is_refusal(error: &ProviderError) -> bool {
    match error {
        ProviderError::InvalidRequest { .. } | ProviderError::Unsupported { .. } => true,
        ProviderError::Upstream { status, .. } => (400..500).contains(status),
        _ => false,
    }
}

async fn mark_failed(
    state: &AppState,
    checkout: &Checkout,
    refund_id: RefundId,
    reason: &str,
) -> Result<(), StoreError> {
    let (reason, checkout) = (reason.to_owned(), checkout.clone());
    state
        .write_waiting(move |conn| {
            let now = truncate_to_micros(Utc::now());
            Refund::update_outcome(
                conn,
                &refund_id,
                RefundStatus::Failed,
                None,
                Some(&reason),
                now,
            )?;
            let refund = Refund::find(conn, &checkout.merchant, &refund_id)?
                .ok_or(diesel::result::Error::NotFound)?;
            events::record_refund(conn, &checkout, &refund, now)
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use paymux_domain::Currency;

    use super::*;
    use crate::domain::test_support::{
        Fake, MERCHANT, TestState, configured, insert_paid, merchant, order, reload,
    };

    /// A checkout of 10.00 paid through `fake`, and the merchant who has it.
    fn paid_through(test: &TestState, fake: &Arc<Fake>) -> (Merchant, Checkout) {
        let conn = &mut test.conn();
        let checkout = insert_paid(conn, "fake", &order(1_000));
        let shop = merchant(vec![(
            "fake",
            configured(fake.clone(), 0, &[Currency::Usd]),
        )]);
        (shop, checkout)
    }

    /// Refunds `amount` (everything left when `None`) as refund `id`.
    async fn refund_as(
        test: &TestState,
        (shop, checkout): &(Merchant, Checkout),
        id: RefundId,
        amount: Option<i64>,
    ) -> Result<Refund, RefundError> {
        let settled = |_: &mut DbConnection, _: &Refund| Ok(());
        refund(&test.state, shop, checkout.clone(), id, amount, settled).await
    }

    /// Refunds `amount` as a new refund.
    async fn refund_of(
        test: &TestState,
        paid: &(Merchant, Checkout),
        amount: Option<i64>,
    ) -> Result<Refund, RefundError> {
        refund_as(test, paid, RefundId::generate(), amount).await
    }

    /// A fake that fails the first refund it is asked for with `error`.
    fn failing_once(error: ProviderError) -> Arc<Fake> {
        Arc::new(Fake {
            refund_failures: Mutex::new(vec![error]),
            ..Fake::default()
        })
    }

    fn stored(test: &TestState, id: &RefundId) -> Refund {
        Refund::find(&mut test.conn(), MERCHANT, id)
            .unwrap()
            .unwrap()
    }

    fn too_large(result: &Result<Refund, RefundError>) -> bool {
        matches!(result, Err(RefundError::AmountTooLarge(_)))
    }

    /// The amounts the provider was asked to refund, and whether each was the rest.
    fn asked(fake: &Fake) -> Vec<(i64, bool)> {
        let asked = fake.refunds_asked.lock().unwrap();
        asked.iter().map(|r| (r.amount.minor, r.is_full)).collect()
    }

    #[tokio::test]
    async fn a_refund_beyond_what_remains_is_refused_before_the_provider_is_asked() {
        let test = TestState::new();
        let fake = Arc::new(Fake::default());
        let paid = paid_through(&test, &fake);
        assert!(too_large(&refund_of(&test, &paid, Some(1_001)).await));
        let part = refund_of(&test, &paid, Some(600)).await;
        assert_eq!(part.unwrap().status, RefundStatus::Succeeded);
        assert!(too_large(&refund_of(&test, &paid, Some(401)).await));
        let rest = refund_of(&test, &paid, None).await;
        assert_eq!(rest.unwrap().amount, 400);
        assert!(too_large(&refund_of(&test, &paid, None).await));

        assert_eq!(asked(&fake), [(600, false), (400, true)]);
        let checkout = reload(&mut test.conn(), &paid.1);
        assert_eq!(checkout.status, CheckoutStatus::Refunded);
        assert_eq!(checkout.amount_refunded, 1_000);
    }

    #[tokio::test]
    async fn two_refunds_at_once_cannot_together_pass_what_was_received() {
        let test = TestState::new();
        let fake = Arc::new(Fake::default());
        let paid = paid_through(&test, &fake);
        let (first, second) = tokio::join!(
            refund_of(&test, &paid, Some(600)),
            refund_of(&test, &paid, Some(600)),
        );
        assert_ne!(first.is_ok(), second.is_ok(), "{first:?} {second:?}");
        assert!(too_large(&first) || too_large(&second));

        let conn = &mut test.conn();
        assert_eq!(Refund::committed_total(conn, &paid.1.id).unwrap(), 600);
        assert_eq!(reload(conn, &paid.1).amount_refunded, 600);
    }

    #[tokio::test]
    async fn a_refund_the_provider_refuses_is_recorded_failed_and_frees_its_amount() {
        let test = TestState::new();
        let refusal = ProviderError::invalid("the payment is disputed", "amount");
        let paid = paid_through(&test, &failing_once(refusal));
        let id = RefundId::generate();
        let refused = refund_as(&test, &paid, id, Some(1_000)).await;
        assert!(matches!(refused, Err(RefundError::Provider(_))));

        let stored = stored(&test, &id);
        assert_eq!(stored.status, RefundStatus::Failed);
        assert_eq!(
            stored.failure_reason.as_deref(),
            Some("the payment is disputed")
        );
        let again = refund_of(&test, &paid, Some(1_000)).await;
        assert_eq!(again.unwrap().status, RefundStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_refund_whose_outcome_is_unknown_stays_reserved_until_its_retry_settles_it() {
        let test = TestState::new();
        let timeout = ProviderError::Timeout {
            elapsed: Duration::from_secs(15),
        };
        let fake = failing_once(timeout);
        let paid = paid_through(&test, &fake);
        let id = RefundId::generate();
        let lost = refund_as(&test, &paid, id, Some(700)).await;
        assert!(matches!(lost, Err(RefundError::Provider(_))));
        let stored = stored(&test, &id);
        assert_eq!(stored.status, RefundStatus::Pending);
        assert!(too_large(&refund_of(&test, &paid, Some(400)).await));

        let retried = refund_as(&test, &paid, id, Some(700)).await.unwrap();
        assert_eq!(
            (retried.status, retried.amount),
            (RefundStatus::Succeeded, 700)
        );
        assert_eq!(retried.provider_refund_id, Some(format!("fake_{id}")));
        assert_eq!(asked(&fake), [(700, false), (700, false)]);
        assert_eq!(reload(&mut test.conn(), &paid.1).amount_refunded, 700);
    }
}
