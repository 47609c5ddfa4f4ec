//! The merchants paymux serves, validated from settings: their API keys (kept only as hashes)
//! and their providers, each an adapter bound to that merchant's credentials.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use paymux_domain::Currency;
use paymux_providers::http::HttpTimeouts;
use paymux_providers::{
    AdapterContext, ConfigError, Provider, Registry, SecretRef, SecretResolver,
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use url::Url;

use crate::settings::{FaultMode, ProviderSettings, RateLimitSettings, Settings};

/// One provider as configured for one merchant.
#[derive(Clone)]
pub struct ConfiguredProvider {
    pub adapter: Arc<dyn Provider>,
    pub enabled: bool,
    pub priority: u32,
    /// The currencies this merchant takes through it.
    pub currencies: Vec<Currency>,
}

impl fmt::Debug for ConfiguredProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredProvider")
            .field("id", &self.adapter.id())
            .field("enabled", &self.enabled)
            .field("priority", &self.priority)
            .field("currencies", &self.currencies)
            .finish()
    }
}

#[derive(Debug)]
pub struct Merchant {
    pub id: String,
    pub providers: BTreeMap<String, ConfiguredProvider>,
    /// The token bucket of each of its API keys.
    pub rate_limit: RateLimitSettings,
}

/// Every enabled merchant, and an index from API key hash to merchant.
///
/// Keys are looked up by their SHA-256: the plain keys are not kept, and finding a hash in a
/// map reveals nothing through timing about any key's characters.
#[derive(Debug, Default)]
pub struct Merchants {
    by_id: BTreeMap<String, Arc<Merchant>>,
    by_key_hash: HashMap<[u8; 32], Arc<Merchant>>,
}

/// Everything wrong with a config, each with its full key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// A single error under `key`.
    pub fn one(key: impl Into<String>, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors(vec![ConfigError::new(key, message)])
    }
}

/// What adapters need besides their own settings.
pub struct BuildContext<'a> {
    pub registry: &'a Registry,
    /// paymux's public base URL, for the webhook URLs adapters hand to providers.
    pub public_url: &'a Url,
    pub http: &'a reqwest::Client,
    pub timeouts: HttpTimeouts,
    /// A base URL where nothing accepts connections: sandboxed providers whose fault is
    /// `refuse_connections` are pointed there (absent when only checking a config).
    pub refusing_url: Option<&'a Url>,
}

/// Why a rate limit is unusable, if it is.
pub fn rate_limit_problem(limit: &RateLimitSettings) -> Option<&'static str> {
    if !(limit.requests_per_second.is_finite() && limit.requests_per_second > 0.0) {
        Some("requests_per_second must be a positive number")
    } else if limit.burst == 0 {
        Some("burst must be at least 1")
    } else {
        None
    }
}

/// The SHA-256 an API key is known by.
pub(crate) fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Where `merchant` receives `provider`'s webhooks on paymux: what adapters give providers and
/// what simulators send to.
pub fn webhook_url(
    public_url: &Url,
    merchant: &str,
    provider: &str,
) -> Result<Url, url::ParseError> {
    public_url.join(&format!("webhooks/{merchant}/{provider}"))
}

/// Merchant ids appear in webhook URLs, so they are kept to URL-safe characters.
fn valid_merchant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The hashes of a merchant's API keys; it needs at least one.
fn resolve_keys(
    prefix: &str,
    keys: &[SecretRef],
    secrets: SecretResolver,
) -> Result<Vec<[u8; 32]>, Vec<ConfigError>> {
    if keys.is_empty() {
        return Err(vec![ConfigError::new(
            format!("{prefix}.api_keys"),
            "at least one API key is required",
        )]);
    }
    let mut hashes = vec![];
    let mut errors = vec![];
    for (index, key) in keys.iter().enumerate() {
        match secrets.resolve(key) {
            Ok(key) => hashes.push(key_hash(key.expose_secret())),
            Err(message) => errors.push(ConfigError::new(
                format!("{prefix}.api_keys[{index}]"),
                message,
            )),
        }
    }
    if errors.is_empty() {
        Ok(hashes)
    } else {
        Err(errors)
    }
}

/// Where `provider`'s simulated API is below `/sandbox/{provider}/`.
fn sandbox_api_path(provider: &str) -> Result<&'static str, String> {
    #[cfg(feature = "sandbox")]
    return paymux_sandbox::api_path(provider)
        .ok_or_else(|| format!("there is no sandbox for `{provider}`"));
    #[cfg(not(feature = "sandbox"))]
    return Err(format!(
        "this paymux is built without the sandbox, so `{provider}` cannot be sandboxed"
    ));
}

