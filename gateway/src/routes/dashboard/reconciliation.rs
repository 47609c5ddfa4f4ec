//! `GET /dashboard/reconciliation`: a period and a currency, the totals per provider, and every
//! discrepancy linking to its checkout; `GET /dashboard/reconciliation.csv` downloads the same
//! report as the API's CSV.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use maud::{Markup, html};
use paymux_domain::Currency;
use paymux_schema::db::reconcile::{self, Report};
use serde::Deserialize;

use super::layout::{self, badge, money_in};
use super::viewer::Viewer;
use super::{DashboardError, html as page_response};
use crate::reconciliation::{scope, to_csv};
use crate::state::AppState;

/// The form's fields; empty ones take the defaults (the last 30 days, every currency).
#[derive(Debug, Default, Deserialize)]
pub struct Period {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    currency: String,
}

impl Period {
    /// The period asked for, with the defaults filled in: dates, `to` excluded.
    fn filled(request: &HttpRequest) -> Result<Period, DashboardError> {
        let asked = web::Query::<Period>::from_query(request.query_string())
            .map_err(|error| DashboardError::BadRequest(format!("Unreadable period: {error}")))?
            .into_inner();
        let today = paymux_schema::db::now().date();
        let or = |text: String, default: chrono::NaiveDate| {
            if text.trim().is_empty() {
                default.to_string()
            } else {
                text.trim().to_owned()
            }
        };
        Ok(Period {
            from: or(asked.from, today - TimeDelta::days(30)),
            to: or(asked.to, today + TimeDelta::days(1)),
            currency: asked.currency.trim().to_owned(),
        })
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .append_pair("currency", &self.currency)
            .finish()
    }
}

async fn report(
    state: &AppState,
    viewer: &Viewer,
    period: &Period,
) -> Result<Report, DashboardError> {
    let currency = Some(period.currency.as_str()).filter(|code| !code.is_empty());
    let scope = scope(
        &period.from,
        &period.to,
        currency,
        Some(viewer.merchant.id.clone()),
    )
    .map_err(|(param, message)| DashboardError::BadRequest(format!("{param}: {message}")))?;
    state
        .store(move |conn| {
            reconcile::reconcile(conn, &scope).map_err(|error| match error {
                reconcile::ReconcileError::Database(error) => DashboardError::from(error),
                other => DashboardError::BadRequest(other.to_string()),
            })
        })
        .await
}

/// `GET /dashboard/reconciliation`.
pub async fn reconciliation(
    state: web::Data<AppState>,
    viewer: Viewer,
    request: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    let period = Period::filled(&request)?;
    let report = report(&state, &viewer, &period).await?;
    let content = html! {
        (period_form(&viewer, &period))
        h2 { "Totals" }
        (totals(&report))
        h2 { "Discrepancies" }
        (discrepancies(&viewer, &report))
    };
    Ok(page_response(
        StatusCode::OK,
        layout::page(
            &viewer,
            "/dashboard/reconciliation",
            "Reconciliation",
            content,
        ),
    ))
}

/// The period and currency asked for, with the CSV of the same.
fn period_form(viewer: &Viewer, period: &Period) -> Markup {
    html! {
        form.filters method="get" action="/dashboard/reconciliation" {
            @if viewer.is_ops() {
                input type="hidden" name="merchant" value=(viewer.merchant.id);
            }
            label { "From" input type="date" name="from" value=(period.from); }
            label { "To (excluded)" input type="date" name="to" value=(period.to); }
            label { "Currency"
                select name="currency" {
                    option value="" { "every currency" }
                    @for currency in Currency::ALL {
                        option value=(currency.code()) selected[period.currency.eq_ignore_ascii_case(currency.code())] { (currency.code()) }
                    }
                }
            }
            button type="submit" { "Run" }
            a.button href=(viewer.link(&format!("/dashboard/reconciliation.csv?{}", period.query()))) download { "Download CSV" }
        }
    }
}

/// The net per currency, then the totals per provider and currency.
fn totals(report: &Report) -> Markup {
    html! {
        @if report.currency_totals.is_empty() {
            p.empty { "Nothing was paid or refunded in this period." }
        } @else {
            section.cards {
                @for total in &report.currency_totals {
                    div.card {
                        h2 { "Net in " (total.currency) }
                        p.figure { (money_in(total.net, &total.currency)) }
                        p { "gross " (money_in(total.gross, &total.currency)) " · refunded " (money_in(total.refunded, &total.currency)) " · fees " (money_in(total.fees, &total.currency)) }
                    }
                }
            }
            section.table { table {
                thead { tr {
                    th { "Provider" } th { "Currency" } th.num { "Paid" } th.num { "Gross" }
                    th.num { "Refunded" } th.num { "Fees" } th.num { "Net" }
                } }
                tbody { @for total in &report.totals { tr {
                    td { (total.provider) } td { (total.currency) } td.num { (total.succeeded_count) }
                    td.num { (money_in(total.gross, &total.currency)) } td.num { (money_in(total.refunded, &total.currency)) }
                    td.num { (money_in(total.fees, &total.currency)) } td.num { (money_in(total.net, &total.currency)) }
                } } }
            } }
        }
    }
}

/// Every discrepancy, linking to its checkout.
fn discrepancies(viewer: &Viewer, report: &Report) -> Markup {
    html! {
        @if report.discrepancies.is_empty() {
            p.empty { "None: every payment matches its checkout." }
        } @else {
            section.table { table {
                thead { tr { th { "Kind" } th { "What" } th { "Checkout" } } }
                tbody { @for found in &report.discrepancies { tr {
                    td { (badge(found.kind.as_str())) }
                    td.wrap { (found.message) }
                    td { @if let Some(checkout) = &found.checkout_id {
                        a href=(viewer.link(&format!("/dashboard/checkouts/{checkout}"))) { code { (checkout) } }
                    } }
                } } }
            } }
        }
    }
}

/// `GET /dashboard/reconciliation.csv`.
pub async fn csv(
    state: web::Data<AppState>,
    viewer: Viewer,
    request: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    let period = Period::filled(&request)?;
    let report = report(&state, &viewer, &period).await?;
    let body = to_csv(&report).map_err(DashboardError::internal)?;
    let name = format!(
        "reconciliation-{}-{}-{}.csv",
        viewer.merchant.id, period.from, period.to
    );
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c))
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
