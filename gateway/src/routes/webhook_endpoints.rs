//! `/v1/webhook_endpoints`: where a merchant is sent events, Stripe-shaped; the attempts made
//! to each; resending, replaying and testing. What each does is
//! [`crate::domain::endpoints`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use paymux_domain::api_schema::string_enum;
use paymux_domain::ids::{DeliveryKind, EndpointKind};
use paymux_domain::{
    AuditActor, AuditChannel, DeliveryId, EndpointId, EndpointStatus, ErrorBody, EventId,
    EventType, MessageId,
};
use paymux_schema::db::outbound::{EndpointSecret, WebhookAttempt, WebhookEndpoint};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::auth::{Authenticated, client_of};
use crate::domain::audit::Actor;
use crate::domain::endpoints::{self, EndpointChange, EndpointError};
use crate::error::ApiError;
use crate::routes::json::{deserialize_time, parse_body};
use crate::routes::list::{ListOut, ListParams, Paging, Time};
use crate::state::AppState;

/// The merchant acting through the endpoint API, as the audit log names it.
fn api_actor(merchant: &Authenticated, request: &HttpRequest) -> Actor {
    Actor {
        kind: AuditActor::Merchant,
        merchant: Some(merchant.0.id.clone()),
        channel: AuditChannel::Api,
        client_address: client_of(request),
    }
}

/// An endpoint as the API shows it; `secret` only when it was just made or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointOut {
    pub id: EndpointId,
    #[schema(example = "webhook_endpoint")]
    pub object: &'static str,
    pub url: String,
    #[schema(value_type = Vec<EventSelector>)]
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    /// Why paymux disabled it, when it did.
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`), in the answer to a create only: keep it.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shown_once")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<EndpointSecret>,
    pub created_at: DateTime<Utc>,
}

impl EndpointOut {
    fn new(endpoint: WebhookEndpoint, show_secret: bool) -> EndpointOut {
        EndpointOut {
            secret: show_secret.then(|| endpoint.secret.clone()),
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
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: DeliveryId,
    #[schema(example = "webhook_delivery")]
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

/// The body of `POST /v1/webhook_endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://shop.example/paymux/webhooks",
    "enabled_events": ["payment.succeeded", "refund.succeeded"]
}))]
pub struct EndpointCreate {
    /// An `https://` URL on the public internet (`http://` and private addresses only with
    /// the sandbox on).
    #[schema(format = "uri")]
    pub url: String,
    /// The event types to send; `["*"]`, every type, when absent.
    #[schema(value_type = Option<Vec<EventSelector>>, min_items = 1)]
    pub enabled_events: Option<Vec<String>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    pub status: Option<EndpointStatus>,
}

/// The body of `PATCH /v1/webhook_endpoints/{id}`: only what changes; a `null` description
/// removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointUpdate {
    #[schema(format = "uri")]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<EventSelector>>, min_items = 1)]
    pub enabled_events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    pub status: Option<EndpointStatus>,
}

/// An event type an endpoint is sent, or `*` for all: what `enabled_events` holds.
pub struct EventSelector;

impl PartialSchema for EventSelector {
    fn schema() -> RefOr<Schema> {
        let types = EventType::ALL.iter().map(|event_type| event_type.as_str());
        string_enum(
            std::iter::once("*").chain(types),
            "an event type, or `*` for all",
        )
    }
}

impl ToSchema for EventSelector {}

impl From<EndpointCreate> for EndpointChange {
    fn from(input: EndpointCreate) -> EndpointChange {
        EndpointChange {
            url: Some(input.url),
            enabled_events: input.enabled_events,
            description: Some(input.description),
            status: input.status,
        }
    }
}

impl From<EndpointUpdate> for EndpointChange {
    fn from(input: EndpointUpdate) -> EndpointChange {
        EndpointChange {
            url: input.url,
            enabled_events: input.enabled_events,
            description: input.description,
            status: input.status,
        }
    }
}

/// What a delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointDeleted {
    pub id: String,
    #[schema(example = "webhook_endpoint")]
    pub object: &'static str,
    pub deleted: bool,
}

