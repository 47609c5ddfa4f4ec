//! The SKN Pay adapter: one merchant's credentials and base URL, the four API calls, and the
//! webhook handling, behind [`Provider`]. Request bodies and response reading live in
//! [`super::wire`]; this file only sends and maps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, NormalizedEvent};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::wire::{
    CURRENCIES, CreatePayment, CreateRefund, ErrorBody, Event, Payment, RefundResponse,
};
use super::{DEFAULT_BASE_URL, ID, signature};
use crate::ConfigError;
use crate::factory::AdapterContext;
use crate::http::{ApiSpec, Auth, Endpoint, Repeat, read_json};
use crate::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, ProviderRefund, RefundRequest,
    WebhookOutcome, WebhookReply, WebhookRequest,
};
use crate::{Cancels, ClosedCheckout, Lookups, Provider, ProviderError, Refunds, WebhookPolicy};

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// SKN Pay's API: the key as a bearer token, paths below `…/api/v1/`, 400 its validation
/// error (anything else is upstream's), `{"error": "…"}` its error body.
const API: ApiSpec = ApiSpec {
    name: "SKN Pay",
    default_base_url: DEFAULT_BASE_URL,
    joins_paths: true,
    invalid_statuses: &[400],
    error_message: ErrorBody::message_from,
};

/// SKN Pay, bound to one merchant. Its `Debug` output shows no credential: the webhook
/// secret is a [`SecretString`], the API key stays in the endpoint's sensitive header.
#[derive(Debug)]
pub struct SknPayAdapter {
    webhook_secret: SecretString,
    /// Its base URL ends with `/`, so that joining `payments` keeps `/api/v1`; it is live for
    /// an `sk_live_…` key, test for an `sk_test_…` one.
    api: Endpoint,
}

/// The provider's keys in `[merchants.<id>.providers.sknpay]`.
/// The simulated SKN Pay reads the same section to know a merchant's account.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sk_test_…` or `sk_live_…`.
    pub api_key: crate::SecretRef,
    /// The endpoint's `whsec_…` signing secret.
    pub webhook_secret: crate::SecretRef,
}

impl SknPayAdapter {
    /// Builds the adapter from a merchant's config section. Every error names its key and never
    /// shows a secret.
    pub fn from_context(context: AdapterContext<'_>) -> Result<SknPayAdapter, ConfigError> {
        let settings: Settings = context.settings()?;
        let api_key = context.secret("api_key", &settings.api_key)?;
        let webhook_secret = context.secret("webhook_secret", &settings.webhook_secret)?;
        let livemode = key_mode(api_key.expose_secret())?;
        let auth = Auth::authorization(API.api_key_header(Some("Bearer"), &api_key)?);
        Ok(SknPayAdapter {
            webhook_secret,
            api: context.endpoint(&API, auth, |_| livemode)?,
        })
    }
}

impl SknPayAdapter {
    /// Sends a call SKN Pay answers with a payment object. Every such call may be repeated: a
    /// read, or a change carrying an `Idempotency-Key`.
    async fn payment(&self, request: reqwest::RequestBuilder) -> Result<Payment, ProviderError> {
        self.api.call(request, Repeat::Safe, "payment").await
    }
}

/// `payments/{id}` plus `suffix`, for an id SKN Pay gave us. Ids are checked so that none can
/// change the path (`../refunds`, `x?y`).
fn payment_path(id: &str, suffix: &str) -> Result<String, ProviderError> {
    let plausible = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !plausible {
        return Err(ProviderError::InvalidRequest {
            message: format!("`{id}` is not an SKN Pay payment id"),
            param: None,
        });
    }
    Ok(format!("payments/{id}{suffix}"))
}

/// Test or live, from the key's prefix. The message never contains the key; whether the key
/// can be sent at all is the header's check ([`ApiSpec::api_key_header`]).
fn key_mode(api_key: &str) -> Result<bool, ConfigError> {
    let livemode = match (
        api_key.strip_prefix("sk_live_"),
        api_key.strip_prefix("sk_test_"),
    ) {
        (Some(rest), _) if !rest.is_empty() => true,
        (_, Some(rest)) if !rest.is_empty() => false,
        _ => {
            return Err(ConfigError::new(
                "api_key",
                "an SKN Pay API key starts with `sk_test_` (test mode) or `sk_live_` (live mode)",
            ));
        }
    };
    Ok(livemode)
}

