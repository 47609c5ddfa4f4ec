//! SpankPay (`shared/providers/spankpay.txt`): crypto payments for USD purchases, made in
//! SpankPay's browser frame, confirmed by signed `text/plain` webhooks whose reply decides the
//! payment.
//!
//! - **Create**: SpankPay has no server-side create API; no call is made. The checkout's
//!   `client_action` holds the frame parameters of `SpankPay.showPurchase(...)`: `key` (the
//!   merchant's public key), `amount` (a decimal string), `currency` (`USD`, or `TEST-USD`
//!   with a `test_` key), `acceptCurrencies` (config `accept_currencies`, default BTC and ETH,
//!   or `provider_options.spankpay.acceptCurrencies`, the only option), `metadata`
//!   (`paymux_checkout_id` and `reference`) and `callback` (this merchant's webhook URL);
//!   with a configured `base_url` also `frame_url`, the simulator's stand-in frame.
//!   `redirect_url` is paymux's own page `{public_url}pay/{checkout id}`, which opens the
//!   frame, so a storefront can treat SpankPay like any redirect provider. Our checkout id
//!   is the provider checkout id.
//! - **Mode**: a `test_` public key is test mode; webhooks say so with `TEST-USD`.
//! - **Cancel** is local: there is no provider object to cancel. The gateway records it,
//!   its page stops offering the frame, and a later payment is refused (see below).
//!   **Retrieve and refund**: none; the gateway answers them as unsupported.
//! - **Webhooks**: `X-SpankPay-Key` must be the public key (compared in constant time);
//!   `X-SpankPay-Signature: t=…&s=…` is HMAC-SHA256(api secret, `t + "." + body`) in hex,
//!   `t` in seconds or, from 10^12, milliseconds (the doc's own vector is); older than 10
//!   minutes or in the future is refused. The only type is `payment`; its `status` pending,
//!   succeeded or failed maps to `payment.pending`, `.succeeded`, `.failed`. `amount` is
//!   recorded as received (partial payments happen); `inputAmount`, `inputCurrency` and
//!   `inputTx` are kept as sent in the details. SpankPay sends no event id: one is derived
//!   from the payment id and status, so a replayed delivery (the doc's "signature as nonce")
//!   stores nothing new.
//! - **Replies decide the payment**: `{"received": true}` once stored; `{"received": false}`
//!   for a checkout that is canceled or expired (the adapter's webhook policy says
//!   [`ClosedCheckout::Refuse`](crate::ClosedCheckout)), which makes SpankPay refund the
//!   payer; a 400 for a rejected webhook.
//!
//! Layout: [`wire`] holds SpankPay's formats and [`SpankPayAdapter`] the trait impl. The
//! simulated frame is in the `paymux-sandbox` crate.

mod adapter;
pub mod wire;

use std::sync::Arc;

pub use adapter::{CLIENT_ACTION_TYPE, MAX_AGE_SECS, Settings, SpankPayAdapter};

use crate::ProviderFactory;

/// SpankPay's id in config and URLs.
pub const ID: &str = "spankpay";

/// Builds [`SpankPayAdapter`]s from `[merchants.<id>.providers.spankpay]`: `public_key`
/// (plain text; `test_…` is test mode), `api_secret` (a secret reference) and optionally
/// `accept_currencies` (default `["BTC", "ETH"]`). SpankPay has no server API paymux calls.
pub const FACTORY: ProviderFactory = ProviderFactory::new(ID, |context| {
    Ok(Arc::new(SpankPayAdapter::from_context(context)?))
})
.with_checkout_rules(adapter::checkout_rules);
