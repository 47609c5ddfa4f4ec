//! The SpankPay adapter: one merchant's keys, the frame parameters a checkout hands to the
//! browser, the local cancel, and the webhook handling, behind [`Provider`]. The wire format
//! lives in [`super::wire`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutStatus, Currency, NormalizedEvent};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::ID;
use super::wire::{
    self, CHECKOUT_ID_METADATA, CURRENCIES, DEFAULT_ACCEPT_CURRENCIES, KEY_HEADER,
    REFERENCE_METADATA, SIGNATURE_HEADER, SignatureHeader,
};
use crate::ConfigError;
use crate::factory::AdapterContext;
use crate::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, WebhookOutcome, WebhookReply,
    WebhookRequest,
};
use crate::signing::{
    check_timestamp_window, constant_time_eq, required_header, verify_hmac_sha256_hex,
};
use crate::{Cancels, ClosedCheckout, Provider, ProviderError, SecretRef, WebhookPolicy};

/// "if (age > 60 * 10)": a webhook older than 10 minutes is refused.
pub const MAX_AGE_SECS: i64 = 600;
/// The reference verifiers allow no clock skew into the future.
pub const MAX_AHEAD_SECS: i64 = 0;
/// The `client_action` type a page recognizes SpankPay's frame by.
pub const CLIENT_ACTION_TYPE: &str = "spankpay_frame";

/// The provider's keys in `[merchants.<id>.providers.spankpay]`. The simulated SpankPay reads
/// the same section to know a merchant's account.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The public API key, given to the browser's frame and sent back as `X-SpankPay-Key`:
    /// not a secret. A `test_` prefix means test mode.
    pub public_key: String,
    /// The API secret that signs webhooks.
    pub api_secret: SecretRef,
    /// The input currencies the frame offers; default BTC and ETH.
    #[serde(default)]
    pub accept_currencies: Option<Vec<String>>,
}

/// A merchant's SpankPay keys, resolved and checked.
pub struct Credentials {
    pub public_key: String,
    pub api_secret: SecretString,
    pub accept_currencies: Vec<String>,
}

impl Settings {
    pub fn parse(settings: &Value) -> Result<Settings, ConfigError> {
        crate::factory::parse_settings(settings)
    }

    /// Resolves the secret with `resolve` and checks every value; errors name the key and
    /// never show the secret.
    pub fn resolve(
        self,
        resolve: impl Fn(&str, &SecretRef) -> Result<SecretString, ConfigError>,
    ) -> Result<Credentials, ConfigError> {
        let public_key = self.public_key;
        if public_key.is_empty() || !public_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "public_key",
                "the SpankPay public key must be printable ASCII without spaces (it is sent \
                 in the X-SpankPay-Key header)",
            ));
        }
        let api_secret = resolve("api_secret", &self.api_secret)?;
        let accept_currencies = match self.accept_currencies {
            Some(list) => {
                check_currency_list(&list).map_err(|(index, message)| {
                    let key = match index {
                        Some(index) => format!("accept_currencies[{index}]"),
                        None => "accept_currencies".to_owned(),
                    };
                    ConfigError::new(key, message)
                })?;
                list
            }
            None => DEFAULT_ACCEPT_CURRENCIES.map(str::to_owned).to_vec(),
        };
        Ok(Credentials {
            public_key,
            api_secret,
            accept_currencies,
        })
    }
}

/// What SpankPay requires of a checkout ([`crate::rules`]): a USD amount, and as its one
/// option `acceptCurrencies`, a list of input currency codes that are not blank.
pub fn checkout_rules() -> Value {
    let mut checkout = json!({
        "title": "SpankPay",
        "properties": { "currency": crate::rules::currencies(&CURRENCIES) },
    });
    checkout["properties"]["provider_options"] = crate::rules::options(
        ID,
        json!({
            "type": "object",
            "properties": { "acceptCurrencies": {
                "type": "array",
                "minItems": 1,
                "items": { "type": "string", "pattern": crate::rules::not_blank() },
            } },
            "additionalProperties": false,
        }),
    );
    checkout
}

/// A list of input currencies must name at least one, each non-empty; the refusal says which
/// entry is empty, when one is.
fn check_currency_list(list: &[String]) -> Result<(), (Option<usize>, String)> {
    if list.is_empty() {
        let message = "name at least one input currency, e.g. [\"BTC\", \"ETH\"]";
        return Err((None, message.to_owned()));
    }
    match list.iter().position(|code| code.trim().is_empty()) {
        Some(index) => Err((Some(index), "input currencies must not be empty".to_owned())),
        None => Ok(()),
    }
}

