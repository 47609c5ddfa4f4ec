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

use crate::ProviderFactory;

/// Kwik's id in config and URLs.
pub const ID: &str = "kwik";
/// Kwik's production API, used unless the merchant's config sets `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.kwik.co.za/2.0/";
/// The host of Kwik's production API: the only one that moves real money.
pub const PRODUCTION_HOST: &str = "api.kwik.co.za";

/// Builds [`KwikAdapter`]s from `[merchants.<id>.providers.kwik]`: `api_key`, `api_secret`,
/// optional `passphrase` (request signing) and `webhook_secret` (falls back to the
/// passphrase; one of them is required), all secret references.
pub const FACTORY: ProviderFactory = ProviderFactory::new(ID, |context| {
    Ok(Arc::new(KwikAdapter::from_context(context)?))
})
.with_checkout_rules(wire::checkout_rules);
