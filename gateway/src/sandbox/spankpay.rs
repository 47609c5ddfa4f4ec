//! The simulated SpankPay's stand-in frame, at `/sandbox/spankpay/frame/{checkout_id}`: what
//! `SpankPay.showPurchase(…)` shows a payer. Opening it registers the purchase from the
//! checkout's frame parameters, as the real frame does; its buttons (and the control endpoint)
//! then pay in a chosen currency, fully or partly, and send SpankPay's signed webhook. The
//! control endpoint opens the frame itself when nobody has, so a tester can pay with one call.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use paymux_providers::sandbox::Simulator;

use super::{page, sandbox_of};
use crate::error::ApiError;
use crate::routes::pay::checkout_for_payer;
use crate::state::AppState;

/// Registers the checkout's purchase with the simulator, as opening the real frame does.
async fn open(state: &AppState, checkout_id: &str) -> Result<(), ApiError> {
    let sandbox = sandbox_of(state)?;
    let checkout = checkout_for_payer(state, checkout_id).await?;
    let params = checkout
        .client_action
        .map_or(serde_json::Value::Null, |action| action.0);
    sandbox
        .spankpay
        .open_frame(&checkout.id.to_string(), &params, Utc::now())
        .map_err(|error| ApiError::invalid("checkout", error.to_string()))
}

async fn frame(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(&state)?;
    open(&state, &path).await?;
    let checkout = checkout_for_payer(&state, &path).await?;
    let now = Utc::now();
    let hosted = sandbox
        .spankpay
        .page(&checkout.id.to_string(), now)
        .ok_or_else(|| ApiError::not_found("sandbox purchase", &checkout.id.to_string()))?;
    let control = format!("/sandbox/spankpay/checkouts/{}/", checkout.id);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page::render("spankpay", &hosted, &control)))
}

/// `POST /sandbox/spankpay/checkouts/{checkout_id}/{outcome}`: the shared control endpoint,
/// after opening the frame if nobody has.
async fn control(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (checkout_id, outcome) = path.into_inner();
    open(&state, &checkout_id).await?;
    super::press(&state, "spankpay", &checkout_id, &outcome, &body).await
}

/// Registered before the shared control endpoint, which it wraps.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/sandbox/spankpay/frame/{checkout_id}",
            web::get().to(frame),
        )
        .route(
            "/sandbox/spankpay/checkouts/{checkout_id}/{outcome}",
            web::post().to(control),
        );
}
