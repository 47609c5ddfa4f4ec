//! `GET /dashboard/checkouts`: a merchant's checkouts, filtered by status, provider, reference,
//! id or the provider's id, and period; `GET /dashboard/checkouts/{id}`: one checkout's whole
//! story on one timeline (its creation and the providers tried, every event, refunds, and the
//! notifications sent to the merchant with each attempt), with a refund and a cancel button
//! where the checkout's provider can do either (`POST …/{id}/refund`, `POST …/{id}/cancel`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDateTime, TimeDelta};
use maud::{Markup, html};
use paymux_domain::{AuditAction, CheckoutId, CheckoutStatus, Money, RefundId};
use paymux_schema::db::PageRequest;
use paymux_schema::db::checkout::{Checkout, CheckoutFilter};
use paymux_schema::db::event::{Event, EventFilter};
use paymux_schema::db::outbound::WebhookAttempt;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::refund::Refund;
use serde::Deserialize;

use super::layout::{self, Notice, attempt_answer, badge, money, time};
use super::viewer::{CsrfForm, Viewer};
use super::{DashboardError, html as page_response, see_other};
use crate::domain::audit;
use crate::domain::checkouts::{self as checkout_actions, CheckoutError, provider_of};
use crate::domain::refunds::{self, RefundError};
use crate::state::AppState;
use crate::store::StoreError;

/// Rows per page of the list.
const PAGE: i64 = 50;
/// Most events and attempts a timeline shows.
const TIMELINE_LIMIT: i64 = 500;

/// The list's filters, as the form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    reference: String,
    /// A checkout id (`chk_…`), which opens that checkout, or the provider's id.
    #[serde(default)]
    id: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    starting_after: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim())
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The store's filter for `filters`, each field checked: a status it knows, a number of days.
fn checkout_filter(filters: &Filters) -> Result<CheckoutFilter, DashboardError> {
    let status = given(&filters.status)
        .map(|status| status.parse::<CheckoutStatus>())
        .transpose()
        .map_err(|error| DashboardError::BadRequest(error.to_string()))?;
    let days = given(&filters.days)
        .map(|days| days.parse::<i64>())
        .transpose()
        .map_err(|_| DashboardError::BadRequest("The period is a number of days.".to_owned()))?;
    Ok(CheckoutFilter {
        status,
        provider: given(&filters.provider),
        provider_checkout_id: given(&filters.id),
        reference: given(&filters.reference),
        created_gte: days
            .map(|days| paymux_schema::db::now() - TimeDelta::days(days.clamp(1, 3660))),
        created_lt: None,
    })
}

/// `GET /dashboard/checkouts`.
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    request: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    let filters = web::Query::<Filters>::from_query(request.query_string())
        .map_err(|error| DashboardError::BadRequest(format!("Unreadable filters: {error}")))?
        .into_inner();
    if let Some(id) = given(&filters.id).and_then(|id| CheckoutId::parse(&id).ok()) {
        return Ok(see_other(
            &viewer.link(&format!("/dashboard/checkouts/{id}")),
        ));
    }
    let filter = checkout_filter(&filters)?;
    let page = PageRequest {
        limit: PAGE,
        starting_after: given(&filters.starting_after),
    };
    let merchant = viewer.merchant.id.clone();
    let status = filter.status;
    let found = state
        .store(move |conn| {
            Ok::<_, DashboardError>(Checkout::list(conn, &merchant, &filter, &page)?)
        })
        .await?;
    let content = html! {
        (filter_form(&viewer, &filters, status))
        @if found.items.is_empty() {
            p.empty { "No checkout matches." }
        } @else {
            (checkout_table(&viewer, &found.items))
            @if found.has_more {
                @if let Some(last) = found.items.last() {
                    p { a href=(viewer.link(&format!("/dashboard/checkouts?{}", next_page(&request, &last.id.to_string())))) { "Older checkouts →" } }
                }
            }
        }
    };
    Ok(page_response(
        StatusCode::OK,
        layout::page(&viewer, "/dashboard/checkouts", "Checkouts", content),
    ))
}

