//! The running configuration and its reload.
//!
//! What a reload may change (merchants and their providers, routing, rate limits, the admin
//! token, HTTP timeouts, sandbox faults) is held as one [`LiveConfig`], validated as a whole
//! before it replaces the old one in a single swap. A request takes one snapshot when it starts
//! (its merchant, through authentication) and uses it to the end, so a reload never changes a
//! request in flight. `server`, `database` and the sandbox switch only take effect at start: a
//! reload that changes them applies everything else and names them in its answer.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use paymux_providers::http::build_client;
use paymux_providers::signing::constant_time_eq;
use paymux_providers::{ConfigError, Registry, SecretResolver};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use crate::breaker::Policy;
use crate::merchants::{BuildContext, ConfigErrors, Merchants, key_hash, rate_limit_problem};
use crate::settings::{CheckoutSettings, FaultMode, FaultSettings, LoadError, Settings};

/// Everything a reload may change, validated.
pub struct LiveConfig {
    /// The settings it was built from (faults set through the admin API included).
    pub settings: Settings,
    pub merchants: Merchants,
    /// SHA-256 of the admin token, when the admin API is on and has one.
    admin_token: Option<[u8; 32]>,
}

impl std::fmt::Debug for LiveConfig {
    /// Leaves out the admin token's hash: a short token could be guessed from it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig")
            .field("settings", &self.settings)
            .field("merchants", &self.merchants)
            .finish_non_exhaustive()
    }
}

/// What an admin request's token amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    Granted,
    Denied,
    /// `admin.enabled = false`: the admin API does not exist.
    Disabled,
}

/// Where paymux is reached, for adapters' webhook URLs and sandbox base URLs.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub public_url: Url,
    /// See [`BuildContext::refusing_url`].
    pub refusing_url: Option<Url>,
}

