//! What a provider contributes: a factory that builds its adapter from one merchant's config
//! section, and the context and errors of that build. The list of factories is the
//! [`crate::registry`], which imports the providers; the providers import only this.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use url::Url;

use crate::error::ConfigError;
use crate::http::{ApiSpec, Auth, Endpoint, HttpTimeouts};
use crate::provider::Provider;
use crate::rules::{self, CheckoutRules};
use crate::secret::{SecretRef, SecretResolver};

/// Everything an adapter is built from.
pub struct AdapterContext<'a> {
    pub merchant: &'a str,
    /// The provider's keys from config, beside the common ones (`enabled`, `priority`,
    /// `currencies`, `base_url`) the gateway reads itself.
    pub settings: &'a serde_json::Value,
    pub secrets: SecretResolver,
    /// `base_url` from config, when set; otherwise the adapter's documented default.
    pub base_url: Option<Url>,
    /// Where this merchant receives this provider's webhooks on paymux.
    pub webhook_url: Url,
    /// paymux's public base URL (ends with `/`), for pages paymux serves for the provider.
    pub public_url: Url,
    pub http: reqwest::Client,
    pub timeouts: HttpTimeouts,
}

impl AdapterContext<'_> {
    /// The provider API this adapter calls: at the context's `base_url`, else the spec's
    /// default, through the context's client; live when `is_live` says so of its base URL.
    pub fn endpoint(
        &self,
        spec: &'static ApiSpec,
        auth: Auth,
        is_live: impl FnOnce(&Url) -> bool,
    ) -> Result<Endpoint, ConfigError> {
        let (base_url, http) = (self.base_url.clone(), self.http.clone());
        Endpoint::new(spec, base_url, http, self.timeouts, auth, is_live)
    }

    /// The provider's settings as a typed struct; adapters declare `deny_unknown_fields` so a
    /// misspelt key is an error, not an ignored line.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        parse_settings(self.settings)
    }

    /// Resolves a secret setting, naming `key` if it cannot be.
    pub fn secret(
        &self,
        key: &str,
        secret: &SecretRef,
    ) -> Result<secrecy::SecretString, ConfigError> {
        self.secrets
            .resolve(secret)
            .map_err(|message| ConfigError::new(key, message))
    }
}

/// Reads a provider's config section as a typed struct; errors name unknown and missing keys
/// and never repeat a value.
pub fn parse_settings<T: DeserializeOwned>(settings: &serde_json::Value) -> Result<T, ConfigError> {
    serde_json::from_value(settings.clone()).map_err(|error| settings_error(&error))
}

/// A settings error as a config error. Unknown and missing keys are named; any other error
/// (a value of the wrong type or form) is described without the value, which may be a secret.
fn settings_error(error: &serde_json::Error) -> ConfigError {
    let text = error.to_string();
    let named_key = (text.starts_with("unknown field") || text.starts_with("missing field"))
        .then(|| text.split('`').nth(1))
        .flatten();
    match named_key {
        Some(key) => ConfigError::new(key, text.split(", expected").next().unwrap_or(&text)),
        None => ConfigError::new(
            "",
            "a setting has a value of the wrong type or form (values are not repeated here: they may be secrets)",
        ),
    }
}

/// What builds one provider's adapters: the provider's id in config and URLs, the function
/// that builds its adapter from one merchant's config section, and what the provider requires
/// of a checkout ([`CheckoutRules`], for the API document). Each provider module declares one
/// as its `FACTORY`; a test registers a double the same way.
#[derive(Clone, Copy)]
pub struct ProviderFactory {
    id: &'static str,
    build: fn(AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError>,
    checkout_rules: CheckoutRules,
}

impl ProviderFactory {
    pub const fn new(
        id: &'static str,
        build: fn(AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError>,
    ) -> ProviderFactory {
        ProviderFactory {
            id,
            build,
            checkout_rules: rules::none,
        }
    }

    /// The same factory, declaring what the provider requires of a checkout.
    pub const fn with_checkout_rules(self, checkout_rules: CheckoutRules) -> ProviderFactory {
        ProviderFactory {
            checkout_rules,
            ..self
        }
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    /// What the provider requires of a checkout, as JSON Schema ([`crate::rules`]).
    pub fn checkout_rules(&self) -> serde_json::Value {
        (self.checkout_rules)()
    }

    /// Builds the adapter of one merchant's config section; errors name the bad key.
    pub fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError> {
        (self.build)(context)
    }
}
