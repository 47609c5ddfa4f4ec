//! The sandbox: simulated providers under `/sandbox/{provider}/`, so the whole loop works with
//! no provider account. Each simulator speaks its provider's wire format (its API routes live
//! in a submodule here); the parts they share are the control endpoint
//! `POST /sandbox/{provider}/checkouts/{id}/{outcome}`, the hosted page
//! `GET /sandbox/{provider}/pay/{id}` whose buttons call that endpoint, and the webhook sender.

pub mod kwik;
pub mod page;
pub mod pakhi;
pub mod sender;
pub mod skipify;
pub mod sknpay;
pub mod spankpay;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use paymux_providers::sandbox::{
    Outcome, OutgoingWebhook, SandboxAccount, SandboxCall, SandboxError, SandboxResponse, Simulator,
};
use paymux_providers::{ConfigError, SecretResolver};
use serde_json::json;
use url::Url;

use crate::error::ApiError;
use crate::merchants::ConfigErrors;
use crate::settings::{FaultMode, FaultSettings, Settings};
use crate::state::AppState;
use sender::WebhookSender;

pub struct Sandbox {
    simulators: BTreeMap<&'static str, Arc<dyn Simulator>>,
    pub sknpay: Arc<paymux_providers::sknpay::sandbox::SknSandbox>,
    pub skipify: Arc<paymux_providers::skipify::SkipifySandbox>,
    pub pakhi: Arc<paymux_providers::pakhi::sandbox::PakhiSandbox>,
    pub kwik: Arc<paymux_providers::kwik::KwikSandbox>,
    pub spankpay: Arc<paymux_providers::spankpay::SpankPaySandbox>,
    pub sender: WebhookSender,
    public_url: Url,
    /// The `(merchant, provider)` accounts opened so far.
    registered: Mutex<BTreeSet<(String, String)>>,
}

impl Sandbox {
    /// The simulators, with an account for every merchant provider marked `sandbox = true`.
    pub fn build(
        settings: &Settings,
        public_url: &Url,
        http: reqwest::Client,
    ) -> Result<Sandbox, ConfigErrors> {
        let sknpay = Arc::new(paymux_providers::sknpay::sandbox::SknSandbox::default());
        let skipify = Arc::new(paymux_providers::skipify::SkipifySandbox::default());
        let pakhi = Arc::new(paymux_providers::pakhi::sandbox::PakhiSandbox::default());
        let kwik = Arc::new(paymux_providers::kwik::KwikSandbox::default());
        let spankpay = Arc::new(paymux_providers::spankpay::SpankPaySandbox::default());
        let mut simulators: BTreeMap<&'static str, Arc<dyn Simulator>> = BTreeMap::new();
        simulators.insert(sknpay.id(), sknpay.clone());
        simulators.insert(skipify.id(), skipify.clone());
        simulators.insert(pakhi.id(), pakhi.clone());
        simulators.insert(kwik.id(), kwik.clone());
        simulators.insert(spankpay.id(), spankpay.clone());
        let sandbox = Sandbox {
            simulators,
            sknpay,
            skipify,
            pakhi,
            kwik,
            spankpay,
            sender: WebhookSender::new(http, settings.sandbox.retry_speedup),
            public_url: public_url.clone(),
            registered: Mutex::default(),
        };
        sandbox.register(settings)?;
        Ok(sandbox)
    }

    /// Opens a simulator account for each sandboxed merchant provider not registered yet: at
    /// start, and for those a reload adds. An account keeps the credentials it was opened
    /// with; changing them takes a restart. The simulators' own switches follow the settings
    /// of each start or reload that succeeds.
    pub fn register(&self, settings: &Settings) -> Result<(), ConfigErrors> {
        let secrets = SecretResolver {
            allow_literals: settings.sandbox.enabled,
        };
        let mut registered = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut errors = vec![];
        for (merchant_id, merchant) in settings.merchants.iter().filter(|(_, m)| m.enabled) {
            for (provider_id, provider) in merchant.providers.iter().filter(|(_, p)| p.sandbox) {
                if registered.contains(&(merchant_id.clone(), provider_id.clone())) {
                    continue;
                }
                let key = format!("merchants.{merchant_id}.providers.{provider_id}");
                let Some(simulator) = self.simulators.get(provider_id.as_str()) else {
                    errors.push(ConfigError::new(
                        format!("{key}.sandbox"),
                        format!("there is no sandbox for `{provider_id}`"),
                    ));
                    continue;
                };
                let public_url = &self.public_url;
                let webhook_url =
                    match crate::merchants::webhook_url(public_url, merchant_id, provider_id) {
                        Ok(url) => url,
                        Err(error) => {
                            errors.push(ConfigError::new("server.public_url", error.to_string()));
                            continue;
                        }
                    };
                let pay_page_base = match public_url.join(&format!("sandbox/{provider_id}/pay/")) {
                    Ok(url) => url,
                    Err(error) => {
                        errors.push(ConfigError::new("server.public_url", error.to_string()));
                        continue;
                    }
                };
                let specific = serde_json::Value::Object(provider.specific.clone());
                match simulator.add_account(SandboxAccount {
                    merchant: merchant_id,
                    settings: &specific,
                    secrets,
                    webhook_url,
                    pay_page_base,
                }) {
                    Ok(()) => {
                        registered.insert((merchant_id.clone(), provider_id.clone()));
                    }
                    Err(error) => errors.push(ConfigError::new(
                        format!("{key}.{}", error.key),
                        error.message,
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        self.pakhi
            .confirm_unknown_transactions(settings.sandbox.pakhi_confirms_unknown_transactions);
        Ok(())
    }
}

pub(crate) fn sandbox_of(state: &AppState) -> Result<Arc<Sandbox>, ApiError> {
    state.sandbox.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the sandbox is disabled",
        )
    })
}

fn simulator(sandbox: &Sandbox, provider: &str) -> Result<Arc<dyn Simulator>, ApiError> {
    sandbox.simulators.get(provider).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no sandbox for `{provider}`"),
        )
    })
}

