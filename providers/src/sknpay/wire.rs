//! SKN Pay's wire format, exactly as its API doc shows it (`shared/providers/sknpay.txt`), and
//! the conversions between it and paymux's unified model. No I/O happens here: building a
//! request, checking it against SKN Pay's documented limits and reading a response or an event
//! are plain functions, tested against the doc's own samples (`fixtures/`).
//!
//! Responses are read tolerantly (unknown fields are ignored, undocumented ones are optional)
//! but the fields paymux acts on must be there with the documented type, or the body is a
//! [`ProviderError::MalformedPayload`].

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use paymux_domain::RefundStatus;
use paymux_domain::{CheckoutStatus, Currency, EventType, Money, NormalizedEvent};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

use crate::model::{
    Address, CheckoutRequest, CreatedCheckout, ProviderCheckout, ProviderRefund, RefundRequest,
};
use crate::{ProviderError, checks, rules};

/// The currencies SKN Pay charges in.
pub const CURRENCIES: [Currency; 2] = [Currency::Usd, Currency::Xcd];
/// The smallest amount SKN Pay accepts, in minor units (its error sample: "Amount must be at
/// least 100 minor units.").
pub const MIN_AMOUNT: i64 = 100;
/// The largest amount SKN Pay accepts, in minor units.
pub const MAX_AMOUNT: i64 = 99_999_999;
/// `metadata` may be at most this many bytes once serialized.
pub const MAX_METADATA_BYTES: usize = 4096;
/// `expires_at` may be at most this far ahead.
pub const MAX_EXPIRY: TimeDelta = TimeDelta::days(30);
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_REFERENCE_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_PHONE_CHARS: usize = 40;
pub const MAX_SUCCESS_MESSAGE_CHARS: usize = 500;
/// The metadata key carrying our checkout id, which SKN Pay echoes on every webhook, so an
/// event finds its checkout even before the payment id is stored.
pub const CHECKOUT_ID_METADATA_KEY: &str = "paymux_checkout_id";
/// The keys a merchant may pass in `provider_options.sknpay`.
pub const PROVIDER_OPTIONS: [&str; 3] = [
    "billing_address_collection",
    "phone_number_collection",
    "success_message",
];

/// What SKN Pay requires of a checkout ([`crate::rules`]), from the limits above.
pub fn checkout_rules() -> Value {
    let text = |max| rules::max_chars(max);
    // Not on sknpay.com or a subdomain (past any user info, before any port), in any case.
    let own_host = "(?!(?:[^/?#@]*@)?(?:[^/?#@:]*\\.)?[sS][kK][nN][pP][aA][yY]\\.[cC][oO][mM]\\.?(?::[0-9]*)?(?:[/?#]|(?![\\s\\S])))";
    let return_url = json!({ "pattern": rules::return_url(true, own_host) });
    let collection = rules::schema_of::<FieldCollection>();
    let mut checkout = json!({
        "title": "SKN Pay",
        "description": format!(
            "SKN Pay: `expires_at` at most {} days ahead; `metadata` at most \
             {MAX_METADATA_BYTES} bytes serialized, with the `{CHECKOUT_ID_METADATA_KEY}` \
             paymux adds.",
            MAX_EXPIRY.num_days()
        ),
        "properties": {
            "currency": rules::currencies(&CURRENCIES),
            "amount": { "minimum": MIN_AMOUNT, "maximum": MAX_AMOUNT },
            "description": text(MAX_DESCRIPTION_CHARS),
            "reference": text(MAX_REFERENCE_CHARS),
            "customer": { "properties": {
                "email": text(MAX_EMAIL_CHARS),
                "name": text(MAX_NAME_CHARS),
                "phone": text(MAX_PHONE_CHARS),
                "address": { "properties": {
                    "country": { "pattern": format!("^[A-Za-z]{{2}}{}", rules::END) },
                } },
            } },
            "success_url": return_url,
            "cancel_url": return_url,
            "metadata": { "properties": { CHECKOUT_ID_METADATA_KEY: false } },
        },
    });
    checkout["properties"]["provider_options"] = rules::options(
        super::ID,
        rules::options_object(vec![
            ("billing_address_collection", collection.clone()),
            ("phone_number_collection", collection),
            (
                "success_message",
                json!({ "type": "string", "maxLength": MAX_SUCCESS_MESSAGE_CHARS }),
            ),
        ]),
    );
    checkout
}

/// `POST /payments`: a hosted payment link to create. Absent fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreatePayment {
    /// Minor units. The doc allows omitting it for an open-amount link; paymux always sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_address: Option<CustomerAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address_collection: Option<FieldCollection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_collection: Option<FieldCollection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_message: Option<String>,
    /// Serialized as RFC 3339 in UTC (`2026-05-15T18:00:00Z`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// `customer_address`: pre-fills the hosted page's billing address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Whether the hosted page shows a field: the per-link override of the merchant's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldCollection {
    /// Inherit the merchant's setting (SKN Pay's default).
    Auto,
    Required,
    Never,
}

/// A payment link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Active; the customer has not paid yet (also after a declined attempt).
    Open,
    Succeeded,
    Canceled,
    Expired,
}

impl PaymentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Expired => "expired",
        }
    }

    pub const fn checkout_status(self) -> CheckoutStatus {
        match self {
            PaymentStatus::Open => CheckoutStatus::Open,
            PaymentStatus::Succeeded => CheckoutStatus::Succeeded,
            PaymentStatus::Canceled => CheckoutStatus::Canceled,
            PaymentStatus::Expired => CheckoutStatus::Expired,
        }
    }
}

