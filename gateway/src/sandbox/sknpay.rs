//! The simulated SKN Pay's API over HTTP, at `/sandbox/sknpay/api/v1/`: the same paths, headers
//! and bodies as `https://app.sknpay.com/api/v1/`. Webhooks an API call triggers (cancel,
//! refund) are sent after the answer, as SKN Pay does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use paymux_providers::sandbox::OutgoingWebhook;
use paymux_providers::sknpay::sandbox::{SandboxCall, SandboxResponse};

use crate::error::ApiError;
use crate::state::AppState;

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

fn call<'a>(request: &'a HttpRequest, body: &'a [u8]) -> SandboxCall<'a> {
    SandboxCall {
        authorization: header(request, "authorization"),
        idempotency_key: header(request, "idempotency-key"),
        body,
    }
}

fn respond(response: SandboxResponse) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK))
        .json(response.body)
}

fn sandbox(state: &AppState) -> Result<std::sync::Arc<super::Sandbox>, ApiError> {
    super::sandbox_of(state)
}

/// Sends a webhook in the background, after the API answer it follows.
fn send_later(sandbox: &super::Sandbox, webhook: Option<OutgoingWebhook>) {
    if let Some(webhook) = webhook {
        let sender = sandbox.sender.clone();
        tokio::spawn(async move { sender.send(webhook).await });
    }
}

async fn create_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox(&state)?;
    Ok(respond(
        sandbox
            .sknpay
            .create_payment(call(&request, &body), Utc::now()),
    ))
}

async fn retrieve_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox(&state)?;
    Ok(respond(sandbox.sknpay.retrieve_payment(
        header(&request, "authorization"),
        &path,
        Utc::now(),
    )))
}

async fn cancel_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox(&state)?;
    let (response, webhook) =
        sandbox
            .sknpay
            .cancel_payment(call(&request, &body), &path, Utc::now());
    send_later(&sandbox, webhook);
    Ok(respond(response))
}

async fn create_refund(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox(&state)?;
    let (response, webhook) = sandbox
        .sknpay
        .create_refund(call(&request, &body), Utc::now());
    send_later(&sandbox, webhook);
    Ok(respond(response))
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/sandbox/sknpay/api/v1/payments",
            web::post().to(create_payment),
        )
        .route(
            "/sandbox/sknpay/api/v1/payments/{id}",
            web::get().to(retrieve_payment),
        )
        .route(
            "/sandbox/sknpay/api/v1/payments/{id}/cancel",
            web::post().to(cancel_payment),
        )
        .route(
            "/sandbox/sknpay/api/v1/refunds",
            web::post().to(create_refund),
        );
}
