//! What tests of adapters and of their simulators share (cargo feature `test-support`, and
//! this crate's own tests): an adapter context and a checkout request.

use paymux_domain::{CheckoutId, Money};
use serde_json::Value;
use url::Url;

use crate::factory::AdapterContext;
use crate::http::{HttpTimeouts, build_client};
use crate::model::{CheckoutRequest, Customer, LineItem};
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
    AdapterContext {
        merchant: "demo",
        settings,
        secrets: SecretResolver {
            allow_literals: true,
        },
        base_url: base_url.map(parse_url),
        webhook_url: parse_url(&format!("https://paymux.example/webhooks/demo/{provider}")),
        public_url: parse_url("https://paymux.example/"),
        http: build_client(HttpTimeouts::default()).unwrap_or_else(|error| panic!("{error}")),
        timeouts: HttpTimeouts::default(),
    }
}

impl CheckoutRequest {
    /// A checkout of `amount` and nothing else, under the tests' checkout id
    /// ([`CHECKOUT_ID`]) and idempotency key `idem-1`. A test adds what it exercises with the
    /// `with_…` methods: `CheckoutRequest::example(amount).with_reference("order-5821")`.
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

    pub fn with_reference(self, reference: &str) -> CheckoutRequest {
        let reference = Some(reference.to_owned());
        CheckoutRequest { reference, ..self }
    }

    pub fn with_description(self, description: &str) -> CheckoutRequest {
        let description = Some(description.to_owned());
        CheckoutRequest {
            description,
            ..self
        }
    }

    pub fn with_customer(self, customer: Customer) -> CheckoutRequest {
        let customer = Some(customer);
        CheckoutRequest { customer, ..self }
    }

    pub fn with_success_url(self, url: &str) -> CheckoutRequest {
        let success_url = Some(parse_url(url));
        CheckoutRequest {
            success_url,
            ..self
        }
    }

    pub fn with_cancel_url(self, url: &str) -> CheckoutRequest {
        let cancel_url = Some(parse_url(url));
        CheckoutRequest { cancel_url, ..self }
    }

    /// Sets `metadata` to `object`, a JSON object.
    pub fn with_metadata(self, object: Value) -> CheckoutRequest {
        let metadata = object.as_object().cloned();
        assert!(metadata.is_some(), "metadata must be an object: {object}");
        CheckoutRequest { metadata, ..self }
    }

    pub fn with_provider_options(self, options: Value) -> CheckoutRequest {
        let provider_options = Some(options);
        CheckoutRequest {
            provider_options,
            ..self
        }
    }

    pub fn with_items(self, items: Vec<LineItem>) -> CheckoutRequest {
        CheckoutRequest { items, ..self }
    }

    pub fn with_idempotency_key(self, key: &str) -> CheckoutRequest {
        let idempotency_key = key.to_owned();
        CheckoutRequest {
            idempotency_key,
            ..self
        }
    }
}

impl Customer {
    /// A payer of whom the storefront knows `name` and `email`, each when given.
    pub fn example(name: Option<&str>, email: Option<&str>) -> Customer {
        Customer {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            ..Customer::default()
        }
    }
}

/// `text` as a URL, failing the test when it is not one.
pub fn parse_url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}