/// The payment object: what create, retrieve and cancel return, and what every event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// Always `"payment"` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub id: String,
    pub livemode: bool,
    /// The hosted page to send the customer to.
    #[serde(default)]
    pub url: Option<String>,
    /// Minor units; absent on an open-amount link.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    pub status: PaymentStatus,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default)]
    pub success_url: Option<String>,
    #[serde(default)]
    pub cancel_url: Option<String>,
    /// The merchant's metadata; anything but an object (`null`, or `[]` as some encoders write
    /// an empty map) reads as none rather than making the whole payment unreadable.
    #[serde(default, deserialize_with = "object_or_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Not in the doc's sample: read when present (the refunded total on `payment.refunded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_refunded: Option<i64>,
    /// Not in the doc's sample: read when present (why the last attempt was declined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

fn object_or_none<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Map<String, Value>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(members) => Some(members),
        _ => None,
    })
}

/// The event types SKN Pay sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    /// The last attempt was declined; the link stays open.
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.canceled")]
    PaymentCanceled,
    /// A full or partial refund was posted.
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
}

impl EventKind {
    pub const fn event_type(self) -> EventType {
        match self {
            EventKind::PaymentSucceeded => EventType::PaymentSucceeded,
            EventKind::PaymentFailed => EventType::PaymentFailed,
            EventKind::PaymentCanceled => EventType::PaymentCanceled,
            EventKind::PaymentRefunded => EventType::PaymentRefunded,
        }
    }
}

/// The webhook envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…`: the same id on every redelivery, so paymux dedupes on it.
    pub id: String,
    /// Always `"event"` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The payment, in the same shape as `GET /payments/{id}`.
    pub object: Payment,
}

/// `POST /refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRefund {
    pub payment_id: String,
    /// Minor units. SKN Pay refunds the rest when it is omitted; paymux always sends it, so a
    /// refund is never larger than the amount paymux recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// What `POST /refunds` answers. The doc does not show it, so every field is optional and a
/// body without them is still a refund the provider accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundResponse {
    pub id: Option<String>,
    pub object: Option<String>,
    pub status: Option<String>,
}

/// The body of every non-2xx answer: `{"error": "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

// ---------------------------------------------------------------------------------------------
// Ours → SKN Pay
// ---------------------------------------------------------------------------------------------

impl CreatePayment {
    /// Checks `request` against every limit SKN Pay documents and builds the body of
    /// `POST /payments`. The refusal names the offending field of the unified request
    /// (`amount`, `customer.email`, `provider_options.sknpay.success_message`, …), so the
    /// storefront learns what to fix before anything is sent. `now` is the clock `expires_at`
    /// is checked against.
    pub fn from_checkout(
        request: &CheckoutRequest,
        now: DateTime<Utc>,
    ) -> Result<CreatePayment, ProviderError> {
        let amount = request.amount;
        if !(MIN_AMOUNT..=MAX_AMOUNT).contains(&amount.minor) {
            return Err(ProviderError::invalid(
                format!(
                    "SKN Pay accepts amounts from {MIN_AMOUNT} to {MAX_AMOUNT} minor units, got {}",
                    amount.minor
                ),
                "amount",
            ));
        }
        checks::currency(amount, "SKN Pay", &CURRENCIES)?;
        let description = bounded(
            request.description.as_deref(),
            MAX_DESCRIPTION_CHARS,
            "description",
        )?;
        let reference = bounded(
            request.reference.as_deref(),
            MAX_REFERENCE_CHARS,
            "reference",
        )?;
        let customer = request.customer.clone().unwrap_or_default();
        let customer_email = bounded(customer.email.as_deref(), MAX_EMAIL_CHARS, "customer.email")?;
        let customer_name = bounded(customer.name.as_deref(), MAX_NAME_CHARS, "customer.name")?;
        let customer_phone = bounded(customer.phone.as_deref(), MAX_PHONE_CHARS, "customer.phone")?;
        let customer_address = customer
            .address
            .as_ref()
            .map(address)
            .transpose()?
            .flatten();
        let success_url = return_url(request.success_url.as_ref(), "success_url")?;
        let cancel_url = return_url(request.cancel_url.as_ref(), "cancel_url")?;
        let expires_at = request
            .expires_at
            .map(|expires_at| expiry(expires_at, now))
            .transpose()?;
        let metadata = metadata(request)?;
        let options = ProviderOptions::parse(request.provider_options.as_ref())?;
        Ok(CreatePayment {
            amount: Some(amount.minor),
            currency: Some(amount.currency.code().to_owned()),
            description,
            customer_email,
            customer_name,
            customer_phone,
            customer_address,
            billing_address_collection: options.billing_address_collection,
            phone_number_collection: options.phone_number_collection,
            reference,
            success_url,
            cancel_url,
            success_message: options.success_message,
            expires_at,
            metadata: Some(metadata),
        })
    }
}

/// `value`, refused when it is longer than `max` characters ([`checks::bounded`]).
fn bounded(value: Option<&str>, max: usize, param: &str) -> Result<Option<String>, ProviderError> {
    checks::bounded(value, max, param, "SKN Pay")
}

