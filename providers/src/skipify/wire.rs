//! Skipify's wire format and the conversions between it and paymux's unified model. No I/O
//! happens here: building a PayLink request, reading the answer and normalizing a webhook are
//! plain functions, tested against the webhook doc's own samples (`fixtures/`).
//!
//! Webhooks are read tolerantly (unknown members are ignored) but the members paymux acts on
//! must have the documented type, or the body is a [`ProviderError::MalformedPayload`].

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use paymux_domain::{CheckoutId, Currency, EventType, Money, NormalizedEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use url::Url;

use crate::ProviderError;
use crate::http::read_json;
use crate::model::{CheckoutRequest, CreatedCheckout};
use crate::signing::derived_event_id;
use crate::{json, rules};

/// The only currency Skipify charges in ("Only USD supported currently").
pub const CURRENCIES: [Currency; 1] = [Currency::Usd];
/// `merchantInvoiceId` is at most this many characters.
pub const MAX_INVOICE_ID_CHARS: usize = 255;

/// What Skipify requires of a checkout ([`crate::rules`]): a reference within its invoice id's
/// limit, named line items, and no provider options.
pub fn checkout_rules() -> Value {
    let mut checkout = json!({
        "title": "Skipify",
        "properties": {
            "currency": rules::currencies(&CURRENCIES),
            "reference": rules::max_chars(MAX_INVOICE_ID_CHARS),
            "items": rules::named_items(),
        },
    });
    checkout["properties"]["provider_options"] = rules::no_options(super::ID);
    checkout
}

// ---------------------------------------------------------------------------------------------
// Ours → Skipify: creating a PayLink
// ---------------------------------------------------------------------------------------------

/// `POST {base}`: a PayLink to create. Absent members are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePaylink {
    /// The merchant the link is for; the same value as the `x-merchant-id` header.
    pub merchant_id: String,
    /// The merchant's order reference, or our checkout id: the webhook echoes it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_invoice_id: Option<String>,
    /// Integer cents.
    pub total: i64,
    /// Shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the link stops taking payments, as `2024-01-31T18:24:00.000Z`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "millis_opt"
    )]
    pub expiration: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<PaylinkCustomer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_items: Option<Vec<PaylinkLineItem>>,
}

/// Pre-fills Skipify's checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaylinkCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One line of the basket, as Skipify's PayLink lookup shows `lineItems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaylinkLineItem {
    /// What the customer sees: our item's `name`.
    pub description: String,
    pub quantity: u32,
    /// Unit price in integer cents: our item's `unit_amount`.
    pub price: i64,
}

/// `2024-01-31T18:24:00.000Z`, the form every Skipify time takes.
fn millis_opt<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&millis(*time)),
        None => serializer.serialize_none(),
    }
}

/// A time as Skipify writes it: UTC with milliseconds.
pub fn millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl CreatePaylink {
    /// Checks `request` against what Skipify takes and builds the body of `POST {base}`. The
    /// refusal names the offending field of the unified request (`currency`, `amount`,
    /// `reference`, `items[0].quantity`, …) so the storefront learns what to fix before
    /// anything is sent. `now` is the clock `expires_at` is checked against.
    pub fn from_checkout(
        request: &CheckoutRequest,
        merchant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatePaylink, ProviderError> {
        let amount = request.amount;
        crate::checks::currency(amount, "Skipify", &CURRENCIES)?;
        if amount.minor <= 0 {
            return Err(ProviderError::invalid(
                format!(
                    "Skipify needs a total of at least 1 cent, got {}",
                    amount.minor
                ),
                "amount",
            ));
        }
        let invoice_id = match request.reference.as_deref() {
            Some(reference) if !reference.is_empty() => {
                let length = reference.chars().count();
                if length > MAX_INVOICE_ID_CHARS {
                    return Err(ProviderError::invalid(
                        format!(
                            "reference must be at most {MAX_INVOICE_ID_CHARS} characters for \
                             Skipify (its merchantInvoiceId), got {length}"
                        ),
                        "reference",
                    ));
                }
                reference.to_owned()
            }
            _ => request.checkout_id.to_string(),
        };
        if let Some(expires_at) = request.expires_at
            && expires_at <= now
        {
            return Err(ProviderError::invalid(
                "expires_at must be in the future",
                "expires_at",
            ));
        }
        check_provider_options(request.provider_options.as_ref())?;
        let customer = request
            .customer
            .as_ref()
            .map(|customer| PaylinkCustomer {
                name: customer.name.clone(),
                email: customer.email.clone(),
                phone: customer.phone.clone(),
            })
            .filter(|customer| *customer != PaylinkCustomer::default());
        let line_items = request
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let param = |field: &str| format!("items[{index}].{field}");
                if item.name.trim().is_empty() {
                    return Err(ProviderError::invalid(
                        "a line item needs a name",
                        param("name"),
                    ));
                }
                if item.quantity == 0 {
                    return Err(ProviderError::invalid(
                        "a line item's quantity must be at least 1",
                        param("quantity"),
                    ));
                }
                if item.unit_amount < 0 {
                    return Err(ProviderError::invalid(
                        "a line item's unit_amount must not be negative",
                        param("unit_amount"),
                    ));
                }
                Ok(PaylinkLineItem {
                    description: item.name.clone(),
                    quantity: item.quantity,
                    price: item.unit_amount,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CreatePaylink {
            merchant_id: merchant_id.to_owned(),
            merchant_invoice_id: Some(invoice_id),
            total: amount.minor,
            description: request.description.clone(),
            expiration: request.expires_at,
            customer,
            line_items: (!line_items.is_empty()).then_some(line_items),
        })
    }
}

/// Skipify takes no provider-only options through paymux: anything but nothing is refused,
/// naming the key, rather than silently dropped.
fn check_provider_options(options: Option<&Value>) -> Result<(), ProviderError> {
    match options {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(entries)) => match entries.keys().next() {
            None => Ok(()),
            Some(key) => Err(ProviderError::invalid(
                format!("Skipify takes no provider options; got `{key}`"),
                format!("provider_options.skipify.{key}"),
            )),
        },
        Some(_) => Err(ProviderError::invalid(
            "provider_options.skipify must be a JSON object",
            "provider_options.skipify",
        )),
    }
}

/// What a create answers, as far as paymux reads it: the id and the hosted link. The rest of
/// the PayLink object is ignored, and an `expiration` that is not a readable time is taken as
/// absent rather than making a created link unusable.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaylinkCreated {
    pub paylink_id: String,
    pub link: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub expiration: Option<DateTime<Utc>>,
}

