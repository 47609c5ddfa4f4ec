//! SpankPay's wire format (`shared/providers/spankpay.txt`): the frame parameters paymux hands
//! to the browser, the `X-SpankPay-Signature` header, and the `payment` webhook, with their
//! conversions to paymux's model. Pure functions: no network, no clock.

use chrono::{DateTime, TimeZone, Utc};
use paymux_domain::{Currency, EventType, Money, NormalizedEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ProviderError;
use crate::signing::{derived_event_id, hmac_sha256_hex};

/// The output currency of live keys.
pub const LIVE_CURRENCY: &str = "USD";
/// The currencies a checkout may be priced in: SpankPay's frame takes USD amounts.
pub const CURRENCIES: [Currency; 1] = [Currency::Usd];
/// The output currency of test keys (`test_…`): "all currencies will be TEST- currencies".
pub const TEST_CURRENCY: &str = "TEST-USD";
/// Keys with this prefix are testing keys.
pub const TEST_KEY_PREFIX: &str = "test_";
/// The input currencies accepted when the config names none.
pub const DEFAULT_ACCEPT_CURRENCIES: [&str; 2] = ["BTC", "ETH"];
/// The header carrying the merchant's public key.
pub const KEY_HEADER: &str = "X-SpankPay-Key";
/// The header carrying `t=<timestamp>&s=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "X-SpankPay-Signature";
/// The metadata member holding our checkout id.
pub const CHECKOUT_ID_METADATA: &str = "paymux_checkout_id";
/// The metadata member holding the merchant's reference.
pub const REFERENCE_METADATA: &str = "reference";
/// A timestamp this large is in milliseconds (the doc's own vector is), not seconds.
pub const MILLISECONDS_FROM: i64 = 1_000_000_000_000;

/// Whether a public key is a testing key.
pub fn is_test_key(public_key: &str) -> bool {
    public_key.starts_with(TEST_KEY_PREFIX)
}

/// The output currency a key's purchases are in.
pub fn output_currency(public_key: &str) -> &'static str {
    if is_test_key(public_key) {
        TEST_CURRENCY
    } else {
        LIVE_CURRENCY
    }
}

/// `X-SpankPay-Signature`, read as the doc's reference verifiers do: split on `&`, each bit on
/// `=`; a repeated key keeps its last value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t` exactly as an integer: the signed text is its decimal form, as in the references.
    pub timestamp: i64,
    /// `s`: lower-case hex HMAC-SHA256.
    pub signature: String,
}

impl SignatureHeader {
    pub fn parse(header: &str) -> Result<SignatureHeader, ProviderError> {
        let mut timestamp = None;
        let mut signature = None;
        for bit in header.split('&') {
            let mut pieces = bit.split('=');
            let key = pieces.next().unwrap_or("").trim();
            let value = pieces.next().map(str::trim);
            match key {
                "t" => timestamp = value,
                "s" => signature = value,
                _ => {}
            }
        }
        let timestamp = timestamp
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| *t >= 0)
            .ok_or_else(|| {
                ProviderError::InvalidSignature(format!(
                    "invalid or missing timestamp `t` in {SIGNATURE_HEADER}"
                ))
            })?;
        let signature = signature
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ProviderError::InvalidSignature(format!(
                    "missing signature `s` in {SIGNATURE_HEADER}"
                ))
            })?
            .to_owned();
        Ok(SignatureHeader {
            timestamp,
            signature,
        })
    }

    /// When the webhook was signed: `t` in seconds, or milliseconds when `t` ≥ 10^12.
    pub fn signed_at(&self) -> Result<DateTime<Utc>, ProviderError> {
        let at = if self.timestamp >= MILLISECONDS_FROM {
            Utc.timestamp_millis_opt(self.timestamp).single()
        } else {
            Utc.timestamp_opt(self.timestamp, 0).single()
        };
        at.ok_or_else(|| {
            ProviderError::StaleTimestamp(format!(
                "the timestamp `t` of {SIGNATURE_HEADER} is out of range"
            ))
        })
    }
}

/// The hex signature of `body` signed at `timestamp`: HMAC-SHA256(secret, `t + "." + body`).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hmac_sha256_hex(secret, &[timestamp.to_string().as_bytes(), b".", body])
}

/// The `X-SpankPay-Signature` value for `body` signed at `timestamp` (seconds).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp}&s={}", sign(secret, timestamp, body))
}

/// The frame parameters of `SpankPay.showPurchase(...)`, as paymux's `client_action` carries
/// them (plus `type` and, in the sandbox, `frame_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameParams {
    pub key: String,
    /// A decimal string in `currency`, e.g. `69.69`.
    pub amount: String,
    pub currency: String,
    pub accept_currencies: Vec<String>,
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub callback: Option<String>,
}