/// The address, or `None` when it has no field at all (nothing to pre-fill).
fn address(address: &Address) -> Result<Option<CustomerAddress>, ProviderError> {
    let country = checks::country_code(address.country.as_deref(), "KN")?;
    let address = CustomerAddress {
        line1: address.line1.clone(),
        line2: address.line2.clone(),
        city: address.city.clone(),
        state: address.state.clone(),
        postal_code: address.postal_code.clone(),
        country,
    };
    Ok((address != CustomerAddress::default()).then_some(address))
}

/// A `success_url` or `cancel_url`: https only, and never on SKN Pay's own domains, which SKN
/// Pay refuses as self-redirects.
fn return_url(url: Option<&Url>, param: &str) -> Result<Option<String>, ProviderError> {
    let Some(url) = url else {
        return Ok(None);
    };
    if url.scheme() != "https" {
        return Err(ProviderError::invalid(
            format!("{param} must be an https:// URL for SKN Pay"),
            param,
        ));
    }
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(ProviderError::invalid(
            format!("{param} must name a host"),
            param,
        ));
    }
    if host == "sknpay.com" || host.ends_with(".sknpay.com") {
        return Err(ProviderError::invalid(
            format!("{param} must be on a host you control, not on sknpay.com"),
            param,
        ));
    }
    Ok(Some(url.to_string()))
}

/// `expires_at`, which SKN Pay wants in the future and at most 30 days ahead.
fn expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, ProviderError> {
    if expires_at <= now {
        return Err(ProviderError::invalid(
            "expires_at must be in the future",
            "expires_at",
        ));
    }
    let latest = now.checked_add_signed(MAX_EXPIRY);
    if latest.is_some_and(|latest| expires_at > latest) {
        return Err(ProviderError::invalid(
            "expires_at must be at most 30 days ahead for SKN Pay",
            "expires_at",
        ));
    }
    Ok(expires_at)
}

/// The merchant's metadata plus our checkout id, within SKN Pay's 4 KB.
fn metadata(request: &CheckoutRequest) -> Result<Map<String, Value>, ProviderError> {
    let checkout_id = request.checkout_id.to_string();
    let mut metadata = request.metadata.clone().unwrap_or_default();
    match metadata.get(CHECKOUT_ID_METADATA_KEY) {
        None => {}
        Some(Value::String(given)) if *given == checkout_id => {}
        Some(_) => {
            return Err(ProviderError::invalid(
                format!("metadata key `{CHECKOUT_ID_METADATA_KEY}` is reserved for paymux"),
                "metadata",
            ));
        }
    }
    metadata.insert(
        CHECKOUT_ID_METADATA_KEY.to_owned(),
        Value::String(checkout_id),
    );
    let size = serde_json::to_vec(&metadata)
        .map_err(|error| {
            ProviderError::invalid(
                format!(
                    "metadata cannot be serialized: {}",
                    crate::json::describe_error(&error)
                ),
                "metadata",
            )
        })?
        .len();
    if size > MAX_METADATA_BYTES {
        return Err(ProviderError::invalid(
            format!(
                "metadata must be at most {MAX_METADATA_BYTES} bytes serialized for SKN Pay, \
                 including the `{CHECKOUT_ID_METADATA_KEY}` paymux adds; got {size}"
            ),
            "metadata",
        ));
    }
    Ok(metadata)
}

/// `provider_options.sknpay`: the create fields paymux's unified request has no place for.
#[derive(Debug, Default)]
struct ProviderOptions {
    billing_address_collection: Option<FieldCollection>,
    phone_number_collection: Option<FieldCollection>,
    success_message: Option<String>,
}

impl ProviderOptions {
    fn parse(options: Option<&Value>) -> Result<ProviderOptions, ProviderError> {
        let mut parsed = ProviderOptions::default();
        let sknpay = (super::ID, "SKN Pay");
        checks::provider_options(options, sknpay, &PROVIDER_OPTIONS, |key, value, param| {
            match key {
                "billing_address_collection" => {
                    parsed.billing_address_collection = Some(collection(value, param)?);
                }
                "phone_number_collection" => {
                    parsed.phone_number_collection = Some(collection(value, param)?);
                }
                "success_message" => {
                    let Value::String(message) = value else {
                        return Err(ProviderError::invalid(
                            format!("{param} must be a string"),
                            param,
                        ));
                    };
                    parsed.success_message =
                        bounded(Some(message), MAX_SUCCESS_MESSAGE_CHARS, param)?;
                }
                // Not in PROVIDER_OPTIONS: already refused.
                _ => {}
            }
            Ok(())
        })?;
        Ok(parsed)
    }
}

fn collection(value: &Value, param: &str) -> Result<FieldCollection, ProviderError> {
    FieldCollection::deserialize(value).map_err(|_| {
        ProviderError::invalid(
            format!("{param} must be \"auto\", \"required\" or \"never\""),
            param,
        )
    })
}

