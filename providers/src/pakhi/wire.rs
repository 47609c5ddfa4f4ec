//! Pakhi Pay's wire format, as its API doc shows it (`shared/providers/pakhipay.txt`), and the
//! conversions between it and paymux's unified model. No I/O happens here.
//!
//! - Amounts are decimals in major units. Requests send them as JSON numbers whose text is the
//!   exact decimal (`"amount":100.00`, as the doc's samples encode `100.00`), written from minor
//!   units without ever passing through `f64` ([`Amount`] holds the JSON text itself).
//!   Callbacks carry them as strings (`"100.00"`); numbers are read too, from their text.
//! - Answers are `{"status": 1, …}` on success and `{"status": 0, "message": "…"}` otherwise;
//!   the doc shows no HTTP status for them, so [`Answer`] reads any body leniently.

use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, Currency, EventType, Money, NormalizedEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use url::Url;

use super::ID;
use crate::ProviderError;
use crate::model::CheckoutRequest;
use crate::signing::derived_event_id;
use crate::{json, rules};

/// The keys of a normalized event's `details` that [`super::PakhiAdapter`]'s `confirm` reads to
/// call the verify API.
pub const DETAIL_TRANSACTION_ID: &str = "transaction_id";
/// The callback's amount exactly as received (`"100.00"`).
pub const DETAIL_AMOUNT: &str = "amount";
/// The callback's status exactly as received (`"completed"`).
pub const DETAIL_STATUS: &str = "status";

/// An amount as JSON text: a number (`100.00`) in what paymux sends, a string or a number in
/// what it reads. Kept as text so that no float ever holds money.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(Box<RawValue>);

impl PartialEq for Amount {
    fn eq(&self, other: &Amount) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Amount {
    /// `money` as a JSON number with exactly its currency's decimals: 10000 minor BDT → `100.00`.
    pub fn number(money: Money) -> Result<Amount, ProviderError> {
        if money.minor <= 0 {
            return Err(ProviderError::invalid(
                format!("Pakhi Pay needs a positive amount, got {}", money.minor),
                "amount",
            ));
        }
        RawValue::from_string(money.to_decimal_string())
            .map(Amount)
            .map_err(|error| ProviderError::invalid(json::describe_error(&error), "amount"))
    }

    /// `money` as a JSON string (`"100.00"`), as the doc's callback sample carries it.
    pub fn string(money: Money) -> Amount {
        let text = Value::String(money.to_decimal_string()).to_string();
        match RawValue::from_string(text) {
            Ok(raw) => Amount(raw),
            Err(_) => unreachable!("a serialized JSON string is valid JSON"),
        }
    }

    /// The JSON text, as sent or received.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The decimal the JSON holds: a string's content, or a number's text. `None` for anything
    /// else (`null`, objects, `true`).
    pub fn decimal_text(&self) -> Option<String> {
        let text = self.0.get();
        match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(text).ok(),
            Some(b'0'..=b'9' | b'-') => Some(text.to_owned()),
            _ => None,
        }
    }

    /// The exact amount in `currency`; too many decimals, signs and exponents are refused.
    pub fn money(&self, currency: Currency) -> Result<Money, String> {
        let text = self
            .decimal_text()
            .ok_or_else(|| format!("amount {} is not a decimal", self.json()))?;
        Money::parse_decimal(&text, currency).map_err(|error| error.to_string())
    }
}

/// `POST api/request/payment/create/`, the fields in the doc's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePayment {
    pub cus_name: String,
    pub cus_email: String,
    pub amount: Amount,
    /// Where the payer goes after paying. Required by Pakhi Pay.
    pub success_url: String,
    /// Where the payer goes after canceling. Required by Pakhi Pay.
    pub cancel_url: String,
    /// The merchant's reference, else our checkout id: echoed in the callback, it leads back to
    /// the checkout (Pakhi Pay names no payment id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Where the callback goes: this merchant's paymux webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// `POST api/request/payment/verify/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyPayment {
    pub transaction_id: String,
    /// The exact amount the callback reported.
    pub amount: Amount,
}