/// A payment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn parse(text: &str) -> Option<PaymentStatus> {
        match text {
            "pending" => Some(PaymentStatus::Pending),
            "succeeded" => Some(PaymentStatus::Succeeded),
            "failed" => Some(PaymentStatus::Failed),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        }
    }

    pub const fn event_type(self) -> EventType {
        match self {
            PaymentStatus::Pending => EventType::PaymentPending,
            PaymentStatus::Succeeded => EventType::PaymentSucceeded,
            PaymentStatus::Failed => EventType::PaymentFailed,
        }
    }
}

/// The purchase a payment belongs to, as far as paymux reads it.
#[derive(Debug, Clone, Deserialize)]
struct Purchase {
    #[serde(default)]
    metadata: Option<Value>,
}

/// A webhook body: `type` and the Payment object's fields beside it. The payment's `status`
/// is the Payment object's (top level), not the `receipt`'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "payment_id")]
    payment_id: String,
    timestamp: DateTime<Utc>,
    status: String,
    #[serde(default)]
    purchase_id: Option<String>,
    #[serde(default)]
    purchase: Option<Purchase>,
    amount: String,
    amount_currency: String,
    #[serde(default)]
    input_amount: Option<String>,
    #[serde(default)]
    input_currency: Option<String>,
    /// The doc's sample has the hash as a string; its field list calls it an object with
    /// the hash: either is kept as sent.
    #[serde(default)]
    input_tx: Option<Value>,
}

fn malformed(message: impl Into<String>) -> ProviderError {
    ProviderError::MalformedPayload(message.into())
}

/// The event id of a payment in a status: a redelivery (same payment, same status) maps to the
/// same row, a later status of the same payment to a new one.
pub fn event_id(payment_id: &str, status: PaymentStatus) -> String {
    derived_event_id(&["spankpay", payment_id, status.as_str()])
}

