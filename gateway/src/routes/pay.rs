//! `GET /pay/{checkout_id}`: the page paymux hosts for a checkout whose payment runs in the
//! payer's browser (SpankPay's frame), so that a storefront can send every payer to a
//! `redirect_url`, whatever the provider. A payer is answered with a page whatever happens:
//! an unknown checkout, a closed one, one whose provider hosts its own page.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use maud::{Markup, PreEscaped, html};
use paymux_domain::Money;
use paymux_domain::ids::CheckoutId;
use paymux_schema::db::checkout::Checkout;

use crate::error::ApiError;
use crate::pages::page;
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
pub async fn pay_page(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let checkout = match checkout_for_payer(&state, &path).await {
        Ok(checkout) => checkout,
        Err(error) => return error_page(&state, &error),
    };
    // A test-mode checkout moves no real money.
    let sandbox = !checkout.livemode;
    let status = checkout.status;
    if !status.accepts_payment() {
        return page(
            StatusCode::GONE,
            "Checkout closed",
            sandbox,
            html! {
                (summary(&checkout))
                p { "This checkout is " (status) " and no longer accepts payment." }
            },
        );
    }
    let action = checkout
        .client_action
        .as_ref()
        .map_or(serde_json::Value::Null, |action| action.0.clone());
    if action["type"] != "spankpay_frame" {
        // Providers that host their own page: send the payer there.
        return match checkout
            .redirect_url
            .clone()
            .filter(|url| !url.ends_with(&format!("/pay/{}", checkout.id)))
        {
            Some(url) => HttpResponse::SeeOther()
                .insert_header((LOCATION, url))
                .finish(),
            None => page(
                StatusCode::NOT_FOUND,
                "No payment page",
                sandbox,
                html! {
                    (summary(&checkout))
                    p { "This checkout is paid on " (checkout.provider) "'s own page, which it has not given: ask the merchant for another link." }
                },
            ),
        };
    }
    let opener = match action["frame_url"].as_str() {
        // The simulated SpankPay's stand-in frame: a plain link, no script.
        Some(frame_url) => html! { p { a.pay href=(frame_url) { "Pay with SpankPay" } } },
        None => real_frame(&action),
    };
    page(
        StatusCode::OK,
        "Pay with SpankPay",
        sandbox,
        html! {
            (summary(&checkout))
            p { "Paid in cryptocurrency through SpankPay." }
            (opener)
        },
    )
}

/// Whom the payer pays, how much, and what for.
fn summary(checkout: &Checkout) -> Markup {
    let amount = Money::new(checkout.amount, checkout.currency).to_price_string();
    html! {
        p { "Pay " strong { (checkout.merchant) } }
        p.amount { (amount) }
        @if let Some(description) = &checkout.description {
            p { (description) }
        }
    }
}

/// SpankPay's own frame, opened by its script with the frame parameters: the one script of
/// these pages, since the real frame is nothing else.
fn real_frame(action: &serde_json::Value) -> Markup {
    // JSON inside a script element is not entity-decoded: only `<` needs keeping out.
    let params = action.to_string().replace('<', "\\u003c");
    html! {
        script type="application/json" id="purchase" { (PreEscaped(params)) }
        p { "Opening the SpankPay frame…" }
        script {
            (PreEscaped("if (window.SpankPay) { window.SpankPay.showPurchase(JSON.parse(document.getElementById('purchase').textContent)); }"))
        }
    }
}

/// A lookup that failed, as a page: an unknown checkout is a 404, anything else says to try
/// again (its cause is logged where the error was made).
fn error_page(state: &AppState, error: &ApiError) -> HttpResponse {
    let sandbox = state.config().settings.sandbox.enabled;
    if error.status == StatusCode::NOT_FOUND {
        return page(
            StatusCode::NOT_FOUND,
            "No such checkout",
            sandbox,
            html! { p { "There is no checkout at this address: check the link you were given." } },
        );
    }
    page(
        error.status,
        "Payment page unavailable",
        sandbox,
        html! { p { "The payment page could not be shown just now: try again in a moment." } },
    )
}