fn lenient_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|time| time.to_utc()),
        _ => None,
    })
}

impl PaylinkCreated {
    /// Reads a 2xx answer.
    pub fn from_body(body: &[u8]) -> Result<PaylinkCreated, ProviderError> {
        crate::http::read_json(body, "Skipify answered with no valid PayLink")
    }

    /// The created checkout: open until a webhook says otherwise. `requested_expiration` is
    /// what paymux asked for, used when the answer does not say.
    pub fn into_created_checkout(
        self,
        livemode: bool,
        requested_expiration: Option<DateTime<Utc>>,
    ) -> Result<CreatedCheckout, ProviderError> {
        if self.paylink_id.trim().is_empty() {
            return Err(ProviderError::MalformedPayload(
                "Skipify PayLink has an empty `paylinkId`".to_owned(),
            ));
        }
        let link_is_web_url = Url::parse(&self.link)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if !link_is_web_url {
            return Err(ProviderError::MalformedPayload(
                "Skipify PayLink has no usable `link` (expected an http(s) URL)".to_owned(),
            ));
        }
        let expires_at = self.expiration.or(requested_expiration);
        Ok(CreatedCheckout::hosted(
            Some(self.paylink_id),
            self.link,
            livemode,
            expires_at,
        ))
    }
}

/// The provider's message from a non-2xx body. Skipify's error shape is not in the doc paymux
/// has, so the usual ones are tried: `message`, `error` (text or `{message}`), `errors`
/// (texts or `{message}`s); else the raw text cut to its first 500 characters
/// ([`crate::http::error_message`]).
pub fn error_message(body: &[u8]) -> String {
    crate::http::error_message(body, &["message", "error", "errors"])
}

// ---------------------------------------------------------------------------------------------
// Skipify → ours: webhooks
// ---------------------------------------------------------------------------------------------

/// The events Skipify sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    /// A successful authorization on an order.
    OrderPaymentSucceeded,
    /// A failed authorization; the link stays usable.
    OrderPaymentFailed,
    /// The customer opened a PayLink that has expired.
    PaymentRequestExpired,
}

impl EventName {
    pub const ALL: [EventName; 3] = [
        EventName::OrderPaymentSucceeded,
        EventName::OrderPaymentFailed,
        EventName::PaymentRequestExpired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::OrderPaymentSucceeded => "ORDER_PAYMENT_SUCCEEDED",
            EventName::OrderPaymentFailed => "ORDER_PAYMENT_FAILED",
            EventName::PaymentRequestExpired => "PAYMENT_REQUEST_EXPIRED",
        }
    }

    pub fn parse(text: &str) -> Option<EventName> {
        EventName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
    }

    pub const fn event_type(self) -> EventType {
        match self {
            EventName::OrderPaymentSucceeded => EventType::PaymentSucceeded,
            EventName::OrderPaymentFailed => EventType::PaymentFailed,
            EventName::PaymentRequestExpired => EventType::PaymentExpired,
        }
    }
}

/// The members of the envelope paymux reads. The `secret` member is deliberately not among
/// them: it is checked (and redacted) by [`super::authenticity`], never kept in a value that
/// could be printed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingEnvelope {
    event_name: String,
    #[serde(default)]
    merchant_id: Option<String>,
    payload: Value,
}

/// The envelope as the simulated Skipify writes it, in the doc's member order. Not `Debug`:
/// it carries the secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingEnvelope<'a, P> {
    pub event_name: &'a str,
    pub merchant_id: &'a str,
    pub payload: P,
    /// "Reserved for future use": always `null`.
    pub manual_retry_id: Option<String>,
    pub merchant_set: MerchantSet,
    pub secret: &'a str,
}

/// "Information about the merchant this event was for".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantSet {
    pub merchant_id: String,
    pub merchant_name: String,
    pub merchant_industry: String,
    pub top_level_merchant_id: Option<String>,
    pub parent_merchant: Option<String>,
    pub direct_lineage: Vec<String>,
}

/// `payload` of ORDER_PAYMENT_SUCCEEDED and ORDER_PAYMENT_FAILED.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_invoice_id: Option<String>,
    pub paylink_id: String,
    /// When the payment succeeded. The doc's ORDER_PAYMENT_FAILED sample has none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "millis_opt"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    /// "Raw JSON/XML payload returned from PSP": any JSON value, kept out of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psp_raw_response: Option<Value>,
    /// Cents authorized (or attempted, on a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_amount: Option<i64>,
    /// Fees included in `orderAmount`; `null` when there are none (always written, as the doc).
    #[serde(default)]
    pub charges: Option<Vec<Charge>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipify_transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_partial_authorization: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last_four: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_split_payment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_amount: Option<i64>,
}

/// A fee on the order, in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// `SURCHARGE_FEE`, `GENERAL_FEE`, …
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub amount: i64,
}

/// `payload` of PAYMENT_REQUEST_EXPIRED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredPayload {
    pub paylink_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_invoice_id: Option<String>,
    /// Cents: the total of the expired link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// When the link expired.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "millis_opt"
    )]
    pub expiration: Option<DateTime<Utc>>,
}