impl CreateRefund {
    /// The refund body; the amount is always explicit, even for a full refund.
    pub fn from_request(request: &RefundRequest) -> CreateRefund {
        CreateRefund {
            payment_id: request.provider_checkout_id.clone(),
            amount: Some(request.amount.minor),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SKN Pay → ours
// ---------------------------------------------------------------------------------------------

/// Refuses an object whose `object` names another `kind` (`a_kind` is the same with its
/// article, for the message), or that has an empty `id`.
fn check_object(
    object: Option<&str>,
    id: &str,
    (kind, a_kind): (&str, &str),
) -> Result<(), ProviderError> {
    if object.is_some_and(|object| object != kind) {
        return Err(ProviderError::MalformedPayload(format!(
            "SKN Pay sent another object where {a_kind} was expected (`object` is not `{kind}`)"
        )));
    }
    if id.is_empty() {
        return Err(ProviderError::MalformedPayload(format!(
            "SKN Pay {kind} has an empty `id`"
        )));
    }
    Ok(())
}

impl Payment {
    /// Refuses a payment object that is not one.
    fn check_shape(&self) -> Result<(), ProviderError> {
        check_object(self.object.as_deref(), &self.id, ("payment", "a payment"))
    }

    /// What a create answered. A hosted link without its `url` is of no use: malformed.
    pub fn into_created_checkout(self) -> Result<CreatedCheckout, ProviderError> {
        self.check_shape()?;
        let redirect_url = match self.url {
            Some(url) if !url.is_empty() => url,
            _ => {
                return Err(ProviderError::MalformedPayload(
                    "SKN Pay payment has no `url`".to_owned(),
                ));
            }
        };
        Ok(CreatedCheckout {
            provider_checkout_id: Some(self.id),
            status: self.status.checkout_status(),
            redirect_url: Some(redirect_url),
            client_action: None,
            livemode: self.livemode,
            expires_at: self.expires_at,
        })
    }

    /// What retrieve and cancel answered.
    pub fn into_provider_checkout(self) -> Result<ProviderCheckout, ProviderError> {
        self.check_shape()?;
        Ok(ProviderCheckout {
            provider_checkout_id: self.id,
            status: self.status.checkout_status(),
            livemode: self.livemode,
        })
    }

    /// `amount_minor` of the payment's currency; `None` when there is no amount.
    fn money(&self, amount_minor: Option<i64>) -> Result<Option<Money>, ProviderError> {
        let Some(minor) = amount_minor else {
            return Ok(None);
        };
        if minor < 0 {
            return Err(ProviderError::MalformedPayload(
                "SKN Pay payment has a negative `amount`".to_owned(),
            ));
        }
        let Some(code) = self.currency.as_deref() else {
            return Err(ProviderError::MalformedPayload(
                "SKN Pay payment has an `amount` but no `currency`".to_owned(),
            ));
        };
        let currency = Currency::parse(code).map_err(|error| {
            ProviderError::MalformedPayload(format!(
                "SKN Pay payment `currency` {}",
                error.problem()
            ))
        })?;
        Ok(Some(Money::new(minor, currency)))
    }

    /// What paymux keeps of the payment beside the normalized fields.
    fn details(&self) -> Value {
        let mut details = Map::new();
        details.insert("status".to_owned(), self.status.as_str().into());
        for (key, value) in [
            ("customer_email", &self.customer_email),
            ("customer_name", &self.customer_name),
            ("description", &self.description),
            ("failure_message", &self.failure_message),
        ] {
            if let Some(value) = value {
                details.insert(key.to_owned(), value.as_str().into());
            }
        }
        if let Some(total) = self.amount_refunded {
            details.insert("amount_refunded".to_owned(), total.into());
        }
        Value::Object(details)
    }
}

impl Event {
    /// The normalized event. A `payment.refunded` event has no amount: the payment object it
    /// carries documents no refund amount (an `amount_refunded` total, when sent, goes to the
    /// details), and paymux records each refund's amount from its own refund call; this event
    /// only confirms it.
    pub fn into_normalized(self) -> Result<NormalizedEvent, ProviderError> {
        check_object(self.object.as_deref(), &self.id, ("event", "an event"))?;
        let payment = self.data.object;
        payment.check_shape()?;
        let occurred_at = Utc.timestamp_opt(self.created, 0).single().ok_or_else(|| {
            ProviderError::MalformedPayload(
                "SKN Pay event has an impossible `created` (expected Unix seconds)".to_owned(),
            )
        })?;
        let amount = match self.kind {
            EventKind::PaymentRefunded => None,
            _ => payment.money(payment.amount)?,
        };
        let checkout_hint = payment
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get(CHECKOUT_ID_METADATA_KEY))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let details = payment.details();
        Ok(NormalizedEvent {
            event_type: self.kind.event_type(),
            provider_event_id: self.id,
            provider_payment_id: Some(payment.id),
            checkout_hint,
            reference: payment.reference,
            amount,
            fee: None,
            occurred_at,
            livemode: self.livemode,
            details,
        })
    }
}

impl RefundResponse {
    /// Reads whatever `POST /refunds` answered with a 2xx: string `id`, `object` and `status`
    /// members when the body is a JSON object, nothing otherwise.
    pub fn from_body(body: &[u8]) -> RefundResponse {
        let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else {
            return RefundResponse::default();
        };
        let text = |key: &str| members.get(key).and_then(Value::as_str).map(str::to_owned);
        RefundResponse {
            id: text("id"),
            object: text("object"),
            status: text("status"),
        }
    }

    /// A 2xx is a refund SKN Pay accepted: succeeded, unless its `status` says it is still
    /// pending or failed. The `id` is taken as the refund's only when the body is not some other
    /// object (a payment echoed back carries the payment's id).
    pub fn into_provider_refund(self) -> ProviderRefund {
        let status = match self
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("pending" | "processing" | "requires_action") => RefundStatus::Pending,
            Some("failed" | "canceled" | "cancelled") => RefundStatus::Failed,
            _ => RefundStatus::Succeeded,
        };
        let provider_refund_id = match self.object.as_deref() {
            None | Some("refund") => self.id.filter(|id| !id.is_empty()),
            Some(_) => None,
        };
        ProviderRefund {
            provider_refund_id,
            status,
        }
    }
}

impl ErrorBody {
    /// The provider's message from a non-2xx body: its `error` member, or else the raw text
    /// cut to its first 500 characters ([`crate::http::error_message`]).
    pub fn message_from(body: &[u8]) -> String {
        crate::http::error_message(body, &["error"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Customer, LineItem};
    use crate::test_support::{CHECKOUT_ID, refused_param};
    use paymux_domain::RefundId;
    use serde_json::json;

    const CREATE_REQUEST: &str = include_str!("fixtures/create_payment_request.json");
    const PAYMENT: &str = include_str!("fixtures/payment.json");
    const EVENT: &str = include_str!("fixtures/event.json");
    const REFUND_REQUEST: &str = include_str!("fixtures/refund_request.json");
    const ERROR: &str = include_str!("fixtures/error.json");

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// The doc's `created_at`: a week before the sample's `expires_at`.
    fn now() -> DateTime<Utc> {
        at("2026-05-08T18:42:11Z")
    }

    /// The unified request that should become the doc's create sample.
    fn doc_request() -> CheckoutRequest {
        let metadata = json!({ "order_id": "5821", "fulfilment": "express" });
        CheckoutRequest {
            reference: Some("order-5821".into()),
            description: Some("Order #5821".into()),
            customer: Some(Customer {
                name: Some("Alice Brown".into()),
                email: Some("alice@example.com".into()),
                phone: Some("+18694619400".into()),
                address: Some(Address {
                    line1: Some("123 Main St".into()),
                    line2: Some("Apt 4B".into()),
                    city: Some("Basseterre".into()),
                    state: Some("ZZ".into()),
                    postal_code: Some("ZZZ".into()),
                    country: Some("KN".into()),
                }),
            }),
            success_url: Some(Url::parse("https://yoursite.com/orders/5821/thanks").unwrap()),
            cancel_url: Some(Url::parse("https://yoursite.com/orders/5821").unwrap()),
            expires_at: Some(at("2026-05-15T18:00:00Z")),
            metadata: metadata.as_object().cloned(),
            items: vec![LineItem {
                name: "Widget".into(),
                quantity: 1,
                unit_amount: 12_500,
            }],
            provider_options: Some(json!({
                "billing_address_collection": "required",
                "phone_number_collection": "auto",
                "success_message": "Thanks! Your order ships in 1-2 business days.",
            })),
            idempotency_key: "idem-5821".into(),
            ..CheckoutRequest::example(Money::new(12_500, Currency::Usd))
        }
    }

    /// The smallest valid request.
    fn minimal_request() -> CheckoutRequest {
        CheckoutRequest::example(Money::new(1_000, Currency::Usd))
    }

    /// The `param` of the refusal of `request`, failing when it is accepted.
    fn refused(request: &CheckoutRequest) -> String {
        refused_param(CreatePayment::from_checkout(request, now()))
    }

    fn accepted(request: &CheckoutRequest) -> CreatePayment {
        CreatePayment::from_checkout(request, now()).unwrap()
    }

    #[test]
    fn the_docs_create_sample_round_trips_through_our_type() {
        let sample: Value = serde_json::from_str(CREATE_REQUEST).unwrap();
        let parsed: CreatePayment = serde_json::from_str(CREATE_REQUEST).unwrap();
        assert_eq!(parsed.amount, Some(12_500));
        assert_eq!(
            parsed.billing_address_collection,
            Some(FieldCollection::Required)
        );
        assert_eq!(parsed.expires_at, Some(at("2026-05-15T18:00:00Z")));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sample);
    }

    #[test]
    fn our_request_is_the_docs_sample_plus_our_checkout_id() {
        let mut expected: Value = serde_json::from_str(CREATE_REQUEST).unwrap();
        expected["metadata"][CHECKOUT_ID_METADATA_KEY] = json!(CHECKOUT_ID);
        let built = accepted(&doc_request());
        assert_eq!(serde_json::to_value(&built).unwrap(), expected);
    }

    #[test]
    fn absent_fields_are_left_out() {
        let built = serde_json::to_value(accepted(&minimal_request())).unwrap();
        assert_eq!(
            built,
            json!({
                "amount": 1000,
                "currency": "USD",
                "metadata": { CHECKOUT_ID_METADATA_KEY: CHECKOUT_ID },
            })
        );
        let mut request = minimal_request();
        request.customer = Some(Customer {
            address: Some(Address::default()),
            ..Customer::default()
        });
        assert_eq!(accepted(&request).customer_address, None);
    }

    #[test]
    fn the_amount_must_be_between_100_and_99_999_999_minor_units() {
        for (minor, ok) in [
            (99, false),
            (100, true),
            (99_999_999, true),
            (100_000_000, false),
            (0, false),
            (-500, false),
        ] {
            let mut request = minimal_request();
            request.amount = Money::new(minor, Currency::Usd);
            if ok {
                assert_eq!(accepted(&request).amount, Some(minor));
            } else {
                assert_eq!(refused(&request), "amount", "{minor}");
            }
        }
    }

    #[test]
    fn only_usd_and_xcd_are_accepted() {
        let mut request = minimal_request();
        request.amount = Money::new(1_000, Currency::Xcd);
        assert_eq!(accepted(&request).currency.as_deref(), Some("XCD"));
        for currency in [Currency::Eur, Currency::Jpy, Currency::Bdt] {
            request.amount = Money::new(1_000, currency);
            assert_eq!(refused(&request), "currency");
        }
    }

    #[test]
    fn return_urls_must_be_https_and_not_on_sknpay() {
        for (url, ok) in [
            ("https://shop.example/thanks?x=1", true),
            ("https://notsknpay.com/thanks", true),
            ("https://sknpay.com.evil.example/", true),
            ("http://shop.example/thanks", false),
            ("javascript:alert(1)", false),
            ("https://sknpay.com/thanks", false),
            ("https://SKNPAY.COM/thanks", false),
            ("https://pay.sknpay.com/checkout/x", false),
            ("https://app.sknpay.com./x", false),
        ] {
            for param in ["success_url", "cancel_url"] {
                let mut request = minimal_request();
                let parsed = Some(Url::parse(url).unwrap());
                if param == "success_url" {
                    request.success_url = parsed;
                } else {
                    request.cancel_url = parsed;
                }
                if ok {
                    accepted(&request);
                } else {
                    assert_eq!(refused(&request), param, "{url}");
                }
            }
        }
    }

    #[test]
    fn metadata_carries_our_checkout_id_within_4096_bytes() {
        let mut request = minimal_request();
        request.metadata = json!({ "pad": "" }).as_object().cloned();
        let base = serde_json::to_vec(&accepted(&request).metadata)
            .unwrap()
            .len();
        let fits = "x".repeat(MAX_METADATA_BYTES - base);
        request.metadata = json!({ "pad": fits }).as_object().cloned();
        let metadata = accepted(&request).metadata.unwrap();
        assert_eq!(serde_json::to_vec(&metadata).unwrap().len(), 4096);
        assert_eq!(metadata[CHECKOUT_ID_METADATA_KEY], json!(CHECKOUT_ID));
        let too_big = format!("{fits}x");
        request.metadata = json!({ "pad": too_big }).as_object().cloned();
        assert_eq!(refused(&request), "metadata");
    }

    #[test]
    fn the_checkout_id_key_is_reserved() {
        let mut request = minimal_request();
        request.metadata = json!({ CHECKOUT_ID_METADATA_KEY: "chk_someone_else" })
            .as_object()
            .cloned();
        assert_eq!(refused(&request), "metadata");
        // Our own id passed back (a retried build) is fine.
        request.metadata = json!({ CHECKOUT_ID_METADATA_KEY: CHECKOUT_ID })
            .as_object()
            .cloned();
        accepted(&request);
    }

    #[test]
    fn expires_at_must_be_in_the_future_and_at_most_30_days_ahead() {
        let now = now();
        for (expires_at, ok) in [
            (now + TimeDelta::seconds(1), true),
            (now + TimeDelta::days(30), true),
            (now + TimeDelta::days(30) + TimeDelta::seconds(1), false),
            (now, false),
            (now - TimeDelta::hours(1), false),
        ] {
            let mut request = minimal_request();
            request.expires_at = Some(expires_at);
            if ok {
                assert_eq!(accepted(&request).expires_at, Some(expires_at));
            } else {
                assert_eq!(refused(&request), "expires_at", "{expires_at}");
            }
        }
    }

    #[test]
    fn text_fields_have_the_documented_maximum_lengths() {
        type Set = fn(&mut CheckoutRequest, String);
        let cases: [(&str, usize, Set); 5] = [
            ("description", 500, |r, v| r.description = Some(v)),
            ("reference", 200, |r, v| r.reference = Some(v)),
            ("customer.email", 254, |r, v| {
                r.customer.get_or_insert_default().email = Some(v)
            }),
            ("customer.name", 200, |r, v| {
                r.customer.get_or_insert_default().name = Some(v)
            }),
            ("customer.phone", 40, |r, v| {
                r.customer.get_or_insert_default().phone = Some(v)
            }),
        ];
        for (param, max, set) in cases {
            let mut request = minimal_request();
            // Characters, not bytes: `é` is two bytes.
            set(&mut request, "é".repeat(max));
            accepted(&request);
            set(&mut request, "é".repeat(max + 1));
            assert_eq!(refused(&request), param);
        }
    }

    #[test]
    fn the_country_must_be_an_iso_alpha_2_code() {
        let mut request = minimal_request();
        let with_country = |country: &str| Customer {
            address: Some(Address {
                country: Some(country.into()),
                ..Address::default()
            }),
            ..Customer::default()
        };
        request.customer = Some(with_country("kn"));
        let address = accepted(&request).customer_address.unwrap();
        assert_eq!(address.country.as_deref(), Some("KN"));
        for bad in ["KNA", "K", "1N", ""] {
            request.customer = Some(with_country(bad));
            assert_eq!(refused(&request), "customer.address.country", "{bad}");
        }
    }

    #[test]
    fn provider_options_take_only_the_documented_keys() {
        let mut request = minimal_request();
        request.provider_options = Some(json!({
            "billing_address_collection": "never",
            "phone_number_collection": "required",
            "success_message": "Thanks!",
        }));
        let built = accepted(&request);
        assert_eq!(
            built.billing_address_collection,
            Some(FieldCollection::Never)
        );
        assert_eq!(
            built.phone_number_collection,
            Some(FieldCollection::Required)
        );
        assert_eq!(built.success_message.as_deref(), Some("Thanks!"));

        for (options, param) in [
            (
                json!({ "billing_address_collection": "always" }),
                "provider_options.sknpay.billing_address_collection",
            ),
            (
                json!({ "phone_number_collection": true }),
                "provider_options.sknpay.phone_number_collection",
            ),
            (
                json!({ "success_message": "x".repeat(501) }),
                "provider_options.sknpay.success_message",
            ),
            (
                json!({ "success_message": 5 }),
                "provider_options.sknpay.success_message",
            ),
            (json!({ "amount": 1 }), "provider_options.sknpay.amount"),
            (json!({ "3ds": true }), "provider_options.sknpay.3ds"),
            (json!(["success_message"]), "provider_options.sknpay"),
        ] {
            request.provider_options = Some(options);
            assert_eq!(refused(&request), param);
        }
        request.provider_options = Some(json!({ "success_message": "x".repeat(500) }));
        accepted(&request);
    }

    #[test]
    fn the_docs_payment_sample_maps_to_a_created_checkout() {
        let payment: Payment = serde_json::from_str(PAYMENT).unwrap();
        assert_eq!(payment.status, PaymentStatus::Open);
        assert_eq!(payment.created_at, Some(at("2026-05-08T18:42:11Z")));
        let created = payment.clone().into_created_checkout().unwrap();
        assert_eq!(
            created,
            CreatedCheckout {
                provider_checkout_id: Some("plink_cm12ab9c1d3e4f5g6h7i8j9k0".into()),
                status: CheckoutStatus::Open,
                redirect_url: Some("https://pay.sknpay.com/checkout/AbCdEf12".into()),
                client_action: None,
                livemode: true,
                expires_at: None,
            }
        );
        assert_eq!(
            payment.into_provider_checkout().unwrap(),
            ProviderCheckout {
                provider_checkout_id: "plink_cm12ab9c1d3e4f5g6h7i8j9k0".into(),
                status: CheckoutStatus::Open,
                livemode: true,
            }
        );
    }

    #[test]
    fn every_documented_status_maps_and_others_are_malformed() {
        for (status, expected) in [
            ("open", CheckoutStatus::Open),
            ("succeeded", CheckoutStatus::Succeeded),
            ("canceled", CheckoutStatus::Canceled),
            ("expired", CheckoutStatus::Expired),
        ] {
            let mut payment: Value = serde_json::from_str(PAYMENT).unwrap();
            payment["status"] = json!(status);
            let payment: Payment = serde_json::from_value(payment).unwrap();
            assert_eq!(payment.into_provider_checkout().unwrap().status, expected);
        }
        let mut payment: Value = serde_json::from_str(PAYMENT).unwrap();
        payment["status"] = json!("processing");
        assert!(serde_json::from_value::<Payment>(payment).is_err());
    }

    #[test]
    fn a_payment_without_url_or_of_another_kind_is_malformed() {
        let mut payment: Payment = serde_json::from_str(PAYMENT).unwrap();
        payment.url = None;
        assert!(matches!(
            payment.into_created_checkout(),
            Err(ProviderError::MalformedPayload(_))
        ));
        let mut payment: Payment = serde_json::from_str(PAYMENT).unwrap();
        payment.object = Some("refund".into());
        assert!(matches!(
            payment.into_provider_checkout(),
            Err(ProviderError::MalformedPayload(_))
        ));
    }

    fn event_of(kind: &str, edit: impl FnOnce(&mut Value)) -> Result<NormalizedEvent, String> {
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["type"] = json!(kind);
        edit(&mut event);
        let text = serde_json::to_string(&event).unwrap();
        let event: Event =
            serde_json::from_str(&text).map_err(|error| crate::json::describe_error(&error))?;
        event.into_normalized().map_err(|error| error.to_string())
    }

    #[test]
    fn the_docs_event_normalizes_for_every_type() {
        for (kind, event_type) in [
            ("payment.succeeded", EventType::PaymentSucceeded),
            ("payment.failed", EventType::PaymentFailed),
            ("payment.canceled", EventType::PaymentCanceled),
        ] {
            let event = event_of(kind, |_| {}).unwrap();
            assert_eq!(
                event,
                NormalizedEvent {
                    event_type,
                    provider_event_id: "evt_e6b0b3c6ff198f6dfc05bb80".into(),
                    provider_payment_id: Some("plink_cm12ab9c1d3e4f5g6h7i8j9k0".into()),
                    checkout_hint: None,
                    reference: None,
                    amount: Some(Money::new(12_500, Currency::Usd)),
                    fee: None,
                    occurred_at: Utc.timestamp_opt(1_778_276_991, 0).unwrap(),
                    livemode: true,
                    details: json!({
                        "status": "open",
                        "customer_email": "alice@example.com",
                        "customer_name": "Alice Brown",
                        "description": "Order #5821",
                    }),
                },
                "{kind}"
            );
        }
    }

    #[test]
    fn a_refund_event_confirms_without_an_amount_and_keeps_the_refunded_total() {
        let event = event_of("payment.refunded", |_| {}).unwrap();
        assert_eq!(event.event_type, EventType::PaymentRefunded);
        assert_eq!(event.amount, None);
        assert!(event.details.get("amount_refunded").is_none());
        let event = event_of("payment.refunded", |event| {
            event["data"]["object"]["amount_refunded"] = json!(5_000);
        })
        .unwrap();
        assert_eq!(
            event.amount, None,
            "a running total is not this refund's amount"
        );
        assert_eq!(event.details["amount_refunded"], 5_000);
    }

    #[test]
    fn hints_reference_and_failure_reason_are_read_from_the_payment() {
        let event = event_of("payment.failed", |event| {
            let payment = &mut event["data"]["object"];
            payment["metadata"][CHECKOUT_ID_METADATA_KEY] = json!(CHECKOUT_ID);
            payment["reference"] = json!("order-5821");
            payment["failure_message"] = json!("Card declined");
            payment["customer_email"] = Value::Null;
        })
        .unwrap();
        assert_eq!(event.checkout_hint.as_deref(), Some(CHECKOUT_ID));
        assert_eq!(event.reference.as_deref(), Some("order-5821"));
        assert_eq!(event.details["failure_message"], json!("Card declined"));
        assert!(event.details.get("customer_email").is_none());
        let event = event_of("payment.failed", |event| {
            event["data"]["object"]["metadata"][CHECKOUT_ID_METADATA_KEY] = json!(42);
        })
        .unwrap();
        assert_eq!(event.checkout_hint, None);
        for metadata in [json!([]), Value::Null, json!("x")] {
            let event = event_of("payment.succeeded", |event| {
                event["data"]["object"]["metadata"] = metadata;
            })
            .unwrap();
            assert_eq!(event.checkout_hint, None);
        }
    }

    #[test]
    fn unknown_types_and_broken_envelopes_are_refused_with_the_reason() {
        let error = event_of("payment.pending", |_| {}).unwrap_err();
        assert!(
            error.starts_with("unknown variant, expected one of `payment.succeeded`"),
            "{error}"
        );
        for (edit, needle) in [
            (
                Box::new(|e: &mut Value| e["data"] = json!({})) as Box<dyn FnOnce(&mut Value)>,
                "object",
            ),
            (
                Box::new(|e: &mut Value| e["created"] = json!("yesterday")),
                "expected i64 at line 1",
            ),
            (
                Box::new(|e: &mut Value| {
                    e.as_object_mut().unwrap().remove("id");
                }),
                "id",
            ),
            (
                Box::new(|e: &mut Value| e["object"] = json!("payment")),
                "event",
            ),
            (
                Box::new(|e: &mut Value| e["data"]["object"]["status"] = json!("weird")),
                "expected one of `open`",
            ),
            (
                Box::new(|e: &mut Value| e["data"]["object"]["currency"] = json!("XXX")),
                "`currency` is not a currency paymux knows",
            ),
            (
                Box::new(|e: &mut Value| e["data"]["object"]["amount"] = json!(-1)),
                "negative",
            ),
            (
                Box::new(|e: &mut Value| e["created"] = json!(i64::MAX)),
                "created",
            ),
        ] {
            let error = event_of("payment.succeeded", edit).unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn the_refund_body_always_names_the_amount() {
        let request = RefundRequest {
            refund_id: RefundId::generate(),
            provider_checkout_id: "plink_cm12ab9c1d3e4f5g6h7i8j9k0".into(),
            amount: Money::new(5_000, Currency::Usd),
            is_full: true,
            idempotency_key: "re-1".into(),
        };
        let body = serde_json::to_value(CreateRefund::from_request(&request)).unwrap();
        let sample: Value = serde_json::from_str(REFUND_REQUEST).unwrap();
        assert_eq!(body, sample);
    }

    #[test]
    fn refund_answers_are_read_leniently() {
        let refund = |body: &str| RefundResponse::from_body(body.as_bytes()).into_provider_refund();
        assert_eq!(
            refund(r#"{"id":"re_1","object":"refund","status":"succeeded"}"#),
            ProviderRefund {
                provider_refund_id: Some("re_1".into()),
                status: RefundStatus::Succeeded
            }
        );
        assert_eq!(
            refund(r#"{"id":"re_2","status":"pending"}"#).status,
            RefundStatus::Pending
        );
        assert_eq!(
            refund(r#"{"id":"re_3","status":"failed"}"#).status,
            RefundStatus::Failed
        );
        for body in ["", "ok", "{}", "[]", r#"{"id": 5, "status": null}"#] {
            assert_eq!(
                refund(body),
                ProviderRefund {
                    provider_refund_id: None,
                    status: RefundStatus::Succeeded
                },
                "{body}"
            );
        }
        // The payment echoed back: its id is not a refund id.
        assert_eq!(refund(PAYMENT).provider_refund_id, None);
    }

    #[test]
    fn error_messages_come_from_the_error_member_or_the_raw_text() {
        assert_eq!(
            ErrorBody::message_from(ERROR.as_bytes()),
            "Amount must be at least 100 minor units."
        );
        assert_eq!(
            ErrorBody::message_from(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(ErrorBody::message_from(b""), "no error message");
        let long = "é".repeat(600);
        let message = ErrorBody::message_from(long.as_bytes());
        assert_eq!(message, "é".repeat(crate::http::MAX_RAW_ERROR_CHARS));
    }
}