/// SpankPay, bound to one merchant. Its `Debug` output shows no secret: the API secret is a
/// [`SecretString`].
#[derive(Debug)]
pub struct SpankPayAdapter {
    public_key: String,
    api_secret: SecretString,
    accept_currencies: Vec<String>,
    /// Where paymux serves the page that opens the frame: `{public_url}pay/{checkout id}`.
    public_url: Url,
    /// Where SpankPay calls back for this merchant.
    webhook_url: Url,
    /// The simulator's stand-in frame, when a base URL is configured.
    base_url: Option<Url>,
}

impl SpankPayAdapter {
    pub fn from_context(context: AdapterContext<'_>) -> Result<SpankPayAdapter, ConfigError> {
        let credentials = Settings::parse(context.settings)?
            .resolve(|key, secret| context.secret(key, secret))?;
        let base_url = match context.base_url {
            Some(url) => Some(crate::http::api_base_url(Some(url), "", ID, true)?),
            None => None,
        };
        Ok(SpankPayAdapter {
            public_key: credentials.public_key,
            api_secret: credentials.api_secret,
            accept_currencies: credentials.accept_currencies,
            public_url: context.public_url,
            webhook_url: context.webhook_url,
            base_url,
        })
    }

    /// False for a `test_` key.
    pub fn livemode(&self) -> bool {
        !wire::is_test_key(&self.public_key)
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The input currencies of `provider_options.spankpay.acceptCurrencies`, else the config's.
    fn accept_currencies(&self, options: Option<&Value>) -> Result<Vec<String>, ProviderError> {
        const PARAM: &str = "provider_options.spankpay";
        let Some(options) = options.filter(|options| !options.is_null()) else {
            return Ok(self.accept_currencies.clone());
        };
        let Some(object) = options.as_object() else {
            return Err(ProviderError::invalid(
                "SpankPay's provider options must be an object",
                PARAM,
            ));
        };
        if let Some(key) = object.keys().find(|key| *key != "acceptCurrencies") {
            return Err(ProviderError::invalid(
                format!("SpankPay takes only `acceptCurrencies` as a provider option, not `{key}`"),
                format!("{PARAM}.{key}"),
            ));
        }
        let param = format!("{PARAM}.acceptCurrencies");
        match object.get("acceptCurrencies") {
            None => Ok(self.accept_currencies.clone()),
            Some(value) => {
                let list: Vec<String> = serde_json::from_value(value.clone()).map_err(|_| {
                    ProviderError::invalid(
                        "acceptCurrencies must be a list of currency codes",
                        param.clone(),
                    )
                })?;
                check_currency_list(&list).map_err(|(index, message)| {
                    let param = match index {
                        Some(index) => format!("{param}[{index}]"),
                        None => param.clone(),
                    };
                    ProviderError::invalid(message, param)
                })?;
                Ok(list)
            }
        }
    }

    /// The frame parameters and pages of a checkout; no call is made.
    pub fn frame(&self, request: &CheckoutRequest) -> Result<CreatedCheckout, ProviderError> {
        crate::checks::currency(request.amount, "SpankPay", &CURRENCIES)?;
        if request.amount.minor < 1 {
            return Err(ProviderError::invalid(
                format!(
                    "SpankPay needs a positive amount, got {}",
                    request.amount.to_decimal_string()
                ),
                "amount",
            ));
        }
        let accept_currencies = self.accept_currencies(request.provider_options.as_ref())?;
        let checkout_id = request.checkout_id.to_string();
        let page = |base: &Url, path: &str| {
            base.join(&format!("{path}/{checkout_id}"))
                .map_err(|error| {
                    ProviderError::invalid(
                        format!("cannot build the page URL: {error}"),
                        "checkout",
                    )
                })
        };
        let redirect_url = page(&self.public_url, "pay")?;
        let mut action = json!({
            "type": CLIENT_ACTION_TYPE,
            "key": self.public_key,
            "amount": request.amount.to_decimal_string(),
            "currency": wire::output_currency(&self.public_key),
            "acceptCurrencies": accept_currencies,
            "metadata": {
                CHECKOUT_ID_METADATA: checkout_id,
                REFERENCE_METADATA: request.reference,
            },
            "callback": self.webhook_url.as_str(),
        });
        if let Some(base) = &self.base_url {
            action["frame_url"] = json!(page(base, "frame")?.as_str());
        }
        Ok(CreatedCheckout {
            provider_checkout_id: Some(checkout_id),
            status: CheckoutStatus::Open,
            redirect_url: Some(redirect_url.into()),
            client_action: Some(action),
            livemode: self.livemode(),
            expires_at: request.expires_at,
        })
    }
}

#[async_trait]
impl Provider for SpankPayAdapter {
    fn id(&self) -> &'static str {
        ID
    }

