//! `GET /v1/events/export?format=csv|ndjson&created_gte=…&created_lt=…[&provider=…][&type=…]`:
//! every event of a period, streamed from the database one page at a time, so that the
//! server's memory stays flat however many events the period holds.
//!
//! The columns are a stable contract for finance tools; add new ones at the end:
//! `id, type, merchant, provider, provider_event_id, checkout_id, reference, amount,
//! amount_decimal, currency, fee, occurred_at, received_at, livemode, source`. `amount` and `fee` are
//! minor units, `amount_decimal` the same amount in major units ("125.00"); times are RFC 3339
//! UTC. NDJSON lines carry the same fields.

use std::sync::Arc;

use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use paymux_domain::{CheckoutId, Currency, ErrorBody, EventId, EventSource, EventType, Money};
use paymux_schema::db::event::{Event, EventFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::list::{ListParams, Time};
use crate::state::AppState;

/// Rows read from the database per page.
const PAGE_SIZE: i64 = 1_000;

/// The CSV header: the fields of [`ExportRow`], in order.
const COLUMNS: [&str; 15] = [
    "id",
    "type",
    "merchant",
    "provider",
    "provider_event_id",
    "checkout_id",
    "reference",
    "amount",
    "amount_decimal",
    "currency",
    "fee",
    "occurred_at",
    "received_at",
    "livemode",
    "source",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

/// One exported event: the documented columns, in order; one NDJSON line or CSV row.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRow {
    id: EventId,
    #[serde(rename = "type")]
    event_type: EventType,
    merchant: String,
    provider: String,
    provider_event_id: String,
    checkout_id: Option<CheckoutId>,
    reference: Option<String>,
    amount: Option<i64>,
    amount_decimal: Option<String>,
    currency: Option<Currency>,
    fee: Option<i64>,
    occurred_at: String,
    received_at: String,
    livemode: bool,
    source: EventSource,
}

impl From<Event> for ExportRow {
    fn from(event: Event) -> ExportRow {
        let amount_decimal = event
            .amount
            .zip(event.currency)
            .map(|(minor, currency)| Money::new(minor, currency).to_decimal_string());
        ExportRow {
            id: event.id,
            event_type: event.event_type,
            merchant: event.merchant,
            provider: event.provider,
            provider_event_id: event.provider_event_id,
            checkout_id: event.checkout_id,
            reference: event.reference,
            amount: event.amount,
            amount_decimal,
            currency: event.currency,
            fee: event.fee,
            occurred_at: event.occurred_at.and_utc().to_rfc3339(),
            received_at: event.received_at.and_utc().to_rfc3339(),
            livemode: event.livemode,
            source: event.source,
        }
    }
}

/// Renders one page of rows; the CSV header goes with the first page only.
fn render(format: Format, rows: Vec<Event>, with_header: bool) -> Result<Bytes, ApiError> {
    match format {
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(vec![]);
            if with_header {
                // Written even for an empty period, so that every export parses the same way.
                writer.write_record(COLUMNS).map_err(ApiError::internal)?;
            }
            for row in rows {
                writer
                    .serialize(ExportRow::from(row))
                    .map_err(ApiError::internal)?;
            }
            writer
                .into_inner()
                .map(Bytes::from)
                .map_err(ApiError::internal)
        }
        Format::Ndjson => {
            let mut out = vec![];
            for row in rows {
                serde_json::to_writer(&mut out, &ExportRow::from(row))
                    .map_err(ApiError::internal)?;
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Where the export stands between pages.
struct Cursor {
    after: Option<EventId>,
    first: bool,
    done: bool,
}

/// `GET /v1/events/export`.
#[utoipa::path(
    get,
    path = "/v1/events/export",
    tag = "Events",
    summary = "Export events",
    description = "Every event of the period, oldest first, streamed as CSV (a header row, \
        then one row per event) or NDJSON (one `ExportRow` per line), however many there are.",
    params(
        ("format" = String, Query, description = "`csv` or `ndjson`.", pattern = "^(csv|ndjson)$"),
        ("created_gte" = Time, Query, description = "Events received at or after this time."),
        ("created_lt" = Time, Query, description = "Events received before this time."),
        ("type" = Option<EventType>, Query),
        ("provider" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "The events, as a download.", headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"events.csv\"` or `events.ndjson`"),
        ), content(
            (String = "text/csv"),
            (ExportRow = "application/x-ndjson"),
        )),
        (status = 400, description = "`format` or the period is missing or invalid, or a \
            parameter is unknown.", body = ErrorBody),
    ),
)]
pub async fn export_events(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (format, filter) = parse_request(request.query_string())?;
    let export = Arc::new(Export {
        state: state.into_inner(),
        merchant_id: merchant.0.id.clone(),
        filter,
        format,
    });
    let start = Cursor {
        after: None,
        first: true,
        done: false,
    };
    let pages = futures_util::stream::unfold(start, move |cursor| export.clone().page(cursor));
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"events.{extension}\""),
        ))
        .streaming(pages))
}

/// The format and the events asked for; the period is required.
fn parse_request(query: &str) -> Result<(Format, EventFilter), ApiError> {
    let mut params = ListParams::parse(query)?;
    let format = match params.one_of("format", &["csv", "ndjson"])?.as_deref() {
        Some("ndjson") => Format::Ndjson,
        Some(_) => Format::Csv,
        None => {
            return Err(ApiError::invalid(
                "format",
                "format is required: csv or ndjson",
            ));
        }
    };
    let mut required_time = |name: &'static str| {
        params
            .time(name)?
            .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
    };
    let created_gte = Some(required_time("created_gte")?);
    let created_lt = Some(required_time("created_lt")?);
    let filter = EventFilter {
        event_type: params.value("type", EventType::ALL)?,
        provider: params.text("provider"),
        checkout_id: None,
        created_gte,
        created_lt,
    };
    params.finish()?;
    Ok((format, filter))
}

/// One export in progress, shared by the pages of its stream.
struct Export {
    state: Arc<AppState>,
    merchant_id: String,
    filter: EventFilter,
    format: Format,
}

impl Export {
    /// The page after `cursor`, rendered, or the end of the stream.
    async fn page(
        self: Arc<Self>,
        cursor: Cursor,
    ) -> Option<(Result<Bytes, actix_web::Error>, Cursor)> {
        if cursor.done {
            return None;
        }
        let after = cursor.after;
        let export = self.clone();
        let page = self
            .state
            .db(move |conn| {
                Ok(Event::export_page(
                    conn,
                    &export.merchant_id,
                    &export.filter,
                    after.as_ref(),
                    PAGE_SIZE,
                )?)
            })
            .await;
        let rows = match page {
            Ok(rows) => rows,
            // The status line is sent already: end the body early; the client sees a truncated
            // export rather than a silent gap, and the cause is logged.
            Err(error) => {
                tracing::error!(%error, "event export stopped");
                let stopped = actix_web::error::ErrorInternalServerError("export stopped");
                let cursor = Cursor {
                    done: true,
                    ..cursor
                };
                return Some((Err(stopped), cursor));
            }
        };
        let next = Cursor {
            after: rows.last().map(|row| row.id),
            first: false,
            done: (rows.len() as i64) < PAGE_SIZE,
        };
        let chunk = render(self.format, rows, cursor.first).map_err(actix_web::Error::from);
        Some((chunk, next))
    }
}
