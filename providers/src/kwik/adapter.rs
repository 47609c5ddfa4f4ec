//! The Kwik adapter: one merchant's credentials, base URL and webhook endpoint, the one API
//! call Kwik documents for checkout links, and the webhook handling, behind [`Provider`].
//! Request bodies and answer reading live in [`super::wire`], signatures in
//! [`super::signature`]; this file only signs, sends and maps.

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

/// Kwik, bound to one merchant. Its `Debug` output shows no credential: every one is a
/// [`SecretString`].
#[derive(Debug)]
pub struct KwikAdapter {
    credentials: Credentials,
    /// Its base URL ends with `/`, so that joining `checkout/link` keeps `/2.0`; it is live
    /// against Kwik's production host only (see the module doc).
    api: Endpoint,
    /// This merchant's paymux endpoint for Kwik webhooks, sent on every create.
    webhook_url: Url,
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
#[derive(Debug)]
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
        let api = context.endpoint(&API, auth, |url| url.host_str() == Some(PRODUCTION_HOST))?;
        Ok(KwikAdapter {
            credentials,
            api,
            webhook_url: context.webhook_url,
        })
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
        response.into_created_checkout(request.amount, self.api.livemode())
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
        webhook.into_normalized(self.api.livemode())
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
    use crate::Operation::{Create, Webhooks};
    use crate::model::{Customer, LineItem};
    use crate::test_support::{self, AdapterBuilder};
    use chrono::TimeZone;
    use paymux_domain::{EventType, Money};
    use serde_json::json;
    use std::collections::BTreeMap;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const API_KEY: &str = "kwik_key_7Hq2";
    const API_SECRET: &str = "kwik_secret_x9Lm";
    const PASSPHRASE: &str = "your-secure-passphrase";
    const WEBHOOK_SECRET: &str = "kwik_whsec_test";
    /// `Basic base64(API_KEY:API_SECRET)`.
    const BASIC: &str = "Basic a3dpa19rZXlfN0hxMjprd2lrX3NlY3JldF94OUxt";
    const LINK_RESPONSE: &str = include_str!("fixtures/link_response.json");
    const WEBHOOK: &str = include_str!("fixtures/webhook.json");
    const ADAPTERS: AdapterBuilder<KwikAdapter> = AdapterBuilder {
        id: ID,
        from_context: KwikAdapter::from_context,
    };

    /// The keys of an adapter that does not sign its requests.
    fn keys() -> Value {
        json!({ "api_key": "kwik_key", "api_secret": "kwik_secret", "webhook_secret": "whsec" })
    }

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

    /// A signing adapter whose base URL is `base` (no trailing slash, like a hand-written
    /// config).
    fn adapter(base: &str) -> KwikAdapter {
        ADAPTERS.adapter(settings(true), base)
    }

    async fn server_and_adapter() -> (MockServer, KwikAdapter) {
        test_support::mock_api("/2.0", adapter).await
    }

    fn checkout_request() -> CheckoutRequest {
        let thandi = Customer::example(Some("Thandi van der Merwe"), Some("thandi@example.co.za"));
        CheckoutRequest::example(Money::new(120_000, Currency::Zar))
            .with_reference("order-5821")
            .with_description("My product name")
            .with_customer(thandi)
            .with_success_url("https://shop.example/ok?order=5821")
            .with_metadata(json!({ "order_id": "5821" }))
            .with_provider_options(json!({ "payment_methods": ["CARD"] }))
    }

