//! The simulated Kwik's API over HTTP, at `/sandbox/kwik/2.0/`: `POST checkout/link` with the
//! same Basic auth, request signature and bodies as `https://api.kwik.co.za/2.0/`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::{call, respond, sandbox_of};
use crate::error::ApiError;
use crate::state::AppState;

async fn create_link(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(&state)?;
    Ok(respond(
        sandbox.kwik.create_link(call(&request, &body), Utc::now()),
    ))
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.route(
        "/sandbox/kwik/2.0/checkout/link",
        web::post().to(create_link),
    );
}
