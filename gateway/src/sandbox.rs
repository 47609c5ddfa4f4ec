//! The simulated providers, mounted when `sandbox.enabled` (cargo feature `sandbox`, on by
//! default): the gateway as the sandbox's host, and the sandbox's accounts opened from the
//! merchants' settings at start and on every reload.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, ResponseError};
use paymux_providers::SecretResolver;
use paymux_sandbox::http::Lookup;
use paymux_sandbox::pakhi::PakhiSandbox;
use paymux_sandbox::{AccountSpec, Fault, FramedCheckout, Host, Problem, Sandbox};
use url::Url;

use crate::error::ApiError;
use crate::merchants::{ConfigErrors, webhook_url};
use crate::routes::pay::checkout_for_payer;
use crate::settings::{FaultMode, FaultSettings, Settings};
use crate::state::AppState;

/// The gateway as the sandbox sees it.
struct Gateway(AppState);

impl Host for Gateway {
    fn fault(&self, provider: &str) -> Option<Fault> {
        match self.0.config().settings.sandbox.faults.get(provider)? {
            FaultSettings {
                mode: FaultMode::Unavailable,
                ..
            } => Some(Fault::Unavailable),
            FaultSettings {
                mode: FaultMode::Delay,
                delay_ms: Some(delay),
            } => Some(Fault::Delay(Duration::from_millis(*delay))),
            // `refuse_connections` never reaches the sandbox: adapters are pointed at a
            // closed port instead.
            _ => None,
        }
    }

    fn framed_checkout<'a>(&'a self, checkout_id: &'a str) -> Lookup<'a, FramedCheckout> {
        Box::pin(async move {
            let checkout = checkout_for_payer(&self.0, checkout_id)
                .await
                .map_err(|error| Problem {
                    status: error.status,
                    code: error.code,
                    message: error.message,
                    param: error.param,
                })?;
            Ok(FramedCheckout {
                id: checkout.id.to_string(),
                params: checkout
                    .client_action
                    .map_or(serde_json::Value::Null, |action| action.0),
                success_url: checkout.success_url,
            })
        })
    }

    fn error_response(&self, problem: Problem) -> HttpResponse {
        let error = ApiError::new(problem.status, problem.code, problem.message);
        match problem.param {
            Some(param) => error.with_param(param),
            None => error,
        }
        .error_response()
    }
}

/// The sandbox, when `sandbox.enabled`, of a gateway whose public URL is `public_url`, with an
/// account for every sandboxed merchant provider; it learns new ones on each reload.
pub fn start(
    settings: &Settings,
    public_url: &Url,
    state: &AppState,
) -> Result<Option<Arc<Sandbox>>, ConfigErrors> {
    if !settings.sandbox.enabled {
        return Ok(None);
    }
    let http = paymux_providers::http::build_client(settings.http.timeouts())
        .map_err(|error| ConfigErrors::one("http", error.to_string()))?;
    let host = Arc::new(Gateway(state.clone()));
    let sandbox = Sandbox::new(
        public_url.clone(),
        http,
        settings.sandbox.retry_speedup,
        host,
    )
    .map_err(|error| ConfigErrors::one("server.public_url", error.to_string()))?;
    let sandbox = Arc::new(sandbox);
    open_accounts(&sandbox, public_url, settings)?;
    // Weak: the sandbox holds the state (its host), which holds this hook.
    let reloaded = Arc::downgrade(&sandbox);
    let public_url = public_url.clone();
    state.live.on_reload(Arc::new(move |settings: &Settings| {
        match reloaded.upgrade() {
            Some(sandbox) => open_accounts(&sandbox, &public_url, settings),
            None => Ok(()),
        }
    }));
    Ok(Some(sandbox))
}

