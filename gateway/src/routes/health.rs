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
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `GET /readyz`: the database answers, so requests can be served.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "The store answers: requests can be served.", body = Health),
    ),
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db(|conn| paymux_schema::db::ping(conn).map_err(ApiError::database_unavailable))
        .await?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