    /// The body of `request` as the wire module builds it for this merchant, unsigned.
    fn wire_body(request: &CheckoutRequest) -> Value {
        let webhook_url = Url::parse("https://paymux.example/webhooks/demo/kwik").unwrap();
        let link = CreateLink::from_checkout(request, &webhook_url, Utc::now()).unwrap();
        serde_json::to_value(link).unwrap()
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

    #[test]
    fn the_factory_builds_a_create_and_webhooks_adapter_for_zar() {
        let operations = [Create, Webhooks];
        test_support::check_factory(
            super::super::FACTORY,
            &keys(),
            &operations,
            &[Currency::Zar],
        );
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        ADAPTERS.check_strict_settings(
            &keys(),
            &["api_key", "api_secret", "webhook_secret"],
            &["api_key", "api_secret", "passphrase", "webhook_secret"],
        );
        ADAPTERS.check_refused(&keys(), "api_key", &["user:zq"]);
        ADAPTERS.check_refused(&keys(), "api_secret", &["zq\nzq"]);
    }

    #[test]
    fn a_webhook_secret_or_a_passphrase_is_required() {
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "api_secret": "s" }));
        assert_eq!(error.key, "webhook_secret");
        assert!(error.message.contains("passphrase"), "{error}");
        let settings = json!({ "api_key": "k", "api_secret": "s", "passphrase": "pp" });
        assert!(ADAPTERS.build(settings, None).unwrap().signs_requests());
        assert!(!ADAPTERS.build(keys(), None).unwrap().signs_requests());
    }

    #[test]
    fn the_base_url_always_ends_with_a_slash_and_only_kwiks_production_host_is_live() {
        ADAPTERS.check_base_urls(
            &keys(),
            |adapter| &adapter.api,
            (DEFAULT_BASE_URL, true),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/kwik/2.0",
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    "http://127.0.0.1:9000/sandbox/kwik/2.0/",
                    false,
                ),
                (
                    "https://api.kwik.co.za/2.0",
                    "https://api.kwik.co.za/2.0/",
                    true,
                ),
                (
                    "https://staging.api.kwik.co.za/2.0/",
                    "https://staging.api.kwik.co.za/2.0/",
                    false,
                ),
                (
                    "https://api.kwik.co.za.example/2.0/",
                    "https://api.kwik.co.za.example/2.0/",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings = json!({
            "api_key": "kwik_topkey",
            "api_secret": "kwik_topsecret",
            "passphrase": "hushpass",
            "webhook_secret": "hushhook"
        });
        test_support::check_debug(
            &ADAPTERS.build(settings, None).unwrap(),
            &["topkey", "topsecret", "hushpass", "hushhook"],
            &["livemode: true"],
        );
    }

    #[tokio::test]
    async fn create_posts_the_signed_wire_body_and_maps_the_link() {
        let (server, adapter) = server_and_adapter().await;
        let headers = [
            ("authorization", BASIC),
            ("content-type", "application/json"),
        ];
        let answer = ResponseTemplate::new(200).set_body_string(LINK_RESPONSE);
        test_support::expect_once(
            &server,
            ("POST", "/2.0/checkout/link"),
            &headers,
            None,
            answer,
        )
        .await;
        let created = adapter.create_checkout(&checkout_request()).await.unwrap();
        let response: LinkResponse = serde_json::from_str(LINK_RESPONSE).unwrap();
        let amount = Money::new(120_000, Currency::Zar);
        assert_eq!(Ok(created), response.into_created_checkout(amount, false));

        let received = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&received[0].body).unwrap();
        let signature = body["signature"].as_str().unwrap().to_owned();
        assert_eq!(signature, doc_signature(&body, PASSPHRASE));
        assert_ne!(signature, doc_signature(&body, "another-passphrase"));
        let mut unsigned = body.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert_eq!(unsigned, wire_body(&checkout_request()));
        assert_eq!(unsigned["payment"], json!({ "payment_methods": ["CARD"] }));
    }

    #[tokio::test]
    async fn a_signed_basket_verifies_too_and_no_passphrase_means_no_signature() {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .and(path("/2.0/checkout/link"))
            .respond_with(ResponseTemplate::new(200).set_body_string(LINK_RESPONSE))
            .mount(&server)
            .await;
        let mut request = checkout_request().with_items(vec![
            LineItem {
                name: "Biltong".into(),
                quantity: 3,
                unit_amount: 30_000,
            },
            LineItem {
                name: "Rooibos".into(),
                quantity: 1,
                unit_amount: 30_000,
            },
        ]);
        request.expires_at = Some(Utc::now() + chrono::TimeDelta::hours(2));
        adapter.create_checkout(&request).await.unwrap();
        let base = format!("{}/2.0", server.uri());
        let unsigned = ADAPTERS.adapter(settings(false), &base);
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
        let mut in_usd = checkout_request();
        in_usd.amount = Money::new(120_000, Currency::Usd);
        let metadata = checkout_request().with_provider_options(json!({ "metadata": {} }));
        let unknown_option = ProviderError::invalid(
            "unknown Kwik option `metadata`; allowed: customization, invoice, payment_methods, \
             customer_fields",
            "provider_options.kwik.metadata",
        );
        let refused = vec![
            (
                in_usd,
                ProviderError::invalid("Kwik charges in ZAR only, not USD", "currency"),
            ),
            (metadata, unknown_option),
        ];
        test_support::check_refused_before_any_call(&server, &adapter, refused).await;
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
                r#"{"status": true}"#,
                r#"{"status": false, "message": "nope"}"#,
                r#"{"status": true, "result": {"id": "chk_x"}}"#,
            ],
            refused_create,
        )
        .await;
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_shows_no_secret() {
        let error = refused_create(&adapter(&test_support::refused_url("/2.0"))).await;
        test_support::assert_unreachable(&error, &[API_KEY, API_SECRET, PASSPHRASE]);
    }

    /// The headers of a delivery of `body` signed with `secret` at `t`.
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

    /// When the webhook fixture was signed.
    const SIGNED_AT: i64 = 1_757_766_600;

    /// What `adapter` says of a delivery of `body` with `headers`, `skew` seconds after it was
    /// signed.
    fn verdict(
        adapter: &KwikAdapter,
        headers: &[(String, String)],
        body: &str,
        skew: i64,
    ) -> Result<(), ProviderError> {
        let now = Utc.timestamp_opt(SIGNED_AT + skew, 0).unwrap();
        let body = body.as_bytes();
        adapter.verify_webhook(&WebhookRequest { headers, body }, now)
    }

    #[test]
    fn webhooks_are_verified_with_the_merchants_secret_and_normalized() {
        let adapter = adapter("https://api.kwik.co.za/2.0");
        let headers = signed_headers(WEBHOOK_SECRET, SIGNED_AT, WEBHOOK.as_bytes());
        // Up to 30 s of clock skew is tolerated; beyond that the time is in the future.
        for skew in [0, -30] {
            assert_eq!(verdict(&adapter, &headers, WEBHOOK, skew), Ok(()), "{skew}");
        }
        for skew in [301, 3_600, -31] {
            let stale = verdict(&adapter, &headers, WEBHOOK, skew);
            assert!(
                matches!(stale, Err(ProviderError::StaleTimestamp(_))),
                "{skew}"
            );
        }
        let tampered = WEBHOOK.replace("1200.00", "1300.00");
        // The passphrase is not the key when a webhook secret is configured.
        let by_passphrase = signed_headers(PASSPHRASE, SIGNED_AT, WEBHOOK.as_bytes());
        for (headers, body) in [(&headers, tampered.as_str()), (&by_passphrase, WEBHOOK)] {
            let forged = verdict(&adapter, headers, body, 0);
            assert!(
                matches!(forged, Err(ProviderError::InvalidSignature(_))),
                "{forged:?}"
            );
        }
        for missing in ["x-signature", "x-timestamp"] {
            let partial: Vec<(String, String)> = headers
                .iter()
                .filter(|(name, _)| name != missing)
                .cloned()
                .collect();
            let error = verdict(&adapter, &partial, WEBHOOK, 0).unwrap_err();
            assert!(error.is_webhook_rejection(), "{missing}: {error:?}");
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
        let adapter = ADAPTERS.adapter(settings, "https://api.kwik.co.za/2.0");
        let headers = signed_headers(PASSPHRASE, SIGNED_AT, WEBHOOK.as_bytes());
        assert_eq!(verdict(&adapter, &headers, WEBHOOK, 0), Ok(()));
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
