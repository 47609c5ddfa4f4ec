//! `GET /v1/events` and `GET /v1/events/{id}`: the normalized event stream.

use actix_web::{HttpRequest, HttpResponse, web};
use paymux_domain::ids::{CheckoutKind, EventKind};
use paymux_domain::{CheckoutId, ErrorBody, EventId, EventType};
use paymux_schema::db::event::{Event, EventFilter};

use crate::auth::Authenticated;
use crate::domain::views::EventOut;
use crate::error::ApiError;
use crate::routes::list::{Created, ListOut, ListParams, Paging};
use crate::state::AppState;

/// `GET /v1/events`: filters `type`, `provider`, `checkout_id`, `created_gte`, `created_lt`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "Events",
    summary = "List events",
    params(
        Paging<EventKind>,
        ("type" = Option<EventType>, Query),
        ("provider" = Option<String>, Query),
        ("checkout_id" = Option<CheckoutId>, Query),
        Created,
    ),
    responses(
        (status = 200, description = "The merchant's events, newest first, without `raw`.", body = ListOut<EventOut>, links(
            ("Retrieve" = (operation_id = "get_event", parameters(("id" = "$response.body#/data/0/id")))),
            ("Resend" = (operation_id = "resend_event", parameters(("id" = "$response.body#/data/0/id")))),
        )),
    ),
)]
pub async fn list_events(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<EventKind>()?;
    let (created_gte, created_lt) = params.created()?;
    let filter = EventFilter {
        event_type: params.value("type", EventType::ALL)?,
        provider: params.text("provider"),
        checkout_id: params.id::<CheckoutKind>("checkout_id")?,
        created_gte,
        created_lt,
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
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "Events",
    summary = "Retrieve an event",
    description = "With `raw`, the body exactly as the provider sent it.",
    params(("id" = EventId, Path, description = "The event's id.")),
    responses(
        (status = 200, description = "The event.", body = EventOut),
        (status = 404, description = "No such event of this merchant.", body = ErrorBody),
    ),
)]
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
