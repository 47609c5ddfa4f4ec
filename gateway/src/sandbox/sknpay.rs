//! The simulated SKN Pay's API over HTTP, at `/sandbox/sknpay/api/v1/`: the same paths, headers
//! and bodies as `https://app.sknpay.com/api/v1/`. Webhooks an API call triggers (cancel,
//! refund) are sent after the answer, as SKN Pay does.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::{call, header, respond, sandbox_of as sandbox, send_later};
use crate::error::ApiError;
use crate::state::AppState;

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
