//! The Kwik adapter: one merchant's credentials, base URL and webhook endpoint, the one API
//! call Kwik documents for checkout links, and the webhook handling, behind [`Provider`].
//! Request bodies and answer reading live in [`super::wire`], signatures in
//! [`super::signature`]; this file only signs, sends and maps.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, NormalizedEvent};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::wire::{CURRENCIES, CreateLink, ErrorBody, LinkResponse, Webhook};
use super::{DEFAULT_BASE_URL, ID, PRODUCTION_HOST, signature};
use crate::ConfigError;
use crate::factory::AdapterContext;
use crate::http::{ApiSpec, Auth, Endpoint, Repeat, read_json};
use crate::json;
use crate::model::{
    CheckoutRequest, CreatedCheckout, WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::secret::SecretRef;
use crate::{ClosedCheckout, Provider, ProviderError, WebhookPolicy};

/// Where checkout links are created, below the base URL.
pub(super) const CHECKOUT_LINK_PATH: &str = "checkout/link";

/// Kwik's API: HTTP Basic, paths below `…/2.0/`; 400 and 422 say the request was refused as
/// invalid, anything else is upstream's failure (401: wrong credentials or signature).
const API: ApiSpec = ApiSpec {
    name: "Kwik",
    default_base_url: DEFAULT_BASE_URL,
    joins_paths: true,
    invalid_statuses: &[400, 422],
    error_message: ErrorBody::message_from,
};

/// Kwik, bound to one merchant. Its `Debug` output shows no credential.
pub struct KwikAdapter {
    credentials: Credentials,
    /// Its base URL ends with `/`, so that joining `checkout/link` keeps `/2.0`.
    api: Endpoint,
    /// This merchant's paymux endpoint for Kwik webhooks, sent on every create.
    webhook_url: Url,
    /// True against Kwik's production host only (see the module doc).
    livemode: bool,
}

impl fmt::Debug for KwikAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KwikAdapter")
            .field("base_url", &self.base_url().as_str())
            .field("livemode", &self.livemode)
            .field("signs_requests", &self.credentials.passphrase.is_some())
            .finish_non_exhaustive()
    }
}

/// The provider's keys in `[merchants.<id>.providers.kwik]`. The simulated Kwik reads the same
/// section to know a merchant's account.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP Basic user.
    api_key: SecretRef,
    /// The HTTP Basic password.
    api_secret: SecretRef,
    /// The passphrase downloaded with the API key: when set, every request is signed.
    #[serde(default)]
    passphrase: Option<SecretRef>,
    /// The key of webhooks' `X-Signature`; the passphrase when not set.
    #[serde(default)]
    webhook_secret: Option<SecretRef>,
}

/// A merchant's resolved Kwik credentials.
pub struct Credentials {
    pub api_key: SecretString,
    pub api_secret: SecretString,
    pub passphrase: Option<SecretString>,
    /// `webhook_secret`, or else the passphrase.
    pub webhook_secret: SecretString,
}

impl Credentials {
    /// Reads the settings and resolves their secrets with `resolve` (which names the key it
    /// fails on). Every error names its key and never shows a secret.
    pub fn from_settings(
        settings: &Value,
        resolve: impl Fn(&str, &SecretRef) -> Result<SecretString, ConfigError>,
    ) -> Result<Credentials, ConfigError> {
        let settings: Settings = crate::factory::parse_settings(settings)?;
        let api_key = resolve("api_key", &settings.api_key)?;
        let api_secret = resolve("api_secret", &settings.api_secret)?;
        if api_key.expose_secret().contains(':') {
            return Err(ConfigError::new(
                "api_key",
                "a Kwik API key cannot contain `:`, which separates it from the secret in HTTP \
                 Basic credentials",
            ));
        }
        for (key, value) in [("api_key", &api_key), ("api_secret", &api_secret)] {
            if value.expose_secret().chars().any(char::is_control) {
                return Err(ConfigError::new(
                    key,
                    "contains control characters, which cannot be sent in HTTP Basic credentials",
                ));
            }
        }
        let passphrase = settings
            .passphrase
            .as_ref()
            .map(|secret| resolve("passphrase", secret))
            .transpose()?;
        let webhook_secret = match (&settings.webhook_secret, &passphrase) {
            (Some(secret), _) => resolve("webhook_secret", secret)?,
            (None, Some(passphrase)) => passphrase.clone(),
            (None, None) => {
                return Err(ConfigError::new(
                    "webhook_secret",
                    "Kwik needs `webhook_secret` (or `passphrase`, used in its place) to verify \
                     webhook signatures",
                ));
            }
        };
        Ok(Credentials {
            api_key,
            api_secret,
            passphrase,
            webhook_secret,
        })
    }
}