/// The event id paymux derives, as Skipify sends none: the same on every redelivery of one
/// event, different for another attempt (new transaction ids) or another event on the link.
pub fn event_id(
    name: EventName,
    paylink_id: &str,
    psp_transaction_id: Option<&str>,
    skipify_transaction_id: Option<&str>,
) -> String {
    derived_event_id(&[
        super::ID,
        name.as_str(),
        paylink_id,
        psp_transaction_id.unwrap_or(""),
        skipify_transaction_id.unwrap_or(""),
    ])
}

/// The creation time inside a 24-hex-digit MongoDB ObjectId (its first four bytes, Unix
/// seconds), which is what Skipify's `orderId`s are (`65b8259b0cd7e1fc5eaf92ba` is
/// 2024-01-29T22:24:27Z).
pub fn object_id_time(id: &str) -> Option<DateTime<Utc>> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let seconds = u32::from_str_radix(id.get(..8)?, 16).ok()?;
    Utc.timestamp_opt(i64::from(seconds), 0).single()
}

fn malformed(message: impl Into<String>) -> ProviderError {
    ProviderError::MalformedPayload(message.into())
}

/// Cents of USD, refusing a negative amount.
fn usd(cents: Option<i64>, field: &str) -> Result<Option<Money>, ProviderError> {
    match cents {
        Some(cents) if cents < 0 => Err(malformed(format!("Skipify `{field}` is negative"))),
        Some(cents) => Ok(Some(Money::new(cents, Currency::Usd))),
        None => Ok(None),
    }
}

/// The sum of the charges: the event's fee. `null` is no fee reported; `[]` is a fee of 0.
fn fee(charges: Option<&[Charge]>) -> Result<Option<i64>, ProviderError> {
    let Some(charges) = charges else {
        return Ok(None);
    };
    let mut total: i64 = 0;
    for charge in charges {
        if charge.amount < 0 {
            return Err(malformed("Skipify `charges` has a negative `amount`"));
        }
        total = total
            .checked_add(charge.amount)
            .ok_or_else(|| malformed("Skipify charges add up to more than paymux can count"))?;
    }
    Ok(Some(total))
}

/// The merchant's order reference, and our checkout id when that is what it is (paymux sends
/// its checkout id as `merchantInvoiceId` when the checkout has no reference).
fn reference_and_hint(invoice_id: Option<String>) -> (Option<String>, Option<String>) {
    let reference = invoice_id.filter(|id| !id.is_empty());
    let hint = reference
        .as_deref()
        .and_then(|id| CheckoutId::parse(id).ok())
        .map(|id| id.to_string());
    (reference, hint)
}

fn insert_text(details: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        details.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// Normalizes a (verified) webhook body. Skipify's payloads say nothing about test or live
/// mode, so `livemode` is the adapter's.
/// Skipify's own samples carry a trailing comma (`"orderAmount": 112,` before `}`). A body is
/// read with such commas dropped (outside strings only), so that a delivery shaped like the
/// doc's samples is not refused for it; anything else that is not JSON stays refused.
pub fn without_trailing_commas(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut cleaned: Option<Vec<u8>> = None;
    let (mut in_string, mut escaped) = (false, false);
    for (index, &byte) in raw.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b',' {
            let next = raw[index + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                cleaned.get_or_insert_with(|| raw[..index].to_vec());
                continue;
            }
        }
        if let Some(cleaned) = cleaned.as_mut() {
            cleaned.push(byte);
        }
    }
    match cleaned {
        Some(cleaned) => std::borrow::Cow::Owned(cleaned),
        None => std::borrow::Cow::Borrowed(raw),
    }
}

pub fn parse_event(raw: &[u8], livemode: bool) -> Result<NormalizedEvent, ProviderError> {
    let envelope: IncomingEnvelope =
        read_json(&without_trailing_commas(raw), "not a Skipify webhook")?;
    let name = EventName::parse(&envelope.event_name).ok_or_else(|| {
        let names = EventName::ALL.map(EventName::as_str);
        let expected = match names.split_last() {
            Some((last, others)) => format!("{} or {last}", others.join(", ")),
            None => String::new(),
        };
        malformed(format!("unknown Skipify `eventName` (expected {expected})"))
    })?;
    let mut details = Map::new();
    insert_text(&mut details, "merchant_id", envelope.merchant_id.as_deref());
    let payload = envelope.payload;
    match name {
        EventName::OrderPaymentSucceeded | EventName::OrderPaymentFailed => {
            order_event(name, read_payload(name, payload)?, details, livemode)
        }
        EventName::PaymentRequestExpired => {
            expired_event(read_payload(name, payload)?, details, livemode)
        }
    }
}

/// The `payload` of a `name` event as its type.
fn read_payload<T: DeserializeOwned>(name: EventName, payload: Value) -> Result<T, ProviderError> {
    serde_json::from_value(payload).map_err(|error| {
        malformed(format!(
            "Skipify {} `payload`: {}",
            name.as_str(),
            json::describe_error(&error)
        ))
    })
}