/// Reads a (verified) webhook body into one normalized event.
pub fn parse_webhook(raw: &[u8]) -> Result<NormalizedEvent, ProviderError> {
    let webhook: Webhook = crate::http::read_json(raw, "not a SpankPay webhook")?;
    if webhook.kind != "payment" {
        return Err(malformed(
            "unknown SpankPay webhook `type` (expected payment)",
        ));
    }
    let status = PaymentStatus::parse(&webhook.status).ok_or_else(|| {
        malformed("unknown SpankPay payment `status` (expected pending, succeeded or failed)")
    })?;
    if webhook.payment_id.trim().is_empty() {
        return Err(malformed("SpankPay webhook has an empty `payment_id`"));
    }
    let livemode = match webhook.amount_currency.as_str() {
        LIVE_CURRENCY => true,
        TEST_CURRENCY => false,
        _ => {
            return Err(malformed(format!(
                "SpankPay `amountCurrency` is not {LIVE_CURRENCY} or {TEST_CURRENCY}"
            )));
        }
    };
    let amount = Money::parse_decimal(&webhook.amount, Currency::Usd)
        .map_err(|error| malformed(format!("SpankPay `amount` {}", error.problem())))?;
    let metadata = webhook
        .purchase
        .as_ref()
        .and_then(|purchase| purchase.metadata.as_ref());
    let text_member = |name: &str| {
        metadata
            .and_then(|metadata| metadata.get(name))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let checkout_id = text_member(CHECKOUT_ID_METADATA);
    let reference = text_member(REFERENCE_METADATA);
    let mut details = Map::new();
    details.insert("payment_id".into(), json!(webhook.payment_id));
    details.insert("purchase_id".into(), json!(webhook.purchase_id));
    details.insert("status".into(), json!(status.as_str()));
    details.insert("inputAmount".into(), json!(webhook.input_amount));
    details.insert("inputCurrency".into(), json!(webhook.input_currency));
    details.insert(
        "inputTx".into(),
        webhook.input_tx.clone().unwrap_or(Value::Null),
    );
    Ok(NormalizedEvent {
        event_type: status.event_type(),
        provider_event_id: event_id(&webhook.payment_id, status),
        // A purchase may be paid in several payments (partial payments): each is its own,
        // named by its payment id; the checkout is found by our id in the metadata.
        provider_payment_id: Some(webhook.payment_id.clone()),
        checkout_hint: checkout_id,
        reference,
        amount: Some(amount),
        fee: None,
        occurred_at: webhook.timestamp,
        livemode,
        details: Value::Object(details),
    })
}

/// Formats `units` of 10^-8 as an exact decimal without trailing zeros (`69690000` →
/// `0.6969`).
pub fn format_e8(units: u128) -> String {
    let whole = units / 100_000_000;
    let fraction = units % 100_000_000;
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:08}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("fixtures/webhook.json");

    #[test]
    fn the_docs_sample_is_a_test_mode_success_with_exact_input_strings() {
        let event = parse_webhook(SAMPLE.as_bytes()).unwrap();
        assert_eq!(event.event_type, EventType::PaymentSucceeded);
        assert_eq!(event.amount, Some(Money::new(6969, Currency::Usd)));
        assert!(!event.livemode);
        let checkout = "chk_01jv5c1x2y3z4a5b6c7d8e9f0g";
        assert_eq!(
            event.provider_payment_id.as_deref(),
            Some("pay_c493715653c")
        );
        assert_eq!(event.checkout_hint.as_deref(), Some(checkout));
        assert_eq!(event.reference.as_deref(), Some("sc696969"));
        assert_eq!(
            event.provider_event_id,
            derived_event_id(&["spankpay", "pay_c493715653c", "succeeded"])
        );
        assert_eq!(
            event
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "1969-06-09T06:09:06.969Z"
        );
        assert_eq!(
            event.details,
            json!({
                "payment_id": "pay_c493715653c",
                "purchase_id": "pur_f95d778c35f",
                "status": "succeeded",
                "inputAmount": "0.6969",
                "inputCurrency": "ETH",
                "inputTx": "0x2144292c5ad0000000000000000000000000000000000000000000000000001",
            })
        );
    }

    fn sample_with(key: &str, value: Value) -> Vec<u8> {
        let mut sample: Value = serde_json::from_str(SAMPLE).unwrap();
        sample[key] = value;
        serde_json::to_vec(&sample).unwrap()
    }

    #[test]
    fn partial_live_pending_and_failed_payments() {
        let event = parse_webhook(&sample_with("amount", json!("50.00"))).unwrap();
        assert_eq!(event.amount, Some(Money::new(5000, Currency::Usd)));
        let event = parse_webhook(&sample_with("amountCurrency", json!("USD"))).unwrap();
        assert!(event.livemode);
        let pending = parse_webhook(&sample_with("status", json!("pending"))).unwrap();
        assert_eq!(pending.event_type, EventType::PaymentPending);
        let failed = parse_webhook(&sample_with("status", json!("failed"))).unwrap();
        assert_eq!(failed.event_type, EventType::PaymentFailed);
        assert_ne!(pending.provider_event_id, failed.provider_event_id);
    }

    #[test]
    fn unknown_types_statuses_currencies_and_amounts_are_malformed() {
        for (key, value, needle) in [
            ("type", json!("refund"), "`type` (expected payment)"),
            ("status", json!("called"), "`status` (expected pending,"),
            (
                "amountCurrency",
                json!("EUR"),
                "`amountCurrency` is not USD",
            ),
            (
                "amount",
                json!("69.699"),
                "`amount` has more fractional digits",
            ),
            ("amount", json!(69.69), "invalid type, expected a string"),
            ("timestamp", json!("yesterday"), "invalid value at line 1"),
        ] {
            let error = parse_webhook(&sample_with(key, value.clone())).unwrap_err();
            assert!(
                matches!(&error, ProviderError::MalformedPayload(message) if message.contains(needle)),
                "{key}={value}: {error:?}"
            );
        }
        assert!(matches!(
            parse_webhook(b"{\"SpankPay\": \"BOOTY\"}"),
            Err(ProviderError::MalformedPayload(_))
        ));
    }

    #[test]
    fn signature_headers_parse_like_the_reference() {
        let header = SignatureHeader::parse("t=1551389518&s=b613679a").unwrap();
        assert_eq!(header.timestamp, 1_551_389_518);
        assert_eq!(header.signature, "b613679a");
        assert_eq!(
            SignatureHeader::parse("s=ab&t=12").unwrap().timestamp,
            12,
            "order does not matter"
        );
        for bad in ["", "t=12", "s=ab", "t=&s=ab", "t=x&s=ab", "t=12&s="] {
            assert!(
                matches!(
                    SignatureHeader::parse(bad),
                    Err(ProviderError::InvalidSignature(_))
                ),
                "{bad}"
            );
        }
        let seconds = SignatureHeader::parse("t=1552944138&s=ab").unwrap();
        let millis = SignatureHeader::parse("t=1552944138459&s=ab").unwrap();
        assert_eq!(seconds.signed_at().unwrap().timestamp(), 1_552_944_138);
        assert_eq!(
            millis.signed_at().unwrap().timestamp_millis(),
            1_552_944_138_459
        );
    }

    #[test]
    fn e8_amounts_format_exactly() {
        assert_eq!(format_e8(69_690_000), "0.6969");
        assert_eq!(format_e8(100_000_000), "1");
        assert_eq!(format_e8(1_742_250), "0.0174225");
        assert_eq!(format_e8(3_484_500_000_000), "34845");
        assert_eq!(format_e8(1), "0.00000001");
    }
}