impl KwikAdapter {
    /// Builds the adapter from a merchant's config section. Every error names its key and never
    /// shows a secret.
    pub fn from_context(context: AdapterContext<'_>) -> Result<KwikAdapter, ConfigError> {
        let credentials = Credentials::from_settings(context.settings, |key, secret| {
            context.secret(key, secret)
        })?;
        let auth = Auth::Basic {
            user: credentials.api_key.clone(),
            password: credentials.api_secret.clone(),
        };
        let api = context.endpoint(&API, auth)?;
        let livemode = api.base_url().host_str() == Some(PRODUCTION_HOST);
        Ok(KwikAdapter {
            credentials,
            api,
            webhook_url: context.webhook_url,
            livemode,
        })
    }

    /// True against Kwik's production API: real money.
    pub fn livemode(&self) -> bool {
        self.livemode
    }

    pub fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// Whether requests carry a `signature` (a passphrase is configured).
    pub fn signs_requests(&self) -> bool {
        self.credentials.passphrase.is_some()
    }

    /// The JSON body of `link`, signed when a passphrase is configured. The body sent is the
    /// very value that was signed.
    pub fn request_body(&self, link: &CreateLink) -> Result<Value, ProviderError> {
        let Value::Object(mut body) =
            serde_json::to_value(link).map_err(|error| ProviderError::InvalidRequest {
                message: format!(
                    "the Kwik request cannot be serialized: {}",
                    json::describe_error(&error)
                ),
                param: None,
            })?
        else {
            return Err(ProviderError::InvalidRequest {
                message: "the Kwik request is not a JSON object".to_owned(),
                param: None,
            });
        };
        if let Some(passphrase) = &self.credentials.passphrase {
            signature::sign_request(passphrase.expose_secret().as_bytes(), &mut body);
        }
        Ok(Value::Object(body))
    }
}