/// A secret in the one answer that shows it; everywhere else (`Debug`, logs) it stays hidden.
fn shown_once<S: serde::Serializer>(
    secret: &Option<EndpointSecret>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_str(secret.expose()),
        None => serializer.serialize_none(),
    }
}

/// What a rotation answers: the new secret, and until when the old one signs too.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    #[serde(serialize_with = "shown_once")]
    #[schema(value_type = String)]
    pub secret: Option<EndpointSecret>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// What a replay answers: how many events were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayQueued {
    #[schema(example = "webhook_replay")]
    pub object: &'static str,
    pub endpoint: String,
    pub since: DateTime<Utc>,
    pub events: usize,
}

/// What a test answers: the event it sends, and the `webhook-id` it goes under.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    #[schema(example = "webhook_test")]
    pub object: &'static str,
    pub endpoint: EndpointId,
    pub event_id: EventId,
    pub webhook_id: MessageId,
}

/// What a resend answers: the endpoints the event goes to again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendQueued {
    #[schema(example = "webhook_resend")]
    pub object: &'static str,
    pub event_id: String,
    pub endpoints: Vec<EndpointId>,
}

/// `POST /v1/webhook_endpoints` → 201, with the secret.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints",
    tag = "Webhook endpoints",
    summary = "Create a webhook endpoint",
    request_body = EndpointCreate,
    responses(
        (status = 201, description = "The endpoint, with its signing secret.", body = EndpointOut, links(
            ("Retrieve" = (operation_id = "get_endpoint", parameters(("id" = "$response.body#/id")))),
            ("Update" = (operation_id = "update_endpoint", parameters(("id" = "$response.body#/id")))),
            ("Delete" = (operation_id = "delete_endpoint", parameters(("id" = "$response.body#/id")))),
            ("RotateSecret" = (operation_id = "rotate_secret", parameters(("id" = "$response.body#/id")))),
            ("Deliveries" = (operation_id = "list_deliveries", parameters(("id" = "$response.body#/id")))),
            ("Replay" = (operation_id = "replay", parameters(("id" = "$response.body#/id")))),
            ("Test" = (operation_id = "send_test", parameters(("id" = "$response.body#/id")))),
        )),
    ),
)]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EndpointCreate = parse_body(&body)?;
    let endpoint = endpoints::create(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        input.into(),
    )
    .await?;
    Ok(HttpResponse::Created().json(EndpointOut::new(endpoint, true)))
}

/// `GET /v1/webhook_endpoints`.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints",
    tag = "Webhook endpoints",
    summary = "List webhook endpoints",
    params(Paging<EndpointKind>),
    responses(
        (status = 200, description = "The merchant's endpoints, newest first, without secrets.", body = ListOut<EndpointOut>),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints/{id}",
    tag = "Webhook endpoints",
    summary = "Retrieve a webhook endpoint",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint, without its secret.", body = EndpointOut),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn get_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = endpoints::find(&state, &merchant.0.id, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(endpoint, false)))
}

/// `PATCH /v1/webhook_endpoints/{id}`: url, enabled_events, description, status.
#[utoipa::path(
    patch,
    path = "/v1/webhook_endpoints/{id}",
    tag = "Webhook endpoints",
    summary = "Update a webhook endpoint",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body = EndpointUpdate,
    responses(
        (status = 200, description = "The endpoint as changed.", body = EndpointOut),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn update_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EndpointUpdate = parse_body(&body)?;
    let endpoint = endpoints::update(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
        input.into(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(endpoint, false)))
}

