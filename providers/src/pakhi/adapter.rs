//! The Pakhi Pay adapter: one merchant's API key, currency and base URL, the create and verify
//! calls, and the callback handling, behind [`Provider`]. Request bodies and answer reading
//! live in [`super::wire`], the callback signature in [`super::signature`]; this file only
//! sends and maps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, EventType, NormalizedEvent};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

use super::wire::{self, Answer, Callback, CreatePayment};
use super::{
    API_KEY_HEADER, CREATE_PATH, DEFAULT_BASE_URL, DEFAULT_CURRENCY, ID, LIVE_HOST, VERIFY_PATH,
    signature,
};
use crate::ConfigError;
use crate::factory::AdapterContext;
use crate::http::{self, ApiSpec, Auth, Endpoint, Repeat, refusal};
use crate::model::{
    CheckoutRequest, CreatedCheckout, WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::{ClosedCheckout, Confirmation, Confirms, Provider, ProviderError, WebhookPolicy};

/// Pakhi Pay's API: the brand's key in `api-key`, paths below the site. Its answers say more
/// in their body than in their status (see [`created_checkout`] and [`verdict`]); a refused
/// create is the request's fault on 400 and 422, upstream's on any other status.
const API: ApiSpec = ApiSpec {
    name: "Pakhi Pay",
    default_base_url: DEFAULT_BASE_URL,
    joins_paths: true,
    invalid_statuses: &[400, 422],
    error_message: Answer::message_of,
};

/// Pakhi Pay, bound to one merchant. Its `Debug` output shows no credential: the API key is a
/// [`SecretString`].
#[derive(Debug)]
pub struct PakhiAdapter {
    /// Sent as `api-key` on every call, and the key callbacks are signed with.
    api_key: SecretString,
    /// The one currency this merchant's Pakhi Pay account charges in (the doc names none).
    currency: Currency,
    /// Its base URL ends with `/`, so that joining `api/request/…` keeps any path prefix (the
    /// sandbox's). It is live on Pakhi Pay's own host: Pakhi Pay has no test mode, so every
    /// payment there is real money; anything else (the sandbox, a mock) is not.
    api: Endpoint,
    /// This merchant's paymux webhook URL, sent as every payment's `callback_url`.
    webhook_url: Url,
}

/// The provider's keys in `[merchants.<id>.providers.pakhi]`.
/// The simulated Pakhi Pay reads the same section to know a merchant's account.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The brand's API key: sent as `api-key`, and the callbacks' signing key.
    pub api_key: crate::SecretRef,
    /// ISO-4217 code of the account's currency; BDT when absent.
    #[serde(default)]
    pub currency: Option<String>,
}

impl Settings {
    /// The configured currency, or BDT.
    pub fn currency(&self) -> Result<Currency, ConfigError> {
        match &self.currency {
            None => Ok(DEFAULT_CURRENCY),
            Some(code) => Currency::parse(code)
                .map_err(|error| ConfigError::new("currency", error.to_string())),
        }
    }
}

impl PakhiAdapter {
    /// Builds the adapter from a merchant's config section. Every error names its key and never
    /// shows a secret.
    pub fn from_context(context: AdapterContext<'_>) -> Result<PakhiAdapter, ConfigError> {
        let settings: Settings = context.settings()?;
        let api_key = context.secret("api_key", &settings.api_key)?;
        let auth = Auth::header(API_KEY_HEADER, API.api_key_header(None, &api_key)?);
        let currency = settings.currency()?;
        let api = context.endpoint(&API, auth, |url| {
            url.host_str()
                .is_some_and(|host| host == LIVE_HOST || host.ends_with(&format!(".{LIVE_HOST}")))
        })?;
        Ok(PakhiAdapter {
            api_key,
            currency,
            api,
            webhook_url: context.webhook_url,
        })
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Posts `body` as JSON to `path` under the base URL, and returns the answer whatever its
    /// status: Pakhi Pay's answers say more in their body than in their status.
    async fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        repeat: Repeat,
    ) -> Result<http::Answer, ProviderError> {
        self.api
            .exchange(self.api.post(path)?.json(body), repeat)
            .await
    }
}

