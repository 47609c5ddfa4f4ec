//! The simulators over HTTP, under `/sandbox/{provider}/`, the same routes for every one:
//!
//! - `POST checkouts/{id}/{outcome}`: the control endpoint, which pays, declines, cancels or
//!   expires a simulated checkout and sends the webhook that triggers;
//! - `GET pay/{id}`: the hosted page, whose buttons call the control endpoint;
//! - `GET frame/{checkout_id}`: the payment frame, for a provider whose checkout is one;
//! - anything else: the provider's own API ([`Simulator::api`]), which shows the fault the
//!   host sets for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use paymux_providers::json;
use serde_json::json;

use crate::Sandbox;
use crate::page;
use crate::simulator::{
    ApiCall, Frames, Headers, Method, Outcome, Press, SandboxError, SandboxResponse, Simulator,
};

/// What a provider's simulated API suffers, as its config or the admin API sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every API call answers 503 without being served.
    Unavailable,
    /// Every API call is served, then its answer held this long: a client that gives up
    /// meanwhile leaves behind a payment it never heard of, a real unknown outcome.
    Delay(Duration),
}

/// A paymux checkout as its payer's frame is opened with it.
#[derive(Debug, Clone)]
pub struct FramedCheckout {
    /// The checkout's id as paymux writes it.
    pub id: String,
    /// The frame parameters paymux gave the storefront (`client_action`).
    pub params: serde_json::Value,
}

/// Why a sandbox route refused a call, in the terms of the host's API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The parameter at fault, if one is.
    pub param: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            status,
            code,
            message: message.into(),
            param: None,
        }
    }

    fn not_found(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

/// The future of a host's lookup.
pub type Lookup<'a, T> = Pin<Box<dyn Future<Output = Result<T, Problem>> + Send + 'a>>;

/// What the sandbox asks of the server that mounts it.
pub trait Host: Send + Sync + 'static {
    /// The fault `provider`'s simulated API shows now, if any.
    fn fault(&self, provider: &str) -> Option<Fault>;

    /// The checkout a payer's frame is opened for.
    fn framed_checkout<'a>(&'a self, checkout_id: &'a str) -> Lookup<'a, FramedCheckout>;

    /// `problem` as the host's API answers errors.
    fn error_response(&self, problem: Problem) -> HttpResponse;
}

/// Mounts the sandbox's routes.
pub fn routes(sandbox: Arc<Sandbox>, config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/sandbox/{provider}")
            .app_data(web::Data::from(sandbox))
            .route("/checkouts/{id}/{outcome}", web::post().to(control))
            .route("/pay/{id}", web::get().to(hosted_page))
            .route("/frame/{checkout_id}", web::get().to(frame))
            .default_service(web::to(api)),
    );
}

/// An answer, or the host's error response.
fn answer(sandbox: &Sandbox, result: Result<HttpResponse, Problem>) -> HttpResponse {
    result.unwrap_or_else(|problem| sandbox.host.error_response(problem))
}

fn simulator(sandbox: &Sandbox, provider: &str) -> Result<Arc<dyn Simulator>, Problem> {
    sandbox
        .simulators
        .get(provider)
        .cloned()
        .ok_or_else(|| Problem::not_found(format!("there is no sandbox for `{provider}`")))
}

fn respond(response: SandboxResponse) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK))
        .json(response.body)
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

impl Headers for actix_web::http::header::HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        actix_web::http::header::HeaderMap::get(self, name).and_then(|value| value.to_str().ok())
    }
}