/// `DELETE /v1/webhook_endpoints/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/webhook_endpoints/{id}",
    tag = "Webhook endpoints",
    summary = "Delete a webhook endpoint",
    description = "Its pending deliveries and their attempts go with it.",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "Deleted.", body = EndpointDeleted),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    endpoints::delete(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
    )
    .await?;
    Ok(HttpResponse::Ok().json(EndpointDeleted {
        id: path.into_inner(),
        object: "webhook_endpoint",
        deleted: true,
    }))
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret` → the new secret; the old one signs too for
/// 24 hours.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/rotate_secret",
    tag = "Webhook endpoints",
    summary = "Rotate an endpoint's secret",
    description = "For 24 hours webhooks carry a signature with the old secret too, so that \
        the receiver can switch without losing any.",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The new secret.", body = RotatedSecret),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = endpoints::rotate_secret(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
    )
    .await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret: Some(endpoint.secret),
        previous_secret_expires_at: endpoint.previous_secret_until.map(|at| at.and_utc()),
    }))
}

/// `GET /v1/webhook_endpoints/{id}/deliveries`: attempts, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhook_endpoints/{id}/deliveries",
    tag = "Webhook endpoints",
    summary = "List an endpoint's delivery attempts",
    params(("id" = EndpointId, Path, description = "The endpoint's id."), Paging<DeliveryKind>),
    responses(
        (status = 200, description = "Every attempt to deliver to this endpoint, newest first.", body = ListOut<DeliveryOut>),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
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

/// The body of a replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2025-12-01"}))]
pub struct ReplayIn {
    /// Every event created since then that the endpoint wants is sent again.
    #[serde(deserialize_with = "deserialize_time")]
    #[schema(value_type = Time)]
    pub since: NaiveDateTime,
}

/// `POST /v1/webhook_endpoints/{id}/replay {since}` → 202: every event since then that the
/// endpoint wants, sent again.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/replay",
    tag = "Webhook endpoints",
    summary = "Replay events to an endpoint",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    request_body = ReplayIn,
    responses(
        (status = 202, description = "The events are queued.", body = ReplayQueued),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn replay(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let since = parse_body::<ReplayIn>(&body)?.since;
    let count = endpoints::replay(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
        since,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(ReplayQueued {
        object: "webhook_replay",
        endpoint: path.into_inner(),
        since: since.and_utc(),
        events: count,
    }))
}

/// `POST /v1/webhook_endpoints/{id}/test` → 202: a `webhook.test` event to this endpoint.
#[utoipa::path(
    post,
    path = "/v1/webhook_endpoints/{id}/test",
    tag = "Webhook endpoints",
    summary = "Send a test event",
    params(("id" = EndpointId, Path, description = "The endpoint's id.")),
    responses(
        (status = 202, description = "A `webhook.test` event is queued for this endpoint.", body = TestQueued),
        (status = 400, description = "The endpoint is disabled (`param`: `status`): enable it \
            first.", body = ErrorBody),
        (status = 404, description = "No such endpoint of this merchant.", body = ErrorBody),
    ),
)]
pub async fn send_test(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message = endpoints::send_test(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(TestQueued {
        object: "webhook_test",
        endpoint: message.endpoint_id,
        event_id: message.event_id,
        webhook_id: message.id,
    }))
}

/// The body of a resend, which may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendIn {
    /// One endpoint; every enabled endpoint that wants the event when absent.
    #[schema(value_type = Option<EndpointId>)]
    pub endpoint: Option<String>,
}

/// `POST /v1/events/{id}/resend {endpoint?}` → 202, under the `webhook-id` each endpoint had.
#[utoipa::path(
    post,
    path = "/v1/events/{id}/resend",
    tag = "Webhook endpoints",
    summary = "Resend an event",
    description = "Sends the event again, under the `webhook-id` each endpoint had for it.",
    params(("id" = EventId, Path, description = "The event's id.")),
    request_body(content = Option<ResendIn>),
    responses(
        (status = 202, description = "The event is queued again.", body = ResendQueued),
        (status = 404, description = "No such event, or no such endpoint (`param`: \
            `endpoint`), of this merchant.", body = ErrorBody),
    ),
)]
pub async fn resend_event(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // No body, or `null`, is every endpoint.
    let input = match body.is_empty() {
        true => ResendIn::default(),
        false => parse_body::<Option<ResendIn>>(&body)?.unwrap_or_default(),
    };
    let queued = endpoints::resend(
        &state,
        Some(&api_actor(&merchant, &request)),
        &merchant.0.id,
        &path,
        input.endpoint.as_deref(),
    )
    .await
    .map_err(|error| match error {
        EndpointError::NotFound(_) => ApiError::from(error).with_param("endpoint"),
        other => other.into(),
    })?;
    Ok(
        HttpResponse::build(StatusCode::ACCEPTED).json(ResendQueued {
            object: "webhook_resend",
            event_id: path.into_inner(),
            endpoints: queued,
        }),
    )
}