/// One merchant's provider on its way from settings to an adapter.
struct ProviderBuild<'a> {
    settings: &'a Settings,
    context: &'a BuildContext<'a>,
    secrets: SecretResolver,
    merchant_id: &'a str,
    provider_id: &'a str,
    provider: &'a ProviderSettings,
    /// Where its settings live, e.g. `merchants.demo.providers.sknpay`.
    key: String,
}

impl ProviderBuild<'_> {
    fn run(self) -> Result<ConfiguredProvider, ConfigError> {
        let registry = self.context.registry;
        let Some(factory) = registry.get(self.provider_id) else {
            let known: Vec<_> = registry.ids().collect();
            return Err(ConfigError::new(
                &self.key,
                format!(
                    "unknown provider `{}` (known: {})",
                    self.provider_id,
                    known.join(", ")
                ),
            ));
        };
        let public_url = self.context.public_url;
        let webhook_url = webhook_url(public_url, self.merchant_id, self.provider_id)
            .map_err(|error| ConfigError::new("server.public_url", error.to_string()))?;
        let specific = serde_json::Value::Object(self.provider.specific.clone());
        let adapter = factory
            .build(AdapterContext {
                merchant: self.merchant_id,
                settings: &specific,
                secrets: self.secrets,
                base_url: self.base_url()?,
                webhook_url,
                public_url: public_url.clone(),
                http: self.context.http.clone(),
                timeouts: self.context.timeouts,
            })
            .map_err(|error| match error.key.is_empty() {
                true => ConfigError::new(&self.key, error.message),
                false => ConfigError::new(format!("{}.{}", self.key, error.key), error.message),
            })?;
        let supported = &adapter.capabilities().currencies;
        let currencies = self.provider.currencies.as_ref().unwrap_or(supported);
        if let Some(unsupported) = currencies.iter().find(|c| !supported.contains(c)) {
            return Err(ConfigError::new(
                format!("{}.currencies", self.key),
                format!("{} does not support {unsupported}", self.provider_id),
            ));
        }
        Ok(ConfiguredProvider {
            currencies: currencies.clone(),
            adapter,
            enabled: self.provider.enabled,
            priority: self.provider.priority,
        })
    }

    /// Where the adapter calls its provider: an explicit base URL wins over `sandbox = true`,
    /// so a later layer (an overlay, an environment variable) can point a sandboxed provider
    /// at another server.
    fn base_url(&self) -> Result<Option<Url>, ConfigError> {
        match (self.provider.sandbox, &self.provider.base_url) {
            (_, Some(base_url)) => Ok(Some(base_url.clone())),
            (false, None) => Ok(None),
            (true, None) if !self.settings.sandbox.enabled => Err(ConfigError::new(
                format!("{}.sandbox", self.key),
                "sandbox = true needs sandbox.enabled = true",
            )),
            (true, None) => {
                let refusing = self
                    .settings
                    .sandbox
                    .faults
                    .get(self.provider_id)
                    .is_some_and(|fault| fault.mode == FaultMode::RefuseConnections);
                let root = match self.context.refusing_url {
                    Some(url) if refusing => url,
                    _ => self.context.public_url,
                };
                let api_path = sandbox_api_path(self.provider_id).map_err(|message| {
                    ConfigError::new(format!("{}.sandbox", self.key), message)
                })?;
                root.join(&format!("sandbox/{}/{api_path}", self.provider_id))
                    .map(Some)
                    .map_err(|error| ConfigError::new("server.public_url", error.to_string()))
            }
        }
    }
}

