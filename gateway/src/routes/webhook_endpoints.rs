//! `/v1/webhook_endpoints`: where a merchant is sent events, Stripe-shaped; the attempts made
//! to each; resending, replaying and testing. What each does is
//! [`crate::domain::endpoints`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use paymux_domain::ids::{DeliveryKind, EndpointKind};
use paymux_domain::{DeliveryId, EndpointId, EndpointStatus, EventId, MessageId};
use paymux_schema::db::outbound::{WebhookAttempt, WebhookEndpoint};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::Authenticated;
use crate::domain::endpoints::{self, EndpointChange, EndpointError};
use crate::error::ApiError;
use crate::routes::json::parse_body;
use crate::routes::list::{ListOut, ListParams, parse_time};
use crate::state::AppState;

/// Mounts these routes in the `/v1` scope.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/events/{id}/resend").route(web::post().to(resend_event)))
        .service(
            web::resource("/webhook_endpoints")
                .route(web::get().to(list_endpoints))
                .route(web::post().to(create_endpoint)),
        )
        .service(
            web::resource("/webhook_endpoints/{id}")
                .route(web::get().to(get_endpoint))
                .route(web::patch().to(update_endpoint))
                .route(web::delete().to(delete_endpoint)),
        )
        .service(
            web::resource("/webhook_endpoints/{id}/rotate_secret")
                .route(web::post().to(rotate_secret)),
        )
        .service(
            web::resource("/webhook_endpoints/{id}/deliveries")
                .route(web::get().to(list_deliveries)),
        )
        .service(web::resource("/webhook_endpoints/{id}/replay").route(web::post().to(replay)))
        .service(web::resource("/webhook_endpoints/{id}/test").route(web::post().to(send_test)));
}

/// An endpoint as the API shows it; `secret` only when it was just made or rotated.
#[derive(Debug, Serialize)]
pub struct EndpointOut {
    pub id: EndpointId,
    pub object: &'static str,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    /// Why paymux disabled it, when it did.
    pub disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl EndpointOut {
    fn new(endpoint: WebhookEndpoint, show_secret: bool) -> EndpointOut {
        EndpointOut {
            secret: show_secret.then(|| endpoint.secret.expose().to_owned()),
            id: endpoint.id,
            object: "webhook_endpoint",
            url: endpoint.url,
            enabled_events: endpoint.enabled_events.0,
            description: endpoint.description,
            status: endpoint.status,
            disabled_reason: endpoint.disabled_reason,
            created_at: endpoint.created_at.and_utc(),
        }
    }
}

/// One attempt to deliver an event, as `GET …/deliveries` lists it.
#[derive(Debug, Serialize)]
pub struct DeliveryOut {
    pub id: DeliveryId,
    pub object: &'static str,
    pub event_id: EventId,
    /// The `webhook-id` header it carried: the same on every attempt of one event.
    pub webhook_id: MessageId,
    pub attempt: i32,
    /// `null` when the endpoint gave no answer.
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub attempted_at: DateTime<Utc>,
    /// When the next attempt is due; `null` when none will follow.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<WebhookAttempt> for DeliveryOut {
    fn from(attempt: WebhookAttempt) -> DeliveryOut {
        DeliveryOut {
            id: attempt.id,
            object: "webhook_delivery",
            event_id: attempt.event_id,
            webhook_id: attempt.message_id,
            attempt: attempt.attempt,
            response_status: attempt.response_status,
            error: attempt.error,
            duration_ms: attempt.duration_ms,
            attempted_at: attempt.attempted_at.and_utc(),
            next_attempt_at: attempt.next_attempt_at.map(|at| at.and_utc()),
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(error: EndpointError) -> ApiError {
        match error {
            EndpointError::Invalid { param, message } => ApiError::invalid(param, message),
            EndpointError::NotFound(id) => ApiError::not_found("webhook endpoint", &id),
            EndpointError::EventNotFound(id) => ApiError::not_found("event", &id),
            EndpointError::Store(error) => error.into(),
        }
    }
}

/// A present field, `null` included: `Some(None)` for `null`, and absent stays `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The body of a create or an update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub status: Option<EndpointStatus>,
}

impl From<EndpointIn> for EndpointChange {
    fn from(input: EndpointIn) -> EndpointChange {
        EndpointChange {
            url: input.url,
            enabled_events: input.enabled_events,
            description: input.description,
            status: input.status,
        }
    }
}

/// `POST /v1/webhook_endpoints` → 201, with the secret.
pub async fn create_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EndpointIn = parse_body(&body)?;
    let endpoint = endpoints::create(&state, &merchant.0.id, input.into()).await?;
    Ok(HttpResponse::Created().json(EndpointOut::new(endpoint, true)))
}

/// `GET /v1/webhook_endpoints`.
pub async fn list_endpoints(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<EndpointKind>()?;
    params.finish()?;
    let merchant_id = merchant.0.id.clone();
    let page = state
        .db(move |conn| Ok(WebhookEndpoint::list(conn, &merchant_id, &page)?))
        .await?;
    Ok(
        HttpResponse::Ok().json(ListOut::from_page(page, |endpoint| {
            EndpointOut::new(endpoint, false)
        })),
    )
}

/// `GET /v1/webhook_endpoints/{id}`.
pub async fn get_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = endpoints::find(&state, &merchant.0.id, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(endpoint, false)))
}

