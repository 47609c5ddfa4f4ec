//! `GET /dashboard/audit`: who did what, when, through which door and from where. Ops see every
//! entry; a merchant sees those about its own objects.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use paymux_domain::{AuditActor, AuditId, CheckoutId};
use paymux_schema::db::audit::AuditEntry;

use super::layout::{self, time};
use super::viewer::Viewer;
use super::{DashboardError, html as page_response};
use crate::state::AppState;

/// Entries per page, newest first.
const PAGE: i64 = 100;

/// `GET /dashboard/audit`, older pages by `?before=aud_…`.
pub async fn audit(
    state: web::Data<AppState>,
    viewer: Viewer,
    request: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    let before = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "before")
        .map(|(_, value)| AuditId::parse(&value))
        .transpose()
        .map_err(|error| DashboardError::BadRequest(error.to_string()))?;
    let merchant = (!viewer.is_ops()).then(|| viewer.merchant.id.clone());
    let found = state
        .store(move |conn| {
            Ok::<_, DashboardError>(AuditEntry::page(
                conn,
                merchant.as_deref(),
                before.as_ref(),
                PAGE,
            )?)
        })
        .await?;
    let entries = &found.items;
    let content = html! {
        p.hint {
            @if viewer.is_ops() { "Every action taken through the dashboard and the admin and endpoint APIs, for every merchant." }
            @else { "Every action taken on your objects through the dashboard and the endpoint API." }
        }
        @if entries.is_empty() {
            p.empty { "Nothing recorded yet." }
        } @else {
            section.table { table {
                thead { tr {
                    th { "When" } th { "Who" } th { "Through" } th { "Action" } th { "On" } th { "What came of it" } th { "From" }
                } }
                tbody {
                    @for entry in entries {
                        tr {
                            td { (time(entry.at)) }
                            td {
                                @match (entry.actor, &entry.merchant) {
                                    (AuditActor::Ops, _) => { "ops" }
                                    (AuditActor::Merchant, Some(merchant)) => { "merchant " (merchant) }
                                    (actor, _) => { (actor.as_str()) }
                                }
                            }
                            td { (entry.channel.as_str().replace('_', " ")) }
                            td { code { (entry.action.as_str()) } }
                            td {
                                @match entry.target.as_deref() {
                                    Some(target) if CheckoutId::parse(target).is_ok() => {
                                        a href=(viewer.link(&format!("/dashboard/checkouts/{target}"))) { code { (target) } }
                                    }
                                    Some(target) => { code { (target) } }
                                    None => { @if let Some(merchant) = &entry.merchant { (merchant) } @else { "–" } }
                                }
                            }
                            td.wrap { (entry.detail) }
                            td { (entry.client_address.as_deref().unwrap_or("–")) }
                        }
                    }
                }
            } }
            @if found.has_more {
                @if let Some(last) = entries.last() {
                    p { a href=(viewer.link(&format!("/dashboard/audit?before={}", last.id))) { "Older entries →" } }
                }
            }
        }
    };
    Ok(page_response(
        StatusCode::OK,
        layout::page(&viewer, "/dashboard/audit", "Audit", content),
    ))
}
