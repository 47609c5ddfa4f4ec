//! The sandbox: a simulated provider for each real one, so that the whole payment loop works
//! with no provider account. Each simulator speaks its provider's documented wire format (the
//! adapters' own [`paymux_providers`] types and signatures) and keeps its memory bounded; the
//! HTTP layer ([`http`]) serves them all through the same routes under `/sandbox/{provider}/`
//! and sends their webhooks with each provider's retry schedule ([`sender`]).
//!
//! A server mounts it through [`http::Host`]: the faults it sets, the checkouts a payment frame
//! is opened for, and how its errors look. Adding a simulator is one entry of [`SIMULATORS`].

pub mod http;
pub mod kwik;
pub mod memory;
mod page;
pub mod pakhi;
pub mod sender;
pub mod simulator;
pub mod skipify;
pub mod sknpay;
pub mod spankpay;
#[cfg(test)]
mod test_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use paymux_providers::{ConfigError, SecretResolver};
use url::Url;

pub use http::{Fault, Host, Problem};
use sender::WebhookSender;
use simulator::SandboxAccount;
pub use simulator::{FramedCheckout, Simulator};

/// One simulator: the provider it stands in for, where its API is below
/// `/sandbox/{provider}/` (what a sandboxed adapter's base URL ends with), and how to make it.
pub struct Registration {
    pub provider: &'static str,
    pub api_path: &'static str,
    build: fn() -> Arc<dyn Simulator>,
}

impl Registration {
    /// The simulator `S`, in its initial state, standing in for `provider`.
    const fn of<S: Simulator + Default>(provider: &'static str, api_path: &'static str) -> Self {
        Registration {
            provider,
            api_path,
            build: || Arc::new(S::default()),
        }
    }
}

/// Every simulator.
pub const SIMULATORS: [Registration; 5] = [
    Registration::of::<sknpay::SknSandbox>(paymux_providers::sknpay::ID, "api/v1/"),
    Registration::of::<pakhi::PakhiSandbox>(paymux_providers::pakhi::ID, ""),
    Registration::of::<kwik::KwikSandbox>(paymux_providers::kwik::ID, "2.0/"),
    Registration::of::<spankpay::SpankPaySandbox>(paymux_providers::spankpay::ID, ""),
    Registration::of::<skipify::SkipifySandbox>(paymux_providers::skipify::ID, ""),
];

/// Where `provider`'s simulated API is below `/sandbox/{provider}/`, if it has a simulator.
pub fn api_path(provider: &str) -> Option<&'static str> {
    SIMULATORS
        .iter()
        .find(|registration| registration.provider == provider)
        .map(|registration| registration.api_path)
}

/// A merchant's account at a simulated provider, from the config section that configures the
/// merchant's adapter. No `Debug`: the settings hold the account's secrets.
pub struct AccountSpec<'a> {
    pub merchant: &'a str,
    pub provider: &'a str,
    pub settings: &'a serde_json::Value,
    pub secrets: SecretResolver,
    /// Where the merchant receives the provider's webhooks.
    pub webhook_url: Url,
}

/// The running simulators, shared by every merchant whose provider is sandboxed.
pub struct Sandbox {
    simulators: BTreeMap<&'static str, Arc<dyn Simulator>>,
    /// Each simulator's hosted pages, to which a checkout id is appended.
    pay_pages: BTreeMap<&'static str, Url>,
    sender: WebhookSender,
    /// The server's public base URL, where the pages and the control endpoint are.
    public_url: Url,
    host: Arc<dyn Host>,
    /// The `(merchant, provider)` accounts opened so far.
    opened: Mutex<BTreeSet<(String, String)>>,
}

impl Sandbox {
    /// Every simulator, its pages below `public_url`, sending webhooks through `http` with
    /// retry delays divided by `retry_speedup`.
    pub fn new(
        public_url: Url,
        http: reqwest::Client,
        retry_speedup: u32,
        host: Arc<dyn Host>,
    ) -> Result<Sandbox, url::ParseError> {
        let mut simulators = BTreeMap::new();
        let mut pay_pages = BTreeMap::new();
        for registration in &SIMULATORS {
            let provider = registration.provider;
            simulators.insert(provider, (registration.build)());
            pay_pages.insert(
                provider,
                public_url.join(&format!("sandbox/{provider}/pay/"))?,
            );
        }
        Ok(Sandbox {
            simulators,
            pay_pages,
            sender: WebhookSender::new(http, retry_speedup),
            public_url,
            host,
            opened: Mutex::default(),
        })
    }

    /// Opens an account unless one is open for the same merchant and provider: an account
    /// keeps the credentials it was opened with. Errors name the key in the provider's
    /// section.
    pub fn open_account(&self, spec: AccountSpec<'_>) -> Result<(), ConfigError> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        let account = (spec.merchant.to_owned(), spec.provider.to_owned());
        if opened.contains(&account) {
            return Ok(());
        }
        let (Some(simulator), Some(pay_page_base)) = (
            self.simulators.get(spec.provider),
            self.pay_pages.get(spec.provider),
        ) else {
            return Err(ConfigError::new(
                "sandbox",
                format!("there is no sandbox for `{}`", spec.provider),
            ));
        };
        simulator.add_account(SandboxAccount {
            merchant: spec.merchant,
            settings: spec.settings,
            secrets: spec.secrets,
            webhook_url: spec.webhook_url,
            pay_page_base: pay_page_base.clone(),
        })?;
        opened.insert(account);
        Ok(())
    }

    /// The simulator of type `T`, to reach its own methods (a test counting the payments
    /// made, a switch of one provider's).
    pub fn simulator<T: Simulator>(&self) -> Option<Arc<T>> {
        self.simulators.values().find_map(|simulator| {
            let any: Arc<dyn std::any::Any + Send + Sync> = simulator.clone();
            any.downcast::<T>().ok()
        })
    }

    /// The path of `provider`'s pages' stylesheet.
    fn stylesheet_path(&self, provider: &str) -> String {
        format!("{}sandbox/{provider}/page.css", self.public_url.path())
    }
}