/// What create and verify answer: `status` 1 and `payment_url` (create), `status` 1 and
/// `message: "completed"` (a verified payment), or `status` 0 and a `message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// True for `"status": 1`; PHP compares loosely, so `"1"` counts too.
    pub ok: bool,
    pub payment_url: Option<String>,
    pub message: Option<String>,
}

impl Answer {
    /// Reads an answer; `None` when the body is not a JSON object.
    pub fn from_body(body: &[u8]) -> Option<Answer> {
        let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let ok = match members.get("status") {
            Some(Value::Number(number)) => number.as_u64() == Some(1),
            Some(Value::String(text)) => text.trim() == "1",
            _ => false,
        };
        let text = |key: &str| match members.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
            Some(Value::Null) | Some(Value::String(_)) | None => None,
            Some(other) => Some(other.to_string()),
        };
        Some(Answer {
            ok,
            payment_url: text("payment_url"),
            message: text("message"),
        })
    }

    /// What Pakhi Pay said: its `message`, else the raw body cut to 500 characters
    /// ([`crate::http::raw_text`]).
    pub fn message_of(body: &[u8]) -> String {
        Answer::from_body(body)
            .and_then(|answer| answer.message)
            .or_else(|| crate::http::raw_text(body))
            .unwrap_or_else(|| "no message".to_owned())
    }

    /// True when the verify API confirms a completed payment, exactly as the doc's samples test
    /// it: `status == 1 && message == 'completed'`.
    pub fn confirms_completion(&self) -> bool {
        self.ok && self.message.as_deref() == Some("completed")
    }
}

/// The statuses a callback can report. The doc shows only `completed` (the callback is sent
/// "once the payment is completed"); the others are read in case Pakhi Pay sends them, each
/// mapped to the closest event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    Completed,
    Pending,
    Failed,
    /// `cancelled`, or `canceled`.
    Cancelled,
    Expired,
}

impl CallbackStatus {
    /// The status by its exact (lower-case) word.
    pub fn parse(text: &str) -> Option<CallbackStatus> {
        match text {
            "completed" => Some(CallbackStatus::Completed),
            "pending" => Some(CallbackStatus::Pending),
            "failed" => Some(CallbackStatus::Failed),
            "cancelled" | "canceled" => Some(CallbackStatus::Cancelled),
            "expired" => Some(CallbackStatus::Expired),
            _ => None,
        }
    }

    /// The word the simulated Pakhi Pay sends.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::Completed => "completed",
            CallbackStatus::Pending => "pending",
            CallbackStatus::Failed => "failed",
            CallbackStatus::Cancelled => "cancelled",
            CallbackStatus::Expired => "expired",
        }
    }

    pub const fn event_type(self) -> EventType {
        match self {
            CallbackStatus::Completed => EventType::PaymentSucceeded,
            CallbackStatus::Pending => EventType::PaymentPending,
            CallbackStatus::Failed => EventType::PaymentFailed,
            CallbackStatus::Cancelled => EventType::PaymentCanceled,
            CallbackStatus::Expired => EventType::PaymentExpired,
        }
    }
}

/// The callback (webhook) body, the members in the doc's order. Unknown members (the removed
/// `token`) are ignored; a repeated member is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Callback {
    pub status: String,
    pub transaction_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// HMAC-SHA256 of the payload without this member (see [`super::signature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Ours → Pakhi Pay
// ---------------------------------------------------------------------------------------------

