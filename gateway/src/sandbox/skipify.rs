//! The simulated Skipify PayLink API over HTTP, at `/sandbox/skipify/`: `POST` with the same
//! `x-merchant-id` and `Authorization: ApiKey …` headers as `https://paylinks.skipify.com`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::{header, respond, sandbox_of};
use crate::error::ApiError;
use crate::state::AppState;

async fn create_paylink(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(&state)?;
    Ok(respond(sandbox.skipify.create_paylink(
        header(&request, "authorization"),
        header(&request, "x-merchant-id"),
        &body,
        Utc::now(),
    )))
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/sandbox/skipify/", web::post().to(create_paylink));
}
