//! The simulated Pakhi Pay API over HTTP, at `/sandbox/pakhi/`: create and verify with the same
//! `api-key` header and bodies as `https://pakhipay.com/`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::{header, respond, sandbox_of};
use crate::error::ApiError;
use crate::state::AppState;

async fn create_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(&state)?;
    Ok(respond(sandbox.pakhi.create_payment(
        header(&request, "api-key"),
        &body,
        Utc::now(),
    )))
}

async fn verify_payment(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(&state)?;
    Ok(respond(
        sandbox
            .pakhi
            .verify_payment(header(&request, "api-key"), &body),
    ))
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/sandbox/pakhi/api/request/payment/create/",
            web::post().to(create_payment),
        )
        .route(
            "/sandbox/pakhi/api/request/payment/verify/",
            web::post().to(verify_payment),
        );
}
