//! Settings, read through the `config` crate in three layers: `config/default.toml` (compiled
//! in, so the binary runs anywhere), the file named by `PAYMUX_CONFIG`, then environment
//! variables `PAYMUX__SECTION__KEY`. Settings are passed explicitly, never through a global.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use paymux_domain::Currency;
use paymux_providers::SecretRef;
use paymux_providers::http::HttpTimeouts;
use serde::Deserialize;
use url::Url;

/// The built-in defaults: the first layer.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub sandbox: SandboxSettings,
    pub routing: RoutingSettings,
    pub rate_limit: RateLimitSettings,
    pub webhook_limits: WebhookLimitSettings,
    pub checkouts: CheckoutSettings,
    pub retention: RetentionSettings,
    pub jobs: JobSettings,
    pub outbound_webhooks: OutboundWebhookSettings,
    pub admin: AdminSettings,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub merchants: BTreeMap<String, MerchantSettings>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// `host:port` to listen on; port 0 picks a free one (tests).
    pub bind: String,
    /// Base URL providers reach paymux at; defaults to `http://<bound address>`.
    pub public_url: Option<Url>,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; defaults to one per CPU core.
    pub workers: Option<usize>,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client; any other
    /// peer is the client itself.
    #[serde(default)]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// What this process does (`paymux serve --role`).
    #[serde(default)]
    pub role: Role,
}

/// What a gateway process does, so that a deployment scales its API and its background work
/// apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves the API and takes no background work.
    Api,
    /// Runs the background jobs and outbound deliveries, and serves only `/healthz`,
    /// `/readyz` and `/metrics`.
    Worker,
    /// Both: one process is a whole gateway.
    #[default]
    All,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Worker => "worker",
            Role::All => "all",
        }
    }

    /// Whether this process serves the API.
    pub const fn serves_api(self) -> bool {
        !matches!(self, Role::Worker)
    }

    /// Whether this process runs the background jobs and sends outbound webhooks.
    pub const fn works(self) -> bool {
        !matches!(self, Role::Api)
    }
}

/// Redis, where several nodes share their rate limits and circuit breakers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://host:port/db`; unset, each process keeps its own limits and circuits (right for
    /// one node). A password in it belongs in `env:NAME` or `file:/path`.
    pub url: Option<SecretRef>,
    /// What every key starts with, so that deployments sharing one Redis share nothing.
    pub prefix: String,
    /// How long a request waits for Redis before its node decides on its own.
    pub answer_within_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> RedisSettings {
        RedisSettings {
            url: None,
            prefix: "paymux".to_owned(),
            answer_within_ms: 250,
        }
    }
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://…`. May hold a password: never logged as is.
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &paymux_schema::db::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub connect_timeout_ms: u64,
    pub total_timeout_ms: u64,
}

impl HttpSettings {
    pub fn timeouts(&self) -> HttpTimeouts {
        HttpTimeouts {
            connect: Duration::from_millis(self.connect_timeout_ms),
            total: Duration::from_millis(self.total_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub enabled: bool,
    /// Divides the simulated providers' webhook retry delays (1 = the documented schedules).
    pub retry_speedup: u32,
    /// Faults the simulated providers' APIs show, by provider id, so failover can be tried.
    #[serde(default)]
    pub faults: BTreeMap<String, FaultSettings>,
    /// Makes the simulated Pakhi Pay's verify API confirm transactions it never made, for
    /// callbacks signed by hand; off, it answers for them as Pakhi Pay would (not found).
    #[serde(default)]
    pub pakhi_confirms_unknown_transactions: bool,
}

/// A fault of one simulated provider's API (its hosted pages and control keep working).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    pub mode: FaultMode,
    /// How long `delay` holds each answer after serving the call (milliseconds).
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answers 503: the provider is down, nothing is created.
    Unavailable,
    /// Adapters are pointed at an address that refuses connections.
    RefuseConnections,
    /// Serves each call, then holds the answer for `delay_ms`: past the HTTP timeout, the
    /// outcome is unknown to paymux although the simulator did create the checkout.
    Delay,
}

/// The circuit breaker of each merchant's provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// Seconds an open circuit waits before letting one trial call through (half-open).
    pub cooldown_secs: u64,
}

/// A token bucket per merchant API key.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Tokens added per second (fractions allowed: 0.5 is one request every two seconds).
    pub requests_per_second: f64,
    /// The bucket's size: how many requests may come at once after a quiet spell.
    pub burst: u32,
}

