//! `GET /v1/reconciliation?from=…&to=…[&currency=…][&format=json|csv]`: the merchant's
//! reconciliation report over `[from, to)` (docs/reconciliation.md).

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use paymux_domain::{Currency, ErrorBody};
use paymux_schema::db::reconcile::{self, ReconcileError, Report};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::reconciliation::{self, to_csv};
use crate::routes::list::{ListParams, Time};
use crate::state::AppState;

impl From<ReconcileError> for ApiError {
    fn from(error: ReconcileError) -> ApiError {
        match error {
            ReconcileError::Database(error) => error.into(),
            ReconcileError::Overflow(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "amount_overflow",
                format!("{error}: report a shorter period"),
            ),
        }
    }
}

/// `GET /v1/reconciliation`.
#[utoipa::path(
    get,
    path = "/v1/reconciliation",
    tag = "Reconciliation",
    summary = "Reconciliation report",
    description = "Totals per provider and currency over `[from, to)`, and every discrepancy \
        finance must look at (docs/reconciliation.md).",
    params(
        ("from" = Time, Query, description = "The period's start."),
        ("to" = Time, Query, description = "The period's end, excluded."),
        ("currency" = Option<Currency>, Query, description = "One currency only."),
        ("format" = Option<String>, Query, description = "`json` (the default) or `csv`.", pattern = "^(json|csv)$"),
    ),
    responses(
        (status = 200, description = "The report.", content(
            (Report = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A period bound is missing or invalid, or a parameter is \
            unknown.", body = ErrorBody),
        (status = 422, description = "The period's sums overflow (`amount_overflow`): report a \
            shorter one.", body = ErrorBody),
    ),
)]
pub async fn reconciliation(
    state: web::Data<AppState>,
    merchant: Authenticated,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut params = ListParams::parse(request.query_string())?;
    let csv = params.one_of("format", &["json", "csv"])?.as_deref() == Some("csv");
    let required = |params: &mut ListParams, name: &str| {
        params
            .text(name)
            .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
    };
    let (from, to) = (required(&mut params, "from")?, required(&mut params, "to")?);
    let currency = params.text("currency");
    params.finish()?;
    let scope = reconciliation::scope(&from, &to, currency.as_deref(), Some(merchant.0.id.clone()))
        .map_err(|(param, message)| ApiError::invalid(param, message))?;
    let report = state
        .db(move |conn| Ok(reconcile::reconcile(conn, &scope)?))
        .await?;
    if csv {
        let body = to_csv(&report).map_err(ApiError::internal)?;
        let content_type = "text/csv; charset=utf-8"
            .parse()
            .map_err(ApiError::internal)?;
        return Ok(HttpResponse::Ok()
            .content_type(ContentType(content_type))
            .body(body));
    }
    Ok(HttpResponse::Ok().json(report))
}
