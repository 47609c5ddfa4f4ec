//! HTTP routes. Each module holds one family of endpoints and its request/response types;
//! [`table`] lists them all, for the app to mount and for the API document's test to check.

use crate::settings::Role;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

pub mod admin;
pub mod checkouts;
pub mod dashboard;
pub mod events;
pub mod export;
pub mod health;
pub mod json;
pub mod list;
pub mod metrics;
pub mod openapi;
pub mod pay;
pub mod reconciliation;
pub mod refunds;
pub mod webhook_endpoints;
pub mod webhooks;

/// Whether the API document describes a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Documented {
    Yes,
    /// Left out, for the reason given.
    No(&'static str),
}

/// One route: the method and path the app serves, and its handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub documented: Documented,
    handler: actix_web::Route,
}

fn route<F, Args>(method: Method, path: &'static str, handler: F) -> Route
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    Route {
        handler: web::method(method.clone()).to(handler),
        method,
        path,
        documented: Documented::Yes,
    }
}

impl Route {
    fn undocumented(self, reason: &'static str) -> Route {
        Route {
            documented: Documented::No(reason),
            ..self
        }
    }
}

/// Every route paymux serves but the sandbox's (`/sandbox/…`, mounted with the sandbox), in
/// matching order: `/v1/events/export` comes before `/v1/events/{id}`, which would take
/// "export" for an id.
pub fn table() -> Vec<Route> {
    [
        payment_routes(),
        endpoint_routes(),
        admin_routes(),
        other_routes(),
        dashboard::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The merchant API's payments: checkouts, refunds, events and the report.
fn payment_routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::POST, "/v1/checkouts", checkouts::create_checkout),
        route(M::GET, "/v1/checkouts", checkouts::list_checkouts),
        route(M::GET, "/v1/checkouts/{id}", checkouts::get_checkout),
        route(
            M::POST,
            "/v1/checkouts/{id}/cancel",
            checkouts::cancel_checkout,
        ),
        route(M::POST, "/v1/refunds", refunds::create_refund),
        route(M::GET, "/v1/refunds/{id}", refunds::get_refund),
        route(M::GET, "/v1/events", events::list_events),
        route(M::GET, "/v1/events/export", export::export_events),
        route(M::GET, "/v1/events/{id}", events::get_event),
        route(M::GET, "/v1/reconciliation", reconciliation::reconciliation),
    ]
}

/// The merchant API's webhook endpoints, and sending events to them again.
fn endpoint_routes() -> Vec<Route> {
    use Method as M;
    use webhook_endpoints as endpoints;
    const ONE: &str = "/v1/webhook_endpoints/{id}";
    vec![
        route(M::POST, "/v1/events/{id}/resend", endpoints::resend_event),
        route(M::POST, "/v1/webhook_endpoints", endpoints::create_endpoint),
        route(M::GET, "/v1/webhook_endpoints", endpoints::list_endpoints),
        route(M::GET, ONE, endpoints::get_endpoint),
        route(M::PATCH, ONE, endpoints::update_endpoint),
        route(M::DELETE, ONE, endpoints::delete_endpoint),
        route(
            M::POST,
            "/v1/webhook_endpoints/{id}/rotate_secret",
            endpoints::rotate_secret,
        ),
        route(
            M::GET,
            "/v1/webhook_endpoints/{id}/deliveries",
            endpoints::list_deliveries,
        ),
        route(
            M::POST,
            "/v1/webhook_endpoints/{id}/replay",
            endpoints::replay,
        ),
        route(
            M::POST,
            "/v1/webhook_endpoints/{id}/test",
            endpoints::send_test,
        ),
    ]
}

/// The admin API, with the admin token.
fn admin_routes() -> Vec<Route> {
    use Method as M;
    const FAULT: &str = "/v1/admin/sandbox/faults/{provider}";
    vec![
        route(M::POST, "/v1/admin/reload", admin::reload),
        route(M::GET, "/v1/admin/providers", admin::providers),
        route(M::GET, "/v1/admin/nodes", admin::nodes),
        route(M::POST, FAULT, admin::set_fault),
        route(M::DELETE, FAULT, admin::clear_fault),
    ]
}

/// What is not the merchant's API: the providers' webhooks, health and metrics, the payer's
/// page and the API's own reference.
fn other_routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(
            M::POST,
            "/webhooks/{merchant}/{provider}",
            webhooks::receive,
        ),
        route(M::GET, "/healthz", health::healthz),
        route(M::GET, "/readyz", health::readyz),
        route(M::GET, "/metrics", metrics::metrics_endpoint),
        route(M::GET, "/pay/{checkout_id}", pay::pay_page)
            .undocumented("a page for payers, not an API"),
        route(M::GET, "/openapi.json", openapi::openapi_json).undocumented("the document itself"),
        route(M::GET, "/docs", openapi::docs_page).undocumented("the document's reference page"),
        route(M::GET, "/docs/{asset}", openapi::docs_asset)
            .undocumented("the reference page's scripts"),
    ]
}

/// What a worker serves: enough for a load balancer and for monitoring.
const OPERATIONS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Mounts [`table`] (a worker, only [`OPERATIONS`]): one resource per path, with a route for
/// each of its methods, so that another method on a known path is a 405.
pub fn mount(config: &mut web::ServiceConfig, role: Role) {
    let mut paths: Vec<(&'static str, Vec<actix_web::Route>)> = vec![];
    let served = table()
        .into_iter()
        .filter(|route| role.serves_api() || OPERATIONS.contains(&route.path));
    for route in served {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, handlers)) => handlers.push(route.handler),
            None => paths.push((route.path, vec![route.handler])),
        }
    }
    for (path, handlers) in paths {
        let resource = handlers
            .into_iter()
            .fold(web::resource(path), |resource, handler| {
                resource.route(handler)
            });
        config.service(resource);
    }
}
