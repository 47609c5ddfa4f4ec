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

use crate::ProviderFactory;

/// SKN Pay's id in config and URLs.
pub const ID: &str = "sknpay";
/// SKN Pay's production API, used unless the merchant's config sets `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://app.sknpay.com/api/v1/";

/// Builds [`SknPayAdapter`]s from `[merchants.<id>.providers.sknpay]`: `api_key` and
/// `webhook_secret`, both secret references.
pub const FACTORY: ProviderFactory = ProviderFactory::new(ID, |context| {
    Ok(Arc::new(SknPayAdapter::from_context(context)?))
})
.with_checkout_rules(wire::checkout_rules);
