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
pub mod signature;
pub mod wire;

use std::sync::Arc;

pub use adapter::Settings;
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

    fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError> {
        Ok(Arc::new(SknPayAdapter::from_context(context)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Cancel, Create, PartialRefund, Refund, Retrieve, Webhooks};
    use crate::test_support::{self, AdapterBuilder};
    use paymux_domain::Currency;
    use serde_json::json;

    const ADAPTERS: AdapterBuilder<SknPayAdapter> = AdapterBuilder {
        id: "sknpay",
        from_context: SknPayAdapter::from_context,
    };

    fn keys(api_key: &str) -> serde_json::Value {
        json!({ "api_key": api_key, "webhook_secret": "whsec_abc" })
    }

    #[test]
    fn the_factory_builds_an_adapter_with_every_capability() {
        ADAPTERS.check_factory(
            &SknPayFactory,
            &keys("sk_test_abc"),
            &[Create, Retrieve, Cancel, Refund, PartialRefund, Webhooks],
            &[Currency::Usd, Currency::Xcd],
        );
    }

    #[test]
    fn the_mode_comes_from_the_key_prefix() {
        assert!(
            !ADAPTERS
                .build(keys("sk_test_abc"), None)
                .unwrap()
                .livemode()
        );
        assert!(
            ADAPTERS
                .build(keys("sk_live_abc"), None)
                .unwrap()
                .livemode()
        );
        let bad = [
            "pk_live_zq9",
            "sk_zq9",
            "SK_LIVE_zq9",
            "sk_live_zq 9",
            "sk_test_",
        ];
        ADAPTERS.check_refused(&keys("sk_test_abc"), "api_key", &bad);
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let both = ["api_key", "webhook_secret"];
        ADAPTERS.check_strict_settings(&keys("sk_test_abc"), &both, &both);
    }

    #[test]
    fn the_base_url_defaults_to_sknpay_and_always_ends_with_a_slash() {
        ADAPTERS.check_base_urls(
            &keys("sk_test_abc"),
            |adapter| (adapter.base_url(), adapter.livemode()),
            (DEFAULT_BASE_URL, false),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/sknpay",
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    false,
                ),
                ("http://127.0.0.1:9000", "http://127.0.0.1:9000/", false),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings =
            json!({ "api_key": "sk_live_topsecret", "webhook_secret": "whsec_hushhush" });
        let adapter = ADAPTERS.build(settings, None).unwrap();
        test_support::check_debug(&adapter, &["topsecret", "hushhush"], &["livemode: true"]);
    }
}