/// Token buckets for rejected webhooks only: a webhook that verifies never takes a token.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookLimitSettings {
    /// Rejections refilled per second, per merchant and provider and per client address.
    pub rejected_per_second: f64,
    /// How many rejections may come at once after a quiet spell.
    pub rejected_burst: u32,
}

impl WebhookLimitSettings {
    /// The bucket each merchant and provider, and each client address, gets.
    pub fn bucket(&self) -> RateLimitSettings {
        RateLimitSettings {
            requests_per_second: self.rejected_per_second,
            burst: self.rejected_burst,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSettings {
    /// How long a checkout created without `expires_at` stays payable.
    pub default_expires_in_secs: u64,
}

impl CheckoutSettings {
    /// The longest `default_expires_in_secs` allowed: ten years.
    pub const LONGEST_EXPIRY_SECS: u64 = 10 * 365 * 24 * 3600;

    /// `default_expires_in_secs` as a duration (validated to at most ten years at load).
    pub fn default_expiry(&self) -> chrono::TimeDelta {
        let seconds = self.default_expires_in_secs.min(Self::LONGEST_EXPIRY_SECS);
        chrono::TimeDelta::seconds(i64::try_from(seconds).unwrap_or(0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Rejected webhook receipts are deleted after this many days. Accepted receipts and
    /// events are kept.
    pub rejected_receipts_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Seconds between runs of the background jobs: expiring checkouts, deleting what the
    /// retention settings let go.
    pub interval_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundWebhookSettings {
    /// Divides the retry delays and the five days after which a failing endpoint is disabled
    /// (tests use 1000); 1 keeps the documented schedule.
    pub retry_speedup: u32,
    /// Whether endpoints may be plain http or name loopback, private, link-local or
    /// unique-local addresses. Unset, it follows `sandbox.enabled`: the demo's receiver on
    /// loopback works, and a production config is guarded without saying so.
    #[serde(default)]
    pub allow_private_networks: Option<bool>,
    /// Deliveries in flight at once in this process, and to one endpoint.
    pub max_in_flight: usize,
    pub max_in_flight_per_endpoint: usize,
}

/// A proxy allowed to say who the client is: one address, or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: std::net::IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `address` is this proxy or inside its block.
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
            let keep = u32::from(prefix).min(width);
            if keep == 0 { 0 } else { bits >> (width - keep) }
        }
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                masked(u32::from(network).into(), 32, self.prefix)
                    == masked(u32::from(address).into(), 32, self.prefix)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                masked(network.into(), 128, self.prefix) == masked(address.into(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || format!("`{text}` is not an IP address or a CIDR block");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: std::net::IpAddr = address.parse().map_err(|_| refused())?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= width)
                .ok_or_else(refused)?,
        };
        Ok(TrustedProxy { network, prefix })
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The admin API (`/v1/admin/…`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// When false, every admin endpoint answers 404.
    pub enabled: bool,
    /// `Authorization: Bearer <token>` of the admin endpoints: `env:NAME` or `file:PATH`
    /// (a literal only while the sandbox is enabled).
    pub token: Option<SecretRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSettings {
    /// A disabled merchant is not loaded at all (its secrets are not even resolved), which is
    /// how a production overlay switches the built-in demo merchant off.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Keys the merchant's storefront authenticates with (`Authorization: Bearer …`).
    pub api_keys: Vec<SecretRef>,
    /// Overrides `[rate_limit]` for this merchant's keys.
    pub rate_limit: Option<RateLimitSettings>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// One provider for one merchant: the keys every provider has, and its own keys in `specific`,
/// which its adapter reads (and refuses when unknown).
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Lower is tried first when routing picks a provider.
    #[serde(default)]
    pub priority: u32,
    /// Currencies this merchant takes through this provider; defaults to all it supports.
    pub currencies: Option<Vec<Currency>>,
    /// Overrides the provider's documented API base URL (staging, tests).
    pub base_url: Option<Url>,
    /// Points the provider at this paymux's own simulator (needs `sandbox.enabled`).
    #[serde(default)]
    pub sandbox: bool,
    #[serde(flatten)]
    pub specific: serde_json::Map<String, serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}

/// Where the second layer comes from.
#[derive(Debug, Clone)]
pub enum Overlay {
    /// The file named by `PAYMUX_CONFIG`, if that is set.
    FromEnvironment,
    /// This file.
    File(PathBuf),
    /// TOML text (tests).
    Toml(String),
}

/// A config that cannot be read: the message names the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(String);

impl LoadError {
    /// The config crate's message without the source lines a TOML parse error quotes
    /// (`12 | url = "postgres://user:password@…`): a line may hold a secret, and the message
    /// reaches logs and the reload API.
    fn from_config(error: config::ConfigError) -> LoadError {
        let message = error.to_string();
        let kept: Vec<&str> = message
            .lines()
            .filter(|line| !is_quoted_source(line))
            .collect();
        LoadError(kept.join("\n"))
    }
}

/// A line of TOML source as parse errors quote it: `12 | text`, or the `   |` rule around it.
fn is_quoted_source(line: &str) -> bool {
    let trimmed = line.trim_start();
    let number_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    trimmed[number_end..].trim_start().starts_with('|')
}

impl Settings {
    /// Whether webhook endpoints may be on private networks ([`OutboundWebhookSettings`]).
    pub fn allow_private_networks(&self) -> bool {
        self.outbound_webhooks
            .allow_private_networks
            .unwrap_or(self.sandbox.enabled)
    }

    /// Reads the three layers.
    pub fn load(overlay: Overlay) -> Result<Settings, LoadError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_CONFIG,
            config::FileFormat::Toml,
        ));
        let overlay_file = match overlay {
            Overlay::FromEnvironment => std::env::var_os("PAYMUX_CONFIG").map(PathBuf::from),
            Overlay::File(path) => Some(path),
            Overlay::Toml(text) => {
                builder =
                    builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
                None
            }
        };
        if let Some(path) = overlay_file {
            if !Path::new(&path).is_file() {
                return Err(LoadError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix("PAYMUX")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let config = builder.build().map_err(LoadError::from_config)?;
        config.try_deserialize().map_err(LoadError::from_config)
    }

    /// The address to listen on.
    pub fn bind_address(&self) -> Result<SocketAddr, String> {
        self.server
            .bind
            .parse()
            .map_err(|_| format!("`{}` is not a host:port socket address", self.server.bind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_file_is_reported_without_quoting_its_lines() {
        let broken =
            "[database]\nurl = \"postgres://paymux:hunter2@db/paymux\nmax_connections = 4\n";
        let error = Settings::load(Overlay::Toml(broken.to_owned()))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn the_defaults_run_the_sandbox_demo_on_sqlite() {
        let settings = Settings::load(Overlay::Toml(String::new())).unwrap();
        assert_eq!(settings.database.url, "sqlite://data/paymux.db");
        assert!(settings.sandbox.enabled);
        let demo = &settings.merchants["demo"];
        assert!(demo.enabled);
        assert_eq!(format!("{:?}", demo.api_keys), "[[literal secret]]");
        assert_eq!(settings.bind_address().unwrap().port(), 8080);
    }

    #[test]
    fn an_overlay_overrides_and_extends_the_defaults() {
        let overlay = r#"
            [database]
            url = "postgres://paymux:hunter2@db/paymux"
            [merchants.acme]
            api_keys = ["env:ACME_API_KEY"]
            [merchants.acme.providers.sknpay]
            priority = 2
            currencies = ["usd", "XCD"]
            api_key = "env:SKN_KEY"
        "#;
        let settings = Settings::load(Overlay::Toml(overlay.to_owned())).unwrap();
        assert!(!format!("{:?}", settings.database).contains("hunter2"));
        let skn = &settings.merchants["acme"].providers["sknpay"];
        assert!(skn.enabled);
        assert_eq!(skn.priority, 2);
        assert_eq!(skn.currencies, Some(vec![Currency::Usd, Currency::Xcd]));
        assert_eq!(skn.specific["api_key"], "env:SKN_KEY");
        assert!(settings.merchants.contains_key("demo"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let error = Settings::load(Overlay::Toml("[server]\nbindd = \"x\"".into())).unwrap_err();
        assert!(error.to_string().contains("bindd"), "{error}");
        let error = Settings::load(Overlay::Toml(
            "[merchants.demo.providers.x]\ncurrencies = [\"EURO\"]".into(),
        ))
        .unwrap_err();
        assert!(error.to_string().contains("EURO"), "{error}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let block: TrustedProxy = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(!block.contains("::1".parse().unwrap()));
        let one: TrustedProxy = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        // An IPv4 peer seen through an IPv6 socket is the same peer.
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        let everyone: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(everyone.contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad}");
        }
        let error = Settings::load(Overlay::Toml(
            "[server]\ntrusted_proxies = [\"10.0.0.0/99\"]".into(),
        ))
        .unwrap_err();
        assert!(error.to_string().contains("10.0.0.0/99"), "{error}");
    }

    #[test]
    fn a_missing_overlay_file_is_an_error() {
        let error = Settings::load(Overlay::File("/nonexistent/paymux.toml".into())).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}