/// Opens an account for each sandboxed provider of an enabled merchant not opened yet (an
/// account keeps the credentials it was opened with: changing them takes a restart), and sets
/// the simulators' own switches.
fn open_accounts(
    sandbox: &Sandbox,
    public_url: &Url,
    settings: &Settings,
) -> Result<(), ConfigErrors> {
    let secrets = SecretResolver {
        allow_literals: settings.sandbox.enabled,
    };
    let mut errors = vec![];
    for (merchant, merchant_settings) in settings.merchants.iter().filter(|(_, m)| m.enabled) {
        for (provider, provider_settings) in merchant_settings.providers.iter() {
            if !provider_settings.sandbox {
                continue;
            }
            let key = format!("merchants.{merchant}.providers.{provider}");
            let webhook_url = match webhook_url(public_url, merchant, provider) {
                Ok(url) => url,
                Err(error) => {
                    errors.push(paymux_providers::ConfigError::new(
                        "server.public_url",
                        error.to_string(),
                    ));
                    continue;
                }
            };
            let specific = serde_json::Value::Object(provider_settings.specific.clone());
            let opened = sandbox.open_account(AccountSpec {
                merchant,
                provider,
                settings: &specific,
                secrets,
                webhook_url,
            });
            if let Err(error) = opened {
                errors.push(paymux_providers::ConfigError::new(
                    format!("{key}.{}", error.key),
                    error.message,
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    if let Some(pakhi) = sandbox.simulator::<PakhiSandbox>() {
        pakhi.confirm_unknown_transactions(settings.sandbox.pakhi_confirms_unknown_transactions);
    }
    Ok(())
}

/// The sandbox's stand-in for a merchant's server: `POST /sandbox/merchant/{merchant}/webhooks`
/// takes the webhooks paymux sends, checks each signature as a merchant would, and keeps the
/// last [`RECEIVED_KEPT`]; `GET` on the same path lists them, newest first. The demo merchant
/// gets an endpoint pointing here at start-up when it has none, so the walk-through shows a
/// payment notification arriving.
#[derive(Default)]
pub struct MerchantReceiver {
    received: std::sync::Mutex<std::collections::VecDeque<serde_json::Value>>,
}

const RECEIVED_KEPT: usize = 100;
/// How far a `webhook-timestamp` may be from now, as the Standard Webhooks libraries allow.
const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Where the demo merchant's receiver is.
fn receiver_url(public_url: &Url, merchant: &str) -> Result<Url, url::ParseError> {
    public_url.join(&format!("sandbox/merchant/{merchant}/webhooks"))
}

/// Mounts the receiver on `config`.
pub fn receiver_routes(
    receiver: Arc<MerchantReceiver>,
    config: &mut actix_web::web::ServiceConfig,
) {
    use actix_web::web;
    config.service(
        web::resource("/sandbox/merchant/{merchant}/webhooks")
            .app_data(web::Data::from(receiver))
            .route(web::post().to(receive))
            .route(web::get().to(list_received)),
    );
}

/// Gives the demo merchant an endpoint at the receiver when it has none.
pub async fn ensure_demo_endpoint(state: &AppState, public_url: &Url) -> Result<(), String> {
    use crate::domain::endpoints::{self, EndpointChange};
    use paymux_schema::db::outbound::WebhookEndpoint;
    let has_one = state
        .store(|conn| Ok::<_, crate::store::StoreError>(WebhookEndpoint::any_for(conn, "demo")?))
        .await
        .map_err(|error| error.to_string())?;
    let settings = &state.config().settings;
    // Where private networks are refused, the receiver on this host is too.
    if has_one || !settings.merchants.contains_key("demo") || !settings.allow_private_networks() {
        return Ok(());
    }
    let url = receiver_url(public_url, "demo").map_err(|error| error.to_string())?;
    let change = EndpointChange {
        url: Some(url.to_string()),
        description: Some(Some(
            "the sandbox's receiver (GET it to see what arrived)".into(),
        )),
        ..EndpointChange::default()
    };
    endpoints::create(state, None, "demo", change)
        .await
        .map(drop)
        .map_err(|error| format!("the demo merchant's webhook endpoint: {error}"))
}

async fn receive(
    state: actix_web::web::Data<AppState>,
    receiver: actix_web::web::Data<MerchantReceiver>,
    request: actix_web::HttpRequest,
    path: actix_web::web::Path<String>,
    body: actix_web::web::Bytes,
) -> Result<HttpResponse, ApiError> {
    use paymux_schema::db::outbound::WebhookEndpoint;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let merchant = path.into_inner();
    let owner = merchant.clone();
    let endpoints = state
        .db(move |conn| Ok(WebhookEndpoint::enabled_for(conn, &owner)?))
        .await?;
    let here = request.full_url();
    let now = chrono::Utc::now();
    let sent_at = timestamp
        .parse::<i64>()
        .ok()
        .filter(|sent| (now.timestamp() - sent).abs() <= TIMESTAMP_TOLERANCE_SECS);
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let verified = sent_at.is_some_and(|sent_at| {
        endpoints
            .iter()
            .filter(|endpoint| Url::parse(&endpoint.url).is_ok_and(|url| url.path() == here.path()))
            .any(|endpoint| {
                let secrets = endpoint.signing_secrets(now.naive_utc());
                let expected =
                    crate::domain::outbound::signature(&secrets, &id, sent_at, &body_text);
                let expected: Vec<&str> = expected.split(' ').collect();
                signatures
                    .split(' ')
                    .any(|signature| expected.contains(&signature))
            })
    });
    let payload: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let entry = serde_json::json!({
        "merchant": merchant,
        "received_at": now,
        "webhook_id": id,
        "type": payload["type"],
        "signature_verified": verified,
        "payload": payload,
    });
    let mut received = receiver
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    received.push_front(entry);
    received.truncate(RECEIVED_KEPT);
    drop(received);
    tracing::info!(%merchant, webhook_id = %id, verified, "sandbox merchant received a webhook");
    // A merchant refuses what it cannot verify, so paymux retries it.
    Ok(match verified {
        true => HttpResponse::NoContent().finish(),
        false => HttpResponse::BadRequest().json(serde_json::json!({
            "error": "the webhook-signature did not verify with this endpoint's secret, or the timestamp is stale",
        })),
    })
}

async fn list_received(
    receiver: actix_web::web::Data<MerchantReceiver>,
    path: actix_web::web::Path<String>,
) -> HttpResponse {
    let merchant = path.into_inner();
    let received = receiver
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let data: Vec<&serde_json::Value> = received
        .iter()
        .filter(|entry| entry["merchant"] == merchant.as_str())
        .collect();
    HttpResponse::Ok().json(serde_json::json!({"object": "list", "data": data}))
}
