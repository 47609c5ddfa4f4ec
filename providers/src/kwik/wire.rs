//! Kwik's wire format, exactly as its doc shows it (`shared/providers/kwik.txt`), and the
//! conversions between it and paymux's unified model. No I/O happens here: building a
//! `POST /checkout/link` body, checking it against Kwik's documented limits, and reading the
//! answer or a webhook are plain functions, tested against the doc's own samples (`fixtures/`).
//!
//! Answers and webhooks are read tolerantly (unknown fields are ignored, fields paymux does not
//! act on are optional) but what paymux acts on must be there with the documented type, or the
//! body is a [`ProviderError::MalformedPayload`]. Amounts are decimal strings in major units
//! (`"1200.00"`), converted exactly with [`Money::parse_decimal`] and
//! [`Money::to_decimal_string`]; the few JSON numbers the doc shows in amount positions
//! (`amount_options`, `discount`) are kept as [`Number`]s, never turned into floats.

use chrono::{DateTime, Utc};
use paymux_domain::{Currency, EventType, Money, NormalizedEvent};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value, json};
use url::Url;
use utoipa::ToSchema;

use crate::model::{Address, CheckoutRequest, CreatedCheckout, Customer as UnifiedCustomer};
use crate::signing::derived_event_id;
use crate::{ProviderError, checks, rules};

/// The currencies Kwik charges in: the doc's amounts are all rand.
pub const CURRENCIES: [Currency; 1] = [Currency::Zar];
/// The `item.frequency` and `items.pricing_type` value of a one-off payment. The doc spells the
/// frequency `ONE_TIME` and names the pricing type only in prose ("RECURRING or one-time"), so
/// paymux uses the one spelling it shows.
pub const ONE_TIME: &str = "ONE_TIME";
/// The `item.title` of a checkout with neither description nor reference.
pub const DEFAULT_TITLE: &str = "Payment";
/// `customer.person_name`: String(32).
pub const MAX_PERSON_NAME_CHARS: usize = 32;
/// `customer.person_surname`: String(32).
pub const MAX_PERSON_SURNAME_CHARS: usize = 32;
/// `customer.email`: String(128).
pub const MAX_EMAIL_CHARS: usize = 128;
/// `customer.contact_number` and `customer.shipping.contact_number`: String(16).
pub const MAX_CONTACT_NUMBER_CHARS: usize = 16;
/// `customer.reference`: String(35).
pub const MAX_CUSTOMER_REFERENCE_CHARS: usize = 35;
/// `customer.company_name`: String(64).
pub const MAX_COMPANY_NAME_CHARS: usize = 64;
/// `customer.id_number`: String(13).
pub const MAX_ID_NUMBER_CHARS: usize = 13;
/// `item.amount_options`: "max five".
pub const MAX_AMOUNT_OPTIONS: usize = 5;
/// The keys a merchant may pass in `provider_options.kwik`: Kwik-only create fields the
/// unified request has no place for.
pub const PROVIDER_OPTIONS: [&str; 4] = [
    "customization",
    "invoice",
    "payment_methods",
    "customer_fields",
];

/// A name Kwik takes: its first word (`person_name`) and the rest (`person_surname`) within
/// their limits, around white space `split_name` trims.
fn name_pattern() -> String {
    let (space, word) = (rules::space(), rules::not_blank());
    let rest = MAX_PERSON_SURNAME_CHARS - 2;
    format!(
        "^{space}*(?:{word}{{1,{MAX_PERSON_NAME_CHARS}}}(?:{space}+{word}(?:[\\s\\S]{{0,{rest}}}{word})?)?)?{space}*{}",
        rules::END
    )
}

/// What Kwik requires of a checkout ([`crate::rules`]), from the limits above.
pub fn checkout_rules() -> Value {
    let mut checkout = json!({
        "title": "Kwik",
        "description": "Kwik: `customer_fields` only for a checkout without a customer.",
        "properties": {
            "currency": rules::currencies(&CURRENCIES),
            "customer": { "properties": {
                "name": { "pattern": name_pattern() },
                "email": rules::trimmed_max_chars(MAX_EMAIL_CHARS),
                "phone": rules::trimmed_max_chars(MAX_CONTACT_NUMBER_CHARS),
                "address": { "properties": {
                    "country": { "pattern": format!(
                        "^{space}*(?:[A-Za-z]{{2}})?{space}*{}", rules::END, space = rules::space()
                    ) },
                } },
            } },
            "items": rules::named_items(),
        },
        // Kwik shows its payer form's extra fields only to a payer it knows nothing of.
        "if": { "required": ["provider_options"], "properties": { "provider_options": {
            "type": "object",
            "required": [super::ID],
            "properties": { super::ID: {
                "type": "object",
                "required": ["customer_fields"],
                "properties": { "customer_fields": { "type": "array" } },
            } },
        } } },
        "then": { "properties": { "customer": { "type": "null" } } },
    });
    checkout["properties"]["provider_options"] = rules::options(
        super::ID,
        rules::options_object(vec![
            ("customization", rules::schema_of::<Customization>()),
            ("invoice", rules::schema_of::<Invoice>()),
            (
                "payment_methods",
                json!({
                    "type": "array",
                    "minItems": 1,
                    "items": rules::schema_of::<PaymentMethod>(),
                }),
            ),
            (
                "customer_fields",
                json!({ "type": "array", "items": rules::schema_of::<CustomerField>() }),
            ),
        ]),
    );
    checkout
}

// ---------------------------------------------------------------------------------------------
// POST /checkout/link
// ---------------------------------------------------------------------------------------------

/// The checkout mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutType {
    /// A single `item`: a fixed amount, or one the payer enters (donation-style).
    #[serde(rename = "CHOOSE_WHAT_TO_PAY")]
    ChooseWhatToPay,
    /// A basket of `items`, catalogue products or inline ones.
    #[serde(rename = "PRODUCTS_AND_SUBSCRIPTIONS")]
    ProductsAndSubscriptions,
}

/// The body of `POST /checkout/link`. Absent fields are left out of the JSON, which is also
/// what the request signature's canonical form skips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateLink {
    #[serde(rename = "type")]
    pub kind: CheckoutType,
    /// The offer of a `CHOOSE_WHAT_TO_PAY` checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    /// The basket of a `PRODUCTS_AND_SUBSCRIPTIONS` checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<BasketLine>>,
    /// An existing Kwik customer, instead of `customer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A customer to create or to prefill the form with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    /// Extra payer-form fields, when neither `customer_id` nor `customer` is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_fields: Option<Vec<CustomerField>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization: Option<Customization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<Redirects>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<LinkSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// The request signature, when the API key has a passphrase (see [`super::signature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `item`: what a `CHOOSE_WHAT_TO_PAY` payer is offered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Shown on the checkout and the invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the payer may choose among (`ONE_TIME`, `MONTHLY`, `ANNUALLY`, …); Kwik defaults to
    /// `ONE_TIME`. paymux always sends `["ONE_TIME"]`: it takes one-off payments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Vec<String>>,
    /// The preset amount in rand (`"1200.00"`); without it the payer types one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Preset amounts to pick from (at most five); JSON numbers in rand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_options: Option<Vec<Number>>,
    /// The cap on an amount the payer types; a JSON number in rand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_max: Option<Number>,
}

