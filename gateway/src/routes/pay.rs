//! `GET /pay/{checkout_id}`: the page paymux hosts for a checkout whose payment runs in the
//! payer's browser (SpankPay's frame), so that a storefront can send every payer to a
//! `redirect_url`, whatever the provider.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use paymux_domain::Money;
use paymux_domain::ids::CheckoutId;
use paymux_schema::db::checkout::Checkout;

use crate::error::ApiError;
use crate::pages::{escape, page as html};
use crate::state::AppState;

/// The checkout a payer opened by its id, on any merchant: the id itself is the capability.
pub async fn checkout_for_payer(state: &AppState, id: &str) -> Result<Checkout, ApiError> {
    let checkout_id = CheckoutId::parse(id).map_err(|_| ApiError::not_found("checkout", id))?;
    state
        .db(move |conn| Ok(Checkout::find_for_payer(conn, &checkout_id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("checkout", id))
}

/// `GET /pay/{checkout_id}`.
pub async fn pay_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let checkout = checkout_for_payer(&state, &path).await?;
    let status = checkout.status;
    if !status.accepts_payment() {
        return Ok(html(
            StatusCode::GONE,
            "Checkout closed",
            &format!("<p>This checkout is {status} and no longer accepts payment.</p>"),
        ));
    }
    let action = checkout
        .client_action
        .map_or(serde_json::Value::Null, |action| action.0);
    if action["type"] != "spankpay_frame" {
        // Providers that host their own page: send the payer there.
        return match checkout
            .redirect_url
            .filter(|url| !url.ends_with(&format!("/pay/{}", checkout.id)))
        {
            Some(url) => Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, url))
                .finish()),
            None => Err(ApiError::not_found(
                "payment page",
                &checkout.id.to_string(),
            )),
        };
    }
    let amount = Money::new(checkout.amount, checkout.currency).to_string();
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