impl Merchants {
    /// Validates every merchant and builds its adapters, collecting all errors at once.
    pub fn build(
        settings: &Settings,
        context: &BuildContext<'_>,
    ) -> Result<Merchants, ConfigErrors> {
        let secrets = SecretResolver {
            allow_literals: settings.sandbox.enabled,
        };
        let mut errors = vec![];
        let mut merchants = Merchants::default();
        for (merchant_id, merchant_settings) in &settings.merchants {
            if !merchant_settings.enabled {
                continue;
            }
            let prefix = format!("merchants.{merchant_id}");
            if !valid_merchant_id(merchant_id) {
                errors.push(ConfigError::new(
                    &prefix,
                    "merchant ids use only a-z, 0-9, `_` and `-` (at most 64)",
                ));
                continue;
            }
            if let Some(problem) = merchant_settings
                .rate_limit
                .as_ref()
                .and_then(rate_limit_problem)
            {
                errors.push(ConfigError::new(format!("{prefix}.rate_limit"), problem));
            }
            let key_hashes = resolve_keys(&prefix, &merchant_settings.api_keys, secrets)
                .map_err(|problems| errors.extend(problems))
                .unwrap_or_default();
            let mut providers = BTreeMap::new();
            for (provider_id, provider_settings) in &merchant_settings.providers {
                let configured = ProviderBuild {
                    settings,
                    context,
                    secrets,
                    merchant_id,
                    provider_id,
                    provider: provider_settings,
                    key: format!("{prefix}.providers.{provider_id}"),
                }
                .run();
                match configured {
                    Ok(configured) => _ = providers.insert(provider_id.clone(), configured),
                    Err(error) => errors.push(error),
                }
            }
            let merchant = Arc::new(Merchant {
                id: merchant_id.clone(),
                providers,
                rate_limit: merchant_settings.rate_limit.unwrap_or(settings.rate_limit),
            });
            for hash in key_hashes {
                if merchants
                    .by_key_hash
                    .insert(hash, merchant.clone())
                    .is_some()
                {
                    errors.push(ConfigError::new(
                        format!("{prefix}.api_keys"),
                        "an API key is used twice (by this or another merchant)",
                    ));
                }
            }
            merchants.by_id.insert(merchant_id.clone(), merchant);
        }
        if errors.is_empty() {
            Ok(merchants)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The merchant an API key belongs to, and the key's hash (what its rate limit is kept by).
    pub fn authenticate(&self, api_key: &str) -> Option<(Arc<Merchant>, [u8; 32])> {
        let hash = key_hash(api_key);
        self.by_key_hash
            .get(&hash)
            .map(|merchant| (merchant.clone(), hash))
    }

    /// The merchant of the key whose SHA-256 is `hash`, while that key is configured.
    pub fn authenticate_hash(&self, hash: &[u8; 32]) -> Option<Arc<Merchant>> {
        self.by_key_hash.get(hash).cloned()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Merchant>> {
        self.by_id.get(id).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Merchant>> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Overlay;

    fn build(overlay: &str) -> Result<Merchants, ConfigErrors> {
        let settings = Settings::load(Overlay::Toml(overlay.to_owned())).unwrap();
        let http = reqwest::Client::new();
        let public_url = Url::parse("http://127.0.0.1:8080/").unwrap();
        Merchants::build(
            &settings,
            &BuildContext {
                registry: &Registry::standard(),
                public_url: &public_url,
                http: &http,
                timeouts: HttpTimeouts::default(),
                refusing_url: None,
            },
        )
    }

    #[test]
    fn the_demo_merchant_authenticates_with_its_key_only() {
        let merchants = build("").unwrap();
        assert_eq!(
            merchants.authenticate("pmx_test_demo").unwrap().0.id,
            "demo"
        );
        assert!(merchants.authenticate("pmx_test_dem").is_none());
        assert!(merchants.authenticate("").is_none());
    }

    #[test]
    fn unknown_providers_are_named_with_their_full_key() {
        let errors = build("[merchants.demo.providers.paypal]\nenabled = true").unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].key, "merchants.demo.providers.paypal");
        assert!(errors.0[0].message.contains("unknown provider `paypal`"));
    }

    #[test]
    fn literal_keys_need_the_sandbox_and_env_keys_must_be_set() {
        let errors = build(
            "[sandbox]\nenabled = false\n[merchants.acme]\napi_keys = [\"env:PAYMUX_TEST_UNSET_KEY\"]",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys[..2],
            ["merchants.acme.api_keys[0]", "merchants.demo.api_keys[0]"]
        );
        // The demo merchant's simulated providers need the sandbox too.
        assert!(
            keys.contains(&"merchants.demo.providers.sknpay.sandbox"),
            "{keys:?}"
        );
        assert!(
            keys[2..].iter().all(
                |key| key.starts_with("merchants.demo.providers.") && key.ends_with(".sandbox")
            ),
            "{keys:?}"
        );
        assert!(
            errors
                .to_string()
                .contains("PAYMUX_TEST_UNSET_KEY is not set")
        );
        assert!(errors.to_string().contains("sandbox.enabled"));
    }

    #[test]
    fn a_disabled_merchant_is_not_loaded_and_shared_keys_are_refused() {
        let merchants =
            build("[merchants.demo]\nenabled = false\n[merchants.acme]\napi_keys = [\"k1\"]")
                .unwrap();
        assert!(merchants.get("demo").is_none());
        assert!(merchants.authenticate("pmx_test_demo").is_none());
        assert_eq!(merchants.authenticate("k1").unwrap().0.id, "acme");
        let errors = build("[merchants.acme]\napi_keys = [\"pmx_test_demo\"]").unwrap_err();
        assert!(errors.to_string().contains("used twice"), "{errors}");
    }

    #[test]
    fn merchant_ids_must_be_url_safe() {
        let errors = build("[merchants.\"Bad Id\"]\napi_keys = [\"k\"]").unwrap_err();
        assert_eq!(errors.0[0].key, "merchants.Bad Id");
    }
}
