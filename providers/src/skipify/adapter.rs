//! The Skipify adapter: one merchant's credentials and base URL, PayLink creation, and the
//! webhook handling, behind [`Provider`]. Request bodies and webhook reading live in
//! [`super::wire`], the shared-secret checks in [`super::authenticity`]; this file only sends
//! and maps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, NormalizedEvent};
use reqwest::header::HeaderValue;
use secrecy::SecretString;
use url::Url;

use super::authenticity::{CustomHeader, WebhookAuth, is_visible_ascii};
use super::wire::{self, CURRENCIES, CreatePaylink, PaylinkCreated};
use super::{DEFAULT_BASE_URL, ID, LIVE_HOST};
use crate::ConfigError;
use crate::factory::AdapterContext;
use crate::http::{ApiSpec, Auth, Endpoint, Repeat};
use crate::model::{
    CheckoutRequest, CreatedCheckout, WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::{ClosedCheckout, Provider, ProviderError, SecretRef, WebhookPolicy};

/// The header naming the merchant on every PayLink call.
pub const MERCHANT_ID_HEADER: &str = "x-merchant-id";
/// `Authorization: ApiKey <api key>`.
pub const API_KEY_SCHEME: &str = "ApiKey";

/// Skipify's PayLink API: `POST {base}` itself with `Authorization: ApiKey …`; 400 is Skipify
/// refusing the request, anything else is upstream's. Its error body is not documented
/// ([`wire::error_message`]).
const API: ApiSpec = ApiSpec {
    name: "Skipify",
    default_base_url: DEFAULT_BASE_URL,
    joins_paths: false,
    invalid_statuses: &[400],
    error_message: wire::error_message,
};

/// Skipify, bound to one merchant. Its `Debug` output shows no credential: the webhook
/// secrets are [`SecretString`]s, the API key stays in the endpoint's sensitive header.
#[derive(Debug)]
pub struct SkipifyAdapter {
    merchant_id: String,
    auth: WebhookAuth,
    /// Where PayLinks are created: the request goes to its base URL exactly. It is live only
    /// against Skipify's production host.
    api: Endpoint,
}

/// The provider's keys in `[merchants.<id>.providers.skipify]`. The simulated Skipify reads the
/// same section to know a merchant's account.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Skipify's id for the merchant, sent as `x-merchant-id` and `merchantId`: not a secret.
    merchant_id: String,
    api_key: SecretRef,
    /// The webhook shared secret Skipify echoes in each body.
    secret: SecretRef,
    /// The optional custom header Skipify sends with each webhook (e.g. `x-api-key`).
    #[serde(default)]
    custom_header_name: Option<String>,
    #[serde(default)]
    custom_header_value: Option<SecretRef>,
}

/// A merchant's Skipify credentials, resolved and checked.
pub struct Credentials {
    pub merchant_id: String,
    pub api_key: SecretString,
    pub auth: WebhookAuth,
}

impl Settings {
    /// Parses a config section, naming the bad key on error.
    pub fn parse(settings: &serde_json::Value) -> Result<Settings, ConfigError> {
        crate::factory::parse_settings(settings)
    }

    /// Resolves the secrets with `resolve` and checks every value. Errors name the key and
    /// never show a secret.
    pub fn resolve(
        self,
        resolve: impl Fn(&str, &SecretRef) -> Result<SecretString, ConfigError>,
    ) -> Result<Credentials, ConfigError> {
        let merchant_id = self.merchant_id;
        if merchant_id.trim().is_empty()
            || merchant_id.trim() != merchant_id
            || !is_visible_ascii(&merchant_id)
            || merchant_id.chars().count() > 255
        {
            return Err(ConfigError::new(
                "merchant_id",
                "the Skipify merchant id must be 1 to 255 printable ASCII characters without \
                 surrounding spaces (it is sent in the x-merchant-id header)",
            ));
        }
        let api_key = resolve("api_key", &self.api_key)?;
        authorization(&api_key)?;
        let secret = resolve("secret", &self.secret)?;
        let custom_header = match (self.custom_header_name, self.custom_header_value) {
            (None, None) => None,
            (Some(name), Some(value)) => {
                let value = resolve("custom_header_value", &value)?;
                Some(CustomHeader::new(&name, value)?)
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "custom_header_value",
                    "custom_header_name is set, so custom_header_value is required too",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "custom_header_name",
                    "custom_header_value is set, so custom_header_name is required too",
                ));
            }
        };
        Ok(Credentials {
            merchant_id,
            api_key,
            auth: WebhookAuth::new(secret, custom_header),
        })
    }
}