/// Any call below `/sandbox/{provider}/` that is not a sandbox page: the provider's API.
async fn api(sandbox: web::Data<Sandbox>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let provider = request.match_info().get("provider").unwrap_or_default();
    let simulator = match simulator(&sandbox, provider) {
        Ok(simulator) => simulator,
        Err(problem) => return sandbox.host.error_response(problem),
    };
    let fault = sandbox.host.fault(provider);
    if fault == Some(Fault::Unavailable) {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"error": "service unavailable (sandbox fault)"}));
    }
    let method = match *request.method() {
        actix_web::http::Method::GET => Method::Get,
        actix_web::http::Method::POST => Method::Post,
        _ => Method::Other,
    };
    let root = format!("/sandbox/{provider}/");
    let call = ApiCall {
        method,
        path: request.path().strip_prefix(&root).unwrap_or_default(),
        headers: request.headers(),
        body: &body,
    };
    let answer = simulator.api(&call, Utc::now());
    if let Some(webhook) = answer.webhook {
        let sender = sandbox.sender.clone();
        tokio::spawn(async move { sender.send(webhook).await });
    }
    if let Some(Fault::Delay(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    respond(answer.response)
}

/// `POST /sandbox/{provider}/checkouts/{id}/{outcome}`: presses `outcome` on a simulated
/// checkout (opening its frame first, for a frame provider, if nobody has), sends the webhook
/// that triggers and says what paymux replied.
async fn control(
    sandbox: web::Data<Sandbox>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (provider, checkout_id, outcome) = path.into_inner();
    let pressed = press(&sandbox, &provider, &checkout_id, &outcome, &body).await;
    answer(&sandbox, pressed)
}

async fn press(
    sandbox: &Sandbox,
    provider: &str,
    checkout_id: &str,
    outcome: &str,
    body: &[u8],
) -> Result<HttpResponse, Problem> {
    let simulator = simulator(sandbox, provider)?;
    let outcome = Outcome::parse(outcome).ok_or_else(|| Problem {
        param: Some("outcome".to_owned()),
        ..Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("`{outcome}` is not one of pay, decline, cancel, expire"),
        )
    })?;
    let options = options(body)?;
    // A frame is opened (the purchase registered) under the checkout's own id, as written
    // by the gateway, whatever case the URL used.
    let opened = match simulator.frames() {
        Some(frames) => Some(open_frame(sandbox, frames, checkout_id).await?),
        None => None,
    };
    let checkout_id = opened.as_deref().unwrap_or(checkout_id);
    let press = Press::new(checkout_id, outcome, Utc::now()).with_options(&options);
    let result = simulator.control(press).map_err(|error| match error {
        SandboxError::NotFound(_) => {
            Problem::new(StatusCode::NOT_FOUND, "resource_missing", error.to_string())
        }
        SandboxError::Refused(_) => {
            Problem::new(StatusCode::CONFLICT, "sandbox_refused", error.to_string())
        }
    })?;
    let webhook = match result.webhook {
        Some(webhook) => Some(sandbox.sender.send(webhook).await),
        None => None,
    };
    Ok(HttpResponse::Ok().json(json!({
        "provider": provider,
        "checkout": checkout_id,
        "outcome": outcome.as_str(),
        "status": result.status,
        "redirect_url": result.redirect_url,
        "webhook": webhook,
    })))
}

/// The control call's options (e.g. SKN Pay's card number): a JSON object, or nothing.
fn options(body: &[u8]) -> Result<serde_json::Value, Problem> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let invalid = |error: &dyn std::fmt::Display| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid request body: {error}"),
        )
    };
    json::check_depth(body, json::MAX_DEPTH).map_err(|error| invalid(&error))?;
    serde_json::from_slice(body).map_err(|error| invalid(&json::describe_error(&error)))
}

/// Registers a paymux checkout's purchase with a frame provider's simulator, as opening the
/// real frame does; returns the checkout's id as paymux writes it.
async fn open_frame(
    sandbox: &Sandbox,
    frames: &dyn Frames,
    checkout_id: &str,
) -> Result<String, Problem> {
    let checkout = sandbox.host.framed_checkout(checkout_id).await?;
    frames
        .open(&checkout.id, &checkout.params, Utc::now())
        .map_err(|error| Problem {
            param: Some("checkout".to_owned()),
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            )
        })?;
    Ok(checkout.id)
}

/// `GET /sandbox/{provider}/pay/{id}`: the hosted payment page.
async fn hosted_page(
    sandbox: web::Data<Sandbox>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (provider, checkout_id) = path.into_inner();
    let page = simulator(&sandbox, &provider)
        .and_then(|simulator| page(&sandbox, simulator.as_ref(), &provider, &checkout_id));
    answer(&sandbox, page)
}

/// `GET /sandbox/{provider}/frame/{checkout_id}`: what a frame provider's script shows the
/// payer. Opening it registers the purchase, as the real frame does.
async fn frame(sandbox: web::Data<Sandbox>, path: web::Path<(String, String)>) -> HttpResponse {
    let (provider, checkout_id) = path.into_inner();
    let framed = async {
        let simulator = simulator(&sandbox, &provider)?;
        let Some(frames) = simulator.frames() else {
            return Err(Problem::not_found(format!(
                "`{provider}` checkouts are not frames"
            )));
        };
        let id = open_frame(&sandbox, frames, &checkout_id).await?;
        page(&sandbox, simulator.as_ref(), &provider, &id)
    };
    let framed = framed.await;
    answer(&sandbox, framed)
}

/// The page of simulated checkout `id`, its buttons calling the control endpoint.
fn page(
    sandbox: &Sandbox,
    simulator: &dyn Simulator,
    provider: &str,
    id: &str,
) -> Result<HttpResponse, Problem> {
    let page = simulator.page(id, Utc::now()).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "resource_missing",
            format!("no such sandbox checkout: `{id}`"),
        )
    })?;
    Ok(html(page::render(
        provider,
        &page,
        &sandbox.control_base(provider, id),
    )))
}