/// The `Idempotency-Key` header, refused before any call when it cannot be sent.
fn idempotency_header(key: &str) -> Result<HeaderValue, ProviderError> {
    if key.is_empty() {
        return Err(ProviderError::invalid(
            "an idempotency key is required",
            "idempotency_key",
        ));
    }
    HeaderValue::from_str(key).map_err(|_| {
        ProviderError::invalid(
            "the idempotency key must be printable ASCII",
            "idempotency_key",
        )
    })
}

#[async_trait]
impl Provider for SknPayAdapter {
    fn id(&self) -> &'static str {
        ID
    }

    fn currencies(&self) -> &[Currency] {
        &CURRENCIES
    }

    /// Creates carry an Idempotency-Key (see `create_checkout`).
    fn idempotent_create(&self) -> bool {
        true
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        CreatePayment::from_checkout(request, Utc::now()).map(drop)
    }

    #[tracing::instrument(skip_all, fields(provider = ID, checkout_id = %request.checkout_id))]
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        let body = CreatePayment::from_checkout(request, Utc::now())?;
        let key = idempotency_header(&request.idempotency_key)?;
        let request = self.api.post("payments")?.header(IDEMPOTENCY_KEY, key);
        // SKN Pay answers a repeat under the same Idempotency-Key with the first payment.
        self.payment(request.json(&body))
            .await?
            .into_created_checkout()
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        signature::verify(
            request.header(signature::SIGNATURE_HEADER),
            request.body,
            self.webhook_secret.expose_secret().as_bytes(),
            now,
        )
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        let event: Event = read_json(raw, "not an SKN Pay event")?;
        Ok(vec![event.into_normalized()?])
    }

    /// SKN Pay retries anything but a 2xx: every accepted delivery gets 200, and a refused
    /// payment too (SKN Pay has no way to act on a refusal, and a retry would not change it).
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        WebhookReply::received_or(outcome, |_| 400)
    }

    /// A payment SKN Pay reports for a closed checkout has happened, and SKN Pay cannot act on
    /// a refusal.
    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy::signature_suffices(ClosedCheckout::ApplyAndFlag)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    fn cancels(&self) -> Option<&dyn Cancels> {
        Some(self)
    }

    fn refunds(&self) -> Option<&dyn Refunds> {
        Some(self)
    }
}

#[async_trait]
impl Lookups for SknPayAdapter {
    #[tracing::instrument(skip_all, fields(provider = ID, provider_checkout_id = %provider_checkout_id))]
    async fn retrieve(
        &self,
        provider_checkout_id: &str,
    ) -> Result<ProviderCheckout, ProviderError> {
        let request = self.api.get(&payment_path(provider_checkout_id, "")?)?;
        self.payment(request).await?.into_provider_checkout()
    }
}

#[async_trait]
impl Cancels for SknPayAdapter {
    #[tracing::instrument(skip_all, fields(provider = ID, provider_checkout_id = %provider_checkout_id))]
    async fn cancel(
        &self,
        provider_checkout_id: &str,
        idempotency_key: &str,
    ) -> Result<ProviderCheckout, ProviderError> {
        let key = idempotency_header(idempotency_key)?;
        let path = payment_path(provider_checkout_id, "/cancel")?;
        let request = self.api.post(&path)?.header(IDEMPOTENCY_KEY, key);
        // Idempotent by SKN Pay's doc, and deduped on the Idempotency-Key besides.
        self.payment(request).await?.into_provider_checkout()
    }
}

#[async_trait]
impl Refunds for SknPayAdapter {
    /// SKN Pay refunds any amount up to what the payment has left.
    fn allows_partial(&self) -> bool {
        true
    }