/// `ApiKey <key>` as a sensitive header value. The message never contains the key.
fn authorization(api_key: &SecretString) -> Result<HeaderValue, ConfigError> {
    API.api_key_header(Some(API_KEY_SCHEME), api_key)
}

impl SkipifyAdapter {
    /// Builds the adapter from a merchant's config section.
    pub fn from_context(context: AdapterContext<'_>) -> Result<SkipifyAdapter, ConfigError> {
        let credentials = Settings::parse(context.settings)?
            .resolve(|key, secret| context.secret(key, secret))?;
        let auth = Auth::authorization(authorization(&credentials.api_key)?);
        // Used exactly as given: the PayLink API is `POST {base}` itself.
        let api = context.endpoint(&API, auth, is_live)?;
        Ok(SkipifyAdapter {
            merchant_id: credentials.merchant_id,
            auth: credentials.auth,
            api,
        })
    }

    pub fn merchant_id(&self) -> &str {
        &self.merchant_id
    }
}

/// Only `https://paylinks.skipify.com` moves real money; staging, the sandbox and test
/// servers do not.
fn is_live(base_url: &Url) -> bool {
    base_url.scheme() == "https" && base_url.host_str() == Some(LIVE_HOST)
}

#[async_trait]
impl Provider for SkipifyAdapter {
    fn id(&self) -> &'static str {
        ID
    }

    fn currencies(&self) -> &[Currency] {
        &CURRENCIES
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        CreatePaylink::from_checkout(request, &self.merchant_id, Utc::now()).map(drop)
    }

    /// `POST {base}` with `x-merchant-id` and `Authorization: ApiKey …`. Skipify documents no
    /// idempotency key, so none is sent: paymux's own idempotency keeps a retried checkout
    /// from creating a second link.
    #[tracing::instrument(skip_all, fields(provider = ID, checkout_id = %request.checkout_id))]
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        let body = CreatePaylink::from_checkout(request, &self.merchant_id, Utc::now())?;
        let request = self
            .api
            .post("")?
            .header(MERCHANT_ID_HEADER, &self.merchant_id);
        // Skipify documents no idempotency key: a second send could make a second PayLink.
        let answer = self.api.send(request.json(&body), Repeat::Once).await?;
        PaylinkCreated::from_body(&answer)?
            .into_created_checkout(self.api.livemode(), body.expiration)
    }

    /// The shared secret (body `secret` or `X-Skipify-Secret`) and, when configured, the
    /// custom header. Skipify sends no timestamp, so there is no replay window: a replay is a
    /// duplicate event id and stores nothing new.
    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        _now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        self.auth.verify(request)
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        Ok(vec![wire::parse_event(raw, self.api.livemode())?])
    }

    /// Skipify counts only a 2xx within 5 s as delivered and follows no redirect: everything
    /// paymux accepts gets 200. A bad or missing secret is a 401, anything else unreadable a
    /// 400 (Skipify retries both, then emails the merchant's administrators).
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        WebhookReply::received_or(outcome, |error| match error {
            ProviderError::InvalidSignature(_) => 401,
            _ => 400,
        })
    }

    /// The shared secret that proves a webhook travels with it, so receipts keep neither the
    /// secret headers nor the body's secret. A payment Skipify reports for a closed checkout
    /// has happened, and Skipify cannot act on a refusal.
    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy {
            confirmation: None,
            redaction: Some(&self.auth),
            closed_checkout: ClosedCheckout::ApplyAndFlag,
        }
    }

    // No lookups: Skipify's public docs describe `GET {base}/{paylinkId}`, but the status
    // values they list differ from one version of the page to the next (`Open`,
    // `PaidOnPlatform`, `PaidOffPlatform`, `CancelledByMerchant`, `Expired` in one; `Created`,
    // `Opened`, `Sent`, `Paid`, `Expired` in another), so paymux does not guess at a mapping;
    // webhooks carry every status change it acts on. No cancels: Skipify documents no cancel
    // call (and sends no cancel event). No refunds: they go through the merchant's own payment
    // gateway, with the PSP transaction id each success event carries in its details.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Create, Webhooks};
    use crate::model::{Customer, LineItem};
    use crate::test_support::{self, AdapterBuilder};
    use paymux_domain::{EventType, Money};
    use serde_json::{Value, json};
    use wiremock::matchers::{header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const MERCHANT_ID: &str = "c1brc8b60-6dd4-4136-88e1-c9e5b670f1ca0";
    const API_KEY: &str = "skp_test_Zx81bQ";
    const SECRET: &str = "abd12345";
    const PAYLINK_ID: &str = "70ca1c7c-f483-42a5-9147-99ea858f8568";
    const SUCCEEDED: &str = include_str!("fixtures/order_payment_succeeded.json");
    const EXPIRED: &str = include_str!("fixtures/payment_request_expired.json");
    const ADAPTERS: AdapterBuilder<SkipifyAdapter> = AdapterBuilder {
        id: ID,
        from_context: SkipifyAdapter::from_context,
    };

    fn settings() -> Value {
        json!({ "merchant_id": MERCHANT_ID, "api_key": API_KEY, "secret": SECRET })
    }

    /// `settings` with `key` set to `value`.
    fn with(mut settings: Value, key: &str, value: Value) -> Value {
        settings[key] = value;
        settings
    }

    fn adapter(base: &str) -> SkipifyAdapter {
        ADAPTERS.adapter(settings(), base)
    }

    async fn server_and_adapter() -> (MockServer, SkipifyAdapter) {
        test_support::mock_api("/paylinks", adapter).await
    }

    fn checkout_request() -> CheckoutRequest {
        let alice = Customer {
            phone: Some("+18695551234".into()),
            ..Customer::example(Some("Alice Brown"), Some("alice@example.com"))
        };
        let hoodies = LineItem {
            name: "Hoodie".into(),
            quantity: 2,
            unit_amount: 5_600,
        };
        CheckoutRequest::example(Money::new(11_200, Currency::Usd))
            .with_reference("order-5821")
            .with_description("Order #5821")
            .with_customer(alice)
            .with_items(vec![hoodies])
    }

    /// What every test of a refused or unreadable create calls.
    async fn refused_create(adapter: &SkipifyAdapter) -> ProviderError {
        let request = checkout_request();
        adapter.create_checkout(&request).await.unwrap_err()
    }

    fn created_paylink() -> Value {
        json!({
            "paylinkId": PAYLINK_ID,
            "link": format!("https://checkout.skipify.com/paylink/process/{PAYLINK_ID}"),
            "merchantInvoiceId": "order-5821",
            "total": 11200,
        })
    }

    #[test]
    fn the_factory_builds_a_create_and_webhooks_adapter_in_usd() {
        let operations = [Create, Webhooks];
        test_support::check_factory(
            super::super::FACTORY,
            &settings(),
            &operations,
            &[Currency::Usd],
        );
    }

    #[test]
    fn the_base_url_defaults_to_production_which_alone_is_live() {
        ADAPTERS.check_base_urls(
            &settings(),
            |adapter| &adapter.api,
            ("https://paylinks.skipify.com/", true),
            &[
                (
                    "https://stage-paylinks.skipify.com",
                    "https://stage-paylinks.skipify.com/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/skipify/",
                    "http://127.0.0.1:9000/sandbox/skipify/",
                    false,
                ),
                // Used exactly as given: the PayLink API is the base URL itself.
                (
                    "http://127.0.0.1:9000/sandbox/skipify",
                    "http://127.0.0.1:9000/sandbox/skipify",
                    false,
                ),
                (
                    "http://paylinks.skipify.com",
                    "http://paylinks.skipify.com/",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let required = ["merchant_id", "api_key", "secret"];
        ADAPTERS.check_strict_settings(&settings(), &required, &["api_key", "secret"]);
        let merchant_ids = ["", " padded ", "line\nbreak", "é"];
        ADAPTERS.check_refused(&settings(), "merchant_id", &merchant_ids);
        let api_keys = ["has space zq", "tab\tzq", "clézq"];
        ADAPTERS.check_refused(&settings(), "api_key", &api_keys);
    }

    #[test]
    fn the_custom_header_takes_both_its_name_and_its_value() {
        let named = with(settings(), "custom_header_name", json!("x-api-key"));
        let both = with(named.clone(), "custom_header_value", json!("hdr-secret"));
        let adapter = ADAPTERS.build(both, None).unwrap();
        let redaction = adapter.webhook_policy().redaction;
        assert!(redaction.is_some_and(|redaction| redaction.is_secret_header("x-api-key")));
        let error = ADAPTERS.refusal(named.clone());
        assert_eq!(error.key, "custom_header_value");
        assert!(
            error.message.contains("custom_header_name is set"),
            "{error}"
        );
        let error = ADAPTERS.refusal(with(settings(), "custom_header_value", json!("hdr-secret")));
        assert_eq!(error.key, "custom_header_name");
        assert!(!error.to_string().contains("hdr-secret"), "{error}");
        let unset_value = json!("env:PAYMUX_TEST_SKIPIFY_HEADER_SURELY_UNSET");
        let unset = with(named, "custom_header_value", unset_value);
        assert_eq!(ADAPTERS.refusal(unset).key, "custom_header_value");
        let bad_name = with(
            with(settings(), "custom_header_name", json!("x api key")),
            "custom_header_value",
            json!("v"),
        );
        assert_eq!(ADAPTERS.refusal(bad_name).key, "custom_header_name");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings = json!({
            "merchant_id": "m-1",
            "api_key": "skp_topsecret",
            "secret": "hushhush",
            "custom_header_name": "x-api-key",
            "custom_header_value": "hdrsecret",
        });
        test_support::check_debug(
            &ADAPTERS.build(settings, None).unwrap(),
            &["topsecret", "hushhush", "hdrsecret"],
            &["m-1", "x-api-key"],
        );
    }

    #[tokio::test]
    async fn create_posts_the_paylink_with_both_headers_and_maps_the_answer() {
        let (server, adapter) = server_and_adapter().await;
        let authorization = format!("ApiKey {API_KEY}");
        test_support::expect_once(
            &server,
            ("POST", "/paylinks"),
            &[
                ("x-merchant-id", MERCHANT_ID),
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            Some(json!({
                "merchantId": MERCHANT_ID,
                "merchantInvoiceId": "order-5821",
                "total": 11200,
                "description": "Order #5821",
                "customer": {
                    "name": "Alice Brown",
                    "email": "alice@example.com",
                    "phone": "+18695551234",
                },
                "lineItems": [{ "description": "Hoodie", "quantity": 2, "price": 5600 }],
            })),
            ResponseTemplate::new(200).set_body_json(created_paylink()),
        )
        .await;
        let link = format!("https://checkout.skipify.com/paylink/process/{PAYLINK_ID}");
        assert_eq!(
            adapter.create_checkout(&checkout_request()).await,
            Ok(CreatedCheckout::hosted(
                Some(PAYLINK_ID.into()),
                link,
                false,
                None
            ))
        );
    }

    #[tokio::test]
    async fn no_idempotency_key_is_sent_and_a_201_is_fine() {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .and(path("/paylinks"))
            .and(header_exists("x-merchant-id"))
            .respond_with(ResponseTemplate::new(201).set_body_json(created_paylink()))
            .expect(1)
            .mount(&server)
            .await;
        adapter.create_checkout(&checkout_request()).await.unwrap();
        let requests = server.received_requests().await.unwrap();
        assert!(!requests[0].headers.contains_key("idempotency-key"));
    }

    #[tokio::test]
    async fn an_invalid_request_is_refused_before_any_call() {
        let (server, adapter) = server_and_adapter().await;
        let costing = |amount| CheckoutRequest {
            amount,
            ..checkout_request()
        };
        let refused = vec![
            (
                costing(Money::new(11_200, Currency::Zar)),
                ProviderError::invalid("Skipify charges in USD only, not ZAR", "currency"),
            ),
            (
                costing(Money::new(0, Currency::Usd)),
                ProviderError::invalid("Skipify needs a total of at least 1 cent, got 0", "amount"),
            ),
        ];
        test_support::check_refused_before_any_call(&server, &adapter, refused).await;
    }

    #[tokio::test]
    async fn error_answers_map_to_the_providers_message() {
        test_support::check_error_answers(
            server_and_adapter,
            ("POST", "/paylinks"),
            |message| json!({ "message": message }),
            &[400, 401, 403, 404, 409, 422, 429, 500, 503],
            &[400],
            refused_create,
        )
        .await;
    }

    #[tokio::test]
    async fn a_redirect_is_an_upstream_error_not_followed() {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = refused_create(&adapter).await;
        assert!(
            matches!(error, ProviderError::Upstream { status: 302, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_2xx_that_is_not_a_paylink_is_malformed() {
        test_support::check_malformed_answers(
            server_and_adapter,
            ("POST", "/paylinks"),
            &[r#"{"paylinkId": "p1"}"#, r#"{"message": "x"}"#],
            refused_create,
        )
        .await;
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_shows_no_key() {
        let error = refused_create(&adapter(&test_support::refused_url("/"))).await;
        test_support::assert_unreachable(&error, &[API_KEY]);
    }

    fn request<'a>(headers: &'a [(String, String)], body: &'a str) -> WebhookRequest<'a> {
        WebhookRequest {
            headers,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn the_docs_sample_with_the_merchants_secret_is_verified_and_normalized() {
        let adapter = adapter("https://paylinks.skipify.com");
        let now = Utc::now();
        assert_eq!(
            adapter.verify_webhook(&request(&[], SUCCEEDED), now),
            Ok(())
        );
        let events = adapter.parse_webhook(SUCCEEDED.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].amount, Some(Money::new(112, Currency::Usd)));
        assert_eq!(events[0].fee, Some(22));
        assert!(events[0].livemode, "the production host is live");

        let events = adapter.parse_webhook(EXPIRED.as_bytes()).unwrap();
        assert_eq!(events[0].event_type, EventType::PaymentExpired);
        assert_eq!(events[0].amount, Some(Money::new(51, Currency::Usd)));
    }

    #[test]
    fn a_wrong_secret_is_a_401_with_no_event() {
        let another = with(settings(), "secret", json!("another"));
        let adapter = ADAPTERS.adapter(another, "https://paylinks.skipify.com");
        let error = adapter
            .verify_webhook(&request(&[], SUCCEEDED), Utc::now())
            .unwrap_err();
        assert!(matches!(error, ProviderError::InvalidSignature(_)));
        let reply = adapter.webhook_reply(&WebhookOutcome::Rejected(&error));
        assert_eq!(reply.status, 401);
        assert_eq!(
            serde_json::from_str::<Value>(&reply.body).unwrap(),
            json!({ "error": { "code": "invalid_signature", "message": error.to_string(), "param": null } })
        );
        assert!(!reply.body.contains(SECRET) && !reply.body.contains("another"));
    }

    #[test]
    fn the_custom_header_is_required_when_configured() {
        let named = with(settings(), "custom_header_name", json!("X-Api-Key"));
        let with_header = with(named, "custom_header_value", json!("hdr-7"));
        let adapter = ADAPTERS.adapter(with_header, "https://paylinks.skipify.com");
        let now = Utc::now();
        assert!(matches!(
            adapter.verify_webhook(&request(&[], SUCCEEDED), now),
            Err(ProviderError::InvalidSignature(_))
        ));
        let wrong = vec![("x-api-key".to_owned(), "hdr-8".to_owned())];
        assert!(matches!(
            adapter.verify_webhook(&request(&wrong, SUCCEEDED), now),
            Err(ProviderError::InvalidSignature(_))
        ));
        let right = vec![("x-api-key".to_owned(), "hdr-7".to_owned())];
        assert_eq!(
            adapter.verify_webhook(&request(&right, SUCCEEDED), now),
            Ok(())
        );
        let redaction = adapter.webhook_policy().redaction.unwrap();
        assert!(redaction.is_secret_header("x-api-key"));
        assert!(redaction.is_secret_header("x-skipify-secret"));
        assert!(!redaction.is_secret_header("content-type"));
    }

    #[test]
    fn receipts_keep_the_body_without_its_secret() {
        let adapter = adapter("https://paylinks.skipify.com");
        let redaction = adapter.webhook_policy().redaction.unwrap();
        let stored = redaction.redact_body(SUCCEEDED.as_bytes()).unwrap();
        let stored = String::from_utf8(stored).unwrap();
        assert!(!stored.contains(SECRET));
        assert!(stored.contains(r#""secret": "[redacted]""#));
        assert_eq!(
            stored.len(),
            SUCCEEDED.len() + "[redacted]".len() - SECRET.len()
        );
        assert_eq!(redaction.redact_body(b"{\"eventName\": \"X\"}"), None);
    }

    #[test]
    fn webhook_replies_are_2xx_json_for_everything_accepted() {
        test_support::check_received_replies(
            &adapter("https://paylinks.skipify.com"),
            &[
                (
                    ProviderError::MalformedPayload("unknown Skipify `eventName`".into()),
                    400,
                    "malformed payload: unknown Skipify `eventName`",
                ),
                (
                    ProviderError::InvalidSignature("bad secret".into()),
                    401,
                    "invalid signature: bad secret",
                ),
            ],
        );
    }
}
