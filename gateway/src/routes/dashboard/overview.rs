//! `GET /dashboard`: a merchant's period at a glance: volume and counts per provider and
//! currency (the reconciliation report's totals, so the two never disagree), each provider's
//! success rate and circuit, the webhooks received and the notifications sent.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use maud::{Markup, html};
use paymux_domain::CheckoutStatus;
use paymux_schema::db::activity;
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::outbound::WebhookMessage;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::reconcile::{self, ProviderTotals, Scope};

use super::layout::{self, Bar, badge, bar_chart, money_in};
use super::viewer::Viewer;
use super::{DashboardError, html as page_response};
use crate::routes::admin::{ProviderStatus, provider_statuses};
use crate::state::AppState;

/// The periods offered, in days; the first is the default.
const PERIODS: [i64; 3] = [30, 7, 90];

/// What the overview shows for one merchant and period.
struct Overview {
    days: i64,
    totals: Vec<ProviderTotals>,
    receipts: BTreeMap<String, i64>,
    deliveries: BTreeMap<String, i64>,
    providers: Vec<ProviderStatus>,
    /// `(provider, status, count)` of the checkouts created in the period.
    statuses: Vec<(String, String, i64)>,
}

/// `GET /dashboard?days=7|30|90`.
pub async fn overview(
    state: web::Data<AppState>,
    viewer: Viewer,
    request: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    let days = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "days")
        .and_then(|(_, value)| value.parse::<i64>().ok())
        .filter(|days| PERIODS.contains(days))
        .unwrap_or(PERIODS[0]);
    let now = paymux_schema::db::now();
    let period = (now - TimeDelta::days(days), now + TimeDelta::seconds(1));
    let merchant = viewer.merchant.id.clone();
    let scope = Scope {
        from: period.0,
        to: period.1,
        merchant: Some(merchant.clone()),
        currency: None,
        now,
        page_size: reconcile::PAGE_SIZE,
    };
    let (report, receipts, deliveries, activity, statuses) = state
        .store(move |conn| {
            let report = reconcile::reconcile(conn, &scope).map_err(DashboardError::internal)?;
            let receipts = WebhookReceipt::count_outcomes(conn, &merchant, period)?;
            let deliveries = WebhookMessage::count_statuses(conn, &merchant, period)?;
            let activity = activity::by_merchant_and_provider(conn)?;
            let statuses = Checkout::count_statuses(conn, &merchant, period)?;
            Ok::<_, DashboardError>((report, receipts, deliveries, activity, statuses))
        })
        .await?;
    let providers = provider_statuses(
        &viewer.config.merchants,
        &activity,
        Some((&state.breakers, viewer.config.policy())),
    )
    .into_iter()
    .filter(|status| status.merchant == viewer.merchant.id)
    .collect();
    let overview = Overview {
        days,
        totals: report.totals,
        receipts: receipts.into_iter().collect(),
        deliveries: deliveries.into_iter().collect(),
        providers,
        statuses,
    };
    let content = render(&viewer, &overview);
    Ok(page_response(
        StatusCode::OK,
        layout::page(&viewer, "/dashboard", "Overview", content),
    ))
}

/// Of the provider's checkouts created in the period and decided (paid, failed, canceled or
/// expired; open and partly paid ones are not yet), the share that was paid.
fn success_rate(statuses: &[(String, String, i64)], provider: &str) -> Option<String> {
    let (mut paid, mut decided) = (0i64, 0i64);
    for (_, status, count) in statuses.iter().filter(|(of, _, _)| of == provider) {
        match status.parse::<CheckoutStatus>() {
            Ok(
                CheckoutStatus::Succeeded
                | CheckoutStatus::PartiallyRefunded
                | CheckoutStatus::Refunded,
            ) => {
                paid += count;
                decided += count;
            }
            Ok(CheckoutStatus::Failed | CheckoutStatus::Canceled | CheckoutStatus::Expired) => {
                decided += count;
            }
            _ => {}
        }
    }
    (decided > 0).then(|| format!("{}%", paid * 100 / decided))
}