/// One line of `items`: a catalogue product (`product_id`) or an inline product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BasketLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<u32>,
    /// A JSON number in rand, for catalogue lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The product's unique code; Kwik may create a catalogue record under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_label: Option<String>,
    /// The unit price excluding tax, in rand (`"2409.86"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_excl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tax: Option<bool>,
    /// `RECURRING` or [`ONE_TIME`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_status: Option<String>,
    /// When recurring, e.g. `MONTHLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_period: Option<String>,
    /// The doc shows the next three as `null` without saying their type: kept as sent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_period: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_interval: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pictures: Option<Value>,
}

/// A member that is present, `null` included: `Some(Value::Null)` for `null`, so that a
/// sample's explicit nulls survive a round trip (an absent member stays `None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// `Some(None)` for an explicit `null`, `Some(Some(_))` for a value, `None` when absent.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `customer`: the payer, created or used to prefill the form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// The merchant's reference for this customer (not for a checkout): String(35).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// String(64); the doc's sample sends an explicit `null`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub company_name: Option<Option<String>>,
    /// First name: String(32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_name: Option<String>,
    /// Surname: String(32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// String(128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// String(16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<KwikAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Shipping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// An address in Kwik's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KwikAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_or_town: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_or_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_or_zip_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// `customer.shipping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<KwikAddress>,
}

/// The extra payer-form fields `customer_fields` may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomerField {
    ContactNumber,
    IdNumber,
    CompanyName,
    CompanyReg,
    VatNumber,
    BillingAddress,
    ShippingAddress,
}

/// `customization`: how the hosted page looks. Every documented member; others are refused so
/// that a typo in `provider_options.kwik.customization` is an error, not an ignored setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_text: Option<String>,
    /// Shown after payment unless redirects are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_message: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub kind: Option<PageType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_display_cancel_button: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_display_total: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_display_items: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub brand: Option<Brand>,
}

/// `customization.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PageType {
    /// A hosted page that redirects when done.
    Page,
    /// An iframe/WebView page that posts messages instead of redirecting.
    Embed,
}

/// `customization.brand`: hex colours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<String>,
}

/// `invoice`: whether Kwik issues, and emails, an invoice once paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub is_generate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_send: Option<bool>,
}

/// `payment`: which rails the page offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_methods: Option<Vec<PaymentMethod>>,
}

/// The payment methods the doc lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PaymentMethod {
    #[serde(rename = "CARD")]
    Card,
    #[serde(rename = "ZAPPER")]
    Zapper,
    #[serde(rename = "SNAPSCAN")]
    Snapscan,
    #[serde(rename = "APPLE_PAY")]
    ApplePay,
    #[serde(rename = "GOOGLE_PAY")]
    GooglePay,
    #[serde(rename = "SCAN_TO_PAY")]
    ScanToPay,
    #[serde(rename = "1VOUCHER")]
    OneVoucher,
    #[serde(rename = "SCODE")]
    Scode,
    #[serde(rename = "MONEY_BADGER")]
    MoneyBadger,
}

/// `redirects`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirects {
    /// Kwik may append `&signature=` when signatures are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
}

/// `settings`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSettings {
    /// Minutes until the link lapses; absent, it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<u64>,
}

/// `notification`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where Kwik sends this checkout's webhooks: paymux's endpoint for the merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// The answer to `POST /checkout/link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkResponse {
    /// `true` when the request succeeded.
    pub status: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<LinkResult>,
}

/// `result`: the created checkout session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkResult {
    /// `chk_…`: the checkout's id, which every webhook about it carries as `checkout.id`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The checkout amount in rand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Where to send the payer.
    pub link_url: String,
    /// When the session lapses; `null` for a link without expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// The webhook events the doc lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "checkout.completed")]
    Completed,
    #[serde(rename = "checkout.expired")]
    Expired,
    /// A payment attempt failed (declined card, insufficient funds, …).
    #[serde(rename = "checkout.failed")]
    Failed,
    /// The payer left the page without completing.
    #[serde(rename = "checkout.abandoned")]
    Abandoned,
    /// Waiting for manual review or 3DS.
    #[serde(rename = "checkout.pending")]
    Pending,
    /// The cancel button, or Kwik cancelling for fraud.
    #[serde(rename = "checkout.cancelled")]
    Cancelled,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Completed => "checkout.completed",
            EventKind::Expired => "checkout.expired",
            EventKind::Failed => "checkout.failed",
            EventKind::Abandoned => "checkout.abandoned",
            EventKind::Pending => "checkout.pending",
            EventKind::Cancelled => "checkout.cancelled",
        }
    }

    pub const fn event_type(self) -> EventType {
        match self {
            EventKind::Completed => EventType::PaymentSucceeded,
            EventKind::Expired => EventType::PaymentExpired,
            EventKind::Failed => EventType::PaymentFailed,
            EventKind::Abandoned => EventType::CheckoutAbandoned,
            EventKind::Pending => EventType::PaymentPending,
            EventKind::Cancelled => EventType::PaymentCanceled,
        }
    }
}

/// A webhook delivery: one event type, one or more checkouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub event: EventKind,
    pub data: Vec<WebhookData>,
    /// When Kwik created the webhook (ISO 8601), kept as sent: it is part of the derived ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// One element of `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookData {
    pub checkout: WebhookCheckout,
    /// Only when a recurring collection resulted from the checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
}

/// `data.checkout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCheckout {
    /// `chk_…`, as `result.id` of the create answer.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// In rand: `"1200.00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// For card tenders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Not in the doc's webhook table: read when present. The failure text, under the name the
    /// doc's `payment.failed` page message uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Not in the doc's webhook table: read when present (the doc shows it on `subscription`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
}

/// `data.subscription`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A refusal. The doc shows no error body; Kwik's success envelope is
/// `{"status": true, "result": …}`, so paymux reads `{"status": false, "message": "…"}` (and
/// `error` as a string or `{"message"}`) and otherwise keeps the raw text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub status: bool,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Ours → Kwik
// ---------------------------------------------------------------------------------------------

