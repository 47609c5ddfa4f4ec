//! Merchant authentication (`Authorization: Bearer <api key>`) and each key's rate limit.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

use crate::client_address::client_address;
use crate::error::ApiError;
use crate::live::LiveConfig;
use crate::merchants::Merchant;
use crate::state::AppState;

/// The merchant a request authenticated as, from the config snapshot the request started
/// with: a reload in the meantime does not change it. Handlers take it as an argument; every
/// query they make is scoped to it, so another merchant's objects are simply not found.
#[derive(Debug, Clone)]
pub struct Authenticated(
    pub Arc<Merchant>,
    /// The config snapshot the merchant was found in: the request reads everything else it
    /// needs from the config (routing policy, timeouts) from it too.
    pub Arc<LiveConfig>,
);

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
}

/// The bearer token of a request: `None` when there is no Authorization header, an error when
/// it is not `Bearer <token>`.
pub fn bearer_token(request: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(header) = request.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(Some)
        .ok_or_else(|| unauthorized("malformed Authorization header: expected `Bearer <key>`"))
}

pub(crate) fn state_of(request: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state is missing"))
}

/// The client's address, behind the configured trusted proxies, as the audit log keeps it.
pub(crate) fn client_of(request: &HttpRequest) -> Option<std::net::IpAddr> {
    let state = state_of(request).ok()?;
    client_address(request, &state.live.started().server.trusted_proxies)
}

async fn authenticate(request: HttpRequest) -> Result<Authenticated, ApiError> {
    let state = state_of(&request)?;
    let key = bearer_token(&request)?
        .ok_or_else(|| unauthorized("missing API key: send `Authorization: Bearer <key>`"))?;
    let config = state.config();
    let (merchant, key_hash) = config
        .merchants
        .authenticate(key)
        .ok_or_else(|| unauthorized("invalid API key"))?;
    if let Err(wait) = state
        .limiter
        .take_shared(key_hash, merchant.rate_limit)
        .await
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this API key; retry after the time in Retry-After",
        )
        .with_retry_after(wait));
    }
    Ok(Authenticated(merchant, config))
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(request.clone()))
    }
}
