//! Merchant authentication: `Authorization: Bearer <api key>`.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::error::ApiError;
use crate::merchants::Merchant;
use crate::state::AppState;

/// The merchant a request authenticated as. Handlers take it as an argument; every query they
/// make is scoped to it, so another merchant's objects are simply not found.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Merchant>);

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
}

fn authenticate(request: &HttpRequest) -> Result<Authenticated, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state is missing"))?;
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing API key: send `Authorization: Bearer <key>`"))?;
    let key = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| unauthorized("malformed Authorization header: expected `Bearer <key>`"))?;
    state
        .merchants
        .authenticate(key)
        .map(Authenticated)
        .ok_or_else(|| unauthorized("invalid API key"))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}
