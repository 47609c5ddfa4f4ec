//! What a provider contributes: a factory that builds its adapter from one merchant's config
//! section, and the context and errors of that build. The list of factories is the
//! [`crate::registry`], which imports the providers; the providers import only this.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use url::Url;

use crate::error::ConfigError;
use crate::http::{ApiSpec, Auth, Endpoint, HttpTimeouts};
use crate::provider::Provider;
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
    /// default, through the context's client.
    pub fn endpoint(&self, spec: &'static ApiSpec, auth: Auth) -> Result<Endpoint, ConfigError> {
        Endpoint::new(
            spec,
            self.base_url.clone(),
            self.http.clone(),
            self.timeouts,
            auth,
        )
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

/// A context for building `provider`'s adapter in tests: merchant `demo`, literal secrets
/// allowed, the default HTTP client.
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

/// Builds one provider's adapter.
pub trait ProviderFactory: Send + Sync + 'static {
    fn id(&self) -> &'static str;

    fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError>;
}
