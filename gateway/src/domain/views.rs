//! Objects as the API shows them: the answers of `/v1/` and the `data` of the webhooks paymux
//! sends merchants, which show an event and its checkout exactly as the API does.

use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, CheckoutStatus, Currency, EventId, EventSource, EventType};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use serde::Serialize;
use utoipa::ToSchema;

/// A checkout as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "chk_01m8zfsh4169zyj7dh8xtswjs6",
    "object": "checkout",
    "merchant": "demo",
    "provider": "sknpay",
    "provider_checkout_id": "plink_c48af760c408b6dffdf5f4ff",
    "status": "open",
    "amount": 2500,
    "currency": "USD",
    "amount_received": 0,
    "amount_refunded": 0,
    "redirect_url": "http://127.0.0.1:8080/sandbox/sknpay/pay/plink_c48af760c408b6dffdf5f4ff",
    "client_action": null,
    "reference": "order-1001",
    "description": null,
    "customer": null,
    "metadata": null,
    "expires_at": "2026-12-05T02:58:02.506309Z",
    "created_at": "2026-12-04T02:58:02.508758Z",
    "livemode": false,
    "providers_tried": ["sknpay"]
}))]
pub struct CheckoutOut {
    pub id: CheckoutId,
    #[schema(example = "checkout")]
    pub object: &'static str,
    pub merchant: String,
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    pub status: CheckoutStatus,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: Currency,
    /// What the payments received add up to (minor units); `succeeded` once it reaches
    /// `amount`, `partially_paid` below.
    pub amount_received: i64,
    pub amount_refunded: i64,
    /// The provider's page to send the payer to, for a hosted checkout.
    pub redirect_url: Option<String>,
    /// What the storefront does instead of a redirect, for a provider that has it (SpankPay's
    /// embedded frame).
    #[schema(value_type = Option<Object>)]
    pub client_action: serde_json::Value,
    pub reference: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<paymux_providers::model::Customer>)]
    pub customer: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub metadata: serde_json::Value,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub livemode: bool,
    /// The providers routing called, in order; the last is `provider`.
    pub providers_tried: Vec<String>,
}

/// A JSON column as the API shows it: `null` when there is none.
fn json(column: Option<Json<serde_json::Value>>) -> serde_json::Value {
    column.map_or(serde_json::Value::Null, |json| json.0)
}

impl From<Checkout> for CheckoutOut {
    fn from(checkout: Checkout) -> CheckoutOut {
        CheckoutOut {
            // Checkouts from before routing recorded it went to one provider only.
            providers_tried: checkout
                .providers_tried
                .map_or_else(|| vec![checkout.provider.clone()], |tried| tried.0),
            client_action: json(checkout.client_action),
            customer: json(checkout.customer),
            metadata: json(checkout.metadata),
            id: checkout.id,
            object: "checkout",
            merchant: checkout.merchant,
            provider: checkout.provider,
            provider_checkout_id: checkout.provider_checkout_id,
            status: checkout.status,
            amount: checkout.amount,
            currency: checkout.currency,
            amount_received: checkout.amount_received,
            amount_refunded: checkout.amount_refunded,
            redirect_url: checkout.redirect_url,
            reference: checkout.reference,
            description: checkout.description,
            expires_at: checkout.expires_at.map(|at| at.and_utc()),
            created_at: checkout.created_at.and_utc(),
            livemode: checkout.livemode,
        }
    }
}

/// An event as the API shows it. `raw` (the exact bytes received) only on the single-event
/// endpoint: lists stay small.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "evt_01m8zfshhm7zbrbfpv6d5t07qb",
    "object": "event",
    "type": "payment.succeeded",
    "merchant": "demo",
    "provider": "sknpay",
    "provider_event_id": "evt_c63081372db302227be69ae6",
    "checkout_id": "chk_01m8zfsh4169zyj7dh8xtswjs6",
    "provider_payment_id": "plink_c48af760c408b6dffdf5f4ff",
    "reference": "order-1001",
    "amount": 2500,
    "currency": "USD",
    "fee": null,
    "occurred_at": "2026-12-04T02:58:02Z",
    "received_at": "2026-12-04T02:58:02.930061Z",
    "livemode": false,
    "source": "provider",
    "details": {"status": "succeeded"}
}))]
pub struct EventOut {
    pub id: EventId,
    #[schema(example = "event")]
    pub object: &'static str,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub merchant: String,
    pub provider: String,
    pub provider_event_id: String,
    pub checkout_id: Option<CheckoutId>,
    pub provider_payment_id: Option<String>,
    pub reference: Option<String>,
    /// Minor units of `currency`.
    pub amount: Option<i64>,
    pub currency: Option<Currency>,
    pub fee: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub livemode: bool,
    /// Who recorded it: `provider` (its webhook), `provider_lookup` (paymux asked the
    /// provider), `paymux` (an expiry paymux applied).
    pub source: EventSource,
    /// What the provider said beyond the common fields, and the flags ingestion set.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The body exactly as received, on `GET /v1/events/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl EventOut {
    pub fn from_row(event: Event, raw: Option<Vec<u8>>) -> EventOut {
        EventOut {
            details: event.details.0,
            id: event.id,
            object: "event",
            event_type: event.event_type,
            merchant: event.merchant,
            provider: event.provider,
            provider_event_id: event.provider_event_id,
            checkout_id: event.checkout_id,
            provider_payment_id: event.provider_payment_id,
            reference: event.reference,
            amount: event.amount,
            currency: event.currency,
            fee: event.fee,
            occurred_at: event.occurred_at.and_utc(),
            received_at: event.received_at.and_utc(),
            livemode: event.livemode,
            source: event.source,
            raw: raw.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}
