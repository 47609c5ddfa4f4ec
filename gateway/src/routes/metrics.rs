//! `GET /metrics`, and the middleware that counts and times every request for it.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use paymux_schema::db::outbound::WebhookMessage;

use crate::error::ApiError;
use crate::state::AppState;

/// Middleware: counts and times each request, and writes one access log line inside the
/// request's span (so it carries the request id).
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let result = next.call(request).await;
    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response.request().match_pattern(),
        ),
        Err(error) => (error.as_response_error().status_code().as_u16(), None),
    };
    // Unmatched paths share one label so that scanners cannot blow up the series count.
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    }
    tracing::info!(%method, %route, status, latency_ms = elapsed.as_millis() as u64, "request");
    result
}

/// `GET /metrics`: Prometheus text format. Circuit states are read at scrape time, so an open
/// circuit whose cooldown has passed shows as half-open without any call having been made.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Operations",
    summary = "Prometheus metrics",
    description = "Requests by route and status, webhooks received and rejected, the write \
        queue, group commits, circuits and the outbound webhook backlog.",
    responses(
        (status = 200, description = "Prometheus text format.", content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "The store is unreachable.", body = paymux_domain::ErrorBody),
    ),
)]
pub async fn metrics_endpoint(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = state.config();
    let (policy, now) = (config.policy(), Instant::now());
    let mut states = BTreeMap::new();
    for merchant in config.merchants.iter() {
        for provider in merchant.providers.keys() {
            let circuit = state.breakers.view(&merchant.id, provider, policy, now);
            states.insert(
                (merchant.id.as_str(), provider.as_str()),
                circuit.state.gauge(),
            );
        }
    }
    state.metrics.set_circuits(&states);
    let (pending, oldest_due) = state
        .store(|conn| Ok::<_, ApiError>(WebhookMessage::backlog(conn)?))
        .await?;
    let now = paymux_schema::db::now();
    let overdue = oldest_due
        .filter(|due| *due < now)
        .map_or(0.0, |due| (now - due).as_seconds_f64());
    state.metrics.set_outbox(pending, overdue);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render().map_err(ApiError::internal)?))
}
