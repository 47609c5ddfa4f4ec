//! `GET /pay/{checkout_id}`: the page paymux hosts for a checkout whose payment runs in the
//! payer's browser (SpankPay's frame), so that a storefront can send every payer to a
//! `redirect_url`, whatever the provider.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use paymux_domain::ids::CheckoutId;
use paymux_domain::{CheckoutStatus, Currency, Money};
use paymux_schema::db::checkout::Checkout;

use crate::error::ApiError;
use crate::routes::events::json_column;
use crate::sandbox::page::escape;
use crate::state::AppState;

/// The checkout a payer opened by its id, on any merchant: the id itself is the capability.
pub async fn checkout_for_payer(state: &AppState, id: &str) -> Result<Checkout, ApiError> {
    let checkout_id = CheckoutId::parse(id).map_err(|_| ApiError::not_found("checkout", id))?;
    state
        .db(move |conn| Ok(Checkout::find_for_payer(conn, &checkout_id.to_string())?))
        .await?
        .ok_or_else(|| ApiError::not_found("checkout", id))
}

fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body style=\"font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto\">{body}</body></html>\n",
            title = escape(title),
        ))
}

/// `GET /pay/{checkout_id}`.
pub async fn pay_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let checkout = checkout_for_payer(&state, &path).await?;
    let status: CheckoutStatus = checkout.status.parse().map_err(ApiError::internal)?;
    if !status.accepts_payment() {
        return Ok(html(
            StatusCode::GONE,
            "Checkout closed",
            &format!("<p>This checkout is {status} and no longer accepts payment.</p>"),
        ));
    }
    let action = json_column(checkout.client_action.as_deref());
    if action["type"] != "spankpay_frame" {
        // Providers that host their own page: send the payer there.
        return match checkout
            .redirect_url
            .filter(|url| !url.ends_with(&format!("/pay/{}", checkout.id)))
        {
            Some(url) => Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, url))
                .finish()),
            None => Err(ApiError::not_found("payment page", &checkout.id)),
        };
    }
    let amount = Currency::parse(&checkout.currency)
        .map(|currency| Money::new(checkout.amount, currency).to_string())
        .unwrap_or_default();
    let params = serde_json::to_string(&action).map_err(ApiError::internal)?;
    let opener = match action["frame_url"].as_str() {
        // The simulated SpankPay's stand-in frame.
        Some(frame_url) => format!("<p><a href=\"{}\">Pay with SpankPay (sandbox)</a></p>", escape(frame_url)),
        None => "<p>Opening the SpankPay frame…</p>\n<script>\nif (window.SpankPay) \
                 { window.SpankPay.showPurchase(JSON.parse(document.getElementById('purchase').textContent)); }\n\
                 </script>"
            .to_owned(),
    };
    Ok(html(
        StatusCode::OK,
        "Pay with SpankPay",
        &format!(
            "<p>Pay {amount} with cryptocurrency.</p>\n\
             <script type=\"application/json\" id=\"purchase\">{params}</script>\n{opener}",
            amount = escape(&amount),
            params = params.replace('<', "\\u003c"),
        ),
    ))
}