impl CreateLink {
    /// Checks `request` against what Kwik documents and builds the body of
    /// `POST /checkout/link` (unsigned). A refusal names the offending field of the unified
    /// request (`currency`, `customer.name`, `provider_options.kwik.invoice`, …).
    ///
    /// `webhook_url` is this merchant's paymux endpoint for Kwik, sent as
    /// `notification.webhook_url` (Kwik only calls the URL a checkout names); `now` is the
    /// clock `expires_at` is counted from.
    pub fn from_checkout(
        request: &CheckoutRequest,
        webhook_url: &Url,
        now: DateTime<Utc>,
    ) -> Result<CreateLink, ProviderError> {
        let amount = request.amount;
        checks::currency(amount, "Kwik", &CURRENCIES)?;
        if amount.minor <= 0 {
            return Err(ProviderError::invalid(
                format!("Kwik needs a positive amount, got {}", amount.minor),
                "amount",
            ));
        }
        let options = ProviderOptions::parse(request.provider_options.as_ref())?;
        let customer = request
            .customer
            .as_ref()
            .map(customer)
            .transpose()?
            .flatten();
        if request.customer.is_some() && options.customer_fields.is_some() {
            return Err(ProviderError::invalid(
                "Kwik shows customer_fields only when no customer is sent; drop them or the \
                 checkout's customer",
                "provider_options.kwik.customer_fields",
            ));
        }
        let (kind, item, items) = if request.items.is_empty() {
            let title = [&request.description, &request.reference]
                .into_iter()
                .flatten()
                .map(|text| text.trim())
                .find(|text| !text.is_empty())
                .unwrap_or(DEFAULT_TITLE);
            let item = Item {
                title: Some(title.to_owned()),
                frequency: Some(vec![ONE_TIME.to_owned()]),
                amount: Some(amount.to_decimal_string()),
                ..Item::default()
            };
            (CheckoutType::ChooseWhatToPay, Some(item), None)
        } else {
            let lines = basket(request)?;
            (CheckoutType::ProductsAndSubscriptions, None, Some(lines))
        };
        let redirects = Redirects {
            success_url: request.success_url.as_ref().map(Url::to_string),
            cancel_url: request.cancel_url.as_ref().map(Url::to_string),
        };
        let expiry_time = request
            .expires_at
            .map(|expires_at| expiry_minutes(expires_at, now))
            .transpose()?;
        Ok(CreateLink {
            kind,
            item,
            items,
            customer_id: None,
            customer,
            customer_fields: options.customer_fields,
            customization: options.customization,
            invoice: options.invoice,
            payment: options.payment_methods.map(|methods| PaymentOptions {
                payment_methods: Some(methods),
            }),
            redirects: (redirects != Redirects::default()).then_some(redirects),
            settings: expiry_time.map(|minutes| LinkSettings {
                expiry_time: Some(minutes),
            }),
            notification: Some(Notification {
                email: None,
                webhook_url: Some(webhook_url.to_string()),
            }),
            signature: None,
        })
    }
}

/// The unified items as inline one-time products. Each gets a code of our checkout id and its
/// position: Kwik may file a catalogue record under a code, and a code shared between
/// checkouts could make it charge another checkout's price. Prices are sent tax-exclusive with
/// `is_tax: false`, so that Kwik charges exactly the items' total, which must be the amount.
fn basket(request: &CheckoutRequest) -> Result<Vec<BasketLine>, ProviderError> {
    let currency = request.amount.currency;
    let mut total: i64 = 0;
    let mut lines = Vec::with_capacity(request.items.len());
    for (index, item) in request.items.iter().enumerate() {
        let name = item.name.trim();
        if name.is_empty() {
            return Err(ProviderError::invalid(
                "Kwik needs a name for every item",
                format!("items[{index}].name"),
            ));
        }
        if item.quantity < 1 {
            return Err(ProviderError::invalid(
                "an item's quantity must be at least 1",
                format!("items[{index}].quantity"),
            ));
        }
        if item.unit_amount < 0 {
            return Err(ProviderError::invalid(
                "an item's unit_amount must not be negative",
                format!("items[{index}].unit_amount"),
            ));
        }
        total = item
            .unit_amount
            .checked_mul(i64::from(item.quantity))
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| ProviderError::invalid("the items' total overflows", "items"))?;
        lines.push(BasketLine {
            name: Some(name.to_owned()),
            code: Some(format!("{}-{}", request.checkout_id, index + 1)),
            price_excl: Some(Money::new(item.unit_amount, currency).to_decimal_string()),
            qty: Some(item.quantity),
            is_tax: Some(false),
            pricing_type: Some(ONE_TIME.to_owned()),
            ..BasketLine::default()
        });
    }
    if total != request.amount.minor {
        return Err(ProviderError::invalid(
            format!(
                "Kwik charges the items' total, {}, which is not the amount {}",
                Money::new(total, currency).to_decimal_string(),
                request.amount.to_decimal_string()
            ),
            "items",
        ));
    }
    Ok(lines)
}

/// `settings.expiry_time`: whole minutes from `now` to `expires_at`, rounded up (so the link
/// never lapses before `expires_at`), at least 1.
fn expiry_minutes(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, ProviderError> {
    let millis = expires_at.signed_duration_since(now).num_milliseconds();
    if millis <= 0 {
        return Err(ProviderError::invalid(
            "expires_at must be in the future",
            "expires_at",
        ));
    }
    Ok(millis.unsigned_abs().div_ceil(60_000).max(1))
}

/// `value`, refused when it is longer than `max` characters ([`checks::bounded`]).
fn bounded(value: Option<&str>, max: usize, param: &str) -> Result<Option<String>, ProviderError> {
    checks::bounded(value, max, param, "Kwik")
}

/// The unified name split for Kwik at its first space: `person_name` is the first word and
/// `person_surname` the rest, which keeps South African surnames such as "van der Merwe"
/// whole. A single word is a first name only.
pub fn split_name(name: &str) -> (Option<&str>, Option<&str>) {
    let name = name.trim();
    if name.is_empty() {
        return (None, None);
    }
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) => (Some(first), Some(rest.trim()).filter(|r| !r.is_empty())),
        None => (Some(name), None),
    }
}

/// The unified customer in Kwik's names, or `None` when there is nothing to prefill (so Kwik
/// shows its payer form).
fn customer(customer: &UnifiedCustomer) -> Result<Option<Customer>, ProviderError> {
    let (first, last) = customer.name.as_deref().map(split_name).unwrap_or_default();
    let person_name = bounded(first, MAX_PERSON_NAME_CHARS, "customer.name").map_err(|_| {
        ProviderError::invalid(
            format!(
                "Kwik takes a first name of at most {MAX_PERSON_NAME_CHARS} characters \
                 (the name's first word)"
            ),
            "customer.name",
        )
    })?;
    let person_surname =
        bounded(last, MAX_PERSON_SURNAME_CHARS, "customer.name").map_err(|_| {
            ProviderError::invalid(
                format!(
                    "Kwik takes a surname of at most {MAX_PERSON_SURNAME_CHARS} characters \
                     (the name after its first word)"
                ),
                "customer.name",
            )
        })?;
    let email = bounded(
        non_blank(customer.email.as_deref()),
        MAX_EMAIL_CHARS,
        "customer.email",
    )?;
    let contact_number = bounded(
        non_blank(customer.phone.as_deref()),
        MAX_CONTACT_NUMBER_CHARS,
        "customer.phone",
    )?;
    let billing_address = customer
        .address
        .as_ref()
        .map(address)
        .transpose()?
        .flatten();
    let customer = Customer {
        person_name,
        person_surname,
        email,
        contact_number,
        billing_address,
        ..Customer::default()
    };
    Ok((customer != Customer::default()).then_some(customer))
}

fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

/// The unified address in Kwik's names, or `None` when it has no field at all.
fn address(address: &Address) -> Result<Option<KwikAddress>, ProviderError> {
    let country = checks::country_code(non_blank(address.country.as_deref()), "ZA")?;
    let text = |value: &Option<String>| non_blank(value.as_deref()).map(str::to_owned);
    let address = KwikAddress {
        line1: text(&address.line1),
        line2: text(&address.line2),
        city_or_town: text(&address.city),
        province_or_state: text(&address.state),
        postal_or_zip_code: text(&address.postal_code),
        country,
    };
    Ok((address != KwikAddress::default()).then_some(address))
}

/// `provider_options.kwik`: the Kwik-only create fields, typed so that a typo or a wrong value
/// is refused naming the key.
#[derive(Debug, Default)]
struct ProviderOptions {
    customization: Option<Customization>,
    invoice: Option<Invoice>,
    payment_methods: Option<Vec<PaymentMethod>>,
    customer_fields: Option<Vec<CustomerField>>,
}

impl ProviderOptions {
    fn parse(options: Option<&Value>) -> Result<ProviderOptions, ProviderError> {
        let mut parsed = ProviderOptions::default();
        let kwik = (super::ID, "Kwik");
        checks::provider_options(options, kwik, &PROVIDER_OPTIONS, |key, value, param| {
            match key {
                "customization" => parsed.customization = Some(typed(value, param)?),
                "invoice" => parsed.invoice = Some(typed(value, param)?),
                "payment_methods" => {
                    let methods: Vec<PaymentMethod> = typed(value, param)?;
                    if methods.is_empty() {
                        return Err(ProviderError::invalid(
                            format!(
                                "{param} must name at least one method; leave it out to offer \
                                 every method"
                            ),
                            param,
                        ));
                    }
                    parsed.payment_methods = Some(methods);
                }
                "customer_fields" => parsed.customer_fields = Some(typed(value, param)?),
                // Not in PROVIDER_OPTIONS: already refused.
                _ => {}
            }
            Ok(())
        })?;
        Ok(parsed)
    }
}

