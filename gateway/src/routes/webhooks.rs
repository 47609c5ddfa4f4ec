//! `POST /webhooks/{merchant}/{provider}`: where providers send webhooks. No Bearer auth: the
//! provider's own signature scheme authenticates it ([`crate::domain::ingest`]). The reply is
//! what that provider expects.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use crate::client_address::client_address;
use crate::domain::ingest::{self, Inbound, IngestError};
use crate::error::ApiError;
use crate::state::AppState;

/// Request headers never passed on or stored: they may carry credentials of other systems.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

#[tracing::instrument(skip_all, fields(merchant = %path.0, provider = %path.1))]
pub async fn receive(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant, provider) = path.into_inner();
    let inbound = Inbound {
        client: client_address(&request, &state.live.started().server.trusted_proxies),
        headers: request
            .headers()
            .iter()
            .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body,
        received_at: Utc::now(),
        merchant,
        provider,
    };
    let reply = ingest::receive(&state, inbound).await?;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    Ok(HttpResponse::build(status)
        .content_type(reply.content_type)
        .body(reply.body))
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> ApiError {
        let message = error.to_string();
        match error {
            IngestError::NotConfigured(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            IngestError::RateLimited { retry_after } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .with_retry_after(retry_after)
            }
            IngestError::NotConfirmed(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook_not_confirmed",
                message,
            ),
            IngestError::NotStored(cause) => {
                tracing::error!(error = %cause, "a webhook could not be stored");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "webhook_not_stored",
                    message,
                )
            }
        }
    }
}
