//! Refunds over HTTP: `POST /v1/refunds {checkout_id, amount?}` and `GET /v1/refunds/{id}`.
//! How a refund is reserved and settled is [`crate::domain::refunds`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, Currency, RefundId, RefundStatus};
use paymux_schema::db::DbConnection;
use paymux_schema::db::refund::Refund;
use serde::{Deserialize, Serialize};

use crate::auth::Authenticated;
use crate::domain::refunds::{self, RefundError};
use crate::error::ApiError;
use crate::idempotency;
use crate::routes::checkouts::find_checkout;
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
    pub id: RefundId,
    pub object: &'static str,
    pub checkout_id: CheckoutId,
    pub provider: String,
    pub provider_refund_id: Option<String>,
    pub amount: i64,
    pub currency: Currency,
    pub status: RefundStatus,
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
            created_at: refund.created_at.and_utc(),
        }
    }
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
    let Authenticated(merchant, config) = merchant;
    let fresh_id = RefundId::generate().to_string();
    let work_state = state.clone();
    let owner = merchant.id.clone();
    idempotency::run(
        &state,
        &config,
        &owner,
        &request,
        &body,
        fresh_id,
        move |id, key| async move {
            let refund_id = RefundId::parse(&id).map_err(ApiError::internal)?;
            // The answer is stored under the key in the transaction that settles the refund.
            let settled = move |conn: &mut DbConnection, refund: &Refund| {
                if let Some(key) = &key {
                    let body = serde_json::to_string(&RefundOut::from(refund.clone()))
                        .map_err(|error| diesel::result::Error::SerializationError(error.into()))?;
                    key.complete(conn, StatusCode::CREATED, &body)?;
                }
                Ok(())
            };
            let refund = refunds::refund(
                &work_state,
                &merchant,
                checkout,
                refund_id,
                input.amount,
                settled,
            )
            .await?;
            let body =
                serde_json::to_string(&RefundOut::from(refund)).map_err(ApiError::internal)?;
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

impl From<RefundError> for ApiError {
    fn from(error: RefundError) -> ApiError {
        let message = error.to_string();
        match error {
            RefundError::NotRefundable(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "checkout_not_refundable", message)
                    .with_param("checkout_id")
            }
            RefundError::AmountTooLarge(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "amount_too_large", message)
                    .with_param("amount")
            }
            RefundError::Checkout(error) => error.into(),
            RefundError::Provider(error) => error.into(),
            RefundError::Store(error) => error.into(),
        }
    }
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
        .db(move |conn| Ok(Refund::find(conn, &merchant_id, &refund_id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("refund", &id))?;
    Ok(HttpResponse::Ok().json(RefundOut::from(refund)))
}