/// The list's filters as a form, showing what is chosen.
fn filter_form(viewer: &Viewer, filters: &Filters, status: Option<CheckoutStatus>) -> Markup {
    html! {
        form.filters method="get" action="/dashboard/checkouts" {
            @if viewer.is_ops() {
                input type="hidden" name="merchant" value=(viewer.merchant.id);
            }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for choice in CheckoutStatus::ALL {
                        option value=(choice.as_str()) selected[status == Some(*choice)] { (choice.as_str().replace('_', " ")) }
                    }
                }
            }
            label { "Provider"
                select name="provider" {
                    option value="" { "any" }
                    @for provider in viewer.merchant.providers.keys() {
                        option value=(provider) selected[filters.provider == *provider] { (provider) }
                    }
                }
            }
            label { "Reference" input type="text" name="reference" value=(filters.reference); }
            label { "Id or provider's id" input type="text" name="id" value=(filters.id) placeholder="chk_…"; }
            label { "Created in the last"
                select name="days" {
                    option value="" { "any time" }
                    @for choice in ["1", "7", "30", "90"] {
                        option value=(choice) selected[filters.days == choice] { (choice) " days" }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// One row per checkout, each linking to its timeline.
fn checkout_table(viewer: &Viewer, checkouts: &[Checkout]) -> Markup {
    html! {
        section.table { table {
            thead { tr {
                th { "Created" } th { "Checkout" } th { "Reference" } th { "Provider" }
                th.num { "Amount" } th { "Status" }
            } }
            tbody {
                @for checkout in checkouts {
                    tr {
                        td { (time(checkout.created_at)) }
                        td { a href=(viewer.link(&format!("/dashboard/checkouts/{}", checkout.id))) { code { (checkout.id) } } }
                        td { (checkout.reference.as_deref().unwrap_or("")) }
                        td { (checkout.provider) }
                        td.num { (money(checkout.amount, checkout.currency)) }
                        td { (badge(checkout.status.as_str())) }
                    }
                }
            }
        } }
    }
}

/// The query string of the next page: the same filters, after `last`.
fn next_page(request: &HttpRequest, last: &str) -> String {
    let kept = url::form_urlencoded::parse(request.query_string().as_bytes())
        .filter(|(name, _)| name != "starting_after" && name != "merchant");
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .append_pair("starting_after", last)
        .finish()
}

/// One moment of a checkout's story.
struct Moment {
    at: NaiveDateTime,
    what: Markup,
}

/// The page for a checkout id this merchant has not.
fn not_found(id: &str) -> DashboardError {
    DashboardError::NotFound(format!("No checkout `{id}` for this merchant."))
}

/// The viewer's checkout `id`, or a page saying there is none.
async fn find(state: &AppState, viewer: &Viewer, id: &str) -> Result<Checkout, DashboardError> {
    checkout_actions::find(state, &viewer.merchant.id, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `GET /dashboard/checkouts/{id}`.
pub async fn timeline(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    story(&state, &viewer, &path, None).await
}

/// `POST /dashboard/checkouts/{id}/cancel`.
pub async fn cancel(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form)?;
    let checkout = find(&state, &viewer, &path).await?;
    let outcome = match checkout_actions::cancel(&state, &viewer.merchant, checkout).await {
        Ok(checkout) => Notice::Done(format!("The checkout is {}.", checkout.status)),
        Err(CheckoutError::Store(error)) => return Err(error.into()),
        Err(refused) => Notice::Refused(format!("Not canceled: {refused}")),
    };
    acted(
        &state,
        &viewer,
        &path,
        AuditAction::CheckoutCanceled,
        outcome,
    )
    .await
}

/// Records in the audit log what the viewer's `action` on checkout `path` came to, and shows
/// the checkout with it.
async fn acted(
    state: &AppState,
    viewer: &Viewer,
    path: &str,
    action: AuditAction,
    outcome: Notice,
) -> Result<HttpResponse, DashboardError> {
    let entry = viewer
        .actor()
        .entry(action, Some(path.to_owned()), outcome.text().to_owned());
    audit::record(state, entry).await;
    story(state, viewer, path, Some(outcome)).await
}

/// The refund form: the refund's id, made when the page was drawn, so that a second click or
/// a reload posts the same refund again instead of a new one; the amount in major units,
/// everything left when blank.
#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    #[serde(default)]
    refund_id: String,
    #[serde(default)]
    amount: String,
}

/// `POST /dashboard/checkouts/{id}/refund`.
pub async fn refund(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<RefundForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form.csrf)?;
    let checkout = find(&state, &viewer, &path).await?;
    let refund_id = RefundId::parse(&form.refund_id).map_err(|_| {
        DashboardError::BadRequest("This refund form is damaged; reload the page.".to_owned())
    })?;
    let requested = match given(&form.amount) {
        None => Ok(None),
        Some(text) => match Money::parse_decimal(&text, checkout.currency) {
            Ok(money) if money.minor > 0 => Ok(Some(money.minor)),
            Ok(_) => Err("the amount to refund must be more than zero".to_owned()),
            Err(error) => Err(format!("the amount to refund: {error}")),
        },
    };
    let outcome = match requested {
        Err(why) => Notice::Refused(format!("Not refunded: {why}.")),
        Ok(requested) => {
            let settled = |_: &mut _, _: &_| Ok::<(), StoreError>(());
            let refunded = refunds::refund(
                &state,
                &viewer.merchant,
                checkout,
                refund_id,
                requested,
                settled,
            )
            .await;
            match refunded {
                Ok(refund) => Notice::Done(format!(
                    "Refund {} of {}: {}.",
                    refund.id,
                    money(refund.amount, refund.currency),
                    refund.status
                )),
                Err(RefundError::Store(error)) => return Err(error.into()),
                Err(refused) => Notice::Refused(format!("Not refunded: {refused}")),
            }
        }
    };
    acted(&state, &viewer, &path, AuditAction::RefundCreated, outcome).await
}

/// A receipt's headers and body as kept: its shared secrets were redacted before it was
/// stored, and a body kept only in part says so.
fn shown_receipt(receipt: &WebhookReceipt) -> String {
    let headers = serde_json::to_string_pretty(&receipt.headers.0).unwrap_or_default();
    let body = match serde_json::from_slice::<serde_json::Value>(&receipt.body) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&receipt.body).into_owned(),
    };
    let kept = i64::try_from(receipt.body.len()).unwrap_or(i64::MAX);
    let note = match (kept, &receipt.duplicate_of) {
        (_, Some(original)) => format!("\n(a redelivery: the body is kept on {original})"),
        (kept, None) if kept < receipt.body_length => {
            format!(
                "\n(the first {kept} of {} bytes are kept)",
                receipt.body_length
            )
        }
        _ => String::new(),
    };
    format!("{headers}\n\n{body}{note}")
}

/// Everything a checkout's page shows of it.
struct Story {
    checkout: Checkout,
    events: Vec<Event>,
    refunds: Vec<Refund>,
    attempts: Vec<WebhookAttempt>,
    receipts: Vec<WebhookReceipt>,
}

/// The viewer's checkout `path` with its events, refunds, notification attempts and webhooks.
async fn load_story(
    state: &AppState,
    viewer: &Viewer,
    path: &str,
) -> Result<Story, DashboardError> {
    let id = CheckoutId::parse(path).map_err(|_| not_found(path))?;
    let merchant = viewer.merchant.id.clone();
    state
        .store(move |conn| {
            let Some(checkout) = Checkout::find(conn, &merchant, &id)? else {
                return Ok(None);
            };
            let filter = EventFilter {
                checkout_id: Some(id),
                ..EventFilter::default()
            };
            let page = PageRequest {
                limit: TIMELINE_LIMIT,
                starting_after: None,
            };
            let events = Event::list(conn, &merchant, &filter, &page)?.items;
            let refunds = Refund::for_checkout(conn, &id)?;
            let ids: Vec<_> = events.iter().map(|event| event.id).collect();
            let attempts = WebhookAttempt::for_events(conn, &ids, TIMELINE_LIMIT)?;
            let receipt_ids: Vec<_> = events.iter().filter_map(|event| event.receipt_id).collect();
            let receipts = WebhookReceipt::for_checkout(conn, &merchant, &receipt_ids, &id)?;
            Ok::<_, DashboardError>(Some(Story {
                checkout,
                events,
                refunds,
                attempts,
                receipts,
            }))
        })
        .await?
        .ok_or_else(|| not_found(path))
}

/// The story's moments, oldest first.
fn moments(story: &Story) -> Vec<Moment> {
    let checkout = &story.checkout;
    let mut moments = vec![Moment {
        at: checkout.created_at,
        what: html! {
            strong { "Created" } " at " (checkout.provider)
            @if let Some(tried) = &checkout.providers_tried {
                @if tried.0.len() > 1 { " after trying " (tried.0.join(", ")) }
            }
        },
    }];
    moments.extend(story.events.iter().map(|event| Moment {
        at: event.received_at,
        what: html! {
            strong { (event.event_type.as_str()) }
            @if let (Some(amount), Some(currency)) = (event.amount, event.currency) { " · " (money(amount, currency)) }
            " · from " (event.provider) " (" code { (event.provider_event_id) } ")"
            @if let Some(receipt) = &event.receipt_id { " · webhook " code { (receipt) } }
        },
    }));
    moments.extend(story.receipts.iter().map(|receipt| Moment {
        at: receipt.received_at,
        what: html! {
            strong { "Webhook" } " from " (receipt.provider) " " (badge(receipt.outcome.as_str()))
            @if let Some(reason) = &receipt.reason { " · " (reason) }
            details {
                summary { code { (receipt.id) } " · " (receipt.body_length) " bytes" }
                pre.answer { (shown_receipt(receipt)) }
            }
        },
    }));
    moments.extend(story.refunds.iter().map(|refund| Moment {
        at: refund.created_at,
        what: html! {
            strong { "Refund " } (money(refund.amount, refund.currency)) " " (badge(refund.status.as_str()))
            @if let Some(reason) = &refund.failure_reason { " · " (reason) }
        },
    }));
    moments.extend(story.attempts.iter().map(|attempt| Moment {
        at: attempt.attempted_at,
        what: html! {
            strong { "Notification" } " of " code { (attempt.event_id) } " to endpoint " code { (attempt.endpoint_id) }
            ", attempt " (attempt.attempt) ": " (attempt_answer(attempt))
        },
    }));
    moments.sort_by_key(|moment| moment.at);
    moments
}

/// The refund and cancel forms, each where the checkout's provider can and its status allows.
fn actions(viewer: &Viewer, checkout: &Checkout, refunds: &[Refund]) -> Markup {
    let adapter = provider_of(&viewer.merchant, checkout)
        .ok()
        .map(|provider| provider.adapter);
    // What a refund may still take, as the refund itself reckons it: pending refunds count.
    let refundable = checkout.amount_received - Refund::committed_in(refunds);
    let refunds_with = adapter
        .as_ref()
        .and_then(|adapter| adapter.refunds())
        .filter(|_| checkout.status.is_paid() && refundable > 0);
    let cancelable = checkout.status.awaits_payment()
        && adapter
            .as_ref()
            .is_some_and(|adapter| adapter.cancels().is_some());
    let base = format!("/dashboard/checkouts/{}", checkout.id);
    html! {
        @if refunds_with.is_some() || cancelable {
            section.actions {
                @if let Some(refunds) = refunds_with {
                    form.inline method="post" action=(viewer.link(&format!("{base}/refund"))) {
                        input type="hidden" name="csrf" value=(viewer.csrf_token());
                        input type="hidden" name="refund_id" value=(RefundId::generate());
                        @if refunds.allows_partial() {
                            label { "Refund " input type="text" name="amount" inputmode="decimal"
                                placeholder=(Money::new(refundable, checkout.currency).to_decimal_string()); " " (checkout.currency) }
                        }
                        button type="submit" { "Refund " @if !refunds.allows_partial() { (money(refundable, checkout.currency)) } }
                        span.hint { @if refunds.allows_partial() { " Blank refunds all that is left." } @else { " This provider refunds only the whole amount." } }
                    }
                }
                @if cancelable {
                    form.inline method="post" action=(viewer.link(&format!("{base}/cancel"))) {
                        input type="hidden" name="csrf" value=(viewer.csrf_token());
                        button.danger type="submit" { "Cancel the checkout" }
                    }
                }
            }
        }
    }
}

/// The checkout's page, with what an action just came to.
async fn story(
    state: &AppState,
    viewer: &Viewer,
    path: &str,
    outcome: Option<Notice>,
) -> Result<HttpResponse, DashboardError> {
    let story = load_story(state, viewer, path).await?;
    let checkout = &story.checkout;
    let content = html! {
        @if let Some(notice) = &outcome { (notice) }
        dl.summary {
            dt { "Amount" } dd { (money(checkout.amount, checkout.currency)) }
            dt { "Status" } dd { (badge(checkout.status.as_str())) }
            dt { "Received" } dd { (money(checkout.amount_received, checkout.currency)) }
            dt { "Refunded" } dd { (money(checkout.amount_refunded, checkout.currency)) }
            dt { "Provider" } dd { (checkout.provider) }
            dt { "Provider's id" } dd { code { (checkout.provider_checkout_id.as_deref().unwrap_or("–")) } }
            dt { "Reference" } dd { (checkout.reference.as_deref().unwrap_or("–")) }
            dt { "Expires" } dd { (checkout.expires_at.map_or_else(|| "–".to_owned(), time)) }
            dt { "Mode" } dd { @if checkout.livemode { "live" } @else { "test" } }
        }
        (actions(viewer, checkout, &story.refunds))
        h2 { "Timeline" }
        ol.timeline {
            @for moment in moments(&story) {
                li { time { (time(moment.at)) } div { (moment.what) } }
            }
        }
        p { a href=(viewer.link("/dashboard/checkouts")) { "← All checkouts" } }
    };
    let title = format!("Checkout {}", checkout.id);
    let status = outcome.as_ref().map_or(StatusCode::OK, Notice::status);
    Ok(page_response(
        status,
        layout::page(viewer, "/dashboard/checkouts", &title, content),
    ))
}