    #[tracing::instrument(skip_all, fields(provider = ID, refund_id = %request.refund_id))]
    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        if request.amount.minor <= 0 {
            return Err(ProviderError::invalid(
                "a refund amount must be positive",
                "amount",
            ));
        }
        let key = idempotency_header(&request.idempotency_key)?;
        let body = CreateRefund::from_request(request);
        let request = self.api.post("refunds")?.header(IDEMPOTENCY_KEY, key);
        // A repeat under the same Idempotency-Key gets the first refund back.
        let answer = self.api.send(request.json(&body), Repeat::Safe).await?;
        let refund = RefundResponse::from_body(&answer);
        if refund == RefundResponse::default() {
            tracing::warn!("SKN Pay accepted the refund without saying its id or status");
        }
        Ok(refund.into_provider_refund())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Cancel, Create, PartialRefund, Refund, Retrieve, Webhooks};
    use crate::model::Customer;
    use crate::test_support::{self, AdapterBuilder, CHECKOUT_ID};
    use chrono::TimeZone;
    use paymux_domain::RefundStatus;
    use paymux_domain::{CheckoutStatus, Currency, EventType, Money, RefundId};
    use serde_json::{Value, json};
    use wiremock::{MockServer, ResponseTemplate};

    const API_KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";
    /// `Bearer API_KEY`.
    const BEARER: &str = "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc";
    const WEBHOOK_SECRET: &str = "whsec_test_secret";
    const PAYMENT_ID: &str = "plink_cm12ab9c1d3e4f5g6h7i8j9k0";
    const PAYMENT: &str = include_str!("fixtures/payment.json");
    const EVENT: &str = include_str!("fixtures/event.json");
    const ADAPTERS: AdapterBuilder<SknPayAdapter> = AdapterBuilder {
        id: ID,
        from_context: SknPayAdapter::from_context,
    };

    fn keys(api_key: &str) -> Value {
        json!({ "api_key": api_key, "webhook_secret": "whsec_abc" })
    }

    /// An adapter whose base URL is `base` (no trailing slash, like a hand-written config).
    fn adapter(base: &str) -> SknPayAdapter {
        let settings = json!({ "api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET });
        ADAPTERS.adapter(settings, base)
    }

    async fn server_and_adapter() -> (MockServer, SknPayAdapter) {
        test_support::mock_api("/api/v1", adapter).await
    }

    fn checkout_request() -> CheckoutRequest {
        let alice = Customer::example(None, Some("alice@example.com"));
        CheckoutRequest::example(Money::new(12_500, Currency::Usd))
            .with_reference("order-5821")
            .with_description("Order #5821")
            .with_customer(alice)
            .with_success_url("https://yoursite.com/orders/5821/thanks")
            .with_metadata(json!({ "order_id": "5821" }))
            .with_provider_options(json!({ "billing_address_collection": "required" }))
            .with_idempotency_key("idem-5821")
    }

    fn payment_with_status(status: &str) -> Value {
        let mut payment: Value = serde_json::from_str(PAYMENT).unwrap();
        payment["status"] = json!(status);
        payment
    }

    #[test]
    fn the_factory_builds_an_adapter_with_every_capability() {
        let operations = [Create, Retrieve, Cancel, Refund, PartialRefund, Webhooks];
        let currencies = [Currency::Usd, Currency::Xcd];
        test_support::check_factory(
            super::super::FACTORY,
            &keys("sk_test_abc"),
            &operations,
            &currencies,
        );
    }

    #[test]
    fn the_mode_comes_from_the_key_prefix() {
        for (key, live) in [("sk_test_abc", false), ("sk_live_abc", true)] {
            let adapter = ADAPTERS.build(keys(key), None).unwrap();
            assert_eq!(adapter.api.livemode(), live, "{key}");
        }
        let bad = [
            "pk_live_zq9",
            "sk_zq9",
            "SK_LIVE_zq9",
            "sk_live_zq 9",
            "sk_test_",
        ];
        ADAPTERS.check_refused(&keys("sk_test_abc"), "api_key", &bad);
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let both = ["api_key", "webhook_secret"];
        ADAPTERS.check_strict_settings(&keys("sk_test_abc"), &both, &both);
    }

    #[test]
    fn the_base_url_defaults_to_sknpay_and_always_ends_with_a_slash() {
        ADAPTERS.check_base_urls(
            &keys("sk_test_abc"),
            |adapter| &adapter.api,
            (crate::sknpay::DEFAULT_BASE_URL, false),
            &[
                (
                    "http://127.0.0.1:9000/sandbox/sknpay",
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    false,
                ),
                (
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    "http://127.0.0.1:9000/sandbox/sknpay/",
                    false,
                ),
                ("http://127.0.0.1:9000", "http://127.0.0.1:9000/", false),
            ],
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let settings =
            json!({ "api_key": "sk_live_topsecret", "webhook_secret": "whsec_hushhush" });
        let adapter = ADAPTERS.build(settings, None).unwrap();
        test_support::check_debug(&adapter, &["topsecret", "hushhush"], &["livemode: true"]);
    }

    #[tokio::test]
    async fn create_posts_the_documented_request_and_maps_the_payment() {
        let (server, adapter) = server_and_adapter().await;
        test_support::expect_once(
            &server,
            ("POST", "/api/v1/payments"),
            &[
                ("authorization", BEARER),
                ("idempotency-key", "idem-5821"),
                ("content-type", "application/json"),
            ],
            Some(json!({
                "amount": 12500,
                "currency": "USD",
                "description": "Order #5821",
                "customer_email": "alice@example.com",
                "billing_address_collection": "required",
                "reference": "order-5821",
                "success_url": "https://yoursite.com/orders/5821/thanks",
                "metadata": { "order_id": "5821", "paymux_checkout_id": CHECKOUT_ID },
            })),
            ResponseTemplate::new(201).set_body_string(PAYMENT),
        )
        .await;
        let link = "https://pay.sknpay.com/checkout/AbCdEf12";
        assert_eq!(
            adapter.create_checkout(&checkout_request()).await,
            Ok(CreatedCheckout::hosted(
                Some(PAYMENT_ID.into()),
                link.into(),
                true,
                None
            ))
        );
    }

    #[tokio::test]
    async fn an_invalid_request_is_refused_before_any_call() {
        let (server, adapter) = server_and_adapter().await;
        let mut too_small = checkout_request();
        too_small.amount = Money::new(99, Currency::Usd);
        let unsendable_key = checkout_request().with_idempotency_key("line\nbreak");
        let refused = vec![
            (
                too_small,
                ProviderError::invalid(
                    "SKN Pay accepts amounts from 100 to 99999999 minor units, got 99",
                    "amount",
                ),
            ),
            (
                unsendable_key,
                ProviderError::invalid(
                    "the idempotency key must be printable ASCII",
                    "idempotency_key",
                ),
            ),
        ];
        test_support::check_refused_before_any_call(&server, &adapter, refused).await;
    }

    #[tokio::test]
    async fn error_answers_map_to_the_providers_message() {
        test_support::check_error_answers(
            server_and_adapter,
            ("GET", &format!("/api/v1/payments/{PAYMENT_ID}")),
            |message| json!({ "error": message }),
            &[400, 401, 403, 404, 409, 429, 500, 503],
            &[400],
            async |adapter: &SknPayAdapter| adapter.retrieve(PAYMENT_ID).await.unwrap_err(),
        )
        .await;
    }

    #[tokio::test]
    async fn an_error_body_of_another_shape_is_kept_as_text() {
        let (server, adapter) = server_and_adapter().await;
        let exploded = ResponseTemplate::new(502).set_body_string("upstream gateway exploded");
        test_support::expect_once(&server, ("POST", "/api/v1/payments"), &[], None, exploded).await;
        let error = adapter.create_checkout(&checkout_request()).await.err();
        let message = "upstream gateway exploded".into();
        assert_eq!(
            error,
            Some(ProviderError::Upstream {
                status: 502,
                message
            })
        );
    }

    #[tokio::test]
    async fn a_2xx_that_is_not_a_payment_is_malformed() {
        test_support::check_malformed_answers(
            server_and_adapter,
            ("POST", "/api/v1/payments"),
            &[r#"{"id": "plink_x"}"#, r#"{"error": "x"}"#],
            async |adapter: &SknPayAdapter| {
                let request = checkout_request();
                adapter.create_checkout(&request).await.unwrap_err()
            },
        )
        .await;
    }

    #[tokio::test]
    async fn retrieve_gets_the_payment() {
        let (server, adapter) = server_and_adapter().await;
        let succeeded = ResponseTemplate::new(200).set_body_json(payment_with_status("succeeded"));
        let payment = format!("/api/v1/payments/{PAYMENT_ID}");
        let bearer = [("authorization", BEARER)];
        test_support::expect_once(&server, ("GET", &payment), &bearer, None, succeeded).await;
        assert_eq!(
            adapter.retrieve(PAYMENT_ID).await,
            Ok(ProviderCheckout {
                provider_checkout_id: PAYMENT_ID.into(),
                status: CheckoutStatus::Succeeded,
                livemode: true,
            })
        );
    }

    #[tokio::test]
    async fn cancel_posts_with_an_idempotency_key() {
        let (server, adapter) = server_and_adapter().await;
        let canceled = ResponseTemplate::new(200).set_body_json(payment_with_status("canceled"));
        let cancel = format!("/api/v1/payments/{PAYMENT_ID}/cancel");
        let headers = [("authorization", BEARER), ("idempotency-key", "cancel-1")];
        test_support::expect_once(&server, ("POST", &cancel), &headers, None, canceled).await;
        let canceled = adapter.cancel(PAYMENT_ID, "cancel-1").await.unwrap();
        assert_eq!(canceled.status, CheckoutStatus::Canceled);
    }

    #[tokio::test]
    async fn ids_that_would_change_the_path_are_refused_before_any_call() {
        let (server, adapter) = server_and_adapter().await;
        test_support::expect_no_call(&server).await;
        for id in ["", "../refunds", "plink_x?expand=all", "plink x", "a/b"] {
            assert!(matches!(
                adapter.retrieve(id).await,
                Err(ProviderError::InvalidRequest { .. })
            ));
            assert!(matches!(
                adapter.cancel(id, "k").await,
                Err(ProviderError::InvalidRequest { .. })
            ));
        }
    }

    fn refund_request(minor: i64) -> RefundRequest {
        RefundRequest {
            refund_id: RefundId::generate(),
            provider_checkout_id: PAYMENT_ID.into(),
            amount: Money::new(minor, Currency::Usd),
            is_full: false,
            idempotency_key: "refund-1".into(),
        }
    }

    #[tokio::test]
    async fn refund_posts_the_payment_and_the_amount() {
        let (server, adapter) = server_and_adapter().await;
        let refunded = json!({ "id": "re_9", "object": "refund", "status": "succeeded" });
        test_support::expect_once(
            &server,
            ("POST", "/api/v1/refunds"),
            &[("authorization", BEARER), ("idempotency-key", "refund-1")],
            Some(json!({ "payment_id": PAYMENT_ID, "amount": 5000 })),
            ResponseTemplate::new(200).set_body_json(refunded),
        )
        .await;
        let refund = adapter.refund(&refund_request(5_000)).await.unwrap();
        assert_eq!(refund.provider_refund_id.as_deref(), Some("re_9"));
        assert_eq!(refund.status, RefundStatus::Succeeded);
    }

    #[tokio::test]
    async fn a_refund_answer_without_a_body_is_still_a_refund() {
        let (server, adapter) = server_and_adapter().await;
        let empty = ResponseTemplate::new(200);
        test_support::expect_once(&server, ("POST", "/api/v1/refunds"), &[], None, empty).await;
        let refund = adapter.refund(&refund_request(500)).await.unwrap();
        assert_eq!(refund.provider_refund_id, None);
        assert_eq!(refund.status, RefundStatus::Succeeded);
        assert!(matches!(
            adapter.refund(&refund_request(0)).await,
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable() {
        let adapter = adapter(&test_support::refused_url("/api/v1"));
        let error = adapter
            .create_checkout(&checkout_request())
            .await
            .unwrap_err();
        test_support::assert_unreachable(&error, &[API_KEY]);
    }

    /// `SknPay-Signature: t=…,v1=…` of `body` at `t`, as SKN Pay's doc computes it.
    fn signed_headers(t: i64, body: &[u8]) -> Vec<(String, String)> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let v1 = hex::encode(mac.finalize().into_bytes());
        let event_id = "evt_e6b0b3c6ff198f6dfc05bb80".to_owned();
        vec![
            ("sknpay-signature".into(), format!("t={t},v1={v1}")),
            ("sknpay-event-id".into(), event_id),
        ]
    }

    #[test]
    fn webhooks_are_verified_with_the_merchants_secret_and_normalized() {
        let adapter = adapter("https://app.sknpay.com/api/v1");
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        let headers = signed_headers(1_778_276_991, EVENT.as_bytes());
        let request = WebhookRequest {
            headers: &headers,
            body: EVENT.as_bytes(),
        };
        assert_eq!(adapter.verify_webhook(&request, now), Ok(()));
        let stale = now + chrono::TimeDelta::seconds(301);
        assert!(matches!(
            adapter.verify_webhook(&request, stale),
            Err(ProviderError::StaleTimestamp(_))
        ));
        let unsigned = WebhookRequest {
            headers: &[],
            ..request
        };
        assert!(matches!(
            adapter.verify_webhook(&unsigned, now),
            Err(ProviderError::InvalidSignature(_))
        ));

        let events = adapter.parse_webhook(EVENT.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].provider_event_id, "evt_e6b0b3c6ff198f6dfc05bb80");
        let error = adapter.parse_webhook(b"{not json").unwrap_err();
        assert!(matches!(error, ProviderError::MalformedPayload(_)));
    }

    #[test]
    fn webhook_replies_are_what_sknpay_expects() {
        test_support::check_received_replies(
            &adapter("https://app.sknpay.com/api/v1"),
            &[(
                ProviderError::InvalidSignature("bad".into()),
                400,
                "invalid signature: bad",
            )],
        );
    }
}
