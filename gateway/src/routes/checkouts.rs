//! Checkouts over HTTP: create, read (and refresh), list, cancel. What each does is in
//! [`crate::domain`]; these read the request and shape the answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::ErrorBody;
use paymux_domain::ids::{CheckoutId, CheckoutKind};
use paymux_domain::{CheckoutStatus, Currency, Money};
use paymux_providers::model::{Customer, LineItem};
use paymux_schema::db::checkout::{Checkout, CheckoutFilter};
use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::domain::checkouts::{self, CheckoutError};
use crate::domain::routing::{self, Order, Routing, RoutingError};
use crate::domain::views::CheckoutOut;
use crate::error::ApiError;
use crate::idempotency;
use crate::idempotency::IdempotencyKey;
use crate::merchants::Merchant;
use crate::routes::json::{deserialize_optional_time, parse_body};
use crate::routes::list::{Created, ListOut, ListParams, Paging, Time};
use crate::state::AppState;

/// The body of `POST /v1/checkouts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "amount": 2500,
    "currency": "USD",
    "provider": "sknpay",
    "reference": "order-1001",
    "success_url": "https://shop.example/thanks"
}))]
pub struct CheckoutIn {
    /// Minor units of `currency`: 2500 is 25.00 USD.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    pub currency: Currency,
    /// The provider to use, as the merchant's config names it; routing picks one when absent.
    /// What each provider requires of the order is in the conditionals below.
    pub provider: Option<String>,
    /// The storefront's own id for the order.
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: Option<Customer>,
    /// Where the provider sends the payer after paying: an `http://` or `https://` URL, with no
    /// space or control character.
    #[schema(format = "uri")]
    pub success_url: Option<String>,
    /// Where the provider sends a payer who gives up; the same form.
    #[schema(format = "uri")]
    pub cancel_url: Option<String>,
    #[serde(default, deserialize_with = "deserialize_optional_time")]
    #[schema(value_type = Option<Time>)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Kept with the checkout and passed to providers that carry metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The basket; its lines must add up to `amount`.
    #[serde(default)]
    pub items: Vec<LineItem>,
    /// Provider-only fields, by provider id; only the chosen provider's entry is passed on.
    #[schema(value_type = Option<Object>)]
    pub provider_options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A return URL: `http://` or `https://` (any letter case) right before its host, and no white
/// space or control character anywhere, which parsing would strip or encode into a URL the
/// storefront did not write. The document states the same as a pattern.
fn parse_url(field: &str, text: Option<&str>) -> Result<Option<Url>, ApiError> {
    let refuse = |why: &str| ApiError::invalid(field, format!("`{field}` {why}"));
    text.map(|text| {
        let after_scheme = ["https://", "http://"].iter().find_map(|scheme| {
            let head = text.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme)
                .then(|| &text[scheme.len()..])
        });
        let Some(rest) = after_scheme else {
            return Err(refuse("must be an http:// or https:// URL"));
        };
        if text.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(refuse("must not hold spaces or control characters"));
        }
        if rest.is_empty() || rest.starts_with(['/', '?', '#', ':', '@']) {
            return Err(refuse("must name a host after the scheme"));
        }
        let url = Url::parse(text).map_err(|error| refuse(&format!("is not a URL: {error}")))?;
        Ok(url)
    })
    .transpose()
}

/// The order the body asks for, checked for what the body alone decides (amount bounds, the
/// items' total, URLs). What the config decides is checked by routing, after a replay has been
/// ruled out.
fn order(input: CheckoutIn) -> Result<Order, ApiError> {
    if input.amount <= 0 || input.amount > Money::MAX_MINOR {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "amount must be a positive integer of minor units, at most {}",
                Money::MAX_MINOR
            ),
        ));
    }
    if !input.items.is_empty() {
        let mut total: i64 = 0;
        for (index, item) in input.items.iter().enumerate() {
            if item.quantity == 0 || item.unit_amount < 0 {
                return Err(ApiError::invalid(
                    format!("items[{index}]"),
                    "items need a quantity of at least 1 and a non-negative unit_amount",
                ));
            }
            total = item
                .unit_amount
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| total.checked_add(line))
                .ok_or_else(|| ApiError::invalid("items", "the items' total overflows"))?;
        }
        if total != input.amount {
            return Err(ApiError::invalid(
                "items",
                format!(
                    "the items add up to {total}, not the amount {}",
                    input.amount
                ),
            ));
        }
    }
    Ok(Order {
        amount: Money::new(input.amount, input.currency),
        success_url: parse_url("success_url", input.success_url.as_deref())?,
        cancel_url: parse_url("cancel_url", input.cancel_url.as_deref())?,
        provider: input.provider,
        reference: input.reference,
        description: input.description,
        customer: input.customer,
        expires_at: input.expires_at,
        metadata: input.metadata,
        items: input.items,
        provider_options: input.provider_options,
    })
}