#[async_trait]
impl Provider for KwikAdapter {
    fn id(&self) -> &'static str {
        ID
    }

    fn currencies(&self) -> &[Currency] {
        &CURRENCIES
    }

    /// Kwik documents no idempotency key.
    fn idempotent_create(&self) -> bool {
        false
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        CreateLink::from_checkout(request, &self.webhook_url, Utc::now()).map(drop)
    }

    /// `POST {base}checkout/link`. Kwik documents no idempotency key: a retried create can
    /// make a second link (a page, not a payment); paymux's own idempotency keeps a retried
    /// storefront request from getting here twice.
    #[tracing::instrument(skip_all, fields(provider = ID, checkout_id = %request.checkout_id))]
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        let link = CreateLink::from_checkout(request, &self.webhook_url, Utc::now())?;
        let body = self.request_body(&link)?;
        let post = self.api.post(CHECKOUT_LINK_PATH)?.json(&body);
        // No idempotency key: a second send could make a second link.
        let response: LinkResponse = self.api.call(post, Repeat::Once, "checkout link").await?;
        response.into_created_checkout(request.amount, self.livemode)
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        signature::verify_webhook(
            request.header(signature::SIGNATURE_HEADER),
            request.header(signature::TIMESTAMP_HEADER),
            request.body,
            self.credentials.webhook_secret.expose_secret().as_bytes(),
            now,
        )
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        let webhook: Webhook = read_json(raw, "not a Kwik webhook")?;
        webhook.into_normalized(self.livemode)
    }

    /// Kwik wants a 200 and retries anything else: every accepted delivery gets it, a refused
    /// payment too (Kwik has no way to act on a refusal, and a retry would not change it).
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        WebhookReply::received_or(outcome, |_| 400)
    }

    /// A payment Kwik reports for a closed checkout has happened, and Kwik cannot act on
    /// a refusal.
    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy::signature_suffices(ClosedCheckout::ApplyAndFlag)
    }

    // No lookups, cancels or refunds: Kwik documents no way to read a checkout link back, to
    // cancel one (only the payer's cancel button) or to refund.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation;
    use crate::model::Customer;
    use crate::test_support::{self, AdapterBuilder};
    use chrono::TimeZone;
    use paymux_domain::{CheckoutStatus, EventType, Money};
    use serde_json::json;
    use std::collections::BTreeMap;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const API_KEY: &str = "kwik_key_7Hq2";
    const API_SECRET: &str = "kwik_secret_x9Lm";
    const PASSPHRASE: &str = "your-secure-passphrase";
    const WEBHOOK_SECRET: &str = "kwik_whsec_test";
    const LINK_RESPONSE: &str = include_str!("fixtures/link_response.json");
    const WEBHOOK: &str = include_str!("fixtures/webhook.json");
    const WEBHOOK_URL: &str = "https://paymux.example/webhooks/demo/kwik";
    /// `Basic base64(API_KEY:API_SECRET)`.
    const BASIC: &str = "Basic a3dpa19rZXlfN0hxMjprd2lrX3NlY3JldF94OUxt";

    fn settings(passphrase: bool) -> Value {
        let mut settings = json!({
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "webhook_secret": WEBHOOK_SECRET,
        });
        if passphrase {
            settings["passphrase"] = json!(PASSPHRASE);
        }
        settings
    }

    fn adapter_with(settings: &Value, base: &str) -> KwikAdapter {
        let adapters = AdapterBuilder {
            id: ID,
            from_context: KwikAdapter::from_context,
        };
        adapters.adapter(settings.clone(), base)
    }

    /// A signing adapter whose base URL is `base` (no trailing slash, like a hand-written
    /// config).
    fn adapter(base: &str) -> KwikAdapter {
        adapter_with(&settings(true), base)
    }

    async fn server_and_adapter() -> (MockServer, KwikAdapter) {
        test_support::mock_api("/2.0", adapter).await
    }

    fn checkout_request() -> CheckoutRequest {
        CheckoutRequest {
            reference: Some("order-5821".into()),
            description: Some("My product name".into()),
            customer: Some(Customer {
                name: Some("Thandi van der Merwe".into()),
                email: Some("thandi@example.co.za".into()),
                ..Customer::default()
            }),
            success_url: Some(Url::parse("https://shop.example/ok?order=5821").unwrap()),
            metadata: json!({ "order_id": "5821" }).as_object().cloned(),
            provider_options: Some(json!({ "payment_methods": ["CARD"] })),
            ..CheckoutRequest::example(Money::new(120_000, Currency::Zar))
        }
    }

    /// An independent canonical form, good for the bodies paymux sends (ASCII keys, integer
    /// numbers): `signature` members dropped, keys sorted by a `BTreeMap`, leaves printed by
    /// serde_json.
    fn independent_canonical(value: &Value) -> String {
        match value {
            Value::Object(members) => {
                let sorted: BTreeMap<&String, &Value> = members
                    .iter()
                    .filter(|(key, _)| key.as_str() != "signature")
                    .collect();
                let members: Vec<String> = sorted
                    .into_iter()
                    .map(|(key, member)| {
                        format!(
                            "{}:{}",
                            serde_json::to_string(key).unwrap(),
                            independent_canonical(member)
                        )
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(independent_canonical).collect();
                format!("[{}]", items.join(","))
            }
            leaf => serde_json::to_string(leaf).unwrap(),
        }
    }

    /// The doc's procedure, recomputed from scratch: canonical JSON of the received body minus
    /// `signature`, HMAC-SHA256 under the passphrase.
    fn doc_signature(body: &Value, passphrase: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(passphrase.as_bytes()).unwrap();
        mac.update(independent_canonical(body).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[tokio::test]
    async fn create_posts_a_signed_documented_request_and_maps_the_link() {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .and(path("/2.0/checkout/link"))
            .and(header("authorization", BASIC))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_string(LINK_RESPONSE))
            .expect(1)
            .mount(&server)
            .await;
        let created = adapter.create_checkout(&checkout_request()).await.unwrap();
        assert_eq!(
            created,
            CreatedCheckout {
                provider_checkout_id: Some("chk_HVpCeoNys1f22X7QcuWHY".into()),
                status: CheckoutStatus::Open,
                redirect_url: Some("https://pay.kwik.co.za/checkout/cs_test_a1b2c3".into()),
                client_action: None,
                livemode: false,
                expires_at: Some(Utc.with_ymd_and_hms(2025, 9, 13, 12, 30, 0).unwrap()),
            }
        );

        let received = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&received[0].body).unwrap();
        let signature = body["signature"].as_str().unwrap().to_owned();
        assert_eq!(signature, doc_signature(&body, PASSPHRASE));
        assert_ne!(signature, doc_signature(&body, "another-passphrase"));
        let mut unsigned = body.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert_eq!(
            unsigned,
            json!({
                "type": "CHOOSE_WHAT_TO_PAY",
                "item": { "title": "My product name", "frequency": ["ONE_TIME"], "amount": "1200.00" },
                "customer": {
                    "person_name": "Thandi",
                    "person_surname": "van der Merwe",
                    "email": "thandi@example.co.za",
                },
                "payment": { "payment_methods": ["CARD"] },
                "redirects": { "success_url": "https://shop.example/ok?order=5821" },
                "notification": { "webhook_url": WEBHOOK_URL },
            })
        );
    }

    #[tokio::test]
    async fn a_signed_basket_verifies_too_and_no_passphrase_means_no_signature() {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .and(path("/2.0/checkout/link"))
            .respond_with(ResponseTemplate::new(200).set_body_string(LINK_RESPONSE))
            .mount(&server)
            .await;
        let mut request = checkout_request();
        request.items = vec![
            crate::model::LineItem {
                name: "Biltong".into(),
                quantity: 3,
                unit_amount: 30_000,
            },
            crate::model::LineItem {
                name: "Rooibos".into(),
                quantity: 1,
                unit_amount: 30_000,
            },
        ];
        request.expires_at = Some(Utc::now() + chrono::TimeDelta::hours(2));
        adapter.create_checkout(&request).await.unwrap();
        let unsigned = adapter_with(&settings(false), &format!("{}/2.0", server.uri()));
        unsigned.create_checkout(&checkout_request()).await.unwrap();

        let received = server.received_requests().await.unwrap();
        let basket: Value = serde_json::from_slice(&received[0].body).unwrap();
        assert_eq!(basket["type"], "PRODUCTS_AND_SUBSCRIPTIONS");
        assert_eq!(basket["items"][0]["qty"], 3);
        assert!(basket["settings"]["expiry_time"].as_u64().unwrap() >= 120);
        assert_eq!(basket["signature"], doc_signature(&basket, PASSPHRASE));
        let plain: Value = serde_json::from_slice(&received[1].body).unwrap();
        assert!(plain.get("signature").is_none(), "{plain}");
    }

    #[tokio::test]
    async fn an_invalid_request_is_refused_before_any_call() {
        let (server, adapter) = server_and_adapter().await;
        test_support::expect_no_call(&server).await;
        let mut request = checkout_request();
        request.amount = Money::new(120_000, Currency::Usd);
        let error = adapter.create_checkout(&request).await.unwrap_err();
        assert_eq!(
            error,
            ProviderError::invalid("Kwik charges in ZAR only, not USD", "currency")
        );
        let mut request = checkout_request();
        request.provider_options = Some(json!({ "metadata": {} }));
        let error = adapter.create_checkout(&request).await.unwrap_err();
        assert!(
            matches!(&error, ProviderError::InvalidRequest { param: Some(p), .. } if p == "provider_options.kwik.metadata"),
            "{error:?}"
        );
    }

    /// What every test of a refused or unreadable create calls.
    async fn refused_create(adapter: &KwikAdapter) -> ProviderError {
        let request = checkout_request();
        adapter.create_checkout(&request).await.unwrap_err()
    }

    #[tokio::test]
    async fn error_answers_map_to_the_providers_message() {
        test_support::check_error_answers(
            server_and_adapter,
            ("POST", "/2.0/checkout/link"),
            |message| json!({ "status": false, "message": message }),
            &[400, 401, 403, 404, 422, 429, 500, 503],
            &[400, 422],
            refused_create,
        )
        .await;
    }

    #[tokio::test]
    async fn a_2xx_that_is_not_a_link_is_malformed() {
        test_support::check_malformed_answers(
            server_and_adapter,
            ("POST", "/2.0/checkout/link"),
            &[
                "",
                "<html>ok</html>",
                r#"{"status": true}"#,
                r#"{"status": false, "message": "nope"}"#,
                r#"{"status": true, "result": {"id": "chk_x"}}"#,
            ],
            refused_create,
        )
        .await;
    }

    #[test]
    fn there_is_no_lookup_cancel_or_refund_and_the_capabilities_say_so() {
        let adapter = adapter("https://api.kwik.co.za/2.0");
        test_support::check_operations(&adapter, &[Operation::Create, Operation::Webhooks]);
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_shows_no_secret() {
        let error = refused_create(&adapter(&test_support::refused_url("/2.0"))).await;
        test_support::assert_unreachable(&error, &[API_KEY, API_SECRET, PASSPHRASE]);
    }

    fn signed_headers(secret: &str, t: i64, body: &[u8]) -> Vec<(String, String)> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        vec![
            (
                "x-signature".into(),
                hex::encode(mac.finalize().into_bytes()),
            ),
            ("x-timestamp".into(), t.to_string()),
            ("user-agent".into(), "Kwik-Webhooks/1.0".into()),
        ]
    }

    #[test]
    fn webhooks_are_verified_with_the_merchants_secret_and_normalized() {
        let adapter = adapter("https://api.kwik.co.za/2.0");
        let t = 1_757_766_600;
        let now = Utc.timestamp_opt(t, 0).unwrap();
        let headers = signed_headers(WEBHOOK_SECRET, t, WEBHOOK.as_bytes());
        let request = WebhookRequest {
            headers: &headers,
            body: WEBHOOK.as_bytes(),
        };
        assert_eq!(adapter.verify_webhook(&request, now), Ok(()));
        for late in [301, 3_600] {
            assert!(matches!(
                adapter.verify_webhook(&request, now + chrono::TimeDelta::seconds(late)),
                Err(ProviderError::StaleTimestamp(_))
            ));
        }
        // Up to 30 s of clock skew is tolerated; beyond that the time is in the future.
        assert_eq!(
            adapter.verify_webhook(&request, now - chrono::TimeDelta::seconds(30)),
            Ok(())
        );
        assert!(matches!(
            adapter.verify_webhook(&request, now - chrono::TimeDelta::seconds(31)),
            Err(ProviderError::StaleTimestamp(_))
        ));
        let changed = WEBHOOK.replace("1200.00", "1300.00");
        let tampered = WebhookRequest {
            headers: &headers,
            body: changed.as_bytes(),
        };
        assert!(matches!(
            adapter.verify_webhook(&tampered, now),
            Err(ProviderError::InvalidSignature(_))
        ));
        // The passphrase is not the key when a webhook secret is configured.
        let by_passphrase = signed_headers(PASSPHRASE, t, WEBHOOK.as_bytes());
        let request_by_passphrase = WebhookRequest {
            headers: &by_passphrase,
            body: WEBHOOK.as_bytes(),
        };
        assert!(matches!(
            adapter.verify_webhook(&request_by_passphrase, now),
            Err(ProviderError::InvalidSignature(_))
        ));
        for missing in ["x-signature", "x-timestamp"] {
            let partial: Vec<(String, String)> = headers
                .iter()
                .filter(|(name, _)| name != missing)
                .cloned()
                .collect();
            let request = WebhookRequest {
                headers: &partial,
                body: WEBHOOK.as_bytes(),
            };
            assert!(
                adapter
                    .verify_webhook(&request, now)
                    .unwrap_err()
                    .is_webhook_rejection()
            );
        }

        let events = adapter.parse_webhook(WEBHOOK.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].amount, Some(Money::new(120_000, Currency::Zar)));
        assert!(events[0].livemode);
        let error = adapter.parse_webhook(b"{not json").unwrap_err();
        assert!(matches!(error, ProviderError::MalformedPayload(_)));
    }

    #[test]
    fn without_a_webhook_secret_the_passphrase_verifies_webhooks() {
        let settings =
            json!({ "api_key": API_KEY, "api_secret": API_SECRET, "passphrase": PASSPHRASE });
        let adapter = adapter_with(&settings, "https://api.kwik.co.za/2.0");
        let t = 1_757_766_600;
        let headers = signed_headers(PASSPHRASE, t, WEBHOOK.as_bytes());
        let request = WebhookRequest {
            headers: &headers,
            body: WEBHOOK.as_bytes(),
        };
        assert_eq!(
            adapter.verify_webhook(&request, Utc.timestamp_opt(t, 0).unwrap()),
            Ok(())
        );
    }

    #[test]
    fn webhook_replies_are_what_kwik_expects() {
        test_support::check_received_replies(
            &adapter("https://api.kwik.co.za/2.0"),
            &[(
                ProviderError::InvalidSignature("bad".into()),
                400,
                "invalid signature: bad",
            )],
        );
    }
}