impl CreatePayment {
    /// Checks `request` against what Pakhi Pay requires and builds the create body. Refusals
    /// name the unified request's field (`customer.email`, `success_url`, …) and happen before
    /// any call. `currency` is the merchant's configured one; `callback_url` this merchant's
    /// paymux webhook URL. Pakhi Pay has no field for the description, line items, metadata or
    /// an expiry: they stay with paymux's checkout and are not sent.
    pub fn from_checkout(
        request: &CheckoutRequest,
        currency: Currency,
        callback_url: &Url,
    ) -> Result<CreatePayment, ProviderError> {
        if request.amount.currency != currency {
            return Err(ProviderError::invalid(
                format!(
                    "Pakhi Pay is configured for {currency} for this merchant, not {}",
                    request.amount.currency
                ),
                "currency",
            ));
        }
        let amount = Amount::number(request.amount)?;
        let customer = request.customer.clone().unwrap_or_default();
        let cus_name = required_text(customer.name, "customer.name", "the customer's name")?;
        let cus_email = required_text(customer.email, "customer.email", "the customer's email")?;
        if !plausible_email(&cus_email) {
            return Err(ProviderError::invalid(
                "customer.email must be an email address",
                "customer.email",
            ));
        }
        let success_url = return_url(request.success_url.as_ref(), "success_url")?;
        let cancel_url = return_url(request.cancel_url.as_ref(), "cancel_url")?;
        match &request.provider_options {
            None | Some(Value::Null) => {}
            Some(Value::Object(options)) if options.is_empty() => {}
            Some(_) => {
                return Err(ProviderError::invalid(
                    "Pakhi Pay takes no provider options: every documented field comes from \
                     the checkout itself",
                    format!("provider_options.{ID}"),
                ));
            }
        }
        let order_id = request
            .reference
            .clone()
            .filter(|reference| !reference.trim().is_empty())
            .unwrap_or_else(|| request.checkout_id.to_string());
        Ok(CreatePayment {
            cus_name,
            cus_email,
            amount,
            success_url,
            cancel_url,
            order_id: Some(order_id),
            callback_url: Some(callback_url.to_string()),
        })
    }
}

/// What Pakhi Pay requires of a checkout ([`crate::rules`]): the customer's name and email and
/// both return URLs. The currency is the merchant's config (by default BDT).
pub fn checkout_rules() -> Value {
    let return_url = json!({ "type": "string", "pattern": rules::return_url(false, "") });
    let mut checkout = json!({
        "title": "Pakhi Pay",
        "description": format!(
            "Pakhi Pay: the currency its config names for the merchant, {} unless set.",
            super::DEFAULT_CURRENCY
        ),
        "required": ["customer", "success_url", "cancel_url"],
        "properties": {
            "currency": rules::currencies(&[super::DEFAULT_CURRENCY]),
            "customer": {
                "type": "object",
                "required": ["name", "email"],
                "properties": {
                    "name": { "type": "string", "pattern": rules::not_blank() },
                    // What `plausible_email` takes: `local@domain`, without white space.
                    "email": { "type": "string", "pattern": email_pattern() },
                },
            },
            "success_url": return_url,
            "cancel_url": return_url,
        },
    });
    checkout["properties"]["provider_options"] = rules::no_options(ID);
    checkout
}

fn email_pattern() -> String {
    let part = format!("[^@{}]+", rules::SPACE);
    format!("^{part}@{part}{}", rules::END)
}

fn required_text(value: Option<String>, param: &str, what: &str) -> Result<String, ProviderError> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ProviderError::invalid(
            format!("Pakhi Pay requires {what}: set {param}"),
            param,
        )),
    }
}

/// `local@domain`, without spaces: enough to refuse what Pakhi Pay surely would.
fn plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A return URL Pakhi Pay requires: present and http(s).
fn return_url(url: Option<&Url>, param: &str) -> Result<String, ProviderError> {
    let Some(url) = url else {
        return Err(ProviderError::invalid(
            format!("Pakhi Pay requires {param}"),
            param,
        ));
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::invalid(
            format!("{param} must be an http(s) URL for Pakhi Pay"),
            param,
        ));
    }
    Ok(url.to_string())
}

// ---------------------------------------------------------------------------------------------
// Pakhi Pay → ours
// ---------------------------------------------------------------------------------------------

impl Callback {
    /// Reads a callback body.
    pub fn from_body(body: &[u8]) -> Result<Callback, ProviderError> {
        crate::http::read_json(body, "not a Pakhi Pay callback")
    }

