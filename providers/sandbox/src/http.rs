//! The simulators over HTTP, under `/sandbox/{provider}/`, the same routes for every one:
//!
//! - `POST checkouts/{id}/{outcome}`: the control endpoint, for tests and scripts: pays,
//!   declines, cancels or expires a simulated checkout, sends the webhook that triggers and
//!   answers JSON saying what paymux replied;
//! - `GET pay/{id}`: the hosted page; `POST pay/{id}`: its form, which presses the same
//!   outcome as the control endpoint, then sends the payer where the provider would (a 303 to
//!   the merchant's return URL) or answers a page saying how it went;
//! - `GET frame/{checkout_id}`, `POST frame/{checkout_id}`: the same, for a provider whose
//!   checkout is a frame;
//! - `GET page.css`: the pages' stylesheet, in the provider's colours;
//! - anything else: the provider's own API ([`Simulator::api`]), which shows the fault the
//!   host sets for it.
//!
//! The pages are HTML whatever happens (an unknown or closed checkout, a refused press): a
//! payer never sees JSON. The control endpoint answers errors as the host's API does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use maud::Markup;
use paymux_providers::json;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::page::{self, Shell};
use crate::sender::Delivery;
use crate::simulator::{
    ApiCall, FramedCheckout, Frames, Headers, Look, Method, Outcome, Press, SandboxError,
    SandboxResponse, Simulator, Standing,
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
            .route("/pay/{id}", web::post().to(submit))
            .route("/frame/{id}", web::get().to(frame))
            .route("/frame/{id}", web::post().to(submit))
            .route("/page.css", web::get().to(stylesheet))
            .default_service(web::to(api)),
    );
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

/// A press done: what the control endpoint reports and what a page's form answers from.
struct Pressed {
    /// The simulated checkout's id (for a frame, the checkout's id as paymux writes it).
    checkout_id: String,
    outcome: Outcome,
    /// The simulated checkout's status afterwards, in the provider's words.
    status: String,
    redirect_url: Option<String>,
    /// The first attempt of the webhook the press sent, if it sent one.
    delivery: Option<Delivery>,
}

/// Presses `outcome` on a simulated checkout (opening its frame first, for a frame provider,
/// if nobody has) and sends the webhook that triggers: what the control endpoint and the
/// pages' forms both do.
async fn press(
    sandbox: &Sandbox,
    simulator: &dyn Simulator,
    checkout_id: &str,
    outcome: Outcome,
    options: &Value,
) -> Result<Pressed, Problem> {
    // A frame is opened (the purchase registered) under the checkout's own id, as written
    // by the gateway, whatever case the URL used.
    let opened = match simulator.frames() {
        Some(frames) => Some(open_frame(sandbox, frames, checkout_id).await?),
        None => None,
    };
    let checkout_id = opened.as_deref().unwrap_or(checkout_id);
    let press = Press::new(checkout_id, outcome, Utc::now()).with_options(options);
    let result = simulator.control(press).map_err(|error| match error {
        SandboxError::NotFound(_) => {
            Problem::new(StatusCode::NOT_FOUND, "resource_missing", error.to_string())
        }
        SandboxError::Refused(_) => {
            Problem::new(StatusCode::CONFLICT, "sandbox_refused", error.to_string())
        }
    })?;
    let delivery = match result.webhook {
        Some(webhook) => Some(sandbox.sender.send(webhook).await),
        None => None,
    };
    Ok(Pressed {
        checkout_id: checkout_id.to_owned(),
        outcome,
        status: result.status,
        redirect_url: result.redirect_url,
        delivery,
    })
}

fn outcome(text: &str) -> Result<Outcome, Problem> {
    Outcome::parse(text).ok_or_else(|| Problem {
        param: Some("outcome".to_owned()),
        ..Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("`{text}` is not one of pay, decline, cancel, expire"),
        )
    })
}

