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
