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

use crate::ProviderFactory;

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
pub const FACTORY: ProviderFactory = ProviderFactory::new(ID, |context| {
    Ok(Arc::new(PakhiAdapter::from_context(context)?))
})
.with_checkout_rules(wire::checkout_rules);
