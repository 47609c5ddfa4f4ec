//! Skipify (`shared/providers/skipify.txt`): hosted one-time checkouts ("PayLinks") in USD,
//! with webhooks authenticated by a shared secret rather than a signature.
//!
//! - **Create**: `POST {base}` (production `https://paylinks.skipify.com`, configurable for
//!   staging and the sandbox) with `x-merchant-id: <merchant_id>` and
//!   `Authorization: ApiKey <api_key>`. The body is `merchantId`, `merchantInvoiceId` (the
//!   checkout's reference, else our checkout id), `total` in integer cents, and when given
//!   `description`, `expiration`, `customer {name, email, phone}` and
//!   `lineItems [{description, quantity, price}]`. The webhook doc does not cover creation: the
//!   request follows issue 7's summary of Skipify's PayLink API, and the line-item names
//!   (`lineItems`, `description`, `quantity`, `price` in cents per unit) and `description`,
//!   `expiration` follow Skipify's public PayLink lookup, which echoes what was created.
//!   The customer's member names (`name`, `email`, `phone`) are the summary's, unverified.
//!   Return URLs, metadata and the address are not sent: nothing paymux has documents where
//!   they would go. The answer's `paylinkId` becomes the provider checkout id, `link` the
//!   redirect URL.
//! - **Mode**: Skipify's payloads never say test or live. A merchant is live exactly when its
//!   base URL is `https://paylinks.skipify.com`; staging and the sandbox are test mode.
//! - **Cancel, refund, retrieve**: [`ProviderError::Unsupported`](crate::ProviderError). The
//!   webhook doc documents none (Skipify's public lookup exists but its status values differ
//!   between versions of its page, see [`SkipifyAdapter`]'s `retrieve`); refunds go through the
//!   merchant's PSP with the PSP transaction id the success event keeps in its details.
//! - **Webhooks** ORDER_PAYMENT_SUCCEEDED, ORDER_PAYMENT_FAILED (not terminal: the link stays
//!   usable) and PAYMENT_REQUEST_EXPIRED, amounts in integer cents. Authenticity is the shared
//!   secret and an optional custom header ([`authenticity`]); paymux answers 401 without them.
//!   `charges` become the event's `fee`. Skipify sends no event id, so one is derived from
//!   the event name, `paylinkId` and the transaction ids: a redelivery stores nothing new.
//!   The event links to its checkout by `paylinkId`, then `merchantInvoiceId` (also read as our
//!   checkout id when it is one). Its time is the payload's: `completedAt` on a success,
//!   `expiration` on an expiry (both required, as every doc sample has them); the doc's
//!   ORDER_PAYMENT_FAILED sample has no time at all, so a failure without `completedAt` is
//!   dated by its `orderId`, a MongoDB ObjectId whose first four bytes are the order's
//!   creation time: deterministic, and never after the failure.
//!   Delivery counts only on a 2xx within 5 s, redirects are not followed, and a failed
//!   delivery is retried 3 times over 12 hours.
//!
//! Layout: [`wire`] holds Skipify's JSON and the conversions to and from ours,
//! [`authenticity`] the shared-secret checks and the redaction of what is stored,
//! and [`SkipifyAdapter`] the calls behind [`Provider`]. The simulated Skipify is in the
//! `paymux-sandbox` crate.

mod adapter;
pub mod authenticity;
pub mod wire;

use std::sync::Arc;

pub use adapter::{API_KEY_SCHEME, MERCHANT_ID_HEADER, Settings, SkipifyAdapter};
pub use authenticity::{SECRET_HEADER, SECRET_MEMBER};

use crate::ProviderFactory;

/// Skipify's id in config and URLs.
pub const ID: &str = "skipify";
/// Skipify's production PayLink API, used unless the merchant's config sets `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://paylinks.skipify.com";
/// The host of the production API: the only one that moves real money.
pub const LIVE_HOST: &str = "paylinks.skipify.com";

/// Builds [`SkipifyAdapter`]s from `[merchants.<id>.providers.skipify]`: `merchant_id` (plain
/// text), `api_key` and `secret` (secret references), and optionally `custom_header_name`
/// with `custom_header_value` (a secret reference), both or neither. The PayLink API is the
/// base URL itself.
pub const FACTORY: ProviderFactory = ProviderFactory::new(ID, |context| {
    Ok(Arc::new(SkipifyAdapter::from_context(context)?))
})
.with_checkout_rules(wire::checkout_rules);
