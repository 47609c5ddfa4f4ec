//! SKN Pay (`shared/providers/sknpay.txt`): hosted payment links in St Kitts & Nevis, with a
//! Stripe-flavoured API.
//!
//! - Amounts are integer minor units, USD or XCD, from 100 to 99,999,999; return URLs are
//!   https-only and never on sknpay.com. Requests breaking a documented limit are refused
//!   before any call, naming the unified request's field.
//! - Every state-changing call (create, cancel, refund) carries `Idempotency-Key`.
//! - Test or live mode comes from the key prefix (`sk_test_…` / `sk_live_…`).
//! - Webhooks are signed `SknPay-Signature: t=…,v1=…` (HMAC-SHA256 of `t + "." + raw body`,
//!   300 s window, see [`signature`]); each event carries the whole payment object, whose
//!   `metadata.paymux_checkout_id` leads back to our checkout. `payment.failed` is not
//!   terminal: the link stays open for another attempt.
//! - Refunds are recorded from paymux's own refund call; `payment.refunded` confirms them.
//!
//! Layout: [`wire`] holds SKN Pay's JSON and the conversions to and from ours, [`signature`] the
//! webhook signature scheme, and [`SknPayAdapter`] the calls behind [`Provider`].

mod adapter;
pub mod sandbox;
pub mod signature;
pub mod wire;

use std::sync::Arc;

use adapter::Settings;
pub use adapter::SknPayAdapter;
pub use signature::{SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECS};

use crate::{AdapterContext, ConfigError, Provider, ProviderFactory};

/// SKN Pay's id in config and URLs.
pub const ID: &str = "sknpay";
/// SKN Pay's production API, used unless the merchant's config sets `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://app.sknpay.com/api/v1/";

/// Builds [`SknPayAdapter`]s from `[merchants.<id>.providers.sknpay]`: `api_key` and
/// `webhook_secret`, both secret references.
pub struct SknPayFactory;

impl ProviderFactory for SknPayFactory {
    fn id(&self) -> &'static str {
        ID
    }

    fn sandbox_api_path(&self) -> &'static str {
        "api/v1/"
    }

    fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError> {
        Ok(Arc::new(SknPayAdapter::from_context(context)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context<'a>(settings: &'a serde_json::Value, base_url: Option<&str>) -> AdapterContext<'a> {
        crate::factory::test_context(ID, settings, base_url)
    }

    fn build(
        settings: serde_json::Value,
        base_url: Option<&str>,
    ) -> Result<SknPayAdapter, ConfigError> {
        SknPayAdapter::from_context(context(&settings, base_url))
    }

    fn keys(api_key: &str) -> serde_json::Value {
        json!({ "api_key": api_key, "webhook_secret": "whsec_abc" })
    }

    #[test]
    fn the_factory_builds_an_adapter_with_every_capability() {
        let settings = keys("sk_test_abc");
        let provider = SknPayFactory.build(context(&settings, None)).unwrap();
        assert_eq!(SknPayFactory.id(), "sknpay");
        assert_eq!(provider.id(), ID);
        let capabilities = provider.capabilities();
        assert!(capabilities.create && capabilities.retrieve && capabilities.cancel);
        assert!(capabilities.refund && capabilities.partial_refund && capabilities.webhooks);
        assert_eq!(
            capabilities.currencies,
            vec![paymux_domain::Currency::Usd, paymux_domain::Currency::Xcd]
        );
    }

    #[test]
    fn the_mode_comes_from_the_key_prefix() {
        assert!(!build(keys("sk_test_abc"), None).unwrap().livemode());
        assert!(build(keys("sk_live_abc"), None).unwrap().livemode());
        for bad in [
            "pk_live_zq9",
            "sk_zq9",
            "SK_LIVE_zq9",
            "sk_live_zq 9",
            "sk_test_",
        ] {
            let error = build(keys(bad), None).unwrap_err();
            assert_eq!(error.key, "api_key", "{bad}");
            assert!(!error.to_string().contains("zq"), "{error}");
        }
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let error = build(
            json!({ "api_key": "sk_test_abc", "webhook_secret": "w", "apikey": "x" }),
            None,
        )
        .unwrap_err();
        assert_eq!(error.key, "apikey");
        let error = build(json!({ "api_key": "sk_test_abc" }), None).unwrap_err();
        assert_eq!(error.key, "webhook_secret");
        let error = build(
            json!({ "api_key": "env:PAYMUX_TEST_SKNPAY_SURELY_UNSET", "webhook_secret": "w" }),
            None,
        )
        .unwrap_err();
        assert_eq!(error.key, "api_key");
    }

    #[test]
    fn the_base_url_defaults_to_sknpay_and_always_ends_with_a_slash() {
        let adapter = build(keys("sk_test_abc"), None).unwrap();
        assert_eq!(adapter.base_url().as_str(), DEFAULT_BASE_URL);
        for (configured, expected) in [
            (
                "http://127.0.0.1:9000/sandbox/sknpay",
                "http://127.0.0.1:9000/sandbox/sknpay/",
            ),
            (
                "http://127.0.0.1:9000/sandbox/sknpay/",
                "http://127.0.0.1:9000/sandbox/sknpay/",
            ),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
        ] {
            let adapter = build(keys("sk_test_abc"), Some(configured)).unwrap();
            assert_eq!(adapter.base_url().as_str(), expected);
        }
        let error = build(keys("sk_test_abc"), Some("mailto:ops@example.com")).unwrap_err();
        assert_eq!(error.key, "base_url");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let adapter = build(
            json!({ "api_key": "sk_live_topsecret", "webhook_secret": "whsec_hushhush" }),
            None,
        )
        .unwrap();
        let debug = format!("{adapter:?}");
        assert!(
            !debug.contains("topsecret") && !debug.contains("hushhush"),
            "{debug}"
        );
        assert!(debug.contains("livemode: true"), "{debug}");
    }
}
