//! Refunds: `POST /v1/refunds {checkout_id, amount?}` and `GET /v1/refunds/{id}`.
//!
//! A refund is reserved before the provider is called: in one write transaction the checkout
//! is locked, what is already refunded or being refunded is added up, and a refund that would
//! pass the checkout's amount is refused there, so that no provider is ever asked to
//! over-refund, even by concurrent requests. Partial refunds add up to at most the amount.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::ids::RefundId;
use paymux_domain::{CheckoutStatus, Currency, Money};
use paymux_providers::model::RefundRequest;
use paymux_providers::{Operation, ProviderError};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::refund::{Refund, RefundStatus};
use paymux_schema::db::{DbConnection, truncate_to_micros, write_transaction};
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::idempotency;
use crate::routes::checkouts::{find_checkout, provider_of};
use crate::routes::events::utc;
use crate::routes::json::parse_body;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    pub checkout_id: String,
    /// Minor units; the whole remaining amount when absent.
    pub amount: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct RefundOut {
    pub id: String,
    pub object: &'static str,
    pub checkout_id: String,
    pub provider: String,
    pub provider_refund_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Refund> for RefundOut {
    fn from(refund: Refund) -> RefundOut {
        RefundOut {
            id: refund.id,
            object: "refund",
            checkout_id: refund.checkout_id,
            provider: refund.provider,
            provider_refund_id: refund.provider_refund_id,
            amount: refund.amount,
            currency: refund.currency,
            status: refund.status,
            failure_reason: refund.failure_reason,
            created_at: utc(refund.created_at),
        }
    }
}

fn amount_error(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "amount_too_large", message).with_param("amount")
}

/// Reserves the refund `refund_id` (or finds it, on a retry) in a write transaction.
fn reserve(
    conn: &mut DbConnection,
    checkout: &Checkout,
    refund_id: &str,
    requested: Option<i64>,
) -> Result<(Refund, bool), ApiError> {
    write_transaction(conn, |conn| {
        let checkout = Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
            .ok_or_else(|| ApiError::not_found("checkout", &checkout.id))?;
        let now = truncate_to_micros(Utc::now());
        if let Some(existing) = Refund::find(conn, &checkout.merchant, refund_id)?
            && existing.status != RefundStatus::Failed.as_str()
        {
            // A retry of a refund already reserved (or done) under this Idempotency-Key.
            let remaining = checkout.amount_received - Refund::committed_total(conn, &checkout.id)?;
            return Ok((existing, remaining == 0));
        }
        // What was received can be refunded, for a checkout paid in part too.
        let committed = Refund::committed_total(conn, &checkout.id)?;
        let remaining = checkout.amount_received - committed;
        let amount = requested.unwrap_or(remaining);
        if amount <= 0 && requested.is_none() {
            return Err(amount_error(
                "this checkout is already fully refunded".to_owned(),
            ));
        }
        if amount > remaining {
            let currency = Currency::parse(&checkout.currency).map_err(ApiError::internal)?;
            return Err(amount_error(format!(
                "a refund of {} exceeds the {} not yet refunded",
                Money::new(amount, currency),
                Money::new(remaining, currency)
            )));
        }
        let refund = Refund {
            id: refund_id.to_owned(),
            merchant: checkout.merchant.clone(),
            checkout_id: checkout.id.clone(),
            provider: checkout.provider.clone(),
            provider_refund_id: None,
            amount,
            currency: checkout.currency.clone(),
            status: RefundStatus::Pending.as_str().to_owned(),
            failure_reason: None,
            created_at: now,
            updated_at: now,
        };
        match Refund::find(conn, &checkout.merchant, refund_id)? {
            // A failed attempt under the same key: try again with the new reservation.
            Some(_) => {
                Refund::update_outcome(conn, refund_id, RefundStatus::Pending, None, None, now)?
            }
            None => Refund::insert(conn, &refund)?,
        }
        Ok((refund, amount == remaining))
    })
}