    /// The normalized event. Pakhi Pay sends no event id, no time and no payment id: the id is
    /// derived from (`pakhi`, transaction id, status), so a redelivery is the same event;
    /// `occurred_at` is `received_at`, the time paymux read it; the `order_id` is the reference
    /// and, when it is one of our checkout ids, the checkout hint.
    pub fn into_normalized(
        self,
        currency: Currency,
        livemode: bool,
        received_at: DateTime<Utc>,
    ) -> Result<NormalizedEvent, ProviderError> {
        let status = CallbackStatus::parse(&self.status).ok_or_else(|| {
            ProviderError::MalformedPayload(
                "unknown Pakhi Pay callback `status` (expected completed, pending, failed, \
                 cancelled, canceled or expired)"
                    .to_owned(),
            )
        })?;
        if self.transaction_id.trim().is_empty() {
            return Err(ProviderError::MalformedPayload(
                "the Pakhi Pay callback has an empty `transaction_id`".to_owned(),
            ));
        }
        let amount_text = match &self.amount {
            Some(amount) => Some(amount.decimal_text().ok_or_else(|| {
                ProviderError::MalformedPayload(
                    "the Pakhi Pay callback's `amount` is not a decimal (expected a string or a \
                     number)"
                        .to_owned(),
                )
            })?),
            None => None,
        };
        let amount = amount_text
            .as_deref()
            .map(|text| Money::parse_decimal(text, currency))
            .transpose()
            .map_err(|error| {
                ProviderError::MalformedPayload(format!(
                    "the Pakhi Pay callback's `amount` {}",
                    error.problem()
                ))
            })?;
        if status == CallbackStatus::Completed && amount.is_none() {
            return Err(ProviderError::MalformedPayload(
                "a completed Pakhi Pay callback must carry its amount".to_owned(),
            ));
        }
        let order_id = self.order_id.filter(|order_id| !order_id.is_empty());
        let checkout_hint = order_id
            .as_deref()
            .filter(|order_id| CheckoutId::parse(order_id).is_ok())
            .map(str::to_owned);
        let mut details = Map::new();
        details.insert(
            DETAIL_TRANSACTION_ID.to_owned(),
            self.transaction_id.clone().into(),
        );
        details.insert(DETAIL_STATUS.to_owned(), self.status.clone().into());
        if let Some(text) = amount_text {
            details.insert(DETAIL_AMOUNT.to_owned(), text.into());
        }
        Ok(NormalizedEvent {
            event_type: status.event_type(),
            provider_event_id: derived_event_id(&[ID, &self.transaction_id, &self.status]),
            provider_payment_id: None,
            checkout_hint,
            reference: order_id,
            amount,
            fee: None,
            occurred_at: received_at,
            livemode,
            details: Value::Object(details),
        })
    }
}

/// The verify call for a normalized success: the transaction id and the exact amount kept in
/// its details. `None` when the event lacks them (it did not come from a callback).
pub fn verify_request(event: &NormalizedEvent, currency: Currency) -> Option<VerifyPayment> {
    let text = |key: &str| event.details.get(key).and_then(Value::as_str);
    let transaction_id = text(DETAIL_TRANSACTION_ID)?.to_owned();
    let money = Money::parse_decimal(text(DETAIL_AMOUNT)?, currency).ok()?;
    Some(VerifyPayment {
        transaction_id,
        amount: Amount::number(money).ok()?,
    })
}