// Helpers for the simulators' API routes.

pub(crate) fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

pub(crate) fn call<'a>(request: &'a HttpRequest, body: &'a [u8]) -> SandboxCall<'a> {
    SandboxCall {
        authorization: header(request, "authorization"),
        idempotency_key: header(request, "idempotency-key"),
        body,
    }
}

pub(crate) fn respond(response: SandboxResponse) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK))
        .json(response.body)
}

/// Sends a webhook in the background, after the API answer it follows.
pub(crate) fn send_later(sandbox: &Sandbox, webhook: Option<OutgoingWebhook>) {
    if let Some(webhook) = webhook {
        let sender = sandbox.sender.clone();
        tokio::spawn(async move { sender.send(webhook).await });
    }
}

/// Middleware: a simulated provider's API shows the fault its config sets: 503 without serving
/// the call, or `delay`, which serves the call and then holds the answer for `delay_ms`: a
/// client that gives up meanwhile leaves a payment behind that it never heard of, a real
/// unknown outcome. Its control endpoint and pages (`checkouts/`, `pay/`, `frame/`) keep
/// working, so a tester can still drive checkouts made before the fault.
/// (`refuse_connections` never gets here: adapters are pointed at a closed port instead.)
pub async fn inject_faults(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let fault = request
        .path()
        .strip_prefix("/sandbox/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, rest)| {
            !["checkouts/", "pay/", "frame/"]
                .iter()
                .any(|page| rest.starts_with(page))
        })
        .and_then(|(provider, _)| {
            let state = request.app_data::<web::Data<AppState>>()?;
            state
                .live
                .snapshot()
                .settings
                .sandbox
                .faults
                .get(provider)
                .copied()
        });
    if let Some(FaultSettings {
        mode: FaultMode::Unavailable,
        ..
    }) = fault
    {
        let response = HttpResponse::ServiceUnavailable()
            .json(json!({"error": "service unavailable (sandbox fault)"}));
        return Ok(request.into_response(response).map_into_right_body());
    }
    let response = next.call(request).await?;
    if let Some(FaultSettings {
        mode: FaultMode::Delay,
        delay_ms: Some(delay),
    }) = fault
    {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    Ok(response.map_into_left_body())
}

/// `POST /sandbox/{provider}/checkouts/{id}/{outcome}`: pay, decline, cancel or expire a
/// simulated checkout, send the webhook that triggers, and say what paymux replied.
pub async fn control(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (provider, checkout_id, outcome) = path.into_inner();
    press(&state, &provider, &checkout_id, &outcome, &body).await
}

/// What the control endpoint does: presses `outcome` on `provider`'s checkout.
pub(crate) async fn press(
    state: &AppState,
    provider: &str,
    checkout_id: &str,
    outcome: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let sandbox = sandbox_of(state)?;
    let simulator = simulator(&sandbox, provider)?;
    let outcome = Outcome::parse(outcome).ok_or_else(|| {
        ApiError::invalid(
            "outcome",
            format!("`{outcome}` is not one of pay, decline, cancel, expire"),
        )
    })?;
    let options: serde_json::Value = if body.is_empty() {
        json!({})
    } else {
        crate::routes::json::parse_body(body)?
    };
    let result = simulator
        .control(checkout_id, outcome, &options, Utc::now())
        .map_err(|error| match error {
            SandboxError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "resource_missing", error.to_string())
            }
            SandboxError::Refused(_) => {
                ApiError::new(StatusCode::CONFLICT, "sandbox_refused", error.to_string())
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

/// `GET /sandbox/{provider}/pay/{id}`: the hosted payment page.
pub async fn hosted_page(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (provider, checkout_id) = path.into_inner();
    let sandbox = sandbox_of(&state)?;
    let page = simulator(&sandbox, &provider)?
        .page(&checkout_id, Utc::now())
        .ok_or_else(|| ApiError::not_found("sandbox checkout", &checkout_id))?;
    let control_base = sandbox
        .public_url
        .join(&format!("sandbox/{provider}/checkouts/{checkout_id}/"))
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page::render(&provider, &page, control_base.path())))
}

pub fn routes(config: &mut web::ServiceConfig) {
    config
        // Before the shared control endpoint, whose SpankPay route it wraps.
        .configure(spankpay::routes)
        .route(
            "/sandbox/{provider}/checkouts/{id}/{outcome}",
            web::post().to(control),
        )
        .route("/sandbox/{provider}/pay/{id}", web::get().to(hosted_page))
        .configure(sknpay::routes)
        .configure(skipify::routes)
        .configure(pakhi::routes)
        .configure(kwik::routes);
}
