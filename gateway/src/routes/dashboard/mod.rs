//! The dashboard for ops and finance (`/dashboard`): pages rendered by the gateway itself
//! (maud templates compiled into the binary, one stylesheet embedded, no script), signed in with
//! the admin token (ops: every merchant) or a merchant's API key (that merchant only).
//!
//! Every page answers with a Content-Security-Policy that allows no inline script and no other
//! origin, is never cached, and cannot be framed. Sessions live in the store ([`session`]), so
//! any node accepts them; every form that changes something carries the session's CSRF token.

mod audit;
mod checkouts;
mod layout;
mod overview;
mod playground;
mod providers;
mod receipts;
mod reconciliation;
mod session;
mod viewer;
mod webhooks;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use maud::Markup;

use self::viewer::Viewer;
use crate::routes::{Route, route};

/// The dashboard's routes, none of them in the API document: they answer people, in HTML.
pub fn routes() -> Vec<Route> {
    pages()
        .into_iter()
        .map(|route| Route {
            handler: route.handler.wrap(from_fn(with_navigation)),
            ..route
        })
        .collect()
}

/// A page that failed after its viewer was known answers within the dashboard's navigation,
/// so that the person can go on from there.
async fn with_navigation(
    request: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(request).await?;
    let page = {
        let failed = response.response().error();
        let failed = failed.and_then(|error| error.as_error::<DashboardError>());
        let viewer = response.request().extensions().get::<Viewer>().cloned();
        match (failed, viewer) {
            (Some(error), Some(viewer)) => error.page(Some((&viewer, response.request().path()))),
            _ => return Ok(response),
        }
    };
    Ok(response.into_response(page))
}

fn pages() -> Vec<Route> {
    use actix_web::http::Method as M;
    const WHY: &str = "the dashboard: pages for people, not an API";
    vec![
        route(M::GET, "/dashboard", overview::overview).undocumented(WHY),
        route(M::GET, "/dashboard/sign-in", session::sign_in_page).undocumented(WHY),
        route(M::POST, "/dashboard/sign-in", session::sign_in).undocumented(WHY),
        route(M::POST, "/dashboard/sign-out", session::sign_out).undocumented(WHY),
        route(M::GET, "/dashboard/checkouts", checkouts::list).undocumented(WHY),
        route(M::GET, "/dashboard/checkouts/{id}", checkouts::timeline).undocumented(WHY),
        route(
            M::POST,
            "/dashboard/checkouts/{id}/refund",
            checkouts::refund,
        )
        .undocumented(WHY),
        route(
            M::POST,
            "/dashboard/checkouts/{id}/cancel",
            checkouts::cancel,
        )
        .undocumented(WHY),
        route(M::GET, "/dashboard/receipts", receipts::receipts).undocumented(WHY),
        route(M::GET, "/dashboard/webhooks", webhooks::webhooks).undocumented(WHY),
        route(M::POST, "/dashboard/webhooks/resend", webhooks::resend).undocumented(WHY),
        route(
            M::POST,
            "/dashboard/webhooks/{id}/test",
            webhooks::send_test,
        )
        .undocumented(WHY),
        route(M::POST, "/dashboard/webhooks/{id}/replay", webhooks::replay).undocumented(WHY),
        route(M::GET, "/dashboard/audit", audit::audit).undocumented(WHY),
        route(M::GET, "/dashboard/playground", playground::playground).undocumented(WHY),
        route(M::POST, "/dashboard/playground/run", playground::run).undocumented(WHY),
        route(M::GET, "/dashboard/providers", providers::providers).undocumented(WHY),
        route(M::POST, "/dashboard/providers/reload", providers::reload).undocumented(WHY),
        route(
            M::GET,
            "/dashboard/reconciliation",
            reconciliation::reconciliation,
        )
        .undocumented(WHY),
        route(M::GET, "/dashboard/reconciliation.csv", reconciliation::csv).undocumented(WHY),
        route(
            M::GET,
            "/dashboard/assets/dashboard.css",
            layout::stylesheet,
        )
        .undocumented(WHY),
    ]
}

/// Where a browser without a session is sent.
const SIGN_IN_PATH: &str = "/dashboard/sign-in";

/// No inline script or style, nothing from another origin, forms posted only here, never in a
/// frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page: `markup` with the dashboard's security headers.
fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    secure(&mut response);
    response
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// The headers every dashboard answer carries, pages and redirects alike.
fn secure(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
}

/// A redirect after a form (303: the browser follows with a GET).
fn see_other(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    secure(&mut response);
    response
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// Why a dashboard request got no page of its own: each is answered with a page, or with the
/// sign-in page for a browser that has no session.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("sign in to see this page")]
    SignIn,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("too many sign-in attempts from this address; try again in {0} seconds")]
    TooManyAttempts(u64),
    /// Logged; the page says only that something went wrong.
    #[error("{0}")]
    Internal(String),
}

impl DashboardError {
    fn internal(error: impl std::fmt::Display) -> DashboardError {
        DashboardError::Internal(error.to_string())
    }
}

impl From<crate::store::StoreError> for DashboardError {
    fn from(error: crate::store::StoreError) -> DashboardError {
        DashboardError::internal(error)
    }
}

impl From<diesel::result::Error> for DashboardError {
    fn from(error: diesel::result::Error) -> DashboardError {
        DashboardError::internal(error)
    }
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::SignIn => StatusCode::SEE_OTHER,
            DashboardError::Forbidden(_) => StatusCode::FORBIDDEN,
            DashboardError::NotFound(_) => StatusCode::NOT_FOUND,
            DashboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashboardError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            DashboardError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let DashboardError::Internal(error) = self {
            tracing::error!(%error, "a dashboard page failed");
        }
        self.page(None)
    }
}

impl DashboardError {
    /// The page saying what went wrong: within the navigation of `viewer` at `path` when the
    /// request got as far as knowing who it is, else on its own.
    fn page(&self, shell: Option<(&Viewer, &str)>) -> HttpResponse {
        let message = match self {
            DashboardError::SignIn => return see_other(SIGN_IN_PATH),
            DashboardError::Internal(_) => {
                "Something went wrong on our side; the server's log says what.".to_owned()
            }
            other => other.to_string(),
        };
        let status = self.status_code();
        let markup = match shell {
            Some((viewer, path)) => layout::failed_page(viewer, path, status, &message),
            None => layout::message_page(&message),
        };
        let mut response = html(status, markup);
        if let DashboardError::TooManyAttempts(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }
}