/// `POST /v1/refunds`.
pub async fn create_refund(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: RefundIn = parse_body(&body)?;
    if input.amount.is_some_and(|amount| amount <= 0) {
        return Err(ApiError::invalid(
            "amount",
            "amount must be a positive integer of minor units",
        ));
    }
    let checkout = find_checkout(&state, &merchant.0, &input.checkout_id)
        .await
        .map_err(|error| error.with_param("checkout_id"))?;
    let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
    // A refunded checkout passes on to the amount check, which says that nothing is left.
    if !status.is_paid() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "checkout_not_refundable",
            format!("a checkout that is {status} cannot be refunded"),
        )
        .with_param("checkout_id"));
    }
    let provider = provider_of(&merchant.0, &checkout)?;
    let capabilities = provider.adapter.capabilities().clone();
    if !capabilities.supports(Operation::Refund) {
        return Err(ProviderError::unsupported(provider.adapter.id(), Operation::Refund).into());
    }
    let provider_checkout_id = checkout
        .provider_checkout_id
        .clone()
        .ok_or_else(|| ApiError::internal("a paid checkout has no provider id"))?;
    let merchant_id = merchant.0.id.clone();
    let fresh_id = RefundId::generate().to_string();
    let state_for_work = state.clone();
    idempotency::run(
        &state,
        &merchant.1,
        &merchant_id,
        &request,
        &body,
        fresh_id,
        move |refund_id, key| async move {
            let state = state_for_work;
            let (refund, is_full) = {
                let (checkout, refund_id) = (checkout.clone(), refund_id.clone());
                state
                    .db(move |conn| reserve(conn, &checkout, &refund_id, input.amount))
                    .await?
            };
            if refund.status == RefundStatus::Succeeded.as_str() {
                return respond(&state, refund, key).await;
            }
            if !is_full && !capabilities.supports(Operation::PartialRefund) {
                mark_failed(&state, &refund.id, "partial refunds are not supported").await?;
                return Err(ProviderError::unsupported(
                    provider.adapter.id(),
                    Operation::PartialRefund,
                )
                .into());
            }
            let currency = Currency::parse(&refund.currency).map_err(ApiError::internal)?;
            let outcome = provider
                .adapter
                .refund(&RefundRequest {
                    refund_id: RefundId::parse(&refund.id).map_err(ApiError::internal)?,
                    provider_checkout_id,
                    amount: Money::new(refund.amount, currency),
                    is_full,
                    idempotency_key: refund.id.clone(),
                })
                .await;
            let provider_refund = match outcome {
                Ok(provider_refund) => provider_refund,
                // A definite refusal: nothing was refunded, the amount is free again.
                Err(error) if is_refusal(&error) => {
                    mark_failed(&state, &refund.id, &error.to_string()).await?;
                    return Err(error.into());
                }
                // The provider may have refunded (a timeout, an outage, a reply lost): keep the
                // reservation, so that the amount stays taken and a retry under the same key
                // completes this refund with the same provider idempotency key.
                Err(error) => return Err(error.into()),
            };
            let refund_id = refund.id.clone();
            let body = state
                .db(move |conn| {
                    write_transaction(conn, |conn| {
                        let now = truncate_to_micros(Utc::now());
                        let mut checkout =
                            Checkout::find_for_update(conn, &checkout.merchant, &checkout.id)?
                                .ok_or_else(|| ApiError::not_found("checkout", &checkout.id))?;
                        let current = Refund::find(conn, &checkout.merchant, &refund_id)?
                            .ok_or_else(|| ApiError::internal("a reserved refund vanished"))?;
                        // Count a refund's money once, however many runs reach this point.
                        if current.status != RefundStatus::Succeeded.as_str() {
                            Refund::update_outcome(
                                conn,
                                &refund_id,
                                provider_refund.status,
                                provider_refund.provider_refund_id.as_deref(),
                                None,
                                now,
                            )?;
                            if provider_refund.status == RefundStatus::Succeeded {
                                checkout.refund(conn, current.amount, now)?;
                            }
                        }
                        let refund = Refund::find(conn, &checkout.merchant, &refund_id)?
                            .ok_or_else(|| ApiError::internal("a reserved refund vanished"))?;
                        let body = serde_json::to_string(&RefundOut::from(refund))
                            .map_err(ApiError::internal)?;
                        if let Some(key) = &key {
                            key.complete(conn, StatusCode::CREATED, &body)?;
                        }
                        Ok::<_, ApiError>(body)
                    })
                })
                .await?;
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

async fn respond(
    state: &AppState,
    refund: Refund,
    key: Option<idempotency::Key>,
) -> Result<(StatusCode, String), ApiError> {
    let body = serde_json::to_string(&RefundOut::from(refund)).map_err(ApiError::internal)?;
    if let Some(key) = key {
        let stored = body.clone();
        state
            .db(move |conn| Ok(key.complete(conn, StatusCode::CREATED, &stored)?))
            .await?;
    }
    Ok((StatusCode::CREATED, body))
}

/// Whether the provider definitely refused the refund, so that no money moved.
fn is_refusal(error: &ProviderError) -> bool {
    match error {
        ProviderError::InvalidRequest { .. } | ProviderError::Unsupported { .. } => true,
        ProviderError::Upstream { status, .. } => (400..500).contains(status),
        _ => false,
    }
}

async fn mark_failed(state: &AppState, refund_id: &str, reason: &str) -> Result<(), ApiError> {
    let (refund_id, reason) = (refund_id.to_owned(), reason.to_owned());
    state
        .db(move |conn| {
            let now = truncate_to_micros(Utc::now());
            Ok(Refund::update_outcome(
                conn,
                &refund_id,
                RefundStatus::Failed,
                None,
                Some(&reason),
                now,
            )?)
        })
        .await
}

/// `GET /v1/refunds/{id}`.
pub async fn get_refund(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let refund_id = RefundId::parse(&id).map_err(|_| ApiError::not_found("refund", &id))?;
    let merchant_id = merchant.0.id.clone();
    let refund = state
        .db(move |conn| Ok(Refund::find(conn, &merchant_id, &refund_id.to_string())?))
        .await?
        .ok_or_else(|| ApiError::not_found("refund", &id))?;
    Ok(HttpResponse::Ok().json(RefundOut::from(refund)))
}
