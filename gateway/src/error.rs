//! The one error type that reaches API clients.
//!
//! Handlers return [`ApiError`]; it renders as `{"error": {"code", "message", "param"}}` with
//! its status. Anything unexpected goes through [`ApiError::internal`], which logs the cause
//! and answers an opaque 500. Framework errors (unknown route, wrong method, bad JSON, oversize
//! body) are turned into the same shape by [`json_error_bodies`] and the extractor configs.

use std::fmt;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use paymux_domain::ErrorBody;
use paymux_providers::ProviderError;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Seconds after which a retry may succeed, sent as `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// Sends `wait` as `Retry-After`, in whole seconds rounded up (at least 1), so that a
    /// client retrying on time is not refused again.
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> ApiError {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    /// A request parameter or body field that is not acceptable.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_param(param)
    }

    /// A missing object, or another merchant's: the two are indistinguishable on purpose.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_missing",
            format!("no such {what}: `{id}`"),
        )
    }

    /// Logs `cause` and answers a 500 that carries no internals.
    pub fn internal(cause: impl fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    /// The database could not be reached in time: a retry may succeed.
    pub fn database_unavailable(cause: impl fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "database unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry later",
        )
    }

    /// The JSON body this error is sent with.
    pub fn body(&self) -> String {
        let body = ErrorBody::new(self.code, self.message.as_str(), self.param.as_deref());
        serde_json::to_string(&body).unwrap_or_else(|_| {
            r#"{"error":{"code":"internal_error","message":"error serialization failed","param":null}}"#
                .to_owned()
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.content_type("application/json").body(self.body())
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> ApiError {
        let message = error.to_string();
        match error {
            ProviderError::Unsupported { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_operation",
                message,
            ),
            ProviderError::InvalidRequest { param, .. } => {
                let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
                match param {
                    Some(param) => error.with_param(param),
                    None => error,
                }
            }
            ProviderError::Upstream { status: 409, .. } => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", message)
            }
            ProviderError::Upstream { status: 429, .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            // The provider may have acted. What a retry then does depends on the operation
            // and the provider: routing adds it where it knows (see `routes::checkouts`).
            ProviderError::Timeout { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "provider_timeout", message)
            }
            // A broken connection, or a proxy's 502/504 (`ProviderError::outcome_unknown`).
            error if error.outcome_unknown() => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider_outcome_unknown", message)
            }
            // Webhook rejections are answered by the ingest pipeline in the provider's terms;
            // reaching an API answer, these mean the provider's answer was not usable. (An
            // `Interrupted` never gets here: its outcome is always unknown.)
            ProviderError::InvalidSignature(_)
            | ProviderError::StaleTimestamp(_)
            | ProviderError::MalformedPayload(_)
            | ProviderError::Upstream { .. }
            | ProviderError::Interrupted(_)
            | ProviderError::Unreachable(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", message)
            }
        }
    }
}

/// When to try again after the write queue was full: a group commit takes milliseconds, so
/// the queue has room again well within a second.
pub const BUSY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable(cause) => ApiError::database_unavailable(cause),
            StoreError::Commit(cause) => ApiError::database_unavailable(cause),
            StoreError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_busy",
                StoreError::Busy.to_string(),
            )
            .with_retry_after(BUSY_RETRY_AFTER),
            cause => ApiError::internal(cause),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> ApiError {
        ApiError::internal(error)
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(error: r2d2::Error) -> ApiError {
        ApiError::database_unavailable(error)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> ApiError {
        ApiError::internal(error)
    }
}

/// The code for a framework error response of `status` that carries no JSON of its own.
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        status if status.is_server_error() => "internal_error",
        _ => "invalid_request",
    }
}

fn message_for_status(request: &HttpRequest, status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => format!("no route for {} {}", request.method(), request.path()),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{} is not allowed on {}", request.method(), request.path())
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than allowed".to_owned(),
        status if status.is_server_error() => {
            "an internal error occurred; it has been logged".to_owned()
        }
        status => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    }
}

/// An `ErrorHandlers` default handler: any error response that is not JSON yet (the router's
/// 404 and 405, payload errors, …) gets the API's JSON error body with a code for its status.
/// Off the API (`/v1/`, `/webhooks/`), a page written for people (HTML: the dashboard's, a
/// payer's) is left as it is.
pub fn json_error_bodies<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let path = response.request().path();
    let api = path.starts_with("/v1/") || path.starts_with("/webhooks/");
    let page = content_type.starts_with("text/html") && !api;
    if content_type.starts_with("application/json") || page {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let error = ApiError::new(
        status,
        code_for_status(status),
        message_for_status(response.request(), status),
    );
    let (request, old) = response.into_parts();
    let mut new = HttpResponse::build(status);
    // Keep headers such as `Allow` and `Retry-After`, but not the old body's framing.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    let new = new
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(error.body());
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, new).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_outcome_is_said_as_such_and_promises_no_retry() {
        let cases = [
            (
                ProviderError::Timeout {
                    elapsed: std::time::Duration::from_secs(1),
                },
                504,
                "provider_timeout",
            ),
            (
                ProviderError::Interrupted("reset".into()),
                502,
                "provider_outcome_unknown",
            ),
            (
                ProviderError::Upstream {
                    status: 504,
                    message: "proxy gave up".into(),
                },
                502,
                "provider_outcome_unknown",
            ),
            (
                ProviderError::Upstream {
                    status: 503,
                    message: "down".into(),
                },
                502,
                "provider_error",
            ),
        ];
        for (error, status, code) in cases {
            let answer = ApiError::from(error);
            assert_eq!((answer.status.as_u16(), answer.code), (status, code));
            // Whether a retry is safe depends on the operation and provider: routing says it.
            assert!(!answer.message.contains("Idempotency-Key"), "{answer}");
        }
    }
}