/// ORDER_PAYMENT_SUCCEEDED or ORDER_PAYMENT_FAILED.
///
/// - The amount is `transactionAmount` (what was authorized, which a partial authorization
///   makes less than the order), else `orderAmount`; a success must have one.
/// - The time is `completedAt`. The doc's failure sample has none, so a failure without it is
///   dated by its `orderId` (an ObjectId: the order's creation time, a deterministic lower
///   bound); without either, the event is malformed.
fn order_event(
    name: EventName,
    payload: OrderPayload,
    mut details: Map<String, Value>,
    livemode: bool,
) -> Result<NormalizedEvent, ProviderError> {
    if payload.paylink_id.trim().is_empty() {
        return Err(malformed(format!(
            "Skipify {} has an empty `paylinkId`",
            name.as_str()
        )));
    }
    let amount = match usd(payload.transaction_amount, "transactionAmount")? {
        Some(amount) => Some(amount),
        None => usd(payload.order_amount, "orderAmount")?,
    };
    usd(payload.order_amount, "orderAmount")?;
    if amount.is_none() && name == EventName::OrderPaymentSucceeded {
        return Err(malformed(
            "Skipify ORDER_PAYMENT_SUCCEEDED has neither `transactionAmount` nor `orderAmount`",
        ));
    }
    let occurred_at = order_time(name, &payload)?;
    let fee = fee(payload.charges.as_deref())?;
    let provider_event_id = event_id(
        name,
        &payload.paylink_id,
        payload.psp_transaction_id.as_deref(),
        payload.skipify_transaction_id.as_deref(),
    );
    keep_order_details(&mut details, &payload)?;
    let (reference, checkout_hint) = reference_and_hint(payload.merchant_invoice_id);
    Ok(NormalizedEvent {
        event_type: name.event_type(),
        provider_event_id,
        provider_payment_id: Some(payload.paylink_id),
        checkout_hint,
        reference,
        amount,
        fee,
        occurred_at,
        livemode,
        details: Value::Object(details),
    })
}

/// When an order event happened: its `completedAt`, or for a failure without one the time
/// its ObjectId `orderId` holds.
fn order_time(name: EventName, payload: &OrderPayload) -> Result<DateTime<Utc>, ProviderError> {
    match (name, payload.completed_at) {
        (_, Some(completed_at)) => Ok(completed_at),
        (EventName::OrderPaymentFailed, None) => payload
            .order_id
            .as_deref()
            .and_then(object_id_time)
            .ok_or_else(|| {
                malformed(
                    "Skipify ORDER_PAYMENT_FAILED has no `completedAt` and no ObjectId \
                     `orderId` to date it by",
                )
            }),
        (_, None) => Err(malformed(format!(
            "Skipify {} has no `completedAt`",
            name.as_str()
        ))),
    }
}

/// What an order event's details keep of its payload.
fn keep_order_details(
    details: &mut Map<String, Value>,
    payload: &OrderPayload,
) -> Result<(), ProviderError> {
    insert_text(details, "order_id", payload.order_id.as_deref());
    insert_text(
        details,
        "psp_transaction_id",
        payload.psp_transaction_id.as_deref(),
    );
    insert_text(
        details,
        "skipify_transaction_id",
        payload.skipify_transaction_id.as_deref(),
    );
    insert_text(details, "card_brand", payload.card_brand.as_deref());
    insert_text(details, "card_last_four", payload.card_last_four.as_deref());
    if let Some(flag) = payload.is_partial_authorization {
        details.insert("is_partial_authorization".to_owned(), flag.into());
    }
    if let Some(flag) = payload.is_split_payment {
        details.insert("is_split_payment".to_owned(), flag.into());
    }
    if let Some(cents) = payload.order_amount {
        details.insert("order_amount".to_owned(), cents.into());
    }
    if let Some(charges) = &payload.charges {
        let charges = serde_json::to_value(charges).map_err(|error| {
            malformed(format!(
                "Skipify `charges`: {}",
                json::describe_error(&error)
            ))
        })?;
        details.insert("charges".to_owned(), charges);
    }
    Ok(())
}

/// PAYMENT_REQUEST_EXPIRED: the link's `total`, dated by its `expiration`, which the doc's
/// sample always carries.
fn expired_event(
    payload: ExpiredPayload,
    details: Map<String, Value>,
    livemode: bool,
) -> Result<NormalizedEvent, ProviderError> {
    let name = EventName::PaymentRequestExpired;
    if payload.paylink_id.trim().is_empty() {
        return Err(malformed(
            "Skipify PAYMENT_REQUEST_EXPIRED has an empty `paylinkId`",
        ));
    }
    let occurred_at = payload
        .expiration
        .ok_or_else(|| malformed("Skipify PAYMENT_REQUEST_EXPIRED has no `expiration`"))?;
    let amount = usd(payload.total, "total")?;
    let provider_event_id = event_id(name, &payload.paylink_id, None, None);
    let (reference, checkout_hint) = reference_and_hint(payload.merchant_invoice_id);
    Ok(NormalizedEvent {
        event_type: name.event_type(),
        provider_event_id,
        provider_payment_id: Some(payload.paylink_id),
        checkout_hint,
        reference,
        amount,
        fee: None,
        occurred_at,
        livemode,
        details: Value::Object(details),
    })
}

#[cfg(test)]
mod trailing_comma_tests {
    use super::without_trailing_commas;

