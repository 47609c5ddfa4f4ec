//! The reconciliation report's CSV form, shared by `GET /v1/reconciliation?format=csv` and
//! `paymux reconcile --format csv`.
//!
//! One table, so that any CSV reader takes it: `section` says what a row is (`total`,
//! `currency_total` or `discrepancy`), and the other columns are the JSON report's fields, left
//! empty where a section has no such field. Amounts are minor units of the row's currency.

use chrono::NaiveDateTime;
use paymux_domain::Currency;
use paymux_schema::db::reconcile::{self, Report, Scope};

use crate::routes::list::parse_time;

/// A bad part of a report request: the parameter, and what is wrong with it.
pub type BadScope = (&'static str, String);

/// The scope of a report over `[from, to)`, read from what a user typed: times as Unix
/// seconds, RFC 3339 or dates; `from` before `to`; a currency code.
pub fn scope(
    from: &str,
    to: &str,
    currency: Option<&str>,
    merchant: Option<String>,
) -> Result<Scope, BadScope> {
    let time = |name: &'static str, text: &str| -> Result<NaiveDateTime, BadScope> {
        parse_time(text).map_err(|message| (name, message))
    };
    let (from, to) = (time("from", from)?, time("to", to)?);
    if from >= to {
        return Err(("to", "to must be later than from".to_owned()));
    }
    let currency = currency
        .map(|code| {
            Currency::parse(code)
                .map(|currency| currency.code().to_owned())
                .map_err(|error| ("currency", error.to_string()))
        })
        .transpose()?;
    Ok(Scope {
        from,
        to,
        merchant,
        currency,
        now: paymux_schema::db::now(),
        page_size: reconcile::PAGE_SIZE,
    })
}

/// The CSV header: `section`, then the JSON fields of every section, in order.
pub const COLUMNS: [&str; 18] = [
    "section",
    "provider",
    "currency",
    "succeeded_count",
    "gross",
    "refunded",
    "fees",
    "net",
    "failed_count",
    "canceled_count",
    "expired_count",
    "open_count",
    "partially_paid_count",
    "kind",
    "checkout_id",
    "event_id",
    "receipt_id",
    "message",
];

/// Renders the report as CSV, the header first.
pub fn to_csv(report: &Report) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(vec![]);
    writer.write_record(COLUMNS)?;
    for total in &report.totals {
        writer.write_record(row("total", total)?)?;
    }
    for total in &report.currency_totals {
        writer.write_record(row("currency_total", total)?)?;
    }
    for found in &report.discrepancies {
        writer.write_record(row("discrepancy", found)?)?;
    }
    Ok(writer.into_inner().map_err(|error| error.into_error())?)
}

/// One row: `item`'s JSON fields under their columns, the other columns empty.
fn row(section: &str, item: &impl serde::Serialize) -> serde_json::Result<Vec<String>> {
    let fields = serde_json::to_value(item)?;
    Ok(COLUMNS
        .iter()
        .map(|column| match (*column, fields.get(column)) {
            ("section", _) => section.to_owned(),
            (_, Some(serde_json::Value::String(text))) => text.clone(),
            (_, None | Some(serde_json::Value::Null)) => String::new(),
            (_, Some(other)) => other.to_string(),
        })
        .collect())
}