    fn currencies(&self) -> &[Currency] {
        &CURRENCIES
    }

    /// Nothing is created server-side: a retry builds the same frame.
    fn idempotent_create(&self) -> bool {
        true
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        self.frame(request).map(drop)
    }

    /// SpankPay has no server-side create: the purchase is made by the browser's frame from
    /// the returned `client_action`, on the page at `redirect_url`.
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        self.frame(request)
    }

    /// `X-SpankPay-Key` must be the merchant's public key; `X-SpankPay-Signature` must hold
    /// `t` and `s` = HMAC-SHA256(api secret, `t + "." + body`); `t` (seconds, or milliseconds
    /// from 10^12) no older than 10 minutes and not in the future.
    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        let key = request.header(KEY_HEADER).unwrap_or("");
        if !constant_time_eq(key.as_bytes(), self.public_key.as_bytes()) {
            return Err(ProviderError::InvalidSignature(format!(
                "{KEY_HEADER} is missing or not this merchant's public key"
            )));
        }
        let header = required_header(request.header(SIGNATURE_HEADER), SIGNATURE_HEADER)?;
        let signature = SignatureHeader::parse(header)?;
        let timestamp = signature.timestamp.to_string();
        if !verify_hmac_sha256_hex(
            self.api_secret.expose_secret().as_bytes(),
            &[timestamp.as_bytes(), b".", request.body],
            &signature.signature,
        ) {
            return Err(ProviderError::InvalidSignature(
                "the signature does not match the body".to_owned(),
            ));
        }
        check_timestamp_window(signature.signed_at()?, now, MAX_AGE_SECS, MAX_AHEAD_SECS)
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        Ok(vec![wire::parse_webhook(raw)?])
    }

    /// `{"received": true}` once stored (or stored before); `{"received": false, "reason"}`
    /// refuses the payment, so SpankPay refunds the payer; a 400 for a rejected webhook,
    /// which SpankPay counts as a failed payment, not a retry, with paymux's error body.
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        match outcome {
            WebhookOutcome::Stored | WebhookOutcome::Duplicate => {
                WebhookReply::json(200, json!({ "received": true }))
            }
            WebhookOutcome::Refused { reason } => {
                WebhookReply::json(200, json!({ "received": false, "reason": reason }))
            }
            // SpankPay reads `received`; the error beside it is paymux's usual one.
            WebhookOutcome::Rejected(error) => {
                let mut fields = serde_json::Map::new();
                fields.insert("received".into(), json!(false));
                WebhookReply::rejected(400, error, fields)
            }
        }
    }

    /// SpankPay's reply decides the payment: one for a closed checkout is refused, and
    /// SpankPay refunds the payer.
    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy::signature_suffices(ClosedCheckout::Refuse)
    }

    /// SpankPay has no API to read a purchase or refund one, but a cancel is local.
    fn cancels(&self) -> Option<&dyn Cancels> {
        Some(self)
    }
}