    #[test]
    fn trailing_commas_are_dropped_outside_strings_only() {
        let doc_like = br#"{"payload": {"orderAmount": 112,
}, "list": [1, 2, ], "text": "a, }"}"#;
        let cleaned = without_trailing_commas(doc_like);
        let value: serde_json::Value = serde_json::from_slice(&cleaned).unwrap();
        assert_eq!(value["payload"]["orderAmount"], 112);
        assert_eq!(value["list"], serde_json::json!([1, 2]));
        assert_eq!(value["text"], "a, }");
        let valid = br#"{"a": "x\", ]"}"#;
        assert!(matches!(
            without_trailing_commas(valid),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Customer, LineItem};
    use crate::test_support::{CHECKOUT_ID, refused_param};
    use serde_json::json;

    // The doc's three samples with their `//` comments stripped. The only other change, which
    // JSON requires: the comma after `"orderAmount": 112` (the payload's last member) is removed
    // in the ORDER_PAYMENT_SUCCEEDED and ORDER_PAYMENT_FAILED samples. The
    // PAYMENT_REQUEST_EXPIRED sample needed no fix.
    const SUCCEEDED: &str = include_str!("fixtures/order_payment_succeeded.json");
    const FAILED: &str = include_str!("fixtures/order_payment_failed.json");
    const EXPIRED: &str = include_str!("fixtures/payment_request_expired.json");

    const PAYLINK_ID: &str = "70ca1c7c-f483-42a5-9147-99ea858f8568";
    const MERCHANT_ID: &str = "c1brc8b60-6dd4-4136-88e1-c9e5b670f1ca0";

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn now() -> DateTime<Utc> {
        at("2026-05-08T18:42:11Z")
    }

    fn parse(body: &str) -> Result<NormalizedEvent, ProviderError> {
        parse_event(body.as_bytes(), false)
    }

    /// A sample with `edit` applied.
    fn edited(sample: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut body: Value = serde_json::from_str(sample).unwrap();
        edit(&mut body);
        body.to_string()
    }

    fn malformed_message(body: &str) -> String {
        match parse(body) {
            Err(ProviderError::MalformedPayload(message)) => message,
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }

    #[test]
    fn the_succeeded_sample_is_a_112_cent_payment_with_a_fee_of_22() {
        let event = parse(SUCCEEDED).unwrap();
        assert_eq!(
            event,
            NormalizedEvent {
                event_type: EventType::PaymentSucceeded,
                provider_event_id: derived_event_id(&[
                    "skipify",
                    "ORDER_PAYMENT_SUCCEEDED",
                    PAYLINK_ID,
                    "35472160",
                    "27c3ac7c-db62-4661-9ccc-287573e50568",
                ]),
                provider_payment_id: Some(PAYLINK_ID.into()),
                checkout_hint: None,
                reference: Some("MYumberABC123 20240130".into()),
                amount: Some(Money::new(112, Currency::Usd)),
                fee: Some(22),
                occurred_at: at("2024-01-31T18:24:00Z"),
                livemode: false,
                details: json!({
                    "merchant_id": MERCHANT_ID,
                    "order_id": "65b8259b0cd7e1fc5eaf92ba",
                    "psp_transaction_id": "35472160",
                    "skipify_transaction_id": "27c3ac7c-db62-4661-9ccc-287573e50568",
                    "card_brand": "amex",
                    "card_last_four": "0005",
                    "is_partial_authorization": false,
                    "is_split_payment": false,
                    "order_amount": 112,
                    "charges": [
                        { "type": "SURCHARGE_FEE", "amount": 10 },
                        { "type": "GENERAL_FEE", "amount": 12 },
                    ],
                }),
            }
        );
        assert!(parse_event(SUCCEEDED.as_bytes(), true).unwrap().livemode);
    }

    #[test]
    fn the_failed_sample_is_a_failure_dated_by_its_order_id() {
        let event = parse(FAILED).unwrap();
        assert_eq!(event.event_type, EventType::PaymentFailed);
        assert_eq!(event.amount, Some(Money::new(112, Currency::Usd)));
        assert_eq!(event.fee, Some(22));
        assert_eq!(event.provider_payment_id.as_deref(), Some(PAYLINK_ID));
        assert_eq!(
            event.reference.as_deref(),
            Some("MYMerchantOrderNumberABC123 20240130")
        );
        // No `completedAt` in the sample: the ObjectId's time, 0x65b8259b seconds.
        assert_eq!(event.occurred_at, at("2024-01-29T22:24:27Z"));
        assert_eq!(event.details["card_brand"], "amex");
        assert!(event.details.get("is_partial_authorization").is_none());
        // Same transaction ids as the success sample, another event.
        assert_ne!(
            event.provider_event_id,
            parse(SUCCEEDED).unwrap().provider_event_id
        );
        // A `completedAt`, when sent, wins.
        let dated = edited(FAILED, |body| {
            body["payload"]["completedAt"] = json!("2024-01-31T18:25:00.000Z");
        });
        assert_eq!(
            parse(&dated).unwrap().occurred_at,
            at("2024-01-31T18:25:00Z")
        );
    }

    #[test]
    fn the_expired_sample_expires_a_51_cent_link() {
        let event = parse(EXPIRED).unwrap();
        assert_eq!(
            event,
            NormalizedEvent {
                event_type: EventType::PaymentExpired,
                provider_event_id: derived_event_id(&[
                    "skipify",
                    "PAYMENT_REQUEST_EXPIRED",
                    PAYLINK_ID,
                    "",
                    "",
                ]),
                provider_payment_id: Some(PAYLINK_ID.into()),
                checkout_hint: None,
                reference: Some("MYMerchantOrderNumberABC123 20240129 150335".into()),
                amount: Some(Money::new(51, Currency::Usd)),
                fee: None,
                occurred_at: at("2024-01-31T18:24:00Z"),
                livemode: false,
                details: json!({ "merchant_id": MERCHANT_ID }),
            }
        );
    }

    #[test]
    fn event_ids_are_stable_across_redeliveries_and_differ_per_attempt() {
        assert_eq!(
            parse(SUCCEEDED).unwrap().provider_event_id,
            parse(SUCCEEDED).unwrap().provider_event_id
        );
        // Re-serialized (other spacing and member order), still the same event.
        let reordered = edited(SUCCEEDED, |_| {});
        assert_eq!(
            parse(&reordered).unwrap().provider_event_id,
            parse(SUCCEEDED).unwrap().provider_event_id
        );
        let other_attempt = edited(FAILED, |body| {
            body["payload"]["pspTransactionId"] = json!("35472161");
        });
        assert_ne!(
            parse(&other_attempt).unwrap().provider_event_id,
            parse(FAILED).unwrap().provider_event_id
        );
        let without_ids = edited(FAILED, |body| {
            let payload = body["payload"].as_object_mut().unwrap();
            payload.remove("pspTransactionId");
            payload.remove("skipifyTransactionId");
        });
        assert_eq!(
            parse(&without_ids).unwrap().provider_event_id,
            event_id(EventName::OrderPaymentFailed, PAYLINK_ID, None, None)
        );
    }

    #[test]
    fn null_charges_are_no_fee_and_an_empty_list_a_fee_of_zero() {
        let no_charges = edited(SUCCEEDED, |body| body["payload"]["charges"] = Value::Null);
        let event = parse(&no_charges).unwrap();
        assert_eq!(event.fee, None);
        assert!(event.details.get("charges").is_none());
        let absent = edited(SUCCEEDED, |body| {
            body["payload"].as_object_mut().unwrap().remove("charges");
        });
        assert_eq!(parse(&absent).unwrap().fee, None);
        let empty = edited(SUCCEEDED, |body| body["payload"]["charges"] = json!([]));
        let event = parse(&empty).unwrap();
        assert_eq!(event.fee, Some(0));
        assert_eq!(event.details["charges"], json!([]));
    }

    #[test]
    fn charges_that_overflow_or_are_negative_are_malformed() {
        let overflow = edited(SUCCEEDED, |body| {
            body["payload"]["charges"] = json!([
                { "type": "A", "amount": i64::MAX },
                { "type": "B", "amount": 1 },
            ]);
        });
        assert!(malformed_message(&overflow).contains("more than paymux can count"));
        let negative = edited(SUCCEEDED, |body| {
            body["payload"]["charges"] = json!([{ "type": "DISCOUNT", "amount": -5 }]);
        });
        assert!(malformed_message(&negative).contains("negative"));
        let fractional = edited(SUCCEEDED, |body| {
            body["payload"]["charges"] = json!([{ "type": "A", "amount": 1.5 }]);
        });
        malformed_message(&fractional);
    }

    #[test]
    fn a_partial_authorization_records_the_amount_authorized() {
        let partial = edited(SUCCEEDED, |body| {
            body["payload"]["transactionAmount"] = json!(100);
            body["payload"]["isPartialAuthorization"] = json!(true);
        });
        let event = parse(&partial).unwrap();
        assert_eq!(event.amount, Some(Money::new(100, Currency::Usd)));
        assert_eq!(event.details["order_amount"], 112);
        assert_eq!(event.details["is_partial_authorization"], true);
        let order_amount_only = edited(SUCCEEDED, |body| {
            body["payload"]
                .as_object_mut()
                .unwrap()
                .remove("transactionAmount");
        });
        assert_eq!(
            parse(&order_amount_only).unwrap().amount,
            Some(Money::new(112, Currency::Usd))
        );
    }

    #[test]
    fn our_checkout_id_as_invoice_id_is_a_checkout_hint() {
        let ours = edited(SUCCEEDED, |body| {
            body["payload"]["merchantInvoiceId"] =
                json!(CHECKOUT_ID.to_ascii_uppercase().replacen("CHK_", "chk_", 1));
        });
        let event = parse(&ours).unwrap();
        assert_eq!(event.checkout_hint.as_deref(), Some(CHECKOUT_ID));
        let expired = edited(EXPIRED, |body| {
            body["payload"]["merchantInvoiceId"] = json!(CHECKOUT_ID);
        });
        assert_eq!(
            parse(&expired).unwrap().checkout_hint.as_deref(),
            Some(CHECKOUT_ID)
        );
        let empty = edited(SUCCEEDED, |body| {
            body["payload"]["merchantInvoiceId"] = json!("")
        });
        let event = parse(&empty).unwrap();
        assert_eq!((event.reference, event.checkout_hint), (None, None));
    }

    #[test]
    fn the_secret_never_reaches_the_event() {
        for sample in [SUCCEEDED, FAILED, EXPIRED] {
            let event = parse(sample).unwrap();
            assert!(!format!("{event:?}").contains("abd12345"));
        }
    }

    #[test]
    fn unknown_events_and_broken_bodies_are_refused_with_the_reason() {
        let unknown = edited(SUCCEEDED, |body| {
            body["eventName"] = json!("ORDER_REFUNDED")
        });
        assert_eq!(
            malformed_message(&unknown),
            "unknown Skipify `eventName` (expected ORDER_PAYMENT_SUCCEEDED, ORDER_PAYMENT_FAILED \
             or PAYMENT_REQUEST_EXPIRED)"
        );
        let lower = edited(SUCCEEDED, |body| {
            body["eventName"] = json!("order_payment_succeeded");
        });
        assert!(malformed_message(&lower).contains("unknown Skipify `eventName`"));
        for (sample, edit, needle) in [
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| {
                    b.as_object_mut().unwrap().remove("eventName");
                }) as Box<dyn FnOnce(&mut Value)>,
                "eventName",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| {
                    b.as_object_mut().unwrap().remove("payload");
                }),
                "payload",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| {
                    b["payload"].as_object_mut().unwrap().remove("paylinkId");
                }),
                "paylinkId",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| b["payload"]["paylinkId"] = json!(" ")),
                "paylinkId",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| {
                    b["payload"].as_object_mut().unwrap().remove("completedAt");
                }),
                "completedAt",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| b["payload"]["completedAt"] = json!("yesterday")),
                "ORDER_PAYMENT_SUCCEEDED `payload`: invalid value",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| b["payload"]["transactionAmount"] = json!(-1)),
                "negative",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| b["payload"]["transactionAmount"] = json!(1.12)),
                "ORDER_PAYMENT_SUCCEEDED `payload`: invalid type, expected i64",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| b["payload"]["transactionAmount"] = json!("112")),
                "ORDER_PAYMENT_SUCCEEDED `payload`: invalid type, expected i64",
            ),
            (
                SUCCEEDED,
                Box::new(|b: &mut Value| {
                    let payload = b["payload"].as_object_mut().unwrap();
                    payload.remove("transactionAmount");
                    payload.remove("orderAmount");
                }),
                "neither",
            ),
            (
                FAILED,
                Box::new(|b: &mut Value| b["payload"]["orderId"] = json!("not-an-object-id")),
                "completedAt",
            ),
            (
                EXPIRED,
                Box::new(|b: &mut Value| {
                    b["payload"].as_object_mut().unwrap().remove("expiration");
                }),
                "expiration",
            ),
            (
                EXPIRED,
                Box::new(|b: &mut Value| b["payload"]["total"] = json!(-51)),
                "negative",
            ),
        ] {
            let body = edited(sample, edit);
            let message = malformed_message(&body);
            assert!(message.contains(needle), "{needle}: {message}");
        }
        for junk in ["", "{not json", "[]", "null", r#"{"eventName": 5}"#] {
            malformed_message(junk);
        }
    }

    #[test]
    fn object_id_times_are_read_from_the_first_four_bytes() {
        assert_eq!(
            object_id_time("65b8259b0cd7e1fc5eaf92ba"),
            Some(at("2024-01-29T22:24:27Z"))
        );
        assert_eq!(
            object_id_time("00000000ffffffffffffffff"),
            Some(at("1970-01-01T00:00:00Z"))
        );
        for bad in [
            "",
            "65b8259b",
            "65b8259b0cd7e1fc5eaf92bz",
            "65b8259b0cd7e1fc5eaf92ba0",
            "+5b8259b0cd7e1fc5eaf92ba",
        ] {
            assert_eq!(object_id_time(bad), None, "{bad}");
        }
    }

    fn minimal_request() -> CheckoutRequest {
        CheckoutRequest::example(Money::new(112, Currency::Usd))
    }

    fn accepted(request: &CheckoutRequest) -> CreatePaylink {
        CreatePaylink::from_checkout(request, MERCHANT_ID, now()).unwrap()
    }

    fn refused(request: &CheckoutRequest) -> String {
        refused_param(CreatePaylink::from_checkout(request, MERCHANT_ID, now()))
    }

    #[test]
    fn a_minimal_checkout_sends_our_id_as_the_invoice_id() {
        let body = serde_json::to_value(accepted(&minimal_request())).unwrap();
        assert_eq!(
            body,
            json!({ "merchantId": MERCHANT_ID, "merchantInvoiceId": CHECKOUT_ID, "total": 112 })
        );
    }

    #[test]
    fn a_full_checkout_sends_reference_customer_items_and_expiration() {
        let mut request = minimal_request();
        request.reference = Some("order-5821".into());
        request.description = Some("Order #5821".into());
        request.expires_at = Some(at("2026-05-09T18:42:11.5Z"));
        request.customer = Some(Customer {
            name: Some("Alice Brown".into()),
            email: Some("alice@example.com".into()),
            phone: Some("+18695551234".into()),
            address: None,
        });
        request.items = vec![
            LineItem {
                name: "Hoodie".into(),
                quantity: 2,
                unit_amount: 50,
            },
            LineItem {
                name: "Sticker".into(),
                quantity: 1,
                unit_amount: 0,
            },
        ];
        request.provider_options = Some(json!({}));
        let body = serde_json::to_value(accepted(&request)).unwrap();
        assert_eq!(
            body,
            json!({
                "merchantId": MERCHANT_ID,
                "merchantInvoiceId": "order-5821",
                "total": 112,
                "description": "Order #5821",
                "expiration": "2026-05-09T18:42:11.500Z",
                "customer": {
                    "name": "Alice Brown",
                    "email": "alice@example.com",
                    "phone": "+18695551234",
                },
                "lineItems": [
                    { "description": "Hoodie", "quantity": 2, "price": 50 },
                    { "description": "Sticker", "quantity": 1, "price": 0 },
                ],
            })
        );
        // A customer with nothing in it is left out.
        request.customer = Some(Customer::default());
        assert_eq!(accepted(&request).customer, None);
    }

    #[test]
    fn only_positive_usd_totals_are_accepted() {
        let mut request = minimal_request();
        request.amount = Money::new(112, Currency::Xcd);
        assert_eq!(refused(&request), "currency");
        for cents in [0, -1] {
            request.amount = Money::new(cents, Currency::Usd);
            assert_eq!(refused(&request), "amount");
        }
        request.amount = Money::new(1, Currency::Usd);
        assert_eq!(accepted(&request).total, 1);
    }

    #[test]
    fn other_fields_are_checked_and_named() {
        let mut request = minimal_request();
        request.reference = Some("é".repeat(255));
        accepted(&request);
        request.reference = Some("é".repeat(256));
        assert_eq!(refused(&request), "reference");

        let mut request = minimal_request();
        request.expires_at = Some(now());
        assert_eq!(refused(&request), "expires_at");

        let item = |name: &str, quantity: u32, unit_amount: i64| LineItem {
            name: name.into(),
            quantity,
            unit_amount,
        };
        for (bad, param) in [
            (item(" ", 1, 1), "items[1].name"),
            (item("x", 0, 1), "items[1].quantity"),
            (item("x", 1, -1), "items[1].unit_amount"),
        ] {
            let mut request = minimal_request();
            request.items = vec![item("ok", 1, 1), bad];
            assert_eq!(refused(&request), param);
        }

        for (options, param) in [
            (
                json!({ "sendEmail": true }),
                "provider_options.skipify.sendEmail",
            ),
            (json!(["x"]), "provider_options.skipify"),
        ] {
            let mut request = minimal_request();
            request.provider_options = Some(options);
            assert_eq!(refused(&request), param);
        }
    }

    #[test]
    fn created_paylinks_map_to_open_checkouts() {
        let body = json!({
            "paylinkId": "113ad60b-6c4d-41b5-b4f7-3b2444ebdd25",
            "link": "https://stagecheckout.skipify.com/paylink/process/113ad60b-6c4d-41b5-b4f7-3b2444ebdd25",
            "shortLink": "https://pl-stage.skipify.com/CF62Yt3",
            "merchantInvoiceId": "your unique value",
            "currencyCode": "USD",
            "total": 2222,
            "expiration": "2025-05-22T21:44:00.000Z",
        });
        let created = PaylinkCreated::from_body(body.to_string().as_bytes())
            .unwrap()
            .into_created_checkout(false, None)
            .unwrap();
        let paylink_id = "113ad60b-6c4d-41b5-b4f7-3b2444ebdd25";
        let link = format!("https://stagecheckout.skipify.com/paylink/process/{paylink_id}");
        let expires_at = Some(at("2025-05-22T21:44:00Z"));
        let expected = CreatedCheckout::hosted(Some(paylink_id.into()), link, false, expires_at);
        assert_eq!(created, expected);
        // An unreadable expiration is not worth losing the link over: ours is used.
        let body = json!({ "paylinkId": "p1", "link": "https://x.example/p1", "expiration": 5 });
        let created = PaylinkCreated::from_body(body.to_string().as_bytes())
            .unwrap()
            .into_created_checkout(true, Some(now()))
            .unwrap();
        assert_eq!((created.livemode, created.expires_at), (true, Some(now())));
    }

    #[test]
    fn answers_without_an_id_or_a_web_link_are_malformed() {
        for body in [
            json!({ "link": "https://x.example/p" }),
            json!({ "paylinkId": "p1" }),
            json!({ "paylinkId": "", "link": "https://x.example/p" }),
            json!({ "paylinkId": "p1", "link": "javascript:alert(1)" }),
            json!({ "paylinkId": "p1", "link": "not a url" }),
            json!({ "paylinkId": 5, "link": "https://x.example/p" }),
        ] {
            let result = PaylinkCreated::from_body(body.to_string().as_bytes())
                .and_then(|created| created.into_created_checkout(false, None));
            assert!(
                matches!(result, Err(ProviderError::MalformedPayload(_))),
                "{body}: {result:?}"
            );
        }
    }

    #[test]
    fn error_messages_are_found_in_the_usual_places() {
        for (body, expected) in [
            (r#"{"message": "total is required"}"#, "total is required"),
            (r#"{"error": "Unauthorized"}"#, "Unauthorized"),
            (r#"{"error": {"message": "bad merchant"}}"#, "bad merchant"),
            (
                r#"{"errors": ["total is required", {"message": "merchantId is required"}]}"#,
                "total is required; merchantId is required",
            ),
            (r#"{"statusCode": 500}"#, r#"{"statusCode": 500}"#),
            ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
            ("", "no error message"),
        ] {
            assert_eq!(error_message(body.as_bytes()), expected, "{body}");
        }
        let long = "é".repeat(600);
        assert_eq!(
            error_message(long.as_bytes()),
            "é".repeat(crate::http::MAX_RAW_ERROR_CHARS)
        );
    }

    #[test]
    fn the_outgoing_envelope_round_trips_through_the_parser_in_the_docs_order() {
        let payload = OrderPayload {
            psp_transaction_id: Some("35472160".into()),
            merchant_invoice_id: Some("MYumberABC123 20240130".into()),
            paylink_id: PAYLINK_ID.into(),
            completed_at: Some(at("2024-01-31T18:24:00Z")),
            psp_raw_response: Some(json!("<CreditSaleResponse.....")),
            transaction_amount: Some(112),
            charges: Some(vec![
                Charge {
                    kind: Some("SURCHARGE_FEE".into()),
                    amount: 10,
                },
                Charge {
                    kind: Some("GENERAL_FEE".into()),
                    amount: 12,
                },
            ]),
            skipify_transaction_id: Some("27c3ac7c-db62-4661-9ccc-287573e50568".into()),
            is_partial_authorization: Some(false),
            card_brand: Some("amex".into()),
            card_last_four: Some("0005".into()),
            is_split_payment: Some(false),
            order_id: Some("65b8259b0cd7e1fc5eaf92ba".into()),
            order_amount: Some(112),
        };
        let envelope = OutgoingEnvelope {
            event_name: "ORDER_PAYMENT_SUCCEEDED",
            merchant_id: MERCHANT_ID,
            payload,
            manual_retry_id: None,
            merchant_set: MerchantSet {
                merchant_id: MERCHANT_ID.into(),
                merchant_name: "THE BEST MERCHANT".into(),
                merchant_industry: "RESTAURANT".into(),
                top_level_merchant_id: None,
                parent_merchant: None,
                direct_lineage: vec![
                    "c1df84e3-3a1b-489a-9758-e071ad61e8ea".into(),
                    "45961295-3540-43cd-82d1-0f09d0aec192".into(),
                ],
            },
            secret: "abd12345",
        };
        let written = serde_json::to_string(&envelope).unwrap();
        // Byte for byte the doc's sample, but for whitespace.
        let compact: String = SUCCEEDED
            .lines()
            .map(str::trim)
            .collect::<String>()
            .replace("\": ", "\":")
            .replace(", ", ",")
            .replace("{ ", "{")
            .replace(" }", "}");
        assert_eq!(written, compact);
        assert_eq!(parse(&written).unwrap(), parse(SUCCEEDED).unwrap());
        // `charges: null` is written, not left out.
        let mut no_charges: OrderPayload =
            serde_json::from_str(&serde_json::to_string(&envelope.payload).unwrap()).unwrap();
        no_charges.charges = None;
        let text = serde_json::to_string(&no_charges).unwrap();
        assert!(text.contains(r#""charges":null"#), "{text}");
    }
}