/// `POST /v1/checkouts`.
#[utoipa::path(
    post,
    path = "/v1/checkouts",
    tag = "Checkouts",
    summary = "Create a checkout",
    description = "Routes the order to a provider (the one asked for, or by priority with \
        failover) and creates the checkout there. Send the payer to `redirect_url`. With an \
        `Idempotency-Key`, a retry answers what the first request answered.",
    params(IdempotencyKey),
    request_body = CheckoutIn,
    responses(
        (status = 201, description = "The checkout, created at its provider.", body = CheckoutOut, links(
            ("Retrieve" = (operation_id = "get_checkout", parameters(("id" = "$response.body#/id")))),
            ("Cancel" = (operation_id = "cancel_checkout", parameters(("id" = "$response.body#/id")))),
            ("Refund" = (operation_id = "create_refund", request_body = json!({"checkout_id": "$response.body#/id"}))),
            ("Events" = (operation_id = "list_events", parameters(("checkout_id" = "$response.body#/id")))),
        )),
        (status = 403, description = "The provider is not enabled for this merchant \
            (`provider_not_enabled`, `provider_disabled`).", body = ErrorBody),
        (status = 409, description = "The `Idempotency-Key` was used with another request, or \
            its twin is still running (`idempotency_conflict`).", body = ErrorBody),
        (status = 422, description = "The provider cannot do this (`unsupported_operation`).", body = ErrorBody),
        (status = 502, description = "The provider failed or its answer was unusable \
            (`provider_error`, `provider_outcome_unknown`).", body = ErrorBody),
        (status = 504, description = "The provider did not answer in time (`provider_timeout`).", body = ErrorBody),
    ),
)]
pub async fn create_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let order = order(parse_body(&body)?)?;
    let Authenticated(merchant, config) = merchant;
    let (policy, default_expiry) = (config.policy(), config.settings.checkouts.default_expiry());
    let fresh_id = CheckoutId::generate().to_string();
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
            let state = work_state;
            let checkout_id = CheckoutId::parse(&id).map_err(ApiError::internal)?;
            let routing = Routing {
                state: &state,
                merchant: &merchant,
                order: &order,
                policy,
                checkout_id,
                key: key.as_ref(),
            };
            let routed = routing::route(routing).await?;
            let row = checkouts::new_row(&merchant, checkout_id, &order, routed, default_expiry);
            let body = serde_json::to_string(&CheckoutOut::from(row.clone()))
                .map_err(ApiError::internal)?;
            let stored = body.clone();
            state
                .write_waiting(move |conn| {
                    Checkout::insert(conn, &row)?;
                    if let Some(key) = &key {
                        key.complete(conn, StatusCode::CREATED, &stored)?;
                    }
                    Ok::<_, ApiError>(())
                })
                .await?;
            Ok((StatusCode::CREATED, body))
        },
    )
    .await
}

/// `GET /v1/checkouts/{id}`; `?refresh=true` asks the provider for the current status first.
#[utoipa::path(
    get,
    path = "/v1/checkouts/{id}",
    tag = "Checkouts",
    summary = "Retrieve a checkout",
    params(
        ("id" = CheckoutId, Path, description = "The checkout's id."),
        ("refresh" = Option<bool>, Query, description = "Ask the provider for the current \
            status first; a change found is recorded as an event."),
    ),
    responses(
        (status = 200, description = "The checkout.", body = CheckoutOut),
        (status = 403, description = "The checkout's provider is no longer configured \
            (`provider_not_enabled`).", body = ErrorBody),
        (status = 404, description = "No such checkout of this merchant (`resource_missing`).", body = ErrorBody),
        (status = 422, description = "The provider cannot be asked (`unsupported_operation`).", body = ErrorBody),
        (status = 502, description = "The provider failed.", body = ErrorBody),
        (status = 504, description = "The provider did not answer in time.", body = ErrorBody),
    ),
)]
pub async fn get_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let refresh = params.one_of("refresh", &["true", "false"])?.as_deref() == Some("true");
    params.finish()?;
    let checkout = find_checkout(&state, &merchant.0, &path).await?;
    let checkout = if refresh {
        checkouts::refresh(&state, &merchant.0, checkout).await?
    } else {
        checkout
    };
    Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)))
}