/// What a create answered. `status` 1 with a `payment_url` is a payment link. Pakhi Pay names
/// no payment id, so the checkout has no provider id: callbacks find it by `order_id`. A
/// refusal of a request paymux already checked is Pakhi Pay's to explain: 400 and 422 are the
/// request's fault (400 to the storefront), anything else is upstream's (502), with Pakhi Pay's
/// own `message`.
fn created_checkout(
    status: u16,
    body: &[u8],
    livemode: bool,
) -> Result<CreatedCheckout, ProviderError> {
    let answer = Answer::from_body(body).unwrap_or_default();
    if (200..300).contains(&status) && answer.ok {
        let payment_url = answer
            .payment_url
            .filter(|url| Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https")))
            .ok_or_else(|| ProviderError::Upstream {
                status,
                message: "Pakhi Pay answered status 1 without a usable payment_url".to_owned(),
            })?;
        return Ok(CreatedCheckout::hosted(None, payment_url, livemode, None));
    }
    let message = (API.error_message)(body);
    tracing::warn!(status, %message, "Pakhi Pay refused the payment");
    Err(refusal(status, message, API.invalid_statuses))
}

/// What the verify API's answer means for a reported success. `status` 1 with `message`
/// `completed` confirms it; any other answer refutes it with what Pakhi Pay said. A 5xx, a 408
/// or 429, or a body that is not JSON decides nothing: an error, so that paymux answers 5xx and
/// the callback can come again.
fn verdict(status: u16, body: &[u8], transaction_id: &str) -> Result<Confirmation, ProviderError> {
    let said = || Answer::message_of(body);
    match status {
        200..=299 => match Answer::from_body(body) {
            Some(answer) if answer.confirms_completion() => Ok(Confirmation::Confirmed),
            Some(answer) => Ok(Confirmation::Refuted {
                reason: format!(
                    "Pakhi Pay's verify API did not confirm {transaction_id}: status {}, {}",
                    u8::from(answer.ok),
                    answer.message.as_deref().unwrap_or("no message")
                ),
            }),
            None => Err(ProviderError::Upstream {
                status,
                message: format!("the verify API answered no JSON object: {}", said()),
            }),
        },
        400..=499 if !matches!(status, 408 | 429) => Ok(Confirmation::Refuted {
            reason: format!(
                "Pakhi Pay's verify API refused {transaction_id} with {status}: {}",
                said()
            ),
        }),
        _ => Err(ProviderError::Upstream {
            status,
            message: said(),
        }),
    }
}

#[async_trait]
impl Provider for PakhiAdapter {
    fn id(&self) -> &'static str {
        ID
    }

    fn currencies(&self) -> &[Currency] {
        std::slice::from_ref(&self.currency)
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        CreatePayment::from_checkout(request, self.currency, &self.webhook_url).map(drop)
    }

    #[tracing::instrument(skip_all, fields(provider = ID, checkout_id = %request.checkout_id))]
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        let body = CreatePayment::from_checkout(request, self.currency, &self.webhook_url)?;
        // Pakhi Pay documents no idempotency key: a second send could make a second payment.
        let answer = self.post(CREATE_PATH, &body, Repeat::Once).await?;
        created_checkout(answer.status, &answer.body, self.api.livemode())
    }

    /// Checks the `signature` member with the merchant's API key. There is no timestamp to
    /// check: a replay is caught by the derived event id.
    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        _now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        signature::verify(request.body, self.api_key.expose_secret().as_bytes())
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        let event = Callback::from_body(raw)?.into_normalized(
            self.currency,
            self.api.livemode(),
            Utc::now(),
        )?;
        Ok(vec![event])
    }

    /// The doc's receiver answers `{"status": "received"}`, and 403 to a bad signature; other
    /// refusals get 400. Pakhi Pay reads only the status, so a refusal's body is paymux's usual
    /// error. A refused payment is still received: Pakhi Pay has no way to act on a refusal.
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        match outcome {
            WebhookOutcome::Stored | WebhookOutcome::Duplicate | WebhookOutcome::Refused { .. } => {
                WebhookReply::json(200, serde_json::json!({ "status": "received" }))
            }
            WebhookOutcome::Rejected(error) => {
                let status = match error {
                    ProviderError::InvalidSignature(_) => 403,
                    _ => 400,
                };
                WebhookReply::rejected(status, error, serde_json::Map::new())
            }
        }
    }

    /// A callback carries no time and only its own word for the amount, so a success counts
    /// once the verify API confirms it ([`Confirms`] below), as Pakhi Pay's doc has merchants
    /// do. Callbacks carry no secret, and Pakhi Pay cannot act on a refused payment.
    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy {
            confirmation: Some(self),
            redaction: None,
            closed_checkout: ClosedCheckout::ApplyAndFlag,
        }
    }

    // No lookups, cancels or refunds: Pakhi Pay has no API to read, cancel or refund a payment.
}

