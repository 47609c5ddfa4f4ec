//! The Provider trait through the registry: a provider double configured like a real one.

use chrono::Utc;
use paymux_domain::{CheckoutStatus, Currency, EventType, Money};
use paymux_gateway::live::{Addresses, LiveConfig};
use paymux_gateway::{Overlay, Settings};
use paymux_providers::model::{CheckoutRequest, WebhookOutcome, WebhookRequest};
use paymux_providers::{Operation, Registry};
use paymux_tests::fake::{FACTORY, FAKE};

fn merchants(overlay: &str) -> Result<paymux_gateway::merchants::Merchants, String> {
    let settings = Settings::load(Overlay::Toml(overlay.to_owned())).unwrap();
    let registry = Registry::standard().with(FACTORY);
    let addresses = Addresses {
        public_url: url::Url::parse("https://pay.example.com/").unwrap(),
        refusing_url: None,
    };
    LiveConfig::build(settings, &registry, &addresses)
        .map(|config| config.merchants)
        .map_err(|error| format!("invalid configuration:\n{error}"))
}

const DEMO_WITH_FAKE: &str = r#"
[merchants.demo.providers.fake]
priority = 1
secret = "fake_secret"
"#;

#[tokio::test]
async fn a_configured_provider_is_built_through_the_registry_and_used_through_the_trait() {
    let merchants = merchants(DEMO_WITH_FAKE).unwrap();
    let demo = merchants.get("demo").unwrap();
    let configured = &demo.providers[FAKE];
    assert!(configured.enabled);
    assert_eq!(configured.priority, 1);
    assert_eq!(configured.currencies, [Currency::Usd, Currency::Eur]);
    let provider = configured.adapter.clone();
    assert_eq!(provider.id(), FAKE);
    // It has a lookup, but no cancel or refund, and its capabilities say so.
    assert!(provider.cancels().is_none() && provider.refunds().is_none());
    let capabilities = provider.capabilities();
    assert!(capabilities.supports(Operation::Retrieve));
    assert!(!capabilities.supports(Operation::Cancel) && !capabilities.supports(Operation::Refund));

    let request = CheckoutRequest::example(Money::new(1_000, Currency::Usd));
    let checkout_id = request.checkout_id;
    let created = provider.create_checkout(&request).await.unwrap();
    assert_eq!(
        created.redirect_url.unwrap(),
        format!("https://fake.example/pay/{checkout_id}")
    );
    let lookups = provider.lookups().unwrap();
    let found = lookups
        .retrieve(&format!("fake_{checkout_id}"))
        .await
        .unwrap();
    assert_eq!(found.status, CheckoutStatus::Open);

    let body = br#"{"id":"e1","status":"paid","payment":"p1","amount":1000}"#;
    let good = [("x-fake-secret".to_owned(), "fake_secret".to_owned())];
    let bad = [("x-fake-secret".to_owned(), "fake_secreT".to_owned())];
    let now = Utc::now();
    assert!(
        provider
            .verify_webhook(
                &WebhookRequest {
                    headers: &good,
                    body
                },
                now
            )
            .is_ok()
    );
    let rejected = provider
        .verify_webhook(
            &WebhookRequest {
                headers: &bad,
                body,
            },
            now,
        )
        .unwrap_err();
    assert!(rejected.is_webhook_rejection());
    let events = provider.parse_webhook(body).unwrap();
    assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
    assert_eq!(events[0].amount, Some(Money::new(1_000, Currency::Usd)));
    assert_eq!(
        provider
            .webhook_reply(&WebhookOutcome::Rejected(&rejected))
            .status,
        400
    );
    assert_eq!(provider.webhook_reply(&WebhookOutcome::Stored).status, 200);
}

#[test]
fn adapter_config_errors_carry_the_full_key() {
    let error =
        merchants("[merchants.demo.providers.fake]\nsecret = \"s\"\ncolour = \"red\"").unwrap_err();
    assert!(
        error.contains("\nmerchants.demo.providers.fake.colour: unknown field `colour`"),
        "{error}"
    );
    let error = merchants("[merchants.demo.providers.fake]\nenabled = true").unwrap_err();
    assert!(
        error.contains("\nmerchants.demo.providers.fake.secret: missing field `secret`"),
        "{error}"
    );
    let error =
        merchants("[merchants.demo.providers.fake]\nsecret = \"s\"\ncurrencies = [\"JPY\"]")
            .unwrap_err();
    assert!(
        error.contains("merchants.demo.providers.fake.currencies: fake does not support JPY"),
        "{error}"
    );
}