/// `PATCH /v1/webhook_endpoints/{id}`: url, enabled_events, description, status.
pub async fn update_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EndpointIn = parse_body(&body)?;
    let endpoint = endpoints::update(&state, &merchant.0.id, &path, input.into()).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(endpoint, false)))
}

/// `DELETE /v1/webhook_endpoints/{id}`.
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    endpoints::delete(&state, &merchant.0.id, &path).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": path.as_str(),
        "object": "webhook_endpoint",
        "deleted": true,
    })))
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret` → the new secret; the old one signs too for
/// 24 hours.
pub async fn rotate_secret(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = endpoints::rotate_secret(&state, &merchant.0.id, &path).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "secret": endpoint.secret.expose(),
        "previous_secret_expires_at": endpoint.previous_secret_until.map(|at| at.and_utc()),
    })))
}

/// `GET /v1/webhook_endpoints/{id}/deliveries`: attempts, newest first.
pub async fn list_deliveries(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let page = params.page::<DeliveryKind>()?;
    params.finish()?;
    let endpoint = endpoints::find(&state, &merchant.0.id, &path).await?;
    let page = state
        .db(move |conn| Ok(WebhookAttempt::list(conn, &endpoint.id, &page)?))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::from_page(page, DeliveryOut::from)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    /// Unix seconds, RFC 3339 or a date.
    pub since: serde_json::Value,
}

/// `POST /v1/webhook_endpoints/{id}/replay {since}` → 202: every event since then that the
/// endpoint wants, sent again.
pub async fn replay(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: ReplayIn = parse_body(&body)?;
    let since = match &input.since {
        serde_json::Value::String(text) => parse_time(text),
        serde_json::Value::Number(number) => parse_time(&number.to_string()),
        _ => Err("since must be Unix seconds, an RFC 3339 time or a date".to_owned()),
    }
    .map_err(|message| ApiError::invalid("since", message))?;
    let count = endpoints::replay(&state, &merchant.0.id, &path, since).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "object": "webhook_replay",
        "endpoint": path.as_str(),
        "since": since.and_utc(),
        "events": count,
    })))
}

/// `POST /v1/webhook_endpoints/{id}/test` → 202: a `webhook.test` event to this endpoint.
pub async fn send_test(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message = endpoints::send_test(&state, &merchant.0.id, &path).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "object": "webhook_test",
        "endpoint": message.endpoint_id,
        "event_id": message.event_id,
        "webhook_id": message.id,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendIn {
    /// One endpoint; every enabled endpoint that wants the event when absent.
    pub endpoint: Option<String>,
}

/// `POST /v1/events/{id}/resend {endpoint?}` → 202, under the `webhook-id` each endpoint had.
pub async fn resend_event(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: ResendIn = if body.is_empty() {
        ResendIn::default()
    } else {
        parse_body(&body)?
    };
    let queued = endpoints::resend(&state, &merchant.0.id, &path, input.endpoint.as_deref())
        .await
        .map_err(|error| match error {
            EndpointError::NotFound(_) => ApiError::from(error).with_param("endpoint"),
            other => other.into(),
        })?;
    Ok(
        HttpResponse::build(StatusCode::ACCEPTED).json(serde_json::json!({
            "object": "webhook_resend",
            "event_id": path.as_str(),
            "endpoints": queued,
        })),
    )
}