fn typed<T: serde::de::DeserializeOwned>(value: &Value, param: &str) -> Result<T, ProviderError> {
    T::deserialize(value).map_err(|error| {
        ProviderError::invalid(
            format!("{param}: {}", crate::json::describe_error(&error)),
            param,
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Kwik → ours
// ---------------------------------------------------------------------------------------------

impl LinkResponse {
    /// What a create answered with a 2xx. `requested` is the amount asked for: a link for any
    /// other amount (tax added, say) would charge the payer what paymux did not record, so it
    /// is refused. `livemode` is the adapter's (Kwik's answer does not say).
    pub fn into_created_checkout(
        self,
        requested: Money,
        livemode: bool,
    ) -> Result<CreatedCheckout, ProviderError> {
        let result = match (self.status, self.result) {
            (true, Some(result)) => result,
            (false, _) => {
                return Err(ProviderError::MalformedPayload(
                    "Kwik answered `status: false` with a success code".to_owned(),
                ));
            }
            (true, None) => {
                return Err(ProviderError::MalformedPayload(
                    "Kwik answered without a `result`".to_owned(),
                ));
            }
        };
        if result.id.is_empty() || result.link_url.is_empty() {
            return Err(ProviderError::MalformedPayload(
                "Kwik's checkout has an empty `id` or `link_url`".to_owned(),
            ));
        }
        if let Some(text) = &result.amount {
            let currency = result.currency.as_deref();
            let charged = money(text, currency, requested.currency, ("Kwik checkout", ""))?;
            if charged != requested {
                // Both amounts are paymux's business: the one it asked for, and the one Kwik's
                // own authenticated answer says it will charge.
                return Err(ProviderError::MalformedPayload(format!(
                    "Kwik created the checkout for {} {}, not the {} {} asked for",
                    charged.to_decimal_string(),
                    charged.currency,
                    requested.to_decimal_string(),
                    requested.currency
                )));
            }
        }
        Ok(CreatedCheckout::hosted(
            Some(result.id),
            result.link_url,
            livemode,
            result.expires_at,
        ))
    }
}

/// An amount in rand as Kwik writes it (`"1200.00"`), read exactly, in `currency`, or in
/// `fallback` when Kwik names none. `(object, path)` place its members in messages: `("Kwik
/// webhook", "checkout.")` reads `Kwik webhook `checkout.amount` …`.
fn money(
    amount: &str,
    currency: Option<&str>,
    fallback: Currency,
    (object, path): (&str, &str),
) -> Result<Money, ProviderError> {
    let malformed = |member: &str, problem: &str| {
        ProviderError::MalformedPayload(format!("{object} `{path}{member}` {problem}"))
    };
    let currency = match currency {
        Some(code) => {
            Currency::parse(code).map_err(|error| malformed("currency", error.problem()))?
        }
        None => fallback,
    };
    Money::parse_decimal(amount, currency).map_err(|error| malformed("amount", error.problem()))
}

/// An RFC 3339 time of a webhook. chrono's error says what is wrong without quoting the text.
fn timestamp(text: &str, field: &str) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .map_err(|error| {
            ProviderError::MalformedPayload(format!(
                "Kwik webhook `{field}` is not an RFC 3339 time: {error}"
            ))
        })
}

impl Webhook {
    /// One normalized event per element of `data`, all of the delivery's `event` type.
    ///
    /// Kwik sends no event id, so each is derived from the event, the checkout id, the
    /// transaction id and the webhook's `created_at`: a redelivery maps to the same rows, and
    /// two attempts on one checkout (two transactions) to two. `provider_payment_id` is the
    /// checkout id, which is what the create answer gave paymux. Kwik echoes nothing of
    /// paymux's (no metadata on a checkout), so there is no `checkout_hint`.
    pub fn into_normalized(self, livemode: bool) -> Result<Vec<NormalizedEvent>, ProviderError> {
        if self.data.is_empty() {
            return Err(ProviderError::MalformedPayload(format!(
                "Kwik `{}` webhook with no element in `data`",
                self.event.as_str()
            )));
        }
        let created_at = self
            .created_at
            .as_deref()
            .map(|text| timestamp(text, "created_at"))
            .transpose()?;
        self.data
            .into_iter()
            .enumerate()
            .map(|(position, element)| {
                element.into_normalized(
                    self.event,
                    &self.created_at,
                    created_at,
                    position,
                    livemode,
                )
            })
            .collect()
    }
}

/// The id of the event at `position` in a webhook's `data`, which Kwik does not give: derived
/// from the event, the checkout, the transaction, the webhook's `created_at` and the position,
/// so that two identical elements are two events and a redelivery maps to the same ids.
pub fn event_id(
    kind: EventKind,
    checkout_id: &str,
    transaction_id: &str,
    created_at: &str,
    position: usize,
) -> String {
    derived_event_id(&[
        super::ID,
        kind.as_str(),
        checkout_id,
        transaction_id,
        created_at,
        &position.to_string(),
    ])
}

impl WebhookData {
    fn into_normalized(
        self,
        kind: EventKind,
        created_at_text: &Option<String>,
        created_at: Option<DateTime<Utc>>,
        position: usize,
        livemode: bool,
    ) -> Result<NormalizedEvent, ProviderError> {
        let checkout = self.checkout;
        if checkout.id.is_empty() {
            return Err(ProviderError::MalformedPayload(
                "Kwik webhook checkout has an empty `id`".to_owned(),
            ));
        }
        let completed_at = checkout
            .completed_at
            .as_deref()
            .map(|text| timestamp(text, "checkout.completed_at"))
            .transpose()?;
        // The payment's own time for a completion, else when Kwik raised the webhook.
        let occurred_at = match kind {
            EventKind::Completed => completed_at.or(created_at),
            _ => created_at.or(completed_at),
        }
        .ok_or_else(|| {
            ProviderError::MalformedPayload(
                "Kwik webhook has neither `created_at` nor `checkout.completed_at`".to_owned(),
            )
        })?;
        let amount = checkout
            .amount
            .as_deref()
            .map(|text| {
                let currency = checkout.currency.as_deref();
                money(text, currency, Currency::Zar, ("Kwik webhook", "checkout."))
            })
            .transpose()?;
        let provider_event_id = event_id(
            kind,
            &checkout.id,
            checkout.transaction_id.as_deref().unwrap_or_default(),
            created_at_text.as_deref().unwrap_or_default(),
            position,
        );
        let payment_method = checkout.payment_method.clone().or_else(|| {
            self.subscription
                .as_ref()
                .and_then(|subscription| subscription.payment_method.clone())
        });
        let mut details = Map::new();
        for (key, value) in [
            ("transaction_id", &checkout.transaction_id),
            ("status", &checkout.transaction_status),
            ("payment_method", &payment_method),
            ("failure_message", &checkout.message),
            ("session_id", &checkout.session_id),
            ("customer_id", &checkout.customer_id),
            ("card_id", &checkout.card_id),
        ] {
            if let Some(value) = value {
                details.insert(key.to_owned(), value.as_str().into());
            }
        }
        if let Some(subscription) = &self.subscription {
            details.insert(
                "subscription_id".to_owned(),
                subscription.id.as_str().into(),
            );
            if let Some(status) = &subscription.subscription_status {
                details.insert("subscription_status".to_owned(), status.as_str().into());
            }
        }
        Ok(NormalizedEvent {
            event_type: kind.event_type(),
            provider_event_id,
            provider_payment_id: Some(checkout.id),
            checkout_hint: None,
            reference: None,
            amount,
            fee: None,
            occurred_at,
            livemode,
            details: Value::Object(details),
        })
    }
}

impl ErrorBody {
    /// The provider's message from a non-2xx body: `message`, or `error` (a string or an
    /// object with `message`), or else the raw text cut to its first 500 characters
    /// ([`crate::http::error_message`]).
    pub fn message_from(body: &[u8]) -> String {
        crate::http::error_message(body, &["message", "error"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineItem;
    use crate::test_support::{CHECKOUT_ID, refused_param};
    use chrono::{TimeDelta, TimeZone};
    use serde_json::json;

    const CREATE_BASIC: &str = include_str!("fixtures/create_basic.json");
    const CREATE_DONATION: &str = include_str!("fixtures/create_donation.json");
    const CREATE_PRODUCTS: &str = include_str!("fixtures/create_products.json");
    const CREATE_ADVANCED: &str = include_str!("fixtures/create_advanced.json");
    const CREATE_EMBED: &str = include_str!("fixtures/create_embed.json");
    const LINK_RESPONSE: &str = include_str!("fixtures/link_response.json");
    const WEBHOOK: &str = include_str!("fixtures/webhook.json");

    const WEBHOOK_URL: &str = "https://paymux.example/webhooks/demo/kwik";

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_757_766_600, 0).unwrap()
    }

    fn webhook_url() -> Url {
        Url::parse(WEBHOOK_URL).unwrap()
    }

    /// The unified request that should become the doc's basic example.
    fn minimal_request() -> CheckoutRequest {
        CheckoutRequest {
            description: Some("My product name".into()),
            ..CheckoutRequest::example(Money::new(120_000, Currency::Zar))
        }
    }

    fn build(request: &CheckoutRequest) -> Result<CreateLink, ProviderError> {
        CreateLink::from_checkout(request, &webhook_url(), now())
    }

    fn accepted(request: &CheckoutRequest) -> Value {
        serde_json::to_value(build(request).unwrap()).unwrap()
    }

    /// The `param` of the refusal of `request`, failing when it is accepted.
    fn refused(request: &CheckoutRequest) -> String {
        refused_param(build(request))
    }

    #[test]
    fn every_create_example_of_the_doc_round_trips_through_our_type() {
        for sample in [
            CREATE_BASIC,
            CREATE_DONATION,
            CREATE_PRODUCTS,
            CREATE_ADVANCED,
            CREATE_EMBED,
        ] {
            let expected: Value = serde_json::from_str(sample).unwrap();
            let parsed: CreateLink = serde_json::from_str(sample).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), expected, "{sample}");
        }
        let advanced: CreateLink = serde_json::from_str(CREATE_ADVANCED).unwrap();
        assert_eq!(advanced.kind, CheckoutType::ProductsAndSubscriptions);
        let customer = advanced.customer.unwrap();
        assert_eq!(customer.company_name, Some(None));
        assert_eq!(
            customer
                .billing_address
                .unwrap()
                .postal_or_zip_code
                .as_deref(),
            Some("8001")
        );
        assert_eq!(advanced.settings.unwrap().expiry_time, Some(1440));
        assert_eq!(
            advanced.payment.unwrap().payment_methods,
            Some(vec![PaymentMethod::Card, PaymentMethod::Zapper])
        );
        let embed: CreateLink = serde_json::from_str(CREATE_EMBED).unwrap();
        assert_eq!(embed.customization.unwrap().kind, Some(PageType::Embed));
    }

    #[test]
    fn a_plain_amount_is_the_docs_basic_example_plus_our_webhook_url() {
        let mut expected: Value = serde_json::from_str(CREATE_BASIC).unwrap();
        expected["notification"] = json!({ "webhook_url": WEBHOOK_URL });
        assert_eq!(accepted(&minimal_request()), expected);
    }

    #[test]
    fn the_title_is_the_description_else_the_reference_else_payment() {
        let title = |description: Option<&str>, reference: Option<&str>| {
            let mut request = minimal_request();
            request.description = description.map(str::to_owned);
            request.reference = reference.map(str::to_owned);
            accepted(&request)["item"]["title"].clone()
        };
        assert_eq!(
            title(Some("Order #5821"), Some("order-5821")),
            "Order #5821"
        );
        assert_eq!(title(None, Some("order-5821")), "order-5821");
        assert_eq!(title(Some("  "), Some("order-5821")), "order-5821");
        assert_eq!(title(None, None), "Payment");
    }

    #[test]
    fn amounts_are_exact_decimal_strings_in_rand() {
        for (minor, text) in [
            (120_000, "1200.00"),
            (1, "0.01"),
            (9_999_999_999, "99999999.99"),
        ] {
            let mut request = minimal_request();
            request.amount = Money::new(minor, Currency::Zar);
            assert_eq!(accepted(&request)["item"]["amount"], text);
        }
    }

    #[test]
    fn items_become_an_inline_one_time_basket_that_adds_up_to_the_amount() {
        let mut request = minimal_request();
        request.amount = Money::new(42_480, Currency::Zar);
        request.items = vec![
            LineItem {
                name: "Biltong 500 g".into(),
                quantity: 2,
                unit_amount: 18_990,
            },
            LineItem {
                name: " Rooibos ".into(),
                quantity: 1,
                unit_amount: 4_500,
            },
        ];
        assert_eq!(
            accepted(&request),
            json!({
                "type": "PRODUCTS_AND_SUBSCRIPTIONS",
                "items": [
                    {
                        "name": "Biltong 500 g",
                        "code": format!("{CHECKOUT_ID}-1"),
                        "price_excl": "189.90",
                        "qty": 2,
                        "is_tax": false,
                        "pricing_type": "ONE_TIME",
                    },
                    {
                        "name": "Rooibos",
                        "code": format!("{CHECKOUT_ID}-2"),
                        "price_excl": "45.00",
                        "qty": 1,
                        "is_tax": false,
                        "pricing_type": "ONE_TIME",
                    },
                ],
                "notification": { "webhook_url": WEBHOOK_URL },
            })
        );
        request.amount = Money::new(42_481, Currency::Zar);
        assert_eq!(refused(&request), "items");
        request.amount = Money::new(42_480, Currency::Zar);
        request.items[1].name = " ".into();
        assert_eq!(refused(&request), "items[1].name");
        request.items[1].name = "Rooibos".into();
        request.items[0].unit_amount = i64::MAX;
        assert_eq!(refused(&request), "items");
    }

    #[test]
    fn the_customer_is_mapped_to_kwiks_names_and_redirects_and_expiry_follow() {
        let mut request = minimal_request();
        request.customer = Some(UnifiedCustomer {
            name: Some("Thandi van der Merwe".into()),
            email: Some("thandi@example.co.za".into()),
            phone: Some("+27831234567".into()),
            address: Some(Address {
                line1: Some("1 Loop Street".into()),
                line2: Some("Floor 5".into()),
                city: Some("Cape Town".into()),
                state: Some("Western Cape".into()),
                postal_code: Some("8001".into()),
                country: Some("za".into()),
            }),
        });
        request.success_url = Some(Url::parse("https://shop.example/ok?order=5821").unwrap());
        request.cancel_url = Some(Url::parse("https://shop.example/cancel").unwrap());
        request.expires_at = Some(now() + TimeDelta::hours(24));
        assert_eq!(
            accepted(&request),
            json!({
                "type": "CHOOSE_WHAT_TO_PAY",
                "item": { "title": "My product name", "frequency": ["ONE_TIME"], "amount": "1200.00" },
                "customer": {
                    "person_name": "Thandi",
                    "person_surname": "van der Merwe",
                    "email": "thandi@example.co.za",
                    "contact_number": "+27831234567",
                    "billing_address": {
                        "line1": "1 Loop Street",
                        "line2": "Floor 5",
                        "city_or_town": "Cape Town",
                        "province_or_state": "Western Cape",
                        "postal_or_zip_code": "8001",
                        "country": "ZA",
                    },
                },
                "redirects": {
                    "success_url": "https://shop.example/ok?order=5821",
                    "cancel_url": "https://shop.example/cancel",
                },
                "settings": { "expiry_time": 1440 },
                "notification": { "webhook_url": WEBHOOK_URL },
            })
        );
    }

    #[test]
    fn names_split_at_the_first_space() {
        assert_eq!(split_name("John Doe"), (Some("John"), Some("Doe")));
        assert_eq!(
            split_name("  Thandi   van der Merwe "),
            (Some("Thandi"), Some("van der Merwe"))
        );
        assert_eq!(split_name("Cher"), (Some("Cher"), None));
        assert_eq!(split_name("   "), (None, None));
    }

    #[test]
    fn an_empty_customer_sends_none_so_kwik_shows_its_form() {
        let mut request = minimal_request();
        request.customer = Some(UnifiedCustomer {
            name: Some(" ".into()),
            email: Some("".into()),
            phone: None,
            address: Some(Address::default()),
        });
        assert!(accepted(&request).get("customer").is_none());
    }

    #[test]
    fn currency_amount_and_documented_lengths_are_checked_naming_the_unified_field() {
        let mut request = minimal_request();
        request.amount = Money::new(120_000, Currency::Usd);
        assert_eq!(refused(&request), "currency");
        for minor in [0, -1] {
            request.amount = Money::new(minor, Currency::Zar);
            assert_eq!(refused(&request), "amount");
        }
        type Set = fn(&mut UnifiedCustomer, String);
        let cases: [(&str, usize, Set); 4] = [
            ("customer.name", 32, |c, v| c.name = Some(v)),
            ("customer.name", 32, |c, v| c.name = Some(format!("Jo {v}"))),
            ("customer.email", 128, |c, v| c.email = Some(v)),
            ("customer.phone", 16, |c, v| c.phone = Some(v)),
        ];
        for (param, max, set) in cases {
            let mut request = minimal_request();
            let customer = request.customer.get_or_insert_default();
            // Characters, not bytes: `é` is two bytes.
            set(customer, "é".repeat(max));
            build(&request).unwrap();
            set(
                request.customer.get_or_insert_default(),
                "é".repeat(max + 1),
            );
            assert_eq!(refused(&request), param);
        }
        for bad in ["ZAF", "Z", "1A"] {
            let mut request = minimal_request();
            request.customer = Some(UnifiedCustomer {
                address: Some(Address {
                    country: Some(bad.into()),
                    ..Address::default()
                }),
                ..UnifiedCustomer::default()
            });
            assert_eq!(refused(&request), "customer.address.country", "{bad}");
        }
    }

    #[test]
    fn expiry_is_in_whole_minutes_rounded_up() {
        for (lifetime, minutes) in [
            (TimeDelta::milliseconds(1), 1),
            (TimeDelta::seconds(30), 1),
            (TimeDelta::seconds(60), 1),
            (TimeDelta::seconds(61), 2),
            (TimeDelta::days(1), 1440),
        ] {
            let mut request = minimal_request();
            request.expires_at = Some(now() + lifetime);
            assert_eq!(
                accepted(&request)["settings"]["expiry_time"],
                minutes,
                "{lifetime}"
            );
        }
        for past in [TimeDelta::zero(), TimeDelta::seconds(-1)] {
            let mut request = minimal_request();
            request.expires_at = Some(now() + past);
            assert_eq!(refused(&request), "expires_at");
        }
    }

    #[test]
    fn provider_options_pass_through_kwik_only_fields() {
        let mut request = minimal_request();
        request.provider_options = Some(json!({
            "customization": {
                "button_text": "Donate now",
                "type": "EMBED",
                "brand": { "primary": "#00DC82" }
            },
            "invoice": { "is_generate": true, "is_send": false },
            "payment_methods": ["CARD", "1VOUCHER", "MONEY_BADGER"],
            "customer_fields": ["CONTACT_NUMBER", "VAT_NUMBER"],
        }));
        let body = accepted(&request);
        assert_eq!(
            body["customization"],
            json!({ "button_text": "Donate now", "type": "EMBED", "brand": { "primary": "#00DC82" } })
        );
        assert_eq!(
            body["invoice"],
            json!({ "is_generate": true, "is_send": false })
        );
        assert_eq!(
            body["payment"],
            json!({ "payment_methods": ["CARD", "1VOUCHER", "MONEY_BADGER"] })
        );
        assert_eq!(
            body["customer_fields"],
            json!(["CONTACT_NUMBER", "VAT_NUMBER"])
        );

        request.provider_options = Some(json!({ "invoice": null }));
        assert!(accepted(&request).get("invoice").is_none());
    }

    #[test]
    fn other_or_malformed_provider_options_are_refused_naming_the_key() {
        for (options, param) in [
            (json!({ "amount": "1.00" }), "provider_options.kwik.amount"),
            (
                json!({ "signature": "x" }),
                "provider_options.kwik.signature",
            ),
            (
                json!({ "notification": {} }),
                "provider_options.kwik.notification",
            ),
            (
                json!({ "customization": { "button_txt": "Pay" } }),
                "provider_options.kwik.customization",
            ),
            (
                json!({ "customization": { "type": "POPUP" } }),
                "provider_options.kwik.customization",
            ),
            (
                json!({ "invoice": { "is_send": true } }),
                "provider_options.kwik.invoice",
            ),
            (json!({ "invoice": true }), "provider_options.kwik.invoice"),
            (
                json!({ "payment_methods": ["PAYPAL"] }),
                "provider_options.kwik.payment_methods",
            ),
            (
                json!({ "payment_methods": [] }),
                "provider_options.kwik.payment_methods",
            ),
            (
                json!({ "customer_fields": ["SHOE_SIZE"] }),
                "provider_options.kwik.customer_fields",
            ),
            (json!(["invoice"]), "provider_options.kwik"),
        ] {
            let mut request = minimal_request();
            request.provider_options = Some(options.clone());
            assert_eq!(refused(&request), param, "{options}");
        }
        // Extra form fields only show when Kwik gets no customer to prefill.
        let mut request = minimal_request();
        request.provider_options = Some(json!({ "customer_fields": ["ID_NUMBER"] }));
        request.customer = Some(UnifiedCustomer {
            email: Some("a@example.co.za".into()),
            ..UnifiedCustomer::default()
        });
        assert_eq!(refused(&request), "provider_options.kwik.customer_fields");
    }

    #[test]
    fn the_docs_response_sample_maps_to_a_created_checkout() {
        let expected: Value = serde_json::from_str(LINK_RESPONSE).unwrap();
        let response: LinkResponse = serde_json::from_str(LINK_RESPONSE).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), expected);
        assert_eq!(
            response
                .into_created_checkout(Money::new(120_000, Currency::Zar), false)
                .unwrap(),
            CreatedCheckout::hosted(
                Some("chk_HVpCeoNys1f22X7QcuWHY".into()),
                "https://pay.kwik.co.za/checkout/cs_test_a1b2c3".into(),
                false,
                Some(Utc.with_ymd_and_hms(2025, 9, 13, 12, 30, 0).unwrap()),
            )
        );
    }

    #[test]
    fn a_response_for_another_amount_or_without_success_is_malformed() {
        let requested = Money::new(120_000, Currency::Zar);
        let edit = |edit: fn(&mut Value)| {
            let mut response: Value = serde_json::from_str(LINK_RESPONSE).unwrap();
            edit(&mut response);
            serde_json::from_value::<LinkResponse>(response)
                .map_err(|error| error.to_string())
                .and_then(|response| {
                    response
                        .into_created_checkout(requested, false)
                        .map_err(|error| error.to_string())
                })
        };
        for (change, needle) in [
            (
                (|r: &mut Value| r["result"]["amount"] = json!("1380.00")) as fn(&mut Value),
                "1380.00",
            ),
            (|r| r["result"]["amount"] = json!("1200.001"), "fractional"),
            (
                |r| r["result"]["currency"] = json!("XXX"),
                "`currency` is not a currency paymux knows",
            ),
            (|r| r["status"] = json!(false), "status: false"),
            (
                |r| {
                    r.as_object_mut().unwrap().remove("result");
                },
                "result",
            ),
            (|r| r["result"]["link_url"] = json!(""), "link_url"),
            (
                |r| {
                    r["result"].as_object_mut().unwrap().remove("link_url");
                },
                "link_url",
            ),
        ] {
            let error = edit(change).unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
        // Without amount or expiry the answer is still usable.
        let created = edit(|r| {
            let result = r["result"].as_object_mut().unwrap();
            result.remove("amount");
            result.insert("expires_at".into(), Value::Null);
        })
        .unwrap();
        assert_eq!(created.expires_at, None);
    }

    fn webhook_with(edit: impl FnOnce(&mut Value)) -> Result<Vec<NormalizedEvent>, String> {
        let mut webhook: Value = serde_json::from_str(WEBHOOK).unwrap();
        edit(&mut webhook);
        let webhook: Webhook =
            serde_json::from_value(webhook).map_err(|error| crate::json::describe_error(&error))?;
        webhook
            .into_normalized(false)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_docs_webhook_round_trips_and_normalizes() {
        let expected: Value = serde_json::from_str(WEBHOOK).unwrap();
        let webhook: Webhook = serde_json::from_str(WEBHOOK).unwrap();
        assert_eq!(serde_json::to_value(&webhook).unwrap(), expected);
        let events = webhook.into_normalized(true).unwrap();
        assert_eq!(
            events,
            vec![NormalizedEvent {
                event_type: EventType::PaymentSucceeded,
                provider_event_id: derived_event_id(&[
                    "kwik",
                    "checkout.completed",
                    "chk_HVpCeoNys1f22X7QcuWHY",
                    "tra_pr6CvR_4pvWwmgQ4y3dtY",
                    "2025-09-13T12:30:00Z",
                    "0",
                ]),
                provider_payment_id: Some("chk_HVpCeoNys1f22X7QcuWHY".into()),
                checkout_hint: None,
                reference: None,
                amount: Some(Money::new(120_000, Currency::Zar)),
                fee: None,
                occurred_at: Utc.with_ymd_and_hms(2025, 9, 13, 10, 15, 30).unwrap(),
                livemode: true,
                details: json!({
                    "transaction_id": "tra_pr6CvR_4pvWwmgQ4y3dtY",
                    "status": "ACTIVE",
                    "payment_method": "CARD",
                    "session_id": "ses_G-xkVKoxHgEBrY8suKgR3",
                    "customer_id": "cus_abc123...",
                    "card_id": "crd_SFq2E9LskQimPkf2mRqnV",
                    "subscription_id": "col_Pw5jImVFZfpd0Lplp35op",
                    "subscription_status": "ACTIVE",
                }),
            }]
        );
    }

    #[test]
    fn every_documented_event_maps_to_ours() {
        for (event, event_type) in [
            ("checkout.completed", EventType::PaymentSucceeded),
            ("checkout.expired", EventType::PaymentExpired),
            ("checkout.failed", EventType::PaymentFailed),
            ("checkout.abandoned", EventType::CheckoutAbandoned),
            ("checkout.pending", EventType::PaymentPending),
            ("checkout.cancelled", EventType::PaymentCanceled),
        ] {
            let events = webhook_with(|w| w["event"] = json!(event)).unwrap();
            assert_eq!(events[0].event_type, event_type, "{event}");
            // Only a completion takes the payment's own time.
            let expected_time = if event == "checkout.completed" {
                Utc.with_ymd_and_hms(2025, 9, 13, 10, 15, 30).unwrap()
            } else {
                Utc.with_ymd_and_hms(2025, 9, 13, 12, 30, 0).unwrap()
            };
            assert_eq!(events[0].occurred_at, expected_time, "{event}");
        }
    }

    #[test]
    fn each_data_element_is_its_own_event_with_its_own_id() {
        let events = webhook_with(|w| {
            let mut second = w["data"][0].clone();
            second["checkout"]["id"] = json!("chk_SecondCheckout000000");
            second["checkout"]["transaction_id"] = json!("tra_SecondTransaction00");
            second["checkout"]["amount"] = json!("45.50");
            second.as_object_mut().unwrap().remove("subscription");
            w["data"].as_array_mut().unwrap().push(second);
        })
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_ne!(events[0].provider_event_id, events[1].provider_event_id);
        assert_eq!(
            events[1].provider_payment_id.as_deref(),
            Some("chk_SecondCheckout000000")
        );
        assert_eq!(events[1].amount, Some(Money::new(4_550, Currency::Zar)));
        // Two attempts on one checkout differ by their transaction.
        let events = webhook_with(|w| {
            w["event"] = json!("checkout.failed");
            let mut second = w["data"][0].clone();
            second["checkout"]["transaction_id"] = json!("tra_AnotherAttempt00000");
            w["data"].as_array_mut().unwrap().push(second);
        })
        .unwrap();
        assert_ne!(events[0].provider_event_id, events[1].provider_event_id);
        // A redelivery (same body) gets the same ids.
        assert_eq!(
            webhook_with(|_| {}).unwrap()[0].provider_event_id,
            webhook_with(|_| {}).unwrap()[0].provider_event_id
        );
    }

    #[test]
    fn failure_details_and_missing_optional_fields_are_read_leniently() {
        let events = webhook_with(|w| {
            w["event"] = json!("checkout.failed");
            let checkout = &mut w["data"][0]["checkout"];
            checkout["transaction_status"] = json!("DECLINED");
            checkout["message"] = json!("Your transaction was declined due to insufficient funds");
            let checkout = checkout.as_object_mut().unwrap();
            checkout.remove("completed_at");
            checkout.remove("currency");
            checkout.remove("card_id");
            w["data"][0].as_object_mut().unwrap().remove("subscription");
        })
        .unwrap();
        let event = &events[0];
        assert_eq!(event.amount, Some(Money::new(120_000, Currency::Zar)));
        assert_eq!(event.details["status"], "DECLINED");
        assert_eq!(
            event.details["failure_message"],
            "Your transaction was declined due to insufficient funds"
        );
        assert!(event.details.get("payment_method").is_none());
        let events = webhook_with(|w| {
            w["event"] = json!("checkout.expired");
            let checkout = w["data"][0]["checkout"].as_object_mut().unwrap();
            checkout.retain(|key, _| key == "id");
        })
        .unwrap();
        assert_eq!(events[0].amount, None);
        assert_eq!(
            events[0].details,
            json!({
                "payment_method": "CARD",
                "subscription_id": "col_Pw5jImVFZfpd0Lplp35op",
                "subscription_status": "ACTIVE",
            })
        );
    }

    #[test]
    fn unknown_events_and_broken_webhooks_are_refused_with_the_reason() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|w| w["event"] = json!("checkout.refunded")),
                "unknown variant, expected one of `checkout.completed`",
            ),
            (Box::new(|w| w["data"] = json!([])), "no element"),
            (Box::new(|w| w["data"] = json!({})), "sequence"),
            (
                Box::new(|w| w["data"][0]["checkout"]["amount"] = json!("1200.001")),
                "fractional",
            ),
            (
                Box::new(|w| w["data"][0]["checkout"]["amount"] = json!("-5.00")),
                "`checkout.amount` is not a plain decimal number",
            ),
            (
                Box::new(|w| w["data"][0]["checkout"]["amount"] = json!(1200)),
                "string",
            ),
            (
                Box::new(|w| w["data"][0]["checkout"]["currency"] = json!("XXX")),
                "`checkout.currency` is not a currency paymux knows",
            ),
            (
                Box::new(|w| w["data"][0]["checkout"]["id"] = json!("")),
                "empty `id`",
            ),
            (
                Box::new(|w| w["created_at"] = json!("yesterday")),
                "created_at",
            ),
            (
                Box::new(|w| {
                    w.as_object_mut().unwrap().remove("created_at");
                    w["data"][0]["checkout"]
                        .as_object_mut()
                        .unwrap()
                        .remove("completed_at");
                }),
                "neither",
            ),
        ];
        for (edit, needle) in cases {
            let error = webhook_with(edit).unwrap_err();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn error_messages_come_from_the_body_or_its_raw_text() {
        for (body, message) in [
            (
                r#"{"status": false, "message": "Invalid signature."}"#,
                "Invalid signature.",
            ),
            (r#"{"error": "Unauthorized"}"#, "Unauthorized"),
            (r#"{"error": {"message": "Bad item"}}"#, "Bad item"),
            ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
            (
                r#"{"status": false, "message": " "}"#,
                r#"{"status": false, "message": " "}"#,
            ),
            ("", "no error message"),
        ] {
            assert_eq!(ErrorBody::message_from(body.as_bytes()), message, "{body}");
        }
        let long = "é".repeat(600);
        assert_eq!(
            ErrorBody::message_from(long.as_bytes()),
            "é".repeat(crate::http::MAX_RAW_ERROR_CHARS)
        );
    }
}