/// The unified request that becomes the doc's create sample, which this folder's tests start
/// from.
#[cfg(test)]
pub(super) fn doc_request() -> CheckoutRequest {
    use crate::model::Customer;
    let john = Customer::example(Some("John Doe"), Some("john@example.com"));
    CheckoutRequest::example(Money::new(10_000, Currency::Bdt))
        .with_reference("ORDER123")
        .with_customer(john)
        .with_success_url("https://yourwebsite.com/success")
        .with_cancel_url("https://yourwebsite.com/cancel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::CHECKOUT_ID;
    use chrono::TimeZone;
    use serde_json::json;

    const CALLBACK: &str = include_str!("fixtures/callback.json");
    const CREATE_REQUEST: &str = include_str!("fixtures/create_payment_request.json");
    const VERIFY_REQUEST: &str = include_str!("fixtures/verify_payment_request.json");

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_778_276_991, 0).unwrap()
    }

    fn bdt(minor: i64) -> Money {
        Money::new(minor, Currency::Bdt)
    }

    fn webhook() -> Url {
        Url::parse("https://yourwebsite.com/webhook").unwrap()
    }

    #[test]
    fn the_docs_create_sample_is_what_a_checkout_becomes() {
        let body = CreatePayment::from_checkout(&doc_request(), Currency::Bdt, &webhook()).unwrap();
        // Same bytes as the doc's sample once it is compact: `100.00` stays a number with its
        // two decimals.
        let compact: String = CREATE_REQUEST
            .split('\n')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("")
            .replace("\": ", "\":");
        assert_eq!(serde_json::to_string(&body).unwrap(), compact);
        assert!(compact.contains(r#""amount":100.00,"#), "{compact}");
        // And the sample reads back into the same body.
        let read: CreatePayment = serde_json::from_str(CREATE_REQUEST).unwrap();
        assert_eq!(read, body);
    }

    #[test]
    fn amounts_are_written_as_exact_numbers() {
        for (minor, currency, text) in [
            (10_000, Currency::Bdt, "100.00"),
            (1, Currency::Bdt, "0.01"),
            (123_456_789_012, Currency::Bdt, "1234567890.12"),
            (i64::MAX, Currency::Bdt, "92233720368547758.07"),
            (1_500, Currency::Jpy, "1500"),
            (1_234, Currency::Kwd, "1.234"),
        ] {
            let amount = Amount::number(Money::new(minor, currency)).unwrap();
            assert_eq!(amount.json(), text);
            assert_eq!(amount.money(currency), Ok(Money::new(minor, currency)));
        }
        for minor in [0, -1] {
            assert!(matches!(
                Amount::number(bdt(minor)),
                Err(ProviderError::InvalidRequest { param: Some(p), .. }) if p == "amount"
            ));
        }
        assert_eq!(Amount::string(bdt(10_000)).json(), r#""100.00""#);
    }

    #[test]
    fn amounts_are_read_exactly_from_strings_and_numbers() {
        let read = |json: &str| {
            serde_json::from_str::<Amount>(json)
                .unwrap()
                .money(Currency::Bdt)
        };
        assert_eq!(read(r#""100.00""#), Ok(bdt(10_000)));
        assert_eq!(read("100.00"), Ok(bdt(10_000)));
        assert_eq!(read("100"), Ok(bdt(10_000)));
        assert_eq!(read(r#""0.5""#), Ok(bdt(50)));
        for bad in [
            r#""100.001""#,
            "100.001",
            "1e2",
            "-1.00",
            r#""-1.00""#,
            r#"" 100.00""#,
            "null",
            "true",
            r#"{"v":1}"#,
            r#""""#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_checkout_id_is_the_order_id_without_a_reference() {
        let mut request = doc_request();
        request.reference = None;
        request.provider_options = Some(json!({}));
        let body = CreatePayment::from_checkout(&request, Currency::Bdt, &webhook()).unwrap();
        assert_eq!(body.order_id.as_deref(), Some(CHECKOUT_ID));
        request.reference = Some("  ".into());
        let body = CreatePayment::from_checkout(&request, Currency::Bdt, &webhook()).unwrap();
        assert_eq!(body.order_id.as_deref(), Some(CHECKOUT_ID));
    }

    #[test]
    fn missing_required_fields_are_named() {
        let param_of = |edit: &dyn Fn(&mut CheckoutRequest)| {
            let mut request = doc_request();
            edit(&mut request);
            match CreatePayment::from_checkout(&request, Currency::Bdt, &webhook()) {
                Err(ProviderError::InvalidRequest { param, .. }) => param.unwrap_or_default(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(param_of(&|r| r.customer = None), "customer.name");
        assert_eq!(
            param_of(&|r| r.customer.as_mut().unwrap().email = None),
            "customer.email"
        );
        assert_eq!(
            param_of(&|r| r.customer.as_mut().unwrap().email = Some(" ".into())),
            "customer.email"
        );
        for bad in [
            "john",
            "@example.com",
            "john@",
            "jo hn@example.com",
            "a@b@c",
        ] {
            assert_eq!(
                param_of(&|r| r.customer.as_mut().unwrap().email = Some(bad.into())),
                "customer.email",
                "{bad}"
            );
        }
        assert_eq!(
            param_of(&|r| r.customer.as_mut().unwrap().name = Some(String::new())),
            "customer.name"
        );
        assert_eq!(param_of(&|r| r.success_url = None), "success_url");
        assert_eq!(param_of(&|r| r.cancel_url = None), "cancel_url");
        assert_eq!(
            param_of(&|r| r.cancel_url = Some(Url::parse("ftp://example.com/x").unwrap())),
            "cancel_url"
        );
        assert_eq!(param_of(&|r| r.amount = bdt(0)), "amount");
        assert_eq!(
            param_of(&|r| r.provider_options = Some(json!({ "cus_phone": "017" }))),
            "provider_options.pakhi"
        );
        assert_eq!(
            param_of(&|r| r.amount = Money::new(10_000, Currency::Usd)),
            "currency"
        );
    }

    #[test]
    fn the_docs_verify_sample_is_what_a_success_becomes() {
        let mut event = Callback::from_body(CALLBACK.as_bytes())
            .unwrap()
            .into_normalized(Currency::Bdt, false, now())
            .unwrap();
        event.details["transaction_id"] = json!("TRX123456");
        let request = verify_request(&event, Currency::Bdt).unwrap();
        let sample: VerifyPayment = serde_json::from_str(VERIFY_REQUEST).unwrap();
        assert_eq!(request, sample);
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"transaction_id":"TRX123456","amount":100.00}"#
        );
        event.details = json!({ "transaction_id": "TRX1" });
        assert_eq!(verify_request(&event, Currency::Bdt), None);
    }

    #[test]
    fn the_docs_callback_normalizes_to_a_success_in_minor_units() {
        let event = Callback::from_body(CALLBACK.as_bytes())
            .unwrap()
            .into_normalized(Currency::Bdt, false, now())
            .unwrap();
        assert_eq!(
            event,
            NormalizedEvent {
                event_type: EventType::PaymentSucceeded,
                provider_event_id: derived_event_id(&["pakhi", "TRX123456789", "completed"]),
                provider_payment_id: None,
                checkout_hint: None,
                reference: Some("your-order-id".into()),
                amount: Some(bdt(10_000)),
                fee: None,
                occurred_at: now(),
                livemode: false,
                details: json!({
                    "transaction_id": "TRX123456789",
                    "status": "completed",
                    "amount": "100.00",
                }),
            }
        );
        // A redelivery is the same event.
        let again = Callback::from_body(CALLBACK.as_bytes())
            .unwrap()
            .into_normalized(Currency::Bdt, false, now() + chrono::TimeDelta::hours(1))
            .unwrap();
        assert_eq!(again.provider_event_id, event.provider_event_id);
    }

    fn callback(edit: impl FnOnce(&mut Value)) -> Result<NormalizedEvent, ProviderError> {
        let mut body: Value = serde_json::from_str(CALLBACK).unwrap();
        edit(&mut body);
        Callback::from_body(body.to_string().as_bytes())?.into_normalized(
            Currency::Bdt,
            true,
            now(),
        )
    }

    #[test]
    fn other_statuses_map_to_the_closest_event_type() {
        for (status, event_type) in [
            ("pending", EventType::PaymentPending),
            ("failed", EventType::PaymentFailed),
            ("cancelled", EventType::PaymentCanceled),
            ("canceled", EventType::PaymentCanceled),
            ("expired", EventType::PaymentExpired),
        ] {
            let event = callback(|body| body["status"] = json!(status)).unwrap();
            assert_eq!(event.event_type, event_type, "{status}");
            assert_eq!(event.details["status"], json!(status));
            assert_eq!(
                event.provider_event_id,
                derived_event_id(&["pakhi", "TRX123456789", status])
            );
        }
        // Only a success needs its amount.
        let event = callback(|body| {
            body["status"] = json!("cancelled");
            body.as_object_mut().unwrap().remove("amount");
        })
        .unwrap();
        assert_eq!(event.amount, None);
        assert!(event.details.get("amount").is_none());
    }

    #[test]
    fn a_paymux_checkout_id_in_order_id_is_a_hint() {
        let event = callback(|body| body["order_id"] = json!(CHECKOUT_ID)).unwrap();
        assert_eq!(event.checkout_hint.as_deref(), Some(CHECKOUT_ID));
        assert_eq!(event.reference.as_deref(), Some(CHECKOUT_ID));
        let event = callback(|body| body["order_id"] = json!("chk_not-a-ulid")).unwrap();
        assert_eq!(event.checkout_hint, None);
        let event = callback(|body| {
            body.as_object_mut().unwrap().remove("order_id");
        })
        .unwrap();
        assert_eq!((event.reference, event.checkout_hint), (None, None));
        // A numeric amount is read from its text.
        let event = callback(|body| body["amount"] = json!(25)).unwrap();
        assert_eq!(event.amount, Some(bdt(2_500)));
    }

    #[test]
    fn unreadable_callbacks_say_why() {
        for (edit, needle) in [
            (
                Box::new(|b: &mut Value| b["status"] = json!("refunded"))
                    as Box<dyn FnOnce(&mut Value)>,
                "unknown Pakhi Pay callback `status` (expected completed,",
            ),
            (
                Box::new(|b: &mut Value| b["status"] = json!("Completed")),
                "`status`",
            ),
            (Box::new(|b: &mut Value| b["status"] = json!(1)), "string"),
            (
                Box::new(|b: &mut Value| {
                    b.as_object_mut().unwrap().remove("transaction_id");
                }),
                "transaction_id",
            ),
            (
                Box::new(|b: &mut Value| b["transaction_id"] = json!("")),
                "transaction_id",
            ),
            (
                Box::new(|b: &mut Value| b["amount"] = json!("100.001")),
                "fractional digits",
            ),
            (
                Box::new(|b: &mut Value| b["amount"] = json!("1,000.00")),
                "`amount` is not a plain decimal number",
            ),
            (
                Box::new(|b: &mut Value| b["amount"] = json!(true)),
                "not a decimal",
            ),
            (
                Box::new(|b: &mut Value| {
                    b.as_object_mut().unwrap().remove("amount");
                }),
                "amount",
            ),
        ] {
            let error = callback(edit).unwrap_err();
            assert!(
                matches!(&error, ProviderError::MalformedPayload(message) if message.contains(needle)),
                "{needle}: {error:?}"
            );
        }
        assert!(matches!(
            Callback::from_body(b"[1]"),
            Err(ProviderError::MalformedPayload(_))
        ));
    }

    #[test]
    fn answers_are_read_leniently() {
        let read = |body: &str| Answer::from_body(body.as_bytes());
        assert_eq!(
            read(r#"{"status": 1, "payment_url": "https://pakhipay.com/pay/abc"}"#),
            Some(Answer {
                ok: true,
                payment_url: Some("https://pakhipay.com/pay/abc".into()),
                message: None
            })
        );
        assert!(
            read(r#"{"status": "1", "message": "completed"}"#)
                .unwrap()
                .confirms_completion()
        );
        for body in [
            r#"{"status": 1, "message": "pending"}"#,
            r#"{"status": 0, "message": "completed"}"#,
            r#"{"status": true, "message": "completed"}"#,
            r#"{"status": 1.0, "message": "completed"}"#,
            r#"{"status": 1, "message": "Completed"}"#,
            r#"{"message": "completed"}"#,
        ] {
            assert!(!read(body).unwrap().confirms_completion(), "{body}");
        }
        assert_eq!(
            read(r#"{"status": 0, "message": "Invalid API key"}"#)
                .unwrap()
                .message
                .as_deref(),
            Some("Invalid API key")
        );
        assert_eq!(read("[]"), None);
        assert_eq!(
            Answer::message_of(b"<h1>Bad Gateway</h1>"),
            "<h1>Bad Gateway</h1>"
        );
        assert_eq!(Answer::message_of(b""), "no message");
        assert_eq!(Answer::message_of(br#"{"status":0,"message":7}"#), "7");
        let long = "é".repeat(700);
        assert_eq!(
            Answer::message_of(long.as_bytes()),
            "é".repeat(crate::http::MAX_RAW_ERROR_CHARS)
        );
    }
}
