//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// A health check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (the process is up) or `ready` (and its store answers).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Why this node serves in a lesser way, while it does: Redis does not answer, so its rate
    /// limits and circuits are its own. Absent when all is well.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub degraded: Option<String>,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    summary = "Liveness",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        degraded: None,
    })
}

/// `GET /readyz`: the database answers, so requests can be served.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "The store answers: requests can be served (with `degraded` \
            saying why, when Redis does not answer and this node counts limits and circuits on \
            its own).", body = Health),
    ),
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db(|conn| paymux_schema::db::ping(conn).map_err(ApiError::database_unavailable))
        .await?;
    // Why in words, not Redis's own error: this page is public; the log has the error.
    let degraded = match &state.redis {
        Some(redis) if !redis.is_up() || !redis.ping().await => {
            Some("redis does not answer: rate limits and circuits are this node's own".to_owned())
        }
        _ => None,
    };
    Ok(HttpResponse::Ok().json(Health {
        status: "ready",
        degraded,
    }))
}
