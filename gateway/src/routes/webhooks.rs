//! `POST /webhooks/{merchant}/{provider}`: where providers send webhooks. No Bearer auth: the
//! provider's own signature scheme authenticates it ([`crate::domain::ingest`]). The reply is
//! what that provider expects.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use crate::auth::client_of;
use crate::domain::ingest::{self, Inbound, IngestError};
use crate::error::{ApiError, BUSY_RETRY_AFTER};
use crate::state::AppState;
use crate::store::StoreError;
use paymux_domain::ErrorBody;

/// Request headers never passed on or stored: they may carry credentials of other systems.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

#[utoipa::path(
    post,
    path = "/webhooks/{merchant}/{provider}",
    tag = "Inbound webhooks",
    summary = "Receive a provider's webhook",
    description = "For the providers, not for merchants: each provider is configured to send \
        its webhooks here, signed its own way. A webhook is acknowledged only once it is \
        stored; a redelivery stores nothing new. The reply is what the provider expects \
        (`{\"received\": true}`, Pakhi Pay's `{\"status\": \"received\"}`); a rejection is the \
        API's error body (SpankPay's has `received: false` beside it).",
    params(
        ("merchant" = String, Path, description = "The merchant's id in paymux's config."),
        ("provider" = String, Path, description = "The provider's id in that merchant's config."),
    ),
    request_body(content = Object, description = "The provider's payload, exactly as it sends it."),
    responses(
        (status = 200, description = "Stored, or stored before.", body = Object),
        (status = 400, description = "Forged, stale or malformed (`invalid_signature`, \
            `stale_timestamp`, `malformed_payload`).", body = ErrorBody),
        (status = 401, description = "Skipify: the shared secret does not match.", body = ErrorBody),
        (status = 403, description = "Pakhi Pay: the signature does not match.", body = ErrorBody),
        (status = 404, description = "No such merchant or provider (`not_found`).", body = ErrorBody),
        (status = 413, description = "The body is larger than allowed.", body = ErrorBody),
        (status = 429, description = "Too many webhooks from this address (`rate_limited`).", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(merchant = %path.0, provider = %path.1))]
pub async fn receive(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (merchant, provider) = path.into_inner();
    let inbound = Inbound {
        client: client_of(&request),
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
                let refused = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "webhook_not_stored",
                    message,
                );
                match cause {
                    StoreError::Busy => refused.with_retry_after(BUSY_RETRY_AFTER),
                    _ => refused,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use prometheus::Registry;

    use super::*;
    use crate::domain::test_support::{
        TestState, insert_checkout, order, paid_webhook, sknpay_secret,
    };
    use crate::writer::test_support::{Held, queued};
    use crate::writer::{Writer, WriterOptions};

    #[tokio::test]
    async fn a_webhook_that_finds_the_write_queue_full_gets_503_with_retry_after() {
        let mut test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "sknpay", &order(1_250));
        let secret = sknpay_secret(&test.state);
        let options = WriterOptions {
            writers: 1,
            queue_bound: 1,
            max_group: 8,
        };
        let writer = Writer::start(test.state.db.clone(), options, &Registry::new()).unwrap();
        test.state.writer = writer.clone();
        let held = Held::new(&writer).await;
        let filler = writer.clone();
        let waiting = tokio::spawn(async move { filler.write(|_| Ok::<_, StoreError>(())).await });
        queued(&writer, 1).await;

        let webhook = paid_webhook(&checkout, "evt_1", &secret);
        let refused = ingest::receive(&test.state, webhook).await.unwrap_err();
        let response = ApiError::from(refused).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "1");

        held.release().await;
        waiting.await.unwrap().unwrap();
        let webhook = paid_webhook(&checkout, "evt_1", &secret);
        let retried = ingest::receive(&test.state, webhook).await.unwrap();
        assert_eq!(retried.status, 200, "the provider's retry is taken");
    }
}