#[async_trait]
impl Confirms for PakhiAdapter {
    /// A success counts only once the verify API confirms it; other events need nothing more.
    fn needs(&self, event: &NormalizedEvent) -> bool {
        event.event_type == EventType::PaymentSucceeded
    }

    /// A success counts only once `POST api/request/payment/verify/` confirms the transaction
    /// with the exact amount the callback reported. Other events need no confirmation.
    #[tracing::instrument(skip_all, fields(provider = ID, provider_event_id = %event.provider_event_id))]
    async fn confirm(&self, event: &NormalizedEvent) -> Result<Confirmation, ProviderError> {
        if event.event_type != EventType::PaymentSucceeded {
            return Ok(Confirmation::Confirmed);
        }
        let request = wire::verify_request(event, self.currency).ok_or_else(|| {
            ProviderError::MalformedPayload(
                "the event lacks the transaction id or amount the verify API needs".to_owned(),
            )
        })?;
        // Verify only reads the transaction's state, so asking twice is harmless.
        let answer = self.post(VERIFY_PATH, &request, Repeat::Safe).await?;
        let verdict = verdict(answer.status, &answer.body, &request.transaction_id);
        if let Ok(Confirmation::Refuted { reason }) = &verdict {
            tracing::warn!(%reason, "Pakhi Pay did not confirm a reported success");
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Create, Webhooks};
    use crate::model::Customer;
    use crate::test_support::{self, AdapterBuilder};
    use hmac::{Hmac, Mac};
    use paymux_domain::Money;
    use serde_json::{Value, json};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const API_KEY: &str = "pk_brand_7Yq2Lm9Xc";
    const CALLBACK: &str = include_str!("fixtures/callback.json");
    const ADAPTERS: AdapterBuilder<PakhiAdapter> = AdapterBuilder {
        id: ID,
        from_context: PakhiAdapter::from_context,
    };

    fn adapter(base: &str) -> PakhiAdapter {
        ADAPTERS.adapter(json!({ "api_key": API_KEY }), base)
    }

    async fn server_and_adapter() -> (MockServer, PakhiAdapter) {
        test_support::mock_api("", adapter).await
    }

    /// An adapter whose API refuses connections at once.
    fn unreachable_adapter() -> PakhiAdapter {
        adapter(&test_support::refused_url(""))
    }

    fn checkout_request() -> CheckoutRequest {
        wire::doc_request().with_description("Order 123")
    }

    #[test]
    fn the_factory_builds_an_adapter_that_creates_and_takes_webhooks_only() {
        let settings = json!({ "api_key": "brand-key" });
        let operations = [Create, Webhooks];
        test_support::check_factory(
            super::super::FACTORY,
            &settings,
            &operations,
            &[Currency::Bdt],
        );
    }

    #[test]
    fn the_currency_is_configured_and_defaults_to_bdt() {
        let adapter = ADAPTERS.build(json!({ "api_key": "k" }), None).unwrap();
        assert_eq!(adapter.currency(), Currency::Bdt);
        for code in ["USD", "usd"] {
            let settings = json!({ "api_key": "k", "currency": code });
            let adapter = ADAPTERS.build(settings, None).unwrap();
            assert_eq!(adapter.currency(), Currency::Usd);
            assert_eq!(Provider::currencies(&adapter), [Currency::Usd]);
        }
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "currency": "TAKA" }));
        assert_eq!(error.key, "currency");
        assert!(error.message.contains("TAKA"), "{error}");
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let valid = json!({ "api_key": "k" });
        ADAPTERS.check_strict_settings(&valid, &["api_key"], &["api_key"]);
        let error = ADAPTERS.refusal(json!({ "api_key": "k", "webhook_secret": "w" }));
        assert_eq!(error.key, "webhook_secret");
        ADAPTERS.check_refused(&valid, "api_key", &["has space zq9"]);
    }

    #[test]
    fn the_base_url_defaults_to_pakhipay_and_decides_the_mode() {
        ADAPTERS.check_base_urls(
            &json!({ "api_key": "k" }),
            |adapter| &adapter.api,
            (DEFAULT_BASE_URL, true),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/pakhi",
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    "http://127.0.0.1:9000/sandbox/pakhi/",
                    false,
                ),
                (
                    "https://www.pakhipay.com",
                    "https://www.pakhipay.com/",
                    true,
                ),
                ("https://notpakhipay.com", "https://notpakhipay.com/", false),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let adapter = ADAPTERS.build(json!({ "api_key": "brand-topsecret" }), None);
        test_support::check_debug(&adapter.unwrap(), &["topsecret"], &["Bdt"]);
    }

    #[tokio::test]
    async fn create_posts_the_documented_request_and_returns_the_payment_url() {
        let (server, adapter) = server_and_adapter().await;
        let link = "https://pakhipay.com/payment/abc123";
        test_support::expect_once(
            &server,
            ("POST", "/api/request/payment/create/"),
            &[("api-key", API_KEY), ("content-type", "application/json")],
            None,
            ResponseTemplate::new(200).set_body_json(json!({ "status": 1, "payment_url": link })),
        )
        .await;
        let created = adapter.create_checkout(&checkout_request()).await;
        assert_eq!(
            created,
            Ok(CreatedCheckout::hosted(None, link.into(), false, None))
        );
        let requests = server.received_requests().await.unwrap();
        let body = String::from_utf8(requests[0].body.clone()).unwrap();
        assert_eq!(
            body,
            r#"{"cus_name":"John Doe","cus_email":"john@example.com","amount":100.00,"success_url":"https://yourwebsite.com/success","cancel_url":"https://yourwebsite.com/cancel","order_id":"ORDER123","callback_url":"https://paymux.example/webhooks/demo/pakhi"}"#
        );
        assert!(body.contains(r#""amount":100.00,"#));
    }

    #[tokio::test]
    async fn a_checkout_missing_what_pakhi_requires_is_refused_before_any_call() {
        let (server, adapter) = server_and_adapter().await;
        let mut nameless = checkout_request();
        nameless.customer = None;
        let mut in_usd = checkout_request();
        in_usd.amount = Money::new(10_000, Currency::Usd);
        let refused = vec![
            (
                checkout_request().with_customer(Customer::example(Some("John Doe"), None)),
                ProviderError::invalid(
                    "Pakhi Pay requires the customer's email: set customer.email",
                    "customer.email",
                ),
            ),
            (
                nameless,
                ProviderError::invalid(
                    "Pakhi Pay requires the customer's name: set customer.name",
                    "customer.name",
                ),
            ),
            (
                in_usd,
                ProviderError::invalid(
                    "Pakhi Pay is configured for BDT for this merchant, not USD",
                    "currency",
                ),
            ),
        ];
        test_support::check_refused_before_any_call(&server, &adapter, refused).await;
    }

    #[tokio::test]
    async fn create_refusals_carry_pakhis_message() {
        for (status, body, expected) in [
            (
                200,
                r#"{"status": 0, "message": "Invalid API key"}"#,
                ProviderError::Upstream {
                    status: 200,
                    message: "Invalid API key".into(),
                },
            ),
            (
                400,
                r#"{"status": 0, "message": "Invalid amount"}"#,
                ProviderError::InvalidRequest {
                    message: "Invalid amount".into(),
                    param: None,
                },
            ),
            (
                401,
                r#"{"status": 0, "message": "Unauthorized"}"#,
                ProviderError::Upstream {
                    status: 401,
                    message: "Unauthorized".into(),
                },
            ),
            (
                503,
                "<html>maintenance</html>",
                ProviderError::Upstream {
                    status: 503,
                    message: "<html>maintenance</html>".into(),
                },
            ),
            (
                200,
                r#"{"status": 1}"#,
                ProviderError::Upstream {
                    status: 200,
                    message: "Pakhi Pay answered status 1 without a usable payment_url".into(),
                },
            ),
            (
                200,
                r#"{"status": 1, "payment_url": "javascript:alert(1)"}"#,
                ProviderError::Upstream {
                    status: 200,
                    message: "Pakhi Pay answered status 1 without a usable payment_url".into(),
                },
            ),
        ] {
            let (server, adapter) = server_and_adapter().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_string(body))
                .expect(1)
                .mount(&server)
                .await;
            let error = adapter
                .create_checkout(&checkout_request())
                .await
                .unwrap_err();
            assert_eq!(error, expected, "{status} {body}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_api_is_unreachable_and_shows_no_key() {
        let adapter = unreachable_adapter();
        let error = adapter
            .create_checkout(&checkout_request())
            .await
            .unwrap_err();
        test_support::assert_unreachable(&error, &[API_KEY]);
    }

    /// The doc's callback signed by an independent HMAC over its compact payload.
    fn signed_callback(key: &str, edit: impl FnOnce(&mut String)) -> Vec<u8> {
        let mut payload = r#"{"status":"completed","transaction_id":"TRX123456789","amount":"100.00","order_id":"your-order-id"}"#.to_owned();
        edit(&mut payload);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        CALLBACK.replace("a1b2c3d4e5f6...", &signature).into_bytes()
    }

    #[test]
    fn callbacks_are_verified_with_the_merchants_key_and_normalized() {
        let adapter = adapter("https://pakhipay.com/");
        let body = signed_callback(API_KEY, |_| {});
        let request = WebhookRequest {
            headers: &[],
            body: &body,
        };
        assert_eq!(adapter.verify_webhook(&request, Utc::now()), Ok(()));
        let events = adapter.parse_webhook(&body).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_type, EventType::PaymentSucceeded);
        assert_eq!(event.amount, Some(Money::new(10_000, Currency::Bdt)));
        assert_eq!(
            event.provider_event_id,
            crate::signing::derived_event_id(&["pakhi", "TRX123456789", "completed"])
        );
        assert!(event.livemode, "pakhipay.com is live");

        let forged = signed_callback("not-the-merchants-key", |_| {});
        let request = WebhookRequest {
            headers: &[],
            body: &forged,
        };
        let error = adapter.verify_webhook(&request, Utc::now()).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidSignature(_)));
        // A payload signed for 1.00 but carrying 100.00.
        let tampered = signed_callback(API_KEY, |payload| {
            *payload = payload.replace("100.00", "1.00");
        });
        let request = WebhookRequest {
            headers: &[],
            body: &tampered,
        };
        assert!(matches!(
            adapter.verify_webhook(&request, Utc::now()),
            Err(ProviderError::InvalidSignature(_))
        ));
    }

    #[test]
    fn replies_are_what_the_docs_receivers_answer() {
        let adapter = adapter("https://pakhipay.com/");
        let received = WebhookReply::json(200, json!({ "status": "received" }));
        assert_eq!(adapter.webhook_reply(&WebhookOutcome::Stored), received);
        assert_eq!(adapter.webhook_reply(&WebhookOutcome::Duplicate), received);
        assert_eq!(
            adapter.webhook_reply(&WebhookOutcome::Refused { reason: "canceled" }),
            received
        );
        let rejections = [
            (ProviderError::InvalidSignature("bad".into()), 403),
            (
                ProviderError::MalformedPayload("unknown `status`".into()),
                400,
            ),
        ];
        for (error, status) in rejections {
            let reply = adapter.webhook_reply(&WebhookOutcome::Rejected(&error));
            assert_eq!(reply.status, status);
            assert_eq!(
                serde_json::from_str::<Value>(&reply.body).unwrap(),
                json!({ "error": { "code": error.code(), "message": error.to_string(), "param": null } })
            );
        }
    }

    fn success_event(adapter: &PakhiAdapter) -> NormalizedEvent {
        adapter
            .parse_webhook(&signed_callback(API_KEY, |_| {}))
            .unwrap()
            .remove(0)
    }

    async fn verify_answering(template: ResponseTemplate) -> (MockServer, PakhiAdapter) {
        let (server, adapter) = server_and_adapter().await;
        Mock::given(method("POST"))
            .and(path("/api/request/payment/verify/"))
            .and(header("api-key", API_KEY))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        (server, adapter)
    }

    #[test]
    fn the_webhook_policy_has_successes_confirmed_and_only_them() {
        let adapter = adapter("https://pakhipay.com/");
        let policy = adapter.webhook_policy();
        let confirmation = policy.confirmation.expect("successes need confirming");
        let mut event = success_event(&adapter);
        assert!(confirmation.needs(&event));
        for other in [EventType::PaymentFailed, EventType::PaymentCanceled] {
            event.event_type = other;
            assert!(!confirmation.needs(&event), "{other:?}");
        }
        assert!(policy.redaction.is_none());
        assert_eq!(policy.closed_checkout, ClosedCheckout::ApplyAndFlag);
    }

    #[tokio::test]
    async fn a_success_is_confirmed_by_the_verify_api_with_the_exact_amount() {
        let (server, adapter) = verify_answering(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "status": 1, "message": "completed" })),
        )
        .await;
        let event = success_event(&adapter);
        assert_eq!(adapter.confirm(&event).await, Ok(Confirmation::Confirmed));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(
            String::from_utf8(requests[0].body.clone()).unwrap(),
            r#"{"transaction_id":"TRX123456789","amount":100.00}"#
        );
    }

    #[tokio::test]
    async fn a_verify_api_that_disagrees_refutes_the_success() {
        for (status, body, needle) in [
            (
                200,
                r#"{"status": 1, "message": "pending"}"#,
                "status 1, pending",
            ),
            (
                200,
                r#"{"status": 0, "message": "Transaction not found"}"#,
                "Transaction not found",
            ),
            (
                200,
                r#"{"status": 0, "message": "completed"}"#,
                "status 0, completed",
            ),
            (200, r#"{"status": 1}"#, "no message"),
            (
                404,
                r#"{"status": 0, "message": "Not found"}"#,
                "404: Not found",
            ),
            (401, "Unauthorized", "401: Unauthorized"),
        ] {
            let (_server, adapter) =
                verify_answering(ResponseTemplate::new(status).set_body_string(body)).await;
            let event = success_event(&adapter);
            match adapter.confirm(&event).await {
                Ok(Confirmation::Refuted { reason }) => {
                    assert!(reason.contains(needle), "{body}: {reason}");
                    assert!(reason.contains("TRX123456789"), "{reason}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_verify_api_that_cannot_answer_decides_nothing() {
        for (status, body) in [
            (500, r#"{"status": 0, "message": "db down"}"#),
            (502, "bad gateway"),
            (429, "slow down"),
            (200, "<html>ok</html>"),
        ] {
            let (_server, adapter) =
                verify_answering(ResponseTemplate::new(status).set_body_string(body)).await;
            let event = success_event(&adapter);
            let error = adapter.confirm(&event).await.unwrap_err();
            assert!(
                matches!(error, ProviderError::Upstream { status: s, .. } if s == status),
                "{status}: {error:?}"
            );
        }
        let adapter = unreachable_adapter();
        let event = success_event(&adapter);
        let error = adapter.confirm(&event).await.unwrap_err();
        test_support::assert_unreachable(&error, &[API_KEY]);
    }

    #[tokio::test]
    async fn only_successes_are_confirmed_by_a_call() {
        let (server, adapter) = server_and_adapter().await;
        test_support::expect_no_call(&server).await;
        for status in ["failed", "cancelled", "pending"] {
            let body = signed_callback(API_KEY, |_| {});
            let body = String::from_utf8(body)
                .unwrap()
                .replace("\"completed\"", &format!("\"{status}\""));
            let event = adapter.parse_webhook(body.as_bytes()).unwrap().remove(0);
            assert_eq!(adapter.confirm(&event).await, Ok(Confirmation::Confirmed));
        }
        // A success without the details the verify call needs is not guessed at.
        let mut event = success_event(&adapter);
        event.details = json!({});
        assert!(matches!(
            adapter.confirm(&event).await,
            Err(ProviderError::MalformedPayload(_))
        ));
    }
}
