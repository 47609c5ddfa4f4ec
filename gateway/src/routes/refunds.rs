//! Refunds over HTTP: `POST /v1/refunds {checkout_id, amount?}` and `GET /v1/refunds/{id}`.
//! How a refund is reserved and settled is [`crate::domain::refunds`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, Currency, ErrorBody, RefundId, RefundStatus};
use paymux_schema::db::DbConnection;
use paymux_schema::db::refund::Refund;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::domain::refunds::{self, RefundError};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey};
use crate::routes::checkouts::find_checkout;
use crate::routes::json::parse_body;
use crate::state::AppState;

/// The body of `POST /v1/refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"checkout_id": "chk_01m8zfsh4169zyj7dh8xtswjs6", "amount": 500}))]
pub struct RefundIn {
    /// The checkout whose payment is refunded.
    #[schema(value_type = CheckoutId)]
    pub checkout_id: String,
    /// Minor units; the whole remaining amount when absent.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: Option<i64>,
}

/// A refund as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "re_01m8zfshjvejcej93r86zs2jzw",
    "object": "refund",
    "checkout_id": "chk_01m8zfsh4169zyj7dh8xtswjs6",
    "provider": "sknpay",
    "provider_refund_id": "re_c65e24cc0fc946874d01eb6d",
    "amount": 500,
    "currency": "USD",
    "status": "succeeded",
    "failure_reason": null,
    "created_at": "2026-12-04T02:58:02.972208Z"
}))]
pub struct RefundOut {
    pub id: RefundId,
    #[schema(example = "refund")]
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
#[utoipa::path(
    post,
    path = "/v1/refunds",
    tag = "Refunds",
    summary = "Refund a checkout",
    description = "Refunds all that remains of a paid checkout, or `amount` of it, through its \
        provider. Whether a checkout can be refunded depends on what it received: an unpaid \
        one answers 400 `checkout_not_refundable`.",
    params(IdempotencyKey),
    request_body = RefundIn,
    responses(
        (status = 201, description = "The refund, as the provider took it.", body = RefundOut, links(
            ("Retrieve" = (operation_id = "get_refund", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 400, description = "The checkout has nothing to refund \
            (`checkout_not_refundable`), or `amount` is more than remains (`amount_too_large`).", body = ErrorBody),
        (status = 403, description = "The checkout's provider is no longer configured.", body = ErrorBody),
        (status = 404, description = "No such checkout of this merchant (`param`: `checkout_id`).", body = ErrorBody),
        (status = 409, description = "The `Idempotency-Key` was used with another request, or \
            its twin is still running.", body = ErrorBody),
        (status = 422, description = "The provider cannot refund, or not partially \
            (`unsupported_operation`).", body = ErrorBody),
        (status = 502, description = "The provider failed.", body = ErrorBody),
        (status = 504, description = "The provider did not answer in time.", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/v1/refunds/{id}",
    tag = "Refunds",
    summary = "Retrieve a refund",
    params(("id" = RefundId, Path, description = "The refund's id.")),
    responses(
        (status = 200, description = "The refund.", body = RefundOut),
        (status = 404, description = "No such refund of this merchant.", body = ErrorBody),
    ),
)]
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