impl LiveConfig {
    /// Validates everything a reload may change, collecting every problem with its key.
    pub fn build(
        settings: Settings,
        registry: &Registry,
        addresses: &Addresses,
    ) -> Result<LiveConfig, ConfigErrors> {
        let mut errors = vec![];
        let timeouts = settings.http.timeouts();
        let merchants = match build_client(timeouts) {
            Ok(http) => Merchants::build(
                &settings,
                &BuildContext {
                    registry,
                    public_url: &addresses.public_url,
                    http: &http,
                    timeouts,
                    refusing_url: addresses.refusing_url.as_ref(),
                },
            ),
            Err(error) => Err(ConfigErrors::one("http", error.to_string())),
        };
        if settings.sandbox.enabled && !cfg!(feature = "sandbox") {
            errors.push(ConfigError::new(
                "sandbox.enabled",
                "this paymux is built without the sandbox (cargo feature `sandbox`): \
                 set sandbox.enabled = false, or build with the default features",
            ));
        }
        let merchants = merchants.map_err(|e| errors.extend(e.0)).ok();
        errors.extend(check_numbers(&settings));
        for (provider, fault) in &settings.sandbox.faults {
            if let Err(message) = check_fault(&settings, registry, provider, fault) {
                errors.push(ConfigError::new(
                    format!("sandbox.faults.{provider}"),
                    message,
                ));
            }
        }
        if let Err(error) = redis_url(&settings) {
            errors.push(error);
        }
        let admin_token = resolve_admin_token(&settings).map_err(|e| errors.push(e));
        match merchants {
            Some(merchants) if errors.is_empty() => Ok(LiveConfig {
                settings,
                merchants,
                admin_token: admin_token.ok().flatten(),
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    pub fn policy(&self) -> Policy {
        Policy::from(&self.settings.routing)
    }

    /// Whether the admin token whose SHA-256 is `hash` is still the configured one (and the
    /// admin access enabled), in constant time.
    pub fn admin_hash_granted(&self, hash: &[u8; 32]) -> bool {
        self.settings.admin.enabled
            && self
                .admin_token
                .is_some_and(|expected| constant_time_eq(&expected, hash))
    }

    /// Checks an admin request's bearer token, in constant time (over its hash).
    pub fn admin_access(&self, presented: Option<&str>) -> AdminAccess {
        if !self.settings.admin.enabled {
            return AdminAccess::Disabled;
        }
        match (self.admin_token, presented) {
            (Some(expected), Some(presented))
                if constant_time_eq(&expected, &key_hash(presented)) =>
            {
                AdminAccess::Granted
            }
            _ => AdminAccess::Denied,
        }
    }
}

/// The numeric settings' bounds, each reported under its own key.
fn check_numbers(settings: &Settings) -> Vec<ConfigError> {
    let mut errors = vec![];
    let mut require = |ok: bool, key: &str, message: &str| {
        if !ok {
            errors.push(ConfigError::new(key, message));
        }
    };
    require(
        settings.routing.failure_threshold > 0,
        "routing.failure_threshold",
        "must be at least 1",
    );
    if let Some(problem) = rate_limit_problem(&settings.rate_limit) {
        require(false, "rate_limit", problem);
    }
    let limits = &settings.webhook_limits;
    require(
        limits.rejected_per_second.is_finite() && limits.rejected_per_second > 0.0,
        "webhook_limits.rejected_per_second",
        "must be a positive number",
    );
    require(
        limits.rejected_burst > 0,
        "webhook_limits.rejected_burst",
        "must be at least 1",
    );
    require(
        (1..=CheckoutSettings::LONGEST_EXPIRY_SECS)
            .contains(&settings.checkouts.default_expires_in_secs),
        "checkouts.default_expires_in_secs",
        &format!(
            "must be from 1 to {} (ten years)",
            CheckoutSettings::LONGEST_EXPIRY_SECS
        ),
    );
    require(
        settings.jobs.interval_secs > 0,
        "jobs.interval_secs",
        "must be at least 1",
    );
    // The writers hold a connection each (one on SQLite, up to half the pool on PostgreSQL).
    require(
        settings.database.max_connections >= 2,
        "database.max_connections",
        "must be at least 2: one for the writer, the rest for reads",
    );
    errors
}

/// `[redis] url` resolved, as a node connects to it: a `redis://` or `rediss://` URL, whose
/// password (if any) is not written in the file outside the sandbox, like every other secret.
pub fn redis_url(settings: &Settings) -> Result<Option<SecretString>, ConfigError> {
    let Some(reference) = &settings.redis.url else {
        return Ok(None);
    };
    let refused = |message: String| ConfigError::new("redis.url", message);
    // A URL names a host, and may be written as it is.
    let secrets = SecretResolver {
        allow_literals: true,
    };
    let url = secrets.resolve(reference).map_err(refused)?;
    let parsed = Url::parse(url.expose_secret())
        .map_err(|_| refused("not a URL: expected redis://host:port/db".to_owned()))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(refused(format!(
            "`{}://` is not Redis: expected redis:// or rediss://",
            parsed.scheme()
        )));
    }
    if reference.literal().is_some() && parsed.password().is_some() && !settings.sandbox.enabled {
        return Err(refused(
            "a password may not be written in the config: give the URL as env:NAME or file:PATH"
                .to_owned(),
        ));
    }
    Ok(Some(url))
}

/// The admin token's hash, or none when the admin API is off or has no token.
fn resolve_admin_token(settings: &Settings) -> Result<Option<[u8; 32]>, ConfigError> {
    let (true, Some(token)) = (settings.admin.enabled, &settings.admin.token) else {
        return Ok(None);
    };
    let secrets = SecretResolver {
        allow_literals: settings.sandbox.enabled,
    };
    match secrets.resolve(token) {
        Ok(token) if token.expose_secret().is_empty() => {
            Err(ConfigError::new("admin.token", "the token is empty"))
        }
        Ok(token) => Ok(Some(key_hash(token.expose_secret()))),
        Err(message) => Err(ConfigError::new("admin.token", message)),
    }
}

fn check_fault(
    settings: &Settings,
    registry: &Registry,
    provider: &str,
    fault: &FaultSettings,
) -> Result<(), String> {
    if !settings.sandbox.enabled {
        return Err("sandbox faults need sandbox.enabled = true".to_owned());
    }
    if registry.get(provider).is_none() {
        return Err(format!("unknown provider `{provider}`"));
    }
    match (fault.mode, fault.delay_ms) {
        (FaultMode::Delay, None | Some(0)) => Err("mode = \"delay\" needs delay_ms".to_owned()),
        (FaultMode::Delay, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err("delay_ms only goes with mode = \"delay\"".to_owned()),
    }
}

/// Where settings are read from, at start and on every reload.
pub type ConfigSource = Arc<dyn Fn() -> Result<Settings, LoadError> + Send + Sync>;

/// Why a reload was refused; the running config is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// The merchants now served.
    pub merchants: Vec<String>,
    /// Changed settings that only take effect at the next start.
    pub restart_required: Vec<&'static str>,
}

/// The running [`LiveConfig`] and what rebuilding it takes.
pub struct Live {
    current: RwLock<Arc<LiveConfig>>,
    source: ConfigSource,
    registry: Registry,
    addresses: Addresses,
    /// The settings the process started with, for what only a restart changes.
    started: Settings,
    /// One reload at a time, so that two cannot apply out of order.
    reloading: tokio::sync::Mutex<()>,
    /// What else a reload must get through before it is swapped in ([`Live::on_reload`]).
    hooks: Mutex<Vec<ReloadHook>>,
}

/// Runs on a reload's validated settings before they are swapped in: a part of the server
/// that keeps state of its own (the sandbox's accounts) takes them, or refuses the reload.
pub type ReloadHook = Arc<dyn Fn(&Settings) -> Result<(), ConfigErrors> + Send + Sync>;

impl Live {
    /// The settings the process started with (server, database, sandbox switch).
    pub fn started(&self) -> &Settings {
        &self.started
    }

    /// Where paymux is reached, as the simulators and the playground call it.
    pub fn public_url(&self) -> &Url {
        &self.addresses.public_url
    }

    /// The ids of every provider this build knows, configured or not.
    pub fn provider_ids(&self) -> Vec<&'static str> {
        self.registry.ids().collect()
    }

    pub fn new(
        config: LiveConfig,
        source: ConfigSource,
        registry: Registry,
        addresses: Addresses,
    ) -> Live {
        Live {
            started: config.settings.clone(),
            current: RwLock::new(Arc::new(config)),
            source,
            registry,
            addresses,
            reloading: tokio::sync::Mutex::new(()),
            hooks: Mutex::default(),
        }
    }

    /// Adds `hook` to every later reload.
    pub fn on_reload(&self, hook: ReloadHook) {
        self.hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hook);
    }

    /// The config now in force; hold on to it for the whole request.
    pub fn snapshot(&self) -> Arc<LiveConfig> {
        // The lock only guards a pointer swap: a poisoned one still holds a whole config.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the config source again and swaps the result in, if it is valid and every
    /// [`ReloadHook`] takes it.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let source = self.source.clone();
        let settings = run_blocking(move || source()).await??;
        self.apply(settings).await
    }

    /// Replaces the sandbox faults of the running config (until the next reload).
    pub async fn set_fault(
        &self,
        provider: &str,
        fault: Option<FaultSettings>,
    ) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let mut settings = self.snapshot().settings.clone();
        match fault {
            Some(fault) => settings.sandbox.faults.insert(provider.to_owned(), fault),
            None => settings.sandbox.faults.remove(provider),
        };
        self.apply(settings).await
    }

