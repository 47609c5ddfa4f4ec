//! Checkouts: `GET /v1/checkouts/{id}` and `GET /v1/checkouts`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_schema::CheckoutStatus;
use paymux_schema::db::checkout::{Checkout, CheckoutFilter};
use paymux_schema::ids::{CheckoutId, CheckoutKind};
use serde::Serialize;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::events::{json_column, utc};
use crate::routes::list::{ListOut, ListParams};
use crate::state::AppState;

/// A checkout as the API shows it.
#[derive(Debug, Serialize)]
pub struct CheckoutOut {
    pub id: String,
    pub object: &'static str,
    pub merchant: String,
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    pub status: String,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    pub amount_refunded: i64,
    pub redirect_url: Option<String>,
    pub client_action: serde_json::Value,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: serde_json::Value,
    pub metadata: serde_json::Value,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub livemode: bool,
}

impl From<Checkout> for CheckoutOut {
    fn from(checkout: Checkout) -> CheckoutOut {
        CheckoutOut {
            client_action: json_column(checkout.client_action.as_deref()),
            customer: json_column(checkout.customer.as_deref()),
            metadata: json_column(checkout.metadata.as_deref()),
            id: checkout.id,
            object: "checkout",
            merchant: checkout.merchant,
            provider: checkout.provider,
            provider_checkout_id: checkout.provider_checkout_id,
            status: checkout.status,
            amount: checkout.amount,
            currency: checkout.currency,
            amount_refunded: checkout.amount_refunded,
            redirect_url: checkout.redirect_url,
            reference: checkout.reference,
            description: checkout.description,
            expires_at: checkout.expires_at.map(utc),
            created_at: utc(checkout.created_at),
            livemode: checkout.livemode,
        }
    }
}

/// `GET /v1/checkouts/{id}`.
pub async fn get_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let checkout_id = CheckoutId::parse(&id).map_err(|_| ApiError::not_found("checkout", &id))?;
    let merchant_id = merchant.0.id.clone();
    let found = state
        .db(move |conn| {
            Ok(Checkout::find(
                conn,
                &merchant_id,
                &checkout_id.to_string(),
            )?)
        })
        .await?;
    let checkout = found.ok_or_else(|| ApiError::not_found("checkout", &id))?;
    Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)))
}

/// `GET /v1/checkouts`: filters `status`, `provider`, `reference`, `created_gte`, `created_lt`.
pub async fn list_checkouts(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<CheckoutKind>()?;
    let statuses: Vec<&str> = CheckoutStatus::ALL.iter().map(|s| s.as_str()).collect();
    let filter = CheckoutFilter {
        status: params.one_of("status", &statuses)?,
        provider: params.text("provider"),
        reference: params.text("reference"),
        created_gte: params.time("created_gte")?,
        created_lt: params.time("created_lt")?,
    };
    params.finish()?;
    let merchant_id = merchant.0.id.clone();
    let page = state
        .db(move |conn| Ok(Checkout::list(conn, &merchant_id, &filter, &page)?))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::from_page(page, CheckoutOut::from)))
}
