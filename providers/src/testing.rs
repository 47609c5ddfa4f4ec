//! What tests of adapters and of their simulators share (cargo feature `test-support`, and
//! this crate's own tests): an adapter context and a checkout request.

use paymux_domain::{CheckoutId, Money};
use url::Url;

use crate::factory::AdapterContext;
use crate::http::{HttpTimeouts, build_client};
use crate::model::CheckoutRequest;
use crate::secret::SecretResolver;

/// The checkout id of [`crate::model::CheckoutRequest::example`].
pub const CHECKOUT_ID: &str = "chk_01hzy3k7m2q8v9w0x1y2z3a4b5";

/// A context for `provider`'s adapter of merchant `demo`, its literal secrets allowed, its
/// webhook URL on `https://paymux.example/`.
pub fn test_context<'a>(
    provider: &str,
    settings: &'a serde_json::Value,
    base_url: Option<&str>,
) -> AdapterContext<'a> {
    let parse = |text: &str| Url::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    AdapterContext {
        merchant: "demo",
        settings,
        secrets: SecretResolver {
            allow_literals: true,
        },
        base_url: base_url.map(parse),
        webhook_url: parse(&format!("https://paymux.example/webhooks/demo/{provider}")),
        public_url: parse("https://paymux.example/"),
        http: build_client(HttpTimeouts::default()).unwrap_or_else(|error| panic!("{error}")),
        timeouts: HttpTimeouts::default(),
    }
}

impl CheckoutRequest {
    /// A checkout of `amount` and nothing else, under the tests' checkout id
    /// ([`CHECKOUT_ID`]) and idempotency key `idem-1`. A test sets what
    /// it exercises with struct update syntax: `CheckoutRequest { reference, ..example(amount) }`.
    pub fn example(amount: Money) -> CheckoutRequest {
        CheckoutRequest {
            checkout_id: CheckoutId::parse(CHECKOUT_ID).unwrap_or_else(|error| panic!("{error}")),
            amount,
            reference: None,
            description: None,
            customer: None,
            success_url: None,
            cancel_url: None,
            expires_at: None,
            metadata: None,
            items: vec![],
            provider_options: None,
            idempotency_key: "idem-1".to_owned(),
        }
    }
}