#[async_trait]
impl Cancels for SpankPayAdapter {
    /// Local: SpankPay has no purchase object to cancel. The gateway records the cancel, its
    /// page stops offering the frame, and a later payment is refused (`received: false`),
    /// which makes SpankPay refund the payer.
    async fn cancel(
        &self,
        provider_checkout_id: &str,
        _idempotency_key: &str,
    ) -> Result<ProviderCheckout, ProviderError> {
        Ok(ProviderCheckout {
            provider_checkout_id: provider_checkout_id.to_owned(),
            status: CheckoutStatus::Canceled,
            livemode: self.livemode(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation::{Cancel, Create, Webhooks};
    use crate::test_support::{self, AdapterBuilder};
    use chrono::TimeZone;
    use paymux_domain::{CheckoutId, Money};

    const CHECKOUT_ID: &str = "chk_01jv5c1x2y3z4a5b6c7d8e9f0g";
    const SAMPLE: &str = include_str!("fixtures/webhook.json");
    const ADAPTERS: AdapterBuilder<SpankPayAdapter> = AdapterBuilder {
        id: ID,
        from_context: SpankPayAdapter::from_context,
    };

    fn settings(public_key: &str, secret: &str) -> Value {
        json!({ "public_key": public_key, "api_secret": secret })
    }

    fn adapter_with(settings: Value, base_url: Option<&str>) -> SpankPayAdapter {
        ADAPTERS.build(settings, base_url).unwrap()
    }

    fn adapter() -> SpankPayAdapter {
        adapter_with(settings("test_quickstart_key", "sk_spankpay"), None)
    }

    #[test]
    fn the_factory_builds_a_create_cancel_and_webhooks_adapter_in_usd() {
        let provider = test_support::check_factory(
            super::super::FACTORY,
            &settings("test_k", "sk_1"),
            &[Create, Cancel, Webhooks],
            &[Currency::Usd],
        );
        let refused = ClosedCheckout::Refuse;
        assert_eq!(provider.webhook_policy().closed_checkout, refused);
    }

    #[test]
    fn settings_are_strict_and_name_the_bad_key() {
        let valid = settings("k", "s");
        ADAPTERS.check_strict_settings(&valid, &["public_key", "api_secret"], &["api_secret"]);
        ADAPTERS.check_refused(&valid, "public_key", &["", "has space"]);
        for (bad, key) in [
            (json!([]), "accept_currencies"),
            (json!(["BTC", " "]), "accept_currencies[1]"),
            (json!("ETH"), ""),
        ] {
            let mut settings = valid.clone();
            settings["accept_currencies"] = bad;
            let error = ADAPTERS.refusal(settings);
            assert_eq!(error.key, key, "{error}");
        }
    }

    fn headers(key: &str, signature: &str) -> Vec<(String, String)> {
        vec![
            ("x-spankpay-key".to_owned(), key.to_owned()),
            ("x-spankpay-signature".to_owned(), signature.to_owned()),
        ]
    }

    fn verify(
        adapter: &SpankPayAdapter,
        headers: &[(String, String)],
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        adapter.verify_webhook(
            &WebhookRequest {
                headers,
                body: body.as_bytes(),
            },
            now,
        )
    }

    #[test]
    fn the_docs_vector_verifies() {
        let adapter = adapter();
        let signature =
            "t=1552944138459&s=9157a7bf673ea425674a7cba92122293a127cc80c93da754b1113765dbd5aebe";
        let now = Utc.timestamp_millis_opt(1_552_944_138_459).unwrap();
        let body = r#"{"SpankPay": "BOOTY"}"#;
        assert_eq!(
            verify(
                &adapter,
                &headers("test_quickstart_key", signature),
                body,
                now
            ),
            Ok(())
        );
        assert_eq!(
            wire::signature_header(b"sk_spankpay", 1_552_944_138_459, body.as_bytes()),
            signature
        );
    }

    #[test]
    fn seconds_and_milliseconds_verify_within_ten_minutes() {
        let adapter = adapter();
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        for signed_at in [now, now - chrono::TimeDelta::seconds(600)] {
            let seconds =
                wire::signature_header(b"sk_spankpay", signed_at.timestamp(), SAMPLE.as_bytes());
            let millis = wire::signature_header(
                b"sk_spankpay",
                signed_at.timestamp_millis(),
                SAMPLE.as_bytes(),
            );
            for signature in [seconds, millis] {
                assert_eq!(
                    verify(
                        &adapter,
                        &headers("test_quickstart_key", &signature),
                        SAMPLE,
                        now
                    ),
                    Ok(()),
                    "{signature}"
                );
            }
        }
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let adapter = adapter();
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        for (timestamp, what) in [
            (now.timestamp() - 601, "601 s old"),
            (now.timestamp_millis() - 601_000, "601 s old, ms"),
            (now.timestamp() - 660, "11 minutes old"),
            (now.timestamp() + 1, "1 s ahead"),
            (now.timestamp_millis() + 1_000, "1 s ahead, ms"),
        ] {
            let signature = wire::signature_header(b"sk_spankpay", timestamp, SAMPLE.as_bytes());
            let result = verify(
                &adapter,
                &headers("test_quickstart_key", &signature),
                SAMPLE,
                now,
            );
            assert!(
                matches!(result, Err(ProviderError::StaleTimestamp(_))),
                "{what}: {result:?}"
            );
        }
    }

    #[test]
    fn a_wrong_key_a_tampered_body_or_a_bad_header_is_an_invalid_signature() {
        let adapter = adapter();
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        let signature = wire::signature_header(b"sk_spankpay", now.timestamp(), SAMPLE.as_bytes());
        let invalid = |result: Result<(), ProviderError>| {
            matches!(result, Err(ProviderError::InvalidSignature(_)))
        };
        assert!(invalid(verify(
            &adapter,
            &headers("test_other_key", &signature),
            SAMPLE,
            now
        )));
        assert!(invalid(verify(
            &adapter,
            &headers("", &signature),
            SAMPLE,
            now
        )));
        let only_signature = vec![("x-spankpay-signature".to_owned(), signature.clone())];
        assert!(invalid(verify(&adapter, &only_signature, SAMPLE, now)));
        let tampered = SAMPLE.replace("69.69", "96.96");
        assert!(invalid(verify(
            &adapter,
            &headers("test_quickstart_key", &signature),
            &tampered,
            now
        )));
        let other_secret = wire::signature_header(b"sk_other", now.timestamp(), SAMPLE.as_bytes());
        assert!(invalid(verify(
            &adapter,
            &headers("test_quickstart_key", &other_secret),
            SAMPLE,
            now
        )));
        for bad in ["", "t=1778276991", "s=abc", "nonsense"] {
            assert!(invalid(verify(
                &adapter,
                &headers("test_quickstart_key", bad),
                SAMPLE,
                now
            )));
        }
        let only_key = vec![(
            "x-spankpay-key".to_owned(),
            "test_quickstart_key".to_owned(),
        )];
        let error = verify(&adapter, &only_key, SAMPLE, now).unwrap_err();
        assert!(!error.to_string().contains("sk_spankpay"), "{error}");
    }

    #[test]
    fn a_replayed_signature_verifies_again_and_maps_to_the_same_event() {
        let adapter = adapter();
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        let signature = wire::signature_header(b"sk_spankpay", now.timestamp(), SAMPLE.as_bytes());
        let headers = headers("test_quickstart_key", &signature);
        assert_eq!(verify(&adapter, &headers, SAMPLE, now), Ok(()));
        let later = now + chrono::TimeDelta::seconds(30);
        assert_eq!(verify(&adapter, &headers, SAMPLE, later), Ok(()));
        let first = adapter.parse_webhook(SAMPLE.as_bytes()).unwrap();
        let again = adapter.parse_webhook(SAMPLE.as_bytes()).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].provider_event_id, again[0].provider_event_id);
        // Beyond the window the replay is refused outright.
        let too_late = now + chrono::TimeDelta::seconds(601);
        assert!(matches!(
            verify(&adapter, &headers, SAMPLE, too_late),
            Err(ProviderError::StaleTimestamp(_))
        ));
    }

    fn checkout_request() -> CheckoutRequest {
        CheckoutRequest {
            checkout_id: CheckoutId::parse(CHECKOUT_ID).unwrap(),
            reference: Some("sc696969".into()),
            expires_at: Some(Utc.timestamp_opt(1_778_280_000, 0).unwrap()),
            ..CheckoutRequest::example(Money::new(6969, Currency::Usd))
        }
    }

    #[tokio::test]
    async fn create_returns_the_frame_parameters_and_the_pay_page() {
        let created = adapter()
            .create_checkout(&checkout_request())
            .await
            .unwrap();
        assert_eq!(created.provider_checkout_id.as_deref(), Some(CHECKOUT_ID));
        assert_eq!(created.status, CheckoutStatus::Open);
        assert_eq!(
            created.redirect_url.as_deref(),
            Some("https://paymux.example/pay/chk_01jv5c1x2y3z4a5b6c7d8e9f0g")
        );
        assert!(!created.livemode);
        assert_eq!(
            created.expires_at,
            Some(Utc.timestamp_opt(1_778_280_000, 0).unwrap())
        );
        assert_eq!(
            created.client_action,
            Some(json!({
                "type": "spankpay_frame",
                "key": "test_quickstart_key",
                "amount": "69.69",
                "currency": "TEST-USD",
                "acceptCurrencies": ["BTC", "ETH"],
                "metadata": { "paymux_checkout_id": CHECKOUT_ID, "reference": "sc696969" },
                "callback": "https://paymux.example/webhooks/demo/spankpay",
            }))
        );

        let live = adapter_with(
            json!({
                "public_key": "pk_live_1",
                "api_secret": "sk_live_1",
                "accept_currencies": ["ETH", "DOGE"],
            }),
            Some("http://127.0.0.1:9000/sandbox/spankpay"),
        );
        let mut request = checkout_request();
        request.reference = None;
        let created = live.create_checkout(&request).await.unwrap();
        assert!(created.livemode);
        let action = created.client_action.unwrap();
        assert_eq!(action["currency"], "USD");
        assert_eq!(action["acceptCurrencies"], json!(["ETH", "DOGE"]));
        assert_eq!(action["metadata"]["reference"], Value::Null);
        assert_eq!(
            action["frame_url"],
            "http://127.0.0.1:9000/sandbox/spankpay/frame/chk_01jv5c1x2y3z4a5b6c7d8e9f0g"
        );
    }

    #[tokio::test]
    async fn provider_options_override_accepted_currencies_only() {
        let adapter = adapter();
        let mut request = checkout_request();
        request.provider_options = Some(json!({ "acceptCurrencies": ["BOOTY", "ETH"] }));
        let created = adapter.create_checkout(&request).await.unwrap();
        assert_eq!(
            created.client_action.unwrap()["acceptCurrencies"],
            json!(["BOOTY", "ETH"])
        );
        for (options, param) in [
            (
                json!({ "acceptCurrencies": ["ETH"], "currency": "EUR" }),
                "provider_options.spankpay.currency",
            ),
            (
                json!({ "acceptCurrencies": "ETH" }),
                "provider_options.spankpay.acceptCurrencies",
            ),
            (
                json!({ "acceptCurrencies": [] }),
                "provider_options.spankpay.acceptCurrencies",
            ),
            (json!(["ETH"]), "provider_options.spankpay"),
        ] {
            request.provider_options = Some(options.clone());
            let error = adapter.create_checkout(&request).await.unwrap_err();
            assert!(
                matches!(&error, ProviderError::InvalidRequest { param: Some(p), .. } if p == param),
                "{options}: {error:?}"
            );
        }
        let mut request = checkout_request();
        request.amount = Money::new(6969, Currency::Zar);
        assert_eq!(
            adapter.create_checkout(&request).await.unwrap_err(),
            ProviderError::invalid("SpankPay charges in USD only, not ZAR", "currency")
        );
    }

    #[tokio::test]
    async fn cancel_is_local_and_there_is_no_lookup_or_refund() {
        let adapter = adapter();
        assert_eq!(
            adapter.cancel(CHECKOUT_ID, "k").await.unwrap(),
            ProviderCheckout {
                provider_checkout_id: CHECKOUT_ID.into(),
                status: CheckoutStatus::Canceled,
                livemode: false,
            }
        );
        test_support::check_operations(&adapter, &[Create, Cancel, Webhooks]);
    }

    #[test]
    fn payments_for_closed_checkouts_are_refused() {
        let adapter = adapter();
        let policy = adapter.webhook_policy();
        assert_eq!(policy.closed_checkout, ClosedCheckout::Refuse);
        assert!(policy.confirmation.is_none() && policy.redaction.is_none());
    }

    #[test]
    fn replies_decide_the_payment() {
        let adapter = adapter();
        let received = WebhookReply::json(200, json!({ "received": true }));
        assert_eq!(adapter.webhook_reply(&WebhookOutcome::Stored), received);
        assert_eq!(adapter.webhook_reply(&WebhookOutcome::Duplicate), received);
        assert_eq!(
            adapter.webhook_reply(&WebhookOutcome::Refused {
                reason: "checkout canceled"
            }),
            WebhookReply::json(
                200,
                json!({ "received": false, "reason": "checkout canceled" })
            )
        );
        let error = ProviderError::InvalidSignature("bad".into());
        let reply = adapter.webhook_reply(&WebhookOutcome::Rejected(&error));
        assert_eq!(reply.status, 400);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&reply.body).unwrap(),
            json!({
                "received": false,
                "error": {
                    "code": "invalid_signature",
                    "message": "invalid signature: bad",
                    "param": null,
                },
            })
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let adapter = adapter_with(settings("test_k", "sk_topsecret"), None);
        test_support::check_debug(&adapter, &["topsecret"], &["test_k"]);
    }
}
