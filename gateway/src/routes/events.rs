//! `GET /v1/events` and `GET /v1/events/{id}`: the normalized event stream.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::ids::{CheckoutKind, EventKind};
use paymux_domain::{CheckoutId, Currency, EventId, EventSource, EventType};
use paymux_schema::db::event::{Event, EventFilter};
use serde::Serialize;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::routes::list::{ListOut, ListParams};
use crate::state::AppState;

/// An event as the API shows it. `raw` (the exact bytes received) only on the single-event
/// endpoint: lists stay small.
#[derive(Debug, Serialize)]
pub struct EventOut {
    pub id: EventId,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub merchant: String,
    pub provider: String,
    pub provider_event_id: String,
    pub checkout_id: Option<CheckoutId>,
    pub provider_payment_id: Option<String>,
    pub reference: Option<String>,
    /// Minor units of `currency`.
    pub amount: Option<i64>,
    pub currency: Option<Currency>,
    pub fee: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub livemode: bool,
    /// Who recorded it: `provider` (its webhook), `provider_lookup` (paymux asked the
    /// provider), `paymux` (an expiry paymux applied).
    pub source: EventSource,
    pub details: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl EventOut {
    pub fn from_row(event: Event, raw: Option<Vec<u8>>) -> EventOut {
        EventOut {
            details: event.details.0,
            id: event.id,
            object: "event",
            event_type: event.event_type,
            merchant: event.merchant,
            provider: event.provider,
            provider_event_id: event.provider_event_id,
            checkout_id: event.checkout_id,
            provider_payment_id: event.provider_payment_id,
            reference: event.reference,
            amount: event.amount,
            currency: event.currency,
            fee: event.fee,
            occurred_at: event.occurred_at.and_utc(),
            received_at: event.received_at.and_utc(),
            livemode: event.livemode,
            source: event.source,
            raw: raw.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

/// `GET /v1/events`: filters `type`, `provider`, `checkout_id`, `created_gte`, `created_lt`.
pub async fn list_events(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<EventKind>()?;
    let filter = EventFilter {
        event_type: params.value("type", EventType::ALL)?,
        provider: params.text("provider"),
        checkout_id: params.id::<CheckoutKind>("checkout_id")?,
        created_gte: params.time("created_gte")?,
        created_lt: params.time("created_lt")?,
    };
    params.finish()?;
    let merchant_id = merchant.0.id.clone();
    let page = state
        .db(move |conn| Ok(Event::list(conn, &merchant_id, &filter, &page)?))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::from_page(page, |event| {
        EventOut::from_row(event, None)
    })))
}

/// `GET /v1/events/{id}`, with the raw bytes received.
pub async fn get_event(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let event_id = EventId::parse(&id).map_err(|_| ApiError::not_found("event", &id))?;
    let merchant_id = merchant.0.id.clone();
    let found = state
        .db(move |conn| Ok(Event::find_with_raw(conn, &merchant_id, &event_id)?))
        .await?;
    let (event, raw) = found.ok_or_else(|| ApiError::not_found("event", &id))?;
    Ok(HttpResponse::Ok().json(EventOut::from_row(event, raw)))
}