/// `POST /sandbox/{provider}/checkouts/{id}/{outcome}`: presses `outcome` with the options
/// of the JSON body and says which webhook was sent and what paymux replied.
async fn control(
    sandbox: web::Data<Sandbox>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (provider, checkout_id, outcome_text) = path.into_inner();
    let pressed = async {
        let simulator = simulator(&sandbox, &provider)?;
        let outcome = outcome(&outcome_text)?;
        let options = options(&body)?;
        press(
            &sandbox,
            simulator.as_ref(),
            &checkout_id,
            outcome,
            &options,
        )
        .await
    };
    match pressed.await {
        Ok(pressed) => HttpResponse::Ok().json(json!({
            "provider": provider,
            "checkout": pressed.checkout_id,
            "outcome": pressed.outcome.as_str(),
            "status": pressed.status,
            "redirect_url": pressed.redirect_url,
            "webhook": pressed.delivery,
        })),
        Err(problem) => sandbox.host.error_response(problem),
    }
}

/// The control call's options (e.g. SKN Pay's card number): a JSON object, or nothing.
fn options(body: &[u8]) -> Result<Value, Problem> {
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

/// A page's form (`application/x-www-form-urlencoded`): the `outcome` its button pressed,
/// and its other fields as the press's options, each a string.
fn form(body: &[u8]) -> Result<(Outcome, Value), Problem> {
    let mut pressed = String::new();
    let mut options = serde_json::Map::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "outcome" {
            pressed = value.into_owned();
        } else {
            options.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    }
    Ok((outcome(&pressed)?, Value::Object(options)))
}

/// Registers a paymux checkout's purchase with a frame provider's simulator, as opening the
/// real frame does; returns the checkout's id as paymux writes it.
async fn open_frame(
    sandbox: &Sandbox,
    frames: &dyn Frames,
    checkout_id: &str,
) -> Result<String, Problem> {
    let checkout: FramedCheckout = sandbox.host.framed_checkout(checkout_id).await?;
    frames
        .open(&checkout, Utc::now())
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

/// The look of pages under `/sandbox/{provider}` for a provider with no simulator.
const NO_SIMULATOR: Look = Look {
    name: "paymux sandbox",
    colour: "#334e68",
    on_colour: "#ffffff",
    pay_label: "Pay",
};

/// What `provider`'s pages are drawn with: its look, its stylesheet.
fn shell_for(sandbox: &Sandbox, provider: &str) -> Shell {
    Shell {
        look: sandbox
            .simulators
            .get(provider)
            .map_or(&NO_SIMULATOR, |simulator| simulator.look()),
        stylesheet: sandbox.stylesheet_path(provider),
    }
}

/// `GET /sandbox/{provider}/page.css`.
async fn stylesheet(sandbox: web::Data<Sandbox>, path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(page::stylesheet(shell_for(&sandbox, &path).look))
}

/// No script, no inline style, nothing from elsewhere. No `form-action`: browsers apply it to
/// the redirect after a form too, and the pages' forms send the payer on to the merchant.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'self'";

fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// A simulated checkout's page as it stands: its form while it takes payment (with the
/// page's own notice, else `notice`, saying how the last attempt went), else a page saying it
/// is closed, with `closed_status` (410 when opened, 200 right after the press that closed
/// it).
fn standing_page(
    shell: &Shell,
    simulator: &dyn Simulator,
    id: &str,
    notice: Option<&str>,
    closed_status: StatusCode,
) -> HttpResponse {
    match simulator.page(id, Utc::now()) {
        Some(page) if page.standing == Standing::Open => {
            let notice = page.notice.as_deref().or(notice);
            html(StatusCode::OK, page::checkout(shell, &page, notice))
        }
        Some(page) => html(closed_status, page::closed(shell, &page)),
        None => no_such_payment(shell),
    }
}

fn no_such_payment(shell: &Shell) -> HttpResponse {
    html(
        StatusCode::NOT_FOUND,
        page::message(
            shell,
            "No such payment",
            "There is no payment at this address: the link may be mistyped, or the sandbox no \
             longer remembers it (it keeps its payments in memory).",
            false,
        ),
    )
}

/// A refused page request or form, as a page: an unknown checkout's, a closed checkout's
/// (410), or the refusal's message with a way back to the form.
fn problem_page(
    shell: &Shell,
    simulator: &dyn Simulator,
    id: &str,
    problem: &Problem,
) -> HttpResponse {
    let page = simulator.page(id, Utc::now());
    match page {
        _ if problem.status == StatusCode::NOT_FOUND => no_such_payment(shell),
        Some(page) if page.standing != Standing::Open => {
            html(StatusCode::GONE, page::closed(shell, &page))
        }
        page => html(
            problem.status,
            page::message(
                shell,
                "The payment did not go through",
                &problem.message,
                page.is_some(),
            ),
        ),
    }
}

/// `GET /sandbox/{provider}/pay/{id}`: the hosted payment page.
async fn hosted_page(
    sandbox: web::Data<Sandbox>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (provider, id) = path.into_inner();
    let shell = shell_for(&sandbox, &provider);
    match simulator(&sandbox, &provider) {
        Ok(simulator) => standing_page(&shell, simulator.as_ref(), &id, None, StatusCode::GONE),
        Err(_) => no_such_payment(&shell),
    }
}

/// `GET /sandbox/{provider}/frame/{checkout_id}`: what a frame provider's script shows the
/// payer. Opening it registers the purchase, as the real frame does.
async fn frame(sandbox: web::Data<Sandbox>, path: web::Path<(String, String)>) -> HttpResponse {
    let (provider, checkout_id) = path.into_inner();
    let shell = shell_for(&sandbox, &provider);
    let Ok(simulator) = simulator(&sandbox, &provider) else {
        return no_such_payment(&shell);
    };
    let Some(frames) = simulator.frames() else {
        return no_such_payment(&shell);
    };
    match open_frame(&sandbox, frames, &checkout_id).await {
        Ok(id) => standing_page(&shell, simulator.as_ref(), &id, None, StatusCode::GONE),
        Err(problem) => problem_page(&shell, simulator.as_ref(), &checkout_id, &problem),
    }
}

/// `POST /sandbox/{provider}/pay/{id}` (and `frame/{id}`): a page's form. Presses the outcome
/// of the button pressed, then sends the payer to the return URL the provider sends it to
/// (303), or answers the page again (a declined attempt, a partial payment) or a page saying
/// the checkout is closed.
async fn submit(
    sandbox: web::Data<Sandbox>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (provider, id) = path.into_inner();
    let shell = shell_for(&sandbox, &provider);
    let Ok(simulator) = simulator(&sandbox, &provider) else {
        return no_such_payment(&shell);
    };
    let pressed = async {
        let (outcome, options) = form(&body)?;
        press(&sandbox, simulator.as_ref(), &id, outcome, &options).await
    };
    let pressed = match pressed.await {
        Ok(pressed) => pressed,
        Err(problem) => return problem_page(&shell, simulator.as_ref(), &id, &problem),
    };
    if pressed
        .delivery
        .as_ref()
        .is_some_and(|delivery| delivery.refused)
    {
        // Only SpankPay refuses for good: the merchant's callback turned the payment down.
        let message = format!(
            "The merchant turned this payment down: {} returns it to the payer.",
            shell.look.name
        );
        return html(
            StatusCode::OK,
            page::message(&shell, "Payment refused", &message, false),
        );
    }
    if let Some(url) = pressed.redirect_url {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    let declined = (pressed.outcome == Outcome::Decline).then_some("The payment was declined.");
    standing_page(
        &shell,
        simulator.as_ref(),
        &pressed.checkout_id,
        declined,
        StatusCode::OK,
    )
}
