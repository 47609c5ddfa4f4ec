//! `GET /dashboard/receipts`: the webhooks the providers sent, the refused ones first with why
//! (forged, stale, malformed, unconfirmed, unknown merchant), then the accepted ones.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use paymux_domain::ReceiptOutcome;
use paymux_schema::db::receipt::WebhookReceipt;

use super::layout::{self, badge, time};
use super::viewer::Viewer;
use super::{DashboardError, html as page_response};
use crate::state::AppState;

/// Receipts shown in each table.
const SHOWN: i64 = 50;

/// `GET /dashboard/receipts`.
pub async fn receipts(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, DashboardError> {
    let merchant = viewer.merchant.id.clone();
    let (refused, accepted) = state
        .store(move |conn| {
            let refused = [ReceiptOutcome::Rejected, ReceiptOutcome::Unconfirmed];
            let accepted = [ReceiptOutcome::Accepted, ReceiptOutcome::Duplicate];
            Ok::<_, DashboardError>((
                WebhookReceipt::recent(conn, &merchant, &refused, SHOWN)?,
                WebhookReceipt::recent(conn, &merchant, &accepted, SHOWN)?,
            ))
        })
        .await?;
    let content = html! {
        h2 { "Refused" }
        @if refused.is_empty() {
            p.empty { "No webhook was refused." }
        } @else {
            (table(&viewer, &refused))
        }
        h2 { "Accepted" }
        @if accepted.is_empty() {
            p.empty { "No webhook yet." }
        } @else {
            (table(&viewer, &accepted))
        }
    };
    Ok(page_response(
        StatusCode::OK,
        layout::page(&viewer, "/dashboard/receipts", "Webhooks in", content),
    ))
}

fn table(viewer: &Viewer, receipts: &[WebhookReceipt]) -> Markup {
    html! {
        section.table { table {
            thead { tr {
                th { "Received" } th { "Provider" } th { "Outcome" } th { "Why" }
                th.num { "Events" } th.num { "Bytes" } th { "Receipt" }
            } }
            tbody {
                @for receipt in receipts {
                    tr {
                        td { (time(receipt.received_at)) }
                        td { (receipt.provider) }
                        td { (badge(receipt.outcome.as_str())) }
                        td.wrap {
                            (receipt.reason.as_deref().unwrap_or(""))
                            @if let Some(checkout) = &receipt.checkout_id {
                                " · " a href=(viewer.link(&format!("/dashboard/checkouts/{checkout}"))) { "its checkout" }
                            }
                        }
                        td.num { (receipt.event_count) }
                        td.num { (receipt.body_length) }
                        td { code { (receipt.id) } }
                    }
                }
            }
        } }
    }
}