/// The merchant's checkout `id`, or a 404 (also for another merchant's).
pub async fn find_checkout(
    state: &AppState,
    merchant: &Merchant,
    id: &str,
) -> Result<Checkout, ApiError> {
    checkouts::find(state, &merchant.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout", id))
}

/// `POST /v1/checkouts/{id}/cancel`: cancels at the provider, then records the status it
/// reports. Canceling a canceled checkout answers it unchanged.
#[utoipa::path(
    post,
    path = "/v1/checkouts/{id}/cancel",
    tag = "Checkouts",
    summary = "Cancel a checkout",
    description = "Only a checkout that received nothing can be canceled; money received is \
        returned by a refund.",
    params(("id" = CheckoutId, Path, description = "The checkout's id.")),
    responses(
        (status = 200, description = "The checkout, canceled.", body = CheckoutOut),
        (status = 400, description = "The checkout has received money or is final \
            (`checkout_not_cancelable`).", body = ErrorBody),
        (status = 403, description = "The checkout's provider is no longer configured.", body = ErrorBody),
        (status = 404, description = "No such checkout of this merchant.", body = ErrorBody),
        (status = 422, description = "The provider cannot cancel (`unsupported_operation`).", body = ErrorBody),
        (status = 502, description = "The provider failed.", body = ErrorBody),
        (status = 504, description = "The provider did not answer in time.", body = ErrorBody),
    ),
)]
pub async fn cancel_checkout(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let checkout = find_checkout(&state, &merchant.0, &path).await?;
    let checkout = checkouts::cancel(&state, &merchant.0, checkout).await?;
    Ok(HttpResponse::Ok().json(CheckoutOut::from(checkout)))
}

/// `GET /v1/checkouts`: filters `status`, `provider`, `provider_checkout_id`, `reference`,
/// `created_gte`, `created_lt`.
#[utoipa::path(
    get,
    path = "/v1/checkouts",
    tag = "Checkouts",
    summary = "List checkouts",
    params(
        Paging<CheckoutKind>,
        ("status" = Option<CheckoutStatus>, Query),
        ("provider" = Option<String>, Query),
        ("provider_checkout_id" = Option<String>, Query),
        ("reference" = Option<String>, Query),
        Created,
    ),
    responses(
        (status = 200, description = "The merchant's checkouts, newest first.", body = ListOut<CheckoutOut>),
    ),
)]
pub async fn list_checkouts(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<CheckoutKind>()?;
    let (created_gte, created_lt) = params.created()?;
    let filter = CheckoutFilter {
        status: params.value("status", CheckoutStatus::ALL)?,
        provider: params.text("provider"),
        provider_checkout_id: params.text("provider_checkout_id"),
        reference: params.text("reference"),
        created_gte,
        created_lt,
    };
    params.finish()?;
    let merchant_id = merchant.0.id.clone();
    let page = state
        .db(move |conn| Ok(Checkout::list(conn, &merchant_id, &filter, &page)?))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::from_page(page, CheckoutOut::from)))
}

impl From<RoutingError> for ApiError {
    fn from(error: RoutingError) -> ApiError {
        let message = error.to_string();
        match error {
            RoutingError::Invalid { param, message } => ApiError::invalid(param, message),
            RoutingError::NotEnabled(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "provider_not_enabled", message)
                    .with_param("provider")
            }
            RoutingError::Disabled(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "provider_disabled", message)
                    .with_param("provider")
            }
            RoutingError::Unavailable { retry_after, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                message,
            )
            .with_retry_after(retry_after),
            RoutingError::AllFailed(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", message)
            }
            RoutingError::Provider { error, advice } => {
                let mut answer = ApiError::from(error);
                if let Some(advice) = advice {
                    answer.message.push_str(&advice);
                }
                answer
            }
            RoutingError::Store(error) => error.into(),
        }
    }
}

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> ApiError {
        let message = error.to_string();
        match error {
            CheckoutError::NotFound(id) => ApiError::not_found("checkout", &id),
            CheckoutError::ProviderGone(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "provider_not_enabled", message)
            }
            CheckoutError::NotCancelable { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "checkout_not_cancelable", message)
            }
            CheckoutError::Provider(error) => error.into(),
            CheckoutError::Store(error) => error.into(),
        }
    }
}