fn render(viewer: &Viewer, overview: &Overview) -> Markup {
    let by_currency: BTreeMap<&str, Vec<&ProviderTotals>> =
        overview
            .totals
            .iter()
            .fold(BTreeMap::new(), |mut map, totals| {
                map.entry(totals.currency.as_str())
                    .or_insert_with(Vec::new)
                    .push(totals);
                map
            });
    html! {
        nav.periods aria-label="Period" {
            @for days in PERIODS {
                a href=(viewer.link(&format!("/dashboard?days={days}")))
                    aria-current=[(days == overview.days).then_some("page")] { "last " (days) " days" }
            }
        }
        (webhook_cards(overview))
        @if by_currency.is_empty() {
            p.empty { "No checkout in the last " (overview.days) " days." }
        }
        @for (code, rows) in &by_currency {
            (currency_section(code, rows, overview.days))
        }
        (providers_table(overview))
    }
}

/// The webhooks received and the notifications sent over the period.
fn webhook_cards(overview: &Overview) -> Markup {
    let count = |counts: &BTreeMap<String, i64>, key: &str| counts.get(key).copied().unwrap_or(0);
    html! {
        section.cards {
            div.card {
                h2 { "Webhooks in" }
                p.figure { (count(&overview.receipts, "accepted")) }
                p { "accepted · " (count(&overview.receipts, "duplicate")) " duplicate · "
                    (count(&overview.receipts, "rejected")) " rejected · "
                    (count(&overview.receipts, "unconfirmed")) " unconfirmed" }
            }
            div.card {
                h2 { "Notifications out" }
                p.figure { (count(&overview.deliveries, "delivered")) }
                p { "delivered · " (count(&overview.deliveries, "pending")) " pending · "
                    (count(&overview.deliveries, "failed")) " failed" }
            }
        }
    }
}

/// One currency's volume per provider: a chart of the gross, and the report's totals.
fn currency_section(code: &str, rows: &[&ProviderTotals], days: i64) -> Markup {
    let shown = |amount: i64| money_in(amount, code);
    let bars: Vec<Bar> = rows
        .iter()
        .map(|totals| Bar {
            label: totals.provider.clone(),
            value: totals.gross,
            shown: shown(totals.gross),
        })
        .collect();
    html! {
        section.currency.table {
            h2 { "Volume in " (code) }
            (bar_chart(&format!("Gross volume in {code} by provider, last {days} days"), &bars))
            table {
                thead { tr {
                    th { "Provider" } th.num { "Paid" } th.num { "Gross" } th.num { "Refunded" }
                    th.num { "Net" } th.num { "Failed" } th.num { "Canceled" } th.num { "Expired" }
                    th.num { "Open" }
                } }
                tbody {
                    @for totals in rows {
                        tr {
                            td { (totals.provider) }
                            td.num { (totals.succeeded_count) }
                            td.num { (shown(totals.gross)) }
                            td.num { (shown(totals.refunded)) }
                            td.num { (shown(totals.net)) }
                            td.num { (totals.failed_count) }
                            td.num { (totals.canceled_count) }
                            td.num { (totals.expired_count) }
                            td.num { (totals.open_count) }
                        }
                    }
                }
            }
        }
    }
}

/// Each provider's settings, success rate, circuit and last event.
fn providers_table(overview: &Overview) -> Markup {
    html! {
        section.table {
            h2 { "Providers" }
            table {
                thead { tr {
                    th { "Provider" } th { "Enabled" } th.num { "Priority" } th { "Currencies" }
                    th.num { "Success rate" } th { "Circuit" } th { "Last event" }
                } }
                tbody {
                    @for provider in &overview.providers {
                        tr {
                            td { (provider.provider) }
                            td { @if provider.enabled { "yes" } @else { (badge("disabled")) } }
                            td.num { (provider.priority) }
                            td { (provider.currencies.join(", ")) }
                            td.num { (success_rate(&overview.statuses, &provider.provider).unwrap_or_else(|| "–".to_owned())) }
                            td { @match &provider.circuit {
                                Some(circuit) => { (badge(circuit.state.as_str())) }
                                None => { "–" }
                            } }
                            td { @match provider.last_event_at {
                                Some(at) => { (layout::time(at.naive_utc())) }
                                None => { "never" }
                            } }
                        }
                    }
                }
            }
        }
    }
}