    async fn apply(&self, mut settings: Settings) -> Result<ReloadReport, ReloadError> {
        let restart_required = restart_required(&self.started, &settings);
        // The sandbox switch only changes at start: validate with the one this process runs
        // with, or a reload turning it on in production would let in literal secrets (the
        // public demo admin token among them), faults and simulator-pointed providers.
        settings.sandbox.enabled = self.started.sandbox.enabled;
        let registry = self.registry.clone();
        let addresses = self.addresses.clone();
        let hooks = self
            .hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Secrets may be read from files: off the async workers.
        let config = run_blocking(move || {
            let config = LiveConfig::build(settings, &registry, &addresses)?;
            for hook in &hooks {
                hook(&config.settings)?;
            }
            Ok::<_, ConfigErrors>(config)
        })
        .await??;
        let report = ReloadReport {
            merchants: config.merchants.iter().map(|m| m.id.clone()).collect(),
            restart_required,
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(report)
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ReloadError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ReloadError::Invalid(ConfigErrors::one(
            "reload",
            format!("the reload stopped: {error}"),
        ))
    })
}

/// The settings that differ from those the process started with and only apply at start.
fn restart_required(started: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut changed = vec![];
    if started.server != new.server {
        changed.push("server");
    }
    if started.database != new.database {
        changed.push("database");
    }
    if started.redis != new.redis {
        changed.push("redis");
    }
    if started.sandbox.enabled != new.sandbox.enabled {
        changed.push("sandbox.enabled");
    }
    if started.sandbox.retry_speedup != new.sandbox.retry_speedup {
        changed.push("sandbox.retry_speedup");
    }
    // The senders are built at start with these.
    if started.outbound_webhooks != new.outbound_webhooks {
        changed.push("outbound_webhooks");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Overlay;

    fn addresses() -> Addresses {
        Addresses {
            public_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
            refusing_url: None,
        }
    }

    fn build(overlay: &str) -> Result<LiveConfig, ConfigErrors> {
        let settings = Settings::load(Overlay::Toml(overlay.to_owned())).unwrap();
        LiveConfig::build(settings, &Registry::standard(), &addresses())
    }

    /// A build without the simulators refuses the default config, which turns the sandbox on,
    /// and says what to change; with it off, the same config loads.
    #[cfg(not(feature = "sandbox"))]
    #[test]
    fn without_the_sandbox_feature_the_sandbox_cannot_be_enabled() {
        let errors = build("").unwrap_err().to_string();
        assert!(errors.contains("sandbox.enabled: this paymux is built without the sandbox"));
        let off = "[sandbox]\nenabled = false\n[admin]\nenabled = false\n[merchants.demo]\nenabled = false";
        assert!(build(off).is_ok());
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        let errors = build(
            r#"
            [routing]
            failure_threshold = 0
            [rate_limit]
            requests_per_second = 0
            [sandbox.faults.sknpay]
            mode = "delay"
            [sandbox.faults.paypal]
            mode = "unavailable"
            [merchants.demo.rate_limit]
            requests_per_second = 1
            burst = 0
            "#,
        )
        .unwrap_err()
        .to_string();
        for key in [
            "routing.failure_threshold: must be at least 1",
            "rate_limit: requests_per_second must be a positive number",
            "sandbox.faults.sknpay: mode = \"delay\" needs delay_ms",
            "sandbox.faults.paypal: unknown provider `paypal`",
            "merchants.demo.rate_limit: burst must be at least 1",
        ] {
            assert!(errors.contains(key), "{key} in {errors}");
        }
    }

    #[test]
    fn the_admin_token_is_checked_and_a_literal_needs_the_sandbox() {
        let config = build("").unwrap();
        assert_eq!(
            config.admin_access(Some("pmx_admin_demo")),
            AdminAccess::Granted
        );
        assert_eq!(
            config.admin_access(Some("pmx_admin_dem")),
            AdminAccess::Denied
        );
        assert_eq!(config.admin_access(None), AdminAccess::Denied);
        let disabled = build("[admin]\nenabled = false").unwrap();
        assert_eq!(
            disabled.admin_access(Some("pmx_admin_demo")),
            AdminAccess::Disabled
        );
        let errors = build("[sandbox]\nenabled = false\n[merchants.demo]\nenabled = false")
            .unwrap_err()
            .to_string();
        assert!(errors.contains("admin.token"), "{errors}");
        assert!(!errors.contains("pmx_admin_demo"), "{errors}");
    }

    #[tokio::test]
    async fn a_reload_is_validated_with_the_sandbox_switch_the_process_runs_with() {
        let running = build(
            "[sandbox]\nenabled = false\n[merchants.demo]\nenabled = false\n\
             [admin]\nenabled = false",
        )
        .unwrap();
        // The new config turns the sandbox on: literal secrets, the demo admin token and
        // simulated providers, none of which a process without the sandbox may take.
        let source: ConfigSource = Arc::new(|| Settings::load(Overlay::Toml(String::new())));
        let live = Live::new(running, source, Registry::standard(), addresses());
        let error = live.reload().await.unwrap_err().to_string();
        for key in ["admin.token", "merchants.demo.providers.sknpay.sandbox"] {
            assert!(error.contains(key), "{key} in {error}");
        }
        assert!(!live.snapshot().settings.admin.enabled);
    }

    #[test]
    fn only_server_database_the_sandbox_switch_and_the_senders_need_a_restart() {
        let started = Settings::load(Overlay::Toml(String::new())).unwrap();
        let mut new = started.clone();
        new.routing.failure_threshold = 9;
        new.merchants.clear();
        assert!(restart_required(&started, &new).is_empty());
        new.server.bind = "0.0.0.0:9".into();
        new.database.url = "sqlite://other.db".into();
        assert_eq!(restart_required(&started, &new), ["server", "database"]);
        new.outbound_webhooks.max_in_flight += 1;
        assert_eq!(
            restart_required(&started, &new),
            ["server", "database", "outbound_webhooks"]
        );
    }
}
