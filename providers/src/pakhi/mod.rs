//! Pakhi Pay (`shared/providers/pakhipay.txt`): hosted payment links in Bangladesh, one
//! `api-key` per brand.
//!
//! - Create (`POST api/request/payment/create/`) needs the customer's name and email and both
//!   return URLs; the amount is an exact decimal sent as a JSON number (`100.00`). The answer
//!   gives a `payment_url` and nothing else: no payment id, no expiry. Requests missing what
//!   Pakhi Pay requires are refused before any call, naming the unified request's field.
//! - The currency is not documented: it is per-merchant config (`currency`, default BDT), and a
//!   checkout in another currency is refused.
//! - Every payment's `callback_url` is the merchant's paymux webhook URL, and its `order_id` the
//!   checkout's reference (else our checkout id), which is how a callback finds its checkout.
//! - Callbacks carry their HMAC-SHA256 `signature` inside the signed JSON, keyed with the API
//!   key ([`signature`]). They have no event id (one is derived from the transaction id and
//!   status), no time and no payment id. A `completed` callback counts only once the verify API
//!   (`POST api/request/payment/verify/`, transaction id + exact amount) confirms it: see
//!   [`PakhiAdapter`]'s `confirm`.
//! - No retrieve, cancel or refund API: those are [`crate::ProviderError::Unsupported`].
//! - Pakhi Pay has no test mode: payments through its own host are live, through any other base
//!   URL (the sandbox) they are not.
//!
//! Layout: [`wire`] holds Pakhi Pay's JSON and the conversions to and from ours, [`signature`]
//! the callback signature, and [`PakhiAdapter`] the calls behind [`Provider`]. The simulated
//! Pakhi Pay is in the `paymux-sandbox` crate.

mod adapter;
pub mod signature;
pub mod wire;

use std::sync::Arc;

pub use adapter::PakhiAdapter;
pub use adapter::Settings;
use paymux_domain::Currency;

use crate::{AdapterContext, ConfigError, Provider, ProviderFactory};

/// Pakhi Pay's id in config and URLs.
pub const ID: &str = "pakhi";
/// Pakhi Pay's production site, used unless the merchant's config sets `base_url`; the API
/// paths sit below it.
pub const DEFAULT_BASE_URL: &str = "https://pakhipay.com/";
/// The host whose payments are real money.
pub const LIVE_HOST: &str = "pakhipay.com";
/// The currency of a merchant whose config names none.
pub const DEFAULT_CURRENCY: Currency = Currency::Bdt;
/// The header every API call carries the brand's key in.
pub const API_KEY_HEADER: &str = "api-key";
/// Create a payment link, below the base URL.
pub const CREATE_PATH: &str = "api/request/payment/create/";
/// Verify a transaction, below the base URL.
pub const VERIFY_PATH: &str = "api/request/payment/verify/";

/// Builds [`PakhiAdapter`]s from `[merchants.<id>.providers.pakhi]`: `api_key` (a secret
/// reference; also the callbacks' signing key) and `currency` (optional, BDT).
pub struct PakhiFactory;

impl ProviderFactory for PakhiFactory {
    fn id(&self) -> &'static str {
        ID
    }

    fn build(&self, context: AdapterContext<'_>) -> Result<Arc<dyn Provider>, ConfigError> {
        Ok(Arc::new(PakhiAdapter::from_context(context)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Create, Webhooks};
    use crate::test_support::{self, AdapterBuilder};
    use serde_json::json;

    const ADAPTERS: AdapterBuilder<PakhiAdapter> = AdapterBuilder {
        id: "pakhi",
        from_context: PakhiAdapter::from_context,
    };

    #[test]
    fn the_factory_builds_an_adapter_that_creates_and_takes_webhooks_only() {
        let settings = json!({ "api_key": "brand-key" });
        let operations = [Create, Webhooks];
        ADAPTERS.check_factory(&PakhiFactory, &settings, &operations, &[Currency::Bdt]);
    }

    #[test]
    fn the_currency_is_configured_and_defaults_to_bdt() {
        let adapter = ADAPTERS.build(json!({ "api_key": "k" }), None).unwrap();
        assert_eq!(adapter.currency(), Currency::Bdt);
        for code in ["USD", "usd"] {
            let settings = json!({ "api_key": "k", "currency": code });
            let adapter = ADAPTERS.build(settings, None).unwrap();
            assert_eq!(adapter.currency(), Currency::Usd);
            assert_eq!(crate::Provider::currencies(&adapter), [Currency::Usd]);
        }
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "currency": "TAKA" }));
        assert_eq!(error.key, "currency");
        assert!(error.message.contains("TAKA"), "{error}");
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let valid = json!({ "api_key": "k" });
        ADAPTERS.check_strict_settings(&valid, &["api_key"], &["api_key"]);
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "webhook_secret": "w" }));
        assert_eq!(error.key, "webhook_secret");
        ADAPTERS.check_refused(&valid, "api_key", &["has space zq9"]);
    }

    #[test]
    fn the_base_url_defaults_to_pakhipay_and_decides_the_mode() {
        ADAPTERS.check_base_urls(
            &json!({ "api_key": "k" }),
            |adapter| (adapter.base_url(), adapter.livemode()),
            (DEFAULT_BASE_URL, true),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/pakhi",
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    false,
                ),
                (
                    "https://www.pakhipay.com",
                    "https://www.pakhipay.com/",
                    true,
                ),
                ("https://notpakhipay.com", "https://notpakhipay.com/", false),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let adapter = ADAPTERS.build(json!({ "api_key": "brand-topsecret" }), None);
        test_support::check_debug(&adapter.unwrap(), &["topsecret"], &["Bdt"]);
    }
}
