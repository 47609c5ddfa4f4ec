//! Kwik (`shared/providers/kwik.txt`): hosted checkout links in South Africa.
//!
//! - One call: `POST {base}checkout/link` with HTTP Basic `api_key:api_secret`, base
//!   `https://api.kwik.co.za/2.0/` unless configured. A checkout without items is a
//!   `CHOOSE_WHAT_TO_PAY` link with a preset `item.amount`; one with items is a
//!   `PRODUCTS_AND_SUBSCRIPTIONS` basket of inline one-time products. Amounts are ZAR decimal
//!   strings in rand (120000 minor units → `"1200.00"`), never floats.
//! - With a `passphrase` configured, every request carries `signature`, the HMAC-SHA256 of the
//!   body's canonical JSON as the doc's JavaScript `canonicalize` computes it (see
//!   [`signature`]).
//! - Webhooks go to `notification.webhook_url`, which every create sets to the merchant's
//!   paymux endpoint. `X-Signature` is the hex HMAC-SHA256 of the raw body under
//!   `webhook_secret` (the passphrase when that is not set), `X-Timestamp` must be at most
//!   300 s old. `data` is an array: each element is its own event, with an id derived from the
//!   event, checkout id, transaction id and `created_at` (Kwik sends none).
//! - Correlation is by Kwik's checkout id (`result.id` on create, `data[].checkout.id` on
//!   webhooks). Kwik echoes nothing of paymux's on a checkout: `customer.reference` is a
//!   customer's reference and `customer.metadata` a customer's metadata, neither is shown on
//!   webhooks, so paymux puts its checkout id in neither (and sends no merchant metadata).
//! - Test or live: the doc documents no test keys, no mode field and no test host, so an
//!   adapter is live exactly when it talks to Kwik's production host `api.kwik.co.za`; any
//!   other base URL (the sandbox, a staging host, a test double) is test mode.
//! - Kwik documents no retrieve, cancel or refund for checkout links: those are
//!   [`crate::ProviderError::Unsupported`]. It documents no idempotency key either.
//!
//! Layout: [`wire`] holds Kwik's JSON and the conversions to and from ours, [`signature`] the
//! request and webhook signatures, and [`KwikAdapter`] the calls behind [`Provider`]. The simulated
//! Kwik is in the `paymux-sandbox` crate.

mod adapter;
pub mod signature;
pub mod wire;

use std::sync::Arc;

pub use adapter::{Credentials, KwikAdapter};

use crate::{AdapterContext, ConfigError, Provider, ProviderFactory};

/// Kwik's id in config and URLs.
pub const ID: &str = "kwik";
/// Kwik's production API, used unless the merchant's config sets `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.kwik.co.za/2.0/";
/// The host of Kwik's production API: the only one that moves real money.
pub const PRODUCTION_HOST: &str = "api.kwik.co.za";

/// Builds [`KwikAdapter`]s from `[merchants.<id>.providers.kwik]`: `api_key`, `api_secret`,
/// optional `passphrase` (request signing) and `webhook_secret` (falls back to the
/// passphrase; one of them is required), all secret references.
pub struct KwikFactory;

impl ProviderFactory for KwikFactory {
    fn id(&self) -> &'static str {
        ID
    }

    fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError> {
        Ok(Arc::new(KwikAdapter::from_context(context)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Create, Webhooks};
    use crate::test_support::{self, AdapterBuilder};
    use paymux_domain::Currency;
    use serde_json::json;

    const ADAPTERS: AdapterBuilder<KwikAdapter> = AdapterBuilder {
        id: "kwik",
        from_context: KwikAdapter::from_context,
    };

    fn keys() -> serde_json::Value {
        json!({ "api_key": "kwik_key", "api_secret": "kwik_secret", "webhook_secret": "whsec" })
    }

    #[test]
    fn the_factory_builds_a_create_and_webhooks_adapter_for_zar() {
        ADAPTERS.check_factory(&KwikFactory, &keys(), &[Create, Webhooks], &[Currency::Zar]);
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        ADAPTERS.check_strict_settings(
            &keys(),
            &["api_key", "api_secret", "webhook_secret"],
            &["api_key", "api_secret", "passphrase", "webhook_secret"],
        );
        ADAPTERS.check_refused(&keys(), "api_key", &["user:zq"]);
        ADAPTERS.check_refused(&keys(), "api_secret", &["zq\nzq"]);
    }

    #[test]
    fn a_webhook_secret_or_a_passphrase_is_required() {
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "api_secret": "s" }));
        assert_eq!(error.key, "webhook_secret");
        assert!(error.message.contains("passphrase"), "{error}");
        let settings = json!({ "api_key": "k", "api_secret": "s", "passphrase": "pp" });
        assert!(ADAPTERS.build(settings, None).unwrap().signs_requests());
        assert!(!ADAPTERS.build(keys(), None).unwrap().signs_requests());
    }

    #[test]
    fn the_base_url_always_ends_with_a_slash_and_only_kwiks_production_host_is_live() {
        ADAPTERS.check_base_urls(
            &keys(),
            |adapter| (adapter.base_url(), adapter.livemode()),
            (DEFAULT_BASE_URL, true),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/kwik/2.0",
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    false,
                ),
                (
                    "https://api.kwik.co.za/2.0",
                    "https://api.kwik.co.za/2.0/",
                    true,
                ),
                (
                    "https://staging.api.kwik.co.za/2.0/",
                    "https://staging.api.kwik.co.za/2.0/",
                    false,
                ),
                (
                    "https://api.kwik.co.za.example/2.0/",
                    "https://api.kwik.co.za.example/2.0/",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings = json!({
            "api_key": "kwik_topkey",
            "api_secret": "kwik_topsecret",
            "passphrase": "hushpass",
            "webhook_secret": "hushhook"
        });
        test_support::check_debug(
            &ADAPTERS.build(settings, None).unwrap(),
            &["topkey", "topsecret", "hushpass", "hushhook"],
            &["livemode: true"],
        );
    }
}
